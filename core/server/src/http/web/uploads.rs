//! Files a page uploads itself, too large for a server function's form: a plugin's component.
//! The browser's session authenticates them; [`forgery_guard`](super::forgery_guard) has
//! checked their `Origin` and the CSRF token in their
//! [`CSRF_HEADER`](komander_web::api::CSRF_HEADER). The body reaches the use case unread, as
//! for the API: it authorizes the caller first, then reads at most
//! [`MAX_COMPONENT_BYTES`](komander_app::plugins::MAX_COMPONENT_BYTES).

use axum::{
    Extension, Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use komander_domain::api::ErrorCode;
use komander_web::ssr::Viewer;
use serde::Deserialize;

use super::super::{
    AppState,
    extract::{AppQuery, BodyUpload},
};

/// `?sha256=&grant_all=&upgrade=` of an upload.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ComponentQuery {
    /// The expected SHA-256, hex.
    sha256: Option<String>,
    /// Grant every capability it asks for at once (an install).
    #[serde(default)]
    grant_all: bool,
    /// The plugin this build upgrades; absent installs it.
    upgrade: Option<String>,
}

/// `POST /ui/upload/plugins`: installs the component in the body, or upgrades the plugin
/// `upgrade` with it. Answers the plugin, or the error as a server function would.
pub(super) async fn upload_plugin(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    AppQuery(query): AppQuery<ComponentQuery>,
    body: BodyUpload,
) -> Response {
    let Some(Extension(viewer)) = viewer else {
        return super::refuse(ErrorCode::Unauthenticated, "sign in first");
    };
    let caller = &viewer.caller;
    let sha256 = query.sha256.as_deref().filter(|s| !s.trim().is_empty());
    let answer = match &query.upgrade {
        Some(id) => {
            state
                .app
                .upgrade_plugin(caller, id, body, sha256, None)
                .await
        }
        None => {
            state
                .app
                .install_plugin(caller, body, sha256, query.grant_all)
                .await
        }
    };
    match answer {
        Ok(plugin) => {
            let status = if query.upgrade.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, Json(plugin)).into_response()
        }
        Err(e) => super::ui_error(e.into()),
    }
}
