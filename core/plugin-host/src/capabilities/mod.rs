//! Capabilities: the host side of `komander:host`. Each one checks the install's grant on every
//! call and answers `denied` without it; each adds itself to the linker once, at engine start.

mod call;
mod connections;
mod deployment;
pub mod docker;
pub mod kubernetes;
mod kv;
mod log;
mod log_pages;

pub use call::{
    CallBuilder, CallContext, Capability, ProgressEvent, ProgressSink, UnknownCapability,
};
pub use connections::{Connection, ConnectionGrant};
pub use deployment::{DeploymentIds, SecretValues};
pub use kv::{BYTES_PER_SCOPE, KEY_BYTES, KEYS_PER_SCOPE, KvScope, KvStore, MemoryKv, VALUE_BYTES};

use crate::{
    bindings::{self, types::Error as WitError},
    error::HostError,
    host::HostState,
};

/// Progress events kept per call; later ones are dropped.
pub const PROGRESS_EVENTS_PER_CALL: usize = 1_000;

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

impl bindings::types::Host for HostState {
    fn convert_error(&mut self, error: HostError) -> wasmtime::Result<WitError> {
        match error {
            HostError::Guest(error) => Ok(error),
            HostError::Trap(trap) => Err(trap),
        }
    }
}
impl bindings::runtime_types::Host for HostState {}

impl bindings::config::Host for HostState {
    async fn get(&mut self) -> Result<String, HostError> {
        Ok(CallContext::granted(&self.call.config, Capability::Config)?.to_string())
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
        let Ok(sink) = CallContext::granted(&self.call.progress, Capability::Progress) else {
            return;
        };
        let mut progress = sink.lock().expect("progress lock");
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
