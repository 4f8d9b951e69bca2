//! `komander deployment`: deployments in an environment, private to their owner until shared.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use komander_domain::{
    OperationId,
    api::{
        ComposeImport, Deployment, NewDeployment, Operation, PlannedChange, Service,
        ServiceRunStatus, ShareOutcome,
    },
    names::{DeploymentName, ServiceName},
};

use super::{
    ApiClient, OutputFormat,
    follow::{follow_operation, require_done},
    output::{Row, print_item, print_json, print_list, print_table, timestamp, yes_no},
    run::{self, Action},
    scope::{EnvironmentScope, Scope as _},
};

/// `komander deployment`.
#[derive(Subcommand, Debug)]
pub enum DeploymentCommand {
    /// Lists the deployments of an environment you may see: the shared ones and your own.
    List {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
    },
    /// Creates a private deployment that you own.
    Create {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug, unique in the environment; immutable.
        name: DeploymentName,
        /// A display name [default: the slug].
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Shows a deployment.
    Show {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
    },
    /// Deletes a deployment.
    Delete {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
    },
    /// Shares a deployment with the project's members; its secret values are cleared, for the
    /// owner to enter again.
    Share {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
    },
    /// Exports a deployment as files to run without Komander (such as `compose.yaml` and
    /// `.env.example`), written by its environment's runtime. No secret value is in them: fill
    /// the secret variables in yourself. Prints the paths written.
    Export {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// The folder to write the files under [default: ./<deployment>]. (`--output` is the
        /// global output format.)
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Overwrite files that exist already.
        #[arg(long)]
        force: bool,
    },
    /// Creates a deployment's services from a Compose file: images, commands, environment
    /// (variables whose name has a PASSWORD, SECRET, TOKEN, KEY… part become secret), ports,
    /// named volumes, health checks, dependencies, restart policies and limits. Whatever
    /// Komander does not run is refused naming the file, line and key, and nothing is created.
    /// Prints the services created.
    Import {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// The Compose file.
        #[arg(short, long, default_value = "compose.yaml")]
        file: PathBuf,
        /// A `.env` file whose variables the Compose file is interpolated with.
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
    /// Lists a deployment's operations (applies, destroys, stops, starts, rollbacks), newest
    /// first: who started each, where it ran, how it ended.
    History {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
    },
    /// Shows what applying a deployment now would change, each change with its reason, and
    /// the runtime's warnings. Changes nothing.
    Plan {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
    },
    /// Shows each service as it runs now, and the drift from the spec (what an apply would
    /// change).
    Status {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
    },
    /// Prints a service's last log lines; with `--follow`, then the lines it writes, until
    /// interrupted. Secret values are replaced by `[secret]`.
    Logs {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// The service's slug.
        service: ServiceName,
        /// How many of the last lines to print first (1 to 1000).
        #[arg(long, default_value_t = 100)]
        tail: u32,
        /// Keep printing the lines the service writes.
        #[arg(short, long)]
        follow: bool,
    },
    /// Applies a deployment of a `server` environment on the server and follows the operation
    /// live until it ends: exit 0 done, 5 busy (another operation runs), 7 failed or
    /// cancelled.
    Apply {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// Print the operation and return at once instead of following it.
        #[arg(long)]
        detach: bool,
    },
    /// Removes what a deployment runs on the server (containers, networks; named volumes
    /// only with `--volumes`) and follows the operation as `apply` does.
    Destroy {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// Remove the named volumes and their data too.
        #[arg(long)]
        volumes: bool,
        /// Print the operation and return at once instead of following it.
        #[arg(long)]
        detach: bool,
    },
    /// Stops a deployment's services on the server, keeping what they are made of for
    /// `start`; follows the operation as `apply` does.
    Stop {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// Print the operation and return at once instead of following it.
        #[arg(long)]
        detach: bool,
    },
    /// Starts again what `stop` stopped and waits for the services to run; follows the
    /// operation as `apply` does.
    Start {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// Print the operation and return at once instead of following it.
        #[arg(long)]
        detach: bool,
    },
    /// Brings back the services and plain variables of an earlier apply (images pinned to
    /// what ran then) and applies them, following the operation as `apply` does.
    Rollback {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// The earlier apply's operation id (`komander deployment history` lists them).
        operation: OperationId,
        /// Print the operation and return at once instead of following it.
        #[arg(long)]
        detach: bool,
    },
    /// Follows an operation live until it ends: prints its progress lines as they come
    /// (`--output json`: one JSON object per event), resumes after a dropped connection, and
    /// exits 0 when it is done, 7 when it failed or was cancelled.
    Follow {
        /// The environment.
        #[command(flatten)]
        scope: EnvironmentScope,
        /// The deployment's slug.
        name: DeploymentName,
        /// The operation's id (`komander deployment history` lists them).
        operation: OperationId,
    },
}

impl DeploymentCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        match self {
            Self::List { scope } => {
                print_list::<Deployment>(api, out, &scope.collection("deployments"), || {
                    format!("listing the deployments of {scope}")
                })
                .await
            }
            Self::Create {
                scope,
                name,
                display_name,
            } => {
                let body = NewDeployment {
                    name: name.clone(),
                    display_name,
                };
                let deployment: Deployment = api
                    .post(&scope.collection("deployments"), &body)
                    .await
                    .with_context(|| format!("creating deployment {name} in {scope}"))?;
                print_item(out, &deployment)
            }
            Self::Show { scope, name } => {
                let deployment: Deployment = api
                    .get(&scope.item("deployments", &name))
                    .await
                    .with_context(|| format!("showing deployment {scope}/{name}"))?;
                print_item(out, &deployment)
            }
            Self::Delete { scope, name } => {
                api.delete(&scope.item("deployments", &name), false)
                    .await
                    .with_context(|| format!("deleting deployment {scope}/{name}"))?;
                eprintln!("deleted deployment {scope}/{name}");
                Ok(())
            }
            Self::Share { scope, name } => {
                let path = format!("{}/share", scope.item("deployments", &name));
                let outcome: ShareOutcome = api
                    .post_action(&path)
                    .await
                    .with_context(|| format!("sharing deployment {scope}/{name}"))?;
                if outcome.cleared_secret_values > 0 {
                    eprintln!(
                        "cleared {} secret values: the owner enters them again",
                        outcome.cleared_secret_values
                    );
                }
                match out {
                    OutputFormat::Table => print_item(out, &outcome.deployment),
                    OutputFormat::Json => print_json(&outcome),
                }
            }
            Self::Export {
                scope,
                name,
                dir,
                force,
            } => run::export(api, &scope.deployment(&name), dir, force).await,
            Self::Import {
                scope,
                name,
                file,
                env_file,
            } => {
                let read = |path: &Path| {
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))
                };
                let body = ComposeImport {
                    file_name: file
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "compose.yaml".to_owned()),
                    compose: read(&file)?,
                    env_file: env_file.as_deref().map(read).transpose()?,
                    variables: Default::default(),
                };
                let path = format!("{}/import", scope.item("deployments", &name));
                let services: Vec<Service> = api.post(&path, &body).await.with_context(|| {
                    format!(
                        "importing {} into deployment {scope}/{name}",
                        file.display()
                    )
                })?;
                match out {
                    OutputFormat::Table => print_table(&services),
                    OutputFormat::Json => print_json(&services),
                }
            }
            Self::History { scope, name } => run::history(api, out, &scope.deployment(&name)).await,
            Self::Plan { scope, name } => run::plan(api, out, &scope.deployment(&name)).await,
            Self::Status { scope, name } => run::status(api, out, &scope.deployment(&name)).await,
            Self::Logs {
                scope,
                name,
                service,
                tail,
                follow,
            } => run::logs(api, out, &scope.deployment(&name), &service, tail, follow).await,
            Self::Apply {
                scope,
                name,
                detach,
            } => operate(api, out, &scope, &name, Action::Up, detach).await,
            Self::Stop {
                scope,
                name,
                detach,
            } => operate(api, out, &scope, &name, Action::Stop, detach).await,
            Self::Start {
                scope,
                name,
                detach,
            } => operate(api, out, &scope, &name, Action::Start, detach).await,
            Self::Destroy {
                scope,
                name,
                volumes,
                detach,
            } => operate(api, out, &scope, &name, Action::Down { volumes }, detach).await,
            Self::Rollback {
                scope,
                name,
                operation,
                detach,
            } => operate(api, out, &scope, &name, Action::Rollback(operation), detach).await,
            Self::Follow {
                scope,
                name,
                operation,
            } => {
                let path = format!(
                    "{}/operations/{operation}",
                    scope.item("deployments", &name)
                );
                let ended = follow_operation(api, &path, out).await.with_context(|| {
                    format!("following operation {operation} of {scope}/{name}")
                })?;
                Ok(require_done(operation, ended)?)
            }
        }
    }
}

/// Runs `action` on deployment `name` of `scope` as `komander up` and its siblings do.
async fn operate(
    api: &ApiClient,
    out: OutputFormat,
    scope: &EnvironmentScope,
    name: &DeploymentName,
    action: Action,
    detach: bool,
) -> anyhow::Result<()> {
    run::operate(
        api,
        out,
        &scope.deployment(name),
        action,
        run::OperateOptions { detach },
    )
    .await
}

impl Row for Deployment {
    const COLUMNS: &'static [&'static str] =
        &["NAME", "DISPLAY NAME", "OWNER", "SHARED", "UPDATED"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.to_string(),
            self.display_name.clone(),
            self.owner.to_string(),
            yes_no(self.shared),
            timestamp(self.updated_at),
        ]
    }
}

impl Row for PlannedChange {
    const COLUMNS: &'static [&'static str] = &["ACTION", "KIND", "NAME", "REASON"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.action.as_str().to_owned(),
            self.kind.clone(),
            self.name.clone(),
            self.reason.clone(),
        ]
    }
}

impl Row for ServiceRunStatus {
    const COLUMNS: &'static [&'static str] = &[
        "SERVICE", "STATE", "HEALTH", "RUNNING", "RESTARTS", "SINCE", "MESSAGE",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.service.to_string(),
            self.state.as_str().to_owned(),
            self.health.as_str().to_owned(),
            self.replicas_running.to_string(),
            self.restarts.to_string(),
            self.since.map(timestamp).unwrap_or_default(),
            self.message.clone(),
        ]
    }
}

impl Row for Operation {
    const COLUMNS: &'static [&'static str] = &[
        "ID",
        "KIND",
        "EXECUTOR",
        "STATE",
        "STARTED BY",
        "STARTED",
        "FINISHED",
        "MESSAGE",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.kind.as_str().to_owned(),
            self.executor.as_str().to_owned(),
            self.state.as_str().to_owned(),
            self.started_by.to_string(),
            timestamp(self.started_at),
            self.finished_at.map(timestamp).unwrap_or_default(),
            self.message.clone().unwrap_or_default(),
        ]
    }
}
