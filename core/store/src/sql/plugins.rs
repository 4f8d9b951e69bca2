//! The SQL of installed plugins and their connections.

use async_trait::async_trait;

use super::{SqlStore, audit::write_audit, decode_all, expect_one};
use crate::{
    AuditRecord, ConnectionRecord, PageRequest, PluginRecord, PluginStore, Result, StoreError,
    records::rows::{ConnectionRow, PluginRow},
};

const PLUGIN_COLUMNS: &str = "id, version, kind, world, digest, manifest, requested, granted, \
     status, installed_by, installed_at, updated_at, config, artifact_sha256";

/// A list of strings as stored: a JSON array.
fn json_list(list: &[String]) -> String {
    serde_json::to_string(list).expect("strings serialize")
}

#[async_trait]
impl PluginStore for SqlStore {
    async fn create_plugin(&self, plugin: &PluginRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO plugins (id, version, kind, world, digest, manifest, requested, \
             granted, status, installed_by, installed_at, updated_at, config, artifact_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&plugin.id)
        .bind(&plugin.version)
        .bind(&plugin.kind)
        .bind(plugin.world.as_deref())
        .bind(&plugin.digest)
        .bind(&plugin.manifest)
        .bind(json_list(&plugin.requested))
        .bind(json_list(&plugin.granted))
        .bind(plugin.status.as_str())
        .bind(plugin.installed_by.to_string())
        .bind(plugin.installed_at)
        .bind(plugin.updated_at)
        .bind(&plugin.config)
        .bind(plugin.artifact.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => StoreError::Conflict {
                field: Some("id".into()),
                message: format!("a plugin with id {:?} is installed: upgrade it", plugin.id),
            },
            other => other,
        })?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_plugin(&self, plugin: &PluginRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE plugins SET version = $1, kind = $2, world = $3, digest = $4, \
             manifest = $5, requested = $6, granted = $7, status = $8, \
             installed_by = $9, updated_at = $10, config = $11, artifact_sha256 = $12 \
             WHERE id = $13",
        )
        .bind(&plugin.version)
        .bind(&plugin.kind)
        .bind(plugin.world.as_deref())
        .bind(&plugin.digest)
        .bind(&plugin.manifest)
        .bind(json_list(&plugin.requested))
        .bind(json_list(&plugin.granted))
        .bind(plugin.status.as_str())
        .bind(plugin.installed_by.to_string())
        .bind(plugin.updated_at)
        .bind(&plugin.config)
        .bind(plugin.artifact.as_deref())
        .bind(&plugin.id)
        .execute(&mut *tx)
        .await?;
        expect_one(done.rows_affected(), "plugin")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_plugin_artifact(
        &self,
        id: &str,
        digest: &str,
        artifact: Option<&str>,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE plugins SET artifact_sha256 = $1 WHERE id = $2 AND digest = $3")
                .bind(artifact)
                .bind(id)
                .bind(digest)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn put_plugin_component(&self, sha256: &str, bytes: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO plugin_components (sha256, bytes) VALUES ($1, $2) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn plugin_component(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT bytes FROM plugin_components WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn prune_plugin_components(&self) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM plugin_components WHERE sha256 NOT IN (SELECT digest FROM plugins)",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn mark_plugin_incompatible(&self, id: &str, digest: &str, at: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE plugins SET status = 'incompatible', updated_at = $1 \
             WHERE id = $2 AND digest = $3 AND status <> 'incompatible'",
        )
        .bind(at)
        .bind(id)
        .bind(digest)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn plugin(&self, id: &str) -> Result<Option<PluginRecord>> {
        let sql = format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = $1");
        sqlx::query_as::<_, PluginRow>(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(PluginRecord::try_from)
            .transpose()
    }

    async fn list_plugins(&self, page: &PageRequest) -> Result<Vec<PluginRecord>> {
        let sql = format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id > COALESCE($1, '') \
             ORDER BY id LIMIT $2"
        );
        self.instance_page::<PluginRow, _>(&sql, page).await
    }

    async fn delete_plugin(&self, id: &str, audit: &AuditRecord) -> Result<()> {
        self.delete_audited(
            "DELETE FROM plugins WHERE id = $1",
            &[id.to_owned()],
            "plugin",
            audit,
        )
        .await
    }

    async fn plugin_connections(&self, plugin: &str) -> Result<Vec<ConnectionRecord>> {
        decode_all(
            sqlx::query_as::<_, ConnectionRow>(
                "SELECT id, plugin_id, name, base_url, credential, allow_private, \
                 path_prefixes, requests_per_minute, updated_at \
                 FROM plugin_connections WHERE plugin_id = $1 ORDER BY name",
            )
            .bind(plugin)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn put_plugin_connection(
        &self,
        connection: &ConnectionRecord,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO plugin_connections (id, plugin_id, name, base_url, credential, \
             allow_private, path_prefixes, requests_per_minute, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (plugin_id, name) DO UPDATE SET id = excluded.id, \
             base_url = excluded.base_url, credential = excluded.credential, \
             allow_private = excluded.allow_private, \
             path_prefixes = excluded.path_prefixes, \
             requests_per_minute = excluded.requests_per_minute, \
             updated_at = excluded.updated_at",
        )
        .bind(&connection.id)
        .bind(&connection.plugin_id)
        .bind(&connection.name)
        .bind(&connection.base_url)
        .bind(connection.credential.as_deref())
        .bind(connection.allow_private)
        .bind(json_list(&connection.path_prefixes))
        .bind(connection.requests_per_minute)
        .bind(connection.updated_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_plugin_connection(
        &self,
        plugin: &str,
        name: &str,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.delete_audited(
            "DELETE FROM plugin_connections WHERE plugin_id = $1 AND name = $2",
            &[plugin.to_owned(), name.to_owned()],
            "connection",
            audit,
        )
        .await
    }
}
