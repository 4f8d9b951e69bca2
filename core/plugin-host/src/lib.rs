//! Komander's plugin host: git providers and runtimes are WebAssembly components, run by
//! wasmtime behind the WIT contracts in `wit/`, in a sandbox.
//!
//! - [`PluginEngine`]: one wasmtime engine (pooling allocator, epoch interruption), a linker
//!   with an empty WASI context and the capabilities, precompiled artifacts cached by
//!   component digest and engine hash, and loaded ([`PluginEngine::load_cached`]) only when
//!   their SHA-256 is the one the caller recorded.
//! - [`PluginEngine::load`] checks a component before anything runs: its manifest (custom
//!   section `komander-plugin`), its kind and WIT version (read from its exports: runtimes of
//!   [`RUNTIME_WIT_VERSION`], git providers of [`GIT_PROVIDER_WIT_VERSION`]), its imports (only
//!   what the host provides).
//! - [`PluginEngine::call`] runs one call in a fresh instance under [`sandbox`] limits: memory
//!   cap with `trap_on_grow_failure`, a CPU budget in epoch ticks, a wall-clock timeout.
//! - [`capabilities`]: the host side of `komander:host`, each checking its grant on every call.
//!
//! It depends on no other Komander crate: the app layer gives it grants and stores.
#![deny(missing_docs)]

mod bindings;
pub mod capabilities;
mod engine;
mod error;
mod host;
pub mod manifest;
pub mod runtime;
pub mod sandbox;

pub use engine::{
    CallFuture, GIT_PROVIDER_WIT_VERSION, LoadedPlugin, PluginEngine, RUNTIME_WIT_VERSION, digest,
    verify_digest,
};
pub use error::PluginError;
pub use host::HostState;
