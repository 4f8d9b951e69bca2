//! Builds the first-party plugins of `plugins/` for wasm32-wasip2 and writes `first_party.rs`,
//! which embeds them.
//!
//! Never a nested cargo on the outer build's target directory and profile: it would wait on
//! cargo's own lock forever. The plugins build in `$CARGO_TARGET_DIR/plugins` (shared with the
//! tests' guest builds, so each is compiled once) or, without `CARGO_TARGET_DIR`, in a folder
//! under `OUT_DIR`, with the variables the outer cargo sets for rustc removed.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// The first-party plugins: `plugins/` members, by package name.
const FIRST_PARTY: &[&str] = &["komander-compose"];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let plugins = manifest_dir.join("../../plugins");
    let wit = manifest_dir.join("../../wit");
    for watched in [
        plugins.join("Cargo.toml"),
        plugins.join("Cargo.lock"),
        plugins.join("sdk"),
        plugins.join("compose"),
        wit,
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugins"),
        None => out_dir.join("plugins-target"),
    };
    ensure_target();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--release",
            "--quiet",
            "--locked",
            "--target",
            TARGET,
        ])
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"));
    for package in FIRST_PARTY {
        build.args(["-p", package]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        build.env_remove(var);
    }
    build.env("CARGO_TARGET_DIR", &target_dir);
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build the first-party plugins: {e}"));
    assert!(
        status.success(),
        "building the first-party plugins ({}) for {TARGET} failed: see the errors above",
        FIRST_PARTY.join(", ")
    );
    let mut source = String::from(
        "/// The first-party plugins, in the order they install.\n\
         pub static PLUGINS: &[FirstPartyPlugin] = &[\n",
    );
    for package in FIRST_PARTY {
        let name = package.replace('-', "_");
        let built = target_dir.join(format!("{TARGET}/release/{name}.wasm"));
        let copy = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
        source.push_str(&format!(
            "    FirstPartyPlugin {{ name: {name:?}, bytes: include_bytes!({:?}) }},\n",
            copy.display().to_string()
        ));
    }
    source.push_str("];\n");
    std::fs::write(out_dir.join("first_party.rs"), source).expect("writing first_party.rs");
}

/// Adds the wasm32-wasip2 target through rustup when it is missing, so that a plain
/// `cargo build` works on a fresh machine.
fn ensure_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.as_deref().is_some_and(|root| {
        Path::new(root)
            .join(format!("lib/rustlib/{TARGET}"))
            .is_dir()
    });
    if installed {
        return;
    }
    println!("cargo:warning=adding the Rust target {TARGET} (rustup target add {TARGET})");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        added,
        "the first-party plugins need the Rust target {TARGET}: run `rustup target add {TARGET}`"
    );
}
