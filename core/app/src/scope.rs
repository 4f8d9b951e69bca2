//! Resolving a reference (project / environment / deployment / service) into records, and
//! authorizing the action at the level it concerns. The references arrive parsed: a slug that
//! is not even valid was answered 404 where the path came in (see `From<RefError> for
//! AppError`).

use komander_domain::{
    Action, DeploymentFacts, DeploymentRef, EnvironmentRef, Facts, ProjectRef, Role, ServiceRef,
    authorize,
};
use komander_store::{DeploymentRecord, EnvironmentRecord, ProjectRecord, ServiceRecord};

use crate::{App, AppError, Caller, Result, error::named};

/// A project the caller is a member of.
pub(crate) struct ProjectScope {
    pub project: ProjectRecord,
    pub role: Role,
}

/// An environment in a project the caller is a member of.
pub(crate) struct EnvironmentScope {
    pub project: ProjectRecord,
    pub role: Role,
    pub environment: EnvironmentRecord,
}

/// A deployment the caller may see.
pub(crate) struct DeploymentScope {
    pub project: ProjectRecord,
    /// The caller's role in the project; `None` for the server's own work.
    pub role: Option<Role>,
    pub environment: EnvironmentRecord,
    pub deployment: DeploymentRecord,
}

impl DeploymentScope {
    /// `environment/deployment`, for audit targets.
    pub fn target(&self) -> String {
        format!("{}/{}", self.environment.name, self.deployment.name)
    }
}

/// A service of a deployment the caller may see.
pub(crate) struct ServiceScope {
    pub deployment: DeploymentScope,
    pub service: ServiceRecord,
}

impl ServiceScope {
    /// `environment/deployment/service`, for audit targets.
    pub fn target(&self) -> String {
        format!("{}/{}", self.deployment.target(), self.service.name)
    }
}

impl App {
    /// The project `project`, if the caller may do `action` on it.
    pub(crate) async fn project_scope(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        action: Action,
    ) -> Result<ProjectScope> {
        let what = || named("project", project.name.as_str());
        let (record, role) = self
            .store
            .project(&project.name, caller.user.id)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))?;
        let facts = Facts {
            role,
            deployment: None,
        };
        authorize(&caller.actor(), action, &facts).map_err(|d| AppError::denied(d, what))?;
        let role = role.ok_or_else(|| AppError::NotFound(what()))?;
        Ok(ProjectScope {
            project: record,
            role,
        })
    }

    /// The environment `environment`, if the caller may do `action` on it.
    pub(crate) async fn environment_scope(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
        action: Action,
    ) -> Result<EnvironmentScope> {
        let ProjectScope { project, role } = self
            .project_scope(caller, &environment.project, Action::ViewProject)
            .await?;
        let what = || named("environment", environment.name.as_str());
        let record = self
            .store
            .environment(project.id, &environment.name)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))?;
        authorize(&caller.actor(), action, &Facts::member(role))
            .map_err(|d| AppError::denied(d, what))?;
        Ok(EnvironmentScope {
            project,
            role,
            environment: record,
        })
    }

    /// The deployment `deployment`, if the caller may do `action` on it. Someone else's
    /// private deployment answers 404, whatever the caller's role.
    pub(crate) async fn deployment_scope(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        action: Action,
    ) -> Result<DeploymentScope> {
        let EnvironmentScope {
            project,
            role,
            environment,
        } = self
            .environment_scope(caller, &deployment.environment, Action::ViewProject)
            .await?;
        let what = || named("deployment", deployment.name.as_str());
        let record = self
            .store
            .deployment(environment.id, &deployment.name)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))?;
        let facts = Facts::deployment(
            Some(role),
            DeploymentFacts {
                owned: record.owner_id == caller.user.id,
                shared: record.shared,
                executor: environment.executor,
            },
        );
        authorize(&caller.actor(), action, &facts).map_err(|d| AppError::denied(d, what))?;
        Ok(DeploymentScope {
            project,
            role: Some(role),
            environment,
            deployment: record,
        })
    }

    /// The service `service`, if the caller may do `action` on its deployment.
    pub(crate) async fn service_scope(
        &self,
        caller: &Caller,
        service: &ServiceRef,
        action: Action,
    ) -> Result<ServiceScope> {
        let deployment = self
            .deployment_scope(caller, &service.deployment, action)
            .await?;
        let record = self
            .store
            .service(deployment.deployment.id, &service.name)
            .await?
            .ok_or_else(|| AppError::NotFound(named("service", service.name.as_str())))?;
        Ok(ServiceScope {
            deployment,
            service: record,
        })
    }

    /// The deployment with id `id` with its project and environment, without any
    /// authorization: for the server's own work on an operation it took over, never for a
    /// request.
    ///
    /// # Errors
    /// Not found when the deployment (or its environment or project) is gone.
    pub(crate) async fn unchecked_deployment_scope(
        &self,
        id: komander_domain::DeploymentId,
    ) -> Result<DeploymentScope> {
        let gone = || AppError::NotFound(format!("deployment {id}"));
        let (project, environment, deployment) =
            self.store.deployment_path(id).await?.ok_or_else(gone)?;
        let system = self.system_caller().await?;
        let (project, _) = self
            .store
            .project(&project, system.user.id)
            .await?
            .ok_or_else(gone)?;
        let environment = self
            .store
            .environment(project.id, &environment)
            .await?
            .ok_or_else(gone)?;
        let deployment = self
            .store
            .deployment(environment.id, &deployment)
            .await?
            .ok_or_else(gone)?;
        Ok(DeploymentScope {
            project,
            role: None,
            environment,
            deployment,
        })
    }
}
