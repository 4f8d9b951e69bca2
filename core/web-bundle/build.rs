//! Builds the web UI's assets and writes `assets.rs`, which embeds them:
//!
//! - the stylesheet, `web/style/komander.css`;
//! - the hydrate bundle: `komander-web` with its `hydrate` feature for wasm32-unknown-unknown in
//!   the `hydrate` profile, by `komander-guest-build` in a target directory of its own
//!   (`$CARGO_TARGET_DIR/web`, else under `OUT_DIR`), then bound for the browser by
//!   wasm-bindgen's library (the `web` output: an ES module and its `_bg.wasm`).
//!
//! Each asset is named by its content (`<stem>.<16 hex digits of its SHA-256>.<ext>`, so it can
//! be cached for good) and stored three times: as is, gzip-compressed and brotli-compressed.
//! No wasm-opt runs; the module's name and producers sections are dropped.
//!
//! With `KOMANDER_SKIP_GUEST_BUILD=1` (tools that only check) the hydrate bundle is not built:
//! pages are served without it, and work without JavaScript.

use std::{error::Error, fs, io::Write as _, path::Path, process::ExitCode};

use komander_guest_build::{
    BROWSER_TARGET, GuestBuild, SKIP_VARIABLE, ScriptDirs, run_build_script, shared_target_dir,
    skipped,
};
use sha2::{Digest as _, Sha256};

/// The package of the browser half, and its crate name.
const PACKAGE: &str = "komander-web";
const CRATE: &str = "komander_web";

fn main() -> ExitCode {
    run_build_script(
        &[
            "../../Cargo.toml",
            "../../Cargo.lock",
            "../../web",
            "../../core/domain",
        ],
        run,
    )
}

fn run(dirs: ScriptDirs) -> Result<(), Box<dyn Error>> {
    let ScriptDirs {
        manifest_dir,
        out_dir,
    } = dirs;
    let repo = manifest_dir.join("../..");
    remove_earlier_assets(&out_dir)?;

    let mut source = String::new();
    let stylesheet = repo.join("web/style/komander.css");
    let css =
        fs::read(&stylesheet).map_err(|e| format!("reading {}: {e}", stylesheet.display()))?;
    source.push_str(&format!(
        "/// The stylesheet of every page.\npub static STYLESHEET: Asset = {};\n",
        asset(&out_dir, "komander", "css", "text/css; charset=utf-8", &css)?
    ));

    if skipped() {
        println!(
            "cargo:warning={SKIP_VARIABLE} is set: the web UI's hydrate bundle is not built, \
             and pages are served without it"
        );
        source.push_str(&format!(
            "/// None: this build set `{SKIP_VARIABLE}`.\npub static HYDRATE: Option<Hydrate> = None;\n"
        ));
    } else {
        let build = GuestBuild::new(&repo, shared_target_dir("web", &out_dir.join("web-target")))
            .package(PACKAGE)
            .target(BROWSER_TARGET)
            .profile("hydrate")
            .feature("hydrate");
        let module = build.run()?.join(format!("{CRATE}.wasm"));
        let bound = out_dir.join("bindgen");
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&module)
            .web(true)?
            .typescript(false)
            .remove_name_section(true)
            .remove_producers_section(true)
            .out_name(CRATE)
            .generate(&bound)
            .map_err(|e| format!("binding {} with wasm-bindgen: {e}", module.display()))?;
        let script = read(&bound.join(format!("{CRATE}.js")))?;
        let wasm = read(&bound.join(format!("{CRATE}_bg.wasm")))?;
        source.push_str(&format!(
            "/// The hydrate bundle.\npub static HYDRATE: Option<Hydrate> = Some(Hydrate {{\n    \
             script: {},\n    module: {},\n}});\n",
            asset(
                &out_dir,
                CRATE,
                "js",
                "text/javascript; charset=utf-8",
                &script
            )?,
            asset(
                &out_dir,
                &format!("{CRATE}_bg"),
                "wasm",
                "application/wasm",
                &wasm
            )?,
        ));
    }
    let generated = out_dir.join("assets.rs");
    fs::write(&generated, source).map_err(|e| format!("writing {}: {e}", generated.display()))?;
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, Box<dyn Error>> {
    Ok(fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?)
}

/// Removes the assets an earlier run wrote into `out_dir`: their names change with their
/// content, so they would pile up.
fn remove_earlier_assets(out_dir: &Path) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(out_dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let asset = name.starts_with("komander")
            && [".css", ".js", ".wasm", ".gz", ".br"]
                .iter()
                .any(|extension| name.ends_with(extension));
        if asset {
            fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Writes `bytes` and its two compressed forms into `out_dir` under the content-hashed name,
/// and returns the `Asset` expression that embeds them.
fn asset(
    out_dir: &Path,
    stem: &str,
    extension: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<String, Box<dyn Error>> {
    let digest = Sha256::digest(bytes);
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{stem}.{hash}.{extension}");

    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(bytes)?;
    let gzip = gzip.finish()?;
    let mut brotli = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 64 * 1024, 11, 22);
        writer.write_all(bytes)?;
    }

    let mut paths = Vec::new();
    for (suffix, content) in [("", bytes), (".gz", &gzip[..]), (".br", &brotli[..])] {
        let path = out_dir.join(format!("{name}{suffix}"));
        fs::write(&path, content).map_err(|e| format!("writing {}: {e}", path.display()))?;
        paths.push(path.display().to_string());
    }
    Ok(format!(
        "Asset {{ name: {name:?}, content_type: {content_type:?}, identity: include_bytes!({:?}), \
         gzip: include_bytes!({:?}), brotli: include_bytes!({:?}) }}",
        paths[0], paths[1], paths[2]
    ))
}
