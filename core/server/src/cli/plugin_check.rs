//! `komander plugin check FILE.wasm`: every check the server runs when a plugin is installed,
//! run on the author's machine without a server (the component's size and digest, its
//! manifest, its kind and WIT version, what it imports, its export's shape, its settings
//! schema and the settings given), then what an admin will be asked to grant.

use std::path::Path;

use anyhow::{Context as _, bail};
use komander_app::plugins::MAX_COMPONENT_BYTES;
use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::Capability,
    manifest::{PluginKind, RuntimeWorld},
    verify_digest,
};
use serde::Serialize;

use super::{
    OutputFormat,
    output::{print_json, print_line},
};

/// What `plugin check` found: what the server would record at install, and what an admin is
/// asked.
#[derive(Debug, Serialize)]
struct Checked {
    /// The plugin's id.
    id: String,
    /// Its version.
    version: String,
    /// `runtime` or `git-provider`.
    kind: &'static str,
    /// A runtime's world: `docker`, `kubernetes` or `remote`.
    world: Option<&'static str>,
    /// The interface it exports, with the WIT version it was built against.
    exports: String,
    /// The interfaces it imports.
    imports: Vec<String>,
    /// The component's SHA-256, as `--sha256` takes it.
    sha256: String,
    /// Its size in bytes.
    bytes: usize,
    /// Whether it has a settings schema (the server checks settings against it).
    settings_schema: bool,
    /// The limits each call runs under.
    limits: Limits,
    /// What it asks for, which an admin grants.
    asks: Vec<Ask>,
    /// What will not work as the author likely meant.
    warnings: Vec<String>,
}

/// A call's limits, as people read them.
#[derive(Debug, Serialize)]
struct Limits {
    memory_mib: usize,
    cpu_seconds: f64,
    timeout_seconds: f64,
}

/// One capability a plugin asks for.
#[derive(Debug, Serialize)]
struct Ask {
    /// The capability's name.
    capability: &'static str,
    /// The names it lists (the connections it uses); empty when it asks for all.
    names: Vec<String>,
    /// What granting it allows.
    allows: &'static str,
}

/// Checks the component at `file` as an install would, with `settings` (a JSON file) checked
/// against its schema, and prints what an admin will be asked to grant.
///
/// # Errors
/// The first check that fails, naming the file and the fault.
pub async fn check(
    file: &Path,
    settings: Option<&Path>,
    sha256: Option<&str>,
    out: OutputFormat,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if bytes.len() > MAX_COMPONENT_BYTES {
        bail!(
            "{}: {} bytes; the server takes components up to {MAX_COMPONENT_BYTES} bytes",
            file.display(),
            bytes.len()
        );
    }
    if let Some(expected) = sha256 {
        verify_digest(&bytes, expected).with_context(|| file.display().to_string())?;
    }
    let size = bytes.len();
    let engine = PluginEngine::new(None).context("starting the plugin host")?;
    let plugin = engine
        .load(bytes)
        .await
        .with_context(|| format!("{}: the server would refuse it", file.display()))?;
    if let Some(path) = settings {
        check_settings(&plugin, path)?;
    }
    let checked = describe(&plugin, size);
    match out {
        OutputFormat::Json => print_json(&checked),
        OutputFormat::Table => print_checked(&checked),
    }
}

/// Checks the JSON settings at `path` against the plugin's schema.
fn check_settings(plugin: &LoadedPlugin, path: &Path) -> anyhow::Result<()> {
    let settings = serde_json::Value::Object(super::plugins::read_settings(path)?);
    plugin.manifest.check_config(&settings).map_err(|problems| {
        anyhow::anyhow!(
            "{}: the plugin's settings schema refuses them: {}",
            path.display(),
            problems.join("; ")
        )
    })
}

/// What the server records of `plugin` and asks an admin.
fn describe(plugin: &LoadedPlugin, bytes: usize) -> Checked {
    let manifest = &plugin.manifest;
    let asks: Vec<Ask> = manifest
        .requested_capabilities()
        .map(|capability| Ask {
            capability: capability.name(),
            names: manifest
                .requested_names(capability.name())
                .into_iter()
                .map(str::to_owned)
                .collect(),
            allows: capability.allows(),
        })
        .collect();
    let (world, exports) = match plugin.kind {
        PluginKind::GitProvider => (None, "komander:git-provider/provider"),
        PluginKind::Runtime(world) => (Some(world), "komander:runtime/runtime"),
    };
    Checked {
        id: manifest.id.to_string(),
        version: manifest.version.clone(),
        kind: plugin.kind.manifest_name(),
        world: world.map(RuntimeWorld::name),
        exports: format!("{exports}@{}", plugin.wit_version),
        imports: plugin.imports.clone(),
        sha256: plugin.digest.clone(),
        bytes,
        settings_schema: manifest.config_schema.is_some(),
        limits: Limits {
            memory_mib: plugin.limits.memory_bytes >> 20,
            cpu_seconds: plugin.limits.cpu_budget.as_secs_f64(),
            timeout_seconds: plugin.limits.timeout.as_secs_f64(),
        },
        warnings: warnings(plugin, world),
        asks,
    }
}

/// What will not work as the author likely meant: a world whose capability the manifest does
/// not ask for (every call of it is denied), or the other way round.
fn warnings(plugin: &LoadedPlugin, world: Option<RuntimeWorld>) -> Vec<String> {
    let asks = |c: Capability| plugin.manifest.capabilities.contains_key(c.name());
    let mut warnings = Vec::new();
    for (capability, its_world) in [
        (Capability::Docker, RuntimeWorld::Docker),
        (Capability::Kubernetes, RuntimeWorld::Kubernetes),
    ] {
        let imports = world == Some(its_world);
        if imports && !asks(capability) {
            warnings.push(format!(
                "it calls {capability} functions but its manifest does not ask for the \
                 {capability} capability: every such call will be denied (add `{capability} = \
                 true` under [capabilities])"
            ));
        }
        if asks(capability) && !imports {
            warnings.push(format!(
                "its manifest asks for {capability}, but it calls no {capability} function, so \
                 it installs as a {} runtime: call one (e.g. list its containers in `status`)",
                world.map_or("git-provider", RuntimeWorld::name)
            ));
        }
    }
    warnings
}

/// The Komander interfaces of `imports`, and how many WASI ones besides.
fn komander_imports(imports: &[String]) -> String {
    let (komander, wasi): (Vec<&str>, Vec<&str>) = imports
        .iter()
        .map(String::as_str)
        .partition(|i| i.starts_with("komander:"));
    let mut text = komander.join(", ");
    if !wasi.is_empty() {
        text.push_str(&format!(" (and {} WASI interfaces)", wasi.len()));
    }
    text
}

/// Prints what `plugin check` found, for people.
fn print_checked(checked: &Checked) -> anyhow::Result<()> {
    let world = checked
        .world
        .map_or(String::new(), |w| format!(" ({w} world)"));
    let lines = [
        format!("ok: {} {} would install", checked.id, checked.version),
        format!("kind      {}{world}", checked.kind),
        format!("exports   {}", checked.exports),
        format!("imports   {}", komander_imports(&checked.imports)),
        format!("sha256    {} ({} bytes)", checked.sha256, checked.bytes),
        format!(
            "settings  {}",
            if checked.settings_schema {
                "checked against its schema"
            } else {
                "no schema: any JSON object"
            }
        ),
        format!(
            "limits    {} MiB memory, {} s of CPU and {} s in all per call",
            checked.limits.memory_mib, checked.limits.cpu_seconds, checked.limits.timeout_seconds
        ),
    ];
    for line in lines {
        print_line(line)?;
    }
    if checked.asks.is_empty() {
        print_line("An admin will be asked to grant nothing.")?;
    } else {
        print_line("An admin will be asked to grant:")?;
        for ask in &checked.asks {
            let names = if ask.names.is_empty() {
                String::new()
            } else {
                format!(" ({})", ask.names.join(", "))
            };
            print_line(format_args!("  {}{names}: {}", ask.capability, ask.allows))?;
        }
    }
    for warning in &checked.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
