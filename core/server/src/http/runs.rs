//! `.../deployments/{deployment}/{apply,destroy,rollback,plan,status}` and a service's `logs`: running
//! a deployment of a `server` environment and reading how it runs. Starting an operation
//! answers `202` with it; follow it under `.../operations/{operation}`.

use axum::{Json, extract::State, http::StatusCode};
use komander_domain::api::{
    DeploymentPlan, DeploymentRunStatus, DestroyRequest, LogQuery, Operation, RollbackRequest,
    ServiceLogPage,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{AppJson, AppQuery, Authenticated, DeploymentPath, PathRef, ServicePath},
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(apply_deployment))
        .routes(routes!(destroy_deployment))
        .routes(routes!(rollback_deployment))
        .routes(routes!(plan_deployment))
        .routes(routes!(deployment_status))
        .routes(routes!(service_logs))
}

/// Starts applying the deployment on the server (a `server` environment). Refused before
/// anything is created: a secret variable without a value, a host port another container on
/// the target publishes, limits above the target's maximums, what the runtime's `validate`
/// refuses (400); a `local` environment, an unavailable runtime or target (409); no target at
/// all (409 `no_target`); another operation running (409 `busy`, naming it).
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/apply",
    tag = "runs", params(DeploymentPath),
    responses((status = 202, body = Operation), ErrorResponses))]
async fn apply_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<(StatusCode, Json<Operation>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(s.app.apply_deployment(&caller, &deployment).await?),
    ))
}

/// Starts removing what the deployment runs on the server; `volumes=true` removes its named
/// volumes and their data too (kept by default).
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/destroy",
    tag = "runs", params(DeploymentPath, DestroyRequest),
    responses((status = 202, body = Operation), ErrorResponses))]
async fn destroy_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(request): AppQuery<DestroyRequest>,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<(StatusCode, Json<Operation>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(
            s.app
                .destroy_deployment(&caller, &deployment, request)
                .await?,
        ),
    ))
}

/// Brings back what an earlier successful apply (or rollback) of the deployment ran: writes
/// its services (images pinned to their repository digests) and plain variables back in one
/// audited transaction, then applies them as an operation of kind `rollback` naming it.
/// Refused with nothing changed: an operation that is no successful apply or rollback of this
/// deployment with a recorded spec, or a secret variable of that spec without a value now,
/// named (400); otherwise as an apply.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/rollback",
    tag = "runs", params(DeploymentPath), request_body = RollbackRequest,
    responses((status = 202, body = Operation), ErrorResponses))]
async fn rollback_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
    AppJson(request): AppJson<RollbackRequest>,
) -> Result<(StatusCode, Json<Operation>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(
            s.app
                .rollback_deployment(&caller, &deployment, request)
                .await?,
        ),
    ))
}

/// What applying the deployment now would change, each change with its reason, and the
/// runtime's warnings. Changes nothing.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/plan",
    tag = "runs", params(DeploymentPath),
    responses((status = 200, body = DeploymentPlan), ErrorResponses))]
async fn plan_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<Json<DeploymentPlan>, ApiError> {
    Ok(Json(s.app.plan_deployment(&caller, &deployment).await?))
}

/// Each service as it runs now, and the drift from the spec.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/status",
    tag = "runs", params(DeploymentPath),
    responses((status = 200, body = DeploymentRunStatus), ErrorResponses))]
async fn deployment_status(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<Json<DeploymentRunStatus>, ApiError> {
    Ok(Json(s.app.deployment_status(&caller, &deployment).await?))
}

/// A page of the service's log: without a cursor its last `limit` lines, with one the lines
/// after it. Secret values are replaced by `[secret]`.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}/logs",
    tag = "runs", params(ServicePath, LogQuery),
    responses((status = 200, body = ServiceLogPage), ErrorResponses))]
async fn service_logs(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(query): AppQuery<LogQuery>,
    PathRef(service): PathRef<ServicePath>,
) -> Result<Json<ServiceLogPage>, ApiError> {
    Ok(Json(s.app.service_logs(&caller, &service, &query).await?))
}
