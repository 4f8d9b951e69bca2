//! Following an operation live from the command line: reads its event stream
//! (`GET .../operations/{operation}/events`), prints each progress line as it comes, resumes
//! after a dropped connection with `Last-Event-ID` (so no line is lost or printed twice), and
//! answers how the operation ended. `komander deployment follow` uses it; so does every
//! command that starts an operation and waits for it. [`follow_logs`] follows a service's log
//! the same way (`komander deployment logs --follow`).

use std::time::Duration;

use anyhow::Context as _;
use komander_domain::{
    OperationId,
    api::{
        EVENT_END, EVENT_LOG_LINE, EVENT_LOG_TAIL, EVENT_PROGRESS, EVENT_RESUME, EVENT_STEP,
        OperationEnded, OperationState, ProgressLine, ServiceLogLine, StepEvent, StreamResume,
    },
};
use serde::de::DeserializeOwned;

use super::{
    ApiClient, ApiError, OutputFormat,
    view::{Json, OperationView, Plain, note, print_log_lines},
};

/// How many times in a row a stream may fail (unreachable, cut before any new event, 5xx)
/// before following gives up.
pub const MAX_RETRIES: u32 = 6;

/// The wait before the first retry; it doubles after each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// An operation that ended otherwise than `done`: `komander` exits 7 for it.
#[derive(Debug, thiserror::Error)]
#[error("operation {operation} {}{}", .state.as_str(), note(.message.as_deref()))]
pub struct OperationFailed {
    /// The operation.
    pub operation: OperationId,
    /// How it ended: `failed` or `cancelled`.
    pub state: OperationState,
    /// Why, as its holder said.
    pub message: Option<String>,
}

/// `Ok` when `ended` says the operation is `done`; otherwise [`OperationFailed`], which
/// `komander` maps to exit code 7.
///
/// # Errors
/// [`OperationFailed`] for `failed`, `cancelled` (and `running`, which an `end` never says).
pub fn require_done(operation: OperationId, ended: OperationEnded) -> Result<(), OperationFailed> {
    match ended.state {
        OperationState::Done => Ok(()),
        state => Err(OperationFailed {
            operation,
            state,
            message: ended.message,
        }),
    }
}

/// Follows the operation at `operation_path` (`/api/v1/projects/{p}/environments/{e}/
/// deployments/{d}/operations/{id}`) until it ends, and answers how it ended. Prints each
/// progress line on standard output as it arrives (`--output json`: one JSON object per event,
/// `{"event": "progress", "data": {...}}`), steps and the end as notes on standard error.
/// After a dropped connection it resumes after the last line printed, waiting 0.25 s, then
/// twice as long after each failure in a row, up to [`MAX_RETRIES`] failures in a row.
///
/// # Errors
/// An [`ApiError`] when the server refuses the stream (not found, forbidden, 429 too many
/// streams); the last error when the stream failed [`MAX_RETRIES`] times in a row; a failure
/// to write standard output.
pub async fn follow_operation(
    api: &ApiClient,
    operation_path: &str,
    out: OutputFormat,
) -> anyhow::Result<OperationEnded> {
    let view: Box<dyn OperationView> = match out {
        OutputFormat::Table => Box::new(Plain),
        OutputFormat::Json => Box::new(Json),
    };
    follow_with(api, operation_path, view).await
}

/// As [`follow_operation`], each event shown by `view`.
///
/// # Errors
/// As [`follow_operation`].
pub async fn follow_with(
    api: &ApiClient,
    operation_path: &str,
    mut view: Box<dyn OperationView>,
) -> anyhow::Result<OperationEnded> {
    let view = view.as_mut();
    let path = format!("{operation_path}/events");
    let mut cursor = Cursor::default();
    let mut failures = 0;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let progressed_before = cursor.clone();
        let failure = match read_stream(api, &path, &mut cursor, view).await {
            Ok(Read::Ended(ended)) => return Ok(ended),
            Ok(Read::Resume) => {
                failures = 0;
                backoff = FIRST_BACKOFF;
                continue;
            }
            Ok(Read::Closed) => anyhow::anyhow!("the server closed the stream before its end"),
            Err(err) if !retryable(&err) => return Err(err),
            Err(err) => err,
        };
        if cursor != progressed_before {
            failures = 0;
            backoff = FIRST_BACKOFF;
        }
        failures += 1;
        if failures > MAX_RETRIES {
            return Err(failure.context(format!(
                "following {operation_path}: gave up after {MAX_RETRIES} retries"
            )));
        }
        view.cut(&format!(
            "the event stream was cut ({failure:#}); resuming after line {} in {} ms",
            cursor.after,
            backoff.as_millis()
        ));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Whether following may try again after `err`: not when the server refused with a 4xx.
fn retryable(err: &anyhow::Error) -> bool {
    !err.chain()
        .filter_map(|cause| cause.downcast_ref::<ApiError>())
        .any(|e| e.status.is_client_error())
}

/// What has been printed: the last progress line and the last step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Cursor {
    after: u64,
    steps: u32,
}

/// How one connection to the stream ended.
#[derive(Debug)]
enum Read {
    /// With the `end` event.
    Ended(OperationEnded),
    /// With a `resume` event: open it again at once.
    Resume,
    /// Closed by the server without either.
    Closed,
}

/// Reads one connection of the stream from `cursor`, printing and advancing as events come.
async fn read_stream(
    api: &ApiClient,
    path: &str,
    cursor: &mut Cursor,
    view: &mut dyn OperationView,
) -> anyhow::Result<Read> {
    let steps = cursor.steps.to_string();
    let query = [("steps", steps.as_str())];
    let last_event_id = (cursor.after > 0).then(|| cursor.after.to_string());
    let mut response = api
        .open_events(path, &query, last_event_id.as_deref())
        .await?;
    let mut parser = SseParser::default();
    while let Some(chunk) = response.chunk().await.context("reading the event stream")? {
        for event in parser.push(&chunk) {
            if let Some(read) = handle(&event, cursor, view)? {
                return Ok(read);
            }
        }
    }
    Ok(Read::Closed)
}

/// Shows one event and advances `cursor`; answers how the connection ends when the event
/// ends it. Lines and steps at or before the cursor are skipped, so none shows twice.
fn handle(
    event: &SseEvent,
    cursor: &mut Cursor,
    view: &mut dyn OperationView,
) -> anyhow::Result<Option<Read>> {
    match event.name.as_str() {
        EVENT_PROGRESS => {
            let line: ProgressLine = data(event)?;
            if line.sequence <= cursor.after {
                return Ok(None);
            }
            cursor.after = line.sequence;
            view.line(&line, &event.data)?;
        }
        EVENT_STEP => {
            let step: StepEvent = data(event)?;
            if step.position <= cursor.steps {
                return Ok(None);
            }
            cursor.steps = step.position;
            view.step(&step, &event.data)?;
        }
        EVENT_END => {
            let ended: OperationEnded = data(event)?;
            view.end(&ended, &event.data)?;
            return Ok(Some(Read::Ended(ended)));
        }
        EVENT_RESUME => {
            let _: StreamResume = data(event)?;
            return Ok(Some(Read::Resume));
        }
        // Events a newer server may add are skipped.
        _ => {}
    }
    Ok(None)
}

/// Follows the log at `log_path` (`…/services/{service}/logs`) until interrupted: prints its
/// last `tail` lines, then each new line as it comes (`--output json`: one JSON object per
/// line). After a dropped connection, or when the server ends the stream at its lifetime, it
/// resumes with the id of the last event read, so no line is lost or printed twice; it gives
/// up after [`MAX_RETRIES`] failures in a row, waiting as [`follow_operation`] does.
///
/// # Errors
/// An [`ApiError`] when the server refuses the stream; the last error after [`MAX_RETRIES`]
/// failures in a row; a failure to write standard output.
pub async fn follow_logs(
    api: &ApiClient,
    log_path: &str,
    tail: u32,
    out: OutputFormat,
) -> anyhow::Result<()> {
    let path = format!("{log_path}/events");
    let tail = tail.to_string();
    let mut last_id: Option<String> = None;
    let mut failures = 0;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let before = last_id.clone();
        let failure = match read_log_stream(api, &path, &tail, &mut last_id, out).await {
            Ok(()) => {
                failures = 0;
                backoff = FIRST_BACKOFF;
                continue;
            }
            Err(err) if !retryable(&err) => return Err(err),
            Err(err) => err,
        };
        if last_id != before {
            failures = 0;
            backoff = FIRST_BACKOFF;
        }
        failures += 1;
        if failures > MAX_RETRIES {
            return Err(failure.context(format!(
                "following {log_path}: gave up after {MAX_RETRIES} retries"
            )));
        }
        eprintln!(
            "the log stream was cut ({failure:#}); resuming in {} ms",
            backoff.as_millis()
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Reads one connection of a log stream, printing each line and remembering the last id;
/// answers when the server ends it with `resume`.
async fn read_log_stream(
    api: &ApiClient,
    path: &str,
    tail: &str,
    last_id: &mut Option<String>,
    out: OutputFormat,
) -> anyhow::Result<()> {
    let query = [("tail", tail)];
    let mut response = api.open_events(path, &query, last_id.as_deref()).await?;
    let mut parser = SseParser::default();
    while let Some(chunk) = response.chunk().await.context("reading the log stream")? {
        for event in parser.push(&chunk) {
            let lines: Vec<ServiceLogLine> = match event.name.as_str() {
                EVENT_LOG_TAIL => data(&event)?,
                EVENT_LOG_LINE => vec![data(&event)?],
                EVENT_RESUME => return Ok(()),
                _ => continue,
            };
            print_log_lines(out, &lines).context("writing standard output")?;
            if event.id.is_some() {
                last_id.clone_from(&event.id);
            }
        }
    }
    anyhow::bail!("the server closed the log stream")
}

fn data<T: DeserializeOwned>(event: &SseEvent) -> anyhow::Result<T> {
    serde_json::from_str(&event.data)
        .with_context(|| format!("reading a {} event: {:?}", event.name, event.data))
}

/// One server-sent event.
#[derive(Debug, PartialEq, Eq)]
struct SseEvent {
    /// `event:`, `message` when absent.
    name: String,
    /// `id:`, when it has one.
    id: Option<String>,
    /// `data:` lines joined by newlines.
    data: String,
}

/// Splits a byte stream into events: blocks ended by a blank line; comments (heartbeats) and
/// blocks without data are skipped; a block cut by the end of the stream is never answered.
#[derive(Default)]
struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    /// Takes the next bytes; answers the events they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend(bytes.iter().filter(|b| **b != b'\r'));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            if let Some(event) = parse_block(&String::from_utf8_lossy(&block)) {
                events.push(event);
            }
        }
        events
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut name = None;
    let mut id = None;
    let mut data: Option<String> = None;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    Some(SseEvent {
        name: name.unwrap_or_else(|| "message".to_owned()),
        id,
        data: data?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_joined_and_heartbeats_skipped() {
        let mut parser = SseParser::default();
        assert_eq!(
            parser.push(b": heartbeat\n\nevent: progress\nid: 1\nda"),
            []
        );
        let events = parser.push(b"ta: {\"a\":1}\r\n\r\nevent: end\ndata: x\ndata: y\n\n");
        assert_eq!(
            events,
            [
                SseEvent {
                    name: "progress".into(),
                    id: Some("1".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    name: "end".into(),
                    id: None,
                    data: "x\ny".into()
                },
            ]
        );
        assert_eq!(
            parser.push(b"event: progress\ndata: cut"),
            [],
            "an unfinished event is never answered"
        );
    }

    #[test]
    fn lines_and_steps_at_or_before_the_cursor_are_skipped() {
        let line = |sequence: u64| SseEvent {
            name: EVENT_PROGRESS.into(),
            id: Some(sequence.to_string()),
            data: format!(r#"{{"sequence":{sequence},"text":"l","at":"2026-12-01T10:00:00Z"}}"#),
        };
        let mut cursor = Cursor { after: 2, steps: 0 };
        assert!(handle(&line(2), &mut cursor, &mut Json).unwrap().is_none());
        assert_eq!(cursor.after, 2);
        handle(&line(3), &mut cursor, &mut Json).unwrap();
        assert_eq!(cursor.after, 3);
        let bad = SseEvent {
            name: EVENT_PROGRESS.into(),
            id: None,
            data: "not json".into(),
        };
        let err = handle(&bad, &mut cursor, &mut Json).unwrap_err();
        assert!(
            format!("{err:#}").contains("reading a progress event"),
            "{err:#}"
        );
    }

    #[test]
    fn only_done_is_success() {
        let id = OperationId::new();
        let ended = |state| OperationEnded {
            state,
            message: Some("web did not start".into()),
        };
        assert!(require_done(id, ended(OperationState::Done)).is_ok());
        let failed = require_done(id, ended(OperationState::Failed)).unwrap_err();
        assert_eq!(
            failed.to_string(),
            format!("operation {id} failed: web did not start")
        );
        assert!(require_done(id, ended(OperationState::Cancelled)).is_err());
    }
}
