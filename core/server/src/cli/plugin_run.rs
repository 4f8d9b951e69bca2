//! `komander plugin run FILE.wasm --spec compose.yaml`: a plugin author's inner loop. The
//! runtime's calls (validate, plan, the apply's steps and its health wait, status, each
//! service's logs, the destroy's steps) run on this machine in the server's host, under the
//! same limits, with every capability the manifest asks for granted: the local Docker engine
//! for a Docker runtime, the connections given for a remote one, settings from a file, and a
//! key-value store in memory. Each call prints its result, its progress lines and its time.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use async_trait::async_trait;
use komander_app::{
    local::LocalRuntime,
    runner::driver::{DriveSettings, Job, Ledger, LedgerError, Outcome, drive},
};
use komander_domain::{
    DeploymentId, EnvironmentId, Executor, ProjectId, ServiceId,
    api::{OperationKind, ResolvedDeployment, ResolvedService},
    names::ConnectionName,
};
use komander_plugin_host::{
    PluginEngine,
    capabilities::{Connection, ConnectionGrant},
};
use komander_store::StepRecord;

use super::output::print_line;

/// What `plugin run` is asked.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The plugin's .wasm file.
    pub file: PathBuf,
    /// The deployment to run it on, as a Compose file (its services, ports, volumes and
    /// variables, imported as `komander import` does).
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// A JSON file of the plugin's settings (checked against its schema).
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// A connection of a remote runtime, NAME=URL (repeat for several); it may reach this
    /// machine's addresses.
    #[arg(long = "connection", value_name = "NAME=URL")]
    pub connections: Vec<String>,
    /// An environment setting, KEY=VALUE (repeat for several), as `spec.setting` reads it.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub environment_settings: Vec<String>,
    /// Leave what the apply made running: skip the destroy.
    #[arg(long)]
    pub keep: bool,
    /// How long the apply waits for every service to run, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub health_timeout: u64,
}

/// Runs the plugin through every call of a deployment's life and prints each.
///
/// # Errors
/// A file that cannot be read, a component or settings the server would refuse, a spec the
/// importer refuses, a malformed connection or setting; a call that fails (after the destroy
/// that cleans up, unless `--keep`).
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let engine = Arc::new(PluginEngine::new(None).context("starting the plugin host")?);
    let plugin = engine
        .load(bytes)
        .await
        .with_context(|| format!("{}: the server would refuse it", args.file.display()))?;
    let settings = match &args.settings {
        Some(path) => {
            let settings = serde_json::Value::Object(super::plugins::read_settings(path)?);
            plugin
                .manifest
                .check_config(&settings)
                .map_err(|problems| {
                    anyhow::anyhow!(
                        "{}: the plugin's settings schema refuses them: {}",
                        path.display(),
                        problems.join("; ")
                    )
                })?;
            settings.to_string()
        }
        None => "{}".to_owned(),
    };
    let resolved = resolved(&args, plugin.manifest.id.as_str(), settings)?;
    let names = plugin.manifest.requested_names("connections");
    let connections = args
        .connections
        .iter()
        .map(|given| connection(given, &names))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let docker_host = super::local::docker_host();
    let runtime =
        LocalRuntime::for_author(engine, plugin.clone(), &resolved, &docker_host, connections)
            .await?;
    print_line(format_args!(
        "running {} ({} service(s) of {}) on this machine",
        plugin.label(),
        resolved.services.len(),
        args.spec.display()
    ))?;

    let started = Instant::now();
    let plan = runtime.plan().await;
    let took = started.elapsed();
    let plan = plan?;
    for warning in &plan.warnings {
        print_line(format_args!("  warning: {warning}"))?;
    }
    print_line(format_args!(
        "validate and plan: {} change(s) ({})",
        plan.changes.len(),
        seconds(took)
    ))?;
    for change in &plan.changes {
        print_line(format_args!("  {change}"))?;
    }

    let settings = DriveSettings {
        health_timeout: Duration::from_secs(args.health_timeout),
    };
    let applied = operation(&runtime, OperationKind::Apply, settings).await?;
    if applied == Outcome::Done {
        let started = Instant::now();
        let status = runtime.status().await?;
        print_line(format_args!("status ({})", seconds(started.elapsed())))?;
        for service in &status.services {
            print_line(format_args!(
                "  {}: {} (health {}), {} running{}",
                service.service,
                service.state.as_str(),
                service.health.as_str(),
                service.replicas_running,
                if service.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", service.message)
                }
            ))?;
        }
        for service in &resolved.services {
            let started = Instant::now();
            match runtime.logs(service.name.as_str(), None, 20).await {
                Ok(page) => {
                    print_line(format_args!(
                        "logs of {}: {} line(s) ({})",
                        service.name,
                        page.lines.len(),
                        seconds(started.elapsed())
                    ))?;
                    for line in &page.lines {
                        print_line(format_args!("  {}", line.line))?;
                    }
                }
                Err(e) => print_line(format_args!("logs of {}: {e}", service.name))?,
            }
        }
    }
    if args.keep {
        print_line("kept: what the apply made is left running (--keep)")?;
    } else {
        operation(&runtime, OperationKind::Destroy, settings).await?;
    }
    match applied {
        Outcome::Done => Ok(()),
        Outcome::Failed(message) => bail!("the apply failed: {message}"),
        other => bail!("the apply ended as {other:?}"),
    }
}

/// Drives one operation of `kind` through `runtime`, printing each step as it is recorded.
async fn operation(
    runtime: &LocalRuntime,
    kind: OperationKind,
    settings: DriveSettings,
) -> anyhow::Result<Outcome> {
    let job = Job {
        kind,
        remove_volumes: true,
        continuation: None,
        cancel_requested: false,
    };
    let started = Instant::now();
    let outcome = drive(runtime, Arc::new(PrintingLedger), job, settings).await;
    let how = match &outcome {
        Outcome::Done => "done".to_owned(),
        Outcome::Failed(message) => format!("failed: {message}"),
        other => format!("{other:?}"),
    };
    print_line(format_args!(
        "{}: {how} ({})",
        kind.as_str(),
        seconds(started.elapsed())
    ))?;
    Ok(outcome)
}

/// The deployment of the Compose file `args.spec`, in a project `dev`, environment `local`,
/// with the plugin `plugin` granted what it asks and its `settings`.
fn resolved(args: &RunArgs, plugin: &str, settings: String) -> anyhow::Result<ResolvedDeployment> {
    let text = std::fs::read_to_string(&args.spec)
        .with_context(|| format!("reading {}", args.spec.display()))?;
    let file_name = args.spec.file_name().map_or_else(
        || "compose.yaml".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let imported = komander_compose::parse(&komander_compose::Source::new(&file_name, &text))
        .map_err(|refused| anyhow::anyhow!("{refused}"))?;
    let services = imported
        .into_iter()
        .map(|imported| {
            let service = imported.service;
            let (secret, plain): (Vec<_>, Vec<_>) =
                imported.variables.into_iter().partition(|v| v.secret);
            ResolvedService {
                id: ServiceId::new(),
                name: service.name.clone(),
                image: service.image.clone(),
                ports: service.ports.clone(),
                volumes: service.volumes.clone(),
                settings: service.settings(),
                secret: secret.iter().map(|v| v.name.clone()).collect(),
                environment: plain
                    .into_iter()
                    .chain(secret)
                    .map(|v| (v.name.to_string(), v.value))
                    .collect(),
                missing_secrets: Vec::new(),
            }
        })
        .collect();
    let environment_settings = args
        .environment_settings
        .iter()
        .map(|given| {
            given
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--setting {given:?}: expected KEY=VALUE"))
        })
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    let deployment = args
        .spec
        .file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.parse().ok())
        .unwrap_or_else(|| "app".parse().expect("a deployment name"));
    Ok(ResolvedDeployment {
        project_id: ProjectId::new(),
        project: "dev".parse().expect("a project name"),
        environment_id: EnvironmentId::new(),
        environment: "local".parse().expect("an environment name"),
        deployment_id: DeploymentId::new(),
        deployment,
        runtime: plugin
            .parse()
            .map_err(|e| anyhow::anyhow!("plugin {plugin:?}: {e}"))?,
        runtime_sha256: String::new(),
        runtime_granted: Vec::new(),
        runtime_settings: settings,
        executor: Executor::Local,
        settings: environment_settings,
        services,
    })
}

/// The connection `NAME=URL`, which the manifest must name when it lists its connections.
fn connection(given: &str, named: &[&str]) -> anyhow::Result<Arc<Connection>> {
    let (name, url) = given
        .split_once('=')
        .with_context(|| format!("--connection {given:?}: expected NAME=URL"))?;
    name.parse::<ConnectionName>()
        .map_err(|e| anyhow::anyhow!("--connection {given:?}: {e}"))?;
    if !named.is_empty() && !named.contains(&name) {
        bail!(
            "--connection {name}: the plugin asks for the connections {}",
            named.join(", ")
        );
    }
    let url =
        reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("--connection {given:?}: {e}"))?;
    let grant = ConnectionGrant {
        allow_private: true,
        path_prefixes: Vec::new(),
        requests_per_minute: None,
    };
    Ok(Arc::new(Connection::new(name, url, None, grant)))
}

/// A duration as the run prints it: milliseconds under a second.
fn seconds(took: Duration) -> String {
    if took < Duration::from_secs(1) {
        format!("{} ms", took.as_millis())
    } else {
        format!("{:.2} s", took.as_secs_f64())
    }
}

/// A ledger that prints each step the driver records, and holds no lease.
struct PrintingLedger;

#[async_trait]
impl Ledger for PrintingLedger {
    async fn record_step(&self, step: &StepRecord) -> Result<bool, LedgerError> {
        let took =
            Duration::from_millis(u64::try_from(step.finished_at - step.started_at).unwrap_or(0));
        let printed = print_line(format_args!("  step {} ({})", step.name, seconds(took)))
            .and_then(|()| {
                step.lines
                    .iter()
                    .try_for_each(|line| print_line(format_args!("    {line}")))
            });
        printed.map_err(|e| LedgerError::Failed(e.to_string()))?;
        Ok(false)
    }

    async fn renew(&self) -> Result<bool, LedgerError> {
        Ok(false)
    }

    async fn record_pins(&self, pins: BTreeMap<String, String>) -> Result<(), LedgerError> {
        for (service, image) in pins {
            print_line(format_args!("  {service} runs {image}"))
                .map_err(|e| LedgerError::Failed(e.to_string()))?;
        }
        Ok(())
    }
}
