//! `komander:host/kv`: a small key-value store per (install, project), with a quota.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use super::call::{CallContext, Capability, HostCapability};
use crate::{
    bindings::{kv::Host, to_wit, types::Error as WitError},
    error::HostError,
    host::HostState,
    runtime::GuestError,
};

/// The longest key, in bytes.
pub const KEY_BYTES: usize = 256;
/// The largest value, in bytes.
pub const VALUE_BYTES: usize = 64 << 10;
/// Keys per scope.
pub const KEYS_PER_SCOPE: usize = 1024;
/// Bytes of keys and values per scope.
pub const BYTES_PER_SCOPE: usize = 1 << 20;

/// Whose keys these are: one install, in one project (or outside any project).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvScope {
    /// The install's id.
    pub install: String,
    /// The project's id, when the call concerns one.
    pub project: Option<String>,
}

/// The `kv` capability: a call holds the store and its scope in it, when the embedder gave
/// one.
pub(crate) struct KvCapability;

impl HostCapability for KvCapability {
    type Grant = Option<(Arc<dyn KvStore>, KvScope)>;
    type State = Self::Grant;

    fn prepare(store: Self::Grant) -> Self::Grant {
        store
    }
}

/// Where kv data lives: in the database for a server ([`KvStore`] is implemented over the
/// store by the app), in memory for tests. Implementations enforce the quota atomically with
/// the write and answer `denied` over it.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync {
    /// The value of `key`.
    async fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, GuestError>;
    /// Sets `key`; `denied` when the scope would go over its quota.
    async fn set(&self, scope: &KvScope, key: &str, value: Vec<u8>) -> Result<(), GuestError>;
    /// Deletes `key`, answering whether it existed.
    async fn delete(&self, scope: &KvScope, key: &str) -> Result<bool, GuestError>;
    /// The keys starting with `prefix`, in order (at most [`KEYS_PER_SCOPE`]).
    async fn list_keys(&self, scope: &KvScope, prefix: &str) -> Result<Vec<String>, GuestError>;
}

/// A [`KvStore`] in memory, for tests and for plugins whose state may be lost on restart.
#[derive(Default)]
pub struct MemoryKv {
    scopes: Mutex<HashMap<KvScope, BTreeMap<String, Vec<u8>>>>,
}

#[async_trait::async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, GuestError> {
        let scopes = self.scopes.lock().expect("kv lock");
        Ok(scopes.get(scope).and_then(|s| s.get(key)).cloned())
    }

    async fn set(&self, scope: &KvScope, key: &str, value: Vec<u8>) -> Result<(), GuestError> {
        let mut scopes = self.scopes.lock().expect("kv lock");
        let entries = scopes.entry(scope.clone()).or_default();
        let replaced = entries.get(key).map_or(0, |v| key.len() + v.len());
        let used: usize = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
        if !entries.contains_key(key) && entries.len() >= KEYS_PER_SCOPE {
            return Err(GuestError::Denied(format!(
                "kv quota: at most {KEYS_PER_SCOPE} keys"
            )));
        }
        if used - replaced + key.len() + value.len() > BYTES_PER_SCOPE {
            return Err(GuestError::Denied(format!(
                "kv quota: at most {BYTES_PER_SCOPE} bytes of keys and values"
            )));
        }
        entries.insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, scope: &KvScope, key: &str) -> Result<bool, GuestError> {
        let mut scopes = self.scopes.lock().expect("kv lock");
        Ok(scopes
            .get_mut(scope)
            .is_some_and(|s| s.remove(key).is_some()))
    }

    async fn list_keys(&self, scope: &KvScope, prefix: &str) -> Result<Vec<String>, GuestError> {
        let scopes = self.scopes.lock().expect("kv lock");
        Ok(scopes
            .get(scope)
            .map(|s| {
                s.range(prefix.to_owned()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn check_key(key: &str) -> Result<(), WitError> {
    if key.is_empty() || key.len() > KEY_BYTES {
        return Err(WitError::InvalidInput(format!(
            "a kv key is 1 to {KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

impl HostState {
    /// The kv store and scope of this call, if the capability is granted.
    fn kv(&self) -> Result<(Arc<dyn KvStore>, KvScope), WitError> {
        let (store, scope) = CallContext::granted(&self.call.kv, Capability::Kv)?
            .as_ref()
            .ok_or_else(|| WitError::Unavailable("no kv store is configured".into()))?;
        Ok((store.clone(), scope.clone()))
    }
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        let (kv, scope) = check_key(&key).and_then(|()| self.kv())?;
        Ok(kv.get(&scope, &key).await.map_err(to_wit::<_, WitError>)?)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), HostError> {
        if value.len() > VALUE_BYTES {
            return Err(WitError::InvalidInput(format!(
                "a kv value is at most {VALUE_BYTES} bytes"
            ))
            .into());
        }
        let (kv, scope) = check_key(&key).and_then(|()| self.kv())?;
        Ok(kv
            .set(&scope, &key, value)
            .await
            .map_err(to_wit::<_, WitError>)?)
    }

    async fn delete(&mut self, key: String) -> Result<bool, HostError> {
        let (kv, scope) = check_key(&key).and_then(|()| self.kv())?;
        Ok(kv
            .delete(&scope, &key)
            .await
            .map_err(to_wit::<_, WitError>)?)
    }

    async fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, HostError> {
        if prefix.len() > KEY_BYTES {
            return Err(WitError::InvalidInput(format!(
                "a kv prefix is at most {KEY_BYTES} bytes"
            ))
            .into());
        }
        let (kv, scope) = self.kv()?;
        Ok(kv
            .list_keys(&scope, &prefix)
            .await
            .map_err(to_wit::<_, WitError>)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quota_and_scopes() {
        let kv = MemoryKv::default();
        let a = KvScope {
            install: "i".into(),
            project: Some("p1".into()),
        };
        let b = KvScope {
            install: "i".into(),
            project: Some("p2".into()),
        };
        kv.set(&a, "k", vec![1; 10]).await.unwrap();
        assert_eq!(
            kv.get(&b, "k").await.unwrap(),
            None,
            "projects do not share keys"
        );
        assert!(matches!(
            kv.set(&a, "big", vec![0; BYTES_PER_SCOPE]).await,
            Err(GuestError::Denied(_))
        ));
        kv.set(&a, "k", vec![2; 20]).await.unwrap();
        assert_eq!(kv.list_keys(&a, "").await.unwrap(), ["k"]);
        assert!(kv.delete(&a, "k").await.unwrap());
        assert!(!kv.delete(&a, "k").await.unwrap());
    }
}
