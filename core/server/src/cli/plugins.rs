//! `komander plugin`: install, list, show, grant, upgrade, disable, enable and uninstall
//! plugins, and set their settings and connections (instance admins write).

use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use komander_domain::api::{
    Plugin, PluginConfig, PluginConnection, PluginConnectionWrite, PluginFromUrl, PluginGrant,
};

use super::{
    ApiClient, OutputFormat,
    output::{Row, print_item, print_json, print_list, print_rows, timestamp, yes_no},
    scope::API,
};

/// `komander plugin`.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Lists installed plugins.
    List,
    /// Shows one plugin: its status, what it asks for and what it was granted.
    Show {
        /// The plugin's id, such as acme.nomad.
        id: String,
    },
    /// Installs a plugin from a .wasm file or an http(s) URL. It is checked and precompiled
    /// first; without --grant-all it waits as pending-grant until `komander plugin grant`.
    Install {
        /// A .wasm file, or an http(s) URL (which needs --sha256).
        source: String,
        /// The component's expected SHA-256 (hex); required for a URL.
        #[arg(long)]
        sha256: Option<String>,
        /// Grant every capability it asks for at once (for automation).
        #[arg(long)]
        grant_all: bool,
    },
    /// Grants capabilities the plugin asked for (replacing earlier grants) and enables it.
    Grant {
        /// The plugin's id.
        id: String,
        /// A capability to grant; repeat for several.
        #[arg(long = "capability", value_name = "NAME", conflicts_with = "all")]
        capabilities: Vec<String>,
        /// Grant everything it asks for.
        #[arg(long)]
        all: bool,
    },
    /// Writes a new runtime plugin crate NAME/ that builds as it is, with the SDK and WIT of
    /// this komander beside it.
    New {
        /// The crate's name, also its folder's, such as nomad-runtime.
        name: String,
        /// What it drives.
        #[arg(long, value_enum)]
        kind: super::plugin_new::NewKind,
        /// The plugin's id (default: local.NAME).
        #[arg(long)]
        id: Option<String>,
        /// The folder to write it in (default: the current one).
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Runs a runtime plugin's calls on this machine against a Compose file (validate, plan,
    /// apply, status, logs, destroy), in the server's host and limits, printing each call's
    /// result, progress lines and time.
    Run(super::plugin_run::RunArgs),
    /// Runs every check the server runs at install on a .wasm file, here, without a server,
    /// and prints what an admin will be asked to grant.
    Check {
        /// The .wasm file.
        file: std::path::PathBuf,
        /// A JSON file of settings to check against the plugin's settings schema.
        #[arg(long, value_name = "FILE")]
        settings: Option<std::path::PathBuf>,
        /// The component's expected SHA-256 (hex).
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Replaces a plugin with another build of it, from a .wasm file: `upgrade FILE` (the id
    /// read from its manifest) or `upgrade ID FILE`.
    Upgrade {
        /// The plugin's id, or the .wasm file when it is the only argument.
        #[arg(value_name = "ID_OR_FILE")]
        first: String,
        /// The new .wasm file, after the id.
        file: Option<std::path::PathBuf>,
        /// The component's expected SHA-256 (hex).
        #[arg(long)]
        sha256: Option<String>,
        /// A JSON file of new settings, checked against the new build's schema and applied
        /// with it in one step (when the new schema refuses the current settings).
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
    },
    /// Keeps a plugin installed but stops running it.
    Disable {
        /// The plugin's id.
        id: String,
    },
    /// Runs a disabled plugin again.
    Enable {
        /// The plugin's id.
        id: String,
    },
    /// Uninstalls a plugin and deletes its component.
    Uninstall {
        /// The plugin's id.
        id: String,
    },
    /// The HTTP connections a plugin may use (its `connections` capability).
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// A plugin's settings (its `config` capability), checked against its config schema.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `komander plugin config`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Shows a plugin's settings.
    Show {
        /// The plugin's id.
        plugin: String,
    },
    /// Replaces a plugin's settings with a JSON object, given inline or in a file.
    Set {
        /// The plugin's id.
        plugin: String,
        /// The settings, such as '{"region": "eu"}'.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        settings: Option<String>,
        /// Read the settings from this JSON file instead.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

impl ConfigCommand {
    async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        let config = |plugin: &str| format!("{API}/plugins/{plugin}/config");
        let shown: PluginConfig = match self {
            Self::Show { plugin } => api
                .get(&config(&plugin))
                .await
                .with_context(|| format!("showing the settings of plugin {plugin}"))?,
            Self::Set {
                plugin,
                settings,
                file,
            } => {
                let settings = match (settings, file) {
                    (Some(text), _) => serde_json::from_str(&text)
                        .context("the settings argument is not a JSON object")?,
                    (None, Some(file)) => read_settings(&file)?,
                    (None, None) => anyhow::bail!("give the settings, or --file"),
                };
                api.put(&config(&plugin), &PluginConfig { settings })
                    .await
                    .with_context(|| format!("setting the settings of plugin {plugin}"))?
            }
        };
        match out {
            OutputFormat::Json => print_json(&shown),
            OutputFormat::Table => {
                let rows: Vec<Vec<String>> = shown
                    .settings
                    .iter()
                    .map(|(key, value)| vec![key.clone(), value.to_string()])
                    .collect();
                print_rows(&["SETTING", "VALUE"], &rows)
            }
        }
    }
}

/// `komander plugin connection`.
#[derive(Subcommand, Debug)]
pub enum ConnectionCommand {
    /// Lists a plugin's connections (never their credentials).
    List {
        /// The plugin's id.
        plugin: String,
    },
    /// Sets a connection: the credential (the Authorization value the host adds, such as
    /// "Bearer …") is read from standard input with --credential-stdin, and never shown again.
    Set {
        /// The plugin's id.
        plugin: String,
        /// The connection's name, as the plugin uses it.
        name: String,
        /// The base URL requests go below.
        #[arg(long)]
        base_url: String,
        /// Read the credential from standard input (without it, the previous one is kept while
        /// the base URL stays the same).
        #[arg(long)]
        credential_stdin: bool,
        /// Allow private, loopback and link-local addresses (an on-premises API).
        #[arg(long)]
        allow_private: bool,
        /// An allowed path prefix; repeat for several (default: every path).
        #[arg(long = "path-prefix", value_name = "PREFIX")]
        path_prefixes: Vec<String>,
        /// Requests allowed per minute (default: no limit).
        #[arg(long)]
        requests_per_minute: Option<u32>,
    },
    /// Removes a connection.
    Remove {
        /// The plugin's id.
        plugin: String,
        /// The connection's name.
        name: String,
    },
}

impl ConnectionCommand {
    async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        let connections = |plugin: &str| format!("{API}/plugins/{plugin}/connections");
        match self {
            Self::List { plugin } => {
                print_list::<PluginConnection>(api, out, &connections(&plugin), || {
                    format!("listing the connections of plugin {plugin}")
                })
                .await
            }
            Self::Set {
                plugin,
                name,
                base_url,
                credential_stdin,
                allow_private,
                path_prefixes,
                requests_per_minute,
            } => {
                let credential = if credential_stdin {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the credential from standard input")?;
                    Some(line.trim_end_matches(['\r', '\n']).to_owned())
                } else {
                    None
                };
                let write = PluginConnectionWrite {
                    base_url,
                    credential,
                    allow_private,
                    path_prefixes,
                    requests_per_minute,
                };
                let set: PluginConnection = api
                    .put(&format!("{}/{name}", connections(&plugin)), &write)
                    .await
                    .with_context(|| format!("setting connection {name} of plugin {plugin}"))?;
                print_item(out, &set)
            }
            Self::Remove { plugin, name } => {
                api.delete(&format!("{}/{name}", connections(&plugin)), false)
                    .await
                    .with_context(|| format!("removing connection {name} of plugin {plugin}"))?;
                eprintln!("removed connection {name} of plugin {plugin}");
                Ok(())
            }
        }
    }
}

impl Row for PluginConnection {
    const COLUMNS: &'static [&'static str] = &[
        "NAME",
        "BASE URL",
        "CREDENTIAL",
        "PRIVATE",
        "PREFIXES",
        "PER MINUTE",
        "UPDATED",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.base_url.clone(),
            if self.has_credential { "set" } else { "-" }.to_owned(),
            yes_no(self.allow_private),
            self.path_prefixes.join(","),
            self.requests_per_minute
                .map_or_else(|| "-".to_owned(), |r| r.to_string()),
            timestamp(self.updated_at),
        ]
    }
}

/// The JSON object of settings in `file`.
pub(super) fn read_settings(
    file: &Path,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a JSON object", file.display()))
}

fn read_component(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

impl PluginCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When a file cannot be read, or the server cannot be reached or refuses (an `ApiError`
    /// in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        let plugins = format!("{API}/plugins");
        let plugin = |id: &str| format!("{plugins}/{id}");
        let shown: Plugin = match self {
            Self::List => {
                return print_list::<Plugin>(api, out, &plugins, || "listing plugins".into()).await;
            }
            Self::New {
                name,
                kind,
                id,
                dir,
            } => {
                return super::plugin_new::new_plugin(&name, kind, id.as_deref(), dir.as_deref());
            }
            Self::Run(args) => return super::plugin_run::run(args).await,
            Self::Check {
                file,
                settings,
                sha256,
            } => {
                return super::plugin_check::check(
                    &file,
                    settings.as_deref(),
                    sha256.as_deref(),
                    out,
                )
                .await;
            }
            Self::Show { id } => api
                .get(&plugin(&id))
                .await
                .with_context(|| format!("showing plugin {id}"))?,
            Self::Install {
                source,
                sha256,
                grant_all,
            } => {
                if source.starts_with("http://") || source.starts_with("https://") {
                    let sha256 = sha256.context("installing from a URL needs --sha256")?;
                    let request = PluginFromUrl {
                        url: source.clone(),
                        sha256,
                        grant_all,
                    };
                    api.post(&plugins, &request)
                        .await
                        .with_context(|| format!("installing {source}"))?
                } else {
                    let bytes = read_component(Path::new(&source))?;
                    let grant = grant_all.to_string();
                    let mut query = vec![("grant_all", grant.as_str())];
                    if let Some(sha) = &sha256 {
                        query.push(("sha256", sha.as_str()));
                    }
                    api.post_wasm(&plugins, &query, bytes)
                        .await
                        .with_context(|| format!("installing {source}"))?
                }
            }
            Self::Grant {
                id,
                capabilities,
                all,
            } => api
                .post(
                    &format!("{}/grant", plugin(&id)),
                    &PluginGrant { capabilities, all },
                )
                .await
                .with_context(|| format!("granting plugin {id}"))?,
            Self::Upgrade {
                first,
                file,
                sha256,
                config,
            } => {
                let (file, named) = match file {
                    Some(file) => (file, Some(first)),
                    None => (std::path::PathBuf::from(first), None),
                };
                let bytes = read_component(&file)?;
                let id = match named {
                    Some(id) => id,
                    None => komander_plugin_host::manifest::Manifest::find(&bytes)
                        .with_context(|| format!("reading the plugin's id in {}", file.display()))?
                        .id
                        .to_string(),
                };
                let settings = config
                    .as_deref()
                    .map(|file| {
                        read_settings(file).map(|s| serde_json::Value::Object(s).to_string())
                    })
                    .transpose()?;
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(sha) = &sha256 {
                    query.push(("sha256", sha));
                }
                if let Some(settings) = &settings {
                    query.push(("settings", settings));
                }
                api.post_wasm(&format!("{}/upgrade", plugin(&id)), &query, bytes)
                    .await
                    .with_context(|| format!("upgrading plugin {id}"))?
            }
            Self::Disable { id } => api
                .post_action(&format!("{}/disable", plugin(&id)))
                .await
                .with_context(|| format!("disabling plugin {id}"))?,
            Self::Enable { id } => api
                .post_action(&format!("{}/enable", plugin(&id)))
                .await
                .with_context(|| format!("enabling plugin {id}"))?,
            Self::Connection(command) => return command.run(api, out).await,
            Self::Config(command) => return command.run(api, out).await,
            Self::Uninstall { id } => {
                api.delete(&plugin(&id), false)
                    .await
                    .with_context(|| format!("uninstalling plugin {id}"))?;
                eprintln!("uninstalled plugin {id}");
                return Ok(());
            }
        };
        if shown.status == komander_domain::api::PluginStatus::PendingGrant {
            eprintln!(
                "plugin {} waits for a grant: it asks for {}; run `komander plugin grant {} --all`",
                shown.id,
                shown.requested.join(", "),
                shown.id
            );
        }
        print_item(out, &shown)
    }
}

impl Row for Plugin {
    const COLUMNS: &'static [&'static str] = &[
        "ID",
        "VERSION",
        "KIND",
        "STATUS",
        "REQUESTED",
        "GRANTED",
        "SHA256",
        "UPDATED",
    ];

    fn cells(&self) -> Vec<String> {
        let kind = match &self.world {
            Some(world) => format!("{} ({world})", self.kind),
            None => self.kind.clone(),
        };
        vec![
            self.id.clone(),
            self.version.clone(),
            kind,
            self.status.as_str().to_owned(),
            self.requested.join(","),
            self.granted.join(","),
            self.sha256.chars().take(12).collect(),
            timestamp(self.updated_at),
        ]
    }
}
