//! Rollback: an earlier successful apply's spec written back to the deployment (its services
//! and plain variables, one audited transaction), then applied as an operation of kind
//! `rollback` that names the apply it brings back.
//!
//! Images come back as they were pinned: a repository digest (`repo@sha256:…`) becomes the
//! service's image, so the very image runs again wherever its tag points now. A pin that is
//! only an image id (an image no registry gave) cannot be named that way: the service keeps
//! its tag, and the rollback's first progress line warns when that tag names another image
//! now. Secret values are never recorded: a secret variable keeps its current value, and the
//! rollback is refused, naming it, when it has none.

use komander_domain::{
    Action, DeploymentRef, OperationId, VariableId,
    api::{AppliedService, AppliedSpec, Operation, OperationKind, OperationState, RollbackRequest},
};
use komander_store::{
    OperationRecord, RestoredService, ServiceRecord, StoreError, StoredValue, VariableRecord,
};
use tracing::{info, instrument};

use super::{
    engine, require_server,
    session::{Secrets, now_ms},
};
use crate::{App, AppError, Caller, Result, about_deployment, scope::DeploymentScope};

/// Whether `pinned` is a repository digest (`repo@sha256:…`), which names one image in a
/// registry, rather than a bare image id (`sha256:…`), which names it on one engine only.
fn is_repository_digest(pinned: &str) -> bool {
    pinned.contains('@')
}

/// The earlier operation's spec, when it is one a rollback may bring back: an apply or a
/// rollback of this deployment that ended `done` with a recorded spec.
///
/// # Errors
/// Invalid input on `operation` saying which of these it is not.
fn spec_to_restore(
    scope: &DeploymentScope,
    id: OperationId,
    earlier: Option<OperationRecord>,
) -> Result<AppliedSpec> {
    let refuse = |why: String| AppError::invalid("operation", format!("operation {id} {why}"));
    let earlier = earlier.ok_or_else(|| {
        refuse(format!(
            "is not an operation of deployment {:?}",
            scope.deployment.name.as_str()
        ))
    })?;
    if !matches!(earlier.kind, OperationKind::Apply | OperationKind::Rollback) {
        return Err(refuse(format!(
            "is a {}: only what an apply or a rollback ran can be brought back",
            earlier.kind.as_str()
        )));
    }
    if earlier.state != OperationState::Done {
        return Err(refuse(format!(
            "is {}: only an apply that succeeded can be brought back",
            earlier.state.as_str()
        )));
    }
    let spec = earlier
        .spec
        .ok_or_else(|| refuse("recorded no spec, so it cannot be brought back".into()))?;
    serde_json::from_str(&spec)
        .map_err(|e| AppError::internal(format!("the spec of operation {id}"), e))
}

/// `service` as the rollback writes it back, stamped `now`.
fn restored(
    scope: &DeploymentScope,
    service: &AppliedService,
    now: i64,
) -> Result<RestoredService> {
    let json = |what: &str, value: serde_json::Result<serde_json::Value>| {
        value.map_err(|e| {
            AppError::internal(format!("writing the {what} of a rolled-back service"), e)
        })
    };
    let image = match &service.pinned {
        Some(pinned) if is_repository_digest(pinned) => pinned.clone(),
        _ => service.image.clone(),
    };
    let record = ServiceRecord {
        id: service.id,
        deployment_id: scope.deployment.id,
        name: service.name.clone(),
        image,
        ports: json("ports", serde_json::to_value(&service.ports))?,
        volumes: json("volumes", serde_json::to_value(&service.volumes))?,
        settings: json("settings", serde_json::to_value(&service.settings))?,
        created_at: now,
        updated_at: now,
    };
    let plain = service
        .variables
        .iter()
        .filter(|v| !v.secret)
        .map(|v| VariableRecord {
            id: VariableId::new(),
            service_id: service.id,
            name: v.name.clone(),
            secret: false,
            value: v
                .value
                .clone()
                .map_or(StoredValue::Empty, StoredValue::Plain),
            updated_at: now,
        })
        .collect();
    let secrets = service
        .variables
        .iter()
        .filter(|v| v.secret)
        .map(|v| v.name.clone())
        .collect();
    Ok(RestoredService {
        service: record,
        plain,
        secrets,
    })
}

impl App {
    /// `POST .../deployments/{deployment}/rollback`: writes the spec of an earlier successful
    /// apply (or rollback) back to the deployment, in one audited transaction
    /// (`deployment.rollback`), then starts applying it as an operation of kind `rollback`
    /// (`202`). See the module's doc for images and secrets.
    ///
    /// # Errors
    /// As [`App::apply_deployment`]; invalid input on `operation` when it is not a successful
    /// apply or rollback of this deployment with a recorded spec, and on `variables` naming
    /// every secret variable of the spec without a value now; busy when an operation runs.
    /// Each refusal leaves the deployment unchanged.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment, operation = %request.operation))]
    pub async fn rollback_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        request: RollbackRequest,
    ) -> Result<Operation> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ApplyDeployment)
            .await?;
        require_server(&scope)?;
        let id = request.operation;
        let spec = self.rollback_spec(&scope, id).await?;
        let mut first_lines = self.moved_tags(&scope, &spec).await?;
        // What the apply would refuse about the earlier spec (a host port taken meanwhile,
        // limits above the target's maximums now), refused before the spec is written back.
        let contents = self.deployment_contents(&scope).await?;
        let session = self
            .runtime_session(&scope, contents, Secrets::Closed)
            .await?;
        self.preflight(&session, &spec).await?;
        first_lines.push(self.write_back(caller, &scope, id, &spec).await?);
        self.start_on_server(
            caller,
            deployment,
            OperationKind::Rollback,
            false,
            Some(id),
            first_lines,
        )
        .await
    }

    /// Writes `spec`, the spec of the earlier operation `id`, back to the deployment in one
    /// audited transaction (`deployment.rollback`); answers the progress line that says so.
    ///
    /// # Errors
    /// Invalid input naming every secret variable of the spec without a value now.
    pub(crate) async fn write_back(
        &self,
        caller: &Caller,
        scope: &DeploymentScope,
        id: OperationId,
        spec: &AppliedSpec,
    ) -> Result<String> {
        let now = now_ms();
        let services = spec
            .services
            .iter()
            .map(|s| restored(scope, s, now))
            .collect::<Result<Vec<_>>>()?;
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "deployment.rollback",
                scope.target(),
                &["services", "variables"],
            ),
            &scope.deployment,
        );
        self.store
            .restore_services(scope.deployment.id, &services, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "deployment"))?;
        info!(services = services.len(), "deployment rolled back");
        Ok(format!(
            "restored the services and variables of operation {id} ({} services)",
            services.len()
        ))
    }

    /// The spec of the earlier operation `id` of `scope`'s deployment, when a rollback may
    /// bring it back and no operation runs now.
    ///
    /// # Errors
    /// As [`App::rollback_deployment`].
    pub(crate) async fn rollback_spec(
        &self,
        scope: &DeploymentScope,
        id: OperationId,
    ) -> Result<AppliedSpec> {
        let earlier = self.store.operation(scope.deployment.id, id).await?;
        let spec = spec_to_restore(scope, id, earlier)?;
        self.refuse_if_busy(scope).await?;
        Ok(spec)
    }

    /// Refuses, before anything is written, when an operation of the deployment runs (the
    /// newest one, since none starts while one runs).
    async fn refuse_if_busy(&self, scope: &DeploymentScope) -> Result<()> {
        match self.newest_operation(scope).await?.as_ref() {
            Some(op) if op.state == OperationState::Running => Err(AppError::from_store(
                StoreError::Busy { operation: op.id },
                "operation",
            )),
            _ => Ok(()),
        }
    }

    /// A warning for each service of `spec` pinned to a bare image id whose tag names another
    /// image on the target now (or none), asking the target's engine.
    ///
    /// # Errors
    /// As [`App::apply_deployment`] when the target is missing or does not answer.
    async fn moved_tags(&self, scope: &DeploymentScope, spec: &AppliedSpec) -> Result<Vec<String>> {
        let by_id: Vec<(&AppliedService, &str)> = spec
            .services
            .iter()
            .filter_map(|s| {
                s.pinned
                    .as_deref()
                    .filter(|p| !is_repository_digest(p))
                    .map(|p| (s, p))
            })
            .collect();
        if by_id.is_empty() {
            return Ok(Vec::new());
        }
        let target = self.session_target(scope).await?;
        let mut warnings = Vec::new();
        for (service, pinned) in by_id {
            let now = engine::image_id(target.connection.client(), &target.record, &service.image)
                .await?;
            let now = match now {
                Some(id) if id == pinned => continue,
                Some(id) => format!("names image {id} now"),
                None => format!("is no longer on target {:?}", target.record.name.as_str()),
            };
            warnings.push(format!(
                "warning: service {}: image {} {now}, not {pinned} that the earlier apply ran \
                 (an image with no repository digest can only be brought back by its tag): \
                 the rollback runs what the tag names now",
                service.name, service.image
            ));
        }
        Ok(warnings)
    }
}
