//! Running a deployment, wherever its environment runs it: `komander up`, `down`, `stop`,
//! `start`, `rollback`, `plan`, `status`, `logs`, `history`, `export` and `link` (and the
//! `komander deployment apply…` commands, which share this code).
//!
//! In a `server` environment the server runs the operation and the CLI follows it live over
//! its event stream. In a `local` environment the CLI runs it on this machine ([`super::local`])
//! under the lease the server gives, and follows the same event stream, so what it shows is
//! what teammates see. Reads (`plan`, `status`, `logs`) of a `local` environment ask this
//! machine's engine, since that is where the deployment runs.

use std::{
    io::IsTerminal as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use clap::Args;
use komander_domain::{
    Executor, OperationId,
    api::{
        DeploymentPlan, DeploymentRunStatus, Environment, Operation, OperationEnded, OperationKind,
        OperationState, Protocol, RollbackRequest, Service, ServiceLogPage, ServiceRunStatus,
    },
    names::ServiceName,
};
use serde::Serialize;

use super::{
    ApiClient, OutputFormat,
    address::{DeploymentAt, DeploymentFlags, Link, find_link, write_link},
    follow::{OperationFailed, follow_logs, follow_with},
    local::{self, LocalDeployment, LocalOperation},
    output::{Row, print_item, print_json, print_line, print_list, print_table},
    scope::Scope as _,
    view::{Json, OperationView, Plain, Terminal, print_log_lines},
};

/// An operation on a deployment.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// Apply it (`komander up`).
    Up,
    /// Remove what it runs, its named volumes too when `volumes`.
    Down {
        /// Remove the named volumes and their data.
        volumes: bool,
    },
    /// Stop its services, keeping them for `start`.
    Stop,
    /// Start again what `stop` stopped.
    Start,
    /// Bring back an earlier apply.
    Rollback(OperationId),
}

impl Action {
    fn kind(self) -> OperationKind {
        match self {
            Action::Up => OperationKind::Apply,
            Action::Down { .. } => OperationKind::Destroy,
            Action::Stop => OperationKind::Stop,
            Action::Start => OperationKind::Start,
            Action::Rollback(_) => OperationKind::Rollback,
        }
    }

    /// What the spinner says while it runs.
    fn doing(self) -> &'static str {
        match self {
            Action::Up => "applying",
            Action::Down { .. } => "removing",
            Action::Stop => "stopping",
            Action::Start => "starting",
            Action::Rollback(_) => "rolling back",
        }
    }

    /// Whether the services run afterwards: then the summary lists them.
    fn runs_services(self) -> bool {
        matches!(self, Action::Up | Action::Start | Action::Rollback(_))
    }
}

/// The command's options shared by the operations.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct OperateOptions {
    /// Print the operation and return at once instead of following it (server environments
    /// only: a local operation runs in this process).
    #[arg(long)]
    pub detach: bool,
}

/// The environment of `at`, for its executor.
async fn environment(api: &ApiClient, at: &DeploymentAt) -> anyhow::Result<Environment> {
    api.get(&at.environment_path())
        .await
        .with_context(|| format!("reading the environment of {at}"))
}

/// How a followed operation is shown: JSON lines for `--output json`, a spinner and step
/// lines on a terminal, plain lines otherwise.
fn view_for(out: OutputFormat, what: &str) -> Box<dyn OperationView> {
    match out {
        OutputFormat::Json => Box::new(Json),
        OutputFormat::Table if std::io::stderr().is_terminal() => Box::new(Terminal::new(what)),
        OutputFormat::Table => Box::new(Plain),
    }
}

/// Runs `action` on `at` where its environment runs it, follows it live, and prints a summary;
/// exit 0 done, 5 busy, 7 failed or cancelled.
///
/// # Errors
/// When the server refuses (busy: exit 5), this machine cannot run it, or the operation ends
/// otherwise than done ([`OperationFailed`]: exit 7).
pub async fn operate(
    api: &ApiClient,
    out: OutputFormat,
    at: &DeploymentAt,
    action: Action,
    options: OperateOptions,
) -> anyhow::Result<()> {
    let env = environment(api, at).await?;
    let view = view_for(out, &format!("{} {at}", action.doing()));
    match env.executor {
        Executor::Server => {
            let started = start_on_server(api, at, action)
                .await
                .with_context(|| format!("starting the {} of {at}", action.kind().as_str()))?;
            if options.detach {
                return print_item(out, &started);
            }
            let path = format!("{}/operations/{}", at.path(), started.id);
            let ended = follow_with(api, &path, view)
                .await
                .with_context(|| format!("following operation {} of {at}", started.id))?;
            let status = if ended.state == OperationState::Done && action.runs_services() {
                Some(server_status(api, at).await?)
            } else {
                None
            };
            summarize(api, out, at, started.id, ended, status).await
        }
        Executor::Local => {
            anyhow::ensure!(
                !options.detach,
                "--detach: a local environment's operation runs in this process, on this machine"
            );
            let operation = LocalOperation {
                kind: action.kind(),
                remove_volumes: matches!(action, Action::Down { volumes: true }),
                rollback_of: match action {
                    Action::Rollback(id) => Some(id),
                    _ => None,
                },
            };
            let started = local::start(api, at, operation).await?;
            let id = started.id;
            let path = started.path.clone();
            let follower = {
                let api = api.clone();
                tokio::spawn(async move { follow_with(&api, &path, view).await })
            };
            if let Err(e) = started.drive().await {
                follower.abort();
                return Err(e);
            }
            let ended = follower
                .await
                .context("following the operation")?
                .with_context(|| format!("following operation {id} of {at}"))?;
            let status = if ended.state == OperationState::Done && action.runs_services() {
                Some(started.deployment().runtime.status().await?)
            } else {
                None
            };
            summarize(api, out, at, id, ended, status).await
        }
    }
}

/// Starts `action` on the server (202) and answers the operation.
async fn start_on_server(
    api: &ApiClient,
    at: &DeploymentAt,
    action: Action,
) -> anyhow::Result<Operation> {
    let path = at.path();
    match action {
        Action::Up => api.post_action(&format!("{path}/apply")).await,
        Action::Down { volumes } => {
            api.post_action(&format!("{path}/destroy?volumes={volumes}"))
                .await
        }
        Action::Stop => api.post_action(&format!("{path}/stop")).await,
        Action::Start => api.post_action(&format!("{path}/start")).await,
        Action::Rollback(operation) => {
            api.post(&format!("{path}/rollback"), &RollbackRequest { operation })
                .await
        }
    }
}

/// The status the server reads of a `server` environment's deployment.
async fn server_status(api: &ApiClient, at: &DeploymentAt) -> anyhow::Result<DeploymentRunStatus> {
    api.get(&format!("{}/status", at.path()))
        .await
        .with_context(|| format!("reading the status of {at}"))
}

/// One service in the summary: its state and where it answers.
#[derive(Serialize)]
struct SummaryService {
    service: ServiceName,
    state: String,
    health: String,
    urls: Vec<String>,
}

impl Row for SummaryService {
    const COLUMNS: &'static [&'static str] = &["SERVICE", "STATE", "HEALTH", "URLS"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.service.to_string(),
            self.state.clone(),
            self.health.clone(),
            self.urls.join(" "),
        ]
    }
}

/// The outcome `--output json` prints after the events.
#[derive(Serialize)]
struct Outcome<'a> {
    outcome: &'a str,
    operation: OperationId,
    message: Option<&'a str>,
    services: &'a [SummaryService],
}

/// Where a published port answers: `http://127.0.0.1:8080` (a TCP port), or
/// `udp://127.0.0.1:53`; an unspecified address reads as loopback.
fn urls(service: &Service) -> Vec<String> {
    service
        .ports
        .iter()
        .filter_map(|p| {
            let host = p.host?;
            let address = if p.host_address.is_unspecified() {
                "127.0.0.1".to_owned()
            } else if p.host_address.is_ipv6() {
                format!("[{}]", p.host_address)
            } else {
                p.host_address.to_string()
            };
            let scheme = match p.protocol {
                Protocol::Tcp => "http",
                Protocol::Udp => "udp",
            };
            Some(format!("{scheme}://{address}:{host}"))
        })
        .collect()
}

/// Prints how the operation ended and, for a done one that runs services, each service with
/// its state and URLs; fails with [`OperationFailed`] unless it is done.
async fn summarize(
    api: &ApiClient,
    out: OutputFormat,
    at: &DeploymentAt,
    id: OperationId,
    ended: OperationEnded,
    status: Option<DeploymentRunStatus>,
) -> anyhow::Result<()> {
    let mut services = Vec::new();
    if let Some(status) = status {
        let declared: Vec<Service> = api
            .list(&format!("{}/services", at.path()))
            .await
            .with_context(|| format!("listing the services of {at}"))?
            .items;
        services = status
            .services
            .iter()
            .map(|s: &ServiceRunStatus| SummaryService {
                service: s.service.clone(),
                state: s.state.as_str().to_owned(),
                health: s.health.as_str().to_owned(),
                urls: declared
                    .iter()
                    .find(|d| d.name == s.service)
                    .map(urls)
                    .unwrap_or_default(),
            })
            .collect();
    }
    match out {
        // One line, as each event before it.
        OutputFormat::Json => print_line(serde_json::to_string(&Outcome {
            outcome: ended.state.as_str(),
            operation: id,
            message: ended.message.as_deref(),
            services: &services,
        })?)?,
        OutputFormat::Table if !services.is_empty() => print_table(&services)?,
        OutputFormat::Table => {}
    }
    match ended.state {
        OperationState::Done => Ok(()),
        state => Err(OperationFailed {
            operation: id,
            state,
            message: ended.message,
        }
        .into()),
    }
}

/// `komander plan`: what applying now would change, from wherever the deployment runs.
///
/// # Errors
/// When the server or this machine's runtime refuses.
pub async fn plan(api: &ApiClient, out: OutputFormat, at: &DeploymentAt) -> anyhow::Result<()> {
    let plan: DeploymentPlan = match environment(api, at).await?.executor {
        Executor::Server => api
            .get(&format!("{}/plan", at.path()))
            .await
            .with_context(|| format!("planning {at}"))?,
        Executor::Local => {
            LocalDeployment::connect(api, at, false)
                .await?
                .runtime
                .plan()
                .await?
        }
    };
    match out {
        OutputFormat::Json => print_json(&plan),
        OutputFormat::Table => {
            for warning in &plan.warnings {
                eprintln!("warning: {warning}");
            }
            if plan.changes.is_empty() {
                return Ok(print_line("nothing to change")?);
            }
            print_table(&plan.changes)
        }
    }
}

/// `komander status`: each service as it runs, and the drift from the spec.
///
/// # Errors
/// When the server or this machine's runtime refuses.
pub async fn status(api: &ApiClient, out: OutputFormat, at: &DeploymentAt) -> anyhow::Result<()> {
    let status = match environment(api, at).await?.executor {
        Executor::Server => server_status(api, at).await?,
        Executor::Local => {
            LocalDeployment::connect(api, at, false)
                .await?
                .runtime
                .status()
                .await?
        }
    };
    match out {
        OutputFormat::Json => print_json(&status),
        OutputFormat::Table => {
            print_table(&status.services)?;
            for change in &status.drift {
                print_line(format_args!("drift: {change}"))?;
            }
            Ok(())
        }
    }
}

/// `komander logs`: a service's last `tail` lines and, with `follow`, the lines it writes.
///
/// # Errors
/// When the server or this machine's runtime refuses, or nothing runs for the service.
pub async fn logs(
    api: &ApiClient,
    out: OutputFormat,
    at: &DeploymentAt,
    service: &ServiceName,
    tail: u32,
    follow: bool,
) -> anyhow::Result<()> {
    let path = format!("{}/services/{service}/logs", at.path());
    let context = || format!("reading the log of {at}/{service}");
    match environment(api, at).await?.executor {
        Executor::Server if follow => follow_logs(api, &path, tail, out)
            .await
            .with_context(context),
        Executor::Server => {
            let tail = tail.to_string();
            let page: ServiceLogPage = api
                .get_query(&path, &[("limit", tail.as_str())])
                .await
                .with_context(context)?;
            Ok(print_log_lines(out, &page.lines)?)
        }
        Executor::Local => {
            let deployment = LocalDeployment::connect(api, at, false).await?;
            let mut page = deployment
                .runtime
                .logs(service.as_str(), None, tail)
                .await?;
            loop {
                print_log_lines(out, &page.lines)?;
                if !follow {
                    return Ok(());
                }
                let cursor = Some(page.next_cursor.clone());
                if page.lines.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                page = deployment
                    .runtime
                    .logs(service.as_str(), cursor, local::FOLLOW_PAGE)
                    .await?;
            }
        }
    }
}

/// `komander history`: the deployment's operations, newest first.
///
/// # Errors
/// When the server refuses.
pub async fn history(api: &ApiClient, out: OutputFormat, at: &DeploymentAt) -> anyhow::Result<()> {
    print_list::<Operation>(api, out, &format!("{}/operations", at.path()), || {
        format!("listing the operations of {at}")
    })
    .await
}

/// `komander export`: the deployment as files to run without Komander, written under `dir`
/// (default `./<deployment>`); prints the paths written.
///
/// # Errors
/// When the server refuses, or a file exists and `force` is not given.
pub async fn export(
    api: &ApiClient,
    at: &DeploymentAt,
    dir: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<()> {
    let archive = api
        .get_bytes(&format!("{}/export", at.path()))
        .await
        .with_context(|| format!("exporting {at}"))?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(at.deployment.as_str()));
    for written in unpack(&archive, &dir, force)? {
        print_line(written.display())?;
    }
    Ok(())
}

/// `komander link`: checks that `at` is there, then links the current folder to it.
///
/// # Errors
/// When the deployment cannot be read, or the file cannot be written.
pub async fn link(api: &ApiClient, at: &DeploymentAt) -> anyhow::Result<()> {
    let _: serde_json::Value = api
        .get(&at.path())
        .await
        .with_context(|| format!("checking deployment {at}"))?;
    let dir = std::env::current_dir().context("finding the current folder")?;
    let file = write_link(&dir, api.server(), at)?;
    eprintln!("linked {} to {at} on {}", dir.display(), api.server());
    print_line(file.display())?;
    Ok(())
}

/// The link of the current folder or its nearest parent with one.
///
/// # Errors
/// When a `.komander.toml` is there but cannot be read.
pub fn current_link() -> anyhow::Result<Option<Link>> {
    let dir = std::env::current_dir().context("finding the current folder")?;
    find_link(&dir)
}

/// Names the deployment of a command that also takes one more positional word (`logs
/// [DEPLOYMENT] SERVICE`, `rollback [DEPLOYMENT] APPLY`): with two words the first is the
/// deployment; with one, the deployment comes from the flags or the link.
///
/// # Errors
/// When the deployment is not named anywhere, or the first of two words is not one.
pub fn split_words(
    flags: DeploymentFlags,
    words: &[String],
    link: Option<&Link>,
) -> anyhow::Result<(DeploymentAt, String)> {
    let (at, last) = match words {
        [at, last] => (
            Some(at.parse().map_err(|e: String| anyhow::anyhow!(e))?),
            last.clone(),
        ),
        [last] => (None, last.clone()),
        _ => anyhow::bail!("expected [PROJECT/ENV/DEPLOYMENT] and one more argument"),
    };
    anyhow::ensure!(
        at.is_none() || flags.project.is_none(),
        "name the deployment as PROJECT/ENV/DEPLOYMENT or with -p/-e/-d, not both"
    );
    Ok((flags.resolve(at, link)?, last))
}

/// Writes the files of an exported deployment's tar archive under `dir` (created when
/// missing) and answers their paths. Every path is checked again: only plain relative paths
/// are written, so nothing lands outside `dir`. All paths are checked before any file is
/// written; an existing file is refused unless `force`.
fn unpack(archive: &[u8], dir: &Path, force: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut entries = tar::Archive::new(archive);
    for entry in entries.entries().context("reading the exported archive")? {
        let mut entry = entry.context("reading the exported archive")?;
        let relative = entry
            .path()
            .context("reading a path of the archive")?
            .into_owned();
        let plain = relative.components().count() > 0
            && relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        anyhow::ensure!(
            plain && entry.header().entry_type() == tar::EntryType::Regular,
            "the exported archive holds {}, which is not a plain relative file: refused",
            relative.display()
        );
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content)
            .with_context(|| format!("reading {} from the archive", relative.display()))?;
        let target = dir.join(&relative);
        anyhow::ensure!(
            force || !target.exists(),
            "{} exists already: pass --force to overwrite it",
            target.display()
        );
        files.push((target, content));
    }
    let mut written = Vec::with_capacity(files.len());
    for (target, content) in files {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, content)
            .with_context(|| format!("writing {}", target.display()))?;
        written.push(target);
    }
    Ok(written)
}
