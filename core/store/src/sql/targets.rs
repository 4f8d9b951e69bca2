//! The SQL of targets and their grants.

use async_trait::async_trait;
use komander_domain::{
    ProjectId, TargetId,
    names::{ProjectName, TargetName},
};

use super::{Conn, SqlStore, audit::write_audit, expect_one, projects::lock_project};
use crate::{
    AuditRecord, PageRequest, Result, StoreError, StoredEndpoint, TargetRecord, TargetStore,
    records::{parse, rows::TargetRow},
};

const TARGET_COLUMNS: &str = "id, name, kind, address, tls_ca, tls_cert, tls_key, bind_root, \
     publish_addresses, max_memory_bytes, max_nano_cpus, is_default, created_at, updated_at";

/// The columns a target's endpoint is stored in.
struct EndpointColumns<'a> {
    kind: &'static str,
    address: &'a str,
    tls: [Option<&'a [u8]>; 3],
}

impl<'a> EndpointColumns<'a> {
    fn of(target: &'a TargetRecord) -> Self {
        match &target.endpoint {
            StoredEndpoint::Unix(socket) => EndpointColumns {
                kind: "unix",
                address: socket,
                tls: [None; 3],
            },
            StoredEndpoint::Tcp { address, tls } => EndpointColumns {
                kind: "tcp",
                address,
                tls: [Some(&tls.ca), Some(&tls.cert), Some(&tls.key)],
            },
        }
    }
}

/// The publish addresses as stored: a JSON array.
fn addresses(target: &TargetRecord) -> String {
    serde_json::to_string(&target.publish_addresses).expect("strings serialize")
}

/// When `target` is the default, clears the mark on every other target (the unique index
/// `targets__default` allows one at most).
async fn take_default(conn: &mut Conn, target: &TargetRecord) -> Result<()> {
    if target.is_default {
        sqlx::query("UPDATE targets SET is_default = FALSE WHERE is_default AND id <> $1")
            .bind(target.id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The environments (as `project/environment`) that name `target`, within `project` when
/// given, to name them in a refusal; a conflict listing them when there are any.
async fn refuse_if_used(
    conn: &mut Conn,
    target: TargetId,
    project: Option<ProjectId>,
    doing: &str,
) -> Result<()> {
    let used: Vec<String> = sqlx::query_scalar(
        "SELECT p.name || '/' || e.name FROM environments e \
         JOIN projects p ON p.id = e.project_id \
         WHERE e.target_id = $1 AND ($2 IS NULL OR e.project_id = $2) \
         ORDER BY p.name, e.name",
    )
    .bind(target.to_string())
    .bind(project.map(|p| p.to_string()))
    .fetch_all(&mut *conn)
    .await?;
    if used.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            field: Some("target".into()),
            message: format!(
                "cannot {doing}: the environment(s) {} name this target; point them at \
                 another target first",
                used.join(", ")
            ),
        })
    }
}

#[async_trait]
impl TargetStore for SqlStore {
    async fn create_target(&self, target: &TargetRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        take_default(&mut tx, target).await?;
        let EndpointColumns {
            kind,
            address,
            tls: [ca, cert, key],
        } = EndpointColumns::of(target);
        sqlx::query(
            "INSERT INTO targets (id, name, kind, address, tls_ca, tls_cert, tls_key, \
             bind_root, publish_addresses, max_memory_bytes, max_nano_cpus, is_default, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(target.id.to_string())
        .bind(target.name.as_str())
        .bind(kind)
        .bind(address)
        .bind(ca)
        .bind(cert)
        .bind(key)
        .bind(target.bind_root.as_deref())
        .bind(addresses(target))
        .bind(target.max_memory_bytes)
        .bind(target.max_nano_cpus)
        .bind(target.is_default)
        .bind(target.created_at)
        .bind(target.updated_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn target(&self, name: &TargetName) -> Result<Option<TargetRecord>> {
        let sql = format!("SELECT {TARGET_COLUMNS} FROM targets WHERE name = $1");
        sqlx::query_as::<_, TargetRow>(&sql)
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(TargetRecord::try_from)
            .transpose()
    }

    async fn default_target(&self) -> Result<Option<TargetRecord>> {
        let sql = format!("SELECT {TARGET_COLUMNS} FROM targets WHERE is_default");
        sqlx::query_as::<_, TargetRow>(&sql)
            .fetch_optional(&self.pool)
            .await?
            .map(TargetRecord::try_from)
            .transpose()
    }

    async fn list_targets(&self, page: &PageRequest) -> Result<Vec<TargetRecord>> {
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM targets WHERE name > COALESCE($1, '') \
             ORDER BY name LIMIT $2"
        );
        self.instance_page::<TargetRow, _>(&sql, page).await
    }

    async fn update_target(&self, target: &TargetRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        take_default(&mut tx, target).await?;
        let EndpointColumns {
            kind,
            address,
            tls: [ca, cert, key],
        } = EndpointColumns::of(target);
        let done = sqlx::query(
            "UPDATE targets SET kind = $1, address = $2, tls_ca = $3, tls_cert = $4, \
             tls_key = $5, bind_root = $6, publish_addresses = $7, max_memory_bytes = $8, \
             max_nano_cpus = $9, is_default = $10, updated_at = $11 WHERE id = $12",
        )
        .bind(kind)
        .bind(address)
        .bind(ca)
        .bind(cert)
        .bind(key)
        .bind(target.bind_root.as_deref())
        .bind(addresses(target))
        .bind(target.max_memory_bytes)
        .bind(target.max_nano_cpus)
        .bind(target.is_default)
        .bind(target.updated_at)
        .bind(target.id.to_string())
        .execute(&mut *tx)
        .await?;
        expect_one(done.rows_affected(), "target")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_target(&self, target: TargetId, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        refuse_if_used(&mut tx, target, None, "delete the target").await?;
        let done = sqlx::query("DELETE FROM targets WHERE id = $1")
            .bind(target.to_string())
            .execute(&mut *tx)
            .await?;
        expect_one(done.rows_affected(), "target")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn grant_target(
        &self,
        target: TargetId,
        project: ProjectId,
        at: i64,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO target_grants (target_id, project_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (target_id, project_id) DO NOTHING",
        )
        .bind(target.to_string())
        .bind(project.to_string())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_target(
        &self,
        target: TargetId,
        project: ProjectId,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // Environments check their grant under the same lock (`check_target`).
        lock_project(&mut tx, project).await?;
        refuse_if_used(&mut tx, target, Some(project), "revoke the grant").await?;
        let done =
            sqlx::query("DELETE FROM target_grants WHERE target_id = $1 AND project_id = $2")
                .bind(target.to_string())
                .bind(project.to_string())
                .execute(&mut *tx)
                .await?;
        expect_one(done.rows_affected(), "grant")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn target_grants(&self, target: TargetId) -> Result<Vec<ProjectName>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT p.name FROM target_grants g JOIN projects p ON p.id = g.project_id \
             WHERE g.target_id = $1 ORDER BY p.name",
        )
        .bind(target.to_string())
        .fetch_all(&self.pool)
        .await?;
        names.iter().map(|n| parse("projects", n)).collect()
    }

    async fn project_targets(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<TargetRecord>> {
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM targets \
             WHERE id IN (SELECT target_id FROM target_grants WHERE project_id = $1) \
             AND name > COALESCE($2, '') ORDER BY name LIMIT $3"
        );
        self.scoped_page::<TargetRow, _>(&sql, project.to_string(), page)
            .await
    }
}
