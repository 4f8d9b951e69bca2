//! Installed plugins and the HTTP connections configured for them.

use async_trait::async_trait;

use crate::{AuditRecord, ConnectionRecord, PageRequest, PluginRecord, Result};

/// Plugins and their connections. Implemented in `sql/plugins.rs`.
#[async_trait]
pub trait PluginStore: Send + Sync {
    /// Records a new plugin; [`StoreError::Conflict`](crate::StoreError::Conflict) when one
    /// with its id is installed.
    async fn create_plugin(&self, plugin: &PluginRecord, audit: &AuditRecord) -> Result<()>;

    /// Saves a plugin's version, digest, manifest, grants and status.
    async fn update_plugin(&self, plugin: &PluginRecord, audit: &AuditRecord) -> Result<()>;

    /// Records the SHA-256 of the precompiled artifact the server wrote for install `id`,
    /// when its component is still `digest` (an upgrade in between keeps its own). Server
    /// bookkeeping, not a change anyone made: no audit entry. Answers whether it was recorded.
    async fn set_plugin_artifact(
        &self,
        id: &str,
        digest: &str,
        artifact: Option<&str>,
    ) -> Result<bool>;

    /// Keeps a component's bytes under their SHA-256 (hex) for every server sharing the
    /// database; keeping one that is there already changes nothing.
    async fn put_plugin_component(&self, sha256: &str, bytes: &[u8]) -> Result<()>;

    /// The component whose SHA-256 (hex) is `sha256`, if kept.
    async fn plugin_component(&self, sha256: &str) -> Result<Option<Vec<u8>>>;

    /// Deletes the kept components that no installed plugin uses; answers how many.
    async fn prune_plugin_components(&self) -> Result<u64>;

    /// Marks install `id` as `incompatible` (see
    /// [`PluginStatus::Incompatible`](komander_domain::api::PluginStatus::Incompatible)) at
    /// `at` (ms), when its component is still `digest` and it is not marked yet. The server's
    /// own finding at start, not a change anyone made: no audit entry. Answers whether it
    /// changed.
    async fn mark_plugin_incompatible(&self, id: &str, digest: &str, at: i64) -> Result<bool>;

    /// The plugin with this id.
    async fn plugin(&self, id: &str) -> Result<Option<PluginRecord>>;

    /// Installed plugins, by id.
    async fn list_plugins(&self, page: &PageRequest) -> Result<Vec<PluginRecord>>;

    /// Forgets a plugin.
    async fn delete_plugin(&self, id: &str, audit: &AuditRecord) -> Result<()>;

    /// A plugin's connections, by name.
    async fn plugin_connections(&self, plugin: &str) -> Result<Vec<ConnectionRecord>>;

    /// Creates or replaces a plugin's connection (keyed by plugin and name; the row takes
    /// `connection.id`, the id its credential was sealed for).
    async fn put_plugin_connection(
        &self,
        connection: &ConnectionRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes a plugin's connection.
    async fn delete_plugin_connection(
        &self,
        plugin: &str,
        name: &str,
        audit: &AuditRecord,
    ) -> Result<()>;
}
