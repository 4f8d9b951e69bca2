//! The manifest a plugin carries in its custom section `komander-plugin` (TOML, embedded by the
//! SDK's export macro; it survives `strip`), and what kind of plugin a component is.

use std::collections::BTreeMap;

use komander_domain::names::{NameError, PluginId};
use serde::Deserialize;

use crate::{PluginError, capabilities::Capability};

/// The custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "komander-plugin";

/// What a plugin does, read from the interface it exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// Exports `komander:git-provider/provider`.
    GitProvider,
    /// Exports `komander:runtime/runtime`, in one of its worlds.
    Runtime(RuntimeWorld),
}

/// Which world a runtime plugin targets, read from what it imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuntimeWorld {
    /// Imports `komander:docker/engine`.
    Docker,
    /// Imports `komander:kubernetes/cluster`.
    Kubernetes,
    /// Drives an external API through `connections` only.
    Remote,
}

impl RuntimeWorld {
    /// Its name in the API: `docker`, `kubernetes` or `remote`.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeWorld::Docker => "docker",
            RuntimeWorld::Kubernetes => "kubernetes",
            RuntimeWorld::Remote => "remote",
        }
    }
}

impl PluginKind {
    /// The manifest's spelling: `git-provider` or `runtime`.
    pub fn manifest_name(self) -> &'static str {
        match self {
            PluginKind::GitProvider => "git-provider",
            PluginKind::Runtime(_) => "runtime",
        }
    }
}

/// The largest admin settings an install may have, as JSON text (what `config.get` returns).
pub const CONFIG_BYTES: usize = 64 << 10;

/// A plugin's manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The plugin's id, such as `acme.nomad`.
    pub id: PluginId,
    /// The plugin's own version (semver).
    pub version: String,
    /// `git-provider` or `runtime`; must agree with what the component exports.
    pub kind: String,
    /// The oldest Komander version it runs on (semver).
    pub min_host_version: Option<String>,
    /// A JSON schema for the admin settings `config` returns.
    pub config_schema: Option<String>,
    /// The capabilities it asks for; an admin grants some or all.
    pub capabilities: BTreeMap<String, toml::Value>,
}

/// A manifest as written: its id is checked after the TOML is read, so that a bad id gets its
/// own message rather than a TOML parser's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestToml {
    id: String,
    version: String,
    kind: String,
    #[serde(default)]
    min_host_version: Option<String>,
    #[serde(default)]
    config_schema: Option<String>,
    #[serde(default)]
    capabilities: BTreeMap<String, toml::Value>,
}

impl Manifest {
    /// Parses and checks a manifest.
    ///
    /// # Errors
    /// [`PluginError::Refused`] naming the problem.
    pub fn parse(text: &str) -> Result<Manifest, PluginError> {
        let written: ManifestToml = toml::from_str(text)
            .map_err(|e| PluginError::refused(format!("its manifest is invalid: {e}")))?;
        let manifest = Manifest {
            id: written.id.parse().map_err(|e: NameError| {
                PluginError::refused(format!("its id {:?} is not {}", e.value, e.reason))
            })?,
            version: written.version,
            kind: written.kind,
            min_host_version: written.min_host_version,
            config_schema: written.config_schema,
            capabilities: written.capabilities,
        };
        semver::Version::parse(&manifest.version).map_err(|e| {
            PluginError::refused(format!(
                "its version {:?} is not semver: {e}",
                manifest.version
            ))
        })?;
        if let Some(min) = &manifest.min_host_version {
            let min = semver::Version::parse(min).map_err(|e| {
                PluginError::refused(format!("its min_host_version {min:?} is not semver: {e}"))
            })?;
            let host = semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("semver");
            if min > host {
                return Err(PluginError::refused(format!(
                    "it needs Komander {min} or newer; this is {host}"
                )));
            }
        }
        manifest.config_validator()?;
        for name in manifest.capabilities.keys() {
            let capability: Capability = name.parse().map_err(|_| {
                PluginError::refused(format!("it asks for the unknown capability {name:?}"))
            })?;
            capability.check(&manifest, false)?;
        }
        Ok(manifest)
    }

    /// The compiled config schema; `None` when the manifest has none (any object is valid).
    fn config_validator(&self) -> Result<Option<jsonschema::Validator>, PluginError> {
        let Some(text) = &self.config_schema else {
            return Ok(None);
        };
        let schema: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| PluginError::refused(format!("its config_schema is not JSON: {e}")))?;
        jsonschema::validator_for(&schema).map(Some).map_err(|e| {
            PluginError::refused(format!("its config_schema is not a valid JSON schema: {e}"))
        })
    }

    /// Checks an install's admin settings against the config schema: they must be a JSON
    /// object of at most [`CONFIG_BYTES`] that the schema accepts.
    ///
    /// # Errors
    /// Every problem found, each naming where in the settings it is (a JSON pointer such
    /// as `/region`, or `/` for the whole object).
    pub fn check_config(&self, config: &serde_json::Value) -> Result<(), Vec<String>> {
        if !config.is_object() {
            return Err(vec!["/: the settings must be a JSON object".into()]);
        }
        if config.to_string().len() > CONFIG_BYTES {
            return Err(vec![format!(
                "/: the settings are larger than {CONFIG_BYTES} bytes"
            )]);
        }
        let validator = self.config_validator().map_err(|e| vec![e.to_string()])?;
        let Some(validator) = validator else {
            return Ok(());
        };
        let problems: Vec<String> = validator
            .iter_errors(config)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("{}: {e}", if at.is_empty() { "/" } else { at.as_str() })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The capabilities the manifest asks for, in [`Capability::ALL`]'s order: what an
    /// author's run and the test kit grant at once.
    pub fn requested_capabilities(&self) -> impl Iterator<Item = Capability> + '_ {
        Capability::ALL
            .into_iter()
            .filter(|c| self.capabilities.contains_key(c.name()))
    }

    /// The names a capability's request lists (`connections = ["deployer"]`); empty when it
    /// asks with `true`, or not at all.
    pub fn requested_names(&self, capability: &str) -> Vec<&str> {
        match self.capabilities.get(capability) {
            Some(toml::Value::Array(names)) => {
                names.iter().filter_map(toml::Value::as_str).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Finds and checks the manifest in a component's custom sections.
    ///
    /// # Errors
    /// As [`Manifest::text`] and [`Manifest::parse`].
    pub fn find(bytes: &[u8]) -> Result<Manifest, PluginError> {
        Manifest::parse(&Manifest::text(bytes)?)
    }

    /// The manifest's text, from a component's custom sections, wherever the toolchain put it
    /// (the component itself or one of its core modules).
    ///
    /// # Errors
    /// [`PluginError::Refused`] when the bytes are not a component, or hold no manifest.
    pub fn text(bytes: &[u8]) -> Result<String, PluginError> {
        use wasmtime::wasmparser::{Parser, Payload};
        if !Parser::is_component(bytes) {
            return Err(PluginError::refused(
                "it is not a WebAssembly component (build it for wasm32-wasip2)",
            ));
        }
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload
                .map_err(|e| PluginError::refused(format!("it is not valid WebAssembly: {e}")))?;
            if let Payload::CustomSection(section) = payload
                && section.name() == MANIFEST_SECTION
            {
                let text = std::str::from_utf8(section.data()).map_err(|_| {
                    PluginError::refused("its komander-plugin section is not UTF-8")
                })?;
                return Ok(text.to_owned());
            }
        }
        Err(PluginError::refused(
            "it has no komander-plugin section: build it with the Komander plugin SDK",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_checked() {
        let ok = "id = \"acme.nomad\"\nversion = \"1.2.0\"\nkind = \"runtime\"\n\
                  [capabilities]\nlog = true\n";
        assert_eq!(Manifest::parse(ok).unwrap().id, "acme.nomad");
        for (bad, needle) in [
            (
                "id = \"Acme\"\nversion = \"1.0.0\"\nkind = \"runtime\"",
                "id",
            ),
            (
                "id = \"a\"\nversion = \"one\"\nkind = \"runtime\"",
                "semver",
            ),
            (
                "id = \"a\"\nversion = \"1.0.0\"\nkind = \"runtime\"\nmin_host_version = \"99.0.0\"",
                "99.0.0",
            ),
            (
                "id = \"a\"\nversion = \"1.0.0\"\nkind = \"runtime\"\n[capabilities]\nroot = true",
                "unknown capability",
            ),
            (
                "id = \"a\"\nversion = \"1.0.0\"\nkind = \"runtime\"\nextra = 1",
                "invalid",
            ),
        ] {
            let err = Manifest::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle:?} not in {err:?}");
        }
        assert_eq!(
            Manifest::parse("id = \"Acme\"\nversion = \"1.0.0\"\nkind = \"runtime\"")
                .unwrap_err()
                .to_string(),
            PluginError::refused(
                "its id \"Acme\" is not 1 to 64 of a-z 0-9 - . starting with a letter"
            )
            .to_string()
        );
    }
}
