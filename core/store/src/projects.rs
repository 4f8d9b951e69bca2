//! Projects, each with the viewer's role in it.

use async_trait::async_trait;
use komander_domain::{ProjectId, Role, UserId, Visibility, names::ProjectName};

use crate::{AuditRecord, PageRequest, ProjectRecord, Result};

/// Projects. Implemented in `sql/projects.rs`.
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Creates a project with `project.created_by` as its Admin.
    async fn create_project(&self, project: &ProjectRecord, audit: &AuditRecord) -> Result<()>;

    /// The project named `name`, with `viewer`'s role in it (`None`: not a member).
    async fn project(
        &self,
        name: &ProjectName,
        viewer: UserId,
    ) -> Result<Option<(ProjectRecord, Option<Role>)>>;

    /// The projects `visibility` sees, in name order, with the viewer's role.
    async fn list_projects(
        &self,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<(ProjectRecord, Role)>>;

    /// Saves a project's display name and description.
    async fn update_project(&self, project: &ProjectRecord, audit: &AuditRecord) -> Result<()>;

    /// Deletes a project and everything in it (never anything in a git provider).
    async fn delete_project(&self, project: ProjectId, audit: &AuditRecord) -> Result<()>;
}
