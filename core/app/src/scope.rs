//! Resolving a path of slugs (project / environment / deployment / service) into records, and
//! authorizing the action at the level it concerns. A slug that is not even valid names
//! nothing, so it answers 404 like a missing object.

use std::str::FromStr;

use komander_domain::{Action, Facts, Role, authorize};
use komander_store::{DeploymentRecord, EnvironmentRecord, ProjectRecord, ServiceRecord};

use crate::{App, AppError, Caller, Result};

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

fn slug<T: FromStr>(value: &str, what: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| AppError::NotFound(format!("{what} {value:?}")))
}

impl App {
    /// The project `name`, if the caller may do `action` on it.
    pub(crate) async fn project_scope(
        &self,
        caller: &Caller,
        name: &str,
        action: Action,
    ) -> Result<ProjectScope> {
        let what = || format!("project {name:?}");
        let parsed = slug(name, "project")?;
        let (project, role) = self
            .store
            .project(&parsed, caller.user.id)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))?;
        let facts = Facts {
            role,
            deployment: None,
        };
        authorize(&caller.actor(), action, &facts).map_err(|d| AppError::denied(d, what))?;
        let role = role.ok_or_else(|| AppError::NotFound(what()))?;
        Ok(ProjectScope { project, role })
    }

    /// The environment `project/environment`, if the caller may do `action` on it.
    pub(crate) async fn environment_scope(
        &self,
        caller: &Caller,
        project: &str,
        environment: &str,
        action: Action,
    ) -> Result<EnvironmentScope> {
        let ProjectScope { project, role } = self
            .project_scope(caller, project, Action::ViewProject)
            .await?;
        let what = || format!("environment {environment:?}");
        let environment = self
            .store
            .environment(project.id, &slug(environment, "environment")?)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))?;
        authorize(&caller.actor(), action, &Facts::member(role))
            .map_err(|d| AppError::denied(d, what))?;
        Ok(EnvironmentScope {
            project,
            role,
            environment,
        })
    }

    /// The deployment `project/environment/deployment`, if the caller may do `action` on it.
    /// Someone else's private deployment answers 404, whatever the caller's role.
    pub(crate) async fn deployment_scope(
        &self,
        caller: &Caller,
        path: [&str; 3],
        action: Action,
    ) -> Result<DeploymentScope> {
        let [project, environment, deployment] = path;
        let EnvironmentScope {
            project,
            role,
            environment,
        } = self
            .environment_scope(caller, project, environment, Action::ViewProject)
            .await?;
        let what = || format!("deployment {deployment:?}");
        let deployment = self
            .store
            .deployment(environment.id, &slug(deployment, "deployment")?)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))?;
        let facts = Facts::deployment(
            Some(role),
            deployment.owner_id == caller.user.id,
            deployment.shared,
        );
        authorize(&caller.actor(), action, &facts).map_err(|d| AppError::denied(d, what))?;
        Ok(DeploymentScope {
            project,
            environment,
            deployment,
        })
    }

    /// The service `project/environment/deployment/service`, if the caller may do `action` on
    /// its deployment.
    pub(crate) async fn service_scope(
        &self,
        caller: &Caller,
        path: [&str; 4],
        action: Action,
    ) -> Result<ServiceScope> {
        let [project, environment, deployment, service] = path;
        let deployment = self
            .deployment_scope(caller, [project, environment, deployment], action)
            .await?;
        let service = self
            .store
            .service(deployment.deployment.id, &slug(service, "service")?)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("service {service:?}")))?;
        Ok(ServiceScope {
            deployment,
            service,
        })
    }
}
