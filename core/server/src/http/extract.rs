//! Extractors that answer in the API's error shape: JSON bodies, queries and paths, and the
//! authenticated caller. The path parameter structs document the URL keys (slugs).

use axum::{
    extract::{FromRequest, FromRequestParts},
    http::{header, request::Parts},
};
use komander_app::Caller;
use komander_domain::api::ErrorCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AppState, error::ApiError};

/// A JSON body; malformed, oversize or non-JSON bodies answer 400 / 413 / 415.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// Query parameters; malformed ones answer 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// A raw body (an uploaded component); one over the route's limit answers 413.
pub struct AppBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for AppBody {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(AppBody)
            .map_err(ApiError::from)
    }
}

/// Path parameters; malformed ones answer 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

/// The caller authenticated by `Authorization: Bearer <token>`; 401 otherwise.
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
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
        Ok(Authenticated(state.app.authenticate(token).await?))
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

impl DeploymentPath {
    /// The slugs, outermost first.
    pub fn slugs(&self) -> [&str; 3] {
        [&self.project, &self.environment, &self.deployment]
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

impl ServicePath {
    /// The slugs, outermost first.
    pub fn slugs(&self) -> [&str; 4] {
        [
            &self.project,
            &self.environment,
            &self.deployment,
            &self.service,
        ]
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

impl VariablePath {
    /// The slugs of the service, outermost first.
    pub fn service_slugs(&self) -> [&str; 4] {
        [
            &self.project,
            &self.environment,
            &self.deployment,
            &self.service,
        ]
    }
}
