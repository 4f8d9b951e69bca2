//! Following an operation live: the feed behind `GET .../operations/{operation}/events`, which
//! replays the progress lines after a sequence number, then follows new lines, steps and the
//! operation's end as they are recorded, and the in-process signals that wake it.
//!
//! A feed learns of changes two ways: [`App::operation_changed`], called in this process when a
//! step is recorded or an operation ends or is asked to stop, wakes it at once; and it reads
//! the store every [`STORE_POLL`] anyway, because with several servers on one PostgreSQL the
//! writer may be another server. Feeds are bounded: [`StreamLimits`] caps how many one user
//! holds open and how long each lives.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use komander_domain::{
    Action, DeploymentRef, OperationId, UserId,
    api::{OperationEnded, OperationState, ProgressLine, StepEvent, StreamResume},
    timestamps,
};
use tokio::{
    sync::{broadcast, watch},
    time::Instant,
};

use crate::{App, AppError, Caller, Result, operations::PROGRESS_MAX};

/// How often a feed reads the store when nothing in this process told it of a change.
pub const STORE_POLL: Duration = Duration::from_secs(1);

/// How many signals wait for a slow feed before it skips them (and reads the store anyway).
const SIGNAL_BACKLOG: usize = 1024;

/// Bounds on the event streams of operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// How many streams one user may hold open at once (default 8): each holds a connection
    /// and reads the store every second, so one token must not open thousands.
    pub per_user: usize,
    /// How long one stream lives (default 1 h) before it ends with a `resume` event: bounds
    /// how long a stream outlives a revoked membership, and a connection held by one request.
    pub lifetime: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            per_user: 8,
            lifetime: Duration::from_secs(3600),
        }
    }
}

/// What the application keeps for live feeds: the signals that wake them and how many streams
/// each user holds.
#[derive(Clone)]
pub(crate) struct EventHub {
    signals: broadcast::Sender<OperationId>,
    /// Set when the server shuts down: every feed ends with a `resume` event.
    pub(crate) closing: Arc<watch::Sender<bool>>,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
    pub(crate) limits: StreamLimits,
}

impl EventHub {
    pub(crate) fn new(limits: StreamLimits) -> Self {
        EventHub {
            signals: broadcast::channel(SIGNAL_BACKLOG).0,
            closing: Arc::new(watch::channel(false).0),
            open: Arc::default(),
            limits,
        }
    }

    /// Takes one of `user`'s stream slots, or refuses past the limit.
    pub(crate) fn take_slot(&self, user: UserId) -> Result<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.entry(user).or_insert(0);
        if *held >= self.limits.per_user {
            return Err(AppError::TooMany(format!(
                "you already hold {held} event streams (operations or logs followed), the most \
                 one user may at once: close a stream first"
            )));
        }
        *held += 1;
        Ok(StreamSlot {
            open: self.open.clone(),
            user,
        })
    }
}

/// One of a user's stream slots, given back when dropped.
pub(crate) struct StreamSlot {
    open: Arc<Mutex<HashMap<UserId, usize>>>,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = open.get_mut(&self.user) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// One event of a feed, in the order a client receives them.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedEvent {
    /// A progress line; its sequence number is the event's id.
    Progress(ProgressLine),
    /// A step recorded, after its lines.
    Step(StepEvent),
    /// The operation ended; nothing follows.
    End(OperationEnded),
    /// The feed reached its lifetime, or the server shuts down; nothing follows: open a new
    /// one from here.
    Resume(StreamResume),
}

/// A live feed of one operation's events, holding one of its caller's stream slots until
/// dropped. Get one from [`App::follow_operation`]; call [`OperationFeed::next`] until it
/// answers `None`.
pub struct OperationFeed {
    app: App,
    caller: Caller,
    deployment: DeploymentRef,
    id: OperationId,
    after: u64,
    steps: u32,
    queue: VecDeque<FeedEvent>,
    signals: broadcast::Receiver<OperationId>,
    closing: watch::Receiver<bool>,
    ends_at: Instant,
    ended: bool,
    _slot: StreamSlot,
}

impl OperationFeed {
    /// The next event, waiting for one as long as the operation runs; `None` after the `end`
    /// or `resume` event.
    ///
    /// # Errors
    /// Not found when the caller may no longer see the deployment (or it was deleted); a fault
    /// of the store.
    pub async fn next(&mut self) -> Result<Option<FeedEvent>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            if Instant::now() >= self.ends_at || *self.closing.borrow() {
                self.finish_with(FeedEvent::Resume(StreamResume {
                    after: self.after,
                    steps: self.steps,
                }));
                continue;
            }
            if self.read().await? {
                continue;
            }
            let id = self.id;
            tokio::select! {
                () = changed(&mut self.signals, id) => {}
                () = tokio::time::sleep(STORE_POLL) => {}
                () = tokio::time::sleep_until(self.ends_at) => {}
                // An error means the hub is gone, which it never is while a feed holds it.
                _ = self.closing.changed() => {}
            }
        }
    }

    fn finish_with(&mut self, event: FeedEvent) {
        self.queue.push_back(event);
        self.ended = true;
    }

    /// Reads what was recorded since the last read into the queue, checking again that the
    /// caller may see the deployment; answers whether it queued anything.
    ///
    /// The operation's state is read first, then its steps, then its lines: a step's lines are
    /// recorded in the same transaction as the step, and an operation ends after its last step,
    /// so every step queued follows its lines, and the end follows everything.
    async fn read(&mut self) -> Result<bool> {
        let scope = self
            .app
            .deployment_scope(&self.caller, &self.deployment, Action::ViewDeployment)
            .await?;
        let store = &self.app.store;
        let op = store
            .operation(scope.deployment.id, self.id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation {}", self.id)))?;
        let steps = store.operation_steps(self.id).await?;
        let lines = store.progress(self.id, self.after, PROGRESS_MAX).await?;
        let more_lines = lines.len() >= PROGRESS_MAX as usize;
        let before = self.queue.len();
        for line in lines {
            self.after = line.sequence;
            self.queue.push_back(FeedEvent::Progress(ProgressLine {
                sequence: line.sequence,
                text: line.text,
                at: timestamps::from_millis(line.at),
            }));
        }
        if more_lines {
            // The steps and the end wait until every line before them is queued.
            return Ok(true);
        }
        let seen = self.steps as usize;
        for (position, step) in (1u32..).zip(steps).skip(seen) {
            self.steps = position;
            self.queue.push_back(FeedEvent::Step(StepEvent {
                position,
                name: step.name,
                started_at: timestamps::from_millis(step.started_at),
                finished_at: timestamps::from_millis(step.finished_at),
            }));
        }
        if op.state != OperationState::Running {
            self.finish_with(FeedEvent::End(OperationEnded {
                state: op.state,
                message: op.message,
            }));
        }
        Ok(self.queue.len() > before)
    }
}

/// Waits until `id` is signalled (or signals were missed, which may include it).
async fn changed(signals: &mut broadcast::Receiver<OperationId>, id: OperationId) {
    loop {
        match signals.recv().await {
            Ok(changed) if changed == id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            // The hub lives as long as the application: never closed while a feed runs.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

impl App {
    /// Wakes the live feeds of operation `id` in this process, to read what was just recorded.
    /// Call it after recording a step, ending an operation or asking it to stop; feeds on
    /// other servers see the change at their next read of the store (within [`STORE_POLL`]).
    pub fn operation_changed(&self, id: OperationId) {
        // No feed listening is not an error.
        let _ = self.events.signals.send(id);
    }

    /// Ends every live feed with a `resume` event, for a server that shuts down: streams
    /// would otherwise hold its graceful shutdown for up to their lifetime. Feeds opened
    /// afterwards end at once too.
    pub fn close_feeds(&self) {
        self.events.closing.send_replace(true);
    }

    /// `GET .../operations/{operation}/events`: a live feed of operation `id`, replaying the
    /// progress lines after sequence number `after` and the steps after position `steps`,
    /// then following new ones until the operation ends or the feed reaches its lifetime.
    /// Holds one of the caller's stream slots until dropped.
    ///
    /// # Errors
    /// Not found (also someone else's private deployment); invalid `after` past the
    /// operation's last line or `steps` past its last step; too many when the caller already
    /// holds [`StreamLimits::per_user`] streams.
    pub async fn follow_operation(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        id: OperationId,
        after: u64,
        steps: u32,
    ) -> Result<OperationFeed> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let op = self
            .store
            .operation(scope.deployment.id, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("operation {id}")))?;
        if after > op.lines {
            return Err(AppError::invalid(
                "after",
                format!(
                    "operation {id} has {} progress lines: there is no line {after} to resume \
                     after",
                    op.lines
                ),
            ));
        }
        if steps > 0 {
            let recorded = self.store.operation_steps(id).await?.len();
            if steps as usize > recorded {
                return Err(AppError::invalid(
                    "steps",
                    format!("operation {id} has {recorded} steps: there is no step {steps}"),
                ));
            }
        }
        let slot = self.events.take_slot(caller.user.id)?;
        Ok(OperationFeed {
            app: self.clone(),
            caller: caller.clone(),
            deployment: deployment.clone(),
            id,
            after,
            steps,
            queue: VecDeque::new(),
            signals: self.events.signals.subscribe(),
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
    fn slots_are_bounded_per_user_and_given_back_when_dropped() {
        let hub = EventHub::new(StreamLimits {
            per_user: 2,
            lifetime: Duration::from_secs(1),
        });
        let (alice, bob) = (UserId::new(), UserId::new());
        let first = hub.take_slot(alice).unwrap();
        let _second = hub.take_slot(alice).unwrap();
        assert!(matches!(hub.take_slot(alice), Err(AppError::TooMany(_))));
        let _bobs = hub
            .take_slot(bob)
            .expect("another user's slots are their own");
        drop(first);
        let _again = hub.take_slot(alice).expect("a dropped slot is free again");
    }

    #[tokio::test]
    async fn a_feed_wakes_for_its_own_operation_only() {
        let hub = EventHub::new(StreamLimits::default());
        let (mine, other) = (OperationId::new(), OperationId::new());
        let mut signals = hub.signals.subscribe();
        hub.signals.send(other).unwrap();
        hub.signals.send(mine).unwrap();
        tokio::time::timeout(Duration::from_secs(1), changed(&mut signals, mine))
            .await
            .expect("woken by its operation");
        hub.signals.send(other).unwrap();
        let woken =
            tokio::time::timeout(Duration::from_millis(100), changed(&mut signals, mine)).await;
        assert!(
            woken.is_err(),
            "another operation's signal does not wake it"
        );
    }
}
