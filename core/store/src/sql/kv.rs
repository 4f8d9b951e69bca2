//! The SQL of plugins' kv scopes and their quotas.

use async_trait::async_trait;

use super::{SqlStore, expect_one};
use crate::{KvQuota, KvStore, Result, StoreError};

#[async_trait]
impl KvStore for SqlStore {
    async fn kv_get(&self, plugin: &str, project: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2 AND key = $3",
        )
        .bind(plugin)
        .bind(project)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn kv_set(
        &self,
        plugin: &str,
        project: &str,
        key: &str,
        value: &[u8],
        quota: KvQuota,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // Lock the install's row: concurrent writers of one scope take turns, so the quota
        // holds.
        let locked = sqlx::query("UPDATE plugins SET updated_at = updated_at WHERE id = $1")
            .bind(plugin)
            .execute(&mut *tx)
            .await?;
        expect_one(locked.rows_affected(), "plugin")?;
        let (keys, bytes, replaced, present): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN key = $3 THEN size ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN key = $3 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2",
        )
        .bind(plugin)
        .bind(project)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let size = (key.len() + value.len()) as i64;
        let new_key = present == 0;
        if new_key && keys as u64 >= quota.keys {
            return Err(StoreError::conflict(format!(
                "kv quota: at most {} keys",
                quota.keys
            )));
        }
        if (bytes - replaced + size) as u64 > quota.bytes {
            return Err(StoreError::conflict(format!(
                "kv quota: at most {} bytes of keys and values",
                quota.bytes
            )));
        }
        sqlx::query(
            "INSERT INTO plugin_kv (plugin_id, project_id, key, value, size) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (plugin_id, project_id, key) \
             DO UPDATE SET value = excluded.value, size = excluded.size",
        )
        .bind(plugin)
        .bind(project)
        .bind(key)
        .bind(value)
        .bind(size)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn kv_delete(&self, plugin: &str, project: &str, key: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2 AND key = $3",
        )
        .bind(plugin)
        .bind(project)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn kv_keys(
        &self,
        plugin: &str,
        project: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key FROM plugin_kv WHERE plugin_id = $1 AND project_id = $2 \
             AND substr(key, 1, length($3)) = $3 ORDER BY key LIMIT $4",
        )
        .bind(plugin)
        .bind(project)
        .bind(prefix)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}
