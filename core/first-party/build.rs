//! Builds the first-party plugins of `plugins/` for wasm32-wasip2 and writes `first_party.rs`,
//! which embeds them.
//!
//! The build is `komander-guest-build`'s, like the tests' guest builds: a cargo of its own in
//! `$CARGO_TARGET_DIR/plugins` (shared with the tests, so each plugin is compiled once) or, without
//! `CARGO_TARGET_DIR`, in a folder under `OUT_DIR`; never the outer build's target directory, on
//! whose lock it would wait forever. It never runs rustup: a missing target stops the build with
//! the command that adds it.
//!
//! With `KOMANDER_SKIP_GUEST_BUILD=1` (for tools that only check, such as rust-analyzer, `cargo
//! check` and clippy) it builds nothing and embeds no plugin (docs/operations.md).

use std::{error::Error, fs, process::ExitCode};

use komander_guest_build::{
    GuestBuild, SKIP_VARIABLE, ScriptDirs, TARGET, run_build_script, shared_target_dir, skipped,
};

/// The first-party plugins: `plugins/` members, by package name.
const FIRST_PARTY: &[&str] = &["komander-compose"];

fn main() -> ExitCode {
    run_build_script(
        &[
            "../../plugins/Cargo.toml",
            "../../plugins/Cargo.lock",
            "../../plugins/sdk",
            "../../plugins/compose",
            "../../wit",
        ],
        run,
    )
}

fn run(dirs: ScriptDirs) -> Result<(), Box<dyn Error>> {
    let ScriptDirs {
        manifest_dir,
        out_dir,
    } = dirs;
    let plugins = manifest_dir.join("../../plugins");

    let mut source = String::from("/// The first-party plugins, in the order they install.\n");
    if skipped() {
        println!(
            "cargo:warning={SKIP_VARIABLE} is set: the first-party plugins are not built, and this build \
             embeds none (no Compose runtime)"
        );
        source.push_str(&format!(
            "/// None: this build set `{SKIP_VARIABLE}`.\npub static PLUGINS: &[FirstPartyPlugin] = &[];\n"
        ));
    } else {
        let mut build = GuestBuild::new(
            &plugins,
            shared_target_dir("plugins", &out_dir.join("plugins-target")),
        );
        for package in FIRST_PARTY {
            build = build.package(*package);
        }
        let built = build.run()?;
        source.push_str("pub static PLUGINS: &[FirstPartyPlugin] = &[\n");
        for package in FIRST_PARTY {
            let name = package.replace('-', "_");
            let component = built.join(format!("{name}.wasm"));
            let copy = out_dir.join(format!("{name}.wasm"));
            fs::copy(&component, &copy).map_err(|e| {
                format!("copying {} (built for {TARGET}): {e}", component.display())
            })?;
            source.push_str(&format!(
                "    FirstPartyPlugin {{ name: {name:?}, bytes: include_bytes!({:?}) }},\n",
                copy.display().to_string()
            ));
        }
        source.push_str("];\n");
    }
    let generated = out_dir.join("first_party.rs");
    fs::write(&generated, source).map_err(|e| format!("writing {}: {e}", generated.display()))?;
    Ok(())
}
