//! A project's environments.

use async_trait::async_trait;
use komander_domain::{EnvironmentId, ProjectId, names::EnvironmentName};

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

    /// Saves an environment's display name, executor and settings.
    async fn update_environment(
        &self,
        environment: &EnvironmentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes an environment. Unless `force`, refuses one that holds deployments (the
    /// conflict names the count); with `force`, deletes them too and answers how many.
    async fn delete_environment(
        &self,
        environment: EnvironmentId,
        force: bool,
        audit: &AuditRecord,
    ) -> Result<u64>;
}
