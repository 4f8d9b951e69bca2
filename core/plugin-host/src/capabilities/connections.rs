//! `komander:host/connections`: HTTP through a named connection. The host adds the credential,
//! so the guest never sees it; only granted base URLs and path prefixes are reachable; private,
//! loopback, link-local (cloud metadata) and other non-public addresses are refused unless the
//! grant allows them, checked on the resolved address the request is then pinned to (no DNS
//! rebinding); redirects are not followed. The secret values in scope for a call (a
//! deployment's, for a remote runtime's apply) are written into request bodies where the guest
//! put their placeholders, and taken out again of what the server answers.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use base64::Engine as _;
use komander_domain::names::ConnectionName;
use reqwest::{Method, Url, header::HeaderValue};

use super::{
    SecretValues,
    call::{CallContext, Capability, HostCapability},
    deployment::REDACTED_MIN_BYTES,
};
use crate::{
    bindings::{
        connections::{
            Host, HttpMethod, HttpRequest, HttpResponse, SecretEncoding, SecretSubstitution,
        },
        types::{Error as WitError, RateLimit},
    },
    error::HostError,
    host::HostState,
};

/// The `connections` capability: a call holds the install's connections. A manifest asks
/// with `true`, or with the list of connection names the plugin uses.
pub(crate) struct ConnectionsCapability;

impl HostCapability for ConnectionsCapability {
    type Grant = Vec<Arc<Connection>>;
    type State = Vec<Arc<Connection>>;

    fn check(request: &toml::Value) -> Result<(), String> {
        match request {
            toml::Value::Boolean(true) => Ok(()),
            toml::Value::Array(names) => names.iter().try_for_each(|name| match name.as_str() {
                Some(name) if name.parse::<ConnectionName>().is_ok() => Ok(()),
                _ => Err(format!(
                    "{name} is not a connection name (1 to 63 of a-z 0-9 - starting with a \
                     letter)"
                )),
            }),
            other => Err(format!(
                "expected `true` or a list of connection names, found {other}"
            )),
        }
    }

    fn prepare(connections: Vec<Arc<Connection>>) -> Vec<Arc<Connection>> {
        connections
    }
}

/// The largest request body, in bytes.
pub const REQUEST_BYTES: usize = 8 << 20;
/// The largest response body, in bytes; a longer one fails the call.
pub const RESPONSE_BYTES: usize = 16 << 20;
/// The longest a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What an admin granted for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionGrant {
    /// May reach private, loopback and link-local addresses (an on-premises API).
    pub allow_private: bool,
    /// Path prefixes allowed under the base URL; empty allows every path.
    pub path_prefixes: Vec<String>,
    /// Requests allowed per minute (a token bucket of that size, refilled evenly); `None` for
    /// no limit. Over it, calls answer `rate-limited` with the time to wait.
    pub requests_per_minute: Option<u32>,
}

/// A named connection: a base URL, the credential the host adds, its grant and its rate
/// limit. Keep one per install and share it between calls (`Arc`): the limit spans them.
pub struct Connection {
    /// The name the guest uses.
    pub name: String,
    /// Requests go below this URL.
    pub base_url: Url,
    /// The `Authorization` value the host adds (never shown to the guest).
    pub authorization: Option<HeaderValue>,
    /// What the admin allowed.
    pub grant: ConnectionGrant,
    bucket: std::sync::Mutex<Bucket>,
}

/// A token bucket: `capacity` requests, refilled at `capacity` per minute.
struct Bucket {
    tokens: f64,
    refilled: std::time::Instant,
}

impl Connection {
    /// A connection named `name` to `base_url`, adding `authorization`, within `grant`.
    pub fn new(
        name: impl Into<String>,
        base_url: Url,
        authorization: Option<HeaderValue>,
        grant: ConnectionGrant,
    ) -> Connection {
        let tokens = f64::from(grant.requests_per_minute.unwrap_or(0));
        Connection {
            name: name.into(),
            base_url,
            authorization,
            grant,
            bucket: std::sync::Mutex::new(Bucket {
                tokens,
                refilled: std::time::Instant::now(),
            }),
        }
    }

    /// Takes one request from the bucket, or answers `rate-limited` with the wait.
    fn take_token(&self) -> Result<(), WitError> {
        let Some(per_minute) = self.grant.requests_per_minute else {
            return Ok(());
        };
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let mut bucket = self.bucket.lock().expect("bucket lock");
        let now = std::time::Instant::now();
        let refill = now.duration_since(bucket.refilled).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = if per_second > 0.0 {
            (1.0 - bucket.tokens) / per_second
        } else {
            60.0
        };
        Err(WitError::RateLimited(RateLimit {
            retry_after_ms: (wait * 1000.0).ceil() as u64,
            message: format!(
                "connection {:?} allows {per_minute} requests a minute",
                self.name
            ),
        }))
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("base_url", &self.base_url.as_str())
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

/// Whether `ip` is a public unicast address. Everything else (loopback, private ranges,
/// link-local with the cloud metadata service, carrier-grade NAT, unique-local, multicast,
/// unspecified, documentation ranges) needs `allow_private`.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            // Addresses that embed an IPv4 address or reach one through a translator (NAT64
            // 64:ff9b::/96, 6to4 2002::/16, IPv4-compatible ::a.b.c.d) are refused whole: they
            // can lead to private or metadata addresses.
            let embeds_ipv4 = (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
                || first == 0x2002
                || (segments[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified());
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || embeds_ipv4
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || first == 0x2001 && segments[1] == 0x0db8)
        }
    }
}

/// Headers only the host sets: credentials, and the framing of the request.
const HOST_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// Headers some proxies and frameworks read as the request's real path: a guest could use
/// them to reach a path outside the granted prefixes behind such a server.
const PATH_OVERRIDE_HEADERS: &[&str] = &["x-original-url", "x-rewrite-url"];

/// The longest path (with its query), in bytes.
pub const PATH_BYTES: usize = 8 << 10;

/// The segments of a URL's path, without the empty one a trailing `/` leaves: `/v1/` and `/v1`
/// are both `["v1"]`, `/` is none.
fn segments(url: &Url) -> Vec<&str> {
    let mut segments: Vec<&str> = url.path_segments().into_iter().flatten().collect();
    if segments.last() == Some(&"") {
        segments.pop();
    }
    segments
}

/// Whether the parsed `url` lies at or below `below` (the base URL with a prefix appended,
/// parsed the same way), comparing whole path segments: `/v1` admits `/v1` and `/v1/x`, not
/// `/v10` nor `/v1admin`.
fn under(url: &Url, below: &Url) -> bool {
    segments(url).starts_with(&segments(below))
}

fn method(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
    }
}

/// The base URL with `path` (and its query) appended, parsed.
fn join(base: &Url, path: &str) -> Result<Url, <Url as std::str::FromStr>::Err> {
    Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/')))
}

/// Checks the request against the connection's grant and builds its URL.
///
/// The URL parser drops tabs and line breaks and resolves dot segments, so control
/// characters are refused before parsing, and the prefixes are checked on the parsed path.
fn target(connection: &Connection, req: &HttpRequest) -> Result<Url, WitError> {
    let path = &req.path;
    if path.len() > PATH_BYTES {
        return Err(WitError::InvalidInput(format!(
            "a path is at most {PATH_BYTES} bytes"
        )));
    }
    if let Some(control) = path.chars().find(|c| c.is_control()) {
        return Err(WitError::InvalidInput(format!(
            "the path {path:?} holds the control character {control:?} (U+{:04X}), which is \
             refused",
            u32::from(control)
        )));
    }
    if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
        return Err(WitError::InvalidInput(format!(
            "the path {path:?} must be relative to the connection and start with one '/'"
        )));
    }
    let without_query = path.split(['?', '#']).next().unwrap_or_default();
    if without_query
        .split('/')
        .any(|s| s == ".." || s == "." || s.contains('%'))
    {
        return Err(WitError::InvalidInput(format!(
            "the path {path:?} may not hold '.', '..' or percent-escapes"
        )));
    }
    for (name, _) in &req.headers {
        let lower = name.to_ascii_lowercase();
        if HOST_HEADERS.contains(&lower.as_str()) {
            return Err(WitError::Denied(format!(
                "the header {name:?} is set by the host only"
            )));
        }
        if PATH_OVERRIDE_HEADERS.contains(&lower.as_str()) {
            return Err(WitError::Denied(format!(
                "the header {name:?} is refused: a server may read it as the request's path"
            )));
        }
    }
    for (name, value) in &req.headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || HeaderValue::from_str(value).is_err()
        {
            return Err(WitError::InvalidInput(format!(
                "the header {name:?} is not a valid HTTP header"
            )));
        }
    }
    if req.body.as_ref().is_some_and(|b| b.len() > REQUEST_BYTES) {
        return Err(WitError::InvalidInput(format!(
            "a request body is at most {REQUEST_BYTES} bytes"
        )));
    }
    let base = &connection.base_url;
    let url = join(base, path)
        .map_err(|e| WitError::InvalidInput(format!("the path {path:?} makes no URL: {e}")))?;
    // What the parser made of the path, not the guest's text, is what must stay inside.
    if url.origin() != base.origin() || !under(&url, base) {
        return Err(WitError::Denied(format!(
            "the path {path:?} leads outside the base URL of connection {:?}",
            connection.name
        )));
    }
    let prefixes = &connection.grant.path_prefixes;
    if !prefixes.is_empty()
        && !prefixes
            .iter()
            .any(|prefix| join(base, prefix).is_ok_and(|prefix| under(&url, &prefix)))
    {
        return Err(WitError::Denied(format!(
            "the path {:?} is outside the prefixes granted to connection {:?}",
            url.path(),
            connection.name
        )));
    }
    Ok(url)
}

/// The shortest and longest placeholder of a secret substitution.
const PLACEHOLDER_CHARS: std::ops::RangeInclusive<usize> = 16..=64;

/// `value` as `encoding` writes it.
fn encode(value: &str, encoding: SecretEncoding) -> String {
    match encoding {
        SecretEncoding::Raw => value.to_owned(),
        SecretEncoding::JsonString => {
            let quoted = serde_json::Value::from(value).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        }
        SecretEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(value),
    }
}

/// `haystack` with every occurrence of `needle` (not empty) replaced by `with`.
fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A substitution made in a request body: what to take out of the answer again.
struct Substituted {
    placeholder: String,
    /// The value's raw and encoded forms, long enough to redact.
    forms: Vec<String>,
}

/// Writes each secret of `substitutions` into `body` where its placeholder stands.
///
/// # Errors
/// `denied` when no secret is in scope for the call or a reference is not one of its secrets;
/// `invalid-input` for a placeholder of the wrong shape, given twice or absent from the body,
/// for substitutions without a body, or a body over [`REQUEST_BYTES`] once substituted.
fn substitute(
    body: Option<Vec<u8>>,
    substitutions: &[SecretSubstitution],
    secrets: &SecretValues,
) -> Result<(Option<Vec<u8>>, Vec<Substituted>), WitError> {
    if substitutions.is_empty() {
        return Ok((body, Vec::new()));
    }
    if secrets.is_empty() {
        return Err(WitError::Denied(
            "no secret is in scope for this call: only a remote runtime's apply steps carry \
             the deployment's secrets"
                .into(),
        ));
    }
    let Some(mut body) = body else {
        return Err(WitError::InvalidInput(
            "secret substitutions need a body to write the values into".into(),
        ));
    };
    let mut done: Vec<Substituted> = Vec::new();
    for substitution in substitutions {
        let placeholder = &substitution.placeholder;
        if !PLACEHOLDER_CHARS.contains(&placeholder.len())
            || !placeholder
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(WitError::InvalidInput(format!(
                "the placeholder {placeholder:?} must be 16 to 64 characters of A-Z a-z 0-9 _ -"
            )));
        }
        if done.iter().any(|d| &d.placeholder == placeholder) {
            return Err(WitError::InvalidInput(format!(
                "the placeholder {placeholder:?} is given twice"
            )));
        }
        if !body
            .windows(placeholder.len())
            .any(|w| w == placeholder.as_bytes())
        {
            return Err(WitError::InvalidInput(format!(
                "the placeholder {placeholder:?} is not in the body"
            )));
        }
        let value = secrets.get(&substitution.secret.name)?;
        let encoded = encode(value, substitution.encoding);
        body = replace(&body, placeholder.as_bytes(), encoded.as_bytes());
        let mut forms = vec![value.to_owned()];
        if encoded != value {
            forms.push(encoded);
        }
        forms.retain(|f| f.len() >= REDACTED_MIN_BYTES);
        done.push(Substituted {
            placeholder: placeholder.clone(),
            forms,
        });
    }
    if body.len() > REQUEST_BYTES {
        return Err(WitError::InvalidInput(format!(
            "a request body is at most {REQUEST_BYTES} bytes once its secrets are written in"
        )));
    }
    Ok((Some(body), done))
}

/// `body` with every secret value it echoes replaced by its placeholder.
fn redact(mut body: Vec<u8>, substituted: &[Substituted]) -> Vec<u8> {
    for substitution in substituted {
        for form in &substitution.forms {
            body = replace(&body, form.as_bytes(), substitution.placeholder.as_bytes());
        }
    }
    body
}

/// Resolves the URL's host and checks every address; answers the one to connect to.
async fn resolve(connection: &Connection, url: &Url) -> Result<SocketAddr, HostError> {
    // The admin's base URL was checked to have a host, and a guest's path cannot remove it.
    let host = url
        .host_str()
        .ok_or_else(|| HostError::trap("a connection URL without a host"))?;
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| WitError::Unavailable(format!("resolving {host}: {e}")))?
        .collect();
    let first = *addresses
        .first()
        .ok_or_else(|| WitError::Unavailable(format!("{host} has no address")))?;
    if !connection.grant.allow_private
        && let Some(blocked) = addresses.iter().find(|a| !is_public(a.ip()))
    {
        return Err(WitError::Denied(format!(
            "{host} resolves to the non-public address {}; the connection's grant does not \
             allow private, loopback or metadata addresses",
            blocked.ip()
        ))
        .into());
    }
    Ok(first)
}

async fn send(
    connection: &Connection,
    req: HttpRequest,
    secrets: &SecretValues,
) -> Result<HttpResponse, HostError> {
    let url = target(connection, &req)?;
    let (body, substituted) = substitute(req.body, &req.secrets, secrets)?;
    connection.take_token()?;
    let address = resolve(connection, &url).await?;
    let timeout = req.timeout_ms.map_or(REQUEST_TIMEOUT, |ms| {
        Duration::from_millis(ms.into()).min(REQUEST_TIMEOUT)
    });
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout);
    if let Some(host) = url.host_str() {
        client = client.resolve(host, address);
    }
    let client = client
        .build()
        .map_err(|e| WitError::Internal(format!("building an HTTP client: {e}")))?;
    let mut request = client.request(method(req.method), url);
    for (name, value) in &req.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(authorization) = &connection.authorization {
        request = request.header(reqwest::header::AUTHORIZATION, authorization.clone());
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let mut response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            WitError::Timeout(format!("connection {:?}: {e}", connection.name))
        } else {
            WitError::Unavailable(format!("connection {:?}: {e}", connection.name))
        }
    })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(n, _)| *n != reqwest::header::SET_COOKIE)
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| WitError::Unavailable(format!("reading the response: {e}")))?
    {
        if body.len() + chunk.len() > RESPONSE_BYTES {
            return Err(WitError::InvalidInput(format!(
                "the response is larger than {RESPONSE_BYTES} bytes"
            ))
            .into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        headers,
        body: redact(body, &substituted),
    })
}

impl Host for HostState {
    async fn request(
        &mut self,
        connection: String,
        req: HttpRequest,
    ) -> Result<HttpResponse, HostError> {
        let connections = CallContext::granted(&self.call.connections, Capability::Connections)?;
        let Some(found) = connections.iter().find(|c| c.name == connection) else {
            return Err(WitError::NotFound(format!(
                "no connection named {connection:?} is granted to this install"
            ))
            .into());
        };
        send(&found.clone(), req, &self.call.secrets).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_spans_calls_and_says_when_to_retry() {
        let connection = Connection::new(
            "api",
            "https://api.example.com".parse().unwrap(),
            None,
            ConnectionGrant {
                allow_private: false,
                path_prefixes: vec![],
                requests_per_minute: Some(2),
            },
        );
        assert!(connection.take_token().is_ok());
        assert!(connection.take_token().is_ok());
        match connection.take_token() {
            Err(WitError::RateLimited(limit)) => {
                assert!(
                    (1..=30_000).contains(&limit.retry_after_ms),
                    "{}",
                    limit.retry_after_ms
                );
                assert!(limit.message.contains("2 requests a minute"));
            }
            other => panic!("expected rate-limited, got {other:?}"),
        }
    }

    /// The connection `api` to `base`, granted `prefixes`.
    fn granted(base: &str, prefixes: &[&str]) -> Connection {
        Connection::new(
            "api",
            base.parse().unwrap(),
            None,
            ConnectionGrant {
                allow_private: false,
                path_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
                requests_per_minute: None,
            },
        )
    }

    fn get(path: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: HttpMethod::Get,
            path: path.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: None,
            secrets: vec![],
            timeout_ms: None,
        }
    }

    #[test]
    fn prefixes_match_whole_segments_of_the_parsed_path() {
        let api = granted("https://api.example.com", &["/v1"]);
        for allowed in ["/v1", "/v1/", "/v1/hello", "/v1/hello?page=2", "/v1//x"] {
            let url = target(&api, &get(allowed, &[])).unwrap();
            assert!(url.path().starts_with("/v1"), "{allowed}: {url}");
        }
        // "/v1/.. ": the parser drops the trailing space, then resolves the "..".
        for outside in ["/v10", "/v1admin", "/v2/x", "/", "/admin?/v1/", "/v1/.. "] {
            match target(&api, &get(outside, &[])) {
                Err(WitError::Denied(m)) => assert!(m.contains("outside the prefixes"), "{m}"),
                other => panic!("{outside}: expected denied, got {other:?}"),
            }
        }
        // A prefix with a trailing slash, and a base URL with a path of its own.
        let under_base = granted("https://api.example.com/base/", &["/v1/"]);
        let url = target(&under_base, &get("/v1/x", &[])).unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/base/v1/x");
        assert!(target(&under_base, &get("/v10/x", &[])).is_err());
    }

    #[test]
    fn control_characters_in_the_path_are_refused_before_parsing() {
        let api = granted("https://api.example.com", &["/v1/"]);
        for (path, named) in [
            ("/v1/.\t./.\t./admin", "'\\t'"),
            ("/v1/.\r./.\n./admin", "'\\r'"),
            ("/v1/x?q=\n", "'\\n'"),
            ("/v1/x\u{0}", "'\\0'"),
            ("/v1/x\u{7f}", "'\\u{7f}'"),
            ("/v1/x\u{85}", "'\\u{85}'"),
        ] {
            match target(&api, &get(path, &[])) {
                Err(WitError::InvalidInput(m)) => {
                    assert!(m.contains("control character") && m.contains(named), "{m}")
                }
                other => panic!("{path:?}: expected invalid-input, got {other:?}"),
            }
        }
    }

    #[test]
    fn path_override_headers_are_refused() {
        let api = granted("https://api.example.com", &["/v1/"]);
        for name in ["X-Original-URL", "x-rewrite-url", "X-REWRITE-URL"] {
            match target(&api, &get("/v1/x", &[(name, "/admin")])) {
                Err(WitError::Denied(m)) => assert!(m.contains(name), "{m}"),
                other => panic!("{name}: expected denied, got {other:?}"),
            }
        }
        assert!(target(&api, &get("/v1/x", &[("X-Request-Id", "1")])).is_ok());
    }

    /// Values for the references `api/TOKEN` and `api/NOTE`.
    fn secrets() -> SecretValues {
        let mut secrets = SecretValues::default();
        secrets.insert("api/TOKEN", "s3cr\"t-value");
        secrets.insert("api/NOTE", "line\nbreak");
        secrets
    }

    fn substitution(placeholder: &str, name: &str, encoding: SecretEncoding) -> SecretSubstitution {
        SecretSubstitution {
            placeholder: placeholder.into(),
            secret: crate::bindings::types::SecretRef { name: name.into() },
            encoding,
        }
    }

    const TOKEN: &str = "__komander_secret_0__";
    const NOTE: &str = "__komander_secret_1__";

    #[test]
    fn secrets_are_written_where_their_placeholders_stand_and_taken_out_of_the_answer() {
        let body = format!(r#"{{"a":"{TOKEN}","b":"{TOKEN}","c":"{NOTE}"}}"#);
        let (sent, substituted) = substitute(
            Some(body.into_bytes()),
            &[
                substitution(TOKEN, "api/TOKEN", SecretEncoding::JsonString),
                substitution(NOTE, "api/NOTE", SecretEncoding::Base64),
            ],
            &secrets(),
        )
        .unwrap();
        let sent = String::from_utf8(sent.unwrap()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(parsed["a"], "s3cr\"t-value", "{sent}");
        assert_eq!(parsed["b"], "s3cr\"t-value", "every occurrence: {sent}");
        assert_eq!(parsed["c"], "bGluZQpicmVhaw==", "{sent}");
        // An answer echoing a value, raw or as sent, gets the placeholder back.
        let echoed = format!("raw s3cr\"t-value, sent {sent}");
        let redacted = String::from_utf8(redact(echoed.into_bytes(), &substituted)).unwrap();
        assert!(!redacted.contains("t-value"), "{redacted}");
        assert!(!redacted.contains("bGluZQpicmVhaw=="), "{redacted}");
        assert!(
            redacted.contains(TOKEN) && redacted.contains(NOTE),
            "{redacted}"
        );
        let raw = substitute(
            Some(TOKEN.as_bytes().to_vec()),
            &[substitution(TOKEN, "api/TOKEN", SecretEncoding::Raw)],
            &secrets(),
        )
        .unwrap();
        assert_eq!(raw.0.unwrap(), b"s3cr\"t-value");
    }

    #[test]
    fn a_bad_substitution_is_refused_naming_what_is_wrong() {
        let body = || Some(format!("x {TOKEN} y").into_bytes());
        let json = SecretEncoding::JsonString;
        for (subs, secrets, body, denied, needle) in [
            (
                vec![substitution(TOKEN, "api/TOKEN", json)],
                SecretValues::default(),
                body(),
                true,
                "no secret is in scope".to_owned(),
            ),
            (
                vec![substitution(TOKEN, "other/TOKEN", json)],
                secrets(),
                body(),
                true,
                "\"other/TOKEN\" is not one of this deployment's secrets".to_owned(),
            ),
            (
                vec![substitution("short", "api/TOKEN", json)],
                secrets(),
                Some(b"short".to_vec()),
                false,
                "\"short\" must be 16 to 64 characters".to_owned(),
            ),
            (
                vec![substitution("__komander secret 0__", "api/TOKEN", json)],
                secrets(),
                Some(b"__komander secret 0__".to_vec()),
                false,
                "must be 16 to 64 characters".to_owned(),
            ),
            (
                vec![substitution(NOTE, "api/NOTE", json)],
                secrets(),
                body(),
                false,
                format!("{NOTE:?} is not in the body"),
            ),
            (
                vec![
                    substitution(TOKEN, "api/TOKEN", json),
                    substitution(TOKEN, "api/NOTE", json),
                ],
                secrets(),
                body(),
                false,
                format!("{TOKEN:?} is given twice"),
            ),
            (
                vec![substitution(TOKEN, "api/TOKEN", json)],
                secrets(),
                None,
                false,
                "need a body".to_owned(),
            ),
        ] {
            match (substitute(body, &subs, &secrets), denied) {
                (Err(WitError::Denied(m)), true) | (Err(WitError::InvalidInput(m)), false) => {
                    assert!(m.contains(&needle), "{needle:?} not in {m:?}")
                }
                (other, _) => panic!("{needle}: got {:?}", other.map(|(b, _)| b)),
            }
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for embedded in [
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::a9fe:a9fe",
            "fec0::1",
        ] {
            assert!(!is_public(embedded.parse().unwrap()), "{embedded}");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
