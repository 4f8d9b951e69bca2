//! What one call of a plugin gets: its grants, settings, kv scope and connections.

use std::sync::Arc;

use komander_domain::api::PluginStatus;
use komander_plugin_host::capabilities::{CallBuilder, CallContext, Capability, KvScope};

use super::{
    DatabaseKv,
    lifecycle::{check_settings, installed_manifest},
};
use crate::{App, AppError, Result};

impl App {
    /// Everything one call of the enabled plugin `id` may use: its grants, its settings, its
    /// kv scope (for `project`, or install-wide), its connections; the caller adds the
    /// deployment's Docker or Kubernetes scope and builds the context. Checked before the call,
    /// so that nothing runs on settings the schema refuses.
    ///
    /// # Errors
    /// Not found; conflict while the plugin is disabled or waits for a grant; invalid input
    /// when its settings no longer satisfy its schema.
    pub async fn plugin_call(&self, id: &str, project: Option<String>) -> Result<CallBuilder> {
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
        let granted = record
            .granted
            .iter()
            .map(|name| name.parse::<Capability>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| AppError::internal(format!("the stored grants of {id}"), e))?;
        let call = CallContext::builder(&manifest, granted)
            .map_err(|e| AppError::internal(format!("the stored grants of {id}"), e))?
            .config(record.config.as_str().into())
            .kv(
                Arc::new(DatabaseKv::new(self)),
                KvScope {
                    install: record.id.clone(),
                    project,
                },
            )
            .connections(self.plugin_call_connections(id).await?);
        Ok(call)
    }
}
