//! `/api/v1/plugins`: installed plugins. Instance admins install (a `.wasm` posted as
//! `application/wasm`, or a URL with its sha256 as JSON), grant, upgrade, disable, enable and
//! uninstall; every signed-in user may list them.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
};
use komander_app::{AppError, upload::read_to_limit};
use komander_domain::api::{
    ErrorCode, Page, PageQuery, Plugin, PluginConfig, PluginConnection, PluginConnectionWrite,
    PluginFromUrl, PluginGrant, PluginUpgradeQuery, PluginUploadQuery,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, MAX_BODY_BYTES,
    error::{ApiError, ErrorResponses},
    extract::{AppJson, AppPath, AppQuery, Authenticated, BodyUpload},
};

/// `/api/v1/plugins/{plugin}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PluginPath {
    /// The plugin's id, such as `acme.nomad`.
    #[param(example = "komander.test-guest")]
    pub plugin: String,
}

/// `/api/v1/plugins/{plugin}/connections/{name}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectionPath {
    /// The plugin's id.
    #[param(example = "komander.test-guest")]
    pub plugin: String,
    /// The connection's name.
    #[param(example = "api", value_type = komander_domain::names::ConnectionName, inline)]
    pub name: String,
}

/// The routes of this module. Components are uploaded unread to the use case, which
/// authorizes the caller before reading at most
/// [`MAX_COMPONENT_BYTES`](komander_app::plugins::MAX_COMPONENT_BYTES); every other body
/// keeps the API's small limit.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plugins, install_plugin))
        .routes(routes!(get_plugin, uninstall_plugin))
        .routes(routes!(get_component))
        .routes(routes!(grant_plugin))
        .routes(routes!(upgrade_plugin))
        .routes(routes!(disable_plugin))
        .routes(routes!(enable_plugin))
        .routes(routes!(get_config, put_config))
        .routes(routes!(list_connections))
        .routes(routes!(put_connection, delete_connection))
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map_or("", str::trim)
}

/// Installed plugins, by id.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", params(PageQuery),
    responses((status = 200, body = Page<Plugin>), ErrorResponses))]
async fn list_plugins(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<Json<Page<Plugin>>, ApiError> {
    Ok(Json(s.app.list_plugins(&caller, &q).await?))
}

/// Installs a plugin (instance admins): the component as `application/wasm` or
/// `application/octet-stream` (with `sha256`
/// to check, and `grant_all`), or `{url, sha256, grant_all}` as JSON. It is checked and
/// precompiled before anything is recorded; without `grant_all` it waits as `pending-grant`.
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins", params(PluginUploadQuery),
    request_body(content((String = "application/octet-stream"), (PluginFromUrl = "application/json"))),
    responses((status = 201, body = Plugin), ErrorResponses))]
async fn install_plugin(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PluginUploadQuery>,
    headers: HeaderMap,
    mut body: BodyUpload,
) -> Result<(StatusCode, Json<Plugin>), ApiError> {
    let plugin = match content_type(&headers) {
        "application/wasm" | "application/octet-stream" => {
            s.app
                .install_plugin(&caller, body, q.sha256.as_deref(), q.grant_all)
                .await?
        }
        "application/json" => {
            // A URL is small: it is read under the limit every JSON body has.
            let body = read_to_limit(&mut body, MAX_BODY_BYTES, "the request").await?;
            let request: PluginFromUrl = serde_json::from_slice(&body).map_err(|e| {
                ApiError::new(ErrorCode::InvalidInput, format!("invalid body: {e}"))
            })?;
            s.app.install_plugin_from_url(&caller, request).await?
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "send the component as application/wasm (or application/octet-stream), \
                     or a URL as application/json, not {other:?}"
                ),
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(plugin)))
}

/// A plugin.
#[utoipa::path(get, path = "/api/v1/plugins/{plugin}", tag = "plugins", params(PluginPath),
    responses((status = 200, body = Plugin), ErrorResponses))]
async fn get_plugin(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
) -> Result<Json<Plugin>, ApiError> {
    Ok(Json(s.app.get_plugin(&caller, &p.plugin).await?))
}

/// The component of an installed runtime plugin (`application/wasm`), for a member's CLI to
/// run a `local` environment's deployments with it; 409 for a git provider.
#[utoipa::path(get, path = "/api/v1/plugins/{plugin}/component", tag = "plugins", params(PluginPath),
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>), ErrorResponses))]
async fn get_component(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
) -> Result<([(header::HeaderName, &'static str); 1], Vec<u8>), ApiError> {
    let bytes = s.app.plugin_component(&caller, &p.plugin).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes))
}

/// Uninstalls a plugin and deletes its component (instance admins).
#[utoipa::path(delete, path = "/api/v1/plugins/{plugin}", tag = "plugins", params(PluginPath),
    responses((status = 204), ErrorResponses))]
async fn uninstall_plugin(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
) -> Result<StatusCode, ApiError> {
    s.app.uninstall_plugin(&caller, &p.plugin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grants capabilities the plugin asked for, replacing earlier grants, and enables it
/// (instance admins).
#[utoipa::path(post, path = "/api/v1/plugins/{plugin}/grant", tag = "plugins",
    params(PluginPath), request_body = PluginGrant,
    responses((status = 200, body = Plugin), ErrorResponses))]
async fn grant_plugin(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
    AppJson(body): AppJson<PluginGrant>,
) -> Result<Json<Plugin>, ApiError> {
    Ok(Json(s.app.grant_plugin(&caller, &p.plugin, body).await?))
}

/// Replaces the component with another build of the same plugin, posted as
/// `application/wasm` or `application/octet-stream` (instance admins). Grants carry over for
/// what it still asks for. With `settings`, the install's settings are replaced in the same
/// step, checked against the new build's schema.
#[utoipa::path(post, path = "/api/v1/plugins/{plugin}/upgrade", tag = "plugins",
    params(PluginPath, PluginUpgradeQuery),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, body = Plugin), ErrorResponses))]
async fn upgrade_plugin(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
    AppQuery(q): AppQuery<PluginUpgradeQuery>,
    body: BodyUpload,
) -> Result<Json<Plugin>, ApiError> {
    let settings = q
        .settings()
        .map_err(|message| AppError::invalid("settings", message))?;
    Ok(Json(
        s.app
            .upgrade_plugin(&caller, &p.plugin, body, q.sha256.as_deref(), settings)
            .await?,
    ))
}

/// Keeps a plugin installed but stops running it (instance admins).
#[utoipa::path(post, path = "/api/v1/plugins/{plugin}/disable", tag = "plugins",
    params(PluginPath), responses((status = 200, body = Plugin), ErrorResponses))]
async fn disable_plugin(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
) -> Result<Json<Plugin>, ApiError> {
    Ok(Json(
        s.app.set_plugin_enabled(&caller, &p.plugin, false).await?,
    ))
}

/// Runs a disabled plugin again (instance admins).
#[utoipa::path(post, path = "/api/v1/plugins/{plugin}/enable", tag = "plugins",
    params(PluginPath), responses((status = 200, body = Plugin), ErrorResponses))]
async fn enable_plugin(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
) -> Result<Json<Plugin>, ApiError> {
    Ok(Json(
        s.app.set_plugin_enabled(&caller, &p.plugin, true).await?,
    ))
}

/// The install's admin settings (instance admins).
#[utoipa::path(get, path = "/api/v1/plugins/{plugin}/config", tag = "plugins",
    params(PluginPath), responses((status = 200, body = PluginConfig), ErrorResponses))]
async fn get_config(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
) -> Result<Json<PluginConfig>, ApiError> {
    Ok(Json(s.app.get_plugin_config(&caller, &p.plugin).await?))
}

/// Replaces the install's admin settings, once the plugin's config schema accepts them
/// (instance admins). A refusal names every place the schema objects to.
#[utoipa::path(put, path = "/api/v1/plugins/{plugin}/config", tag = "plugins",
    params(PluginPath), request_body = PluginConfig,
    responses((status = 200, body = PluginConfig), ErrorResponses))]
async fn put_config(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
    AppJson(body): AppJson<PluginConfig>,
) -> Result<Json<PluginConfig>, ApiError> {
    Ok(Json(
        s.app.set_plugin_config(&caller, &p.plugin, body).await?,
    ))
}

/// The connections configured for a plugin (instance admins): never their credentials.
#[utoipa::path(get, path = "/api/v1/plugins/{plugin}/connections", tag = "plugins",
    params(PluginPath), responses((status = 200, body = Page<PluginConnection>), ErrorResponses))]
async fn list_connections(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<PluginPath>,
) -> Result<Json<Page<PluginConnection>>, ApiError> {
    Ok(Json(Page {
        items: s.app.list_plugin_connections(&caller, &p.plugin).await?,
        next_cursor: None,
    }))
}

/// Sets a connection for a plugin (instance admins): its base URL, the credential the host
/// adds (write-only), whether private addresses are allowed, path prefixes and a rate limit.
#[utoipa::path(put, path = "/api/v1/plugins/{plugin}/connections/{name}", tag = "plugins",
    params(ConnectionPath), request_body = PluginConnectionWrite,
    responses((status = 200, body = PluginConnection), ErrorResponses))]
async fn put_connection(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<ConnectionPath>,
    AppJson(body): AppJson<PluginConnectionWrite>,
) -> Result<Json<PluginConnection>, ApiError> {
    Ok(Json(
        s.app
            .put_plugin_connection(&caller, &p.plugin, &p.name, body)
            .await?,
    ))
}

/// Removes a plugin's connection (instance admins).
#[utoipa::path(delete, path = "/api/v1/plugins/{plugin}/connections/{name}", tag = "plugins",
    params(ConnectionPath), responses((status = 204), ErrorResponses))]
async fn delete_connection(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<ConnectionPath>,
) -> Result<StatusCode, ApiError> {
    s.app
        .delete_plugin_connection(&caller, &p.plugin, &p.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
