//! Komander's first-party plugins, embedded in the binary: the build script builds them from
//! `plugins/` for wasm32-wasip2 (with a cargo of its own, see `build.rs`) and this crate holds
//! their bytes. The server installs them at start (`App::install_first_party_plugins`).
#![deny(missing_docs)]

/// A plugin shipped inside the binary.
#[derive(Clone, Copy, Debug)]
pub struct FirstPartyPlugin {
    /// The crate it is built from, such as `komander_compose`.
    pub name: &'static str,
    /// The component.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/first_party.rs"));
