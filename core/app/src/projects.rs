//! Projects: create (the creator becomes Admin), list what one is a member of, edit, delete,
//! and read the project's audit log.

use komander_domain::{
    Action, ProjectId, ProjectRef, Role,
    api::{AuditEntry, NewProject, Page, PageQuery, Project, ProjectPatch},
    names::check_text,
    timestamps,
};
use komander_store::ProjectRecord;
use tracing::{info, instrument};

use crate::{App, AppError, Caller, Paging, Result};

fn project_view(p: ProjectRecord, role: Role) -> Project {
    Project {
        id: p.id,
        name: p.name,
        display_name: p.display_name,
        description: p.description,
        role,
        created_at: timestamps::from_millis(p.created_at),
        updated_at: timestamps::from_millis(p.updated_at),
    }
}

/// Validates an optional display name (1 to 100 characters).
pub(crate) fn display_name(value: Option<&str>) -> Result<Option<String>> {
    value
        .map(|d| check_text("display name", d, 100).map_err(|e| AppError::name("display_name", e)))
        .transpose()
}

fn description(value: Option<&str>) -> Result<Option<String>> {
    match value {
        // White space alone clears it; a control character in it is refused below.
        Some(d) if d.trim().is_empty() && !d.contains(|c: char| c.is_control() && c != '\n') => {
            Ok(Some(String::new()))
        }
        Some(d) => check_text("description", d, 1000)
            .map(Some)
            .map_err(|e| AppError::name("description", e)),
        None => Ok(None),
    }
}

impl App {
    /// `POST /api/v1/projects`: creates a project; the caller becomes its Admin.
    ///
    /// # Errors
    /// Invalid input; conflict when the name is taken.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %new.name))]
    pub async fn create_project(&self, caller: &Caller, new: NewProject) -> Result<Project> {
        let now = timestamps::to_millis(timestamps::now());
        let project = ProjectRecord {
            id: ProjectId::new(),
            display_name: display_name(new.display_name.as_deref())?
                .unwrap_or_else(|| new.name.to_string()),
            description: description(new.description.as_deref())?.unwrap_or_default(),
            name: new.name,
            created_by: caller.user.id,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(
            caller,
            Some(project.id),
            "project.create",
            project.name.to_string(),
            &["name", "display_name", "description"],
        );
        self.store
            .create_project(&project, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "project"))?;
        info!("project created");
        Ok(project_view(project, Role::Admin))
    }

    /// `GET /api/v1/projects`: the projects the caller is a member of, by name.
    ///
    /// # Errors
    /// Invalid paging.
    pub async fn list_projects(&self, caller: &Caller, query: &PageQuery) -> Result<Page<Project>> {
        let (paging, page) = Paging::new(query)?;
        let rows = self
            .store
            .list_projects(caller.actor().visibility(), &page)
            .await?;
        paging.page(
            rows,
            |(p, _)| p.name.to_string(),
            |(p, role)| Ok(project_view(p, role)),
        )
    }

    /// `GET /api/v1/projects/{project}`.
    ///
    /// # Errors
    /// Not found unless the caller is a member.
    pub async fn get_project(&self, caller: &Caller, project: &ProjectRef) -> Result<Project> {
        let scope = self
            .project_scope(caller, project, Action::ViewProject)
            .await?;
        Ok(project_view(scope.project, scope.role))
    }

    /// `PATCH /api/v1/projects/{project}` (Admins).
    ///
    /// # Errors
    /// Not found, forbidden, invalid input.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project))]
    pub async fn update_project(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        patch: ProjectPatch,
    ) -> Result<Project> {
        let scope = self
            .project_scope(caller, project, Action::EditProject)
            .await?;
        let mut record = scope.project;
        let mut fields = Vec::new();
        if let Some(d) = display_name(patch.display_name.as_deref())? {
            record.display_name = d;
            fields.push("display_name");
        }
        if let Some(d) = description(patch.description.as_deref())? {
            record.description = d;
            fields.push("description");
        }
        record.updated_at = timestamps::to_millis(timestamps::now());
        let audit = self.audit(
            caller,
            Some(record.id),
            "project.update",
            record.name.to_string(),
            &fields,
        );
        self.store.update_project(&record, &audit).await?;
        Ok(project_view(record, scope.role))
    }

    /// `DELETE /api/v1/projects/{project}` (Admins): deletes it with its environments and
    /// deployments; nothing in the git provider is touched.
    ///
    /// # Errors
    /// Not found, forbidden.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project))]
    pub async fn delete_project(&self, caller: &Caller, project: &ProjectRef) -> Result<()> {
        let scope = self
            .project_scope(caller, project, Action::DeleteProject)
            .await?;
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "project.delete",
            scope.project.name.to_string(),
            &[],
        );
        self.store.delete_project(scope.project.id, &audit).await?;
        info!("project deleted");
        Ok(())
    }

    /// `GET /api/v1/projects/{project}/audit` (Admins): newest first. Entries about a private
    /// deployment (its services and variables included) are listed to its owner alone.
    ///
    /// # Errors
    /// Not found, forbidden, invalid paging.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        query: &PageQuery,
    ) -> Result<Page<AuditEntry>> {
        let scope = self
            .project_scope(caller, project, Action::ReadAudit)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self
            .store
            .list_audit(scope.project.id, caller.actor().visibility(), &page)
            .await?;
        paging.page(
            rows,
            |a| a.id.to_string(),
            |a| {
                Ok(AuditEntry {
                    at: timestamps::from_millis(a.at),
                    actor: a.actor_handle,
                    action: a.action,
                    target: a.target,
                    fields: a.fields,
                })
            },
        )
    }
}
