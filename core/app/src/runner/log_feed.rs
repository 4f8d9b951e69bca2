//! Following a service's log live: the feed behind `GET .../services/{service}/logs/events`.
//! It sends the last lines first as one `tail` event, then every new line as a `line` event,
//! reading the runtime's log every [`LOG_POLL`] from its cursor.
//!
//! Resuming loses and doubles nothing: an event's id names the runtime's cursor the line was
//! read from and how many lines of that page came up to it ([`ResumePoint`]); a client that
//! reconnects with `Last-Event-ID` is answered the page from that cursor without those lines.
//! The tail is a single event, so a client either has all of it (and its id) or none of it.
//! Feeds share the operation feeds' bounds: the caller's stream slots and their lifetime.

use std::{collections::VecDeque, time::Duration};

use base64::Engine as _;
use komander_domain::{
    Action, ServiceRef,
    api::{LogQuery, ServiceLogLine},
};
use tokio::{sync::watch, time::Instant};

use super::session::{RuntimeSession, Secrets};
use crate::{App, AppError, Caller, Result, operation_events::StreamSlot};

/// How often a feed reads the runtime's log for new lines.
pub const LOG_POLL: Duration = Duration::from_secs(1);
/// The most lines one read of the log asks for.
const PAGE: u32 = 1000;

/// Where a client resumes: after the first `skip` lines of the page read from `cursor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    /// The runtime's cursor the page was read from.
    pub cursor: String,
    /// How many lines of that page the client has.
    pub skip: u32,
}

impl ResumePoint {
    /// The event id: the cursor in URL-safe base64, a `.`, the count.
    pub fn id(&self) -> String {
        format!(
            "{}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.cursor),
            self.skip
        )
    }

    /// Reads an id that [`ResumePoint::id`] wrote.
    ///
    /// # Errors
    /// Invalid input on `Last-Event-ID` for anything else.
    pub fn parse(id: &str) -> Result<ResumePoint> {
        let bad = || {
            AppError::invalid(
                "last-event-id",
                "Last-Event-ID must be the id of an event this log stream sent",
            )
        };
        let (cursor, skip) = id.trim().rsplit_once('.').ok_or_else(bad)?;
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|c| String::from_utf8(c).ok())
            .filter(|c| c.len() <= 4096)
            .ok_or_else(bad)?;
        let skip = skip.parse().map_err(|_| bad())?;
        Ok(ResumePoint { cursor, skip })
    }
}

/// One event of a log feed.
#[derive(Clone, Debug, PartialEq)]
pub enum LogEvent {
    /// The last lines, sent once when the feed starts without a resume point.
    Tail {
        /// The lines, oldest first.
        lines: Vec<ServiceLogLine>,
        /// Where the lines after these start.
        resume: ResumePoint,
    },
    /// A new line.
    Line {
        /// The line.
        line: ServiceLogLine,
        /// Where the lines after it start.
        resume: ResumePoint,
    },
    /// The feed reached its lifetime, or the server shuts down: open a new one from the last
    /// id. Nothing follows.
    Resume,
}

/// A live feed of one service's log, holding one of its caller's stream slots until dropped.
pub struct LogFeed {
    app: App,
    caller: Caller,
    service: ServiceRef,
    session: RuntimeSession,
    /// The tail to send first, when the feed did not resume.
    tail: Option<u32>,
    /// Where the next read starts.
    at: Option<ResumePoint>,
    queue: VecDeque<LogEvent>,
    closing: watch::Receiver<bool>,
    ends_at: Instant,
    ended: bool,
    _slot: StreamSlot,
}

impl LogFeed {
    /// The next event, waiting for new lines; `None` after `resume`.
    ///
    /// # Errors
    /// Not found when the caller may no longer see the deployment or nothing runs for the
    /// service; what the runtime answers otherwise.
    pub async fn next(&mut self) -> Result<Option<LogEvent>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            if Instant::now() >= self.ends_at || *self.closing.borrow() {
                self.queue.push_back(LogEvent::Resume);
                self.ended = true;
                continue;
            }
            if self.read().await? {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(LOG_POLL) => {}
                () = tokio::time::sleep_until(self.ends_at) => {}
                _ = self.closing.changed() => {}
            }
        }
    }

    /// Reads the next page into the queue, checking again that the caller may see the
    /// service; answers whether it queued anything.
    async fn read(&mut self) -> Result<bool> {
        self.app
            .service_scope(&self.caller, &self.service, Action::ViewDeployment)
            .await?;
        if let Some(tail) = self.tail.take() {
            let query = LogQuery {
                cursor: None,
                limit: Some(tail),
            };
            let page = self
                .app
                .read_log(&self.session, &self.service, &query)
                .await?;
            let resume = ResumePoint {
                cursor: page.next_cursor,
                skip: 0,
            };
            self.at = Some(resume.clone());
            self.queue.push_back(LogEvent::Tail {
                lines: page.lines,
                resume,
            });
            return Ok(true);
        }
        let Some(at) = self.at.clone() else {
            return Ok(false);
        };
        let query = LogQuery {
            cursor: Some(at.cursor.clone()),
            limit: Some(PAGE),
        };
        let page = self
            .app
            .read_log(&self.session, &self.service, &query)
            .await?;
        let read = u32::try_from(page.lines.len()).unwrap_or(u32::MAX);
        let fresh = read > at.skip;
        for (n, line) in (1u32..).zip(page.lines).skip(at.skip as usize) {
            self.queue.push_back(LogEvent::Line {
                line,
                resume: ResumePoint {
                    cursor: at.cursor.clone(),
                    skip: n,
                },
            });
        }
        // A full page is left through its next cursor; a partial one is read again from the
        // same cursor, so lines written meanwhile come after those already sent.
        self.at = Some(if read >= PAGE {
            ResumePoint {
                cursor: page.next_cursor,
                skip: 0,
            }
        } else {
            ResumePoint {
                cursor: at.cursor,
                skip: read.max(at.skip),
            }
        });
        Ok(fresh)
    }
}

impl App {
    /// `GET .../services/{service}/logs/events`: a live feed of the service's log: its last
    /// `tail` lines, then new lines; from `resume` (a `Last-Event-ID`) instead, the lines
    /// after that point. Holds one of the caller's stream slots until dropped.
    ///
    /// # Errors
    /// Not found (also someone else's private deployment); invalid `tail`; conflict when the
    /// runtime or target is unavailable; too many when the caller already holds as many
    /// streams as one user may.
    pub async fn follow_service_logs(
        &self,
        caller: &Caller,
        service: &ServiceRef,
        resume: Option<ResumePoint>,
        tail: u32,
    ) -> Result<LogFeed> {
        if !(1..=super::LOG_LINES_MAX).contains(&tail) {
            return Err(AppError::invalid(
                "tail",
                format!("tail must be between 1 and {}", super::LOG_LINES_MAX),
            ));
        }
        let scope = self
            .service_scope(caller, service, Action::ViewDeployment)
            .await?;
        let contents = self.deployment_contents(&scope.deployment).await?;
        let session = self
            .runtime_session(&scope.deployment, contents, Secrets::Closed)
            .await?;
        let slot = self.events.take_slot(caller.user.id)?;
        Ok(LogFeed {
            app: self.clone(),
            caller: caller.clone(),
            service: service.clone(),
            session,
            tail: resume.is_none().then_some(tail),
            at: resume,
            queue: VecDeque::new(),
            closing: self.events.closing.subscribe(),
            ends_at: Instant::now() + self.events.limits.lifetime,
            ended: false,
            _slot: slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_point_reads_back_from_its_id() {
        let point = ResumePoint {
            cursor: "2026-12-01T10:00:00.123456789Z|3".into(),
            skip: 17,
        };
        assert_eq!(ResumePoint::parse(&point.id()).unwrap(), point);
        for bad in ["", "17", "!!!.3", "YQ.x", "YQ.-1"] {
            assert!(ResumePoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
