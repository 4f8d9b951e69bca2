//! Members and invitation links: Admins add members by handle or create a link that grants a
//! role to whoever accepts it while signed in.

use komander_domain::{
    Action, InvitationId, ProjectRef,
    api::{
        CreatedInvitation, Invitation, Member, MemberPatch, NewInvitation, NewMember, Page,
        PageQuery, Project,
    },
    names::UserHandle,
    timestamps,
};
use komander_secrets::{ApiToken, token_hash};
use komander_store::{InvitationRecord, MemberRecord, UserRecord};
use tracing::{info, instrument};

use crate::{App, AppError, Caller, Paging, Result, scope::ProjectScope};

/// The prefix of invitation tokens.
pub const INVITATION_PREFIX: &str = "kmi_";

const DEFAULT_INVITATION_HOURS: u32 = 168;
const MAX_INVITATION_HOURS: u32 = 720;

fn member_view(m: MemberRecord) -> Member {
    Member {
        user: m.handle,
        user_id: m.user_id,
        display_name: m.display_name,
        role: m.role,
        created_at: timestamps::from_millis(m.created_at),
    }
}

impl App {
    /// `GET /api/v1/projects/{project}/members`, by handle.
    ///
    /// # Errors
    /// Not found unless a member; invalid paging.
    pub async fn list_members(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        query: &PageQuery,
    ) -> Result<Page<Member>> {
        let scope = self
            .project_scope(caller, project, Action::ViewProject)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_members(scope.project.id, &page).await?;
        paging.page(rows, |m| m.handle.to_string(), |m| Ok(member_view(m)))
    }

    async fn existing_user(&self, handle: &UserHandle) -> Result<UserRecord> {
        self.store.user_by_handle(handle).await?.ok_or_else(|| {
            AppError::invalid(
                "user",
                format!("no user has the handle {:?}", handle.as_str()),
            )
        })
    }

    /// `POST /api/v1/projects/{project}/members` (Admins).
    ///
    /// # Errors
    /// Not found, forbidden; invalid input for an unknown handle; conflict when already a
    /// member.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project, user = %new.user))]
    pub async fn add_member(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        new: NewMember,
    ) -> Result<Member> {
        let scope = self
            .project_scope(caller, project, Action::ManageMembers)
            .await?;
        let user = self.existing_user(&new.user).await?;
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "member.add",
            format!("member/{}", user.handle),
            &["user", "role"],
        );
        self.store
            .add_member(scope.project.id, user.id, new.role, &audit)
            .await?;
        Ok(Member {
            user: user.handle,
            user_id: user.id,
            display_name: user.display_name,
            role: new.role,
            created_at: timestamps::from_millis(audit.at),
        })
    }

    /// The member `handle` of `project`, which the caller administers.
    async fn member_of(
        &self,
        project: &ProjectRef,
        caller: &Caller,
        handle: &str,
    ) -> Result<(ProjectScope, MemberRecord)> {
        let scope = self
            .project_scope(caller, project, Action::ManageMembers)
            .await?;
        let not_found = || AppError::NotFound(format!("member {handle:?}"));
        let parsed: UserHandle = handle.parse().map_err(|_| not_found())?;
        let member = self
            .store
            .member(scope.project.id, &parsed)
            .await?
            .ok_or_else(not_found)?;
        Ok((scope, member))
    }

    /// `PATCH /api/v1/projects/{project}/members/{user}` (Admins): changes a role; the last
    /// Admin cannot be demoted.
    ///
    /// # Errors
    /// Not found, forbidden, conflict.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project, user = handle))]
    pub async fn set_member_role(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        handle: &str,
        patch: MemberPatch,
    ) -> Result<Member> {
        let (scope, member) = self.member_of(project, caller, handle).await?;
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "member.update",
            format!("member/{}", member.handle),
            &["role"],
        );
        self.store
            .set_member_role(scope.project.id, member.user_id, patch.role, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "member"))?;
        Ok(member_view(MemberRecord {
            role: patch.role,
            ..member
        }))
    }

    /// `DELETE /api/v1/projects/{project}/members/{user}` (Admins): removes a member and
    /// deletes their private deployments in the project. Without `force`, a member who still
    /// owns private deployments is not removed: the conflict tells how many. Answers how many
    /// were deleted.
    ///
    /// # Errors
    /// Not found, forbidden, conflict (last Admin, private deployments without force).
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project, user = handle))]
    pub async fn remove_member(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        handle: &str,
        force: bool,
    ) -> Result<u64> {
        let (scope, member) = self.member_of(project, caller, handle).await?;
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "member.remove",
            format!("member/{}", member.handle),
            &[],
        );
        let deleted = self
            .store
            .remove_member(scope.project.id, member.user_id, force, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "member"))?;
        info!(deleted_private_deployments = deleted, "member removed");
        Ok(deleted)
    }

    /// `POST /api/v1/projects/{project}/invitations` (Admins): a link whose token is shown
    /// once.
    ///
    /// # Errors
    /// Not found, forbidden, invalid expiry.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project))]
    pub async fn create_invitation(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        new: NewInvitation,
    ) -> Result<CreatedInvitation> {
        let scope = self
            .project_scope(caller, project, Action::ManageMembers)
            .await?;
        let hours = new.expires_in_hours.unwrap_or(DEFAULT_INVITATION_HOURS);
        if !(1..=MAX_INVITATION_HOURS).contains(&hours) {
            return Err(AppError::invalid(
                "expires_in_hours",
                format!("expires_in_hours must be between 1 and {MAX_INVITATION_HOURS}"),
            ));
        }
        let token = ApiToken::generate(INVITATION_PREFIX);
        let now = timestamps::to_millis(timestamps::now());
        let record = InvitationRecord {
            id: InvitationId::new(),
            project_id: scope.project.id,
            token_hash: token.hash,
            role: new.role,
            created_by_handle: None,
            created_by: caller.user.id,
            created_at: now,
            expires_at: now + i64::from(hours) * 3_600_000,
            accepted_by: None,
        };
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "invitation.create",
            format!("invitation/{}", record.id),
            &["role", "expires_at"],
        );
        self.store.create_invitation(&record, &audit).await?;
        Ok(CreatedInvitation {
            id: record.id,
            token: token.token.expose().to_owned(),
            role: record.role,
            expires_at: timestamps::from_millis(record.expires_at),
        })
    }

    /// `GET /api/v1/projects/{project}/invitations` (Admins), newest first.
    ///
    /// # Errors
    /// Not found, forbidden, invalid paging.
    pub async fn list_invitations(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        query: &PageQuery,
    ) -> Result<Page<Invitation>> {
        let scope = self
            .project_scope(caller, project, Action::ManageMembers)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_invitations(scope.project.id, &page).await?;
        paging.page(
            rows,
            |i| i.id.to_string(),
            |i| {
                Ok(Invitation {
                    id: i.id,
                    role: i.role,
                    created_by: i
                        .created_by_handle
                        .ok_or_else(|| AppError::fault("an invitation without its creator"))?,
                    created_at: timestamps::from_millis(i.created_at),
                    expires_at: timestamps::from_millis(i.expires_at),
                    accepted_by: i.accepted_by,
                })
            },
        )
    }

    /// `DELETE /api/v1/projects/{project}/invitations/{id}` (Admins): revokes a link.
    ///
    /// # Errors
    /// Not found, forbidden.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project))]
    pub async fn revoke_invitation(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        id: &str,
    ) -> Result<()> {
        let scope = self
            .project_scope(caller, project, Action::ManageMembers)
            .await?;
        let id: InvitationId = id
            .parse()
            .map_err(|_| AppError::NotFound(format!("invitation {id:?}")))?;
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "invitation.revoke",
            format!("invitation/{id}"),
            &[],
        );
        self.store
            .delete_invitation(scope.project.id, id, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "invitation"))
    }

    /// `POST /api/v1/invitations/{token}/accept`: the caller joins the project with the
    /// invitation's role; the link cannot be used again.
    ///
    /// # Errors
    /// Not found for unknown, used or expired links; conflict when already a member, or when
    /// whoever created the link is no longer an Admin of the project (nothing changes then).
    #[instrument(skip_all, fields(actor = %caller.user.handle))]
    pub async fn accept_invitation(&self, caller: &Caller, token: &str) -> Result<Project> {
        let now = timestamps::to_millis(timestamps::now());
        let project = self
            .store
            .accept_invitation(&token_hash(token), &caller.user, now)
            .await
            .map_err(|e| match e {
                komander_store::StoreError::NotFound(_) => {
                    AppError::NotFound("invitation (unknown, already used or expired)".into())
                }
                other => AppError::from_store(other, "member"),
            })?;
        self.get_project(caller, &ProjectRef::new(project)).await
    }
}
