//! Authorization as data: one pure function, [`authorize`], decides every action from the actor,
//! the action and the facts a role alone cannot tell (member or not, owner or not, private or
//! shared). Lists go through [`Visibility`], which the store applies in SQL.
//!
//! Answers follow the REST contract: something the actor may not see is [`Denied::NotFound`]
//! (404, so its existence does not leak), something it sees but may not do is
//! [`Denied::Forbidden`] (403).

use serde::{Deserialize, Serialize};

use crate::UserId;

/// A member's role in one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Edits the project, its members and invitations; may delete it.
    Admin,
    /// Manages environments and others' shared deployments.
    #[serde(rename = "devops")]
    DevOps,
    /// Adds repositories and runs their own deployments.
    Dev,
}

impl Role {
    /// The wire and storage spelling: `admin`, `devops` or `dev`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::DevOps => "devops",
            Role::Dev => "dev",
        }
    }

    /// Parses the storage spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "devops" => Some(Role::DevOps),
            "dev" => Some(Role::Dev),
            _ => None,
        }
    }
}

/// Where an environment's deployments are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    /// The Komander server applies them with the environment's runtime.
    #[default]
    Server,
    /// The CLI applies them on the user's own machine (`komander up`).
    Local,
}

impl Executor {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Executor::Server => "server",
            Executor::Local => "local",
        }
    }

    /// Parses the storage spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Executor> {
        match s {
            "server" => Some(Executor::Server),
            "local" => Some(Executor::Local),
            _ => None,
        }
    }
}

/// Who is acting: an authenticated user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user: UserId,
    /// Whether the user administers the instance (creates service users, installs plugins).
    pub instance_admin: bool,
}

/// Everything an actor may try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// See a project, its members and environments.
    ViewProject,
    /// Change a project's display name or description.
    EditProject,
    /// Delete a project (never anything in the git provider).
    DeleteProject,
    /// Add, change or remove members; create or revoke invitations.
    ManageMembers,
    /// Read the project's audit log.
    ReadAudit,
    /// Create a repository or add an existing one, and edit its configuration.
    EditRepository,
    /// Delete a repository (in the provider and on disk).
    DeleteRepository,
    /// Create, edit or delete an environment.
    ManageEnvironment,
    /// Switch an environment's executor from `server` to `local`, which lets the members who
    /// may apply its deployments receive their secret values from then on (the switch clears
    /// the values set until then).
    SwitchEnvironmentToLocal,
    /// Delete an environment that still holds deployments, destroying them.
    ForceDeleteEnvironment,
    /// Create a deployment (owned by the actor).
    CreateDeployment,
    /// See a deployment, its services and variables (never secret values).
    ViewDeployment,
    /// Edit a deployment, its services and variables.
    EditDeployment,
    /// Delete a deployment.
    DeleteDeployment,
    /// Share a deployment with the project's members.
    ShareDeployment,
    /// Apply (deploy) or destroy a deployment.
    ApplyDeployment,
    /// Release a deployment's secret values for execution (`resolve`): only in an environment
    /// whose executor is `local`, to those who may apply the deployment there. A `server`
    /// environment's values go to the server's own runtime and to no person, whatever the role.
    ReleaseSecrets,
    /// Create service users and tokens for others; list every user's tokens.
    ManageUsers,
    /// Install, grant, upgrade, disable or uninstall plugins.
    ManagePlugins,
    /// Register, change, delete targets (Docker Engines) and grant them to projects.
    ManageTargets,
}

/// What a deployment-level decision needs beyond the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeploymentFacts {
    /// The actor owns the deployment.
    pub owned: bool,
    /// The deployment is shared with the project.
    pub shared: bool,
    /// Where the deployment's environment applies it.
    pub executor: Executor,
}

/// What a role alone cannot tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Facts {
    /// The actor's role in the project, `None` when not a member (or no project is involved).
    pub role: Option<Role>,
    /// Set when the action concerns a deployment.
    pub deployment: Option<DeploymentFacts>,
}

impl Facts {
    /// Facts for a project-level action by a member with `role`.
    pub fn member(role: Role) -> Facts {
        Facts {
            role: Some(role),
            deployment: None,
        }
    }

    /// Facts for a deployment-level action.
    pub fn deployment(role: Option<Role>, deployment: DeploymentFacts) -> Facts {
        Facts {
            role,
            deployment: Some(deployment),
        }
    }
}

/// Why an action was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The actor may not even see the object: answered as 404, like an object that does not exist.
    #[error("not found")]
    NotFound,
    /// The actor sees the object but may not do this: answered as 403.
    #[error("{0}")]
    Forbidden(&'static str),
}

/// The actions among `candidates` that `actor` may do given `facts`, in their order: what a
/// view of an object offers its viewer (the web UI shows these controls and no others).
pub fn allowed(actor: &Actor, facts: &Facts, candidates: &[Action]) -> Vec<Action> {
    candidates
        .iter()
        .copied()
        .filter(|action| authorize(actor, *action, facts).is_ok())
        .collect()
}

/// Decides whether `actor` may do `action` given `facts`.
///
/// # Errors
/// [`Denied::NotFound`] when the object is invisible to the actor (not a member, or someone
/// else's private deployment); [`Denied::Forbidden`] when visible but the role does not allow it.
pub fn authorize(actor: &Actor, action: Action, facts: &Facts) -> Result<(), Denied> {
    if matches!(
        action,
        Action::ManageUsers | Action::ManagePlugins | Action::ManageTargets
    ) {
        return if actor.instance_admin {
            Ok(())
        } else {
            Err(Denied::Forbidden("only instance admins may do this"))
        };
    }
    let Some(role) = facts.role else {
        return Err(Denied::NotFound);
    };
    if let Some(d) = facts.deployment
        && !d.shared
        && !d.owned
    {
        return Err(Denied::NotFound);
    }
    let owned = facts.deployment.is_some_and(|d| d.owned);
    let local = facts
        .deployment
        .is_some_and(|d| d.executor == Executor::Local);
    let admin = role == Role::Admin;
    let operator = matches!(role, Role::Admin | Role::DevOps);
    let allowed = match action {
        Action::ViewProject
        | Action::EditRepository
        | Action::CreateDeployment
        | Action::ViewDeployment
        | Action::ApplyDeployment => true,
        Action::EditProject
        | Action::DeleteProject
        | Action::ManageMembers
        | Action::ReadAudit
        | Action::DeleteRepository
        | Action::ForceDeleteEnvironment
        | Action::SwitchEnvironmentToLocal => admin,
        Action::ManageEnvironment => operator,
        // Whoever may apply the deployment, once they see it (checked above), but only where
        // the deployment runs on their own machine.
        Action::ReleaseSecrets => local && authorize(actor, Action::ApplyDeployment, facts).is_ok(),
        Action::EditDeployment | Action::DeleteDeployment | Action::ShareDeployment => {
            owned || operator
        }
        Action::ManageUsers | Action::ManagePlugins | Action::ManageTargets => {
            unreachable!("decided above")
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Forbidden(match action {
            Action::ManageEnvironment => "only Admins and DevOps may manage environments",
            Action::SwitchEnvironmentToLocal => {
                "only project Admins may switch an environment to the local executor"
            }
            Action::ReleaseSecrets => {
                "secret values of an environment whose executor is `server` go to the server's \
                 runtime only; switch the environment to the `local` executor to run it yourself"
            }
            Action::EditDeployment | Action::DeleteDeployment | Action::ShareDeployment => {
                "only the owner, Admins and DevOps may change this deployment"
            }
            _ => "only project Admins may do this",
        }))
    }
}

/// The filter the store applies to lists, so an actor lists only what it may see: projects it is
/// a member of, and in them shared deployments plus its own private ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visibility {
    /// The user whose view this is.
    pub user: UserId,
}

impl Actor {
    /// The list filter for this actor.
    pub fn visibility(&self) -> Visibility {
        Visibility { user: self.user }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            user: UserId::new(),
            instance_admin: false,
        }
    }

    fn facts(owned: bool, shared: bool, executor: Executor) -> DeploymentFacts {
        DeploymentFacts {
            owned,
            shared,
            executor,
        }
    }

    #[test]
    fn a_view_offers_exactly_the_actions_authorize_allows() {
        let candidates = [
            Action::EditProject,
            Action::ManageMembers,
            Action::ManageEnvironment,
            Action::CreateDeployment,
        ];
        let offered = |role| allowed(&actor(), &Facts::member(role), &candidates);
        assert_eq!(offered(Role::Admin), candidates);
        assert_eq!(
            offered(Role::DevOps),
            [Action::ManageEnvironment, Action::CreateDeployment]
        );
        assert_eq!(offered(Role::Dev), [Action::CreateDeployment]);
        let someone_elses_shared =
            Facts::deployment(Some(Role::Dev), facts(false, true, Executor::Server));
        assert_eq!(
            allowed(
                &actor(),
                &someone_elses_shared,
                &[
                    Action::ViewDeployment,
                    Action::EditDeployment,
                    Action::ApplyDeployment
                ]
            ),
            [Action::ViewDeployment, Action::ApplyDeployment]
        );
    }

    #[test]
    fn non_members_see_nothing() {
        for action in [
            Action::ViewProject,
            Action::DeleteProject,
            Action::ViewDeployment,
        ] {
            assert_eq!(
                authorize(&actor(), action, &Facts::default()),
                Err(Denied::NotFound)
            );
        }
    }

    #[test]
    fn private_deployments_are_the_owners_alone() {
        for role in [Role::Admin, Role::DevOps, Role::Dev] {
            let others = Facts::deployment(Some(role), facts(false, false, Executor::Server));
            assert_eq!(
                authorize(&actor(), Action::ViewDeployment, &others),
                Err(Denied::NotFound)
            );
            let own = Facts::deployment(Some(role), facts(true, false, Executor::Server));
            assert!(authorize(&actor(), Action::EditDeployment, &own).is_ok());
        }
    }

    /// Every executor × owner or not × shared or not × role: secrets are released only in a
    /// `local` environment, to whoever may apply the deployment there.
    #[test]
    fn secrets_are_released_only_for_local_execution() {
        for executor in [Executor::Server, Executor::Local] {
            for owned in [true, false] {
                for shared in [true, false] {
                    for role in [Role::Admin, Role::DevOps, Role::Dev] {
                        let facts = Facts::deployment(Some(role), facts(owned, shared, executor));
                        let got = authorize(&actor(), Action::ReleaseSecrets, &facts);
                        let want = match (executor, owned || shared) {
                            (_, false) => Err(Denied::NotFound),
                            (Executor::Server, true) => Err(Denied::Forbidden(
                                "secret values of an environment whose executor is `server` go \
                                 to the server's runtime only; switch the environment to the \
                                 `local` executor to run it yourself",
                            )),
                            (Executor::Local, true) => Ok(()),
                        };
                        assert_eq!(
                            got, want,
                            "{executor:?} owned={owned} shared={shared} {role:?}"
                        );
                        assert_eq!(
                            got.is_ok(),
                            executor == Executor::Local
                                && authorize(&actor(), Action::ApplyDeployment, &facts).is_ok(),
                        );
                    }
                }
            }
        }
        let stranger = Facts {
            role: None,
            deployment: Some(facts(true, true, Executor::Local)),
        };
        assert_eq!(
            authorize(&actor(), Action::ReleaseSecrets, &stranger),
            Err(Denied::NotFound)
        );
    }

    #[test]
    fn only_admins_switch_an_environment_to_local() {
        for (role, allowed) in [
            (Role::Admin, true),
            (Role::DevOps, false),
            (Role::Dev, false),
        ] {
            let got = authorize(
                &actor(),
                Action::SwitchEnvironmentToLocal,
                &Facts::member(role),
            );
            assert_eq!(got.is_ok(), allowed, "{role:?}");
        }
    }

    #[test]
    fn only_instance_admins_manage_users() {
        let mut a = actor();
        assert!(authorize(&a, Action::ManageUsers, &Facts::default()).is_err());
        a.instance_admin = true;
        assert!(authorize(&a, Action::ManageUsers, &Facts::default()).is_ok());
    }

    #[test]
    fn only_instance_admins_manage_targets_whatever_their_project_role() {
        for role in [None, Some(Role::Dev), Some(Role::DevOps), Some(Role::Admin)] {
            let facts = Facts {
                role,
                deployment: None,
            };
            assert_eq!(
                authorize(&actor(), Action::ManageTargets, &facts),
                Err(Denied::Forbidden("only instance admins may do this")),
                "{role:?}"
            );
        }
        let admin = Actor {
            instance_admin: true,
            ..actor()
        };
        assert!(authorize(&admin, Action::ManageTargets, &Facts::default()).is_ok());
    }
}
