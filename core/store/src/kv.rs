//! Each plugin's key-value scopes, one per project (and one outside any project), with quotas.

use async_trait::async_trait;

use crate::Result;

/// The most a plugin's kv scope may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvQuota {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// Plugins' kv scopes. Implemented in `sql/kv.rs`.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value of `key` in a plugin's kv scope (`project` empty outside any project).
    async fn kv_get(&self, plugin: &str, project: &str, key: &str) -> Result<Option<Vec<u8>>>;

    /// Sets `key` in a plugin's kv scope, unless the scope would then hold more than
    /// `quota.keys` keys or `quota.bytes` bytes of keys and values:
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) naming the limit.
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when the plugin is not installed.
    async fn kv_set(
        &self,
        plugin: &str,
        project: &str,
        key: &str,
        value: &[u8],
        quota: KvQuota,
    ) -> Result<()>;

    /// Deletes `key`, answering whether it existed.
    async fn kv_delete(&self, plugin: &str, project: &str, key: &str) -> Result<bool>;

    /// The keys of a scope starting with `prefix`, in order, at most `limit`.
    async fn kv_keys(
        &self,
        plugin: &str,
        project: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>>;
}
