//! Installed plugins, for instance admins: the list, one plugin with its grants, settings and
//! connections, and what changes them. A component file is uploaded by the page itself to
//! [`UPLOAD_PATH`] (a server function takes form fields, not a 32 MiB body).

use std::collections::BTreeMap;

use komander_domain::api::{Page, Plugin, PluginConnection};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use super::settings_form::SettingGroup;
use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{confirm_name, non_empty, parse_field, projects::PAGE_SIZE, settings_form},
    komander_app::{App, AppError},
    komander_domain::api::{
        PageQuery, PluginConfig, PluginConnectionWrite, PluginFromUrl, PluginGrant,
    },
};

/// Where the page posts a component file (`application/wasm`) with the session's CSRF token
/// in [`CSRF_HEADER`](super::CSRF_HEADER): `?sha256=&grant_all=` installs it, `?upgrade=<id>`
/// upgrades that plugin with it.
pub const UPLOAD_PATH: &str = "/ui/upload/plugins";

/// A page of the installed plugins (instance admins).
#[server(prefix = "/ui/fn", endpoint = "plugins", input = GetUrl)]
pub async fn load_plugins(cursor: Option<String>) -> Result<Page<Plugin>, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    App::may_manage_plugins(&caller)?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    Ok(app.list_plugins(&caller, &query).await?)
}

/// What a plugin's page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginView {
    /// The plugin.
    pub plugin: Plugin,
    /// Its settings, as the form generated from its config schema.
    pub settings: Vec<SettingGroup>,
    /// Its connections (never their credentials).
    pub connections: Vec<PluginConnection>,
}

/// A plugin's page (instance admins).
#[server(prefix = "/ui/fn", endpoint = "plugin", input = GetUrl)]
pub async fn load_plugin(plugin: String) -> Result<PluginView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let config = app.get_plugin_config(&caller, &plugin).await?;
    let schema = app.plugin_config_schema(&caller, &plugin).await?;
    Ok(PluginView {
        plugin: app.get_plugin(&caller, &plugin).await?,
        settings: settings_form::settings_form(schema.as_ref(), &config.settings),
        connections: app.list_plugin_connections(&caller, &plugin).await?,
    })
}

/// Downloads a component from `url`, checks it against `sha256` and installs it (granting
/// everything it asks for with `grant_all`), then opens its page.
#[server(prefix = "/ui/fn", endpoint = "install_plugin_url")]
pub async fn install_plugin_url(
    url: String,
    sha256: String,
    #[server(default)] grant_all: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let request = PluginFromUrl {
        url: url.trim().to_owned(),
        sha256: sha256.trim().to_owned(),
        grant_all,
    };
    let installed = app.install_plugin_from_url(&caller, request).await?;
    leptos_axum::redirect(&format!("/admin/plugins/{}", installed.id));
    Ok(())
}

/// Grants the capabilities checked in `granted` (each by name), replacing earlier grants.
#[server(prefix = "/ui/fn", endpoint = "grant_plugin")]
pub async fn grant_plugin(
    plugin: String,
    #[server(default)] granted: BTreeMap<String, String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let grant = PluginGrant {
        capabilities: granted.into_keys().collect(),
        all: false,
    };
    app.grant_plugin(&caller, &plugin, grant).await?;
    Ok(())
}

/// Enables (`enabled` is `true`) or disables a plugin.
#[server(prefix = "/ui/fn", endpoint = "set_plugin_enabled")]
pub async fn set_plugin_enabled(
    plugin: String,
    enabled: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    app.set_plugin_enabled(&caller, &plugin, enabled).await?;
    Ok(())
}

/// Uninstalls a plugin, once its id is typed to confirm.
#[server(prefix = "/ui/fn", endpoint = "uninstall_plugin")]
pub async fn uninstall_plugin(
    plugin: String,
    confirm: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    confirm_name("plugin", &plugin, &confirm)?;
    app.uninstall_plugin(&caller, &plugin).await?;
    leptos_axum::redirect("/admin/plugins");
    Ok(())
}

/// Saves the settings form: `layout` (JSON) says where each field `values[fN]` goes and of
/// what kind it is; the plugin's schema checks the result.
#[server(prefix = "/ui/fn", endpoint = "save_plugin_settings")]
pub async fn save_plugin_settings(
    plugin: String,
    layout: String,
    #[server(default)] values: BTreeMap<String, String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let layout: settings_form::Layout = serde_json::from_str(&layout)
        .map_err(|e| AppError::invalid("layout", format!("the form's layout is not valid: {e}")))?;
    let settings = settings_form::assemble(&layout, &values)?;
    app.set_plugin_config(&caller, &plugin, PluginConfig { settings })
        .await?;
    Ok(())
}

/// Sets the connection `name` of a plugin. The credential is write-only: empty keeps the
/// one set (unless the base URL changes), `clear_credential` removes it.
#[server(prefix = "/ui/fn", endpoint = "put_plugin_connection")]
pub async fn put_plugin_connection(
    plugin: String,
    name: String,
    base_url: String,
    credential: Option<String>,
    #[server(default)] clear_credential: bool,
    #[server(default)] allow_private: bool,
    #[server(default)] path_prefixes: String,
    requests_per_minute: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let credential = if clear_credential {
        Some(String::new())
    } else {
        non_empty(credential)
    };
    let write = PluginConnectionWrite {
        base_url: base_url.trim().to_owned(),
        credential,
        allow_private,
        path_prefixes: path_prefixes
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        requests_per_minute: non_empty(requests_per_minute)
            .map(|r| parse_field("requests_per_minute", &r))
            .transpose()?,
    };
    app.put_plugin_connection(&caller, &plugin, name.trim(), write)
        .await?;
    Ok(())
}

/// Removes a plugin's connection.
#[server(prefix = "/ui/fn", endpoint = "delete_plugin_connection")]
pub async fn delete_plugin_connection(
    plugin: String,
    name: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    app.delete_plugin_connection(&caller, &plugin, &name)
        .await?;
    Ok(())
}
