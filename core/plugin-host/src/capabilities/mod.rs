//! Capabilities: the host side of `komander:host`. Each one checks the install's grant on every
//! call and answers `denied` without it; each adds itself to the linker once, at engine start.

mod connections;
mod deployment;
pub mod docker;
pub mod kubernetes;
mod kv;
mod log;
mod log_pages;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

pub use connections::{Connection, ConnectionGrant};
pub use deployment::{DeploymentIds, SecretValues};
pub use kv::{BYTES_PER_SCOPE, KEY_BYTES, KEYS_PER_SCOPE, KvScope, KvStore, MemoryKv, VALUE_BYTES};

use crate::{
    bindings::{self, types::Error as WitError},
    host::HostState,
};

/// The capability names a manifest may ask for.
pub const KNOWN: &[&str] = &[
    "log",
    "config",
    "kv",
    "connections",
    "progress",
    "docker",
    "kubernetes",
];

/// One progress report of a call, for the user watching it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressEvent {
    /// `step`: `done` of `total`.
    Step {
        /// The step's name.
        step: String,
        /// How many are done.
        done: u32,
        /// How many in all.
        total: u32,
    },
    /// A message.
    Message(String),
}

/// Progress events kept per call; later ones are dropped.
pub const PROGRESS_EVENTS_PER_CALL: usize = 1_000;

/// What one call may use: the install's grants and the handles they open.
pub struct CallContext {
    /// `id@version`, for logs.
    pub plugin: String,
    /// The capabilities the admin granted.
    pub granted: BTreeSet<String>,
    /// The install's admin settings as JSON, already validated against the plugin's schema.
    pub config: Arc<str>,
    /// The key-value store and this call's scope in it.
    pub kv: Option<(Arc<dyn KvStore>, KvScope)>,
    /// The connections the install may use, by name.
    pub connections: Vec<Arc<Connection>>,
    /// Where the call's progress reports go; the caller keeps a clone to show them.
    pub progress: Arc<Mutex<Vec<ProgressEvent>>>,
    /// The Docker engine and the deployment the call acts for, on a Docker environment.
    pub docker: Option<Arc<docker::DockerScope>>,
    /// The cluster and the deployment the call acts for, on a Kubernetes environment.
    pub kubernetes: Option<Arc<kubernetes::KubernetesScope>>,
    logs_left: u32,
    logs_dropped: u32,
}

impl CallContext {
    /// A context for a call of `plugin` with `granted` capabilities and nothing opened.
    pub fn new(plugin: impl Into<String>, granted: impl IntoIterator<Item = String>) -> Self {
        CallContext {
            plugin: plugin.into(),
            granted: granted.into_iter().collect(),
            config: Arc::from("{}"),
            kv: None,
            connections: Vec::new(),
            progress: Arc::default(),
            docker: None,
            kubernetes: None,
            logs_left: crate::sandbox::LOG_LINES_PER_CALL,
            logs_dropped: 0,
        }
    }

    /// How many log lines were dropped for going over the per-call limit.
    pub fn logs_dropped(&self) -> u32 {
        self.logs_dropped
    }

    /// `Ok` when `capability` is granted, else the WIT `denied` error.
    fn check(&self, capability: &str) -> Result<(), WitError> {
        if self.granted.contains(capability) {
            Ok(())
        } else {
            Err(WitError::Denied(format!(
                "the {capability} capability is not granted to this plugin's install"
            )))
        }
    }
}

/// Adds every capability of `komander:host` to the linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<HostState>,
) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    bindings::types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::config::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::kv::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::connections::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::progress::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::runtime_types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::docker_types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::docker_engine::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    bindings::kubernetes_cluster::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

impl bindings::types::Host for HostState {}
impl bindings::runtime_types::Host for HostState {}

impl bindings::config::Host for HostState {
    async fn get(&mut self) -> wasmtime::Result<Result<String, WitError>> {
        Ok(self
            .call
            .check("config")
            .map(|()| self.call.config.to_string()))
    }
}

impl bindings::progress::Host for HostState {
    async fn report(&mut self, step: String, done: u32, total: u32) -> wasmtime::Result<()> {
        self.record_progress(ProgressEvent::Step { step, done, total });
        Ok(())
    }

    async fn message(&mut self, text: String) -> wasmtime::Result<()> {
        self.record_progress(ProgressEvent::Message(text));
        Ok(())
    }
}

impl HostState {
    fn record_progress(&mut self, mut event: ProgressEvent) {
        if self.call.check("progress").is_err() {
            return;
        }
        let mut progress = self.call.progress.lock().expect("progress lock");
        if progress.len() >= PROGRESS_EVENTS_PER_CALL {
            return;
        }
        match &mut event {
            ProgressEvent::Step { step: text, .. } | ProgressEvent::Message(text) => {
                truncate(text, crate::sandbox::LOG_MESSAGE_BYTES)
            }
        }
        progress.push(event);
    }
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
