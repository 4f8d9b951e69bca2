//! Extractors that answer in the API's error shape: JSON bodies, queries and paths, and the
//! authenticated caller. The path parameter structs document the URL keys (slugs) for the
//! OpenAPI document; [`PathRef`] parses their slugs into the domain's typed references, once.

use std::pin::Pin;

use async_trait::async_trait;
use axum::{
    body::{Body, HttpBody as _},
    extract::{FromRequest, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};
use komander_app::{
    App, AppError, Caller,
    upload::{Upload, UploadError},
};
use komander_domain::{
    DeploymentRef, EnvironmentRef, OperationId, ProjectRef, RefError, ServiceRef,
    api::{ErrorCode, JSON_SAFE_INTEGER, LEASE_HEADER},
};
use komander_web::ssr::{SESSION_COOKIE, Viewer};
use serde::{Deserialize, de::DeserializeOwned};
use utoipa::IntoParams;

use super::{AppState, error::ApiError};

/// A JSON body, one JSON object; malformed, oversize or non-JSON bodies answer 400 / 413 /
/// 415, and so does any other JSON value (serde would read a struct from an array too).
///
/// A number written with a fraction of zero (`84.0`) is an integer in JSON Schema, and so in
/// the OpenAPI document: such numbers (up to 2^53, where floats are exact) are read as the
/// integers they are before the body is deserialized.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(mut value) =
            axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(AppError::invalid("body", "the request body is not a JSON object").into());
        }
        integral_floats_to_integers(&mut value);
        // Deserialized from text again, for axum's messages naming the field at fault.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        Ok(AppJson(axum::Json::<T>::from_bytes(&bytes)?.0))
    }
}

/// Replaces in `value` every float with a zero fraction and at most 2^53 in size by the
/// integer it equals.
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            if float.fract() == 0.0 && float.abs() <= JSON_SAFE_INTEGER as f64 {
                // Integral and within 2^53: the cast is exact.
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// Query parameters; malformed ones answer 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// A raw body (an uploaded component) handed to the use case unread, as an [`Upload`]: the use
/// case authorizes the caller first and reads no more than its own limit. No route-wide limit
/// applies to it.
pub struct BodyUpload(Body);

impl<S: Send + Sync> FromRequest<S> for BodyUpload {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        Ok(BodyUpload(request.into_body()))
    }
}

#[async_trait]
impl Upload for BodyUpload {
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, UploadError>> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut self.0).poll_frame(cx)).await?;
            match frame {
                Err(e) => return Some(Err(e.into())),
                // Trailers carry no bytes of the body.
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(data.to_vec()));
                    }
                }
            }
        }
    }
}

/// Path parameters; malformed ones answer 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

/// A path struct whose slugs parse into a typed reference; parameters that are not slugs ride
/// along as text, checked by the use case in its own order.
pub trait RefPath: DeserializeOwned + Send {
    /// What the handler receives.
    type Ref;

    /// Parses the slugs, outermost first.
    ///
    /// # Errors
    /// A [`RefError`] naming the first segment that is not a valid slug.
    fn parse(self) -> Result<Self::Ref, RefError>;
}

/// Path parameters parsed into typed references: malformed parameters answer 400 (as
/// [`AppPath`]), a slug that is not valid answers 404 like a missing object, naming its
/// segment (`project "Bad_Name" not found`). Handlers take it after [`AppQuery`], so a
/// malformed query answers 400 first.
pub struct PathRef<P: RefPath>(pub P::Ref);

impl<S: Send + Sync, P: RefPath> FromRequestParts<S> for PathRef<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AppPath(path) = AppPath::<P>::from_request_parts(parts, state).await?;
        path.parse()
            .map(PathRef)
            .map_err(|e| AppError::from(e).into())
    }
}

/// The principal extractor: who a request comes from, by the credentials its entry point
/// takes. The REST API takes an API token (`Authorization: Bearer`) and nothing else, so a
/// browser's cookie never authenticates an API call; the web UI's pages and server functions
/// take the session cookie. Both end in the same application.
pub struct Principal;

impl Principal {
    /// The caller of an API token in `Authorization: Bearer <token>`.
    ///
    /// # Errors
    /// 401 when the header is missing or the token is not valid.
    pub async fn from_bearer(headers: &HeaderMap, app: &App) -> Result<Caller, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "missing API token: send Authorization: Bearer <token>",
                )
            })?;
        Ok(app.authenticate(token).await?)
    }

    /// The signed-in viewer of the browser session in the session cookie; `None` when there
    /// is no cookie, or its session is unknown or expired.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn from_session(headers: &HeaderMap, app: &App) -> Result<Option<Viewer>, ApiError> {
        let Some(id) = super::web::cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        Ok(app.session(id).await?.map(|session| Viewer {
            caller: session.caller,
            session: id.to_owned(),
            csrf: session.csrf,
        }))
    }
}

/// The caller authenticated by `Authorization: Bearer <token>`; 401 otherwise.
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Principal::from_bearer(&parts.headers, &state.app)
            .await
            .map(Authenticated)
    }
}

/// `/api/v1/users/{user}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// The user's handle.
    #[param(example = "bootstrap")]
    pub user: String,
}

/// `/api/v1/users/{user}/tokens/{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The user's handle.
    #[param(example = "bootstrap")]
    pub user: String,
    /// The token's id.
    pub id: String,
}

/// `/api/v1/projects/{project}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
}

impl RefPath for ProjectPath {
    type Ref = ProjectRef;

    fn parse(self) -> Result<ProjectRef, RefError> {
        ProjectRef::parse(&self.project)
    }
}

/// `/api/v1/projects/{project}/members/{user}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
    /// The member's handle.
    #[param(example = "bootstrap")]
    pub user: String,
}

/// The project, and the member's handle as given.
impl RefPath for MemberPath {
    type Ref = (ProjectRef, String);

    fn parse(self) -> Result<Self::Ref, RefError> {
        Ok((ProjectRef::parse(&self.project)?, self.user))
    }
}

/// `/api/v1/projects/{project}/invitations/{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvitationPath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
    /// The invitation's id.
    pub id: String,
}

/// The project, and the invitation's id as given.
impl RefPath for InvitationPath {
    type Ref = (ProjectRef, String);

    fn parse(self) -> Result<Self::Ref, RefError> {
        Ok((ProjectRef::parse(&self.project)?, self.id))
    }
}

/// `/api/v1/invitations/{token}/accept`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvitationTokenPath {
    /// The invitation's token.
    pub token: String,
}

/// `/api/v1/projects/{project}/environments/{environment}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnvironmentPath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
    /// The environment's slug.
    #[param(example = "dev")]
    pub environment: String,
}

impl RefPath for EnvironmentPath {
    type Ref = EnvironmentRef;

    fn parse(self) -> Result<EnvironmentRef, RefError> {
        EnvironmentRef::parse(&self.project, &self.environment)
    }
}

/// `.../environments/{environment}/deployments/{deployment}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeploymentPath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
    /// The environment's slug.
    #[param(example = "dev")]
    pub environment: String,
    /// The deployment's slug.
    #[param(example = "app")]
    pub deployment: String,
}

impl RefPath for DeploymentPath {
    type Ref = DeploymentRef;

    fn parse(self) -> Result<DeploymentRef, RefError> {
        DeploymentRef::parse(&self.project, &self.environment, &self.deployment)
    }
}

/// `.../deployments/{deployment}/operations/{operation}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OperationPath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
    /// The environment's slug.
    #[param(example = "dev")]
    pub environment: String,
    /// The deployment's slug.
    #[param(example = "app")]
    pub deployment: String,
    /// The operation's id.
    pub operation: OperationId,
}

impl RefPath for OperationPath {
    type Ref = (DeploymentRef, OperationId);

    fn parse(self) -> Result<(DeploymentRef, OperationId), RefError> {
        let deployment = DeploymentRef::parse(&self.project, &self.environment, &self.deployment)?;
        Ok((deployment, self.operation))
    }
}

/// The lease token of an operation, from the `X-Komander-Lease` header; 400 naming the header
/// when it is missing.
pub struct LeaseToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for LeaseToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .headers
            .get(LEASE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .map(|t| LeaseToken(t.to_owned()))
            .ok_or_else(|| {
                AppError::invalid(
                    LEASE_HEADER,
                    "missing lease token: send the one the operation's start answered in the \
                     X-Komander-Lease header",
                )
                .into()
            })
    }
}

/// The `Last-Event-ID` header of a client resuming an event stream: the sequence number of
/// the last progress line it read; `None` when absent. 400 naming the header when it is not
/// a number.
pub struct LastEventId(pub Option<u64>);

/// The header an `EventSource` sends when it reconnects.
pub const LAST_EVENT_ID: &str = "last-event-id";

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(LAST_EVENT_ID) else {
            return Ok(LastEventId(None));
        };
        value
            .to_str()
            .ok()
            .map(str::trim)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|after| *after <= JSON_SAFE_INTEGER)
            .map(|after| LastEventId(Some(after)))
            .ok_or_else(|| {
                AppError::invalid(
                    LAST_EVENT_ID,
                    "Last-Event-ID must be the id of an event this stream sent: the sequence \
                     number of a progress line",
                )
                .into()
            })
    }
}

/// The `Last-Event-ID` header as its text, for streams whose ids are not numbers (a log's
/// resume points); at most 8 KiB.
pub struct LastEventText(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for LastEventText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(LAST_EVENT_ID) else {
            return Ok(LastEventText(None));
        };
        value
            .to_str()
            .ok()
            .filter(|v| v.len() <= 8192)
            .map(|v| LastEventText(Some(v.trim().to_owned())))
            .ok_or_else(|| {
                AppError::invalid(LAST_EVENT_ID, "Last-Event-ID is not an id this server sent")
                    .into()
            })
    }
}

/// `.../deployments/{deployment}/services/{service}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ServicePath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
    /// The environment's slug.
    #[param(example = "dev")]
    pub environment: String,
    /// The deployment's slug.
    #[param(example = "app")]
    pub deployment: String,
    /// The service's slug.
    #[param(example = "web")]
    pub service: String,
}

impl RefPath for ServicePath {
    type Ref = ServiceRef;

    fn parse(self) -> Result<ServiceRef, RefError> {
        ServiceRef::parse(
            &self.project,
            &self.environment,
            &self.deployment,
            &self.service,
        )
    }
}

/// `.../services/{service}/variables/{name}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VariablePath {
    /// The project's slug.
    #[param(example = "shop")]
    pub project: String,
    /// The environment's slug.
    #[param(example = "dev")]
    pub environment: String,
    /// The deployment's slug.
    #[param(example = "app")]
    pub deployment: String,
    /// The service's slug.
    #[param(example = "web")]
    pub service: String,
    /// The variable's name.
    #[param(example = "MODE")]
    pub name: String,
}

/// The service, and the variable's name as given (an invalid one is refused after the
/// service is found: 400 to set, 404 to delete).
impl RefPath for VariablePath {
    type Ref = (ServiceRef, String);

    fn parse(self) -> Result<Self::Ref, RefError> {
        let service = ServiceRef::parse(
            &self.project,
            &self.environment,
            &self.deployment,
            &self.service,
        )?;
        Ok((service, self.name))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::integral_floats_to_integers;

    #[test]
    fn integral_floats_become_integers_and_nothing_else_changes() {
        let mut body = json!({
            "hours": 84.0,
            "ports": [{"container": 80.0}, {"container": 8080}],
            "cpus": 0.5,
            "huge": 1e300,
            "name": "84.0",
        });
        integral_floats_to_integers(&mut body);
        assert_eq!(
            body,
            json!({
                "hours": 84,
                "ports": [{"container": 80}, {"container": 8080}],
                "cpus": 0.5,
                "huge": 1e300,
                "name": "84.0",
            })
        );
        assert!(body["hours"].is_u64());
    }
}
