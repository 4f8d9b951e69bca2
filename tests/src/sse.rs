//! A reader of server-sent event streams for tests: opens a stream with a bearer token (and a
//! `Last-Event-ID` when resuming) and answers its events one by one, skipping comments
//! (heartbeats), so a test sees exactly what a client would.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// One event of a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    /// Its `event:` name (`message` when it has none).
    pub name: String,
    /// Its `id:`, when it has one.
    pub id: Option<String>,
    /// Its `data:`, parsed as JSON.
    pub data: Value,
}

/// An open event stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl EventStream {
    /// Opens `url` as `token`, resuming after `last_event_id` when given; answers the status
    /// and, when it is 200, the stream (the body, parsed as JSON, otherwise).
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub async fn open(
        url: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, (StatusCode, Value)> {
        // No overall timeout: a stream lasts; each read is bounded by `next`.
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let mut request = client
            .get(url)
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        if status != StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            return Err((
                status,
                serde_json::from_str(&body).unwrap_or(Value::String(body)),
            ));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "content type {content_type:?}"
        );
        Ok(EventStream {
            response,
            buffer: Vec::new(),
        })
    }

    /// The next event; `None` when the server closed the stream.
    ///
    /// # Panics
    /// When no event (and no end) comes within `within`, or the connection fails.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.read_event())
            .await
            .unwrap_or_else(|_| panic!("no event within {within:?}"))
    }

    /// Reads the whole rest of the stream, until the server closes it.
    ///
    /// # Panics
    /// As [`EventStream::next`], for each event.
    pub async fn rest(&mut self, within: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next(within).await {
            events.push(event);
        }
        events
    }

    async fn read_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&String::from_utf8_lossy(&block)) {
                    return Some(event);
                }
                continue;
            }
            match self.response.chunk().await.expect("reading the stream") {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => return None,
            }
        }
    }
}

/// One event block; `None` for comments only.
fn parse(block: &str) -> Option<SseEvent> {
    let (mut name, mut id, mut data) = (None, None, Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = data.join("\n");
    Some(SseEvent {
        name: name.unwrap_or_else(|| "message".to_owned()),
        id,
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
    })
}
