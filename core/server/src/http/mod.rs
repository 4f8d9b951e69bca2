//! The REST API: `router(state)` builds every route, the OpenAPI document generated from the
//! handlers (`/api/v1/openapi.json`), health endpoints and the layers around them. Handlers
//! are thin: extract, call one `App` use case, answer.

mod closed;
mod deployments;
mod environments;
pub mod error;
mod extract;
mod links;
pub mod listener;
mod operations;
mod plugins;
mod projects;
mod reserved;
mod rules;
mod runs;
mod targets;
mod users;
pub mod web;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use komander_app::App;
use komander_domain::api::{ErrorBody, ErrorCode, ErrorDetail};
use leptos::config::LeptosOptions;
use tower_http::trace::TraceLayer;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use error::ApiError;

/// The largest request body the API accepts (413 above it).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub app: App,
    metrics: Arc<Metrics>,
    request_timeout: Duration,
    /// What the web UI's routes share.
    web: web::WebSettings,
    /// What leptos's page routes ask of the state; Komander serves its assets itself.
    leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// State over an application, with the default request timeout.
    pub fn new(app: App) -> Self {
        Self {
            app,
            metrics: Arc::new(Metrics {
                started: Instant::now(),
                requests: AtomicU64::new(0),
                server_errors: AtomicU64::new(0),
            }),
            request_timeout: listener::HttpLimits::default().request_timeout,
            web: web::WebSettings::new(None),
            leptos: LeptosOptions::builder().output_name("komander_web").build(),
        }
    }

    /// The web UI reached by browsers at `public_url` (cookies `Secure` when it is https,
    /// forms accepted from its origin only); without one, at each request's `Host`.
    pub fn with_public_url(mut self, public_url: Option<&str>) -> Self {
        self.web = web::WebSettings::new(public_url);
        self
    }

    /// Answers 408 to a request whose answer has not started within `timeout`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

struct Metrics {
    started: Instant,
    requests: AtomicU64,
    server_errors: AtomicU64,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Komander API", description = "Komander's REST API: projects, members, environments, deployments, services and variables. Authenticate with `Authorization: Bearer <token>`."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    security(("bearer" = [])),
    tags(
        (name = "users", description = "Users and API tokens"),
        (name = "projects", description = "Projects and their audit log"),
        (name = "members", description = "Members and invitation links"),
        (name = "environments", description = "Environments of a project"),
        (name = "deployments", description = "Deployments of an environment"),
        (name = "operations", description = "Operations on a deployment, held by a lease, with their steps and progress"),
        (name = "services", description = "Services of a deployment and their variables"),
        (name = "plugins", description = "Installed plugins (instance admins write)"),
        (name = "targets", description = "Docker Engines server deployments run on (instance admins write)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes and OpenAPI document, without state.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(users::router())
        .merge(projects::router())
        .merge(environments::router())
        .merge(deployments::router())
        .merge(operations::router())
        .merge(runs::router())
        .merge(plugins::router())
        .merge(targets::router())
        .split_for_parts();
    links::add(&mut doc);
    reserved::add(&mut doc);
    closed::add(&mut doc);
    rules::add(&mut doc);
    (router, doc)
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// Every route of the server, with its layers. Tests call this and send requests with
/// `oneshot`, without a socket.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc);
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { Json(doc.as_ref().clone()) }),
    )
    .route("/healthz", get(|| async { "ok" }))
    .route("/readyz", get(readyz))
    .route("/metrics", get(metrics))
    .merge(web::router(&state))
    .fallback(not_found)
    .method_not_allowed_fallback(|| async {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            "this route does not take that method",
        )
    })
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(middleware::from_fn_with_state(state.clone(), deadline))
    .layer(middleware::from_fn_with_state(
        state.clone(),
        count_requests,
    ))
    .layer(
        // The span names the route pattern, never the URI: invitation tokens travel in paths.
        TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("http", method = %request.method(), route)
        }),
    )
    .with_state(state)
}

/// A path nothing answers: under `/api`, the API's 404; elsewhere, the web UI's not-found
/// page.
async fn not_found(state: State<AppState>, request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        ApiError::new(ErrorCode::NotFound, "no such route").into_response()
    } else {
        web::not_found_page(state, request).await
    }
}

/// Ready when the database answers.
async fn readyz(State(s): State<AppState>) -> Response {
    match s.app.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Answers 408 when the handler has not produced its answer within the request timeout (the
/// time a slow client takes to send its body counts). A streamed body, once started, is not
/// bounded.
async fn deadline(State(s): State<AppState>, request: Request, next: Next) -> Response {
    let timeout = s.request_timeout;
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the request took longer than {} s: send it faster, or smaller",
                timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

async fn count_requests(State(s): State<AppState>, request: Request, next: Next) -> Response {
    s.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    if response.status().is_server_error() {
        s.metrics.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// Prometheus text: requests served, server errors, uptime.
async fn metrics(State(s): State<AppState>) -> String {
    let m = &s.metrics;
    format!(
        "# HELP komander_http_requests_total HTTP requests served.\n\
         # TYPE komander_http_requests_total counter\n\
         komander_http_requests_total {}\n\
         # HELP komander_http_server_errors_total HTTP responses with a 5xx status.\n\
         # TYPE komander_http_server_errors_total counter\n\
         komander_http_server_errors_total {}\n\
         # HELP komander_uptime_seconds Seconds since the server started.\n\
         # TYPE komander_uptime_seconds gauge\n\
         komander_uptime_seconds {}\n",
        m.requests.load(Ordering::Relaxed),
        m.server_errors.load(Ordering::Relaxed),
        m.started.elapsed().as_secs()
    )
}
