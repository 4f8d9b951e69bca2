//! Container logs by cursor, read from Docker with timestamps (see
//! [`crate::capabilities::log_pages`]).

use bollard::{container::LogOutput, query_parameters::LogsOptions};
use futures_util::StreamExt;

use super::{DockerScope, engine_error, ops};
use crate::{
    bindings::types::{Error as WitError, LogPage, LogSource},
    capabilities::log_pages::Pager,
};

/// One page of `container`'s log: its last `max_lines` lines without a cursor, the lines
/// after the cursor with one. Holds a slot of the scope's gate while it reads.
pub(super) async fn page(
    scope: &DockerScope,
    container: &str,
    cursor: Option<&str>,
    max_lines: u32,
) -> Result<LogPage, WitError> {
    let mut pager = Pager::new(cursor, max_lines, &scope.secrets)?;
    let _slot = scope.gate.enter().await;
    let id = ops::own_container_id(scope, container).await?;
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        timestamps: true,
        // Docker's `since` counts whole seconds: the pager drops what precedes the cursor.
        since: pager
            .since_nanos()
            .map_or(0, |n| i32::try_from(n / 1_000_000_000).unwrap_or(i32::MAX)),
        tail: match pager.since_nanos() {
            None => pager.tail().to_string(),
            Some(_) => "all".into(),
        },
        ..Default::default()
    };
    let mut stream = scope.client.logs(&id, Some(options));
    'read: while let Some(frame) = stream.next().await {
        let (source, bytes) = match frame.map_err(engine_error)? {
            LogOutput::StdErr { message } => (LogSource::Stderr, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (LogSource::Stdout, message)
            }
            LogOutput::StdIn { .. } => continue,
        };
        for line in String::from_utf8_lossy(&bytes).lines() {
            if !pager.offer(line, source) {
                break 'read;
            }
        }
    }
    Ok(pager.finish())
}
