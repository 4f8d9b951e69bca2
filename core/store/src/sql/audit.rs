//! The audit log's SQL: the entry every write records in its own transaction, and the log.

use async_trait::async_trait;
use komander_domain::ProjectId;

use super::{Conn, SqlStore};
use crate::{AuditRecord, AuditStore, PageRequest, Result, records::rows::AuditRow};

/// Writes an audit entry on `conn`: inside the caller's transaction, so the entry and the
/// change it records commit together.
pub(super) async fn write_audit(conn: &mut Conn, audit: &AuditRecord) -> Result<()> {
    let fields = serde_json::to_string(&audit.fields).expect("a list of strings serializes");
    sqlx::query(
        "INSERT INTO audit_log (id, project_id, actor_id, actor_handle, action, target, \
         fields, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(audit.id.to_string())
    .bind(audit.project_id.map(|p| p.to_string()))
    .bind(audit.actor_id.to_string())
    .bind(&audit.actor_handle)
    .bind(&audit.action)
    .bind(&audit.target)
    .bind(fields)
    .bind(audit.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, audit: &AuditRecord) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        write_audit(&mut conn, audit).await
    }

    async fn list_audit(&self, project: ProjectId, page: &PageRequest) -> Result<Vec<AuditRecord>> {
        self.scoped_page::<AuditRow, _>(
            "SELECT id, project_id, actor_id, actor_handle, action, target, fields, at \
             FROM audit_log WHERE project_id = $1 AND id < COALESCE($2, '~') \
             ORDER BY id DESC LIMIT $3",
            project.to_string(),
            page,
        )
        .await
    }
}
