//! Building the plugin crate under test into its component.

use std::path::{Path, PathBuf};

use komander_guest_build::{GuestBuild, shared_target_dir};

use crate::Error;

/// Builds the crate in `dir` for `wasm32-wasip2` (release, its `Cargo.lock` as it is) and
/// answers the path of its component.
pub(crate) fn component(dir: &Path) -> Result<PathBuf, Error> {
    let package = package_name(dir)?;
    let target_dir = shared_target_dir("plugins", &dir.join("target/komander-testkit"));
    let output = GuestBuild::new(dir, target_dir)
        .package(package.clone())
        .run()?;
    Ok(output.join(format!("{}.wasm", package.replace('-', "_"))))
}

/// The `name` of the `[package]` in `dir/Cargo.toml`.
fn package_name(dir: &Path) -> Result<String, Error> {
    let manifest = dir.join("Cargo.toml");
    let failed = |message: String| Error::Crate {
        path: manifest.display().to_string(),
        message,
    };
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| failed(format!("cannot read it: {e}")))?;
    name_in(&text).ok_or_else(|| failed("it has no [package] with a name".to_owned()))
}

/// The package name `text` (a `Cargo.toml`) gives in its `[package]` table, as a quoted string.
fn name_in(text: &str) -> Option<String> {
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned()).filter(|n| !n.is_empty());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::name_in;

    #[test]
    fn the_package_name_is_read_from_its_table_only() {
        let manifest = "[workspace]\nname = \"not-this\"\n\n[package]\nversion = \"0.1.0\"\n\
                        name = \"acme-nomad\"\n\n[dependencies]\nname = \"nor-this\"\n";
        assert_eq!(name_in(manifest).as_deref(), Some("acme-nomad"));
        assert_eq!(name_in("[package]\nnamespace = 1\n"), None);
        assert_eq!(name_in("[dependencies]\nname = \"x\"\n"), None);
    }
}
