//! The `kv` capability's data in Komander's database.

use std::sync::Arc;

use komander_plugin_host::{
    capabilities::{BYTES_PER_SCOPE, KEYS_PER_SCOPE, KvScope, KvStore},
    runtime::GuestError,
};
use komander_store::{KvQuota, Store, StoreError};

use crate::App;

/// The `kv` capability's data in Komander's database, scoped by plugin install and project,
/// with the plugin host's quota enforced in the same transaction as the write.
pub struct DatabaseKv {
    store: Arc<dyn Store>,
}

impl DatabaseKv {
    /// The kv data of `app`'s database.
    pub fn new(app: &App) -> DatabaseKv {
        DatabaseKv {
            store: app.store.clone(),
        }
    }
}

fn kv_error(e: StoreError) -> GuestError {
    match e {
        StoreError::Conflict { message, .. } => GuestError::Denied(message),
        StoreError::NotFound(what) => GuestError::NotFound(format!("{what} is not installed")),
        other => GuestError::Unavailable(format!("the kv store failed: {other}")),
    }
}

#[async_trait::async_trait]
impl KvStore for DatabaseKv {
    async fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, GuestError> {
        let project = scope.project.as_deref().unwrap_or_default();
        self.store
            .kv_get(&scope.install, project, key)
            .await
            .map_err(kv_error)
    }

    async fn set(&self, scope: &KvScope, key: &str, value: Vec<u8>) -> Result<(), GuestError> {
        let project = scope.project.as_deref().unwrap_or_default();
        let quota = KvQuota {
            keys: KEYS_PER_SCOPE as u64,
            bytes: BYTES_PER_SCOPE as u64,
        };
        self.store
            .kv_set(&scope.install, project, key, &value, quota)
            .await
            .map_err(kv_error)
    }

    async fn delete(&self, scope: &KvScope, key: &str) -> Result<bool, GuestError> {
        let project = scope.project.as_deref().unwrap_or_default();
        self.store
            .kv_delete(&scope.install, project, key)
            .await
            .map_err(kv_error)
    }

    async fn list_keys(&self, scope: &KvScope, prefix: &str) -> Result<Vec<String>, GuestError> {
        let project = scope.project.as_deref().unwrap_or_default();
        self.store
            .kv_keys(&scope.install, project, prefix, KEYS_PER_SCOPE as u32)
            .await
            .map_err(kv_error)
    }
}
