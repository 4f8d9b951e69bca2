//! The web UI on the API's server: its pages (rendered by `komander-web`), its server
//! functions under [`PREFIX`], its assets, and the browser's session.
//!
//! - Every request of the UI goes through [`browser_session`]: the principal extractor resolves
//!   the session cookie into the [`Viewer`] that pages and server functions read, or gives an
//!   anonymous browser a CSRF cookie of its own for the sign-in form.
//! - Every state-changing request of the UI goes through [`forgery_guard`]: its `Origin` must
//!   be this server's, and a server function's body must carry the CSRF token of the session
//!   (or of the anonymous browser); an upload under [`UPLOADS`], which has no form, carries it
//!   in the [`CSRF_HEADER`].
//! - `/api/v1` takes no cookie: it stays Bearer-only.

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{FromRequestParts, Path, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use komander_domain::api::{ErrorCode, LogQuery, OperationEventsQuery};
use komander_web::{
    ShellAssets,
    api::{CSRF_FIELD, CSRF_HEADER, PREFIX, UPLOADS, plugins::UPLOAD_PATH},
    error::UiError,
    ssr::{AnonymousCsrf, CSRF_COOKIE, CookiePolicy, SESSION_COOKIE, Viewer},
};
use leptos::prelude::provide_context;
use leptos_axum::LeptosRoutes;
use serde::Deserialize;

mod uploads;

use super::{
    AppState, MAX_BODY_BYTES,
    error::ApiError,
    extract::{
        AppQuery, DeploymentPath, LastEventId, LastEventText, OperationPath, PathRef, Principal,
        ServicePath,
    },
};

/// Where the assets are served.
const ASSETS: &str = "/ui/assets";

/// How long an anonymous browser's CSRF cookie lasts, in seconds.
const ANONYMOUS_CSRF_SECONDS: u64 = 12 * 3600;

/// What the UI's routes share beyond the application.
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// The origin browsers reach this server at (`https://komander.example.com`), from the
    /// configured public URL; `None`: the origin of each request's `Host`.
    pub origin: Option<String>,
    /// How cookies are set.
    pub cookies: CookiePolicy,
}

impl WebSettings {
    /// Settings for a server reached at `public_url` (its scheme and authority), or at the
    /// `Host` of each request when `None`.
    pub fn new(public_url: Option<&str>) -> Self {
        let origin = public_url.map(|url| {
            let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
            let scheme = url.split_once("://").map_or("http", |(scheme, _)| scheme);
            let authority = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        });
        let secure = origin.as_deref().is_some_and(|o| o.starts_with("https://"));
        Self {
            origin,
            cookies: CookiePolicy { secure },
        }
    }
}

/// The URL path of the one-time sign-in link carrying `token`.
pub fn sign_in_link_path(token: &str) -> String {
    format!("/ui/sign-in/{token}")
}

/// The UI's routes: pages, server functions, assets, the one-time sign-in link.
pub(super) fn router(state: &AppState) -> Router<AppState> {
    // Pages spawn their resources on the reactive executor: tokio's. Set once per process; a
    // second router (tests build several) finds it set.
    let _ = any_spawner::Executor::init_tokio();
    let pages = leptos_axum::generate_route_list(komander_web::App);
    let context = page_context(state);
    let assets = shell_assets();
    let server_fns = context.clone();
    let call = move |request: Request| {
        leptos_axum::handle_server_fns_with_context(server_fns.clone(), request)
    };
    Router::new()
        .leptos_routes_with_context(state, pages, context, move || {
            komander_web::shell(assets.clone())
        })
        .route(&format!("{PREFIX}/{{*name}}"), get(call.clone()).post(call))
        .route(&format!("{ASSETS}/{{name}}"), get(asset))
        .route("/ui/sign-in/{token}", get(redeem_sign_in_link))
        .route(UPLOAD_PATH, axum::routing::post(uploads::upload_plugin))
        .route(
            "/ui/download/projects/{project}/environments/{environment}/deployments/{deployment}/export",
            get(download_export),
        )
        .route(
            "/ui/download/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}/logs",
            get(download_logs),
        )
        .route(
            "/ui/events/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}",
            get(operation_events),
        )
        .route(
            "/ui/events/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}/logs",
            get(log_events),
        )
        .layer(middleware::from_fn_with_state(state.clone(), forgery_guard))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            browser_session,
        ))
}

/// A page for a path nothing else answers (outside `/api`): the UI's not-found page, 404.
pub(super) async fn not_found_page(State(state): State<AppState>, request: Request) -> Response {
    let context = page_context(&state);
    let assets = shell_assets();
    let render = leptos_axum::render_app_async_with_context(context, move || {
        komander_web::shell(assets.clone())
    });
    let mut response = render(request).await;
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// What pages and server functions find in their context: the application and the cookie
/// policy.
fn page_context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let app = state.app.clone();
    let cookies = state.web.cookies;
    move || {
        provide_context(app.clone());
        provide_context(cookies);
    }
}

/// The URLs of the embedded assets.
fn shell_assets() -> ShellAssets {
    let url = |name: &str| format!("{ASSETS}/{name}");
    ShellAssets {
        stylesheet: url(komander_web_bundle::STYLESHEET.name),
        hydrate: komander_web_bundle::HYDRATE
            .as_ref()
            .map(|h| (url(h.script.name), url(h.module.name))),
    }
}

/// An embedded asset, in the smallest encoding the browser accepts, cached for good (its name
/// changes with its content).
async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = komander_web_bundle::find(&name) else {
        return ApiError::new(ErrorCode::NotFound, format!("no asset named {name:?}"))
            .into_response();
    };
    let accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (encoding, body) = if accepts(accepted, "br") {
        (Some("br"), asset.brotli)
    } else if accepts(accepted, "gzip") {
        (Some("gzip"), asset.gzip)
    } else {
        (None, asset.identity)
    };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

/// Whether an `Accept-Encoding` value accepts `coding` (named, and not with `q=0`).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        parts.next().is_some_and(|c| c.eq_ignore_ascii_case(coding))
            && !parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            })
    })
}

/// The one-time sign-in link `komander serve` printed: starts a session and opens the
/// projects; a used, expired or unknown link goes to the sign-in page, which says so.
async fn redeem_sign_in_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.app.redeem_sign_in_link(&token).await {
        Ok(session) => {
            let mut response = Redirect::to("/").into_response();
            let cookies = state.web.cookies;
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                cookies.cookie(SESSION_COOKIE, session.id.expose(), None),
            );
            headers.append(header::SET_COOKIE, cookies.cookie(CSRF_COOKIE, "", Some(0)));
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            response
        }
        Err(e) => {
            tracing::info!(error = %e, "a sign-in link was refused");
            Redirect::to("/sign-in?link=refused").into_response()
        }
    }
}

/// The export bundle of a deployment, downloaded by a signed-in browser: what a page links to
/// cannot send an API token, so the session cookie authenticates it, and the same use case as
/// the API's answers.
async fn download_export(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<Response, ApiError> {
    let archive =
        super::deployments::export_archive(&state.app, &viewer.caller, &deployment).await?;
    Ok(archive.into_response())
}

/// The last lines of a service's log (as many as one page of the log holds), downloaded by a
/// signed-in browser as a text file: one line each, `<time> <stream> <line>`, secret values
/// replaced as the API replaces them.
async fn download_logs(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    PathRef(service): PathRef<ServicePath>,
) -> Result<Response, ApiError> {
    let query = LogQuery {
        cursor: None,
        limit: Some(LOG_DOWNLOAD_LINES),
    };
    let page = state
        .app
        .service_logs(&viewer.caller, &service, &query)
        .await?;
    let mut text = String::new();
    for line in &page.lines {
        let at = line
            .at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        text.push_str(&format!("{at} {} {}\n", line.stream, line.line));
    }
    let file = format!(
        "attachment; filename=\"{}-{}.log\"",
        service.deployment.name, service.name
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        text,
    )
        .into_response())
}

/// How many lines a log download holds: the most one page of the log may.
const LOG_DOWNLOAD_LINES: u32 = 1000;

/// An operation's live events for a signed-in browser (an `EventSource` sends no API token):
/// the API's stream, from `Last-Event-ID`, else `after`, and `steps`.
async fn operation_events(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    LastEventId(last): LastEventId,
    AppQuery(query): AppQuery<OperationEventsQuery>,
    PathRef((deployment, id)): PathRef<OperationPath>,
) -> Result<Response, ApiError> {
    let after = last.or(query.after).unwrap_or(0);
    let steps = query.steps.unwrap_or(0);
    super::operations::follow_operation(&state.app, &viewer.caller, &deployment, id, after, steps)
        .await
}

/// Where a browser's log stream starts: after the event `last` (the id of the last line the
/// page rendered), or with the last `tail` lines.
#[derive(Debug, Deserialize)]
struct UiLogEventsQuery {
    tail: Option<u32>,
    last: Option<String>,
}

/// A service's log followed live by a signed-in browser: the API's stream, from
/// `Last-Event-ID` (a reconnect), else `last` (the page's last line), else the last `tail`
/// lines.
async fn log_events(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    LastEventText(header_id): LastEventText,
    AppQuery(query): AppQuery<UiLogEventsQuery>,
    PathRef(service): PathRef<ServicePath>,
) -> Result<Response, ApiError> {
    let last = header_id.or(query.last);
    super::runs::follow_service_logs(
        &state.app,
        &viewer.caller,
        &service,
        last.as_deref(),
        query.tail,
    )
    .await
}

/// The signed-in viewer of a UI route that is not a page (a download, an event stream):
/// without a session, 401.
struct SignedIn(Viewer);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .map(SignedIn)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "sign in first"))
    }
}

/// Resolves the browser's session into the [`Viewer`] of the request; an anonymous browser
/// without a CSRF cookie gets one.
async fn browser_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Assets are the same for everyone: no session is looked up for them.
    if request.uri().path().starts_with(ASSETS) {
        let mut response = next.run(request).await;
        harden(&mut response);
        return response;
    }
    let mut new_csrf = None;
    match Principal::from_session(request.headers(), &state.app).await {
        Ok(Some(viewer)) => {
            request.extensions_mut().insert(viewer);
        }
        Ok(None) => {
            let token = cookie(request.headers(), CSRF_COOKIE)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    let token = komander_secrets::ApiToken::generate("")
                        .token
                        .expose()
                        .to_owned();
                    new_csrf = Some(token.clone());
                    token
                });
            request.extensions_mut().insert(AnonymousCsrf(token));
        }
        Err(e) => return e.into_response(),
    }
    let mut response = next.run(request).await;
    harden(&mut response);
    let signed_in = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| {
            v.as_bytes()
                .starts_with(format!("{SESSION_COOKIE}=").as_bytes())
        });
    if let Some(token) = new_csrf.filter(|_| !signed_in) {
        response.headers_mut().append(
            header::SET_COOKIE,
            state
                .web
                .cookies
                .cookie(CSRF_COOKIE, &token, Some(ANONYMOUS_CSRF_SECONDS)),
        );
    }
    response
}

/// No answer of the UI may be framed by another site (clickjacking), nor sniffed into another
/// type, nor leak its address to other sites.
fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
}

/// Refuses a state-changing request from another site: its `Origin` must be this server's,
/// and a server function's form must carry the CSRF token of the browser's session.
async fn forgery_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if let Err(message) = check_origin(request.headers(), state.web.origin.as_deref()) {
        return refuse(ErrorCode::Forbidden, message);
    }
    let expected = request
        .extensions()
        .get::<Viewer>()
        .map(|v| v.csrf.clone())
        .or_else(|| {
            request
                .extensions()
                .get::<AnonymousCsrf>()
                .map(|AnonymousCsrf(t)| t.clone())
        });
    if request.uri().path().starts_with(UPLOADS) {
        // An upload is a body, not a form: its token travels in a header.
        let sent = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let carrier = format!(" in its {CSRF_HEADER} header");
        return match check_csrf(expected, sent, "upload", &carrier) {
            Ok(()) => next.run(request).await,
            Err(message) => refuse(ErrorCode::Forbidden, message),
        };
    }
    if !request.uri().path().starts_with(PREFIX) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refuse(
                ErrorCode::PayloadTooLarge,
                format!("the form is larger than {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    let sent = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.into_owned());
    match check_csrf(expected, sent, "form", "") {
        Ok(()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(message) => refuse(ErrorCode::Forbidden, message),
    }
}

/// Checks the CSRF token `sent` by a `what` (a form, an upload) against the browser's,
/// `expected`; the refusal's message otherwise, saying where the token goes (`carrier`).
fn check_csrf(
    expected: Option<String>,
    sent: Option<String>,
    what: &str,
    carrier: &str,
) -> Result<(), String> {
    match (expected, sent) {
        (Some(expected), Some(sent)) if same(expected.as_bytes(), sent.as_bytes()) => Ok(()),
        (_, None) => Err(format!(
            "the {what} carries no CSRF token{carrier}: reload the page and send it again"
        )),
        _ => Err(format!(
            "the {what}'s CSRF token is not this session's: reload the page and send it again"
        )),
    }
}

/// A refused server-function call, in the shape server functions answer errors (so that a
/// page shows the message), with the status of `code`.
fn refuse(code: ErrorCode, message: impl Into<String>) -> Response {
    ui_error(UiError::new(code, message))
}

/// An error as server functions answer theirs, with the status of its code.
fn ui_error(error: UiError) -> Response {
    (super::error::status_of(error.code()), axum::Json(error)).into_response()
}

/// Checks the `Origin` of a state-changing request against this server's origin (or, without
/// a configured one, the request's own `Host`); the refusal's message otherwise.
fn check_origin(headers: &HeaderMap, configured: Option<&str>) -> Result<(), String> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .ok_or("a state-changing request without an Origin header is refused")?;
    let allowed = match configured {
        Some(expected) => origin.eq_ignore_ascii_case(expected),
        None => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            host.is_some_and(|h| authority.is_some_and(|a| a.eq_ignore_ascii_case(h)))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "cross-site request refused: Origin {origin} is not this server"
        ))
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_and_forms_checked_against_the_public_origin_when_there_is_one() {
        let https = WebSettings::new(Some("https://komander.example.com/some/path"));
        assert_eq!(
            https.origin.as_deref(),
            Some("https://komander.example.com")
        );
        assert!(https.cookies.secure);
        let cookie = https.cookies.cookie(SESSION_COOKIE, "id", None);
        let cookie = cookie.to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        let http = WebSettings::new(Some("http://10.0.0.5:8080"));
        assert!(!http.cookies.secure);
        assert!(!WebSettings::new(None).cookies.secure);
    }

    #[test]
    fn the_origin_must_be_this_servers() {
        let headers = |origin: Option<&str>, host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            headers
        };
        let public = Some("https://komander.example.com");
        assert!(
            check_origin(
                &headers(Some("https://komander.example.com"), "internal:8080"),
                public
            )
            .is_ok()
        );
        for refused in [
            "http://komander.example.com",
            "https://evil.example",
            "null",
        ] {
            assert!(
                check_origin(&headers(Some(refused), "komander.example.com"), public).is_err(),
                "{refused}"
            );
        }
        assert!(check_origin(&headers(None, "komander.example.com"), public).is_err());
        // Without a public URL, the request's own Host.
        assert!(
            check_origin(
                &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
                None
            )
            .is_ok()
        );
        assert!(
            check_origin(
                &headers(Some("http://127.0.0.1:9999"), "127.0.0.1:8080"),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn an_encoding_refused_with_q_zero_is_not_sent() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("br;q=0.5", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(!accepts("identity", "gzip"));
    }
}
