//! Driving one server operation to its end, in the background, with the shared
//! [`driver`](super::driver): the server's store is its ledger (under this server's lease)
//! and the session's plugin its runtime. A server that dies mid-way leaves the last
//! continuation behind; whoever takes the operation over ([`super::reaper`]) drives it on
//! from there.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use bollard::Docker;
use komander_domain::api::OperationState;
use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::{CallContext, ProgressSink},
    runtime::DeploymentSpec,
};
use komander_store::{OperationRecord, StepRecord, StoreError};
use tracing::{info, instrument, warn};

use super::{
    driver::{self, DriveSettings, Job, Ledger, LedgerError, Outcome, Runtime},
    engine,
    session::{RuntimeSession, now_ms},
};
use crate::{App, Caller, plugins::Plugins};

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

/// The server's store as a driver's ledger, under this server's lease of one operation.
struct StoreLedger {
    app: App,
    op: OperationRecord,
}

#[async_trait]
impl Ledger for StoreLedger {
    async fn record_step(&self, step: &StepRecord) -> Result<bool, LedgerError> {
        let holder = &self.app.runner.holder;
        match self
            .app
            .store
            .record_step(self.op.id, holder, now_ms(), step)
            .await
        {
            Ok(lease) => {
                self.app.operation_changed(self.op.id);
                Ok(lease.cancel_requested)
            }
            Err(e) => Err(ledger_error(e)),
        }
    }

    async fn renew(&self) -> Result<bool, LedgerError> {
        self.app
            .store
            .renew_lease(self.op.id, &self.app.runner.holder, now_ms())
            .await
            .map(|lease| lease.cancel_requested)
            .map_err(ledger_error)
    }

    async fn record_pins(&self, pins: BTreeMap<String, String>) -> Result<(), LedgerError> {
        let Some(spec) = self.op.spec.as_deref() else {
            return Ok(());
        };
        let pinned = engine::pinned_spec(spec, &pins).map_err(LedgerError::Failed)?;
        self.app
            .store
            .set_operation_spec(self.op.id, &self.app.runner.holder, now_ms(), &pinned)
            .await
            .map_err(ledger_error)
    }
}

/// A store error as a ledger sees it: a lease that is not ours (or an operation gone) is lost.
fn ledger_error(e: StoreError) -> LedgerError {
    match e {
        StoreError::Conflict { .. } | StoreError::NotFound(_) => LedgerError::Lost,
        e => LedgerError::Failed(e.to_string()),
    }
}

/// A session's plugin as a driver's runtime, its calls' contexts made by the server.
struct ServerRuntime<'a> {
    app: &'a App,
    plugins: &'a Plugins,
    session: &'a RuntimeSession,
    /// How failures name the target: `target "edge"`.
    target: Option<(String, Docker)>,
}

#[async_trait]
impl Runtime for ServerRuntime<'_> {
    fn engine(&self) -> &PluginEngine {
        self.plugins.engine()
    }

    fn plugin(&self) -> &LoadedPlugin {
        self.session.plugin()
    }

    fn spec(&self) -> &DeploymentSpec {
        &self.session.spec
    }

    async fn context(&self, progress: Option<ProgressSink>) -> Result<CallContext, String> {
        self.session
            .context(self.app, progress)
            .await
            .map_err(|e| e.to_string())
    }

    fn docker(&self) -> Option<(&str, &Docker)> {
        self.target
            .as_ref()
            .map(|(name, client)| (name.as_str(), client))
    }
}

impl Drive {
    /// Drives the operation to its end and records the outcome; logs what it cannot record.
    #[instrument(skip_all, fields(operation = %self.op.id, kind = self.op.kind.as_str()))]
    pub async fn run(self) {
        let outcome = match self.app.plugins() {
            Ok(plugins) => {
                let runtime = ServerRuntime {
                    app: &self.app,
                    plugins,
                    session: &self.session,
                    target: self.session.target.as_ref().map(|t| {
                        (
                            format!("target {:?}", t.record.name.as_str()),
                            t.connection.client().clone(),
                        )
                    }),
                };
                let ledger = Arc::new(StoreLedger {
                    app: self.app.clone(),
                    op: self.op.clone(),
                });
                let job = Job {
                    kind: self.op.kind,
                    remove_volumes: self.op.remove_volumes,
                    continuation: self.op.continuation.clone(),
                    cancel_requested: self.op.cancel_requested,
                };
                let settings = DriveSettings {
                    health_timeout: self.app.runner.settings.health_timeout,
                };
                driver::drive(&runtime, ledger, job, settings).await
            }
            Err(e) => Outcome::Failed(e.to_string()),
        };
        self.app.runner.forget(self.op.id);
        let holder = self.app.runner.holder.clone();
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
        let message = message.map(|m| driver::truncate(&m, crate::operations::MAX_LINE_BYTES));
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
}
