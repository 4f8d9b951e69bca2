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
}
