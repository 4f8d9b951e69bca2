//! What a viewer may do with an object: the actions a view of it offers, computed by the one
//! [`authorize`](komander_domain::authorize) over the same facts the use cases check. The web
//! UI shows these controls and no others; the use cases refuse the others anyway.

use komander_domain::{Action, DeploymentFacts, DeploymentRef, Facts, ProjectRef, allowed};

use crate::{App, Caller, Result};

/// The actions a project's page may offer.
pub const PROJECT_ACTIONS: &[Action] = &[
    Action::EditProject,
    Action::DeleteProject,
    Action::ManageMembers,
    Action::ReadAudit,
    Action::ManageEnvironment,
    Action::SwitchEnvironmentToLocal,
    Action::ForceDeleteEnvironment,
    Action::CreateDeployment,
];

/// The actions a deployment's page may offer.
pub const DEPLOYMENT_ACTIONS: &[Action] = &[
    Action::EditDeployment,
    Action::DeleteDeployment,
    Action::ShareDeployment,
    Action::ApplyDeployment,
];

impl App {
    /// The actions of [`PROJECT_ACTIONS`] the caller may do in `project`.
    ///
    /// # Errors
    /// Not found when the caller may not see the project.
    pub async fn project_actions(
        &self,
        caller: &Caller,
        project: &ProjectRef,
    ) -> Result<Vec<Action>> {
        let scope = self
            .project_scope(caller, project, Action::ViewProject)
            .await?;
        Ok(allowed(
            &caller.actor(),
            &Facts::member(scope.role),
            PROJECT_ACTIONS,
        ))
    }

    /// The actions of [`DEPLOYMENT_ACTIONS`] the caller may do on `deployment`.
    ///
    /// # Errors
    /// Not found when the caller may not see the deployment.
    pub async fn deployment_actions(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<Vec<Action>> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let facts = Facts::deployment(
            scope.role,
            DeploymentFacts {
                owned: scope.deployment.owner_id == caller.user.id,
                shared: scope.deployment.shared,
                executor: scope.environment.executor,
            },
        );
        Ok(allowed(&caller.actor(), &facts, DEPLOYMENT_ACTIONS))
    }
}
