//! References to what a REST path names: a project, an environment in it, a deployment in that
//! environment, a service in that deployment. They are built only from validated names, so the
//! slugs of a path are parsed once, where the path arrives, and nothing after re-checks them.
//!
//! Each reference displays as its slash-joined path (`shop/dev/web/cache`), for spans, audit
//! targets and messages.
//!
//! ```
//! use komander_domain::refs::{DeploymentRef, ProjectRef, Segment};
//!
//! let web = DeploymentRef::parse("shop", "dev", "web").unwrap();
//! assert_eq!(web.to_string(), "shop/dev/web");
//! assert_eq!(web, ProjectRef::new("shop".parse().unwrap())
//!     .environment("dev".parse().unwrap())
//!     .deployment("web".parse().unwrap()));
//!
//! let err = DeploymentRef::parse("shop", "Dev", "web").unwrap_err();
//! assert_eq!(err.segment, Segment::Environment);
//! assert_eq!(err.value(), "Dev");
//! ```

use std::{fmt, str::FromStr};

use crate::names::{DeploymentName, EnvironmentName, NameError, ProjectName, ServiceName};

/// A segment of a path of slugs, outermost first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// The project's slug.
    Project,
    /// The environment's slug.
    Environment,
    /// The deployment's slug.
    Deployment,
    /// The service's slug.
    Service,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Project => "project",
            Segment::Environment => "environment",
            Segment::Deployment => "deployment",
            Segment::Service => "service",
        })
    }
}

/// Why the segments of a path do not form a reference: the outermost segment that is not a
/// valid slug.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {segment} {:?} in the path: {}", .error.value, .error.reason)]
pub struct RefError {
    /// The segment at fault.
    pub segment: Segment,
    /// Why its text is not a valid name; it holds the text.
    pub error: NameError,
}

impl RefError {
    /// The refused text of the segment.
    pub fn value(&self) -> &str {
        &self.error.value
    }
}

/// Parses the text of one segment.
fn segment<T: FromStr<Err = NameError>>(segment: Segment, value: &str) -> Result<T, RefError> {
    value.parse().map_err(|error| RefError { segment, error })
}

/// A project, by its slug.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProjectRef {
    /// The project's slug.
    pub name: ProjectName,
}

/// An environment of a project.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvironmentRef {
    /// The project it belongs to.
    pub project: ProjectRef,
    /// The environment's slug.
    pub name: EnvironmentName,
}

/// A deployment in an environment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeploymentRef {
    /// The environment it belongs to.
    pub environment: EnvironmentRef,
    /// The deployment's slug.
    pub name: DeploymentName,
}

/// A service of a deployment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    /// The deployment it belongs to.
    pub deployment: DeploymentRef,
    /// The service's slug.
    pub name: ServiceName,
}

impl ProjectRef {
    /// The project `name`.
    pub fn new(name: ProjectName) -> Self {
        Self { name }
    }

    /// Parses a project's slug.
    ///
    /// # Errors
    /// A [`RefError`] for [`Segment::Project`] when it is not a valid slug.
    pub fn parse(project: &str) -> Result<Self, RefError> {
        Ok(Self::new(segment(Segment::Project, project)?))
    }

    /// The environment `name` of this project.
    pub fn environment(self, name: EnvironmentName) -> EnvironmentRef {
        EnvironmentRef {
            project: self,
            name,
        }
    }
}

impl EnvironmentRef {
    /// Parses the slugs of a project and one of its environments.
    ///
    /// # Errors
    /// A [`RefError`] naming the outermost segment that is not a valid slug.
    pub fn parse(project: &str, environment: &str) -> Result<Self, RefError> {
        Ok(ProjectRef::parse(project)?.environment(segment(Segment::Environment, environment)?))
    }

    /// The deployment `name` in this environment.
    pub fn deployment(self, name: DeploymentName) -> DeploymentRef {
        DeploymentRef {
            environment: self,
            name,
        }
    }
}

impl DeploymentRef {
    /// Parses the slugs of a project, an environment and a deployment.
    ///
    /// # Errors
    /// A [`RefError`] naming the outermost segment that is not a valid slug.
    pub fn parse(project: &str, environment: &str, deployment: &str) -> Result<Self, RefError> {
        Ok(EnvironmentRef::parse(project, environment)?
            .deployment(segment(Segment::Deployment, deployment)?))
    }

    /// The service `name` of this deployment.
    pub fn service(self, name: ServiceName) -> ServiceRef {
        ServiceRef {
            deployment: self,
            name,
        }
    }
}

impl ServiceRef {
    /// Parses the slugs of a project, an environment, a deployment and a service.
    ///
    /// # Errors
    /// A [`RefError`] naming the outermost segment that is not a valid slug.
    pub fn parse(
        project: &str,
        environment: &str,
        deployment: &str,
        service: &str,
    ) -> Result<Self, RefError> {
        Ok(DeploymentRef::parse(project, environment, deployment)?
            .service(segment(Segment::Service, service)?))
    }
}

impl fmt::Display for ProjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

impl fmt::Display for EnvironmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.name)
    }
}

impl fmt::Display for DeploymentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.environment, self.name)
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.deployment, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_service() -> ServiceRef {
        ProjectRef::new("shop".parse().unwrap())
            .environment("dev".parse().unwrap())
            .deployment("web".parse().unwrap())
            .service("cache".parse().unwrap())
    }

    #[test]
    fn references_display_as_their_path() {
        let service = web_service();
        assert_eq!(service.to_string(), "shop/dev/web/cache");
        assert_eq!(service.deployment.to_string(), "shop/dev/web");
        assert_eq!(service.deployment.environment.to_string(), "shop/dev");
        assert_eq!(service.deployment.environment.project.to_string(), "shop");
    }

    #[test]
    fn parsing_valid_slugs_builds_the_same_reference() {
        assert_eq!(
            ServiceRef::parse("shop", "dev", "web", "cache").unwrap(),
            web_service()
        );
        assert_eq!(
            DeploymentRef::parse("shop", "dev", "web").unwrap(),
            web_service().deployment
        );
        assert_eq!(
            EnvironmentRef::parse("shop", "dev").unwrap(),
            web_service().deployment.environment
        );
        assert_eq!(
            ProjectRef::parse("shop").unwrap(),
            web_service().deployment.environment.project
        );
    }

    #[test]
    fn an_invalid_segment_is_named_outermost_first() {
        let cases = [
            (["Shop", "dev", "web", "cache"], Segment::Project, "Shop"),
            (
                ["shop", "dev!", "web", "cache"],
                Segment::Environment,
                "dev!",
            ),
            (["shop", "dev", "new", "cache"], Segment::Deployment, "new"),
            (["shop", "dev", "web", ""], Segment::Service, ""),
            (["shop", "Dev", "Web", "Cache"], Segment::Environment, "Dev"),
        ];
        for ([p, e, d, s], segment, value) in cases {
            let err = ServiceRef::parse(p, e, d, s).unwrap_err();
            assert_eq!(
                (err.segment, err.value()),
                (segment, value),
                "{p}/{e}/{d}/{s}"
            );
        }
        assert_eq!(
            ProjectRef::parse("a_b").unwrap_err().segment,
            Segment::Project
        );
        assert_eq!(
            EnvironmentRef::parse("shop", "1dev").unwrap_err().segment,
            Segment::Environment
        );
        assert_eq!(
            DeploymentRef::parse("shop", "dev", "web-")
                .unwrap_err()
                .segment,
            Segment::Deployment
        );
    }

    #[test]
    fn the_error_names_the_segment_its_text_and_the_rule() {
        let err = DeploymentRef::parse("shop", "dev", "Bad_Name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid deployment \"Bad_Name\" in the path: must start with a lower-case letter a-z"
        );
    }
}
