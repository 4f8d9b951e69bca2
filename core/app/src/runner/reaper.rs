//! The reaper, on every server: every [`REAP_EVERY`] it takes over running operations whose
//! lease expired (their holder died, or a CLI stopped renewing) and, at start, reclaims those
//! this server held before it stopped. A server operation is driven on from its last
//! continuation; one that was resumed [`MAX_RESUMES`] times already, or whose deployment,
//! runtime or target is gone, is failed, naming its last step. An operation a CLI held is
//! failed: only that CLI could go on with it, and the next `komander up` converges.

use std::time::Duration;

use komander_domain::{
    Executor,
    api::{AppliedSpec, OperationKind, OperationState},
};
use komander_store::OperationRecord;
use tracing::{info, warn};

use super::{
    applied_spec,
    session::{Secrets, now_ms},
};
use crate::{App, AppError, Result, about_deployment};

/// How often the reaper looks for expired leases.
pub const REAP_EVERY: Duration = Duration::from_secs(5);
/// How many times an operation is resumed before it is failed.
const MAX_RESUMES: u32 = 3;
/// How many expired operations one round takes over.
const TAKE_PER_ROUND: u32 = 16;

impl App {
    /// Runs the reaper until the task is dropped: reclaims this server's own operations at
    /// once, then takes over expired leases every [`REAP_EVERY`].
    pub async fn run_reaper(self) {
        match self
            .store
            .reclaim_operations(&self.runner.holder, now_ms())
            .await
        {
            Ok(ops) => {
                for op in ops {
                    self.resume(op).await;
                }
            }
            Err(e) => warn!(error = %e, "could not reclaim this server's operations"),
        }
        let mut every = tokio::time::interval(REAP_EVERY);
        loop {
            every.tick().await;
            match self
                .store
                .take_over_expired(now_ms(), &self.runner.holder, TAKE_PER_ROUND)
                .await
            {
                Ok(ops) => {
                    for op in ops {
                        self.resume(op).await;
                    }
                }
                Err(e) => warn!(error = %e, "could not look for expired operations"),
            }
        }
    }

    /// Drives `op`, now held by this server, on from its continuation, or fails it.
    async fn resume(&self, op: OperationRecord) {
        if op.executor == Executor::Local {
            let why = "the CLI that ran this operation stopped renewing its lease; the next \
                       apply converges";
            self.fail_taken(&op, why).await;
            return;
        }
        if op.resumes > MAX_RESUMES {
            let why = format!(
                "given up after {MAX_RESUMES} resumes{}",
                self.last_step(&op).await
            );
            self.fail_taken(&op, &why).await;
            return;
        }
        match self.resumed_drive(&op).await {
            Ok(()) => info!(operation = %op.id, resumes = op.resumes, "operation resumed"),
            Err(e) => {
                let why = format!("could not be resumed{}: {e}", self.last_step(&op).await);
                self.fail_taken(&op, &why).await;
            }
        }
    }

    /// Rebuilds the session of `op`'s deployment and drives it on. When the deployment's
    /// spec changed while nobody held the operation, the continuation (made for the old spec)
    /// is dropped: the apply starts over from the new spec, which converges.
    async fn resumed_drive(&self, op: &OperationRecord) -> Result<()> {
        let caller = self.system_caller().await?;
        let scope = self.unchecked_deployment_scope(op.deployment_id).await?;
        let contents = self.deployment_contents(&scope).await?;
        let now = applied_spec(&contents)?;
        let recorded: Option<AppliedSpec> = op
            .spec
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let mut op = op.clone();
        if recorded.as_ref().map(|r| strip_pins(r.clone())) != Some(now.clone()) {
            op.continuation = None;
            op.spec = Some(
                serde_json::to_string(&now)
                    .map_err(|e| AppError::internal("writing the spec of an operation", e))?,
            );
        }
        let creates = matches!(op.kind, OperationKind::Apply | OperationKind::Rollback);
        let secrets = if creates {
            Secrets::Open
        } else {
            Secrets::Closed
        };
        let session = self.runtime_session(&scope, contents, secrets).await?;
        self.spawn_drive(op, session, caller, &scope);
        Ok(())
    }

    /// `; its last step was "apply #2"`, or nothing before the first step.
    async fn last_step(&self, op: &OperationRecord) -> String {
        match self.store.operation_steps(op.id).await {
            Ok(steps) => steps
                .last()
                .map(|s| format!("; its last step was {:?}", s.name))
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Ends `op`, which this server took over, as failed with `why`.
    async fn fail_taken(&self, op: &OperationRecord, why: &str) {
        let audit = match self.system_caller().await {
            Ok(caller) => match self.unchecked_deployment_scope(op.deployment_id).await {
                Ok(scope) => about_deployment(
                    self.audit(
                        &caller,
                        Some(scope.project.id),
                        "operation.finish",
                        scope.target(),
                        &["state"],
                    ),
                    &scope.deployment,
                ),
                Err(_) => self.audit(
                    &caller,
                    None,
                    "operation.finish",
                    op.id.to_string(),
                    &["state"],
                ),
            },
            Err(e) => {
                warn!(error = %e, "no system user to record an operation's failure");
                return;
            }
        };
        match self
            .store
            .finish_operation(
                op.id,
                &self.runner.holder,
                now_ms(),
                OperationState::Failed,
                Some(why),
                &audit,
            )
            .await
        {
            Ok(()) => {
                self.operation_changed(op.id);
                warn!(operation = %op.id, why, "operation failed after a takeover");
            }
            Err(e) => warn!(error = %e, "could not fail a taken-over operation"),
        }
    }
}

/// `spec` with its pins removed, to compare with what the store holds now.
fn strip_pins(mut spec: AppliedSpec) -> AppliedSpec {
    for s in &mut spec.services {
        s.pinned = None;
    }
    spec
}
