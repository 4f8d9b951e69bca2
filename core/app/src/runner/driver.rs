//! The one driver of an operation's runtime calls, shared by the server's runner and the
//! CLI's local executor (`komander up`): `validate` and `plan` before a fresh apply, each
//! step of the runtime recorded (its timing, its progress lines and the continuation after
//! it) before the next, passing failures tried again, the health wait after an apply or a
//! start, and the images pinned after an apply.
//!
//! Where it records is a [`Ledger`]: the server writes to its store under its own lease;
//! the CLI writes to the server's REST API under the lease token it was given. What it calls
//! is a [`Runtime`]: the loaded plugin, the spec and a way to make each call's context. The
//! lease is renewed every [`RENEW_EVERY`] while the driver runs.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use base64::Engine as _;
use bollard::Docker;
use komander_domain::api::OperationKind;
use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::{CallContext, ProgressEvent, ProgressSink},
    runtime::{
        DependencyCondition, DeploymentSpec, DeploymentStatus, GuestError, RuntimeCallError,
        ServiceSource, ServiceState, StepResult,
    },
};
use komander_store::StepRecord;
use tracing::warn;

use super::{
    change_line, engine, run_state,
    session::{drain_progress, now_ms},
    status_line,
};
use crate::operations::{MAX_LINE_BYTES, MAX_STEP_LINES};

/// How often the holder renews its lease (a third of its time-to-live).
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How long the health wait waits before reading the status again, for its first
/// [`QUICK_POLLS`] reads; then the wait doubles after each read, up to [`POLL_MAX`].
const STATUS_FIRST: Duration = Duration::from_millis(100);
/// How many times a step is called again, or the status read, [`STEP_PAUSE_FIRST`] or
/// [`STATUS_FIRST`] apart before the pause grows: a health check of a one-second interval is
/// seen passing within a tenth of a second, and a long wait still costs few steps.
const QUICK_POLLS: u32 = 20;
/// How many times a step that failed for a passing reason (`unavailable`, `timeout`,
/// `rate-limited`) is tried again with the same continuation.
const STEP_RETRIES: u32 = 3;
/// The log lines a failed health wait quotes of the service at fault.
const FAILED_LOG_LINES: u32 = 20;
/// How long the host waits before calling a step again that handed back a continuation, for
/// the first [`QUICK_POLLS`] such steps; then the pause doubles after each, up to
/// [`POLL_MAX`], so a runtime that waits long (for a dependency to become healthy) costs little
/// guest time and few recorded steps, while a short wait is not rounded up to a second.
const STEP_PAUSE_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between two steps, or two status reads of the health wait.
const POLL_MAX: Duration = Duration::from_secs(1);

/// Why a [`Ledger`] could not record.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The lease is no longer the driver's (expired and taken over, or the operation ended).
    #[error("the lease passed to another holder")]
    Lost,
    /// Anything else: the database or the server could not be reached, or refused.
    #[error("{0}")]
    Failed(String),
}

/// Where a driven operation is recorded, under its lease.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records one finished step; answers whether someone asked the operation to stop.
    async fn record_step(&self, step: &StepRecord) -> Result<bool, LedgerError>;
    /// Extends the lease; answers whether someone asked the operation to stop.
    async fn renew(&self) -> Result<bool, LedgerError>;
    /// Records the image each service ran, pinned (`repository@sha256:…` or an image id),
    /// by service name.
    async fn record_pins(&self, pins: BTreeMap<String, String>) -> Result<(), LedgerError>;
}

/// What a driver calls: one deployment through its runtime plugin.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The engine the plugin is loaded in.
    fn engine(&self) -> &PluginEngine;
    /// The plugin.
    fn plugin(&self) -> &LoadedPlugin;
    /// The spec every call gets.
    fn spec(&self) -> &DeploymentSpec;
    /// The context of one call, its progress reports going to `progress`.
    async fn context(&self, progress: Option<ProgressSink>) -> Result<CallContext, String>;
    /// The Docker engine a Docker runtime's containers run on, and how failures name it
    /// (`target "edge"`, `the local Docker engine`): its images are pinned after an apply.
    fn docker(&self) -> Option<(&str, &Docker)>;
}

/// The operation a driver runs, as stored when it starts or is resumed.
#[derive(Clone, Debug)]
pub struct Job {
    /// What it does.
    pub kind: OperationKind,
    /// For a destroy: whether the named volumes go too.
    pub remove_volumes: bool,
    /// The continuation the last recorded step left (base64), when resumed.
    pub continuation: Option<String>,
    /// Whether a cancel was asked for already.
    pub cancel_requested: bool,
}

/// How long an apply waits for health.
#[derive(Clone, Copy, Debug)]
pub struct DriveSettings {
    /// How long an apply waits for every service to be running and healthy.
    pub health_timeout: Duration,
}

/// How a driven operation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything ran; the services are up (or down, for a destroy or a stop).
    Done,
    /// A step failed; the message says which and why.
    Failed(String),
    /// Someone asked it to stop.
    Cancelled,
    /// The lease passed to another holder: it finishes the operation, not this driver.
    LeaseLost,
}

/// Which runtime function an operation's steps call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepKind {
    Apply,
    Destroy { remove_volumes: bool },
    Stop,
    Start,
}

impl StepKind {
    fn of(job: &Job) -> StepKind {
        match job.kind {
            OperationKind::Apply | OperationKind::Rollback => StepKind::Apply,
            OperationKind::Destroy => StepKind::Destroy {
                remove_volumes: job.remove_volumes,
            },
            OperationKind::Stop => StepKind::Stop,
            OperationKind::Start => StepKind::Start,
        }
    }

    fn name(self) -> &'static str {
        match self {
            StepKind::Apply => "apply",
            StepKind::Destroy { .. } => "destroy",
            StepKind::Stop => "stop",
            StepKind::Start => "start",
        }
    }

    /// Whether the services must run afterwards: the health wait follows.
    fn runs_services(self) -> bool {
        matches!(self, StepKind::Apply | StepKind::Start)
    }
}

/// Drives `job` through `runtime` to its end, recording each step in `ledger` and renewing
/// its lease meanwhile; answers how it ended (the caller records the end).
pub async fn drive(
    runtime: &dyn Runtime,
    ledger: Arc<dyn Ledger>,
    job: Job,
    settings: DriveSettings,
) -> Outcome {
    let cancel = Arc::new(AtomicBool::new(job.cancel_requested));
    let lost = Arc::new(AtomicBool::new(false));
    let keeper = tokio::spawn(keep_lease(ledger.clone(), cancel.clone(), lost.clone()));
    let driver = Driver {
        runtime,
        ledger: ledger.as_ref(),
        settings,
        cancel: &cancel,
        lost: &lost,
    };
    let outcome = driver.steps(&job).await;
    keeper.abort();
    outcome
}

/// One drive in progress.
struct Driver<'a> {
    runtime: &'a dyn Runtime,
    ledger: &'a dyn Ledger,
    settings: DriveSettings,
    cancel: &'a AtomicBool,
    lost: &'a AtomicBool,
}

impl Driver<'_> {
    /// Whether to stop before the next call: the lease was lost or a cancel asked for.
    fn interrupted(&self) -> Option<Outcome> {
        if self.lost.load(Ordering::Relaxed) {
            return Some(Outcome::LeaseLost);
        }
        self.cancel
            .load(Ordering::Relaxed)
            .then_some(Outcome::Cancelled)
    }

    async fn steps(&self, job: &Job) -> Outcome {
        let resume = match job
            .continuation
            .as_deref()
            .map(|c| base64::engine::general_purpose::STANDARD.decode(c))
        {
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(_)) => return Outcome::Failed("the stored continuation is not base64".into()),
            None => None,
        };
        let kind = StepKind::of(job);
        if resume.is_none()
            && kind == StepKind::Apply
            && let Err(outcome) = self.plan_steps().await
        {
            return outcome;
        }
        let mut continuation = resume;
        let mut number = 1;
        let mut pause = STEP_PAUSE_FIRST;
        loop {
            if let Some(outcome) = self.interrupted() {
                return outcome;
            }
            let name = format!("{} #{number}", kind.name());
            let started = now_ms();
            let sink = ProgressSink::default();
            let step = match self.step(kind, continuation.clone(), &sink, &name).await {
                Ok(step) => step,
                Err(message) => {
                    let lines = drain_progress(&sink);
                    let _ = self.record(&name, started, None, lines).await;
                    return Outcome::Failed(message);
                }
            };
            let StepResult {
                continuation: next,
                progress,
                done,
            } = step;
            let mut lines = drain_progress(&sink);
            lines.extend(progress);
            let stored = next
                .as_ref()
                .map(|c| base64::engine::general_purpose::STANDARD.encode(c));
            if let Err(outcome) = self.record(&name, started, stored, lines).await {
                return outcome;
            }
            if done {
                break;
            }
            continuation = next;
            number += 1;
            tokio::time::sleep(pause).await;
            pause = next_pause(pause, number, STEP_PAUSE_FIRST);
        }
        if kind.runs_services()
            && let Err(outcome) = self.health_wait().await
        {
            return outcome;
        }
        if kind == StepKind::Apply {
            self.pin_images().await;
        }
        Outcome::Done
    }

    /// `validate` and `plan`, each recorded as a step: the warnings, then each change with
    /// its reason.
    async fn plan_steps(&self) -> Result<(), Outcome> {
        let started = now_ms();
        let warnings = self
            .call(|engine, plugin, context, spec| {
                Box::pin(async move { engine.validate(plugin, context, spec).await })
            })
            .await
            .map_err(|m| Outcome::Failed(format!("validate: {m}")))?;
        let lines = warnings
            .into_iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        self.record("validate", started, None, lines).await?;
        let started = now_ms();
        let plan = self
            .call(|engine, plugin, context, spec| {
                Box::pin(async move { engine.plan(plugin, context, spec).await })
            })
            .await
            .map_err(|m| Outcome::Failed(format!("plan: {m}")))?;
        let mut lines: Vec<String> = plan.changes.iter().map(change_line).collect();
        if lines.is_empty() {
            lines.push("nothing to change".to_owned());
        }
        self.record("plan", started, None, lines).await?;
        Ok(())
    }

    /// One call of a runtime function with the spec, under a fresh context.
    async fn call<T>(
        &self,
        run: impl for<'a> FnOnce(
            &'a PluginEngine,
            &'a LoadedPlugin,
            CallContext,
            DeploymentSpec,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, RuntimeCallError>> + Send + 'a>,
        >,
    ) -> Result<T, String> {
        let context = self.runtime.context(None).await?;
        run(
            self.runtime.engine(),
            self.runtime.plugin(),
            context,
            self.runtime.spec().clone(),
        )
        .await
        .map_err(|e| self.failure(&e))
    }

    /// What a failed runtime call says, for the operation's message.
    fn failure(&self, e: &RuntimeCallError) -> String {
        engine_failure(self.runtime.docker().map(|(name, _)| name), e)
    }

    /// One step, tried again with the same continuation after a passing failure.
    async fn step(
        &self,
        kind: StepKind,
        continuation: Option<Vec<u8>>,
        sink: &ProgressSink,
        name: &str,
    ) -> Result<StepResult, String> {
        let mut attempt = 0;
        loop {
            let context = self
                .runtime
                .context(Some(sink.clone()))
                .await
                .map_err(|e| format!("step `{name}`: {e}"))?;
            let engine = self.runtime.engine();
            let plugin = self.runtime.plugin();
            let spec = self.runtime.spec().clone();
            let result = match kind {
                StepKind::Apply => {
                    engine
                        .apply_step(plugin, context, spec, continuation.clone())
                        .await
                }
                StepKind::Destroy { remove_volumes } => {
                    engine
                        .destroy_step(plugin, context, spec, continuation.clone(), remove_volumes)
                        .await
                }
                StepKind::Stop => {
                    engine
                        .stop_step(plugin, context, spec, continuation.clone())
                        .await
                }
                StepKind::Start => {
                    engine
                        .start_step(plugin, context, spec, continuation.clone())
                        .await
                }
            };
            let wait = match &result {
                Err(RuntimeCallError::Guest {
                    error: GuestError::RateLimited(limit),
                    ..
                }) => Duration::from_millis(limit.retry_after_ms.min(30_000)),
                Err(RuntimeCallError::Guest {
                    error: GuestError::Unavailable(_) | GuestError::Timeout(_),
                    ..
                }) => Duration::from_secs(1 << attempt),
                _ => Duration::ZERO,
            };
            match result {
                Ok(step) => return Ok(step),
                Err(e) if wait > Duration::ZERO && attempt < STEP_RETRIES => {
                    attempt += 1;
                    warn!(step = name, error = %e, attempt, "retrying a step");
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(ProgressEvent::Message(format!(
                            "{}; trying again in {} ms",
                            runtime_message(&e),
                            wait.as_millis()
                        )));
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(format!("step `{name}` failed: {}", self.failure(&e))),
            }
        }
    }

    /// Records a step, its lines cut to the limits; sets the cancel flag when one was asked.
    async fn record(
        &self,
        name: &str,
        started_at: i64,
        continuation: Option<String>,
        lines: Vec<String>,
    ) -> Result<(), Outcome> {
        let step = StepRecord {
            name: name.to_owned(),
            started_at,
            finished_at: now_ms().max(started_at),
            continuation,
            lines: lines
                .into_iter()
                .take(MAX_STEP_LINES)
                .map(|l| truncate(&l, MAX_LINE_BYTES))
                .collect(),
        };
        match self.ledger.record_step(&step).await {
            Ok(cancelled) => {
                if cancelled {
                    self.cancel.store(true, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(LedgerError::Lost) => Err(Outcome::LeaseLost),
            Err(LedgerError::Failed(e)) => Err(Outcome::Failed(format!(
                "could not record step `{name}`: {e}"
            ))),
        }
    }

    /// Reads the status (every [`STATUS_FIRST`] at first, less often as the wait goes on) until
    /// every service is ready, one failed or
    /// became unhealthy, or the health timeout passes; a failure names the service and quotes
    /// its last log lines.
    async fn health_wait(&self) -> Result<(), Outcome> {
        let started = now_ms();
        let deadline = tokio::time::Instant::now() + self.settings.health_timeout;
        let mut every = STATUS_FIRST;
        let mut reads = 0;
        loop {
            reads += 1;
            if let Some(outcome) = self.interrupted() {
                return Err(outcome);
            }
            let status = self
                .call(|engine, plugin, context, spec| {
                    Box::pin(async move { engine.status(plugin, context, spec).await })
                })
                .await
                .map_err(|m| Outcome::Failed(format!("status: {m}")))?;
            let waiting = not_ready(self.runtime.spec(), &status);
            if waiting.is_empty() {
                let lines = status.services.iter().map(status_line).collect();
                self.record("health", started, None, lines).await?;
                return Ok(());
            }
            // Unhealthy is final too: the health check failed `retries` times in a row.
            let failed = status
                .services
                .iter()
                .find(|s| matches!(s.state, ServiceState::Failed | ServiceState::Unhealthy));
            if failed.is_some() || tokio::time::Instant::now() >= deadline {
                let culprit = failed
                    .or_else(|| {
                        status
                            .services
                            .iter()
                            .find(|s| waiting.contains(&s.service))
                    })
                    .expect("a service is waiting");
                let lines = status.services.iter().map(status_line).collect();
                self.record("health", started, None, lines).await?;
                let why = if failed.is_some() {
                    "failed".to_owned()
                } else {
                    format!(
                        "is not ready after {} s",
                        self.settings.health_timeout.as_secs()
                    )
                };
                let log = self.last_log_lines(&culprit.service).await;
                return Err(Outcome::Failed(format!(
                    "service {:?} {why} ({}{}){log}",
                    culprit.service,
                    run_state(culprit.state).as_str(),
                    if culprit.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", culprit.message)
                    }
                )));
            }
            tokio::time::sleep(every).await;
            every = next_pause(every, reads, STATUS_FIRST);
        }
    }

    /// `service`'s last [`FAILED_LOG_LINES`] log lines, as a suffix of a failure message.
    async fn last_log_lines(&self, service: &str) -> String {
        let service = service.to_owned();
        let page = self
            .call(move |engine, plugin, context, spec| {
                Box::pin(async move {
                    engine
                        .logs(plugin, context, spec, service, None, FAILED_LOG_LINES)
                        .await
                })
            })
            .await;
        match page {
            Ok(page) if !page.entries.is_empty() => {
                let lines: Vec<String> = page.entries.into_iter().map(|e| e.line).collect();
                format!("; its last log lines:\n{}", lines.join("\n"))
            }
            Ok(_) => "; it logged nothing".to_owned(),
            Err(e) => format!("; its log could not be read: {e}"),
        }
    }

    /// Pins the images the apply ran (see [`engine::image_pins`]) and records them.
    async fn pin_images(&self) {
        let Some((_, client)) = self.runtime.docker() else {
            return;
        };
        let images: Vec<(String, String)> = self
            .runtime
            .spec()
            .services
            .iter()
            .filter_map(|s| match &s.source {
                ServiceSource::Image(image) => Some((s.name.clone(), image.clone())),
                _ => None,
            })
            .collect();
        let started = now_ms();
        let lines = match engine::image_pins(client, &images).await {
            Ok((pins, lines)) => match self.ledger.record_pins(pins).await {
                Ok(()) => lines,
                Err(e) => vec![format!(
                    "warning: the pinned images could not be recorded: {e}"
                )],
            },
            Err(e) => vec![format!("warning: the images could not be pinned: {e}")],
        };
        let _ = self.record("pin images", started, None, lines).await;
    }
}

/// The pause after the `done`-th poll, `pause` the one before: `first` for the first
/// [`QUICK_POLLS`], then doubling up to [`POLL_MAX`].
fn next_pause(pause: Duration, done: u32, first: Duration) -> Duration {
    if done < QUICK_POLLS {
        first
    } else {
        (pause * 2).min(POLL_MAX)
    }
}

/// The services of `status` that are not ready: running (and healthy, which `running`
/// means for a service with a health check), or stopped when another service waits for
/// it to complete successfully.
fn not_ready(spec: &DeploymentSpec, status: &DeploymentStatus) -> Vec<String> {
    status
        .services
        .iter()
        .filter(|s| match s.state {
            ServiceState::Running => false,
            ServiceState::Stopped => !runs_to_completion(spec, &s.service),
            _ => true,
        })
        .map(|s| s.service.clone())
        .collect()
}

/// Whether another service of `spec` waits for `service` to complete successfully: then its
/// stopping with status 0 is what it is for, not a failure.
fn runs_to_completion(spec: &DeploymentSpec, service: &str) -> bool {
    spec.services.iter().any(|s| {
        s.depends_on.iter().any(|d| {
            d.service == service && d.condition == DependencyCondition::CompletedSuccessfully
        })
    })
}

/// Renews the lease every [`RENEW_EVERY`] until aborted; sets `cancel` when someone asked
/// the operation to stop and `lost` when the lease is no longer the driver's.
async fn keep_lease(ledger: Arc<dyn Ledger>, cancel: Arc<AtomicBool>, lost: Arc<AtomicBool>) {
    let mut every = tokio::time::interval(RENEW_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        match ledger.renew().await {
            Ok(cancelled) => {
                if cancelled {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            Err(LedgerError::Lost) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // The database or the server is away for a moment: try again at the next tick,
            // while the lease still runs.
            Err(LedgerError::Failed(e)) => warn!(error = %e, "could not renew a lease"),
        }
    }
}

/// What a failed runtime call says, for an operation's message.
pub fn runtime_message(e: &RuntimeCallError) -> String {
    match e {
        RuntimeCallError::Guest { error, .. } => error.to_string(),
        RuntimeCallError::Plugin(e) => e.to_string(),
    }
}

/// What a failed runtime call on the Docker engine `engine` (as failures name it) says: an
/// `unavailable` error there means the engine could not be reached, which is said with its
/// name.
fn engine_failure(engine: Option<&str>, e: &RuntimeCallError) -> String {
    match (engine, e) {
        (
            Some(engine),
            RuntimeCallError::Guest {
                error: GuestError::Unavailable(why),
                ..
            },
        ) => format!("the Docker engine of {engine} could not be reached: {why}"),
        _ => runtime_message(e),
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(error: GuestError) -> RuntimeCallError {
        RuntimeCallError::Guest {
            plugin: "komander.compose@0.1.0".into(),
            error,
        }
    }

    #[test]
    fn polls_are_quick_at_first_then_grow_to_a_second() {
        let first = Duration::from_millis(100);
        let mut pause = first;
        let mut pauses = Vec::new();
        for done in 1..=30 {
            pause = next_pause(pause, done, first);
            pauses.push(pause.as_millis());
        }
        assert!(
            pauses[..QUICK_POLLS as usize - 1].iter().all(|p| *p == 100),
            "{pauses:?}"
        );
        assert_eq!(
            pauses[QUICK_POLLS as usize - 1..QUICK_POLLS as usize + 4],
            [200, 400, 800, 1000, 1000]
        );
    }

    #[test]
    fn an_unreachable_engine_is_named() {
        let unreachable = guest(GuestError::Unavailable(
            "Docker cannot be reached: connection refused".into(),
        ));
        assert_eq!(
            engine_failure(Some("target \"edge\""), &unreachable),
            "the Docker engine of target \"edge\" could not be reached: \
             Docker cannot be reached: connection refused"
        );
        // Without an engine (a remote or Kubernetes runtime), and for other errors, the
        // runtime's own words.
        assert_eq!(
            engine_failure(None, &unreachable),
            runtime_message(&unreachable)
        );
        let refused = guest(GuestError::Conflict("port taken".into()));
        assert_eq!(
            engine_failure(Some("target \"edge\""), &refused),
            runtime_message(&refused)
        );
    }
}
