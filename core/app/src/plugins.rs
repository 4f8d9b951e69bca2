//! Installed plugins: install from a file or a URL (with its sha256), grant, upgrade,
//! disable, enable, uninstall. Instance admins write; every signed-in user may read.
//!
//! A component is checked and precompiled before anything is recorded (the plugin host refuses
//! a wrong kind or WIT version, a bad manifest or unknown imports); a non-interactive install
//! grants nothing and waits as `pending-grant`. The component is kept as `<sha256>.wasm` in
//! the plugins folder, its precompiled artifact in `cache/` beside it.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use komander_domain::{
    Action, Facts,
    api::{Page, PageQuery, Plugin, PluginConfig, PluginFromUrl, PluginGrant, PluginStatus},
    authorize, timestamps,
};
use komander_plugin_host::{
    LoadedPlugin, PluginEngine, PluginError,
    capabilities::{BYTES_PER_SCOPE, CallContext, KEYS_PER_SCOPE, KvScope, KvStore},
    manifest::{Manifest, PluginKind, RuntimeWorld},
    runtime::GuestError,
    verify_digest,
};
use komander_store::PluginRecord;
use tokio::sync::RwLock;
use tracing::{info, instrument, warn};

use crate::{App, AppError, Caller, Paging, Result};

/// The largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// How long a download from a URL may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The plugin engine, the folder of installed components, and the plugins loaded from it.
pub struct Plugins {
    engine: PluginEngine,
    dir: PathBuf,
    loaded: RwLock<HashMap<String, LoadedPlugin>>,
    /// Each install's connections, built once (see `App::plugin_call_connections`).
    pub(crate) connections: RwLock<
        HashMap<String, Vec<std::sync::Arc<komander_plugin_host::capabilities::Connection>>>,
    >,
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
            connections: RwLock::default(),
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

    fn file(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.wasm"))
    }
}

fn internal(e: PluginError) -> AppError {
    AppError::internal("the plugin host failed", e)
}

/// A refusal is the caller's to fix; anything else is ours.
fn refused(e: PluginError) -> AppError {
    match e {
        PluginError::Refused(reason) => {
            AppError::invalid("component", format!("plugin refused: {reason}"))
        }
        other => internal(other),
    }
}

fn plugin_view(p: PluginRecord) -> Plugin {
    Plugin {
        id: p.id,
        version: p.version,
        kind: p.kind,
        world: p.world,
        sha256: p.digest,
        status: p.status,
        requested: p.requested,
        granted: p.granted,
        installed_at: timestamps::from_millis(p.installed_at),
        updated_at: timestamps::from_millis(p.updated_at),
    }
}

fn world_name(kind: PluginKind) -> Option<String> {
    match kind {
        PluginKind::GitProvider => None,
        PluginKind::Runtime(RuntimeWorld::Docker) => Some("docker".into()),
        PluginKind::Runtime(RuntimeWorld::Kubernetes) => Some("kubernetes".into()),
        PluginKind::Runtime(RuntimeWorld::Remote) => Some("remote".into()),
    }
}

/// Writes `bytes` to `path` through a temporary file, so a crash never leaves half of it.
async fn write_component(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension("partial");
    let write = async {
        tokio::fs::write(&temporary, bytes).await?;
        tokio::fs::rename(&temporary, path).await
    };
    write
        .await
        .map_err(|e| AppError::internal(format!("writing {}", path.display()), e))
}

impl App {
    pub(crate) fn plugins(&self) -> Result<&Plugins> {
        self.plugins
            .as_deref()
            .ok_or_else(|| AppError::fault("this instance runs without plugins"))
    }

    pub(crate) fn may_manage_plugins(caller: &Caller) -> Result<()> {
        authorize(&caller.actor(), Action::ManagePlugins, &Facts::default())
            .map_err(|d| AppError::denied(d, String::new))
    }

    /// Loads every installed plugin (from the cached artifacts when they are there), at start,
    /// in the background: readiness never waits on it. Answers how many loaded; one that
    /// fails is logged and skipped.
    pub async fn load_installed_plugins(&self) -> Result<usize> {
        let plugins = self.plugins()?;
        let mut page = komander_store::PageRequest {
            limit: 1000,
            after: None,
        };
        let mut count = 0;
        loop {
            let batch = self.store.list_plugins(&page).await?;
            let full = batch.len() == page.limit as usize;
            page.after = batch.last().map(|p| p.id.clone());
            for record in batch {
                let loaded = match tokio::fs::read(plugins.file(&record.digest)).await {
                    Ok(bytes) => plugins.engine.load(bytes).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match loaded {
                    Ok(plugin) => {
                        plugins.loaded.write().await.insert(record.id, plugin);
                        count += 1;
                    }
                    Err(error) => {
                        warn!(plugin = %record.id, %error, "an installed plugin did not load")
                    }
                }
            }
            if !full {
                break;
            }
        }
        info!(plugins = count, "installed plugins loaded");
        Ok(count)
    }

    /// Installs the first-party plugins shipped in the binary (`embedded`, components), with
    /// every capability they ask for granted: one not installed is installed; one installed
    /// as another build of the same or an older version is replaced by this binary's (and
    /// granted what it asks for); one installed at a newer version (an admin's upgrade) or as
    /// this very build is left alone. Acts as the local admin or the
    /// bootstrap user. Runs in the background at start, after the installed plugins loaded,
    /// so readiness never waits on a compile. Answers how many it installed or upgraded.
    ///
    /// # Errors
    /// When no instance admin exists to act as, or the store fails; a component that is
    /// refused is logged and skipped.
    pub async fn install_first_party_plugins(&self, embedded: &[&[u8]]) -> Result<usize> {
        let caller = self.system_caller().await?;
        let mut changed = 0;
        for bytes in embedded {
            let manifest = match Manifest::find(bytes) {
                Ok(manifest) => manifest,
                Err(error) => {
                    warn!(%error, "a first-party plugin has no readable manifest");
                    continue;
                }
            };
            let installed = self.store.plugin(manifest.id.as_str()).await?;
            let result = match installed {
                None => {
                    self.install_plugin(&caller, bytes.to_vec(), None, true)
                        .await
                }
                // Another build of the same or a newer version: this binary's. An admin's
                // newer version is kept.
                Some(record)
                    if record.digest != komander_plugin_host::digest(bytes)
                        && !is_newer(&record.version, &manifest.version) =>
                {
                    // First-party plugins are trusted: what a new version asks for is granted.
                    match self
                        .upgrade_plugin(&caller, manifest.id.as_str(), bytes.to_vec(), None)
                        .await
                    {
                        Ok(_) => {
                            let all = PluginGrant {
                                capabilities: Vec::new(),
                                all: true,
                            };
                            self.grant_plugin(&caller, manifest.id.as_str(), all).await
                        }
                        Err(e) => Err(e),
                    }
                }
                Some(_) => continue,
            };
            match result {
                Ok(plugin) => {
                    info!(plugin = %plugin.id, version = %plugin.version, "first-party plugin installed");
                    changed += 1;
                }
                Err(error) => warn!(
                    plugin = %manifest.id,
                    error = %error.report(),
                    "a first-party plugin was not installed"
                ),
            }
        }
        info!(changed, "first-party plugins checked");
        Ok(changed)
    }

    /// `GET /api/v1/plugins`: installed plugins, by id.
    ///
    /// # Errors
    /// Invalid paging.
    pub async fn list_plugins(&self, _caller: &Caller, query: &PageQuery) -> Result<Page<Plugin>> {
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_plugins(&page).await?;
        paging.page(rows, |p| p.id.clone(), |p| Ok(plugin_view(p)))
    }

    async fn plugin_record(&self, id: &str) -> Result<PluginRecord> {
        self.store
            .plugin(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("plugin {id:?}")))
    }

    /// `GET /api/v1/plugins/{plugin}`.
    ///
    /// # Errors
    /// Not found.
    pub async fn get_plugin(&self, _caller: &Caller, id: &str) -> Result<Plugin> {
        Ok(plugin_view(self.plugin_record(id).await?))
    }

    /// Checks a component (size, digest, everything the plugin host checks) and compiles it.
    async fn check_component(&self, bytes: &[u8], sha256: Option<&str>) -> Result<LoadedPlugin> {
        if bytes.len() > MAX_COMPONENT_BYTES {
            return Err(AppError::invalid(
                "component",
                format!("a component is at most {MAX_COMPONENT_BYTES} bytes"),
            ));
        }
        if let Some(expected) = sha256 {
            verify_digest(bytes, expected).map_err(refused)?;
        }
        self.plugins()?
            .engine
            .load(bytes.to_vec())
            .await
            .map_err(refused)
    }

    /// `POST /api/v1/plugins` (instance admins): installs a component. Nothing is recorded
    /// unless it passes every check; without `grant_all` it waits as `pending-grant`.
    ///
    /// # Errors
    /// Forbidden; invalid input for a refused component or a digest mismatch; conflict when a
    /// plugin with its id is installed.
    #[instrument(skip_all, fields(actor = %caller.user.handle))]
    pub async fn install_plugin(
        &self,
        caller: &Caller,
        bytes: Vec<u8>,
        sha256: Option<&str>,
        grant_all: bool,
    ) -> Result<Plugin> {
        Self::may_manage_plugins(caller)?;
        let plugin = self.check_component(&bytes, sha256).await?;
        let plugins = self.plugins()?;
        let id = plugin.manifest.id.to_string();
        if self.store.plugin(&id).await?.is_some() {
            return Err(AppError::Conflict {
                field: Some("id".into()),
                message: format!("a plugin with id {id:?} is installed: upgrade it"),
            });
        }
        let requested: Vec<String> = plugin.manifest.capabilities.keys().cloned().collect();
        let now = timestamps::to_millis(timestamps::now());
        let record = PluginRecord {
            id: id.clone(),
            version: plugin.manifest.version.clone(),
            kind: plugin.kind.manifest_name().to_owned(),
            world: world_name(plugin.kind),
            digest: plugin.digest.clone(),
            manifest: toml_text(&bytes)?,
            granted: if grant_all {
                requested.clone()
            } else {
                Vec::new()
            },
            requested,
            status: if grant_all {
                PluginStatus::Enabled
            } else {
                PluginStatus::PendingGrant
            },
            installed_by: caller.user.id,
            installed_at: now,
            updated_at: now,
            config: EMPTY_CONFIG.into(),
        };
        let path = plugins.file(&record.digest);
        write_component(&path, &bytes).await?;
        let audit = self.audit(
            caller,
            None,
            "plugin.install",
            format!("plugin/{id}"),
            &["version", "sha256", "granted"],
        );
        if let Err(e) = self.store.create_plugin(&record, &audit).await {
            // A concurrent install of the same build may own the file: keep it then.
            let owned_by_another = matches!(
                self.store.plugin(&id).await,
                Ok(Some(other)) if other.digest == record.digest
            );
            if !owned_by_another {
                let _ = tokio::fs::remove_file(&path).await;
            }
            return Err(AppError::from_store(e, "plugin"));
        }
        plugins.loaded.write().await.insert(id.clone(), plugin);
        info!(plugin = %id, version = %record.version, status = record.status.as_str(), "plugin installed");
        Ok(plugin_view(record))
    }

    /// Downloads a component from `url` (which needs its sha256) and installs it.
    ///
    /// # Errors
    /// As [`App::install_plugin`]; unavailable when the download fails.
    pub async fn install_plugin_from_url(
        &self,
        caller: &Caller,
        request: PluginFromUrl,
    ) -> Result<Plugin> {
        Self::may_manage_plugins(caller)?;
        let bytes = download(&request.url).await?;
        self.install_plugin(caller, bytes, Some(&request.sha256), request.grant_all)
            .await
    }

    /// `POST /api/v1/plugins/{plugin}/grant` (instance admins): grants capabilities it asked
    /// for (replacing earlier grants) and enables it.
    ///
    /// # Errors
    /// Forbidden, not found, invalid input for a capability it did not ask for.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = id))]
    pub async fn grant_plugin(
        &self,
        caller: &Caller,
        id: &str,
        grant: PluginGrant,
    ) -> Result<Plugin> {
        Self::may_manage_plugins(caller)?;
        let mut record = self.plugin_record(id).await?;
        let granted = if grant.all {
            record.requested.clone()
        } else {
            if let Some(unasked) = grant
                .capabilities
                .iter()
                .find(|c| !record.requested.contains(c))
            {
                return Err(AppError::invalid(
                    "capabilities",
                    format!(
                        "the plugin did not ask for {unasked:?}: it asks for {:?}",
                        record.requested
                    ),
                ));
            }
            let mut granted = grant.capabilities;
            granted.sort();
            granted.dedup();
            granted
        };
        record.granted = granted;
        if record.status == PluginStatus::PendingGrant {
            record.status = PluginStatus::Enabled;
        }
        self.save_plugin(caller, record, "plugin.grant", &["granted", "status"])
            .await
    }

    /// `POST /api/v1/plugins/{plugin}/disable` or `/enable` (instance admins).
    ///
    /// # Errors
    /// Forbidden, not found; conflict when enabling a plugin nobody granted yet.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = id))]
    pub async fn set_plugin_enabled(
        &self,
        caller: &Caller,
        id: &str,
        enabled: bool,
    ) -> Result<Plugin> {
        Self::may_manage_plugins(caller)?;
        let mut record = self.plugin_record(id).await?;
        record.status = match (enabled, record.status) {
            (true, PluginStatus::PendingGrant) => {
                return Err(AppError::Conflict {
                    field: None,
                    message: "the plugin waits for a grant: grant its capabilities to enable it"
                        .into(),
                });
            }
            (true, _) => PluginStatus::Enabled,
            (false, _) => PluginStatus::Disabled,
        };
        let action = if enabled {
            "plugin.enable"
        } else {
            "plugin.disable"
        };
        self.save_plugin(caller, record, action, &["status"]).await
    }

    /// `POST /api/v1/plugins/{plugin}/upgrade` (instance admins): replaces the component with
    /// another build of the same plugin. Grants carry over for the capabilities it still asks
    /// for; new ones wait for a grant.
    ///
    /// # Errors
    /// As [`App::install_plugin`]; invalid input for another plugin's component, conflict for
    /// the same build.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = id))]
    pub async fn upgrade_plugin(
        &self,
        caller: &Caller,
        id: &str,
        bytes: Vec<u8>,
        sha256: Option<&str>,
    ) -> Result<Plugin> {
        Self::may_manage_plugins(caller)?;
        let mut record = self.plugin_record(id).await?;
        let plugin = self.check_component(&bytes, sha256).await?;
        if plugin.manifest.id != record.id.as_str() {
            return Err(AppError::invalid(
                "component",
                format!(
                    "this component is plugin {:?}, not {id:?}",
                    plugin.manifest.id.as_str()
                ),
            ));
        }
        if plugin.kind.manifest_name() != record.kind {
            return Err(AppError::invalid(
                "component",
                format!(
                    "this build is a {}, the installed one a {}",
                    plugin.kind.manifest_name(),
                    record.kind
                ),
            ));
        }
        if plugin.digest == record.digest {
            return Err(AppError::Conflict {
                field: None,
                message: "this build is the one installed".into(),
            });
        }
        check_settings(&plugin.manifest, &record.config).map_err(|problems| {
            AppError::invalid(
                "component",
                format!(
                    "this build's config schema refuses the install's settings ({}): change \
                     them first",
                    problems.join("; ")
                ),
            )
        })?;
        let plugins = self.plugins()?;
        let old_file = plugins.file(&record.digest);
        write_component(&plugins.file(&plugin.digest), &bytes).await?;
        let requested: Vec<String> = plugin.manifest.capabilities.keys().cloned().collect();
        record.granted.retain(|c| requested.contains(c));
        record.requested = requested;
        record.version = plugin.manifest.version.clone();
        record.world = world_name(plugin.kind);
        record.digest = plugin.digest.clone();
        record.manifest = toml_text(&bytes)?;
        record.installed_by = caller.user.id;
        let view = self
            .save_plugin(
                caller,
                record,
                "plugin.upgrade",
                &["version", "sha256", "granted"],
            )
            .await?;
        plugins.loaded.write().await.insert(id.to_owned(), plugin);
        let _ = tokio::fs::remove_file(old_file).await;
        Ok(view)
    }

    /// `DELETE /api/v1/plugins/{plugin}` (instance admins): forgets the plugin and deletes its
    /// component.
    ///
    /// # Errors
    /// Forbidden, not found.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = id))]
    pub async fn uninstall_plugin(&self, caller: &Caller, id: &str) -> Result<()> {
        Self::may_manage_plugins(caller)?;
        let record = self.plugin_record(id).await?;
        let audit = self.audit(
            caller,
            None,
            "plugin.uninstall",
            format!("plugin/{id}"),
            &[],
        );
        self.store
            .delete_plugin(id, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "plugin"))?;
        let plugins = self.plugins()?;
        plugins.loaded.write().await.remove(id);
        plugins.connections.write().await.remove(id);
        let _ = tokio::fs::remove_file(plugins.file(&record.digest)).await;
        info!(plugin = %id, "plugin uninstalled");
        Ok(())
    }

    /// `GET /api/v1/plugins/{plugin}/config` (instance admins): the install's settings.
    ///
    /// # Errors
    /// Forbidden, not found.
    pub async fn get_plugin_config(&self, caller: &Caller, id: &str) -> Result<PluginConfig> {
        Self::may_manage_plugins(caller)?;
        let record = self.plugin_record(id).await?;
        let settings = serde_json::from_str(&record.config)
            .map_err(|e| AppError::internal(format!("stored settings of {id}"), e))?;
        Ok(PluginConfig { settings })
    }

    /// `PUT /api/v1/plugins/{plugin}/config` (instance admins): replaces the install's
    /// settings, once the plugin's config schema accepts them.
    ///
    /// # Errors
    /// Forbidden, not found; invalid input naming every place the schema refuses.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = id))]
    pub async fn set_plugin_config(
        &self,
        caller: &Caller,
        id: &str,
        config: PluginConfig,
    ) -> Result<PluginConfig> {
        Self::may_manage_plugins(caller)?;
        let mut record = self.plugin_record(id).await?;
        let text = serde_json::Value::Object(config.settings.clone()).to_string();
        check_settings(&installed_manifest(&record)?, &text).map_err(|problems| {
            AppError::invalid(
                "settings",
                format!(
                    "the plugin's config schema refuses them: {}",
                    problems.join("; ")
                ),
            )
        })?;
        record.config = text;
        self.save_plugin(caller, record, "plugin.config", &["settings"])
            .await?;
        Ok(config)
    }

    /// Everything one call of the enabled plugin `id` may use: its grants, its settings, its
    /// kv scope (for `project`, or install-wide), its connections. Checked before the call,
    /// so that nothing runs on settings the schema refuses.
    ///
    /// # Errors
    /// Not found; conflict while the plugin is disabled or waits for a grant; invalid input
    /// when its settings no longer satisfy its schema.
    pub async fn plugin_call_context(
        &self,
        id: &str,
        project: Option<String>,
    ) -> Result<CallContext> {
        let record = self.plugin_record(id).await?;
        if record.status != PluginStatus::Enabled {
            return Err(AppError::Conflict {
                field: None,
                message: format!("plugin {id:?} is {}", record.status.as_str()),
            });
        }
        let manifest = installed_manifest(&record)?;
        check_settings(&manifest, &record.config).map_err(|problems| {
            AppError::invalid(
                "settings",
                format!(
                    "plugin {id:?} needs its settings first ({}): `komander plugin config set`",
                    problems.join("; ")
                ),
            )
        })?;
        let mut context = CallContext::new(
            format!("{}@{}", record.id, record.version),
            record.granted.iter().cloned(),
        );
        context.config = record.config.as_str().into();
        context.kv = Some((
            std::sync::Arc::new(DatabaseKv::new(self)),
            KvScope {
                install: record.id.clone(),
                project,
            },
        ));
        context.connections = self.plugin_call_connections(id).await?;
        Ok(context)
    }

    async fn save_plugin(
        &self,
        caller: &Caller,
        mut record: PluginRecord,
        action: &str,
        fields: &[&str],
    ) -> Result<Plugin> {
        record.updated_at = timestamps::to_millis(timestamps::now());
        let audit = self.audit(
            caller,
            None,
            action,
            format!("plugin/{}", record.id),
            fields,
        );
        self.store
            .update_plugin(&record, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "plugin"))?;
        Ok(plugin_view(record))
    }
}

/// Whether version `a` is newer than `b` (semver; anything unparsable is not newer).
fn is_newer(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

/// An install's settings before an admin sets any.
const EMPTY_CONFIG: &str = "{}";

/// Checks stored settings (JSON text) against a manifest's config schema.
fn check_settings(manifest: &Manifest, text: &str) -> std::result::Result<(), Vec<String>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| vec![format!("/: not JSON: {e}")])?;
    manifest.check_config(&value)
}

/// The manifest of an installed plugin, as stored at install or upgrade.
fn installed_manifest(record: &PluginRecord) -> Result<Manifest> {
    Manifest::parse(&record.manifest)
        .map_err(|e| AppError::internal(format!("the stored manifest of {}", record.id), e))
}

/// The manifest text embedded in a component already checked by the plugin host.
fn toml_text(bytes: &[u8]) -> Result<String> {
    komander_plugin_host::manifest::Manifest::text(bytes).map_err(refused)
}

async fn download(url: &str) -> Result<Vec<u8>> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| AppError::invalid("url", format!("invalid URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(AppError::invalid(
            "url",
            "only http and https URLs are supported",
        ));
    }
    let client = reqwest::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .build()
        .map_err(|e| AppError::internal("building an HTTP client", e))?;
    let unavailable =
        |e: reqwest::Error| AppError::invalid("url", format!("downloading {url}: {e}"));
    let mut response = client.get(parsed).send().await.map_err(unavailable)?;
    if !response.status().is_success() {
        return Err(AppError::invalid(
            "url",
            format!("downloading {url} answered {}", response.status()),
        ));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if bytes.len() + chunk.len() > MAX_COMPONENT_BYTES {
            return Err(AppError::invalid(
                "url",
                format!("the component at {url} is larger than {MAX_COMPONENT_BYTES} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The `kv` capability's data in Komander's database, scoped by plugin install and project,
/// with the plugin host's quota enforced in the same transaction as the write.
pub struct DatabaseKv {
    store: std::sync::Arc<dyn komander_store::Store>,
}

impl DatabaseKv {
    /// The kv data of `app`'s database.
    pub fn new(app: &App) -> DatabaseKv {
        DatabaseKv {
            store: app.store.clone(),
        }
    }
}

fn kv_error(e: komander_store::StoreError) -> GuestError {
    match e {
        komander_store::StoreError::Conflict { message, .. } => GuestError::Denied(message),
        komander_store::StoreError::NotFound(what) => {
            GuestError::NotFound(format!("{what} is not installed"))
        }
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
        let quota = komander_store::KvQuota {
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
