//! `/api/v1/projects`: projects, members, invitations and the audit log.

use axum::{Json, extract::State, http::StatusCode};
use komander_domain::api::{
    AuditEntry, CreatedInvitation, ForceQuery, Invitation, Member, MemberPatch, NewInvitation,
    NewMember, NewProject, Page, PageQuery, Project, ProjectPatch,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{
        AppJson, AppPath, AppQuery, Authenticated, InvitationPath, InvitationTokenPath, MemberPath,
        PathRef, ProjectPath,
    },
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(list_audit))
}

/// The projects the caller is a member of, by name, with the caller's role.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(PageQuery),
    responses((status = 200, body = Page<Project>), ErrorResponses))]
async fn list_projects(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<Json<Page<Project>>, ApiError> {
    Ok(Json(s.app.list_projects(&caller, &q).await?))
}

/// Creates a project; the caller becomes its Admin.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = NewProject,
    responses((status = 201, body = Project), ErrorResponses))]
async fn create_project(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppJson(body): AppJson<NewProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_project(&caller, body).await?),
    ))
}

/// A project the caller is a member of.
#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects",
    params(ProjectPath), responses((status = 200, body = Project), ErrorResponses))]
async fn get_project(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(project): PathRef<ProjectPath>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(s.app.get_project(&caller, &project).await?))
}

/// Changes a project's display name or description (Admins).
#[utoipa::path(patch, path = "/api/v1/projects/{project}", tag = "projects",
    params(ProjectPath), request_body = ProjectPatch,
    responses((status = 200, body = Project), ErrorResponses))]
async fn update_project(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(project): PathRef<ProjectPath>,
    AppJson(body): AppJson<ProjectPatch>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(s.app.update_project(&caller, &project, body).await?))
}

/// Deletes a project with its environments and deployments (Admins). Nothing in the git
/// provider is deleted.
#[utoipa::path(delete, path = "/api/v1/projects/{project}", tag = "projects",
    params(ProjectPath), responses((status = 204), ErrorResponses))]
async fn delete_project(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(project): PathRef<ProjectPath>,
) -> Result<StatusCode, ApiError> {
    s.app.delete_project(&caller, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's members, by handle.
#[utoipa::path(get, path = "/api/v1/projects/{project}/members", tag = "members",
    params(ProjectPath, PageQuery),
    responses((status = 200, body = Page<Member>), ErrorResponses))]
async fn list_members(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(project): PathRef<ProjectPath>,
) -> Result<Json<Page<Member>>, ApiError> {
    Ok(Json(s.app.list_members(&caller, &project, &q).await?))
}

/// Adds a user as a member by handle (Admins).
#[utoipa::path(post, path = "/api/v1/projects/{project}/members", tag = "members",
    params(ProjectPath), request_body = NewMember,
    responses((status = 201, body = Member), ErrorResponses))]
async fn add_member(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(project): PathRef<ProjectPath>,
    AppJson(body): AppJson<NewMember>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.add_member(&caller, &project, body).await?),
    ))
}

/// Changes a member's role (Admins); the last Admin cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/members/{user}", tag = "members",
    params(MemberPath), request_body = MemberPatch,
    responses((status = 200, body = Member), ErrorResponses))]
async fn update_member(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((project, user)): PathRef<MemberPath>,
    AppJson(body): AppJson<MemberPatch>,
) -> Result<Json<Member>, ApiError> {
    Ok(Json(
        s.app
            .set_member_role(&caller, &project, &user, body)
            .await?,
    ))
}

/// Removes a member and deletes their private deployments in the project (Admins). Without
/// `force=true`, a member who owns private deployments is not removed: the 409 says how many.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/members/{user}", tag = "members",
    params(MemberPath, ForceQuery), responses((status = 204), ErrorResponses))]
async fn remove_member(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<ForceQuery>,
    PathRef((project, user)): PathRef<MemberPath>,
) -> Result<StatusCode, ApiError> {
    s.app
        .remove_member(&caller, &project, &user, q.force)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's invitation links, newest first (Admins).
#[utoipa::path(get, path = "/api/v1/projects/{project}/invitations", tag = "members",
    params(ProjectPath, PageQuery),
    responses((status = 200, body = Page<Invitation>), ErrorResponses))]
async fn list_invitations(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(project): PathRef<ProjectPath>,
) -> Result<Json<Page<Invitation>>, ApiError> {
    Ok(Json(s.app.list_invitations(&caller, &project, &q).await?))
}

/// Creates an invitation link granting a role (Admins); its token is shown this once.
#[utoipa::path(post, path = "/api/v1/projects/{project}/invitations", tag = "members",
    params(ProjectPath), request_body = NewInvitation,
    responses((status = 201, body = CreatedInvitation), ErrorResponses))]
async fn create_invitation(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(project): PathRef<ProjectPath>,
    AppJson(body): AppJson<NewInvitation>,
) -> Result<(StatusCode, Json<CreatedInvitation>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_invitation(&caller, &project, body).await?),
    ))
}

/// Revokes an invitation link (Admins).
#[utoipa::path(delete, path = "/api/v1/projects/{project}/invitations/{id}", tag = "members",
    params(InvitationPath), responses((status = 204), ErrorResponses))]
async fn revoke_invitation(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((project, id)): PathRef<InvitationPath>,
) -> Result<StatusCode, ApiError> {
    s.app.revoke_invitation(&caller, &project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation: the caller joins the project with its role. A link works once.
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "members",
    params(InvitationTokenPath), responses((status = 200, body = Project), ErrorResponses))]
async fn accept_invitation(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<InvitationTokenPath>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(s.app.accept_invitation(&caller, &p.token).await?))
}

/// The project's audit log, newest first (Admins): who changed what, which fields; never
/// values.
#[utoipa::path(get, path = "/api/v1/projects/{project}/audit", tag = "projects",
    params(ProjectPath, PageQuery),
    responses((status = 200, body = Page<AuditEntry>), ErrorResponses))]
async fn list_audit(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(project): PathRef<ProjectPath>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    Ok(Json(s.app.list_audit(&caller, &project, &q).await?))
}
