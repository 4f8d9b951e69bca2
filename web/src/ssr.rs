//! The server's half of the UI: who is asking, and the application every server function
//! calls. The server's HTTP layer resolves the browser's session once per request (the same
//! principal extractor as the REST API's) and puts the [`Viewer`] into the request's
//! extensions; leptos hands server functions and page renders the request's head.

use axum::http::{HeaderValue, header, request::Parts};
use komander_app::{App, Caller, sessions::NewSession};
use komander_domain::api::ErrorCode;
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::error::UiError;

/// The cookie that holds a browser's session id.
pub const SESSION_COOKIE: &str = "komander_session";

/// The cookie that holds an anonymous browser's CSRF token, until it signs in.
pub const CSRF_COOKIE: &str = "komander_csrf";

/// The signed-in user of a request, with their session.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// The user.
    pub caller: Caller,
    /// The session's id, as the cookie holds it (stored hashed on the server).
    pub session: String,
    /// The session's CSRF token, which every form of the session carries.
    pub csrf: String,
}

/// How the session cookies are set: `Secure` when the server's public URL is https.
#[derive(Clone, Copy, Debug, Default)]
pub struct CookiePolicy {
    /// Add `Secure`.
    pub secure: bool,
}

impl CookiePolicy {
    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`, `Secure` when the policy says
    /// so; `max_age` in seconds (0 clears the cookie), or a session cookie when `None`.
    pub fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).expect("cookie values are URL-safe base64")
    }
}

/// Sets the cookie of a session just started, on the answer of this request.
///
/// # Errors
/// An internal error when the server provided no response options (a bug).
pub fn start_session(session: &NewSession) -> Result<(), UiError> {
    let response = use_context::<ResponseOptions>()
        .ok_or_else(|| UiError::new(ErrorCode::Internal, "no response options"))?;
    let policy = use_context::<CookiePolicy>().unwrap_or_default();
    response.append_header(
        header::SET_COOKIE,
        policy.cookie(SESSION_COOKIE, session.id.expose(), None),
    );
    response.append_header(header::SET_COOKIE, policy.cookie(CSRF_COOKIE, "", Some(0)));
    Ok(())
}

/// Clears the session cookie on the answer of this request.
pub fn end_session() {
    if let Some(response) = use_context::<ResponseOptions>() {
        let policy = use_context::<CookiePolicy>().unwrap_or_default();
        response.append_header(
            header::SET_COOKIE,
            policy.cookie(SESSION_COOKIE, "", Some(0)),
        );
    }
}

/// The pre-session CSRF token of an anonymous browser (its cookie's value), which the sign-in
/// form carries.
#[derive(Clone, Debug)]
pub struct AnonymousCsrf(pub String);

/// The application, provided to every page render and server function.
///
/// # Errors
/// An internal error when the server did not provide it (a bug).
pub fn app() -> Result<App, UiError> {
    use_context::<App>()
        .ok_or_else(|| UiError::new(ErrorCode::Internal, "the server provided no application"))
}

/// The request's head.
fn parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// Whether this request is a form posted without JavaScript (it accepts HTML): its answer is
/// a redirect, and only an address can carry a value back.
pub fn plain_form() -> bool {
    parts().is_some_and(|p| {
        p.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
    })
}

/// The signed-in user of this request, if any.
pub fn viewer() -> Option<Viewer> {
    parts().and_then(|p| p.extensions.get::<Viewer>().cloned())
}

/// The CSRF token a form of this request carries: the session's, else the anonymous
/// browser's.
pub fn csrf_token() -> Option<String> {
    let parts = parts()?;
    if let Some(viewer) = parts.extensions.get::<Viewer>() {
        return Some(viewer.csrf.clone());
    }
    parts
        .extensions
        .get::<AnonymousCsrf>()
        .map(|AnonymousCsrf(token)| token.clone())
}

/// The application and the signed-in caller.
///
/// # Errors
/// `unauthenticated` when nobody is signed in.
pub fn signed_in() -> Result<(App, Caller), UiError> {
    let viewer =
        viewer().ok_or_else(|| UiError::new(ErrorCode::Unauthenticated, "sign in first"))?;
    Ok((app()?, viewer.caller))
}

/// The `Host` the browser reached this server at, as it sent it.
pub fn request_host() -> Option<String> {
    parts().and_then(|p| {
        p.headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// The scheme the browser reached this server at: `https` when cookies are `Secure` (the
/// public URL is https), else `http`.
pub fn request_scheme() -> &'static str {
    if use_context::<CookiePolicy>().unwrap_or_default().secure {
        "https"
    } else {
        "http"
    }
}
