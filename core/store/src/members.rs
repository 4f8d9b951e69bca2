//! Members of projects and the invitations that make new ones.

use async_trait::async_trait;
use komander_domain::{
    InvitationId, ProjectId, Role, UserId, names::ProjectName, names::UserHandle,
};

use crate::{AuditRecord, InvitationRecord, MemberRecord, PageRequest, Result, UserRecord};

/// Members and invitations. Implemented in `sql/members.rs`.
///
/// Every change of membership locks the project's row first, so "a project keeps one Admin"
/// holds under concurrent writers on both backends. A stored role that is none of Komander's
/// is [`StoreError::Corrupt`](crate::StoreError::Corrupt) naming it, never "not a member".
#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Members in handle order.
    async fn list_members(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<MemberRecord>>;

    /// The member with this handle.
    async fn member(&self, project: ProjectId, handle: &UserHandle)
    -> Result<Option<MemberRecord>>;

    /// Adds a member; [`StoreError::Conflict`](crate::StoreError::Conflict) when already one.
    async fn add_member(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Changes a member's role; refuses to demote the last Admin.
    async fn set_member_role(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Removes a member and deletes their private deployments in the project, returning how
    /// many. Refuses to remove the last Admin, and, unless `force`, a member who still has
    /// private deployments (the conflict names the count).
    async fn remove_member(
        &self,
        project: ProjectId,
        user: UserId,
        force: bool,
        audit: &AuditRecord,
    ) -> Result<u64>;

    /// Creates an invitation.
    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// A project's invitations, newest first.
    async fn list_invitations(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<InvitationRecord>>;

    /// Revokes an invitation.
    async fn delete_invitation(
        &self,
        project: ProjectId,
        invitation: InvitationId,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Accepts the invitation with this token hash for `user` at `now_ms`: makes them a
    /// member and marks the invitation used, in one transaction. Answers the project's name.
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when unknown, used or expired;
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) when the user is already a
    /// member, or when the invitation's creator is no longer an Admin of the project (removed
    /// or demoted since: the link spoke for them). Nothing changes on refusal.
    async fn accept_invitation(
        &self,
        token_hash: &[u8; 32],
        user: &UserRecord,
        now_ms: i64,
    ) -> Result<ProjectName>;
}
