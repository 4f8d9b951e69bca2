//! The HTTP client of `/api/v1`: JSON in and out through the `komander_domain::api` types, a
//! bearer token, lists followed to their last page, and every non-2xx answer turned into a typed
//! [`ApiError`] that `main` maps to an exit code.

use std::{fmt, time::Duration};

use anyhow::Context as _;
use komander_domain::api::{ErrorBody, ErrorCode, PAGE_MAX, Page};
use reqwest::{Method, Response, StatusCode};
use serde::{Serialize, de::DeserializeOwned};

/// How many pages a list follows at most; past that it stops and keeps the `next_cursor`.
pub const MAX_PAGES: usize = 100;

/// How long one request may take, from connecting to the last byte of the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long connecting may take, for event streams (which have no overall timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an event stream may stay silent before the client gives it up as dead: three of
/// the server's 15 s heartbeats.
const STREAM_SILENCE: Duration = Duration::from_secs(45);

/// A non-2xx answer of the server, from its [`ErrorBody`] when it sent one.
#[derive(Debug, thiserror::Error)]
#[error("the server answered {status}: {message}{}", field_note(.field))]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code; derived from the status when the body was not an [`ErrorBody`] (a proxy's
    /// error page, say).
    pub code: ErrorCode,
    /// The server's message, for people.
    pub message: String,
    /// The request field at fault, when the server named one.
    pub field: Option<String>,
}

fn field_note(field: &Option<String>) -> String {
    field
        .as_deref()
        .map(|field| format!(" (field {field})"))
        .unwrap_or_default()
}

impl ApiError {
    /// The error an answer with `status` and `body` stands for.
    fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
            return Self {
                status,
                code: error.code,
                message: error.message,
                field: error.field,
            };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let message = if text.is_empty() {
            status.canonical_reason().unwrap_or("no details").to_owned()
        } else {
            text.chars().take(200).collect()
        };
        let code = match status.as_u16() {
            400 | 422 => ErrorCode::InvalidInput,
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            408 => ErrorCode::Timeout,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::TooManyRequests,
            _ => ErrorCode::Internal,
        };
        Self {
            status,
            code,
            message,
            field: None,
        }
    }
}

/// A client of one Komander server, sending an API token as a bearer token when it has one.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// For event streams: no overall timeout, a bound on silence instead.
    streams: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ApiClient {
    /// A client of the server at `server` (an `http://` or `https://` URL, possibly with a path
    /// prefix), authenticated by `token` when given.
    ///
    /// # Errors
    /// When `server` is not an HTTP URL, or the HTTP client cannot be set up.
    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Self> {
        let server = server.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&server)
            .with_context(|| format!("parsing the server URL {server:?}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "the server URL {server:?} is neither http:// nor https://"
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("komander/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("setting up the HTTP client")?;
        let streams = reqwest::Client::builder()
            .user_agent(concat!("komander/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STREAM_SILENCE)
            .build()
            .context("setting up the HTTP client")?;
        Ok(Self {
            http,
            streams,
            server,
            token,
        })
    }

    /// The server's URL, without a trailing slash.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether requests carry a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `GET path`, answered with a `T`.
    ///
    /// # Errors
    /// When the server cannot be reached, answers non-2xx ([`ApiError`]) or not with a `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(Method::GET, path, &[], None::<&()>).await
    }

    /// `GET path?query`, answered with a `T`.
    ///
    /// # Errors
    /// As [`ApiClient::get`].
    pub async fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<T> {
        self.json(Method::GET, path, query, None::<&()>).await
    }

    /// `GET path`, answered with raw bytes (such as an archive).
    ///
    /// # Errors
    /// When the server cannot be reached or answers non-2xx ([`ApiError`]).
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let response = self.send(Method::GET, path, &[], Body::<()>::None).await?;
        let url = response.url().clone();
        Ok(response
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {url}"))?
            .to_vec())
    }

    /// `POST path` with `body`, answered with a `T`.
    ///
    /// # Errors
    /// As [`ApiClient::get`].
    pub async fn post<B, T>(&self, path: &str, body: &B) -> anyhow::Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.json(Method::POST, path, &[], Some(body)).await
    }

    /// `POST path` with `body`, answered 204 without a body.
    ///
    /// # Errors
    /// When the server cannot be reached or answers non-2xx ([`ApiError`]).
    pub async fn post_no_content<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<()> {
        self.send(Method::POST, path, &[], Body::Json(body)).await?;
        Ok(())
    }

    /// `POST path` without a body (an action: share, resolve, accept), answered with a `T`.
    ///
    /// # Errors
    /// As [`ApiClient::get`].
    pub async fn post_action<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(Method::POST, path, &[], None::<&()>).await
    }

    /// `POST path` with `body` for the holder of an operation's lease (the token in the
    /// `X-Komander-Lease` header), answered with a `T`.
    ///
    /// # Errors
    /// As [`ApiClient::get`].
    pub async fn post_leased<B, T>(&self, path: &str, lease: &str, body: &B) -> anyhow::Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let request = self
            .http
            .post(format!("{}{path}", self.server))
            .header("x-komander-lease", lease)
            .json(body);
        let response = self.dispatch(request).await?;
        let url = response.url().clone();
        response
            .json()
            .await
            .with_context(|| format!("reading the answer of {url}"))
    }

    /// `PATCH path` with `body`, answered with a `T`.
    ///
    /// # Errors
    /// As [`ApiClient::get`].
    pub async fn patch<B, T>(&self, path: &str, body: &B) -> anyhow::Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.json(Method::PATCH, path, &[], Some(body)).await
    }

    /// `PUT path` with `body`, answered with a `T`.
    ///
    /// # Errors
    /// As [`ApiClient::get`].
    pub async fn put<B, T>(&self, path: &str, body: &B) -> anyhow::Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.json(Method::PUT, path, &[], Some(body)).await
    }

    /// `POST path?query` with a component as `application/wasm`, answered with a `T`.
    ///
    /// # Errors
    /// As [`ApiClient::get`].
    pub async fn post_wasm<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        component: Vec<u8>,
    ) -> anyhow::Result<T> {
        let response = self
            .send(Method::POST, path, query, Body::<()>::Wasm(component))
            .await?;
        let url = response.url().clone();
        response
            .json()
            .await
            .with_context(|| format!("reading the answer of {url}"))
    }

    /// `DELETE path`, with `?force=true` when `force`; the server answers 204.
    ///
    /// # Errors
    /// When the server cannot be reached or answers non-2xx ([`ApiError`]).
    pub async fn delete(&self, path: &str, force: bool) -> anyhow::Result<()> {
        let query: &[(&str, &str)] = if force { &[("force", "true")] } else { &[] };
        self.send(Method::DELETE, path, query, Body::<()>::None)
            .await?;
        Ok(())
    }

    /// `GET path?query` as a stream of server-sent events, resuming after `last_event_id`
    /// when given: the answer, whose body the caller reads chunk by chunk. The stream has no
    /// overall timeout; it fails when the server stays silent for 45 s.
    ///
    /// # Errors
    /// When the server cannot be reached or answers non-2xx ([`ApiError`]).
    pub async fn open_events(
        &self,
        path: &str,
        query: &[(&str, &str)],
        last_event_id: Option<&str>,
    ) -> anyhow::Result<Response> {
        let mut request = self
            .streams
            .get(format!("{}{path}", self.server))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        self.dispatch(request).await
    }

    /// `GET path` of a list, following `next_cursor` page after page: all items in one
    /// [`Page`] whose `next_cursor` is `null`, unless [`MAX_PAGES`] were not enough (then it is
    /// the cursor to go on from, and a warning says so).
    ///
    /// # Errors
    /// As [`ApiClient::get`], for any page.
    pub async fn list<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Page<T>> {
        let limit = PAGE_MAX.to_string();
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page: Page<T> = {
                let mut query = vec![("limit", limit.as_str())];
                if let Some(cursor) = cursor.as_deref() {
                    query.push(("cursor", cursor));
                }
                self.json(Method::GET, path, &query, None::<&()>).await?
            };
            items.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        if cursor.is_some() {
            eprintln!("warning: stopped after {MAX_PAGES} pages of {path}; the list is incomplete");
        }
        Ok(Page {
            items,
            next_cursor: cursor,
        })
    }

    async fn json<B, T>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> anyhow::Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let body = match body {
            Some(body) => Body::Json(body),
            None => Body::None,
        };
        let response = self.send(method, path, query, body).await?;
        let url = response.url().clone();
        response
            .json()
            .await
            .with_context(|| format!("reading the answer of {url}"))
    }

    /// Sends one request; a non-2xx answer becomes an [`ApiError`].
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_, B>,
    ) -> anyhow::Result<Response> {
        let url = format!("{}{path}", self.server);
        let mut request = self.http.request(method, url.as_str());
        if !query.is_empty() {
            request = request.query(query);
        }
        request = match body {
            Body::None => request,
            Body::Json(body) => request.json(body),
            Body::Wasm(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/wasm")
                .body(bytes),
        };
        self.dispatch(request).await
    }

    /// Sends a prepared request with the token; a non-2xx answer becomes an [`ApiError`].
    async fn dispatch(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Response> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("reaching {}", self.server))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(ApiError::from_answer(status, &body).into())
    }
}

/// What a request carries.
enum Body<'a, B: ?Sized> {
    /// Nothing.
    None,
    /// A JSON document.
    Json(&'a B),
    /// A WebAssembly component.
    Wasm(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_typed_errors() {
        let body = br#"{"error":{"code":"conflict","message":"name taken","field":"name"}}"#;
        let err = ApiError::from_answer(StatusCode::CONFLICT, body);
        assert_eq!(err.code, ErrorCode::Conflict);
        assert_eq!(err.field.as_deref(), Some("name"));
        assert_eq!(
            err.to_string(),
            "the server answered 409 Conflict: name taken (field name)"
        );
    }

    #[test]
    fn other_bodies_keep_the_status() {
        let err = ApiError::from_answer(StatusCode::BAD_GATEWAY, b"");
        assert_eq!(err.code, ErrorCode::Internal);
        assert_eq!(err.message, "Bad Gateway");
        let err = ApiError::from_answer(StatusCode::NOT_FOUND, b"<html>nope</html>");
        assert_eq!(err.code, ErrorCode::NotFound);
    }
}
