//! Members, invitations and the audit log of a project.

use komander_domain::{
    Action,
    api::{AuditEntry, Invitation, Member, Page},
};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{parse_field, projects::PAGE_SIZE},
    komander_app::AppError,
    komander_domain::{
        ProjectRef, Role,
        api::{MemberPatch, NewInvitation, NewMember, PageQuery},
    },
};

/// What the members page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembersView {
    /// The members, a page of them.
    pub members: Page<Member>,
    /// The invitations, a page of them.
    pub invitations: Page<Invitation>,
    /// What the viewer may do in the project.
    pub actions: Vec<Action>,
}

/// The project named by a form or a path.
#[cfg(feature = "ssr")]
fn project_ref(project: &str) -> Result<ProjectRef, UiError> {
    ProjectRef::parse(project).map_err(|e| AppError::from(e).into())
}

/// Parses the role field.
#[cfg(feature = "ssr")]
fn parse_role(text: &str) -> Result<Role, UiError> {
    Role::parse(text.trim())
        .ok_or_else(|| AppError::invalid("role", "the role is admin, devops or dev").into())
}

/// A project's members and invitations (for those who manage them).
#[server(prefix = "/ui/fn", endpoint = "members", input = GetUrl)]
pub async fn load_members(project: String, cursor: Option<String>) -> Result<MembersView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = project_ref(&project)?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    let members = app.list_members(&caller, &reference, &query).await?;
    let actions = app.project_actions(&caller, &reference).await?;
    let invitations = if actions.contains(&Action::ManageMembers) {
        let first = PageQuery {
            limit: Some(PAGE_SIZE),
            cursor: None,
        };
        app.list_invitations(&caller, &reference, &first).await?
    } else {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    };
    Ok(MembersView {
        members,
        invitations,
        actions,
    })
}

/// Adds a user, by handle, as a member with a role.
#[server(prefix = "/ui/fn", endpoint = "add_member")]
pub async fn add_member(
    project: String,
    user: String,
    role: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let new = NewMember {
        user: parse_field("user", &user)?,
        role: parse_role(&role)?,
    };
    app.add_member(&caller, &project_ref(&project)?, new)
        .await?;
    Ok(())
}

/// Changes a member's role.
#[server(prefix = "/ui/fn", endpoint = "set_member_role")]
pub async fn set_member_role(
    project: String,
    user: String,
    role: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let patch = MemberPatch {
        role: parse_role(&role)?,
    };
    app.set_member_role(&caller, &project_ref(&project)?, &user, patch)
        .await?;
    Ok(())
}

/// Removes a member; `force` also stops and deletes their private deployments (refused
/// otherwise, saying how many there are).
#[server(prefix = "/ui/fn", endpoint = "remove_member")]
pub async fn remove_member(
    project: String,
    user: String,
    #[server(default)] force: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    app.remove_member(&caller, &project_ref(&project)?, &user, force)
        .await?;
    Ok(())
}

/// An invitation link just created: shown once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewInvitationLink {
    /// The path that accepts it, `/invitations/<token>`.
    pub path: String,
    /// The role it grants.
    pub role: String,
}

/// Creates an invitation link granting a role to whoever accepts it while signed in. The link
/// is shown once: in the answer (with JavaScript), or in the address the plain form goes back
/// to (without).
#[server(prefix = "/ui/fn", endpoint = "create_invitation")]
pub async fn create_invitation(
    project: String,
    role: String,
    expires_in_hours: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<NewInvitationLink, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let expires_in_hours = super::non_empty(expires_in_hours)
        .map(|h| parse_field::<u32>("expires_in_hours", &h))
        .transpose()?;
    let new = NewInvitation {
        role: parse_role(&role)?,
        expires_in_hours,
    };
    let created = app
        .create_invitation(&caller, &project_ref(&project)?, new)
        .await?;
    let link = NewInvitationLink {
        path: format!("/invitations/{}", created.token),
        role: created.role.as_str().to_owned(),
    };
    if crate::ssr::plain_form() {
        leptos_axum::redirect(&format!(
            "/projects/{project}/members?invitation={}&role={}",
            created.token, link.role
        ));
    }
    Ok(link)
}

/// Revokes an invitation that was not accepted yet.
#[server(prefix = "/ui/fn", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(
    project: String,
    id: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    app.revoke_invitation(&caller, &project_ref(&project)?, &id)
        .await?;
    Ok(())
}

/// Accepts an invitation as the signed-in user, then opens its project.
#[server(prefix = "/ui/fn", endpoint = "accept_invitation")]
pub async fn accept_invitation(
    token: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let project = app.accept_invitation(&caller, token.trim()).await?;
    leptos_axum::redirect(&format!("/projects/{}", project.name));
    Ok(())
}

/// A page of a project's audit log, newest first.
#[server(prefix = "/ui/fn", endpoint = "audit", input = GetUrl)]
pub async fn load_audit(
    project: String,
    cursor: Option<String>,
) -> Result<Page<AuditEntry>, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    Ok(app
        .list_audit(&caller, &project_ref(&project)?, &query)
        .await?)
}
