//! `komander plugin`: install, list, show, grant, upgrade, disable, enable and uninstall
//! plugins (instance admins write).

use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use komander_domain::api::{Plugin, PluginFromUrl, PluginGrant};

use super::{
    ApiClient, OutputFormat,
    output::{Row, print_item, print_list, timestamp},
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
    /// Replaces a plugin with another build of it, from a .wasm file.
    Upgrade {
        /// The plugin's id.
        id: String,
        /// The new .wasm file.
        file: std::path::PathBuf,
        /// The component's expected SHA-256 (hex).
        #[arg(long)]
        sha256: Option<String>,
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
            Self::Upgrade { id, file, sha256 } => {
                let query: Vec<(&str, &str)> = sha256
                    .as_deref()
                    .map(|s| ("sha256", s))
                    .into_iter()
                    .collect();
                api.post_wasm(
                    &format!("{}/upgrade", plugin(&id)),
                    &query,
                    read_component(&file)?,
                )
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
