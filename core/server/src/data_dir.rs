//! The data directory: it holds the database, the generated keyring and the local admin's
//! token, so it is Komander's user's alone. Created 0700 at start; one found readable or
//! writable by others (made by hand, or by an older release with the umask) is tightened to
//! 0700, with a warning saying so.

use std::{
    fs::{self, DirBuilder, Permissions},
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::Path,
};

use anyhow::Context as _;
use tracing::warn;

/// Creates `dir` (and missing parents) with mode 0700, or sets an existing one to 0700 when
/// others may read, write or enter it.
///
/// # Errors
/// When the directory cannot be created, read or have its mode set; the message names it.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    let named = || format!("the data directory {}", dir.display());
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", named()))?;
    let mode = fs::metadata(dir)
        .with_context(|| format!("reading {}", named()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (mode 0700)", named()))?;
        warn!(
            path = %dir.display(),
            was = format!("{mode:o}"),
            "the data directory was open to other users: its mode is now 700"
        );
    }
    Ok(())
}

/// This server's id in `dir`: made at the first start, kept across restarts, so that the
/// operations whose leases it held are its own again after a crash. Each server sharing one
/// database has its own data directory, hence its own id.
///
/// # Errors
/// When the file cannot be read or written.
pub fn server_id(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("server-id");
    match fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) => anyhow::bail!("{} is empty: delete it to get a new id", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = format!("server-{}", uuid::Uuid::now_v7());
            komander_secrets::write_private_file(&path, id.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(dir: &Path) -> u32 {
        fs::metadata(dir).unwrap().permissions().mode() & 0o777
    }

    /// Regression: the data directory was created with the umask (0755 usually).
    #[test]
    fn the_data_directory_is_private() {
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("var/komander");
        prepare(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);

        // One left open by an older release is tightened; a private one is left alone.
        fs::set_permissions(&fresh, Permissions::from_mode(0o755)).unwrap();
        prepare(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        prepare(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }

    #[test]
    fn the_server_id_survives_a_restart() {
        let root = tempfile::tempdir().unwrap();
        let first = server_id(root.path()).unwrap();
        assert!(first.starts_with("server-"));
        assert_eq!(server_id(root.path()).unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(server_id(other.path()).unwrap(), first);
    }
}
