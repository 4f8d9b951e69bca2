//! Logs by cursor, for every capability that reads a container's log (Docker, Kubernetes).
//!
//! Both engines stamp each line with its time in nanoseconds (`<RFC 3339> <line>` when asked
//! for timestamps). A cursor is the stamp of the last line returned plus how many lines with
//! that very stamp were returned, so polling with it never repeats nor loses a line.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    bindings::types::{Error as WitError, LogEntry, LogPage, LogSource},
    capabilities::SecretValues,
};

/// Lines one page holds at most.
pub const MAX_LINES: u32 = 1_000;

/// Bytes of one line; longer lines are cut.
pub const LINE_BYTES: usize = 16 << 10;

/// The version tag that starts every cursor this host issues.
const CURSOR_TAG: &str = "c1";

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

/// Nanoseconds since the Unix epoch of an RFC 3339 time; `None` for times before 1970 (such
/// as Docker's zero time, `0001-01-01T00:00:00Z`) or text that is not a time.
pub(crate) fn rfc3339_nanos(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
        .filter(|n| *n >= 0)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time, as [`rfc3339_nanos`].
pub(crate) fn rfc3339_ms(text: &str) -> Option<u64> {
    rfc3339_nanos(text).and_then(|n| u64::try_from(n / 1_000_000).ok())
}

/// One page being filled from an engine's stamped lines, oldest first, with the call's secret
/// values taken out of every line.
pub(crate) struct Pager<'a> {
    secrets: &'a SecretValues,
    cursor: Option<Cursor>,
    max: usize,
    entries: Vec<(i128, LogEntry)>,
    skipped_at_cursor: u32,
    more: bool,
}

impl<'a> Pager<'a> {
    /// A page of at most `max_lines` (1 to [`MAX_LINES`]) after `cursor`, or of the last
    /// lines without one, redacting `secrets`.
    ///
    /// # Errors
    /// `invalid-input` for a cursor this host did not issue.
    pub(crate) fn new(
        cursor: Option<&str>,
        max_lines: u32,
        secrets: &'a SecretValues,
    ) -> Result<Pager<'a>, WitError> {
        let max = max_lines.clamp(1, MAX_LINES) as usize;
        Ok(Pager {
            secrets,
            cursor: cursor.map(Cursor::parse).transpose()?,
            max,
            entries: Vec::with_capacity(max.min(64)),
            skipped_at_cursor: 0,
            more: false,
        })
    }

    /// Where the engine should start reading, in nanoseconds since the epoch; `None` reads
    /// the last [`Pager::tail`] lines.
    pub(crate) fn since_nanos(&self) -> Option<i128> {
        self.cursor.map(|c| c.nanos)
    }

    /// How many of the last lines to ask for when there is no cursor.
    pub(crate) fn tail(&self) -> usize {
        self.max
    }

    /// Takes one `<RFC 3339> <line>` the engine sent. Returns `false` once the page is full
    /// and another line was offered: stop reading then.
    pub(crate) fn offer(&mut self, stamped: &str, source: LogSource) -> bool {
        let (stamp, line) = stamped.split_once(' ').unwrap_or((stamped, ""));
        let Some(at) = rfc3339_nanos(stamp) else {
            return true;
        };
        if let Some(c) = self.cursor {
            if at < c.nanos {
                return true;
            }
            if at == c.nanos && self.skipped_at_cursor < c.skip {
                self.skipped_at_cursor += 1;
                return true;
            }
        }
        if self.entries.len() == self.max {
            self.more = true;
            return false;
        }
        let mut line = self.secrets.redact(line.trim_end_matches('\r'));
        super::truncate(&mut line, LINE_BYTES);
        self.entries.push((
            at,
            LogEntry {
                timestamp_ms: (at / 1_000_000) as u64,
                source,
                line,
            },
        ));
        true
    }

    /// The page, with the cursor to continue from.
    pub(crate) fn finish(self) -> LogPage {
        let next = match self.entries.last() {
            Some(&(last, _)) => {
                let same = self
                    .entries
                    .iter()
                    .rev()
                    .take_while(|(at, _)| *at == last)
                    .count() as u32;
                let earlier = self
                    .cursor
                    .filter(|c| c.nanos == last)
                    .map_or(0, |c| c.skip);
                Cursor {
                    nanos: last,
                    skip: same + earlier,
                }
            }
            None => self.cursor.unwrap_or(Cursor { nanos: 0, skip: 0 }),
        };
        LogPage {
            entries: self.entries.into_iter().map(|(_, entry)| entry).collect(),
            next: next.render(),
            more: self.more,
        }
    }
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
        for bad in ["", "c1", "c1:x:1", "c1:1", "c1:1:2:3", "k1:1:2", "c1:-5:0"] {
            assert!(
                matches!(Cursor::parse(bad), Err(WitError::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn engine_times_become_milliseconds() {
        assert_eq!(
            rfc3339_ms("2026-11-25T00:20:58.141472762Z"),
            Some(1_795_566_058_141)
        );
        assert_eq!(rfc3339_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(rfc3339_ms("yesterday"), None);
    }

    fn page(lines: &[&str], cursor: Option<&str>, max: u32) -> LogPage {
        let secrets = SecretValues::default();
        let mut pager = Pager::new(cursor, max, &secrets).unwrap();
        for line in lines {
            if !pager.offer(line, LogSource::Stdout) {
                break;
            }
        }
        pager.finish()
    }

    #[test]
    fn secret_values_and_their_base64_never_reach_a_page() {
        let mut secrets = SecretValues::default();
        secrets.insert("db/PASSWORD", "hunter2-long");
        secrets.insert("short", "ab");
        let mut pager = Pager::new(None, 10, &secrets).unwrap();
        pager.offer(
            "2026-11-25T00:00:01Z password=hunter2-long b64=aHVudGVyMi1sb25n ab",
            LogSource::Stdout,
        );
        let page = pager.finish();
        assert_eq!(page.entries[0].line, "password=[secret] b64=[secret] ab");
    }

    #[test]
    fn lines_sharing_a_stamp_are_neither_repeated_nor_lost() {
        let log = [
            "2026-11-25T00:00:01.000000000Z a",
            "2026-11-25T00:00:02.000000000Z b",
            "2026-11-25T00:00:02.000000000Z c",
            "2026-11-25T00:00:02.000000000Z d",
            "2026-11-25T00:00:03.000000000Z e",
        ];
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let p = page(&log, cursor.as_deref(), 2);
            seen.extend(p.entries.iter().map(|e| e.line.clone()));
            cursor = Some(p.next);
            if !p.more {
                break;
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
        let after = page(&log, cursor.as_deref(), 2);
        assert!(after.entries.is_empty() && !after.more);
        assert_eq!(Some(after.next), cursor, "an empty page keeps the cursor");
    }
}
