//! The audit log's SQL: the entry every write records in its own transaction, and the log.

use async_trait::async_trait;
use komander_domain::{ProjectId, Visibility};

use super::{Conn, SqlStore, decode_all, limit};
use crate::{AuditRecord, AuditStore, PageRequest, Result, records::rows::AuditRow};

/// Writes an audit entry on `conn`: inside the caller's transaction, so the entry and the
/// change it records commit together.
pub(super) async fn write_audit(conn: &mut Conn, audit: &AuditRecord) -> Result<()> {
    let fields = serde_json::to_string(&audit.fields).expect("a list of strings serializes");
    sqlx::query(
        "INSERT INTO audit_log (id, project_id, actor_id, actor_handle, action, target, \
         fields, at, private_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(audit.id.to_string())
    .bind(audit.project_id.map(|p| p.to_string()))
    .bind(audit.actor_id.to_string())
    .bind(&audit.actor_handle)
    .bind(&audit.action)
    .bind(&audit.target)
    .bind(fields)
    .bind(audit.at)
    .bind(audit.private_to.map(|u| u.to_string()))
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

    async fn list_audit(
        &self,
        project: ProjectId,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<AuditRecord>> {
        decode_all(
            sqlx::query_as::<_, AuditRow>(
                "SELECT id, project_id, actor_id, actor_handle, action, target, fields, at, \
                 private_to FROM audit_log WHERE project_id = $1 \
                 AND (private_to IS NULL OR private_to = $2) AND id < COALESCE($3, '~') \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(project.to_string())
            .bind(visibility.user.to_string())
            .bind(page.after.as_deref())
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await?,
        )
    }
}
