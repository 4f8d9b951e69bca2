//! `.../deployments/{deployment}/operations`: operations held by a lease, their steps and
//! progress lines. The lease token travels in the `X-Komander-Lease` header.

use axum::{Json, extract::State, http::StatusCode};
use komander_domain::api::{
    Lease, NewOperation, Operation, OperationFinish, Page, PageQuery, ProgressLine, ProgressQuery,
    StartedOperation, StepRecorded, StepWrite,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{
        AppJson, AppQuery, Authenticated, DeploymentPath, LeaseToken, OperationPath, PathRef,
    },
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_operations, start_operation))
        .routes(routes!(get_operation))
        .routes(routes!(renew_lease))
        .routes(routes!(record_step))
        .routes(routes!(finish_operation))
        .routes(routes!(cancel_operation))
        .routes(routes!(operation_progress))
}

/// The deployment's operations, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations",
    tag = "operations", params(DeploymentPath, PageQuery),
    responses((status = 200, body = Page<Operation>), ErrorResponses))]
async fn list_operations(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<Json<Page<Operation>>, ApiError> {
    Ok(Json(s.app.list_operations(&caller, &deployment, &q).await?))
}

/// Starts an operation that the caller's CLI runs, in a `local` environment; answers its
/// lease token once. 409 `busy` naming the running operation while one runs; 409 `conflict`
/// in a `server` environment, whose operations the server's own runner starts.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations",
    tag = "operations", params(DeploymentPath), request_body = NewOperation,
    responses((status = 201, body = StartedOperation), ErrorResponses))]
async fn start_operation(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
    AppJson(body): AppJson<NewOperation>,
) -> Result<(StatusCode, Json<StartedOperation>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.start_operation(&caller, &deployment, body).await?),
    ))
}

/// An operation, with its steps' timings.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}",
    tag = "operations", params(OperationPath),
    responses((status = 200, body = Operation), ErrorResponses))]
async fn get_operation(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((deployment, id)): PathRef<OperationPath>,
) -> Result<Json<Operation>, ApiError> {
    Ok(Json(s.app.get_operation(&caller, &deployment, id).await?))
}

/// Renews the operation's lease for 30 s, for its holder; says whether a cancel was
/// requested. 409 when the lease is not the token's (expired, taken over) or it ended.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/lease",
    tag = "operations",
    params(OperationPath, ("x-komander-lease" = String, Header, description = "The lease token the start answered")),
    responses((status = 200, body = Lease), ErrorResponses))]
async fn renew_lease(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((deployment, id)): PathRef<OperationPath>,
    LeaseToken(token): LeaseToken,
) -> Result<Json<Lease>, ApiError> {
    Ok(Json(
        s.app.renew_lease(&caller, &deployment, id, &token).await?,
    ))
}

/// Records one step (timing, continuation, progress lines) for the lease's holder, in one
/// transaction; its lines get the next sequence numbers.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/steps",
    tag = "operations",
    params(OperationPath, ("x-komander-lease" = String, Header, description = "The lease token the start answered")),
    request_body = StepWrite,
    responses((status = 200, body = StepRecorded), ErrorResponses))]
async fn record_step(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((deployment, id)): PathRef<OperationPath>,
    LeaseToken(token): LeaseToken,
    AppJson(body): AppJson<StepWrite>,
) -> Result<Json<StepRecorded>, ApiError> {
    Ok(Json(
        s.app
            .record_step(&caller, &deployment, id, &token, body)
            .await?,
    ))
}

/// Ends the operation as its holder says and frees the deployment for the next one.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/finish",
    tag = "operations",
    params(OperationPath, ("x-komander-lease" = String, Header, description = "The lease token the start answered")),
    request_body = OperationFinish,
    responses((status = 200, body = Operation), ErrorResponses))]
async fn finish_operation(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((deployment, id)): PathRef<OperationPath>,
    LeaseToken(token): LeaseToken,
    AppJson(body): AppJson<OperationFinish>,
) -> Result<Json<Operation>, ApiError> {
    Ok(Json(
        s.app
            .finish_operation(&caller, &deployment, id, &token, body)
            .await?,
    ))
}

/// Asks the running operation to stop: its holder sees `cancel_requested` when it renews the
/// lease or records a step, finishes the running step and ends the operation `cancelled`.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/cancel",
    tag = "operations", params(OperationPath),
    responses((status = 200, body = Operation), ErrorResponses))]
async fn cancel_operation(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef((deployment, id)): PathRef<OperationPath>,
) -> Result<Json<Operation>, ApiError> {
    Ok(Json(
        s.app.cancel_operation(&caller, &deployment, id).await?,
    ))
}

/// The operation's progress lines after sequence number `after`, in order: pass the last
/// sequence read to resume without a lost or doubled line.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/progress",
    tag = "operations", params(OperationPath, ProgressQuery),
    responses((status = 200, body = Vec<ProgressLine>), ErrorResponses))]
async fn operation_progress(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<ProgressQuery>,
    PathRef((deployment, id)): PathRef<OperationPath>,
) -> Result<Json<Vec<ProgressLine>>, ApiError> {
    Ok(Json(
        s.app
            .operation_progress(&caller, &deployment, id, &q)
            .await?,
    ))
}
