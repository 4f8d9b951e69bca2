//! The client's config file, `$XDG_CONFIG_HOME/komander/config.toml` (else
//! `$HOME/.config/komander/config.toml`), with two keys:
//!
//! ```toml
//! server = "https://komander.example.com"
//! token = "…"
//! ```
//!
//! `komander login` writes it, readable by its owner alone (mode 0600), since it holds a token.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use figment::{
    Figment,
    providers::{Format as _, Toml},
};
use serde::Deserialize;

/// What the config file holds. Deliberately not `Debug`: it holds a token.
#[derive(Default, Deserialize)]
pub struct FileConfig {
    /// The server's URL.
    pub server: Option<String>,
    /// An API token for that server.
    pub token: Option<String>,
}

/// Where the config file is: under `XDG_CONFIG_HOME`, else `HOME/.config`; `None` when neither
/// is set to an absolute path.
pub fn path() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
    };
    absolute("XDG_CONFIG_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".config")))
        .map(|dir| dir.join("komander").join("config.toml"))
}

/// Reads the config file at `path`; a missing file is an empty config.
///
/// # Errors
/// When the file is not TOML or a key is not a string.
pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    Figment::from(Toml::file(path))
        .extract()
        .with_context(|| format!("reading the config file {}", path.display()))
}

/// Replaces the config file at `path` with one holding `server` and `token`, readable by its
/// owner alone (mode 0600 on Unix), creating its folder. The new file is written beside the old
/// one and renamed over it, so a failure leaves the old one whole.
///
/// # Errors
/// When a value holds a control character, or the file cannot be written.
pub fn save(path: &Path, server: &str, token: &str) -> anyhow::Result<()> {
    let text = format!("server = {}\ntoken = {}\n", quoted(server)?, quoted(token)?);
    let dir = path
        .parent()
        .with_context(|| format!("the config file {} has no folder", path.display()))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = path.with_extension("toml.new");
    // A leftover of an interrupted run; `create_new` below refuses anything still there.
    let _ = fs::remove_file(&temporary);
    write_then_rename(&temporary, path, &text)
        .with_context(|| format!("writing the config file {}", path.display()))
}

/// Writes `text` to a new file at `temporary` (mode 0600 on Unix), then renames it to `path`.
fn write_then_rename(temporary: &Path, path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(temporary, path)
}

/// A TOML basic string holding `value`; refused when it holds a control character.
pub(crate) fn quoted(value: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !value.chars().any(char::is_control),
        "refusing to store a value with control characters in the config file"
    );
    Ok(format!(
        "\"{}\"",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_files_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("komander").join("config.toml");
        save(&path, "http://127.0.0.1:8080", r#"to"ken\"#).unwrap();
        let config = load(&path).unwrap();
        assert_eq!(config.server.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(config.token.as_deref(), Some(r#"to"ken\"#));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(quoted("a\nb").is_err());
    }

    #[test]
    fn a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let config = load(&dir.path().join("absent.toml")).unwrap();
        assert!(config.server.is_none() && config.token.is_none());
    }
}
