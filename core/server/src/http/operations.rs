//! `.../deployments/{deployment}/operations`: operations held by a lease, their steps and
//! progress lines, and the live event stream that follows them. The lease token travels in
//! the `X-Komander-Lease` header.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::State,
    http::{HeaderName, HeaderValue, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use komander_app::{
    App, AppError, Caller,
    operation_events::{FeedEvent, OperationFeed},
};
use komander_domain::{
    DeploymentRef, OperationId,
    api::{
        EVENT_END, EVENT_PROGRESS, EVENT_RESUME, EVENT_STEP, ErrorBody, Lease, NewOperation,
        Operation, OperationEventsQuery, OperationFinish, Page, PageQuery, ProgressLine,
        ProgressQuery, StartedOperation, StepRecorded, StepWrite,
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{
        AppJson, AppQuery, Authenticated, DeploymentPath, LastEventId, LeaseToken, OperationPath,
        PathRef,
    },
};

/// How long an event stream stays silent before the server sends a comment line, so that
/// proxies and clients see it alive (and the server learns early of a closed connection).
pub const HEARTBEAT: Duration = Duration::from_secs(15);

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
        .routes(routes!(operation_events))
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
    params(OperationPath, ("x-komander-lease" = String, Header, description = "The lease token the start answered", min_length = 1, max_length = 256, pattern = "^[\\x21-\\x7E]+$")),
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
    params(OperationPath, ("x-komander-lease" = String, Header, description = "The lease token the start answered", min_length = 1, max_length = 256, pattern = "^[\\x21-\\x7E]+$")),
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
    params(OperationPath, ("x-komander-lease" = String, Header, description = "The lease token the start answered", min_length = 1, max_length = 256, pattern = "^[\\x21-\\x7E]+$")),
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

/// Follows the operation live as server-sent events. `progress` events (id: the line's
/// sequence number; data: a `ProgressLine`) replay the lines after `Last-Event-ID` (or
/// `after`), then follow new ones; `step` events (no id; data: a `StepEvent`) follow their
/// step's lines; `end` (data: an `OperationEnded`) comes last, after which the server closes
/// the stream. A comment line every 15 s of silence keeps it alive. A stream ends after its
/// maximum lifetime (`event_stream_lifetime_secs`, default 1 h), or when the server shuts
/// down, with a `resume` event (data: a `StreamResume`): open it again from there. One user
/// may hold `event_streams_per_user` streams (default 8): 429 `too_many_requests` beyond.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/events",
    tag = "operations",
    params(OperationPath, OperationEventsQuery,
        ("last-event-id" = Option<u64>, Header, minimum = 0, maximum = 9007199254740991.0, description = "The id of the last `progress` event read; takes the place of `after`")),
    responses(
        (status = 200, content_type = "text/event-stream", body = komander_domain::schemas::OperationEvent,
            description = "`event: progress|step|end|resume`, `id:` (progress only), `data:` one JSON document"),
        (status = 429, body = ErrorBody, description = "The caller already holds as many event streams as one user may"),
        ErrorResponses))]
async fn operation_events(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<OperationEventsQuery>,
    LastEventId(last): LastEventId,
    PathRef((deployment, id)): PathRef<OperationPath>,
) -> Result<Response, ApiError> {
    let after = last.or(q.after).unwrap_or(0);
    follow_operation(
        &s.app,
        &caller,
        &deployment,
        id,
        after,
        q.steps.unwrap_or(0),
    )
    .await
}

/// The event stream of operation `id` for `caller`, from the progress line after `after` and
/// the step after `steps`: the API's and the web UI's (which a session cookie authenticates).
pub(super) async fn follow_operation(
    app: &App,
    caller: &Caller,
    deployment: &DeploymentRef,
    id: OperationId,
    after: u64,
    steps: u32,
) -> Result<Response, ApiError> {
    let feed = app
        .follow_operation(caller, deployment, id, after, steps)
        .await?;
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = next_event(&mut feed).await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Ok(event_stream(events))
}

/// A server-sent events answer of `events`: a comment every [`HEARTBEAT`] of silence keeps
/// it alive, and a header tells a buffering reverse proxy (nginx) to pass the events on as
/// they come.
pub(super) fn event_stream<S>(events: S) -> Response
where
    S: futures_util::Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response();
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}

/// The feed's next event as an SSE event; `None` ends the stream: after the last event, or
/// when the feed fails (the caller lost access to the deployment, or the store failed: a
/// client that resumes learns which).
async fn next_event(feed: &mut OperationFeed) -> Option<Event> {
    let event = match feed.next().await {
        Ok(event) => event?,
        Err(AppError::NotFound(what)) => {
            tracing::debug!(what, "event stream ended: no longer visible");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e.report(), "event stream failed");
            return None;
        }
    };
    let (name, id, data) = match event {
        FeedEvent::Progress(line) => (
            EVENT_PROGRESS,
            Some(line.sequence),
            serde_json::to_string(&line),
        ),
        FeedEvent::Step(step) => (EVENT_STEP, None, serde_json::to_string(&step)),
        FeedEvent::End(end) => (EVENT_END, None, serde_json::to_string(&end)),
        FeedEvent::Resume(resume) => (EVENT_RESUME, None, serde_json::to_string(&resume)),
    };
    let data = match data {
        Ok(data) => data,
        Err(e) => {
            tracing::error!(error = %e, "serializing an event failed");
            return None;
        }
    };
    let event = Event::default().event(name).data(data);
    Some(match id {
        Some(id) => event.id(id.to_string()),
        None => event,
    })
}
