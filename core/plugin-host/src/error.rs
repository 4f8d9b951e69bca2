//! What the plugin host answers when a plugin is refused or a call fails.

/// A refused install or a failed call. Call errors are wrapped with the plugin's id and
/// version before they leave this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The component cannot be installed: wrong kind or version, bad manifest, digest
    /// mismatch, unknown imports.
    #[error("plugin refused: {0}")]
    Refused(String),
    /// The component implements another version of its interface than this host runs (a
    /// runtime built for `komander:runtime@0.1`): it cannot be installed, and an install of it
    /// made before the host changed cannot run until it is upgraded.
    #[error(
        "this {kind} is built for {interface}@{built_for}; this Komander runs {kind}s of \
         {interface}@{supported}: rebuild it with the {}.{} SDK (see wit/CHANGELOG.md)",
        supported.major,
        supported.minor
    )]
    Incompatible {
        /// `runtime` or `git-provider`.
        kind: &'static str,
        /// The interface's package, such as `komander:runtime`.
        interface: &'static str,
        /// The version the component exports.
        built_for: semver::Version,
        /// The version this host runs.
        supported: semver::Version,
    },
    /// The call used up its CPU budget or its wall-clock time.
    #[error("plugin {plugin} timed out: {detail}")]
    Timeout {
        /// `id@version`.
        plugin: String,
        /// Which limit.
        detail: String,
    },
    /// The guest asked for more memory than it may use.
    #[error("plugin {plugin} exceeded its memory limit of {limit_bytes} bytes")]
    OutOfMemory {
        /// `id@version`.
        plugin: String,
        /// The limit.
        limit_bytes: usize,
    },
    /// The guest trapped (a panic, an unreachable, a bad host call).
    #[error("plugin {plugin} crashed: {detail}")]
    Crashed {
        /// `id@version`.
        plugin: String,
        /// The trap.
        detail: String,
    },
    /// A fault in the host (compiling, caching, instantiating).
    #[error("plugin host error: {0}")]
    Host(String),
}

impl PluginError {
    /// A refusal at install.
    pub fn refused(reason: impl Into<String>) -> Self {
        PluginError::Refused(reason.into())
    }
}

/// What a host function answers a guest (the wasi-http model): either an error the guest sees,
/// the WIT `error` variant, or a trap for a fault of the host (a broken invariant), which ends
/// the call. Capabilities return it with `?`; the bindings' `convert_error` tells the two apart.
#[derive(Debug)]
pub(crate) enum HostError {
    /// An error the guest sees and may handle.
    Guest(crate::bindings::types::Error),
    /// A fault of the host: the call traps.
    Trap(wasmtime::Error),
}

impl HostError {
    /// A broken invariant of the host: the call traps, naming it.
    pub(crate) fn trap(what: &str) -> HostError {
        HostError::Trap(wasmtime::Error::msg(format!(
            "host invariant broken: {what}"
        )))
    }
}

impl From<crate::bindings::types::Error> for HostError {
    fn from(error: crate::bindings::types::Error) -> Self {
        HostError::Guest(error)
    }
}
