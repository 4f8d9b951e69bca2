//! The SQL of members and invitations. Every change of membership locks the project's row
//! first (see `projects.rs`).

use async_trait::async_trait;
use komander_domain::{
    InvitationId, ProjectId, Role, UserId,
    names::{ProjectName, UserHandle},
};

use super::{Conn, SqlStore, audit::write_audit, expect_one, projects::lock_project};
use crate::{
    AuditRecord, InvitationRecord, MemberRecord, MemberStore, PageRequest, Result, StoreError,
    UserRecord,
    records::{
        parse, parse_with,
        rows::{InvitationRow, MemberRow},
    },
};

/// How many Admins the project has.
async fn admin_count(conn: &mut Conn, project: ProjectId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE project_id = $1 AND role = 'admin'")
            .bind(project.to_string())
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The user's role in the project, `None` when not a member; [`StoreError::Corrupt`] naming
/// the value when the stored role is not one.
async fn member_role(conn: &mut Conn, project: ProjectId, user: UserId) -> Result<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM members WHERE project_id = $1 AND user_id = $2")
            .bind(project.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    role.map(|role| parse_with("members", &role, Role::parse))
        .transpose()
}

#[async_trait]
impl MemberStore for SqlStore {
    async fn list_members(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<MemberRecord>> {
        self.scoped_page::<MemberRow, _>(
            "SELECT m.user_id, u.handle, u.display_name, m.role, m.created_at \
             FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.project_id = $1 AND u.handle > COALESCE($2, '') \
             ORDER BY u.handle LIMIT $3",
            project.to_string(),
            page,
        )
        .await
    }

    async fn member(
        &self,
        project: ProjectId,
        handle: &UserHandle,
    ) -> Result<Option<MemberRecord>> {
        sqlx::query_as::<_, MemberRow>(
            "SELECT m.user_id, u.handle, u.display_name, m.role, m.created_at \
             FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.project_id = $1 AND u.handle = $2",
        )
        .bind(project.to_string())
        .bind(handle.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(MemberRecord::try_from)
        .transpose()
    }

    async fn add_member(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        lock_project(&mut tx, project).await?;
        if member_role(&mut tx, project, user).await?.is_some() {
            return Err(StoreError::Conflict {
                field: Some("user".into()),
                message: "the user is already a member of this project".into(),
            });
        }
        sqlx::query(
            "INSERT INTO members (project_id, project_name, user_id, role, created_at) \
             SELECT id, name, $2, $3, $4 FROM projects WHERE id = $1",
        )
        .bind(project.to_string())
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(audit.at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_member_role(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        lock_project(&mut tx, project).await?;
        let current = member_role(&mut tx, project, user)
            .await?
            .ok_or(StoreError::NotFound("member"))?;
        if current == Role::Admin
            && role != Role::Admin
            && admin_count(&mut tx, project).await? <= 1
        {
            return Err(StoreError::conflict(
                "a project keeps at least one Admin: make another member Admin first",
            ));
        }
        sqlx::query("UPDATE members SET role = $1 WHERE project_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(project.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        project: ProjectId,
        user: UserId,
        force: bool,
        audit: &AuditRecord,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        lock_project(&mut tx, project).await?;
        let current = member_role(&mut tx, project, user)
            .await?
            .ok_or(StoreError::NotFound("member"))?;
        if current == Role::Admin && admin_count(&mut tx, project).await? <= 1 {
            return Err(StoreError::conflict(
                "a project keeps at least one Admin: the last Admin cannot be removed",
            ));
        }
        let private: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deployments \
             WHERE project_id = $1 AND owner_id = $2 AND shared = $3",
        )
        .bind(project.to_string())
        .bind(user.to_string())
        .bind(false)
        .fetch_one(&mut *tx)
        .await?;
        if private > 0 && !force {
            return Err(StoreError::conflict(format!(
                "the member owns {private} private deployment(s) in this project; \
                 removing them deletes those: repeat with force=true"
            )));
        }
        sqlx::query(
            "DELETE FROM deployments WHERE project_id = $1 AND owner_id = $2 AND shared = $3",
        )
        .bind(project.to_string())
        .bind(user.to_string())
        .bind(false)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM members WHERE project_id = $1 AND user_id = $2")
            .bind(project.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(private as u64)
    }

    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO invitations (id, project_id, token_hash, role, created_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(invitation.id.to_string())
        .bind(invitation.project_id.to_string())
        .bind(invitation.token_hash.as_slice())
        .bind(invitation.role.as_str())
        .bind(invitation.created_by.to_string())
        .bind(invitation.created_at)
        .bind(invitation.expires_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_invitations(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<InvitationRecord>> {
        self.scoped_page::<InvitationRow, _>(
            "SELECT i.id, i.project_id, i.token_hash, i.role, i.created_by, \
             c.handle AS created_by_handle, i.created_at, i.expires_at, \
             a.handle AS accepted_by FROM invitations i \
             JOIN users c ON c.id = i.created_by \
             LEFT JOIN users a ON a.id = i.accepted_by \
             WHERE i.project_id = $1 AND i.id < COALESCE($2, '~') \
             ORDER BY i.id DESC LIMIT $3",
            project.to_string(),
            page,
        )
        .await
    }

    async fn delete_invitation(
        &self,
        project: ProjectId,
        invitation: InvitationId,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.delete_audited(
            "DELETE FROM invitations WHERE id = $1 AND project_id = $2",
            &[invitation.to_string(), project.to_string()],
            "invitation",
            audit,
        )
        .await
    }

    async fn accept_invitation(
        &self,
        token_hash: &[u8; 32],
        user: &UserRecord,
        now_ms: i64,
    ) -> Result<ProjectName> {
        let mut tx = self.begin_write().await?;
        let found: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, project_id, role, created_by FROM invitations \
             WHERE token_hash = $1 AND accepted_by IS NULL AND expires_at > $2",
        )
        .bind(token_hash.as_slice())
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, project, role, creator) = found.ok_or(StoreError::NotFound("invitation"))?;
        let project: ProjectId = parse("invitations", &project)?;
        let creator: UserId = parse("invitations", &creator)?;
        lock_project(&mut tx, project).await?;
        if member_role(&mut tx, project, creator).await? != Some(Role::Admin) {
            return Err(StoreError::conflict(
                "this invitation is void: whoever created it is no longer an Admin of the project",
            ));
        }
        if member_role(&mut tx, project, user.id).await?.is_some() {
            return Err(StoreError::conflict(
                "you are already a member of this project",
            ));
        }
        let done = sqlx::query(
            "UPDATE invitations SET accepted_by = $1, accepted_at = $2 \
             WHERE id = $3 AND accepted_by IS NULL",
        )
        .bind(user.id.to_string())
        .bind(now_ms)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        expect_one(done.rows_affected(), "invitation")?;
        sqlx::query(
            "INSERT INTO members (project_id, project_name, user_id, role, created_at) \
             SELECT id, name, $2, $3, $4 FROM projects WHERE id = $1",
        )
        .bind(project.to_string())
        .bind(user.id.to_string())
        .bind(&role)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        write_audit(
            &mut tx,
            &AuditRecord {
                id: Default::default(),
                project_id: Some(project),
                actor_id: user.id,
                actor_handle: user.handle.to_string(),
                action: "invitation.accept".into(),
                target: format!("invitation/{id}"),
                fields: vec!["role".into()],
                at: now_ms,
                private_to: None,
            },
        )
        .await?;
        let name: String = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
            .bind(project.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        parse("projects", &name)
    }
}
