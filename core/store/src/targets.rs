//! Targets: the Docker Engines `server` deployments run on, and their grants to projects.

use async_trait::async_trait;
use komander_domain::{
    ProjectId, TargetId,
    names::{ProjectName, TargetName},
};

use crate::{AuditRecord, PageRequest, Result, TargetRecord};

/// Targets and their grants. Implemented in `sql/targets.rs`.
#[async_trait]
pub trait TargetStore: Send + Sync {
    /// Registers a target; when it is the default, the previous default stops being one, in
    /// the same transaction. [`StoreError::Conflict`](crate::StoreError::Conflict) on `name`
    /// when the name is taken.
    async fn create_target(&self, target: &TargetRecord, audit: &AuditRecord) -> Result<()>;

    /// The target named `name`.
    async fn target(&self, name: &TargetName) -> Result<Option<TargetRecord>>;

    /// The default target, if one is marked.
    async fn default_target(&self) -> Result<Option<TargetRecord>>;

    /// Every target, by name.
    async fn list_targets(&self, page: &PageRequest) -> Result<Vec<TargetRecord>>;

    /// Saves a target's endpoint, policy and default mark (as [`TargetStore::create_target`]
    /// for the mark). [`StoreError::NotFound`](crate::StoreError::NotFound) when it is gone.
    async fn update_target(&self, target: &TargetRecord, audit: &AuditRecord) -> Result<()>;

    /// Deletes a target and its grants. Refuses one an environment names, with a conflict
    /// naming them (`project/environment`).
    async fn delete_target(&self, target: TargetId, audit: &AuditRecord) -> Result<()>;

    /// Grants a target to a project (granting it again changes nothing).
    async fn grant_target(
        &self,
        target: TargetId,
        project: ProjectId,
        at: i64,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Revokes a project's grant of a target. Refuses while an environment of the project
    /// names the target, with a conflict naming them;
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when there is no such grant.
    async fn revoke_target(
        &self,
        target: TargetId,
        project: ProjectId,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// The projects a target is granted to, by name.
    async fn target_grants(&self, target: TargetId) -> Result<Vec<ProjectName>>;

    /// The targets granted to a project, by name.
    async fn project_targets(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<TargetRecord>>;
}
