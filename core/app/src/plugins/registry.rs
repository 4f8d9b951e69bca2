//! The plugin engine, the folder of installed components, and the plugins loaded from it.

use std::{collections::HashMap, path::PathBuf};

use komander_domain::{api::PluginStatus, timestamps};
use komander_plugin_host::{LoadedPlugin, PluginEngine, PluginError};
use tokio::sync::RwLock;
use tracing::{info, warn};

use super::{connection_cache::ConnectionCache, internal};
use crate::{App, AppError, Result};

/// The plugin engine, the folder of installed components, and the plugins loaded from it.
pub struct Plugins {
    engine: PluginEngine,
    dir: PathBuf,
    loaded: RwLock<HashMap<String, LoadedPlugin>>,
    /// Each install's connections, built once (see `App::plugin_call_connections`).
    pub(crate) connections: ConnectionCache,
}

impl Plugins {
    /// The plugins kept in `dir` (created when missing), with precompiled artifacts cached in
    /// `dir/cache`. Nothing is loaded yet: see [`App::load_installed_plugins`].
    ///
    /// # Errors
    /// When the engine cannot start or the folder cannot be made.
    pub fn new(dir: PathBuf) -> Result<Plugins> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::internal(format!("creating {}", dir.display()), e))?;
        let engine = PluginEngine::new(Some(dir.join("cache"))).map_err(internal)?;
        Ok(Plugins {
            engine,
            dir,
            loaded: RwLock::default(),
            connections: ConnectionCache::default(),
        })
    }

    /// The engine, to call loaded plugins.
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// The loaded plugin `id`, if it is installed and loaded.
    pub async fn loaded(&self, id: &str) -> Option<LoadedPlugin> {
        self.loaded.read().await.get(id).cloned()
    }

    /// Where the component with this digest is kept.
    pub(super) fn file(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.wasm"))
    }

    /// Makes `plugin` the loaded build of install `id`.
    pub(super) async fn remember(&self, id: String, plugin: LoadedPlugin) {
        self.loaded.write().await.insert(id, plugin);
    }

    /// Forgets install `id`: its loaded build and its connections.
    pub(super) async fn forget(&self, id: &str) {
        self.loaded.write().await.remove(id);
        self.connections.forget(id);
    }
}

impl App {
    /// Loads every installed plugin (from the cached artifacts when they are there and have
    /// the digest recorded for them, compiling the others and recording their new artifact),
    /// at start, in the background: readiness never waits on it. Answers how many loaded; one
    /// that fails is logged and skipped. One built for an interface version this Komander does
    /// not run (a runtime of `komander:runtime@0.1`) is marked
    /// [`PluginStatus::Incompatible`]: it stays installed and unloaded, its environments'
    /// operations answer 409 naming it, until an admin upgrades it.
    pub async fn load_installed_plugins(&self) -> Result<usize> {
        let plugins = self.plugins()?;
        let mut count = 0;
        for record in self.all_plugins().await? {
            match self.load_plugin(plugins, &record).await {
                Ok(_) => count += 1,
                Err(LoadError::Plugin(error @ PluginError::Incompatible { .. })) => {
                    warn!(plugin = %record.id, %error, "an installed plugin is incompatible: upgrade it");
                    if record.status != PluginStatus::Incompatible {
                        self.mark_incompatible(&record.id, &record.digest).await;
                    }
                }
                Err(error) => {
                    warn!(plugin = %record.id, %error, "an installed plugin did not load")
                }
            }
        }
        info!(plugins = count, "installed plugins loaded");
        Ok(count)
    }

    /// The loaded build of the installed plugin `record`: the one in memory when it is that
    /// build, else loaded now ([`App::load_plugin`]), as when another server sharing the
    /// database installed or upgraded it since this one started.
    ///
    /// # Errors
    /// Internal when its component is neither on this server's disk nor in the database, or
    /// does not load.
    pub(crate) async fn loaded_plugin(
        &self,
        record: &komander_store::PluginRecord,
    ) -> Result<LoadedPlugin> {
        let plugins = self.plugins()?;
        match plugins.loaded(&record.id).await {
            Some(plugin) if plugin.digest == record.digest => Ok(plugin),
            _ => self
                .load_plugin(plugins, record)
                .await
                .map_err(|e| AppError::internal(format!("loading plugin {:?}", record.id), e)),
        }
    }

    /// Loads the installed plugin `record` from this server's copy of its component, or from
    /// the database's (checked against its digest, then copied to disk), using the cached
    /// artifact when it has the digest recorded for it; remembers it.
    async fn load_plugin(
        &self,
        plugins: &Plugins,
        record: &komander_store::PluginRecord,
    ) -> std::result::Result<LoadedPlugin, LoadError> {
        let path = plugins.file(&record.digest);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = self
                    .store
                    .plugin_component(&record.digest)
                    .await
                    .map_err(LoadError::Store)?
                    .ok_or(LoadError::Missing)?;
                if komander_plugin_host::digest(&bytes) != record.digest {
                    return Err(LoadError::Digest);
                }
                super::lifecycle::write_component(&path, &bytes)
                    .await
                    .map_err(|e| LoadError::Write(Box::new(e)))?;
                bytes
            }
            Err(e) => return Err(LoadError::Read(e)),
        };
        let plugin = plugins
            .engine
            .load_cached(bytes, record.artifact.as_deref())
            .await
            .map_err(LoadError::Plugin)?;
        if plugin.artifact != record.artifact {
            self.record_artifact(&record.id, &record.digest, &plugin)
                .await;
        }
        plugins.remember(record.id.clone(), plugin.clone()).await;
        Ok(plugin)
    }

    /// Deletes the components no installed plugin uses any more from the database; a
    /// failure is logged (the next prune catches up).
    pub(super) async fn prune_components(&self) {
        if let Err(e) = self.store.prune_plugin_components().await {
            warn!(error = %e, "could not prune unused plugin components");
        }
    }

    /// Every installed plugin's record, by id (read page by page: installs are few).
    pub(super) async fn all_plugins(&self) -> Result<Vec<komander_store::PluginRecord>> {
        let mut page = komander_store::PageRequest {
            limit: 1000,
            after: None,
        };
        let mut all = Vec::new();
        loop {
            let batch = self.store.list_plugins(&page).await?;
            let full = batch.len() == page.limit as usize;
            page.after = batch.last().map(|p| p.id.clone());
            all.extend(batch);
            if !full {
                return Ok(all);
            }
        }
    }

    /// Marks install `id` (build `digest`) incompatible; a failure is logged (its status stays,
    /// and it is not loaded either way).
    async fn mark_incompatible(&self, id: &str, digest: &str) {
        let now = timestamps::to_millis(timestamps::now());
        if let Err(e) = self.store.mark_plugin_incompatible(id, digest, now).await {
            warn!(plugin = %id, error = %e, "could not mark a plugin incompatible");
        }
    }

    /// Records the digest of the artifact just compiled for install `id` (build `digest`),
    /// so that the next start loads it; a failure is logged (that start compiles again).
    async fn record_artifact(&self, id: &str, digest: &str, plugin: &LoadedPlugin) {
        let artifact = plugin.artifact.as_deref();
        if let Err(e) = self.store.set_plugin_artifact(id, digest, artifact).await {
            warn!(plugin = %id, error = %e, "could not record a plugin's artifact digest");
        }
    }
}

/// Why an installed plugin did not load.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    /// Its component file could not be read.
    #[error("reading its component: {0}")]
    Read(std::io::Error),
    /// Its component is neither on this server's disk nor in the database.
    #[error("its component is neither on this server's disk nor in the database: install it again")]
    Missing,
    /// The database's copy of its component does not have its digest.
    #[error("the database's copy of its component does not have its digest")]
    Digest,
    /// The database failed.
    #[error("reading its component from the database: {0}")]
    Store(komander_store::StoreError),
    /// This server's copy could not be written.
    #[error("keeping a copy of its component: {0}")]
    Write(Box<AppError>),
    /// The plugin host refused it.
    #[error(transparent)]
    Plugin(PluginError),
}
