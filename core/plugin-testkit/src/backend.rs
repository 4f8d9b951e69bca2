//! A fake backend for a remote runtime's connection: an HTTP server on 127.0.0.1 that answers
//! each request with what the test says and records what it received.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use http_body_util::{BodyExt, Full};
use hyper::{
    body::{Bytes, Incoming},
    header::CONTENT_TYPE,
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::Error;

/// One request the backend received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `PUT`…
    pub method: String,
    /// The path with its query, such as `/deployments/d-1?volumes=true`.
    pub path: String,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, empty when there is none.
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the header `name` (any case), the first when repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// What the backend answers to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl Response {
    /// An empty answer with the status `status` (such as 200, 404, 500).
    pub fn status(status: u16) -> Response {
        Response {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    /// `body` as JSON, with the status `status`.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: Some("application/json"),
            body: body.to_string().into_bytes(),
        }
    }

    /// `body` as plain text, with the status `status`.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body: body.as_bytes().to_vec(),
        }
    }

    /// The answer as hyper sends it; a status outside 100–999 becomes a 500 naming it.
    fn into_hyper(self) -> hyper::Response<Full<Bytes>> {
        let mut builder = hyper::Response::builder().status(self.status);
        if let Some(content_type) = self.content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        builder.body(Full::from(self.body)).unwrap_or_else(|_| {
            let mut refused = hyper::Response::new(Full::from(format!(
                "the test answered the invalid status {}",
                self.status
            )));
            *refused.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            refused
        })
    }
}

/// How the test answers a request.
type Answer = dyn Fn(&Request) -> Response + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 (a port of its own) answering every request with the test's
/// function and keeping each request; it stops when dropped. Keep state between requests (what
/// a PUT created, for a later GET) in the function's captures, behind a `Mutex`.
pub struct FakeBackend {
    url: String,
    received: Arc<Mutex<Vec<Request>>>,
    server: JoinHandle<()>,
}

impl FakeBackend {
    /// Starts the backend, answering each request with `answer`.
    ///
    /// # Errors
    /// [`Error::Listen`] when no port on 127.0.0.1 can be bound.
    pub async fn start(
        answer: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Result<FakeBackend, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Listen)?;
        let address = listener.local_addr().map_err(Error::Listen)?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let server = tokio::spawn(serve(listener, answer, received.clone()));
        Ok(FakeBackend {
            url: format!("http://{address}"),
            received,
            server,
        })
    }

    /// Its base URL, `http://127.0.0.1:<port>`: a connection's `base_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.received
            .lock()
            .map(|received| received.clone())
            .unwrap_or_default()
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Accepts connections until aborted, serving each on a task of its own.
async fn serve(listener: TcpListener, answer: Arc<Answer>, received: Arc<Mutex<Vec<Request>>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let answer = answer.clone();
        let received = received.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let answer = answer.clone();
                let received = received.clone();
                async move {
                    let request = read(request).await;
                    let response = answer(&request);
                    if let Ok(mut received) = received.lock() {
                        received.push(request);
                    }
                    Ok::<_, Infallible>(response.into_hyper())
                }
            });
            // A client that goes away mid-request ends only its own connection.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The request as the test sees it; a body that did not arrive whole is left empty.
async fn read(request: hyper::Request<Incoming>) -> Request {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes().to_vec())
        .unwrap_or_default();
    Request {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    }
}
