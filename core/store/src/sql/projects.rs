//! The SQL of projects, and the project-row lock that multi-step writes take.
//!
//! A multi-step write in a project locks the project's row first with a no-op `UPDATE`, which
//! serializes concurrent writers on PostgreSQL as `BEGIN IMMEDIATE` does on SQLite, so
//! invariants such as "a project keeps one Admin" hold under concurrency.

use async_trait::async_trait;
use komander_domain::{ProjectId, Role, UserId, Visibility, names::ProjectName};

use super::{Conn, SqlStore, audit::write_audit, expect_one, limit};
use crate::{
    AuditRecord, PageRequest, ProjectRecord, ProjectStore, Result, StoreError,
    records::rows::ProjectRow,
};

/// A project's columns and the viewer's role: `projects p` joined with `members m`.
const PROJECT_COLUMNS: &str = "p.id, p.name, p.display_name, p.description, \
     p.created_by, p.created_at, p.updated_at, m.role";

/// Locks the project's row for the rest of the transaction (see the module docs);
/// [`StoreError::NotFound`] when the project is gone.
pub(super) async fn lock_project(conn: &mut Conn, project: ProjectId) -> Result<()> {
    let done = sqlx::query("UPDATE projects SET updated_at = updated_at WHERE id = $1")
        .bind(project.to_string())
        .execute(&mut *conn)
        .await?;
    expect_one(done.rows_affected(), "project")
}

#[async_trait]
impl ProjectStore for SqlStore {
    async fn create_project(&self, project: &ProjectRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO projects (id, name, display_name, description, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(project.id.to_string())
        .bind(project.name.as_str())
        .bind(&project.display_name)
        .bind(&project.description)
        .bind(project.created_by.to_string())
        .bind(project.created_at)
        .bind(project.updated_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO members (project_id, project_name, user_id, role, created_at) \
             VALUES ($1, $2, $3, 'admin', $4)",
        )
        .bind(project.id.to_string())
        .bind(project.name.as_str())
        .bind(project.created_by.to_string())
        .bind(project.created_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn project(
        &self,
        name: &ProjectName,
        viewer: UserId,
    ) -> Result<Option<(ProjectRecord, Option<Role>)>> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects p LEFT JOIN members m \
             ON m.project_id = p.id AND m.user_id = $1 WHERE p.name = $2"
        );
        sqlx::query_as::<_, ProjectRow>(&sql)
            .bind(viewer.to_string())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(ProjectRow::decode)
            .transpose()
    }

    async fn list_projects(
        &self,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<(ProjectRecord, Role)>> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM members m JOIN projects p \
             ON p.id = m.project_id WHERE m.user_id = $1 \
             AND m.project_name > COALESCE($2, '') ORDER BY m.project_name LIMIT $3"
        );
        sqlx::query_as::<_, ProjectRow>(&sql)
            .bind(visibility.user.to_string())
            .bind(page.after.as_deref())
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|row| {
                let (project, role) = row.decode()?;
                let role = role.ok_or(StoreError::Corrupt {
                    table: "members",
                    detail: "a membership without a role".into(),
                })?;
                Ok((project, role))
            })
            .collect()
    }

    async fn update_project(&self, project: &ProjectRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE projects SET display_name = $1, description = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(&project.display_name)
        .bind(&project.description)
        .bind(project.updated_at)
        .bind(project.id.to_string())
        .execute(&mut *tx)
        .await?;
        expect_one(done.rows_affected(), "project")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_project(&self, project: ProjectId, audit: &AuditRecord) -> Result<()> {
        self.delete_audited(
            "DELETE FROM projects WHERE id = $1",
            &[project.to_string()],
            "project",
            audit,
        )
        .await
    }
}
