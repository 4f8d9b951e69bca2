//! `/api/v1/projects/{project}/environments`.

use axum::{Json, extract::State, http::StatusCode};
use komander_domain::api::{
    Environment, EnvironmentPatch, EnvironmentUpdate, ForceQuery, NewEnvironment, Page, PageQuery,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{AppJson, AppQuery, Authenticated, EnvironmentPath, PathRef, ProjectPath},
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_environments, create_environment))
        .routes(routes!(
            get_environment,
            update_environment,
            delete_environment
        ))
}

/// The project's environments, by name.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments", tag = "environments",
    params(ProjectPath, PageQuery),
    responses((status = 200, body = Page<Environment>), ErrorResponses))]
async fn list_environments(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(project): PathRef<ProjectPath>,
) -> Result<Json<Page<Environment>>, ApiError> {
    Ok(Json(s.app.list_environments(&caller, &project, &q).await?))
}

/// Creates an environment (Admins, DevOps).
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments", tag = "environments",
    params(ProjectPath), request_body = NewEnvironment,
    responses((status = 201, body = Environment), ErrorResponses))]
async fn create_environment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(project): PathRef<ProjectPath>,
    AppJson(body): AppJson<NewEnvironment>,
) -> Result<(StatusCode, Json<Environment>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_environment(&caller, &project, body).await?),
    ))
}

/// An environment.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}",
    tag = "environments", params(EnvironmentPath),
    responses((status = 200, body = Environment), ErrorResponses))]
async fn get_environment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(environment): PathRef<EnvironmentPath>,
) -> Result<Json<Environment>, ApiError> {
    Ok(Json(s.app.get_environment(&caller, &environment).await?))
}

/// Changes an environment's display name, executor or settings (Admins, DevOps). Switching
/// the executor from `server` to `local` is for Admins only and clears the secret values of
/// its deployments, answering their count.
#[utoipa::path(patch, path = "/api/v1/projects/{project}/environments/{environment}",
    tag = "environments", params(EnvironmentPath), request_body = EnvironmentPatch,
    responses((status = 200, body = EnvironmentUpdate), ErrorResponses))]
async fn update_environment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(environment): PathRef<EnvironmentPath>,
    AppJson(body): AppJson<EnvironmentPatch>,
) -> Result<Json<EnvironmentUpdate>, ApiError> {
    Ok(Json(
        s.app
            .update_environment(&caller, &environment, body)
            .await?,
    ))
}

/// Deletes an environment (Admins, DevOps). One that still holds deployments answers 409 with
/// their count, unless an Admin passes `force=true`, which destroys them.
#[utoipa::path(delete, path = "/api/v1/projects/{project}/environments/{environment}",
    tag = "environments", params(EnvironmentPath, ForceQuery),
    responses((status = 204), ErrorResponses))]
async fn delete_environment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<ForceQuery>,
    PathRef(environment): PathRef<EnvironmentPath>,
) -> Result<StatusCode, ApiError> {
    s.app
        .delete_environment(&caller, &environment, q.force)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
