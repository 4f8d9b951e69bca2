//! `komander target`: the Docker Engines server deployments run on. Instance admins create,
//! update, delete, grant and revoke them; a project's members list the targets granted to it
//! (`komander target list --project P`). TLS material is read from files and never shown.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use komander_domain::{
    api::{
        NewTarget, Page, Target, TargetEndpoint, TargetEndpointWrite, TargetGrant, TargetPatch,
        TargetPolicy,
    },
    names::{ProjectName, TargetName},
};

use super::{
    ApiClient, OutputFormat,
    output::{Row, joined, print_item, print_json, print_line, print_list, timestamp, yes_no},
    scope::{API, project_path},
};

/// How to reach an engine: a unix socket, or a TCP address with its TLS files.
#[derive(Args, Debug, Default)]
pub struct EndpointArgs {
    /// The engine's unix socket, such as /var/run/docker.sock.
    #[arg(long, conflicts_with = "address")]
    socket: Option<String>,
    /// The engine's TCP address, tcp://host:port (needs --ca, --cert and --key).
    #[arg(long, requires_all = ["ca", "cert", "key"])]
    address: Option<String>,
    /// A PEM file of the CA the engine's certificate chains to.
    #[arg(long, requires = "address")]
    ca: Option<PathBuf>,
    /// A PEM file of Komander's client certificate.
    #[arg(long, requires = "address")]
    cert: Option<PathBuf>,
    /// A PEM file of Komander's client key.
    #[arg(long, requires = "address")]
    key: Option<PathBuf>,
}

/// A target's policy, flag by flag.
#[derive(Args, Debug, Default)]
pub struct PolicyArgs {
    /// The absolute directory bind mounts lie under (none without it).
    #[arg(long)]
    bind_root: Option<String>,
    /// An IP address ports may be published on; repeat for several [default: 127.0.0.1].
    #[arg(long = "publish-address", value_name = "IP")]
    publish_addresses: Vec<String>,
    /// The largest memory limit a container may ask for, in bytes.
    #[arg(long)]
    max_memory_bytes: Option<u64>,
    /// The most CPUs a container may ask for, such as 1.5.
    #[arg(long, value_parser = parse_cpus)]
    max_cpus: Option<u64>,
}

/// `komander target`.
#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// Lists every target (instance admins), or those granted to a project (its members).
    List {
        /// Only the targets granted to this project.
        #[arg(long)]
        project: Option<ProjectName>,
    },
    /// Registers a Docker Engine (instance admins).
    Create {
        /// The target's slug, unique in the instance; immutable.
        name: TargetName,
        /// How to reach the engine.
        #[command(flatten)]
        endpoint: EndpointArgs,
        /// What deployments on it may do.
        #[command(flatten)]
        policy: PolicyArgs,
        /// Make it the default target, used by environments that name none.
        #[arg(long)]
        default: bool,
    },
    /// Shows a target and the projects it is granted to (instance admins).
    Show {
        /// The target's slug.
        name: TargetName,
    },
    /// Changes a target (instance admins): a new endpoint replaces its TLS material; policy
    /// flags change those fields and keep the others.
    Update {
        /// The target's slug.
        name: TargetName,
        /// A new endpoint.
        #[command(flatten)]
        endpoint: EndpointArgs,
        /// Policy fields to change.
        #[command(flatten)]
        policy: PolicyArgs,
        /// Make it the default target (true) or stop it being one (false).
        #[arg(long)]
        default: Option<bool>,
    },
    /// Deletes a target and its grants (instance admins); refused while an environment names
    /// it.
    Delete {
        /// The target's slug.
        name: TargetName,
    },
    /// Lets a project's environments name the target (instance admins).
    Grant {
        /// The target's slug.
        name: TargetName,
        /// The project.
        #[arg(long)]
        project: ProjectName,
    },
    /// Takes a project's grant back (instance admins); refused while one of its environments
    /// names the target.
    Revoke {
        /// The target's slug.
        name: TargetName,
        /// The project.
        #[arg(long)]
        project: ProjectName,
    },
}

/// Parses a number of CPUs (`1.5`) into billionths of a CPU.
fn parse_cpus(text: &str) -> Result<u64, String> {
    match text.parse::<f64>() {
        Ok(cpus) if cpus.is_finite() && cpus > 0.0 && cpus < 1e9 => Ok((cpus * 1e9).round() as u64),
        _ => Err(format!(
            "{text:?} is not a number of CPUs above 0, such as 1.5"
        )),
    }
}

fn read_pem(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl EndpointArgs {
    /// The endpoint these flags give, `None` when none is given.
    fn endpoint(self) -> anyhow::Result<Option<TargetEndpointWrite>> {
        match (self.socket, self.address, self.ca, self.cert, self.key) {
            (Some(socket), ..) => Ok(Some(TargetEndpointWrite::Unix { socket })),
            (None, Some(address), Some(ca), Some(cert), Some(key)) => {
                Ok(Some(TargetEndpointWrite::Tcp {
                    address,
                    ca_pem: read_pem(&ca)?,
                    cert_pem: read_pem(&cert)?,
                    key_pem: read_pem(&key)?,
                }))
            }
            _ => Ok(None),
        }
    }
}

impl PolicyArgs {
    fn is_empty(&self) -> bool {
        self.bind_root.is_none()
            && self.publish_addresses.is_empty()
            && self.max_memory_bytes.is_none()
            && self.max_cpus.is_none()
    }

    /// `base` with the fields these flags give.
    fn apply(self, base: TargetPolicy) -> TargetPolicy {
        TargetPolicy {
            bind_root: self.bind_root.or(base.bind_root),
            publish_addresses: if self.publish_addresses.is_empty() {
                base.publish_addresses
            } else {
                self.publish_addresses
            },
            max_memory_bytes: self.max_memory_bytes.or(base.max_memory_bytes),
            max_nano_cpus: self.max_cpus.or(base.max_nano_cpus),
        }
    }
}

impl TargetCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When a PEM file cannot be read, or the server cannot be reached or refuses (an
    /// `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        let targets = format!("{API}/targets");
        let target = |name: &TargetName| format!("{targets}/{name}");
        match self {
            Self::List { project: None } => {
                print_list::<Target>(api, out, &targets, || "listing targets".into()).await
            }
            Self::List {
                project: Some(project),
            } => {
                let path = format!("{}/targets", project_path(&project));
                print_list::<Target>(api, out, &path, || {
                    format!("listing the targets of project {project}")
                })
                .await
            }
            Self::Create {
                name,
                endpoint,
                policy,
                default,
            } => {
                let endpoint = endpoint
                    .endpoint()?
                    .context("give --socket, or --address with --ca, --cert and --key")?;
                let body = NewTarget {
                    name: name.clone(),
                    endpoint,
                    policy: policy.apply(TargetPolicy::default()),
                    default,
                };
                let created: Target = api
                    .post(&targets, &body)
                    .await
                    .with_context(|| format!("creating target {name}"))?;
                print_item(out, &created)
            }
            Self::Show { name } => {
                let shown: Target = api
                    .get(&target(&name))
                    .await
                    .with_context(|| format!("showing target {name}"))?;
                let grants: Page<ProjectName> = api
                    .list(&format!("{}/grants", target(&name)))
                    .await
                    .with_context(|| format!("listing the grants of target {name}"))?;
                match out {
                    OutputFormat::Table => {
                        print_item(out, &shown)?;
                        let projects = joined(grants.items.iter().map(ToString::to_string));
                        Ok(print_line(format_args!("\nGRANTED TO: {projects}"))?)
                    }
                    OutputFormat::Json => print_json(&serde_json::json!({
                        "target": shown,
                        "grants": grants.items,
                    })),
                }
            }
            Self::Update {
                name,
                endpoint,
                policy,
                default,
            } => {
                let policy = if policy.is_empty() {
                    None
                } else {
                    let current: Target = api
                        .get(&target(&name))
                        .await
                        .with_context(|| format!("showing target {name}"))?;
                    Some(policy.apply(current.policy))
                };
                let patch = TargetPatch {
                    endpoint: endpoint.endpoint()?,
                    policy,
                    default,
                };
                let updated: Target = api
                    .patch(&target(&name), &patch)
                    .await
                    .with_context(|| format!("updating target {name}"))?;
                print_item(out, &updated)
            }
            Self::Delete { name } => {
                api.delete(&target(&name), false)
                    .await
                    .with_context(|| format!("deleting target {name}"))?;
                eprintln!("deleted target {name}");
                Ok(())
            }
            Self::Grant { name, project } => {
                let body = TargetGrant {
                    project: project.clone(),
                };
                api.post_no_content(&format!("{}/grants", target(&name)), &body)
                    .await
                    .with_context(|| format!("granting target {name} to project {project}"))?;
                eprintln!("granted target {name} to project {project}");
                Ok(())
            }
            Self::Revoke { name, project } => {
                api.delete(&format!("{}/grants/{project}", target(&name)), false)
                    .await
                    .with_context(|| format!("revoking target {name} from project {project}"))?;
                eprintln!("revoked target {name} from project {project}");
                Ok(())
            }
        }
    }
}

impl Row for Target {
    const COLUMNS: &'static [&'static str] = &[
        "NAME",
        "ENDPOINT",
        "DEFAULT",
        "BIND ROOT",
        "PUBLISH ON",
        "MAX MEMORY",
        "MAX CPUS",
        "UPDATED",
    ];

    fn cells(&self) -> Vec<String> {
        let none = || "-".to_owned();
        vec![
            self.name.to_string(),
            match &self.endpoint {
                TargetEndpoint::Unix { socket } => format!("unix://{socket}"),
                TargetEndpoint::Tcp { address } => format!("{address} (TLS)"),
            },
            yes_no(self.default),
            self.policy.bind_root.clone().unwrap_or_else(none),
            joined(self.policy.publish_addresses.iter().cloned()),
            self.policy
                .max_memory_bytes
                .map_or_else(none, |m| m.to_string()),
            self.policy
                .max_nano_cpus
                .map_or_else(none, |c| format!("{}", c as f64 / 1e9)),
            timestamp(self.updated_at),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_are_counted_in_billionths() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.25"), Ok(250_000_000));
        for bad in ["0", "-1", "NaN", "inf", "one"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
    }
}
