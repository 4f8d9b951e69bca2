//! `.../deployments/{deployment}/{apply,destroy,stop,start,rollback,plan,status}` and a service's `logs`
//! (paged, or followed live as server-sent events): running a deployment of a `server`
//! environment and reading how it runs. Starting an operation answers `202` with it; follow it
//! under `.../operations/{operation}`.

use std::convert::Infallible;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{Response, sse::Event},
};
use komander_app::{
    App, Caller,
    runner::log_feed::{LogEvent, LogFeed, ResumePoint},
};
use komander_domain::{
    ServiceRef,
    api::{
        DeploymentPlan, DeploymentRunStatus, DestroyRequest, EVENT_LOG_LINE, EVENT_LOG_TAIL,
        EVENT_RESUME, ErrorBody, LogEventsQuery, LogQuery, Operation, RollbackRequest,
        ServiceLogPage,
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{
        AppJson, AppQuery, Authenticated, DeploymentPath, LastEventText, PathRef, ServicePath,
    },
    operations::event_stream,
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(apply_deployment))
        .routes(routes!(destroy_deployment))
        .routes(routes!(stop_deployment))
        .routes(routes!(start_deployment))
        .routes(routes!(rollback_deployment))
        .routes(routes!(plan_deployment))
        .routes(routes!(deployment_status))
        .routes(routes!(service_logs))
        .routes(routes!(service_log_events))
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

/// Starts stopping the deployment's services on the server, keeping their containers,
/// networks and volumes for `start`.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/stop",
    tag = "runs", params(DeploymentPath),
    responses((status = 202, body = Operation), ErrorResponses))]
async fn stop_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<(StatusCode, Json<Operation>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(s.app.stop_deployment(&caller, &deployment).await?),
    ))
}

/// Starts again, on the server, what `stop` stopped, then waits for the services to run (and
/// pass their health checks) as an apply does.
#[utoipa::path(post, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/start",
    tag = "runs", params(DeploymentPath),
    responses((status = 202, body = Operation), ErrorResponses))]
async fn start_deployment(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    PathRef(deployment): PathRef<DeploymentPath>,
) -> Result<(StatusCode, Json<Operation>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(s.app.start_deployment(&caller, &deployment).await?),
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

/// Follows the service's log live as server-sent events: first a `tail` event (data: a JSON
/// array of the last `tail` lines), then a `line` event (data: one line) for each line the
/// service writes, read every second. Every event has an id: reconnect with `Last-Event-ID`
/// to get the lines after it, none lost or doubled (no `tail` then). Bounded like operation
/// streams: `event_streams_per_user` (429 beyond) and `event_stream_lifetime_secs`, after
/// which a `resume` event ends the stream.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/services/{service}/logs/events",
    tag = "runs",
    params(ServicePath, LogEventsQuery,
        ("last-event-id" = Option<String>, Header, max_length = 8192, description = "The id of the last event read (an id this server sent)")),
    responses(
        (status = 200, content_type = "text/event-stream", body = komander_domain::schemas::LogEvent,
            description = "`event: tail|line|resume`, `id:`, `data:` one JSON document"),
        (status = 429, body = ErrorBody, description = "The caller already holds as many event streams as one user may"),
        ErrorResponses))]
async fn service_log_events(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(query): AppQuery<LogEventsQuery>,
    LastEventText(last): LastEventText,
    PathRef(service): PathRef<ServicePath>,
) -> Result<Response, ApiError> {
    follow_service_logs(&s.app, &caller, &service, last.as_deref(), query.tail).await
}

/// The log stream of `service` for `caller`, from the event id `last` (a `Last-Event-ID`)
/// or, without one, from its last `tail` lines: the API's and the web UI's (which a session
/// cookie authenticates).
pub(super) async fn follow_service_logs(
    app: &App,
    caller: &Caller,
    service: &ServiceRef,
    last: Option<&str>,
    tail: Option<u32>,
) -> Result<Response, ApiError> {
    let resume = last.map(ResumePoint::parse).transpose()?;
    let feed = app
        .follow_service_logs(caller, service, resume, tail.unwrap_or(100))
        .await?;
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = next_log_event(&mut feed).await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Ok(event_stream(events))
}

/// The feed's next event as an SSE event; `None` ends the stream (after `resume`, or when the
/// feed fails: a client that reconnects learns why).
async fn next_log_event(feed: &mut LogFeed) -> Option<Event> {
    let event = match feed.next().await {
        Ok(event) => event?,
        Err(e) => {
            tracing::debug!(error = %e, "log stream ended");
            return None;
        }
    };
    let (name, id, data) = match event {
        LogEvent::Tail { lines, resume } => (
            EVENT_LOG_TAIL,
            Some(resume.id()),
            serde_json::to_string(&lines),
        ),
        LogEvent::Line { line, resume } => (
            EVENT_LOG_LINE,
            Some(resume.id()),
            serde_json::to_string(&line),
        ),
        LogEvent::Resume => (EVENT_RESUME, None, Ok("{}".to_owned())),
    };
    let data = data.ok()?;
    let event = Event::default().event(name).data(data);
    Some(match id {
        Some(id) => event.id(id),
        None => event,
    })
}
