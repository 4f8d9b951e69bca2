//! Operations on deployments (apply, destroy, stop, start, rollback), each held by a lease:
//! at most one runs per deployment, only its lease holder renews the lease and records steps,
//! and an expired lease may be taken over by another holder.

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, Executor, OperationId, TargetId, UserId,
    api::{OperationKind, OperationState},
    names::{TargetName, UserHandle},
};

use crate::{AuditRecord, PageRequest, Result};

/// How long a lease lasts from its start, renewal or takeover, in milliseconds: a holder that
/// has not renewed for this long is taken to be dead.
pub const LEASE_TTL_MS: i64 = 30_000;

/// An operation on a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRecord {
    /// Id (time-ordered, so lists sort by it).
    pub id: OperationId,
    /// The deployment it runs on.
    pub deployment_id: DeploymentId,
    /// What it does.
    pub kind: OperationKind,
    /// Who runs it.
    pub executor: Executor,
    /// Who started it.
    pub started_by: UserId,
    /// Their handle (read back; ignored on insert).
    pub started_by_handle: Option<UserHandle>,
    /// When it started (ms).
    pub started_at: i64,
    /// When it ended (ms); `None` while running.
    pub finished_at: Option<i64>,
    /// Where it stands.
    pub state: OperationState,
    /// Why it failed, or the holder's closing words.
    pub message: Option<String>,
    /// The lease holder: an opaque id (a server instance, or the hash of a CLI's lease token);
    /// `None` once it ended.
    pub holder: Option<String>,
    /// When the lease expires (ms); `None` once it ended.
    pub lease_expires_at: Option<i64>,
    /// Where to resume: the last continuation its holder recorded.
    pub continuation: Option<String>,
    /// How many times another holder took it over.
    pub resumes: u32,
    /// Someone asked it to stop.
    pub cancel_requested: bool,
    /// How many progress lines it has (the last one's sequence number).
    pub lines: u64,
    /// What it runs: the deployment's spec as its runtime gets it, as JSON, never holding a
    /// secret value; after an apply, with each image pinned. `None` for operations a CLI runs.
    pub spec: Option<String>,
    /// The target (Docker Engine) it runs on, for `server` operations on one.
    pub target_id: Option<TargetId>,
    /// That target's name (read back; ignored on insert); `None` once the target is deleted.
    pub target_name: Option<TargetName>,
    /// A destroy that removes named volumes too.
    pub remove_volumes: bool,
    /// The apply whose spec a rollback brings back.
    pub rollback_of: Option<OperationId>,
}

/// One step an operation's holder records: its timing, the continuation after it and the
/// progress lines it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// The step's name.
    pub name: String,
    /// When it started (ms).
    pub started_at: i64,
    /// When it finished (ms).
    pub finished_at: i64,
    /// Where to resume after it; `None` keeps the previous continuation.
    pub continuation: Option<String>,
    /// The lines it printed, in order.
    pub lines: Vec<String>,
}

/// How long one recorded step took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepTimingRecord {
    /// The step's name.
    pub name: String,
    /// When it started (ms).
    pub started_at: i64,
    /// When it finished (ms).
    pub finished_at: i64,
}

/// One progress line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressRecord {
    /// Its sequence number: from 1, with no gap.
    pub sequence: u64,
    /// Its text.
    pub text: String,
    /// When it was recorded (ms).
    pub at: i64,
}

/// A lease as its holder sees it after renewing it or recording a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// When it expires (ms).
    pub expires_at: i64,
    /// Someone asked the operation to stop.
    pub cancel_requested: bool,
    /// The sequence number of the operation's last progress line (0 before the first).
    pub last_sequence: u64,
}

/// Operations and their leases. Implemented in `sql/operations.rs`.
///
/// Calls that need the lease (`renew_lease`, `record_step`, `finish_operation`) succeed only
/// for the holder of an unexpired lease on a running operation; otherwise they change nothing
/// and answer [`StoreError::Conflict`](crate::StoreError::Conflict) on `lease` saying whether
/// the operation ended or the lease expired or passed to another holder.
#[async_trait]
pub trait OperationStore: Send + Sync {
    /// Starts `operation` (running, held by its `holder` until its `lease_expires_at`).
    /// [`StoreError::Busy`](crate::StoreError::Busy) naming the running operation when the
    /// deployment has one, also when two servers race on one database.
    async fn start_operation(&self, operation: &OperationRecord, audit: &AuditRecord)
    -> Result<()>;

    /// The operation `id` of `deployment`.
    async fn operation(
        &self,
        deployment: DeploymentId,
        id: OperationId,
    ) -> Result<Option<OperationRecord>>;

    /// The operations of `deployment`, newest first; the cursor is the last one's id.
    async fn list_operations(
        &self,
        deployment: DeploymentId,
        page: &PageRequest,
    ) -> Result<Vec<OperationRecord>>;

    /// The steps of operation `id`, in the order they were recorded.
    async fn operation_steps(&self, id: OperationId) -> Result<Vec<StepTimingRecord>>;

    /// Extends the lease of operation `id` to `now` + [`LEASE_TTL_MS`], for its `holder`.
    async fn renew_lease(&self, id: OperationId, holder: &str, now: i64) -> Result<LeaseRecord>;

    /// Records one step for the lease's `holder`, in one transaction: its timing, its
    /// continuation and its lines, numbered after the operation's last line.
    async fn record_step(
        &self,
        id: OperationId,
        holder: &str,
        now: i64,
        step: &StepRecord,
    ) -> Result<LeaseRecord>;

    /// Ends operation `id` in `state` (not `running`) for its lease's `holder`, releasing the
    /// lease: the deployment is free for the next operation.
    async fn finish_operation(
        &self,
        id: OperationId,
        holder: &str,
        now: i64,
        state: OperationState,
        message: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Replaces the spec of operation `id` for its lease's `holder` (an apply pins its images
    /// once they are pulled).
    async fn set_operation_spec(
        &self,
        id: OperationId,
        holder: &str,
        now: i64,
        spec: &str,
    ) -> Result<()>;

    /// Takes back, when a server starts, the running operations `holder` held before it
    /// stopped (a server's holder id survives its restarts), without waiting for their leases
    /// to expire: each lease runs to `now` + [`LEASE_TTL_MS`] and its resume count goes up
    /// by one, as for a takeover.
    async fn reclaim_operations(&self, holder: &str, now: i64) -> Result<Vec<OperationRecord>>;

    /// Asks the running operation `id` to stop; its holder sees it when renewing.
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) when it has ended.
    async fn request_cancel(&self, id: OperationId, audit: &AuditRecord) -> Result<()>;

    /// Up to `limit` progress lines of operation `id` after the sequence number `after`.
    async fn progress(
        &self,
        id: OperationId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ProgressRecord>>;

    /// Takes over up to `limit` running operations whose lease expired by `now`, for
    /// `new_holder`: each is taken by compare-and-set on its previous holder and expiry, so
    /// two reapers never take the same one; its lease runs to `now` + [`LEASE_TTL_MS`] and
    /// its resume count goes up by one. Answers the operations taken, as they now stand.
    async fn take_over_expired(
        &self,
        now: i64,
        new_holder: &str,
        limit: u32,
    ) -> Result<Vec<OperationRecord>>;
}
