//! `komander plugin new --kind KIND NAME`: writes a runtime plugin crate that builds as it is
//! (its manifest, a `Runtime` with every operation stubbed, tests, a README), with the SDK and
//! the WIT of this komander beside it, so that it builds anywhere without a path into
//! Komander's repository.

use std::path::Path;

use anyhow::{Context as _, bail};
use clap::ValueEnum;

use super::output::print_line;

/// The world a new runtime plugin drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NewKind {
    /// Containers on a Docker Engine (the `docker` capability).
    DockerRuntime,
    /// Objects in a Kubernetes cluster (the `kubernetes` capability).
    KubernetesRuntime,
    /// An outside API, through the connections an admin sets (the `connections` capability).
    RemoteRuntime,
}

impl NewKind {
    /// The world's name, as `komander plugin check` prints it.
    fn world(self) -> &'static str {
        match self {
            NewKind::DockerRuntime => "docker",
            NewKind::KubernetesRuntime => "kubernetes",
            NewKind::RemoteRuntime => "remote",
        }
    }

    /// What the template's placeholders become for this world: the `use` of its capability,
    /// the expression `status` reads through it (so that the component imports it, which is
    /// how the host tells the world), and the manifest's capability line.
    fn pieces(self) -> [(&'static str, &'static str); 3] {
        match self {
            NewKind::DockerRuntime => [
                (
                    "__WORLD_USE__",
                    "use komander_plugin_sdk::docker::engine;\n",
                ),
                (
                    "__WORLD_STATUS__",
                    "format!(\n            \"{} containers of the deployment on the engine\",\n            \
                     engine::list_containers(&[])?.len()\n        )",
                ),
                ("__CAPABILITY__", "docker = true"),
            ],
            NewKind::KubernetesRuntime => [
                (
                    "__WORLD_USE__",
                    "use komander_plugin_sdk::kubernetes::cluster;\n",
                ),
                (
                    "__WORLD_STATUS__",
                    "{\n            let namespace = spec.required_setting(\"namespace\")?;\n            \
                     let found = cluster::list_objects(namespace, \"apps/v1\", \"Deployment\", None)?;\n            \
                     format!(\"{} Deployments in namespace {namespace}\", found.len())\n        }",
                ),
                ("__CAPABILITY__", "kubernetes = true"),
            ],
            NewKind::RemoteRuntime => [
                ("__WORLD_USE__", ""),
                ("__WORLD_STATUS__", "\"the remote API is not asked yet\""),
                (
                    "__CAPABILITY__",
                    "# The connections it uses, by name: an admin sets each one's URL and \
                     credential.\nconnections = [\"api\"]",
                ),
            ],
        }
    }
}

/// The SDK and WIT files written beside a new crate: (path under `komander-plugin-sdk/`,
/// text).
const SDK_FILES: [(&str, &str); 6] = [
    (
        "src/lib.rs",
        include_str!("../../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "src/manifest.rs",
        include_str!("../../../../plugins/sdk/src/manifest.rs"),
    ),
    (
        "wit/host/host.wit",
        include_str!("../../../../wit/host/host.wit"),
    ),
    (
        "wit/docker/docker.wit",
        include_str!("../../../../wit/docker/docker.wit"),
    ),
    (
        "wit/kubernetes/kubernetes.wit",
        include_str!("../../../../wit/kubernetes/kubernetes.wit"),
    ),
    (
        "wit/runtime/runtime.wit",
        include_str!("../../../../wit/runtime/runtime.wit"),
    ),
];

/// The SDK's manifest, whose `.workspace = true` values come from the plugins' workspace.
const SDK_MANIFEST: &str = include_str!("../../../../plugins/sdk/Cargo.toml");
/// The plugins' workspace manifest.
const PLUGINS_WORKSPACE: &str = include_str!("../../../../plugins/Cargo.toml");

/// The new crate's files: (path, template).
const TEMPLATE: [(&str, &str); 4] = [
    (
        "Cargo.toml",
        include_str!("../../templates/runtime-plugin/Cargo.toml.in"),
    ),
    (
        "komander-plugin.toml",
        include_str!("../../templates/runtime-plugin/komander-plugin.toml.in"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/runtime-plugin/lib.rs.in"),
    ),
    (
        "README.md",
        include_str!("../../templates/runtime-plugin/README.md.in"),
    ),
];

/// Writes the crate `name` of `kind` in `parent` (the plugin's id `id`, or `local.<name>`),
/// all of it or nothing, then prints what to run next.
///
/// # Errors
/// A name that is no crate name, an id the server would refuse, a folder that exists, or a
/// file that cannot be written (nothing is left then).
pub fn new_plugin(
    name: &str,
    kind: NewKind,
    id: Option<&str>,
    parent: Option<&Path>,
) -> anyhow::Result<()> {
    check_crate_name(name)?;
    let id = id.map_or_else(|| format!("local.{name}"), str::to_owned);
    id.parse::<komander_domain::names::PluginId>()
        .map_err(|e| anyhow::anyhow!("--id {id:?}: {e}"))?;
    let parent = match parent {
        Some(parent) => parent.to_path_buf(),
        None => std::env::current_dir().context("finding the current folder")?,
    };
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} exists already: choose another name or folder",
            dir.display()
        );
    }
    let partial = parent.join(format!(".{name}.partial"));
    let written = write_crate(&partial, name, kind, &id).and_then(|()| {
        std::fs::rename(&partial, &dir).with_context(|| format!("moving it to {}", dir.display()))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    let lib = name.replace('-', "_");
    for line in [
        format!(
            "created {} (a {}-runtime plugin, id {id}, with the SDK {} beside it)",
            dir.display(),
            kind.world(),
            env!("CARGO_PKG_VERSION")
        ),
        "next:".to_owned(),
        format!("  cd {}", dir.display()),
        "  cargo build --release --target wasm32-wasip2".to_owned(),
        format!("  komander plugin check target/wasm32-wasip2/release/{lib}.wasm"),
    ] {
        print_line(line)?;
    }
    Ok(())
}

/// Refuses what cargo would not take as a package name (kept to what a plugin needs).
fn check_crate_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "{name:?} is no plugin crate name: 1 to 63 of a-z 0-9 - _, starting with a letter, \
             such as nomad-runtime"
        );
    }
    Ok(())
}

/// Writes every file of the crate under `dir`.
fn write_crate(dir: &Path, name: &str, kind: NewKind, id: &str) -> anyhow::Result<()> {
    let sdk_version = env!("CARGO_PKG_VERSION");
    let type_name: String = name
        .split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    let mut values = vec![
        ("__NAME__", name.to_owned()),
        ("__LIB__", name.replace('-', "_")),
        ("__TYPE__", type_name),
        ("__ID__", id.to_owned()),
        ("__WORLD__", kind.world().to_owned()),
        ("__SDK_VERSION__", sdk_version.to_owned()),
    ];
    values.extend(kind.pieces().map(|(k, v)| (k, v.to_owned())));
    for (path, template) in TEMPLATE {
        let text = values
            .iter()
            .fold(template.to_owned(), |text, (k, v)| text.replace(k, v));
        write(&dir.join(path), &text)?;
    }
    let sdk = dir.join("komander-plugin-sdk");
    write(&sdk.join("Cargo.toml"), &standalone_sdk_manifest()?)?;
    for (path, text) in SDK_FILES {
        write(&sdk.join(path), text)?;
    }
    Ok(())
}

/// Writes `text` to `path`, creating its folder.
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The SDK's `Cargo.toml` with each `key.workspace = true` replaced by the plugins'
/// workspace's `key = value`, so that it builds outside that workspace.
fn standalone_sdk_manifest() -> anyhow::Result<String> {
    let mut out = String::new();
    for line in SDK_MANIFEST.lines() {
        match line.strip_suffix(".workspace = true") {
            Some(key) => {
                let value = workspace_value(key.trim())
                    .with_context(|| format!("plugins/Cargo.toml has no {key}"))?;
                out.push_str(&format!("{} = {value}\n", key.trim()));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The value of `key` in the plugins' workspace manifest (`[workspace.package]` or
/// `[workspace.dependencies]`).
fn workspace_value(key: &str) -> Option<&'static str> {
    PLUGINS_WORKSPACE.lines().find_map(|line| {
        let (k, value) = line.split_once('=')?;
        (k.trim() == key).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_is_written_with_the_workspace_values_and_the_cli_version() {
        let manifest = standalone_sdk_manifest().unwrap();
        assert!(!manifest.contains("workspace"), "{manifest}");
        assert!(
            manifest.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))),
            "the SDK is versioned with the CLI: {manifest}"
        );
        assert!(manifest.contains("wit-bindgen = {"), "{manifest}");
    }

    #[test]
    fn a_name_cargo_would_refuse_is_refused() {
        for bad in ["", "Nomad", "1st", "no/slash", &"x".repeat(64)] {
            assert!(check_crate_name(bad).is_err(), "{bad:?}");
        }
        check_crate_name("nomad-runtime").unwrap();
    }
}
