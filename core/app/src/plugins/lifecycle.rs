//! The life of an install: install, grant, enable and disable, upgrade, uninstall, and its
//! settings. Instance admins act; every signed-in user may read.

use std::path::Path;

use komander_domain::{
    api::{Page, PageQuery, Plugin, PluginConfig, PluginFromUrl, PluginGrant, PluginStatus},
    timestamps,
};
use komander_plugin_host::{
    LoadedPlugin,
    manifest::{Manifest, PluginKind},
    verify_digest,
};
use komander_store::PluginRecord;
use tracing::{info, instrument};

use super::{download::download, refused};
use crate::{
    App, AppError, Caller, Paging, Result,
    upload::{Upload, read_to_limit},
};

/// The largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// Reads an uploaded component, once the caller is authorized: at most
/// [`MAX_COMPONENT_BYTES`].
async fn read_component(component: &mut dyn Upload) -> Result<Vec<u8>> {
    read_to_limit(component, MAX_COMPONENT_BYTES, "a component").await
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
        PluginKind::Runtime(world) => Some(world.name().to_owned()),
    }
}

/// Writes `bytes` to `path` through a temporary file, so a crash never leaves half of it.
pub(super) async fn write_component(path: &Path, bytes: &[u8]) -> Result<()> {
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
    /// `GET /api/v1/plugins`: installed plugins, by id.
    ///
    /// # Errors
    /// Invalid paging.
    pub async fn list_plugins(&self, _caller: &Caller, query: &PageQuery) -> Result<Page<Plugin>> {
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_plugins(&page).await?;
        paging.page(rows, |p| p.id.clone(), |p| Ok(plugin_view(p)))
    }

    /// The installed plugin `id`.
    pub(super) async fn plugin_record(&self, id: &str) -> Result<PluginRecord> {
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

    /// `GET /api/v1/plugins/{plugin}/component`: the component of an installed runtime plugin,
    /// for a member's CLI to run a `local` environment's deployments with the very plugin the
    /// server runs (it checks the bytes against the digest the resolve answered). Git
    /// providers are not handed out: they run on the server alone.
    ///
    /// # Errors
    /// Not found; conflict for a plugin that is not a runtime; internal when the stored
    /// component is missing or does not match its digest.
    pub async fn plugin_component(&self, _caller: &Caller, id: &str) -> Result<Vec<u8>> {
        let record = self.plugin_record(id).await?;
        if record.kind != super::runtimes::RUNTIME_KIND {
            return Err(AppError::Conflict {
                field: Some("plugin".into()),
                message: format!(
                    "plugin {id:?} is a {}: only runtime plugins run on members' machines",
                    record.kind
                ),
            });
        }
        let path = self.plugins()?.file(&record.digest);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(_) => self
                .store
                .plugin_component(&record.digest)
                .await?
                .ok_or_else(|| {
                    AppError::fault(format!("the component of plugin {id:?} is missing"))
                })?,
        };
        verify_digest(&bytes, &record.digest)
            .map_err(|e| AppError::internal(format!("the stored component of {id:?}"), e))?;
        Ok(bytes)
    }

    /// Checks a component (digest, everything the plugin host checks) and compiles it.
    async fn check_component(&self, bytes: &[u8], sha256: Option<&str>) -> Result<LoadedPlugin> {
        if let Some(expected) = sha256 {
            verify_digest(bytes, expected).map_err(refused)?;
        }
        self.plugins()?
            .engine()
            .load(bytes.to_vec())
            .await
            .map_err(refused)
    }

    /// `POST /api/v1/plugins` (instance admins): installs a component. The caller is
    /// authorized before the upload is read, and no more than [`MAX_COMPONENT_BYTES`] of it.
    /// Nothing is recorded unless it passes every check; without `grant_all` it waits as
    /// `pending-grant`.
    ///
    /// # Errors
    /// Forbidden; too large; invalid input for a refused component or a digest mismatch;
    /// conflict when a plugin with its id is installed.
    #[instrument(skip_all, fields(actor = %caller.user.handle))]
    pub async fn install_plugin(
        &self,
        caller: &Caller,
        mut component: impl Upload,
        sha256: Option<&str>,
        grant_all: bool,
    ) -> Result<Plugin> {
        Self::may_manage_plugins(caller)?;
        let bytes = read_component(&mut component).await?;
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
            artifact: plugin.artifact.clone(),
        };
        let path = plugins.file(&record.digest);
        write_component(&path, &bytes).await?;
        self.store
            .put_plugin_component(&record.digest, &bytes)
            .await?;
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
        plugins.remember(id.clone(), plugin).await;
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
                        "the plugin did not ask for {unasked}: it asks for {}",
                        if record.requested.is_empty() {
                            "nothing".to_owned()
                        } else {
                            record.requested.join(", ")
                        }
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
    /// Forbidden, not found; conflict when enabling a plugin nobody granted yet, and for an
    /// `incompatible` one, which only an upgrade changes.
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
            (_, PluginStatus::Incompatible) => {
                return Err(AppError::Conflict {
                    field: None,
                    message: format!(
                        "plugin {id:?} is incompatible: it is built for an interface version \
                         this Komander does not run; upgrade it to a build of \
                         komander:runtime@{} (`komander plugin upgrade {id} <file>`)",
                        komander_plugin_host::RUNTIME_WIT_VERSION
                    ),
                });
            }
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
    /// another build of the same plugin, read (as for an install) only once the caller is
    /// authorized and the plugin found. Grants carry over for the capabilities it still asks
    /// for; new ones wait for a grant. An `incompatible` install becomes `enabled` with a build
    /// this Komander runs (it was marked only because the host changed).
    ///
    /// With `settings`, the install's settings are replaced in the same write, checked against
    /// the new build's schema: the way out when the new schema refuses the current settings
    /// and the current schema the new ones. Without, the current settings must satisfy the new
    /// schema.
    ///
    /// # Errors
    /// As [`App::install_plugin`]; invalid input for another plugin's component, or for
    /// settings (given or kept) the new build's schema refuses; conflict for the same build.
    #[instrument(skip_all, fields(actor = %caller.user.handle, plugin = id))]
    pub async fn upgrade_plugin(
        &self,
        caller: &Caller,
        id: &str,
        mut component: impl Upload,
        sha256: Option<&str>,
        settings: Option<PluginConfig>,
    ) -> Result<Plugin> {
        Self::may_manage_plugins(caller)?;
        let mut record = self.plugin_record(id).await?;
        let bytes = read_component(&mut component).await?;
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
        let new_settings =
            settings.map(|config| serde_json::Value::Object(config.settings).to_string());
        match &new_settings {
            Some(text) => check_settings(&plugin.manifest, text).map_err(|problems| {
                AppError::invalid(
                    "settings",
                    format!(
                        "this build's config schema refuses the settings given: {}",
                        problems.join("; ")
                    ),
                )
            })?,
            None => check_settings(&plugin.manifest, &record.config).map_err(|problems| {
                AppError::invalid(
                    "component",
                    format!(
                        "this build's config schema refuses the install's settings ({}): \
                         upgrade with settings it accepts in the same step (`komander plugin \
                         upgrade {id} FILE --config SETTINGS.json`)",
                        problems.join("; ")
                    ),
                )
            })?,
        }
        let mut changed = vec!["version", "sha256", "granted", "status"];
        if let Some(text) = new_settings {
            record.config = text;
            changed.push("settings");
        }
        let plugins = self.plugins()?;
        let old_file = plugins.file(&record.digest);
        write_component(&plugins.file(&plugin.digest), &bytes).await?;
        self.store
            .put_plugin_component(&plugin.digest, &bytes)
            .await?;
        let requested: Vec<String> = plugin.manifest.capabilities.keys().cloned().collect();
        record.granted.retain(|c| requested.contains(c));
        record.requested = requested;
        record.version = plugin.manifest.version.clone();
        record.world = world_name(plugin.kind);
        record.digest = plugin.digest.clone();
        record.artifact = plugin.artifact.clone();
        record.manifest = toml_text(&bytes)?;
        record.installed_by = caller.user.id;
        if record.status == PluginStatus::Incompatible {
            record.status = PluginStatus::Enabled;
        }
        let view = self
            .save_plugin(caller, record, "plugin.upgrade", &changed)
            .await?;
        plugins.remember(id.to_owned(), plugin).await;
        let _ = tokio::fs::remove_file(old_file).await;
        self.prune_components().await;
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
        plugins.forget(id).await;
        let _ = tokio::fs::remove_file(plugins.file(&record.digest)).await;
        self.prune_components().await;
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

    /// The JSON schema of an install's settings, from its manifest (instance admins); `None`
    /// when it has none (any object is accepted). The admin pages build its form from it.
    ///
    /// # Errors
    /// Forbidden, not found.
    pub async fn plugin_config_schema(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<serde_json::Value>> {
        Self::may_manage_plugins(caller)?;
        let record = self.plugin_record(id).await?;
        installed_manifest(&record)?
            .config_schema
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| AppError::internal(format!("the stored config schema of {id}"), e))
            })
            .transpose()
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

    /// Saves an install's record with its audit entry, answering its view.
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

/// An install's settings before an admin sets any.
const EMPTY_CONFIG: &str = "{}";

/// Checks stored settings (JSON text) against a manifest's config schema.
pub(super) fn check_settings(
    manifest: &Manifest,
    text: &str,
) -> std::result::Result<(), Vec<String>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| vec![format!("/: not JSON: {e}")])?;
    manifest.check_config(&value)
}

/// The manifest of an installed plugin, as stored at install or upgrade.
pub(super) fn installed_manifest(record: &PluginRecord) -> Result<Manifest> {
    Manifest::parse(&record.manifest)
        .map_err(|e| AppError::internal(format!("the stored manifest of {}", record.id), e))
}

/// The manifest text embedded in a component already checked by the plugin host.
fn toml_text(bytes: &[u8]) -> Result<String> {
    Manifest::text(bytes).map_err(refused)
}
