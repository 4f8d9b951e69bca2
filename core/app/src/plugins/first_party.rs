//! The first-party plugins shipped in the binary, installed or upgraded at start.

use komander_domain::api::PluginGrant;
use komander_plugin_host::manifest::Manifest;
use tracing::{info, warn};

use crate::{App, Result};

impl App {
    /// Installs the first-party plugins shipped in the binary (`embedded`, components), with
    /// every capability they ask for granted: one not installed is installed; one installed
    /// as another build of the same or an older version is replaced by this binary's (and
    /// granted what it asks for); one installed at a newer version (an admin's upgrade) or as
    /// this very build is left alone. Acts as the local admin or the
    /// bootstrap user. Runs in the background at start, after the installed plugins loaded,
    /// so readiness never waits on a compile. Answers how many it installed or upgraded.
    ///
    /// # Errors
    /// When no instance admin exists to act as, or the store fails; a component that is
    /// refused is logged and skipped.
    pub async fn install_first_party_plugins(&self, embedded: &[&[u8]]) -> Result<usize> {
        let caller = self.system_caller().await?;
        let mut changed = 0;
        for bytes in embedded {
            let manifest = match Manifest::find(bytes) {
                Ok(manifest) => manifest,
                Err(error) => {
                    warn!(%error, "a first-party plugin has no readable manifest");
                    continue;
                }
            };
            let installed = self.store.plugin(manifest.id.as_str()).await?;
            let result = match installed {
                None => {
                    self.install_plugin(&caller, bytes.to_vec(), None, true)
                        .await
                }
                // Another build of the same or a newer version: this binary's. An admin's
                // newer version is kept.
                Some(record)
                    if record.digest != komander_plugin_host::digest(bytes)
                        && !is_newer(&record.version, &manifest.version) =>
                {
                    // First-party plugins are trusted: what a new version asks for is granted.
                    match self
                        .upgrade_plugin(&caller, manifest.id.as_str(), bytes.to_vec(), None, None)
                        .await
                    {
                        Ok(_) => {
                            let all = PluginGrant {
                                capabilities: Vec::new(),
                                all: true,
                            };
                            self.grant_plugin(&caller, manifest.id.as_str(), all).await
                        }
                        Err(e) => Err(e),
                    }
                }
                Some(_) => continue,
            };
            match result {
                Ok(plugin) => {
                    info!(plugin = %plugin.id, version = %plugin.version, "first-party plugin installed");
                    changed += 1;
                }
                Err(error) => warn!(
                    plugin = %manifest.id,
                    error = %error.report(),
                    "a first-party plugin was not installed"
                ),
            }
        }
        info!(changed, "first-party plugins checked");
        Ok(changed)
    }
}

/// Whether version `a` is newer than `b` (semver; anything unparsable is not newer).
fn is_newer(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}
