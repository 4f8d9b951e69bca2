//! Container logs by cursor. Docker stamps every line with its time in nanoseconds; a cursor
//! is the stamp of the last line returned plus how many lines with that very stamp were
//! returned, so that polling with it never repeats nor loses a line.

use bollard::{container::LogOutput, query_parameters::LogsOptions};
use futures_util::StreamExt;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{DockerScope, engine_error, ops};
use crate::bindings::types::{Error as WitError, LogEntry, LogPage, LogSource};

/// Lines one page holds at most.
pub const MAX_LINES: u32 = 1_000;

/// Bytes of one line; longer lines are cut.
pub const LINE_BYTES: usize = 16 << 10;

/// The version tag that starts every cursor this host issues.
const CURSOR_TAG: &str = "d1";

/// A position in a log: after `skip` lines stamped `nanos`, and everything before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    nanos: i128,
    skip: u32,
}

impl Cursor {
    fn parse(text: &str) -> Result<Cursor, WitError> {
        let invalid = || WitError::InvalidInput(format!("{text:?} is not a cursor of this log"));
        let mut parts = text.split(':');
        if parts.next() != Some(CURSOR_TAG) {
            return Err(invalid());
        }
        let nanos = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(invalid)?;
        let skip = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(invalid)?;
        if parts.next().is_some() || nanos < 0 {
            return Err(invalid());
        }
        Ok(Cursor { nanos, skip })
    }

    fn render(self) -> String {
        format!("{CURSOR_TAG}:{}:{}", self.nanos, self.skip)
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 time; `None` for Docker's zero time
/// (`0001-01-01T00:00:00Z`) or text that is not a time.
pub(super) fn rfc3339_ms(text: &str) -> Option<u64> {
    nanos(text).and_then(|n| u64::try_from(n / 1_000_000).ok())
}

fn nanos(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
        .filter(|n| *n >= 0)
}

/// One page of `container`'s log: its last `max_lines` lines without a cursor, the lines
/// after the cursor with one.
pub(super) async fn page(
    scope: &DockerScope,
    container: &str,
    cursor: Option<&str>,
    max_lines: u32,
) -> Result<LogPage, WitError> {
    let max = max_lines.clamp(1, MAX_LINES) as usize;
    let cursor = cursor.map(Cursor::parse).transpose()?;
    ops::own_container(scope, container).await?;
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        timestamps: true,
        since: cursor.map_or(0, |c| (c.nanos / 1_000_000_000) as i32),
        tail: match cursor {
            None => max.to_string(),
            Some(_) => "all".into(),
        },
        ..Default::default()
    };
    let mut stream = scope.client.logs(container, Some(options));
    let mut entries: Vec<(i128, LogEntry)> = Vec::with_capacity(max.min(64));
    let mut skipped_at_cursor = 0;
    let mut more = false;
    'read: while let Some(frame) = stream.next().await {
        let (source, bytes) = match frame.map_err(engine_error)? {
            LogOutput::StdErr { message } => (LogSource::Stderr, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (LogSource::Stdout, message)
            }
            LogOutput::StdIn { .. } => continue,
        };
        for raw in String::from_utf8_lossy(&bytes).lines() {
            let (stamp, line) = raw.split_once(' ').unwrap_or((raw, ""));
            let Some(at) = nanos(stamp) else { continue };
            if let Some(c) = cursor {
                if at < c.nanos {
                    continue;
                }
                if at == c.nanos && skipped_at_cursor < c.skip {
                    skipped_at_cursor += 1;
                    continue;
                }
            }
            if entries.len() == max {
                more = true;
                break 'read;
            }
            let mut line = line.to_owned();
            super::super::truncate(&mut line, LINE_BYTES);
            entries.push((
                at,
                LogEntry {
                    timestamp_ms: (at / 1_000_000) as u64,
                    source,
                    line,
                },
            ));
        }
    }
    let next = match entries.last() {
        Some(&(last, _)) => {
            let same = entries
                .iter()
                .rev()
                .take_while(|(at, _)| *at == last)
                .count() as u32;
            let earlier = cursor.filter(|c| c.nanos == last).map_or(0, |c| c.skip);
            Cursor {
                nanos: last,
                skip: same + earlier,
            }
        }
        None => cursor.unwrap_or(Cursor { nanos: 0, skip: 0 }),
    };
    Ok(LogPage {
        entries: entries.into_iter().map(|(_, entry)| entry).collect(),
        next: next.render(),
        more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = Cursor {
            nanos: 1_764_000_000_123_456_789,
            skip: 2,
        };
        assert_eq!(Cursor::parse(&cursor.render()).unwrap(), cursor);
        for bad in ["", "d1", "d1:x:1", "d1:1", "d1:1:2:3", "k1:1:2", "d1:-5:0"] {
            assert!(
                matches!(Cursor::parse(bad), Err(WitError::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn docker_times_become_milliseconds() {
        assert_eq!(
            rfc3339_ms("2026-11-25T00:20:58.141472762Z"),
            Some(1_795_566_058_141)
        );
        assert_eq!(rfc3339_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(rfc3339_ms("yesterday"), None);
    }
}
