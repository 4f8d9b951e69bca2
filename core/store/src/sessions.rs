//! Browser sessions of the web UI and the one-time sign-in links of single-user mode. Only
//! the SHA-256 of a session id or a link token is stored.

use async_trait::async_trait;

use crate::{AuditRecord, Result, SessionRecord, SignInLinkRecord, UserRecord};

/// Browser sessions and one-time sign-in links. Implemented in `sql/sessions.rs`.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session and writes its sign-in audit entry, in one transaction.
    async fn create_session(&self, session: &SessionRecord, audit: &AuditRecord) -> Result<()>;

    /// The session whose id has this SHA-256, with its user, in one query; `None` when there
    /// is none (never created, signed out, expired and deleted, or its user deleted).
    async fn session_by_hash(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<(SessionRecord, UserRecord)>>;

    /// Sets the session's `last_seen_at` to `now_ms`; `false` when the session is gone.
    async fn touch_session(&self, id_hash: &[u8; 32], now_ms: i64) -> Result<bool>;

    /// Deletes the session whose id has this SHA-256, writing `audit` in the same transaction
    /// when one was deleted; `false` (and no audit entry) when there was none.
    async fn delete_session(&self, id_hash: &[u8; 32], audit: Option<&AuditRecord>)
    -> Result<bool>;

    /// Deletes the sessions idle since before `idle_before` or created before
    /// `created_before`, and the sign-in links that are used or expire at or before `now_ms`:
    /// none of them can sign anyone in any more. Answers how many rows went.
    async fn purge_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
        now_ms: i64,
    ) -> Result<u64>;

    /// Creates a one-time sign-in link.
    async fn create_sign_in_link(&self, link: &SignInLinkRecord) -> Result<()>;

    /// Redeems the link whose token has this SHA-256: in one write transaction, marks it used
    /// if it is unused and expires after `now_ms`, and answers its user. `None` for a link that
    /// is used, expired or unknown, so that a link signs in once, even when two redeem it at
    /// the same time.
    async fn redeem_sign_in_link(
        &self,
        token_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<UserRecord>>;
}
