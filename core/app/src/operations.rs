//! Operations on deployments, held by a lease: starting one (one at a time per deployment),
//! renewing its lease, recording its steps, finishing or cancelling it, and reading its
//! history and progress lines.
//!
//! Through the API, operations start only in `local` environments: the CLI runs them on the
//! caller's machine and holds the lease with a random token (shown once, stored as its
//! SHA-256, which is the lease's holder id). A `server` environment's operations are started
//! by the server's own runner, which holds their leases under its instance id.

use komander_domain::{
    Action, DeploymentRef, Executor, OperationId,
    api::{
        AppliedSpec, Lease, NewOperation, Operation, OperationFinish, OperationKind,
        OperationState, Page, PageQuery, ProgressLine, ProgressQuery, StartedOperation,
        StepRecorded, StepTiming, StepWrite,
    },
    timestamps,
};
use komander_secrets::{ApiToken, token_hash};
use komander_store::{LEASE_TTL_MS, OperationRecord, StepRecord, StepTimingRecord};
use tracing::{info, instrument};

use crate::{App, AppError, Caller, Paging, Result, about_deployment, scope::DeploymentScope};

/// The largest continuation a step may record: the runtime's state between steps, not a
/// place for logs. Bounds what every step writes to the database.
pub const MAX_CONTINUATION_BYTES: usize = 64 * 1024;
/// The most progress lines one step may record.
pub const MAX_STEP_LINES: usize = 1000;
/// The longest progress line, finish message or step name, in bytes.
pub const MAX_LINE_BYTES: usize = 4096;
/// The longest step name, in characters.
pub const MAX_STEP_NAME_CHARS: usize = 100;
/// The default and the largest number of progress lines one read answers.
pub const PROGRESS_DEFAULT: u32 = 200;
/// The largest number of progress lines one read answers.
pub const PROGRESS_MAX: u32 = 1000;
/// What every lease token starts with, so a leaked one is recognizable.
const LEASE_TOKEN_PREFIX: &str = "kml_";

/// The holder id of a lease token: its SHA-256 in hex. The token itself is never stored.
fn holder_of(token: &str) -> String {
    token_hash(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn step_view(s: StepTimingRecord) -> StepTiming {
    StepTiming {
        name: s.name,
        started_at: timestamps::from_millis(s.started_at),
        finished_at: timestamps::from_millis(s.finished_at),
    }
}

/// An operation as the API shows it; with `steps` (one operation read), its spec too.
pub(crate) fn operation_view(
    op: OperationRecord,
    steps: Option<Vec<StepTimingRecord>>,
) -> Result<Operation> {
    let spec = match (&steps, &op.spec) {
        (Some(_), Some(spec)) => Some(
            serde_json::from_str::<AppliedSpec>(spec)
                .map_err(|e| AppError::internal(format!("the spec of operation {}", op.id), e))?,
        ),
        _ => None,
    };
    Ok(Operation {
        duration_ms: op
            .finished_at
            .map(|end| u64::try_from(end - op.started_at).unwrap_or(0)),
        target: op.target_name,
        rollback_of: op.rollback_of,
        spec,
        id: op.id,
        kind: op.kind,
        executor: op.executor,
        started_by: op
            .started_by_handle
            .ok_or_else(|| AppError::fault("an operation without its starter"))?,
        started_at: timestamps::from_millis(op.started_at),
        finished_at: op.finished_at.map(timestamps::from_millis),
        state: op.state,
        message: op.message,
        lease_expires_at: op.lease_expires_at.map(timestamps::from_millis),
        resumes: op.resumes,
        cancel_requested: op.cancel_requested,
        steps: steps.map(|s| s.into_iter().map(step_view).collect()),
    })
}

/// Checks a step's name, timing, continuation and lines against the limits above.
fn check_step(step: &StepWrite) -> Result<()> {
    let name = &step.step.name;
    if name.trim().is_empty() || name.chars().count() > MAX_STEP_NAME_CHARS {
        return Err(AppError::invalid(
            "step.name",
            format!(
                "a step's name must have 1 to {MAX_STEP_NAME_CHARS} characters, not only white space"
            ),
        ));
    }
    if step.step.finished_at < step.step.started_at {
        return Err(AppError::invalid(
            "step.finished_at",
            format!("step {name:?} finished before it started"),
        ));
    }
    if let Some(c) = &step.continuation
        && c.len() > MAX_CONTINUATION_BYTES
    {
        return Err(AppError::invalid(
            "continuation",
            format!(
                "the continuation has {} bytes; at most {MAX_CONTINUATION_BYTES} are kept",
                c.len()
            ),
        ));
    }
    if step.lines.len() > MAX_STEP_LINES {
        return Err(AppError::invalid(
            "lines",
            format!(
                "a step may record at most {MAX_STEP_LINES} lines, not {}",
                step.lines.len()
            ),
        ));
    }
    if let Some(n) = step.lines.iter().position(|l| l.len() > MAX_LINE_BYTES) {
        return Err(AppError::invalid(
            "lines",
            format!("line {n} is longer than {MAX_LINE_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl App {
    /// The deployment the caller may apply, when operation `id` is one of its own.
    async fn held_operation(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
    ) -> Result<DeploymentScope> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ApplyDeployment)
            .await?;
        self.store
            .operation(scope.deployment.id, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation {id}")))?;
        Ok(scope)
    }

    /// `POST .../deployments/{deployment}/operations`: starts an operation that the caller's
    /// CLI runs and holds with the lease token answered (once). Only in a `local`
    /// environment, to those who may apply the deployment; audited.
    ///
    /// # Errors
    /// Not found (also someone else's private deployment), forbidden; busy naming the running
    /// operation; conflict in a `server` environment, whose operations the server's own
    /// runner starts.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment, kind = new.kind.as_str()))]
    pub async fn start_operation(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        new: NewOperation,
    ) -> Result<StartedOperation> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ApplyDeployment)
            .await?;
        if scope.environment.executor != Executor::Local {
            return Err(AppError::Conflict {
                field: Some("executor".into()),
                message: format!(
                    "environment {:?} runs its deployments on the server: its operations are \
                     started by the server's own runner, not through this endpoint, which \
                     starts those of `local` environments",
                    scope.environment.name.as_str()
                ),
            });
        }
        let spec = self.local_operation_spec(caller, &scope, &new).await?;
        let token = ApiToken::generate(LEASE_TOKEN_PREFIX);
        let lease_token = token.token.expose().to_owned();
        let now = timestamps::to_millis(timestamps::now());
        let op = OperationRecord {
            id: OperationId::new(),
            deployment_id: scope.deployment.id,
            kind: new.kind,
            executor: Executor::Local,
            started_by: caller.user.id,
            started_by_handle: Some(caller.user.handle.clone()),
            started_at: now,
            finished_at: None,
            state: OperationState::Running,
            message: None,
            holder: Some(holder_of(&lease_token)),
            lease_expires_at: Some(now + LEASE_TTL_MS),
            continuation: None,
            resumes: 0,
            cancel_requested: false,
            lines: 0,
            spec,
            target_id: None,
            target_name: None,
            remove_volumes: new.remove_volumes,
            rollback_of: new.rollback_of,
        };
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "operation.start",
                scope.target(),
                &["kind"],
            ),
            &scope.deployment,
        );
        self.store
            .start_operation(&op, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))?;
        info!(operation = %op.id, "operation started");
        Ok(StartedOperation {
            operation: operation_view(op, None)?,
            lease_token,
        })
    }

    /// The spec a local operation records: for an apply, what the deployment holds now; for
    /// a rollback, the earlier apply's, written back to the deployment first. Checks that
    /// `remove_volumes` goes with a destroy and `rollback_of` with a rollback.
    ///
    /// # Errors
    /// Invalid input naming the field that does not fit the kind; as
    /// [`App::rollback_deployment`] for a rollback.
    async fn local_operation_spec(
        &self,
        caller: &Caller,
        scope: &DeploymentScope,
        new: &NewOperation,
    ) -> Result<Option<String>> {
        if new.remove_volumes && new.kind != OperationKind::Destroy {
            return Err(AppError::invalid(
                "remove_volumes",
                format!(
                    "only a destroy removes volumes, not a {}",
                    new.kind.as_str()
                ),
            ));
        }
        match (new.kind, new.rollback_of) {
            (OperationKind::Rollback, Some(id)) => {
                let spec = self.rollback_spec(scope, id).await?;
                self.write_back(caller, scope, id, &spec).await?;
            }
            (OperationKind::Rollback, None) => {
                return Err(AppError::invalid(
                    "rollback_of",
                    "a rollback names the earlier apply it brings back",
                ));
            }
            (kind, Some(_)) => {
                return Err(AppError::invalid(
                    "rollback_of",
                    format!(
                        "only a rollback brings an earlier apply back, not a {}",
                        kind.as_str()
                    ),
                ));
            }
            (_, None) => {}
        }
        if !matches!(new.kind, OperationKind::Apply | OperationKind::Rollback) {
            return Ok(None);
        }
        let contents = self
            .store
            .deployment_with_services(scope.deployment.id)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("deployment {:?}", scope.deployment.name.as_str()))
            })?;
        let applied = crate::runner::applied_spec(&contents)?;
        serde_json::to_string(&applied)
            .map(Some)
            .map_err(|e| AppError::internal("writing an operation's spec", e))
    }

    /// `GET .../deployments/{deployment}/operations`: the deployment's operations, newest
    /// first.
    ///
    /// # Errors
    /// Not found (also someone else's private deployment); invalid paging.
    pub async fn list_operations(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        query: &PageQuery,
    ) -> Result<Page<Operation>> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self
            .store
            .list_operations(scope.deployment.id, &page)
            .await?;
        paging.page(rows, |o| o.id.to_string(), |o| operation_view(o, None))
    }

    /// `GET .../operations/{operation}`: one operation with its steps' timings.
    ///
    /// # Errors
    /// Not found (also someone else's private deployment).
    pub async fn get_operation(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
    ) -> Result<Operation> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let op = self
            .store
            .operation(scope.deployment.id, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation {id}")))?;
        let steps = self.store.operation_steps(id).await?;
        operation_view(op, Some(steps))
    }

    /// `POST .../operations/{operation}/lease`: extends the lease by its time-to-live, for
    /// the holder of `token`; says whether a cancel was requested.
    ///
    /// # Errors
    /// Not found, forbidden; conflict when the operation ended or the lease is not `token`'s
    /// (wrong token, expired, taken over).
    pub async fn renew_lease(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
        token: &str,
    ) -> Result<Lease> {
        self.held_operation(caller, deployment, id).await?;
        let now = timestamps::to_millis(timestamps::now());
        let lease = self
            .store
            .renew_lease(id, &holder_of(token), now)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))?;
        Ok(Lease {
            expires_at: timestamps::from_millis(lease.expires_at),
            cancel_requested: lease.cancel_requested,
        })
    }

    /// `POST .../operations/{operation}/steps`: records one step (timing, continuation,
    /// progress lines) for the holder of `token`, in one transaction.
    ///
    /// # Errors
    /// As [`App::renew_lease`]; invalid input naming the limit a step breaks.
    pub async fn record_step(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
        token: &str,
        step: StepWrite,
    ) -> Result<StepRecorded> {
        check_step(&step)?;
        self.held_operation(caller, deployment, id).await?;
        let now = timestamps::to_millis(timestamps::now());
        let record = StepRecord {
            name: step.step.name,
            started_at: timestamps::to_millis(step.step.started_at),
            finished_at: timestamps::to_millis(step.step.finished_at),
            continuation: step.continuation,
            lines: step.lines,
        };
        let lease = self
            .store
            .record_step(id, &holder_of(token), now, &record)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))?;
        self.operation_changed(id);
        Ok(StepRecorded {
            last_sequence: lease.last_sequence,
            cancel_requested: lease.cancel_requested,
        })
    }

    /// `POST .../operations/{operation}/finish`: ends the operation as its holder says and
    /// releases the lease; audited.
    ///
    /// # Errors
    /// As [`App::renew_lease`]; invalid input for a message that is too long.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment, operation = %id))]
    pub async fn finish_operation(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
        token: &str,
        finish: OperationFinish,
    ) -> Result<Operation> {
        if finish
            .message
            .as_ref()
            .is_some_and(|m| m.len() > MAX_LINE_BYTES)
        {
            return Err(AppError::invalid(
                "message",
                format!("the message is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        let scope = self.held_operation(caller, deployment, id).await?;
        let holder = holder_of(token);
        if !finish.pinned.is_empty() {
            self.record_local_pins(&scope, id, &holder, &finish.pinned)
                .await?;
        }
        let state = OperationState::from(finish.outcome);
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "operation.finish",
                scope.target(),
                &["state"],
            ),
            &scope.deployment,
        );
        let now = timestamps::to_millis(timestamps::now());
        self.store
            .finish_operation(id, &holder, now, state, finish.message.as_deref(), &audit)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))?;
        self.operation_changed(id);
        info!(state = state.as_str(), "operation finished");
        self.get_operation(caller, deployment, id).await
    }

    /// Records the images a local apply pinned with its operation's spec, for its holder.
    ///
    /// # Errors
    /// Invalid input on `pinned` naming a service the operation did not apply or a pin that
    /// is not an image id or a reference by digest; conflict when the lease is not `holder`'s.
    async fn record_local_pins(
        &self,
        scope: &DeploymentScope,
        id: OperationId,
        holder: &str,
        pinned: &std::collections::BTreeMap<komander_domain::names::ServiceName, String>,
    ) -> Result<()> {
        let op = self
            .store
            .operation(scope.deployment.id, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation {id}")))?;
        let spec = op.spec.ok_or_else(|| {
            AppError::invalid(
                "pinned",
                format!("a {} records no images", op.kind.as_str()),
            )
        })?;
        let pins = pinned
            .iter()
            .map(|(service, image)| (service.to_string(), image.clone()))
            .collect();
        let spec = crate::runner::pinned_spec(&spec, &pins)
            .map_err(|message| AppError::invalid("pinned", message))?;
        let now = timestamps::to_millis(timestamps::now());
        self.store
            .set_operation_spec(id, holder, now, &spec)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))
    }

    /// `POST .../operations/{operation}/cancel`: asks the running operation to stop; its
    /// holder sees it when it renews the lease or records a step. Audited.
    ///
    /// # Errors
    /// Not found, forbidden; conflict when it has ended.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment, operation = %id))]
    pub async fn cancel_operation(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
    ) -> Result<Operation> {
        let scope = self.held_operation(caller, deployment, id).await?;
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "operation.cancel",
                scope.target(),
                &["cancel_requested"],
            ),
            &scope.deployment,
        );
        self.store
            .request_cancel(id, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "operation"))?;
        self.operation_changed(id);
        info!("operation cancel requested");
        self.get_operation(caller, deployment, id).await
    }

    /// `GET .../operations/{operation}/progress?after=N`: the progress lines after sequence
    /// number `N`, in order; a reader that passes the last sequence it saw loses and doubles
    /// no line.
    ///
    /// # Errors
    /// Not found (also someone else's private deployment); invalid limit.
    pub async fn operation_progress(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
        query: &ProgressQuery,
    ) -> Result<Vec<ProgressLine>> {
        let limit = query.limit.unwrap_or(PROGRESS_DEFAULT);
        if !(1..=PROGRESS_MAX).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("limit must be between 1 and {PROGRESS_MAX}"),
            ));
        }
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        self.store
            .operation(scope.deployment.id, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation {id}")))?;
        let lines = self
            .store
            .progress(id, query.after.unwrap_or(0), limit)
            .await?;
        Ok(lines
            .into_iter()
            .map(|l| ProgressLine {
                sequence: l.sequence,
                text: l.text,
                at: timestamps::from_millis(l.at),
            })
            .collect())
    }
}
