//! The runtime plugins environments name: whether one may be chosen for a new environment, and
//! the one an environment's runtime-dependent operations run with.
//!
//! An environment names its runtime by plugin id ([`RuntimeId`]). The id is checked when the
//! environment is created (it cannot change afterwards); a runtime that an instance admin later
//! disables or uninstalls is not refused there: its environments stay, and every operation that
//! needs their runtime answers 409 naming the plugin and its state, until it is enabled or
//! installed again ([`App::environment_runtime`]). So does a runtime marked `incompatible` at
//! start (built for `komander:runtime@0.1`), until it is upgraded. Uninstalling a runtime that
//! environments still name is therefore allowed: an admin may reinstall another build of it.

use std::fmt;

use komander_domain::{api::PluginStatus, names::RuntimeId};
use komander_store::{EnvironmentRecord, PluginRecord};

use crate::{App, AppError, Result};

/// The `kind` a runtime plugin's record holds (`PluginKind::manifest_name`).
pub(crate) const RUNTIME_KIND: &str = "runtime";

/// Why a runtime plugin cannot run deployments now.
#[derive(Debug)]
enum Unavailable {
    /// No plugin has its id.
    Absent,
    /// The plugin with its id is of another kind (`git-provider`).
    OtherKind(String),
    /// Installed, but disabled or waiting for a grant.
    Inactive(PluginStatus),
}

impl Unavailable {
    /// What an instance admin does about it.
    fn remedy(&self, id: &str) -> String {
        match self {
            Unavailable::Absent => {
                "an instance admin installs it (`komander plugin install`)".to_owned()
            }
            Unavailable::OtherKind(_) => "a plugin of another kind took the runtime's id: an \
                                           instance admin uninstalls it and installs the runtime again"
                .to_owned(),
            Unavailable::Inactive(PluginStatus::PendingGrant) => {
                format!("an instance admin grants it (`komander plugin grant {id}`)")
            }
            Unavailable::Inactive(PluginStatus::Incompatible) => format!(
                "it is built for an older komander:runtime than this Komander runs ({}): an \
                 instance admin upgrades it to a build of the new one (`komander plugin upgrade \
                 {id} <file>`)",
                komander_plugin_host::RUNTIME_WIT_VERSION
            ),
            // Enabled is not unavailable; named so that a new status gets its own remedy.
            Unavailable::Inactive(PluginStatus::Disabled | PluginStatus::Enabled) => {
                format!("an instance admin enables it (`komander plugin enable {id}`)")
            }
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Absent => f.write_str("is not installed"),
            Unavailable::OtherKind(kind) => write!(f, "is a {kind} plugin, not a runtime"),
            Unavailable::Inactive(status) => write!(f, "is {}", status.as_str()),
        }
    }
}

impl App {
    /// The record of runtime plugin `id` when it is installed and enabled, or why not.
    async fn runtime_plugin(
        &self,
        id: &RuntimeId,
    ) -> Result<std::result::Result<PluginRecord, Unavailable>> {
        let Some(record) = self.store.plugin(id.as_str()).await? else {
            return Ok(Err(Unavailable::Absent));
        };
        Ok(if record.kind != RUNTIME_KIND {
            Err(Unavailable::OtherKind(record.kind))
        } else if record.status != PluginStatus::Enabled {
            Err(Unavailable::Inactive(record.status))
        } else {
            Ok(record)
        })
    }

    /// Checks that a new environment may name runtime `id`: an installed, enabled runtime
    /// plugin.
    ///
    /// # Errors
    /// Invalid input on `runtime` naming the plugin, what is wrong with it and the installed,
    /// enabled runtimes to choose from.
    pub(crate) async fn check_new_runtime(&self, id: &RuntimeId) -> Result<()> {
        let Err(why) = self.runtime_plugin(id).await? else {
            return Ok(());
        };
        let enabled: Vec<String> = self
            .all_plugins()
            .await?
            .into_iter()
            .filter(|p| p.kind == RUNTIME_KIND && p.status == PluginStatus::Enabled)
            .map(|p| p.id)
            .collect();
        let choices = if enabled.is_empty() {
            // Right after a first start, the first-party runtimes may still be installing.
            "no runtime plugin is installed and enabled (the first-party ones install in the \
             background after a start)"
                .to_owned()
        } else {
            format!("the installed, enabled runtimes are {}", enabled.join(", "))
        };
        Err(AppError::invalid(
            "runtime",
            format!("runtime plugin {:?} {why}: {choices}", id.as_str()),
        ))
    }

    /// The runtime plugin that operations on `environment`'s deployments run with. Every
    /// operation that needs the environment's runtime (today: resolving a deployment) asks
    /// here first, after authorization and before it reads or changes anything.
    ///
    /// # Errors
    /// Conflict naming the plugin and its state when it is not installed (any more), not a
    /// runtime, disabled or waiting for a grant.
    pub(crate) async fn environment_runtime(
        &self,
        environment: &EnvironmentRecord,
    ) -> Result<PluginRecord> {
        let id = &environment.runtime;
        self.runtime_plugin(id)
            .await?
            .map_err(|why| AppError::Conflict {
                field: Some("runtime".into()),
                message: format!(
                    "the runtime plugin {:?} of environment {:?} {why}: {}",
                    id.as_str(),
                    environment.name.as_str(),
                    why.remedy(id.as_str())
                ),
            })
    }
}
