//! Builds the components of `plugins/` once per test run, with `komander-guest-build` (the
//! first-party build script's builder too): a cargo of its own, in a separate target directory and
//! a cleaned environment, so it never waits on the outer cargo's lock.
//!
//! Shared by the end-to-end tests and, through `#[path]`, the plugin host's own tests; it uses
//! nothing but std and `komander-guest-build`.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use komander_guest_build::{GuestBuild, shared_target_dir};

/// Every component `plugins/` builds, and the suite that uses it: a component added without
/// a suite fails `every_guest_is_tested`.
pub const GUESTS: &[(&str, &str)] = &[
    (
        "komander_compose",
        "first-party: compose runtime, install at start",
    ),
    (
        "komander_test_guest",
        "plugin host sandbox, plugin lifecycle",
    ),
    (
        "komander_test_docker_guest",
        "plugin host docker, benchmark",
    ),
    ("komander_test_kubernetes_guest", "plugin host kubernetes"),
    (
        "webhook_runtime",
        "plugin host sandbox, remote runtime, plugin testkit",
    ),
    (
        "docker_runtime",
        "plugin testkit: the guide's Docker example",
    ),
    (
        "kubernetes_runtime",
        "plugin testkit: the guide's Kubernetes example",
    ),
    (
        "komander_test_guest_v0_1",
        "plugin host install refusal, plugin lifecycle: a runtime of komander:runtime@0.1",
    ),
];

/// The repository's root, found from the running crate's manifest directory.
fn workspace() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("plugins/Cargo.toml").exists() {
        assert!(
            dir.pop(),
            "no plugins/Cargo.toml above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    dir
}

/// The folder holding the built `.wasm` files: `$CARGO_TARGET_DIR/plugins` (shared with the
/// first-party build) or, without `CARGO_TARGET_DIR`, `target/plugins`, then
/// `wasm32-wasip2/release`.
///
/// # Panics
/// With the builder's error, such as the `rustup target add` command when the target is missing.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace();
        let target_dir = shared_target_dir("plugins", &root.join("target/plugins"));
        GuestBuild::new(root.join("plugins"), target_dir)
            .run()
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The bytes of a built component.
pub fn bytes(name: &str) -> Vec<u8> {
    assert!(
        GUESTS.iter().any(|(g, _)| *g == name),
        "{name} is not in GUESTS"
    );
    let path = dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks that every component `plugins/` builds is listed in [`GUESTS`].
///
/// # Panics
/// Naming the first that is not.
pub fn every_guest_is_tested() {
    let built: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".wasm").map(str::to_owned)
        })
        .collect();
    for name in &built {
        assert!(
            GUESTS.iter().any(|(g, _)| g == name),
            "plugins/ builds {name}.wasm but no test suite uses it: add it to GUESTS"
        );
    }
}
