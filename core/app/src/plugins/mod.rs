//! Installed plugins: install from a file or a URL (with its sha256), grant, upgrade,
//! disable, enable, uninstall. Instance admins write; every signed-in user may read.
//!
//! A component is checked and precompiled before anything is recorded (the plugin host refuses
//! a wrong kind or WIT version, a bad manifest or unknown imports); a non-interactive install
//! grants nothing and waits as `pending-grant`. The component is kept as `<sha256>.wasm` in
//! the plugins folder, its precompiled artifact in `cache/` beside it.
//!
//! - [`registry`]: the engine and the plugins loaded from the folder ([`Plugins`]).
//! - `lifecycle`: install, grant, enable, upgrade, uninstall, settings.
//! - `first_party`: the plugins shipped in the binary, installed at start.
//! - `download`: fetching a component from a URL.
//! - `calls`: what one call of a plugin gets.
//! - `runtimes`: the runtime plugins environments name, checked at creation and before every
//!   operation that needs them.
//! - `connection_cache`: each install's connections, built once, forgotten on change.
//! - [`kv`]: the `kv` capability's data in the database ([`DatabaseKv`]).

mod calls;
pub(crate) mod connection_cache;
mod download;
mod first_party;
pub mod kv;
mod lifecycle;
pub mod registry;
mod runtimes;

use komander_domain::{Action, Facts, authorize};
use komander_plugin_host::PluginError;

pub use kv::DatabaseKv;
pub use lifecycle::MAX_COMPONENT_BYTES;
pub use registry::Plugins;

use crate::{App, AppError, Caller, Result};

/// A fault of the plugin host: ours, not the caller's.
fn internal(e: PluginError) -> AppError {
    AppError::internal("the plugin host failed", e)
}

/// A refusal is the caller's to fix; anything else is ours.
fn refused(e: PluginError) -> AppError {
    match e {
        PluginError::Refused(reason) => {
            AppError::invalid("component", format!("plugin refused: {reason}"))
        }
        incompatible @ PluginError::Incompatible { .. } => {
            AppError::invalid("component", format!("plugin refused: {incompatible}"))
        }
        other => internal(other),
    }
}

impl App {
    /// The plugins of this instance.
    pub(crate) fn plugins(&self) -> Result<&Plugins> {
        self.plugins
            .as_deref()
            .ok_or_else(|| AppError::fault("this instance runs without plugins"))
    }

    /// Whether `caller` may install and configure plugins (instance admins): the admin pages
    /// check it before they show even what every user may read.
    ///
    /// # Errors
    /// Forbidden for everyone else.
    pub fn may_manage_plugins(caller: &Caller) -> Result<()> {
        authorize(&caller.actor(), Action::ManagePlugins, &Facts::default())
            .map_err(|d| AppError::denied(d, String::new))
    }
}
