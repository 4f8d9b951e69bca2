//! The server's runner: the operations of `server` environments (apply, destroy), started
//! here, driven in the background by [`drive`] under a lease this server holds, and resumed
//! by [`reaper`] on any server after their holder died; and the reads that ask the runtime
//! (plan, status, logs).
//!
//! What a request can refuse, it refuses before anything is created: the runtime plugin and
//! the target must be there, every secret variable must have a value, the services must fit
//! the target's maximums and no host port may be published by another container on the
//! target, and the runtime's `validate` must accept the spec. Only then is the operation
//! stored (one per deployment, by the store's lease) and answered `202`.

mod drive;
pub mod driver;
mod engine;
pub mod log_feed;
pub mod reading;
mod reaper;
mod rollback;
pub(crate) mod session;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use komander_domain::{
    Action, DeploymentRef, Executor, OperationId, ServiceRef,
    api::{
        AppliedService, AppliedSpec, AppliedVariable, ChangeAction, DeploymentPlan,
        DeploymentRunStatus, DestroyRequest, LogQuery, Operation, OperationKind, OperationState,
        PlannedChange, ServiceHealth, ServiceLogLine, ServiceLogPage, ServiceRunState,
        ServiceRunStatus,
    },
    timestamps,
};
use komander_plugin_host::runtime::{self as wit, LogSource, ServiceState, ServiceStatus};
use komander_store::{
    DeploymentWithServices, LEASE_TTL_MS, OperationRecord, StepRecord, StoredValue,
};
use tracing::{info, instrument, warn};

use self::{
    drive::Drive,
    driver::runtime_message,
    session::{RuntimeSession, Secrets, now_ms},
};
use crate::{
    App, AppError, Caller, Result, about_deployment,
    operations::operation_view,
    scope::DeploymentScope,
    services::{service_ports, service_settings, service_volumes},
};

pub(crate) use engine::pinned_spec;
pub use reaper::REAP_EVERY;

/// The default of `apply_health_timeout`: how long an apply waits for its services to run
/// (and pass their health checks).
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(120);
/// The default and the largest number of log lines one page answers.
const LOG_LINES_DEFAULT: u32 = 100;
const LOG_LINES_MAX: u32 = 1000;

/// How the runner works, from the server's settings.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// How long an apply waits for every service to be running and healthy.
    pub health_timeout: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
        }
    }
}

/// This server's runner: the holder id its leases carry and the operations it drives now.
pub(crate) struct Runner {
    /// The lease holder id of this server: kept in its data directory, so that after a
    /// restart it reclaims its own operations at once.
    pub holder: Arc<str>,
    pub settings: RunnerSettings,
    /// The operations a task of this process drives: the reaper leaves them alone.
    driving: Mutex<HashSet<OperationId>>,
    /// The runtime readings kept for deployments' pages.
    readings: reading::Readings,
}

impl Runner {
    /// A runner holding leases as `holder`.
    pub fn new(holder: &str, settings: RunnerSettings) -> Runner {
        Runner {
            holder: holder.into(),
            settings,
            driving: Mutex::default(),
            readings: reading::Readings::default(),
        }
    }

    /// Marks `id` as driven here; false when it already is.
    fn begin(&self, id: OperationId) -> bool {
        self.driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id)
    }

    /// Marks `id` as no longer driven here.
    fn forget(&self, id: OperationId) {
        self.driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }
}

/// What a stored deployment holds, as an operation records it: no secret value.
///
/// # Errors
/// Internal when a stored service's ports, volumes or settings no longer parse.
pub(crate) fn applied_spec(contents: &DeploymentWithServices) -> Result<AppliedSpec> {
    let services = contents
        .services
        .iter()
        .map(|s| {
            Ok(AppliedService {
                id: s.service.id,
                name: s.service.name.clone(),
                image: s.service.image.clone(),
                pinned: None,
                ports: service_ports(&s.service)?,
                volumes: service_volumes(&s.service)?,
                settings: service_settings(&s.service)?,
                variables: s
                    .variables
                    .iter()
                    .map(|v| AppliedVariable {
                        name: v.name.clone(),
                        secret: v.secret,
                        value: match &v.value {
                            StoredValue::Plain(value) if !v.secret => Some(value.clone()),
                            _ => None,
                        },
                    })
                    .collect(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(AppliedSpec { services })
}

/// Refuses a deployment whose environment runs its operations on its members' machines.
fn require_server(scope: &DeploymentScope) -> Result<()> {
    if scope.environment.executor == Executor::Server {
        return Ok(());
    }
    Err(AppError::Conflict {
        field: Some("executor".into()),
        message: format!(
            "environment {:?} runs its deployments on its members' machines (executor \
             `local`): run `komander up` there",
            scope.environment.name.as_str()
        ),
    })
}

/// A plan's change as the API shows it.
pub fn planned(change: &wit::Change) -> PlannedChange {
    PlannedChange {
        action: match change.action {
            wit::ChangeAction::Create => ChangeAction::Create,
            wit::ChangeAction::Update => ChangeAction::Update,
            wit::ChangeAction::Delete => ChangeAction::Delete,
        },
        kind: change.kind.clone(),
        name: change.name.clone(),
        reason: change.reason.clone(),
    }
}

/// A service's status as the API shows it; the name it answered when that is no service
/// name.
///
/// # Errors
/// The service's name as the runtime answered it, when it is not a service name.
pub fn service_status(s: ServiceStatus) -> std::result::Result<ServiceRunStatus, String> {
    Ok(ServiceRunStatus {
        service: s.service.parse().map_err(|_| s.service.clone())?,
        state: run_state(s.state),
        message: s.message,
        health: match s.health {
            wit::ServiceHealth::None => ServiceHealth::None,
            wit::ServiceHealth::Starting => ServiceHealth::Starting,
            wit::ServiceHealth::Healthy => ServiceHealth::Healthy,
            wit::ServiceHealth::Unhealthy => ServiceHealth::Unhealthy,
        },
        restarts: s.restarts,
        since: s
            .since_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .map(timestamps::from_millis),
        replicas_running: s.replicas_running,
    })
}

/// A page of a service's log as the API shows it.
pub fn log_page(page: wit::LogPage) -> ServiceLogPage {
    ServiceLogPage {
        lines: page
            .entries
            .into_iter()
            .map(|e| ServiceLogLine {
                at: timestamps::from_millis(i64::try_from(e.timestamp_ms).unwrap_or(i64::MAX)),
                stream: match e.source {
                    LogSource::Stdout => "stdout",
                    LogSource::Stderr => "stderr",
                }
                .to_owned(),
                line: e.line,
            })
            .collect(),
        next_cursor: page.next,
    }
}

/// A plan's change as a progress line: `update container shop_api: image changed`.
fn change_line(change: &wit::Change) -> String {
    let c = planned(change);
    format!("{} {} {}: {}", c.action.as_str(), c.kind, c.name, c.reason)
}

/// A service's state as the API shows it.
fn run_state(state: ServiceState) -> ServiceRunState {
    match state {
        ServiceState::Missing => ServiceRunState::Missing,
        ServiceState::Starting => ServiceRunState::Starting,
        ServiceState::Running => ServiceRunState::Running,
        ServiceState::Unhealthy => ServiceRunState::Unhealthy,
        ServiceState::Stopped => ServiceRunState::Stopped,
        ServiceState::Failed => ServiceRunState::Failed,
    }
}

/// A service's status as a progress line: `api: running`.
fn status_line(status: &ServiceStatus) -> String {
    let state = run_state(status.state).as_str();
    if status.message.is_empty() {
        format!("{}: {state}", status.service)
    } else {
        format!("{}: {state} ({})", status.service, status.message)
    }
}

impl App {
    /// `POST .../deployments/{deployment}/apply`: starts applying the deployment on the
    /// server, in the background; answers the operation (`202`). See the module's doc for
    /// what is refused first.
    ///
    /// # Errors
    /// Not found, forbidden; conflict in a `local` environment or when the runtime or target
    /// is unavailable; `no_target`; busy naming the running operation; invalid input naming
    /// what the host or the runtime refuses.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn apply_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<Operation> {
        self.start_on_server(
            caller,
            deployment,
            OperationKind::Apply,
            false,
            None,
            Vec::new(),
        )
        .await
    }

    /// `POST .../deployments/{deployment}/stop`: starts stopping the deployment's services,
    /// keeping their containers, networks and volumes; answers the operation (`202`).
    ///
    /// # Errors
    /// As [`App::apply_deployment`].
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn stop_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<Operation> {
        self.start_on_server(
            caller,
            deployment,
            OperationKind::Stop,
            false,
            None,
            Vec::new(),
        )
        .await
    }

    /// `POST .../deployments/{deployment}/start`: starts again what a stop stopped, then waits
    /// for the services to run as an apply does; answers the operation (`202`).
    ///
    /// # Errors
    /// As [`App::apply_deployment`].
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn start_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<Operation> {
        self.start_on_server(
            caller,
            deployment,
            OperationKind::Start,
            false,
            None,
            Vec::new(),
        )
        .await
    }

    /// `POST .../deployments/{deployment}/destroy`: starts removing what the deployment runs,
    /// its named volumes too when asked; answers the operation (`202`).
    ///
    /// # Errors
    /// As [`App::apply_deployment`].
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn destroy_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        request: DestroyRequest,
    ) -> Result<Operation> {
        self.start_on_server(
            caller,
            deployment,
            OperationKind::Destroy,
            request.volumes,
            None,
            Vec::new(),
        )
        .await
    }

    /// Checks, stores and spawns a server operation: a rollback names the operation whose
    /// spec it brings back; `first_lines` become its first step's progress lines.
    async fn start_on_server(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        kind: OperationKind,
        remove_volumes: bool,
        rollback_of: Option<OperationId>,
        first_lines: Vec<String>,
    ) -> Result<Operation> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ApplyDeployment)
            .await?;
        require_server(&scope)?;
        let contents = self.deployment_contents(&scope).await?;
        let applied = applied_spec(&contents)?;
        let creates = matches!(kind, OperationKind::Apply | OperationKind::Rollback);
        let secrets = if creates {
            Secrets::Open
        } else {
            Secrets::Closed
        };
        let session = self.runtime_session(&scope, contents, secrets).await?;
        if creates {
            self.preflight(&session, &applied).await?;
            self.validate_spec(&session).await?;
        }
        let now = now_ms();
        let op = OperationRecord {
            id: OperationId::new(),
            deployment_id: scope.deployment.id,
            kind,
            executor: Executor::Server,
            started_by: caller.user.id,
            started_by_handle: Some(caller.user.handle.clone()),
            started_at: now,
            finished_at: None,
            state: OperationState::Running,
            message: None,
            holder: Some(self.runner.holder.to_string()),
            lease_expires_at: Some(now + LEASE_TTL_MS),
            continuation: None,
            resumes: 0,
            cancel_requested: false,
            lines: 0,
            spec: Some(
                serde_json::to_string(&applied)
                    .map_err(|e| AppError::internal("writing the spec of an operation", e))?,
            ),
            target_id: session.target_id(),
            target_name: None,
            remove_volumes,
            rollback_of,
        };
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                &format!("deployment.{}", kind.as_str()),
                scope.target(),
                &["kind"],
            ),
            &scope.deployment,
        );
        self.store
            .start_operation(&op, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))?;
        info!(operation = %op.id, kind = kind.as_str(), "server operation started");
        if !first_lines.is_empty() {
            let now = now_ms();
            let step = StepRecord {
                name: kind.as_str().to_owned(),
                started_at: now,
                finished_at: now,
                continuation: None,
                lines: first_lines,
            };
            // The drive goes on without them rather than leave a stored operation undriven.
            if let Err(e) = self
                .store
                .record_step(op.id, &self.runner.holder, now, &step)
                .await
            {
                warn!(error = %e, "could not record an operation's first lines");
            }
        }
        self.spawn_drive(op.clone(), session, caller.clone(), &scope);
        operation_view(op, None)
    }

    /// Drives `op` in a task of its own, unless this process drives it already.
    fn spawn_drive(
        &self,
        op: OperationRecord,
        session: RuntimeSession,
        actor: Caller,
        scope: &DeploymentScope,
    ) {
        if !self.runner.begin(op.id) {
            return;
        }
        let drive = Drive {
            app: self.clone(),
            audit: (
                scope.target(),
                (!scope.deployment.shared).then_some(scope.deployment.owner_id),
            ),
            op,
            session,
            actor,
        };
        tokio::spawn(drive.run());
    }

    /// The deployment's services and variables, read in one transaction.
    async fn deployment_contents(&self, scope: &DeploymentScope) -> Result<DeploymentWithServices> {
        self.store
            .deployment_with_services(scope.deployment.id)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("deployment {:?}", scope.deployment.name.as_str()))
            })
    }

    /// What the host refuses before the runtime is asked: services above the target's
    /// maximums, and host ports that a container outside the deployment publishes on the
    /// target.
    async fn preflight(&self, session: &RuntimeSession, applied: &AppliedSpec) -> Result<()> {
        let Some(target) = &session.target else {
            return Ok(());
        };
        engine::check_maximums(&target.record, applied)?;
        engine::check_host_ports(
            target.connection.client(),
            &target.record,
            &session.spec.deployment_id,
            applied,
        )
        .await
    }

    /// The runtime's `validate`; its refusal is the caller's to fix.
    async fn validate_spec(&self, session: &RuntimeSession) -> Result<Vec<String>> {
        let context = session.context(self, None).await?;
        self.plugins()?
            .engine()
            .validate(session.plugin(), context, session.spec.clone())
            .await
            .map_err(|e| crate::runtimes::runtime_error(&session.runtime, e))
    }

    /// `GET .../deployments/{deployment}/plan`: the runtime's warnings and the changes an
    /// apply would make now, each with its reason. Changes nothing.
    ///
    /// # Errors
    /// Not found; conflict when the runtime or target is unavailable; `no_target`; invalid
    /// input naming what the runtime refuses.
    pub async fn plan_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<DeploymentPlan> {
        let session = self.read_session(caller, deployment).await?;
        let warnings = self.validate_spec(&session).await?;
        let changes = self.runtime_plan(&session).await?;
        Ok(DeploymentPlan { warnings, changes })
    }

    /// `GET .../deployments/{deployment}/status`: each service as it runs now, with the drift
    /// from the spec (what an apply would change).
    ///
    /// # Errors
    /// As [`App::plan_deployment`].
    pub async fn deployment_status(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<DeploymentRunStatus> {
        let session = self.read_session(caller, deployment).await?;
        let services = self.runtime_services(&session).await?;
        let drift = self.runtime_plan(&session).await?;
        Ok(DeploymentRunStatus { services, drift })
    }

    /// The runtime's `status` of each service, as the API shows it.
    async fn runtime_services(&self, session: &RuntimeSession) -> Result<Vec<ServiceRunStatus>> {
        let context = session.context(self, None).await?;
        let status = self
            .plugins()?
            .engine()
            .status(session.plugin(), context, session.spec.clone())
            .await
            .map_err(|e| crate::runtimes::runtime_error(&session.runtime, e))?;
        status
            .services
            .into_iter()
            .map(|s| {
                service_status(s).map_err(|bad| {
                    AppError::fault(format!(
                        "the runtime plugin {:?} answered a status for {bad:?}, which is no \
                         service name",
                        session.runtime
                    ))
                })
            })
            .collect()
    }

    /// `GET .../services/{service}/logs`: a page of the service's log, secret values
    /// redacted.
    ///
    /// # Errors
    /// As [`App::plan_deployment`]; invalid input for a limit out of range or a cursor the
    /// runtime does not read; not found when nothing runs for the service.
    pub async fn service_logs(
        &self,
        caller: &Caller,
        service: &ServiceRef,
        query: &LogQuery,
    ) -> Result<ServiceLogPage> {
        let limit = query.limit.unwrap_or(LOG_LINES_DEFAULT);
        if !(1..=LOG_LINES_MAX).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("limit must be between 1 and {LOG_LINES_MAX}"),
            ));
        }
        if query.cursor.as_ref().is_some_and(|c| c.len() > 4096) {
            return Err(AppError::invalid(
                "cursor",
                "the cursor is not one this server gave",
            ));
        }
        let scope = self
            .service_scope(caller, service, Action::ViewDeployment)
            .await?;
        let contents = self.deployment_contents(&scope.deployment).await?;
        let session = self
            .runtime_session(&scope.deployment, contents, Secrets::Closed)
            .await?;
        self.read_log(&session, service, query).await
    }

    /// A page of `service`'s log through `session`'s runtime.
    async fn read_log(
        &self,
        session: &RuntimeSession,
        service: &ServiceRef,
        query: &LogQuery,
    ) -> Result<ServiceLogPage> {
        let context = session.context(self, None).await?;
        let page = self
            .plugins()?
            .engine()
            .logs(
                session.plugin(),
                context,
                session.spec.clone(),
                service.name.to_string(),
                query.cursor.clone(),
                query.limit.unwrap_or(LOG_LINES_DEFAULT),
            )
            .await
            .map_err(|e| match e {
                wit::RuntimeCallError::Guest {
                    error: wit::GuestError::NotFound(message),
                    ..
                } => AppError::NotFound(message),
                other => crate::runtimes::runtime_error(&session.runtime, other),
            })?;
        Ok(log_page(page))
    }

    /// The session of a read by someone who may see the deployment: no secret value.
    async fn read_session(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<RuntimeSession> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let contents = self.deployment_contents(&scope).await?;
        self.runtime_session(&scope, contents, Secrets::Closed)
            .await
    }

    /// The runtime's `plan`, as the API shows it.
    async fn runtime_plan(&self, session: &RuntimeSession) -> Result<Vec<PlannedChange>> {
        let context = session.context(self, None).await?;
        let plan = self
            .plugins()?
            .engine()
            .plan(session.plugin(), context, session.spec.clone())
            .await
            .map_err(|e| AppError::Conflict {
                field: Some("runtime".into()),
                message: format!(
                    "the runtime plugin {:?} could not plan: {}",
                    session.runtime,
                    runtime_message(&e)
                ),
            })?;
        Ok(plan.changes.iter().map(planned).collect())
    }
}
