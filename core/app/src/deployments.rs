//! Deployments: private to their owner until shared; sharing clears every secret variable
//! value (the owner re-enters them). Resolving a deployment for an executor is the one way a
//! secret value leaves the store, and it is audited.

use std::collections::BTreeMap;

use komander_domain::{
    Action, DeploymentId, DeploymentRef, EnvironmentRef,
    api::{
        Deployment, DeploymentPatch, NewDeployment, Page, PageQuery, ResolvedDeployment,
        ResolvedService, ShareOutcome,
    },
    timestamps,
};
use komander_store::{DeploymentRecord, SecretsOf, ServiceWithVariables, StoredValue};
use tracing::{info, instrument};

use crate::{
    App, AppError, Caller, Paging, Result, about_deployment,
    projects::display_name,
    scope::DeploymentScope,
    services::{service_ports, service_settings, service_volumes, variable_aad},
};

fn deployment_view(
    d: DeploymentRecord,
    environment: &komander_store::EnvironmentRecord,
) -> Result<Deployment> {
    Ok(Deployment {
        id: d.id,
        name: d.name,
        display_name: d.display_name,
        environment: environment.name.clone(),
        owner: d
            .owner_handle
            .ok_or_else(|| AppError::fault("a deployment without its owner"))?,
        shared: d.shared,
        created_at: timestamps::from_millis(d.created_at),
        updated_at: timestamps::from_millis(d.updated_at),
    })
}

impl App {
    /// `POST .../environments/{environment}/deployments`: a private deployment owned by the
    /// caller. A name taken by someone's private deployment answers 409 without naming them.
    ///
    /// # Errors
    /// Not found, invalid input, conflict.
    #[instrument(skip_all, fields(actor = %caller.user.handle, environment = %environment, deployment = %new.name))]
    pub async fn create_deployment(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
        new: NewDeployment,
    ) -> Result<Deployment> {
        let scope = self
            .environment_scope(caller, environment, Action::CreateDeployment)
            .await?;
        let now = timestamps::to_millis(timestamps::now());
        let deployment = DeploymentRecord {
            id: DeploymentId::new(),
            project_id: scope.project.id,
            environment_id: scope.environment.id,
            display_name: display_name(new.display_name.as_deref())?
                .unwrap_or_else(|| new.name.to_string()),
            name: new.name,
            owner_id: caller.user.id,
            owner_handle: Some(caller.user.handle.clone()),
            shared: false,
            created_at: now,
            updated_at: now,
        };
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "deployment.create",
                format!("{}/{}", scope.environment.name, deployment.name),
                &["name", "display_name"],
            ),
            &deployment,
        );
        self.store
            .create_deployment(&deployment, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "deployment"))?;
        info!("deployment created");
        deployment_view(deployment, &scope.environment)
    }

    /// `GET .../environments/{environment}/deployments`: shared ones and the caller's own.
    ///
    /// # Errors
    /// Not found unless a member; invalid paging.
    pub async fn list_deployments(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
        query: &PageQuery,
    ) -> Result<Page<Deployment>> {
        let scope = self
            .environment_scope(caller, environment, Action::ViewProject)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self
            .store
            .list_deployments(scope.environment.id, caller.actor().visibility(), &page)
            .await?;
        paging.page(
            rows,
            |d| d.name.to_string(),
            |d| deployment_view(d, &scope.environment),
        )
    }

    /// `GET .../deployments/{deployment}`.
    ///
    /// # Errors
    /// Not found, including someone else's private deployment.
    pub async fn get_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<Deployment> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        deployment_view(scope.deployment, &scope.environment)
    }

    /// `PATCH .../deployments/{deployment}`: the owner, or Admins and DevOps when shared.
    ///
    /// # Errors
    /// Not found, forbidden, invalid input.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn update_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        patch: DeploymentPatch,
    ) -> Result<Deployment> {
        let DeploymentScope {
            project,
            environment,
            mut deployment,
            ..
        } = self
            .deployment_scope(caller, deployment, Action::EditDeployment)
            .await?;
        let mut fields = Vec::new();
        if let Some(d) = display_name(patch.display_name.as_deref())? {
            deployment.display_name = d;
            fields.push("display_name");
        }
        deployment.updated_at = timestamps::to_millis(timestamps::now());
        let audit = about_deployment(
            self.audit(
                caller,
                Some(project.id),
                "deployment.update",
                format!("{}/{}", environment.name, deployment.name),
                &fields,
            ),
            &deployment,
        );
        self.store.update_deployment(&deployment, &audit).await?;
        deployment_view(deployment, &environment)
    }

    /// `DELETE .../deployments/{deployment}`: the owner, or Admins and DevOps when shared.
    ///
    /// # Errors
    /// Not found, forbidden.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn delete_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<()> {
        let scope = self
            .deployment_scope(caller, deployment, Action::DeleteDeployment)
            .await?;
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "deployment.delete",
                scope.target(),
                &[],
            ),
            &scope.deployment,
        );
        self.store
            .delete_deployment(scope.deployment.id, &audit)
            .await?;
        info!("deployment deleted");
        Ok(())
    }

    /// How many secret values sharing `deployment` would clear, for the warning before it.
    ///
    /// # Errors
    /// Not found, or forbidden when the caller may not share it.
    pub async fn secret_values_cleared_by_sharing(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<u64> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ShareDeployment)
            .await?;
        Ok(self
            .store
            .count_secret_values(SecretsOf::Deployment(scope.deployment.id))
            .await?)
    }

    /// `POST .../deployments/{deployment}/share`: makes the deployment visible to the
    /// project's members and clears every secret variable value in it.
    ///
    /// # Errors
    /// Not found, forbidden, conflict when already shared.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn share_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<ShareOutcome> {
        let DeploymentScope {
            project,
            environment,
            mut deployment,
            ..
        } = self
            .deployment_scope(caller, deployment, Action::ShareDeployment)
            .await?;
        let now = timestamps::to_millis(timestamps::now());
        let audit = self.audit(
            caller,
            Some(project.id),
            "deployment.share",
            format!("{}/{}", environment.name, deployment.name),
            &["shared", "secret_values"],
        );
        let cleared = self
            .store
            .share_deployment(deployment.id, now, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "deployment"))?;
        deployment.shared = true;
        deployment.updated_at = now;
        info!(cleared_secret_values = cleared, "deployment shared");
        Ok(ShareOutcome {
            deployment: deployment_view(deployment, &environment)?,
            cleared_secret_values: cleared,
        })
    }

    /// `POST .../deployments/{deployment}/resolve`: the whole deployment with secret values
    /// decrypted, for the CLI to run it on the caller's machine. Answered only in an
    /// environment whose executor is `local`, to those who may apply the deployment there
    /// ([`Action::ReleaseSecrets`]); every call is audited with the names (never the values)
    /// of the variables it released.
    ///
    /// # Errors
    /// Not found; forbidden (also for every `server` environment, whoever asks); conflict when
    /// the environment's runtime plugin is not installed and enabled
    /// (`App::environment_runtime`); internal when a ciphertext fails to open.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn resolve_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        with_secrets: bool,
    ) -> Result<ResolvedDeployment> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ReleaseSecrets)
            .await?;
        let runtime = self.environment_runtime(&scope.environment).await?;
        let id = scope.deployment.id;
        let contents = self
            .store
            .deployment_with_services(id)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("deployment {:?}", deployment.name.as_str()))
            })?;
        let mut released = Vec::new();
        let mut resolved = Vec::with_capacity(contents.services.len());
        for ServiceWithVariables { service, variables } in contents.services {
            let mut environment = BTreeMap::new();
            let mut missing_secrets = Vec::new();
            let mut secret = Vec::new();
            for v in variables {
                let row = v.id.to_string();
                match v.value {
                    StoredValue::Plain(value) => {
                        environment.insert(v.name.to_string(), value);
                    }
                    StoredValue::Sealed(sealed) => {
                        if with_secrets {
                            let value = self.keyring.open(&sealed, &variable_aad(&row))?;
                            released.push(format!("{}.{}", service.name, v.name));
                            environment.insert(v.name.to_string(), value.expose().to_owned());
                        }
                        secret.push(v.name);
                    }
                    StoredValue::Empty if v.secret => missing_secrets.push(v.name),
                    StoredValue::Empty => {}
                }
            }
            resolved.push(ResolvedService {
                id: service.id,
                ports: service_ports(&service)?,
                volumes: service_volumes(&service)?,
                settings: service_settings(&service)?,
                name: service.name,
                image: service.image,
                environment,
                secret,
                missing_secrets,
            });
        }
        let fields: Vec<&str> = released.iter().map(String::as_str).collect();
        self.store
            .record_audit(&about_deployment(
                self.audit(
                    caller,
                    Some(scope.project.id),
                    "deployment.resolve",
                    scope.target(),
                    &fields,
                ),
                &scope.deployment,
            ))
            .await?;
        info!(
            secrets = released.len(),
            "deployment resolved for an executor"
        );
        Ok(ResolvedDeployment {
            project: scope.project.name,
            environment: scope.environment.name,
            project_id: scope.project.id,
            environment_id: scope.environment.id,
            deployment_id: id,
            deployment: scope.deployment.name,
            runtime: scope.environment.runtime,
            runtime_sha256: runtime.digest,
            runtime_granted: runtime.granted,
            runtime_settings: runtime.config,
            executor: scope.environment.executor,
            settings: scope
                .environment
                .settings
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            services: resolved,
        })
    }
}
