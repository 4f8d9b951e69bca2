//! `/api/v1/targets`: the Docker Engines `server` deployments run on. Instance admins
//! register, change, delete and grant them to projects; a project's members list the targets
//! granted to it at `/api/v1/projects/{project}/targets`. No route returns TLS material.

use axum::{Json, extract::State, http::StatusCode};
use komander_domain::{
    api::{NewTarget, Page, PageQuery, Target, TargetGrant, TargetPatch},
    names::ProjectName,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{AppJson, AppPath, AppQuery, Authenticated, PathRef, ProjectPath},
};

/// `/api/v1/targets/{target}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TargetPath {
    /// The target's name.
    #[param(example = "local")]
    pub target: String,
}

/// `/api/v1/targets/{target}/grants/{project}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GrantPath {
    /// The target's name.
    #[param(example = "local")]
    pub target: String,
    /// The project's name.
    #[param(example = "shop")]
    pub project: String,
}

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_targets, create_target))
        .routes(routes!(get_target, update_target, delete_target))
        .routes(routes!(list_grants, grant_target))
        .routes(routes!(revoke_target))
        .routes(routes!(list_project_targets))
}

/// Every target, by name (instance admins): never TLS material.
#[utoipa::path(get, path = "/api/v1/targets", tag = "targets", params(PageQuery),
    responses((status = 200, body = Page<Target>), ErrorResponses))]
async fn list_targets(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<Json<Page<Target>>, ApiError> {
    Ok(Json(s.app.list_targets(&caller, &q).await?))
}

/// Registers a Docker Engine (instance admins): a unix socket, or TCP with TLS whose PEMs
/// are sealed and never returned.
#[utoipa::path(post, path = "/api/v1/targets", tag = "targets", request_body = NewTarget,
    responses((status = 201, body = Target), ErrorResponses))]
async fn create_target(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppJson(body): AppJson<NewTarget>,
) -> Result<(StatusCode, Json<Target>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_target(&caller, body).await?),
    ))
}

/// A target (instance admins): never TLS material.
#[utoipa::path(get, path = "/api/v1/targets/{target}", tag = "targets", params(TargetPath),
    responses((status = 200, body = Target), ErrorResponses))]
async fn get_target(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<TargetPath>,
) -> Result<Json<Target>, ApiError> {
    Ok(Json(s.app.get_target(&caller, &p.target).await?))
}

/// Changes a target's endpoint, policy or default mark (instance admins).
#[utoipa::path(patch, path = "/api/v1/targets/{target}", tag = "targets", params(TargetPath),
    request_body = TargetPatch, responses((status = 200, body = Target), ErrorResponses))]
async fn update_target(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<TargetPath>,
    AppJson(body): AppJson<TargetPatch>,
) -> Result<Json<Target>, ApiError> {
    Ok(Json(s.app.update_target(&caller, &p.target, body).await?))
}

/// Deletes a target and its grants (instance admins); 409 naming the environments that
/// still name it.
#[utoipa::path(delete, path = "/api/v1/targets/{target}", tag = "targets", params(TargetPath),
    responses((status = 204), ErrorResponses))]
async fn delete_target(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<TargetPath>,
) -> Result<StatusCode, ApiError> {
    s.app.delete_target(&caller, &p.target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The projects a target is granted to, by name (instance admins).
#[utoipa::path(get, path = "/api/v1/targets/{target}/grants", tag = "targets",
    params(TargetPath), responses((status = 200, body = Page<ProjectName>), ErrorResponses))]
async fn list_grants(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<TargetPath>,
) -> Result<Json<Page<ProjectName>>, ApiError> {
    Ok(Json(Page {
        items: s.app.target_grants(&caller, &p.target).await?,
        next_cursor: None,
    }))
}

/// Grants a target to a project (instance admins); idempotent.
#[utoipa::path(post, path = "/api/v1/targets/{target}/grants", tag = "targets",
    params(TargetPath), request_body = TargetGrant,
    responses((status = 204), ErrorResponses))]
async fn grant_target(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<TargetPath>,
    AppJson(body): AppJson<TargetGrant>,
) -> Result<StatusCode, ApiError> {
    s.app.grant_target(&caller, &p.target, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a project's grant (instance admins); 409 naming the project's environments that
/// still name the target.
#[utoipa::path(delete, path = "/api/v1/targets/{target}/grants/{project}", tag = "targets",
    params(GrantPath), responses((status = 204), ErrorResponses))]
async fn revoke_target(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<GrantPath>,
) -> Result<StatusCode, ApiError> {
    s.app.revoke_target(&caller, &p.target, &p.project).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The targets granted to a project, by name (its members): never TLS material.
#[utoipa::path(get, path = "/api/v1/projects/{project}/targets", tag = "targets",
    params(ProjectPath, PageQuery),
    responses((status = 200, body = Page<Target>), ErrorResponses))]
async fn list_project_targets(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(project): PathRef<ProjectPath>,
) -> Result<Json<Page<Target>>, ApiError> {
    Ok(Json(
        s.app.list_project_targets(&caller, &project, &q).await?,
    ))
}
