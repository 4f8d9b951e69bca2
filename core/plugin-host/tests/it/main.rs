//! The plugin host against real components: the test guests, the example runtime and the
//! first-party Compose runtime built from `plugins/` for wasm32-wasip2, and hand-written
//! components for what a toolchain would not produce. One binary, a module per area.

mod compose;
mod docker;
#[path = "../../../../tests/src/guests.rs"]
mod guests;
mod install;
mod kubernetes;
mod loading;
mod sandbox;
mod wit;
