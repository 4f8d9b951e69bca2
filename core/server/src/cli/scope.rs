//! Where a command acts: the nested scopes of the API (a user; a project, one of its
//! environments, a deployment in it, a service of that), each both a set of flags
//! (`--project shop --environment dev --deployment mine --service web`) and an API path.
//!
//! Slugs are URL-safe by construction (`komander_domain::names`), so paths are built by plain
//! formatting, here and nowhere else.

use std::fmt;

use clap::Args;
use komander_domain::names::{
    DeploymentName, EnvironmentName, ProjectName, ServiceName, UserHandle,
};

/// The root of the REST API.
pub const API: &str = "/api/v1";

/// A place in the API under which collections of resources live.
pub trait Scope: fmt::Display {
    /// The scope's own path, such as `/api/v1/projects/shop`.
    fn path(&self) -> String;

    /// The path of one of its collections, such as `/api/v1/projects/shop/environments`.
    fn collection(&self, kind: &str) -> String {
        format!("{}/{kind}", self.path())
    }

    /// The path of one named resource of a collection, such as `.../environments/dev`.
    fn item(&self, kind: &str, name: impl fmt::Display) -> String {
        format!("{}/{kind}/{name}", self.path())
    }
}

/// The API path of a project: `/api/v1/projects/{project}`.
pub fn project_path(project: &ProjectName) -> String {
    format!("{API}/projects/{project}")
}

/// A user, named by `--user`.
#[derive(Args, Clone, Debug)]
pub struct UserScope {
    /// The user's handle.
    #[arg(long, short = 'u')]
    user: UserHandle,
}

impl Scope for UserScope {
    fn path(&self) -> String {
        format!("{API}/users/{}", self.user)
    }
}

impl fmt::Display for UserScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {}", self.user)
    }
}

/// A project, named by `--project`.
#[derive(Args, Clone, Debug)]
pub struct ProjectScope {
    /// The project's slug.
    #[arg(long, short = 'p')]
    project: ProjectName,
}

impl Scope for ProjectScope {
    fn path(&self) -> String {
        project_path(&self.project)
    }
}

impl fmt::Display for ProjectScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.project)
    }
}

/// An environment of a project: `--project` and `--environment`.
#[derive(Args, Clone, Debug)]
pub struct EnvironmentScope {
    #[command(flatten)]
    project: ProjectScope,
    /// The environment's slug.
    #[arg(long, short = 'e')]
    environment: EnvironmentName,
}

impl Scope for EnvironmentScope {
    fn path(&self) -> String {
        self.project.item("environments", &self.environment)
    }
}

impl EnvironmentScope {
    /// Its deployment `name`.
    pub fn deployment(&self, name: &DeploymentName) -> super::address::DeploymentAt {
        super::address::DeploymentAt {
            project: self.project.project.clone(),
            environment: self.environment.clone(),
            deployment: name.clone(),
        }
    }
}

impl fmt::Display for EnvironmentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.environment)
    }
}

/// A deployment of an environment: `--project`, `--environment` and `--deployment`.
#[derive(Args, Clone, Debug)]
pub struct DeploymentScope {
    #[command(flatten)]
    environment: EnvironmentScope,
    /// The deployment's slug.
    #[arg(long, short = 'd')]
    deployment: DeploymentName,
}

impl Scope for DeploymentScope {
    fn path(&self) -> String {
        self.environment.item("deployments", &self.deployment)
    }
}

impl fmt::Display for DeploymentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.environment, self.deployment)
    }
}

/// A service of a deployment: `--project`, `--environment`, `--deployment` and `--service`.
#[derive(Args, Clone, Debug)]
pub struct ServiceScope {
    #[command(flatten)]
    deployment: DeploymentScope,
    /// The service's slug.
    #[arg(long, short = 's')]
    service: ServiceName,
}

impl Scope for ServiceScope {
    fn path(&self) -> String {
        self.deployment.item("services", &self.service)
    }
}

impl fmt::Display for ServiceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.deployment, self.service)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        scope: ServiceScope,
    }

    #[test]
    fn nested_scopes_build_paths_from_flags() {
        let probe = Probe::try_parse_from([
            "probe",
            "--project",
            "shop",
            "-e",
            "dev",
            "--deployment",
            "mine",
            "-s",
            "web",
        ])
        .unwrap();
        assert_eq!(
            probe.scope.path(),
            "/api/v1/projects/shop/environments/dev/deployments/mine/services/web"
        );
        assert_eq!(
            probe.scope.item("variables", "PORT"),
            "/api/v1/projects/shop/environments/dev/deployments/mine/services/web/variables/PORT"
        );
        assert_eq!(probe.scope.to_string(), "shop/dev/mine/web");
    }
}
