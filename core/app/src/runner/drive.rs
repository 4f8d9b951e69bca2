//! Driving one server operation to its end, in the background: the lease renewed every
//! [`RENEW_EVERY`], each runtime call recorded as a step (its timing, its progress lines and
//! the continuation after it) before the next, the health wait after an apply, and the
//! outcome. A server that dies mid-way leaves the last continuation behind; whoever takes the
//! operation over ([`super::reaper`]) drives it on from there.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use base64::Engine as _;
use komander_domain::api::{AppliedSpec, OperationKind, OperationState};
use komander_plugin_host::{
    capabilities::ProgressSink,
    runtime::{DeploymentStatus, GuestError, RuntimeCallError, ServiceState, StepResult},
};
use komander_store::{OperationRecord, StepRecord, StoreError};
use tracing::{info, instrument, warn};

use super::engine;
use super::session::{RuntimeSession, drain_progress, now_ms};
use crate::{App, Caller};

/// How often the holder renews its lease (a third of its time-to-live).
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often the health wait reads the status.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How many times a step that failed for a passing reason (`unavailable`, `timeout`,
/// `rate-limited`) is tried again with the same continuation.
const STEP_RETRIES: u32 = 3;
/// The log lines a failed health wait quotes of the service at fault.
const FAILED_LOG_LINES: u32 = 20;

/// How long the host waits before calling a step again that handed back a continuation: a
/// runtime that waits (for a dependency to become healthy) costs no guest time meanwhile.
const STEP_PAUSE: Duration = Duration::from_secs(1);

/// Which runtime function an operation's steps call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepKind {
    Apply,
    Destroy { remove_volumes: bool },
    Stop,
    Start,
}

impl StepKind {
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

/// How an operation ended, for its record.
#[derive(Debug)]
enum Outcome {
    Done,
    Failed(String),
    Cancelled,
    /// The lease passed to another holder: it finishes the operation, not us.
    LeaseLost,
}

/// One operation being driven by this server.
pub(crate) struct Drive {
    pub app: App,
    pub op: OperationRecord,
    pub session: RuntimeSession,
    /// Whose name the outcome's audit entry carries: the starter, or the system for a resumed
    /// operation.
    pub actor: Caller,
    /// The audit target (`environment/deployment`) and who may read the entry.
    pub audit: (String, Option<komander_domain::UserId>),
}

impl Drive {
    /// Drives the operation to its end and records the outcome; logs what it cannot record.
    #[instrument(skip_all, fields(operation = %self.op.id, kind = self.op.kind.as_str()))]
    pub async fn run(self) {
        let holder = self.app.runner.holder.clone();
        let cancel = Arc::new(AtomicBool::new(self.op.cancel_requested));
        let lost = Arc::new(AtomicBool::new(false));
        let keeper = tokio::spawn(keep_lease(
            self.app.clone(),
            self.op.id,
            holder.clone(),
            cancel.clone(),
            lost.clone(),
        ));
        let outcome = self.steps(&cancel, &lost).await;
        keeper.abort();
        self.app.runner.forget(self.op.id);
        let (state, message) = match outcome {
            Outcome::LeaseLost => {
                warn!("the lease passed to another holder; it finishes the operation");
                return;
            }
            Outcome::Done => (OperationState::Done, None),
            Outcome::Failed(message) => (OperationState::Failed, Some(message)),
            Outcome::Cancelled => (OperationState::Cancelled, Some("cancelled".to_owned())),
        };
        let (target, private_to) = self.audit.clone();
        let mut audit = self.app.audit(
            &self.actor,
            Some(self.op_project()),
            "operation.finish",
            target,
            &["state"],
        );
        audit.private_to = private_to;
        let message = message.map(|m| truncate(&m, crate::operations::MAX_LINE_BYTES));
        match self
            .app
            .store
            .finish_operation(
                self.op.id,
                &holder,
                now_ms(),
                state,
                message.as_deref(),
                &audit,
            )
            .await
        {
            Ok(()) => {
                self.app.operation_changed(self.op.id);
                info!(state = state.as_str(), "operation finished");
            }
            Err(e) => warn!(error = %e, "could not record the operation's end"),
        }
    }

    fn op_project(&self) -> komander_domain::ProjectId {
        self.session
            .spec
            .project_id
            .parse()
            .expect("the spec's project id came from a record")
    }

    async fn steps(&self, cancel: &AtomicBool, lost: &AtomicBool) -> Outcome {
        let resume = self
            .op
            .continuation
            .as_deref()
            .map(|c| base64::engine::general_purpose::STANDARD.decode(c));
        let resume = match resume {
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(_)) => return Outcome::Failed("the stored continuation is not base64".into()),
            None => None,
        };
        let kind = match self.op.kind {
            OperationKind::Apply | OperationKind::Rollback => StepKind::Apply,
            OperationKind::Destroy => StepKind::Destroy {
                remove_volumes: self.op.remove_volumes,
            },
            OperationKind::Stop => StepKind::Stop,
            OperationKind::Start => StepKind::Start,
        };
        if resume.is_none()
            && kind == StepKind::Apply
            && let Err(outcome) = self.plan_steps().await
        {
            return outcome;
        }
        let mut continuation = resume;
        let mut number = 1;
        loop {
            if lost.load(Ordering::Relaxed) {
                return Outcome::LeaseLost;
            }
            if cancel.load(Ordering::Relaxed) {
                return Outcome::Cancelled;
            }
            let name = format!("{} #{number}", kind.name());
            let started = now_ms();
            let sink = ProgressSink::default();
            let result = self.step(kind, continuation.clone(), &sink, &name).await;
            let step = match result {
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
            match self.record(&name, started, stored, lines).await {
                Ok(cancelled) => {
                    if cancelled {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
                Err(outcome) => return outcome,
            }
            if done {
                break;
            }
            continuation = next;
            number += 1;
            tokio::time::sleep(STEP_PAUSE).await;
        }
        if kind.runs_services()
            && let Err(outcome) = self.health_wait(cancel, lost).await
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
        let mut lines: Vec<String> = plan.changes.iter().map(super::change_line).collect();
        if lines.is_empty() {
            lines.push("nothing to change".to_owned());
        }
        self.record("plan", started, None, lines).await?;
        Ok(())
    }

    /// One call of a runtime function with this operation's spec, under a fresh context.
    async fn call<T>(
        &self,
        run: impl for<'a> FnOnce(
            &'a komander_plugin_host::PluginEngine,
            &'a komander_plugin_host::LoadedPlugin,
            komander_plugin_host::capabilities::CallContext,
            komander_plugin_host::runtime::DeploymentSpec,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, RuntimeCallError>> + Send + 'a>,
        >,
    ) -> Result<T, String> {
        let context = self
            .session
            .context(&self.app, None)
            .await
            .map_err(|e| e.to_string())?;
        let plugins = self.app.plugins().map_err(|e| e.to_string())?;
        run(
            plugins.engine(),
            self.session.plugin(),
            context,
            self.session.spec.clone(),
        )
        .await
        .map_err(|e| self.failure(&e))
    }

    /// What a failed runtime call says, for the operation's message: an engine that cannot
    /// be reached (stopped, or restarting) is said to be the target's.
    fn failure(&self, e: &RuntimeCallError) -> String {
        engine_failure(
            self.session.target.as_ref().map(|t| t.record.name.as_str()),
            e,
        )
    }

    /// One step, tried again with the same continuation after a passing failure.
    async fn step(
        &self,
        kind: StepKind,
        continuation: Option<Vec<u8>>,
        sink: &ProgressSink,
        name: &str,
    ) -> Result<StepResult, String> {
        let plugins = self.app.plugins().map_err(|e| e.to_string())?;
        let mut attempt = 0;
        loop {
            let context = self
                .session
                .context(&self.app, Some(sink.clone()))
                .await
                .map_err(|e| format!("step `{name}`: {e}"))?;
            let engine = plugins.engine();
            let plugin = self.session.plugin();
            let spec = self.session.spec.clone();
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
                        .push(komander_plugin_host::capabilities::ProgressEvent::Message(
                            format!(
                                "{}; trying again in {} ms",
                                runtime_message(&e),
                                wait.as_millis()
                            ),
                        ));
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(format!("step `{name}` failed: {}", self.failure(&e))),
            }
        }
    }

    /// Records a step for this server's lease; answers whether a cancel was requested.
    async fn record(
        &self,
        name: &str,
        started_at: i64,
        continuation: Option<String>,
        lines: Vec<String>,
    ) -> Result<bool, Outcome> {
        let lines = lines
            .into_iter()
            .take(crate::operations::MAX_STEP_LINES)
            .map(|l| truncate(&l, crate::operations::MAX_LINE_BYTES))
            .collect();
        let step = StepRecord {
            name: name.to_owned(),
            started_at,
            finished_at: now_ms().max(started_at),
            continuation,
            lines,
        };
        match self
            .app
            .store
            .record_step(self.op.id, &self.app.runner.holder, now_ms(), &step)
            .await
        {
            Ok(lease) => {
                self.app.operation_changed(self.op.id);
                Ok(lease.cancel_requested)
            }
            Err(StoreError::Conflict { .. }) => Err(Outcome::LeaseLost),
            Err(e) => Err(Outcome::Failed(format!(
                "could not record step `{name}`: {e}"
            ))),
        }
    }

    /// Reads the status every [`STATUS_EVERY`] until every service is ready, one failed or
    /// became unhealthy, or the health timeout passes; a failure names the service and quotes
    /// its last log lines.
    async fn health_wait(&self, cancel: &AtomicBool, lost: &AtomicBool) -> Result<(), Outcome> {
        let started = now_ms();
        let deadline = tokio::time::Instant::now() + self.app.runner.settings.health_timeout;
        loop {
            if lost.load(Ordering::Relaxed) {
                return Err(Outcome::LeaseLost);
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(Outcome::Cancelled);
            }
            let status = self
                .call(|engine, plugin, context, spec| {
                    Box::pin(async move { engine.status(plugin, context, spec).await })
                })
                .await
                .map_err(|m| Outcome::Failed(format!("status: {m}")))?;
            let waiting = self.not_ready(&status);
            if waiting.is_empty() {
                let lines = status.services.iter().map(super::status_line).collect();
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
                let lines = status.services.iter().map(super::status_line).collect();
                self.record("health", started, None, lines).await?;
                let why = if failed.is_some() {
                    "failed".to_owned()
                } else {
                    format!(
                        "is not ready after {} s",
                        self.app.runner.settings.health_timeout.as_secs()
                    )
                };
                let log = self.last_log_lines(&culprit.service).await;
                return Err(Outcome::Failed(format!(
                    "service {:?} {why} ({}{}){log}",
                    culprit.service,
                    super::run_state(culprit.state).as_str(),
                    if culprit.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", culprit.message)
                    }
                )));
            }
            tokio::time::sleep(STATUS_EVERY).await;
        }
    }

    /// The services of `status` that are not ready: running (and healthy, which `running`
    /// means for a service with a health check), or stopped when another service waits for
    /// it to complete successfully.
    fn not_ready(&self, status: &DeploymentStatus) -> Vec<String> {
        let applied: AppliedSpec = self
            .op
            .spec
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        status
            .services
            .iter()
            .filter(|s| match s.state {
                ServiceState::Running => false,
                ServiceState::Stopped => !super::runs_to_completion(&applied, &s.service),
                _ => true,
            })
            .map(|s| s.service.clone())
            .collect()
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

    /// Pins the images the apply ran (see [`pin`]) and records them with the operation.
    async fn pin_images(&self) {
        let Some(target) = &self.session.target else {
            return;
        };
        let Some(spec) = self.op.spec.as_deref() else {
            return;
        };
        let started = now_ms();
        match engine::pin_spec(target.connection.client(), spec).await {
            Ok((pinned, lines)) => {
                if let Err(e) = self
                    .app
                    .store
                    .set_operation_spec(self.op.id, &self.app.runner.holder, now_ms(), &pinned)
                    .await
                {
                    warn!(error = %e, "could not record the pinned images");
                }
                let _ = self.record("pin images", started, None, lines).await;
            }
            Err(e) => {
                let line = format!("warning: the images could not be pinned: {e}");
                let _ = self.record("pin images", started, None, vec![line]).await;
            }
        }
    }
}

/// Renews the lease every [`RENEW_EVERY`] until aborted; sets `cancel` when someone asked
/// the operation to stop and `lost` when the lease is no longer ours.
async fn keep_lease(
    app: App,
    id: komander_domain::OperationId,
    holder: Arc<str>,
    cancel: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let mut every = tokio::time::interval(RENEW_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        match app.store.renew_lease(id, &holder, now_ms()).await {
            Ok(lease) => {
                if lease.cancel_requested {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // The database is away for a moment: try again at the next tick, while the
            // lease still runs.
            Err(e) => warn!(error = %e, "could not renew an operation's lease"),
        }
    }
}

/// What a failed runtime call says, for an operation's message.
pub(crate) fn runtime_message(e: &RuntimeCallError) -> String {
    match e {
        RuntimeCallError::Guest { error, .. } => error.to_string(),
        RuntimeCallError::Plugin(e) => e.to_string(),
    }
}

/// What a failed runtime call on the Docker engine of target `target` says: an `unavailable`
/// error there means the engine could not be reached, which is said with the target's name.
fn engine_failure(target: Option<&str>, e: &RuntimeCallError) -> String {
    match (target, e) {
        (
            Some(target),
            RuntimeCallError::Guest {
                error: GuestError::Unavailable(why),
                ..
            },
        ) => format!("the Docker engine of target {target:?} could not be reached: {why}"),
        _ => runtime_message(e),
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> String {
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
    fn an_unreachable_engine_is_said_to_be_the_targets() {
        let unreachable = guest(GuestError::Unavailable(
            "Docker cannot be reached: connection refused".into(),
        ));
        assert_eq!(
            engine_failure(Some("edge"), &unreachable),
            "the Docker engine of target \"edge\" could not be reached: \
             Docker cannot be reached: connection refused"
        );
        // Without a target (a remote or Kubernetes runtime), and for other errors, the
        // runtime's own words.
        assert_eq!(
            engine_failure(None, &unreachable),
            runtime_message(&unreachable)
        );
        let refused = guest(GuestError::Conflict("port taken".into()));
        assert_eq!(
            engine_failure(Some("edge"), &refused),
            runtime_message(&refused)
        );
    }
}
