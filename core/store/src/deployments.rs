//! An environment's deployments, and the one read that gives a deployment's whole spec.

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, EnvironmentId, Visibility,
    names::{DeploymentName, EnvironmentName, ProjectName},
};

use crate::{AuditRecord, DeploymentRecord, DeploymentWithServices, PageRequest, Result};

/// Deployments. Implemented in `sql/deployments.rs`.
#[async_trait]
pub trait DeploymentStore: Send + Sync {
    /// Creates a deployment.
    async fn create_deployment(
        &self,
        deployment: &DeploymentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// An environment's deployment by name, whoever owns it (authorization decides who sees it).
    async fn deployment(
        &self,
        environment: EnvironmentId,
        name: &DeploymentName,
    ) -> Result<Option<DeploymentRecord>>;

    /// The deployments of an environment that `visibility` sees (shared ones and the viewer's
    /// own), in name order.
    async fn list_deployments(
        &self,
        environment: EnvironmentId,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>>;

    /// The deployment with this id, with all its services in name order, each with all its
    /// variables in name order, read in one transaction (one snapshot on both backends): the
    /// spec a runtime call starts from. Not paged: a deployment's services are bounded.
    /// `Ok(None)` when no deployment has this id.
    async fn deployment_with_services(
        &self,
        deployment: DeploymentId,
    ) -> Result<Option<DeploymentWithServices>>;

    /// The slugs of deployment `deployment`'s project and environment and its own: how a
    /// server that resumes an operation finds the deployment without a caller's path.
    async fn deployment_path(
        &self,
        deployment: DeploymentId,
    ) -> Result<Option<(ProjectName, EnvironmentName, DeploymentName)>>;

    /// Saves a deployment's display name.
    async fn update_deployment(
        &self,
        deployment: &DeploymentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes a deployment with its services and variables.
    async fn delete_deployment(&self, deployment: DeploymentId, audit: &AuditRecord) -> Result<()>;

    /// How many secret variable values are set in the services `of` names: what sharing the
    /// deployment, or switching the environment to `local`, would clear.
    async fn count_secret_values(&self, of: SecretsOf) -> Result<u64>;

    /// Shares a deployment and clears every secret variable value in it, in one transaction;
    /// answers how many values were cleared.
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) when already shared.
    async fn share_deployment(
        &self,
        deployment: DeploymentId,
        now_ms: i64,
        audit: &AuditRecord,
    ) -> Result<u64>;
}

/// Whose secret variable values a write clears or a count counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretsOf {
    /// One deployment's.
    Deployment(DeploymentId),
    /// Those of every deployment in an environment.
    Environment(EnvironmentId),
}
