//! The audit log: who did what to which target. Writes record their entry themselves, in
//! their own transaction; this trait adds entries of their own and reads the log.

use async_trait::async_trait;
use komander_domain::{ProjectId, Visibility};

use crate::{AuditRecord, PageRequest, Result};

/// The audit log. Implemented in `sql/audit.rs`.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records an audit entry on its own (for audited reads such as resolving a deployment).
    async fn record_audit(&self, audit: &AuditRecord) -> Result<()>;

    /// A project's audit log as `visibility`'s user may see it, newest first: entries
    /// [private](AuditRecord::private_to) to another user are left out in SQL, so a page is
    /// never short for them.
    async fn list_audit(
        &self,
        project: ProjectId,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<AuditRecord>>;
}
