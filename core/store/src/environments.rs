//! A project's environments.

use async_trait::async_trait;
use komander_domain::{EnvironmentId, Executor, ProjectId, names::EnvironmentName};

use crate::{AuditRecord, EnvironmentRecord, PageRequest, Result};

/// Environments. Implemented in `sql/environments.rs`.
#[async_trait]
pub trait EnvironmentStore: Send + Sync {
    /// Creates an environment.
    async fn create_environment(
        &self,
        environment: &EnvironmentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// A project's environment by name.
    async fn environment(
        &self,
        project: ProjectId,
        name: &EnvironmentName,
    ) -> Result<Option<EnvironmentRecord>>;

    /// A project's environments in name order.
    async fn list_environments(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<EnvironmentRecord>>;

    /// Saves an environment's display name, executor and settings, if its executor is still
    /// `previous` ([`StoreError::Conflict`](crate::StoreError::Conflict) otherwise: someone
    /// switched it meanwhile). A switch from `server` to `local` also clears every secret
    /// variable value of the environment's deployments, in the same transaction; answers how
    /// many values were cleared.
    async fn update_environment(
        &self,
        environment: &EnvironmentRecord,
        previous: Executor,
        audit: &AuditRecord,
    ) -> Result<u64>;

    /// Deletes an environment. Unless `force`, refuses one that holds deployments (the
    /// conflict names the count); with `force`, deletes them too and answers how many.
    async fn delete_environment(
        &self,
        environment: EnvironmentId,
        force: bool,
        audit: &AuditRecord,
    ) -> Result<u64>;
}
