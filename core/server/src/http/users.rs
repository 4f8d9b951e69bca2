//! `/api/v1/me`, `/api/v1/users` and API tokens.

use axum::{Json, extract::State, http::StatusCode};
use komander_app::users::user_view;
use komander_domain::api::{
    CreatedToken, NewServiceUser, NewToken, Page, PageQuery, TokenInfo, User,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ErrorResponses},
    extract::{AppJson, AppPath, AppQuery, Authenticated, TokenPath, UserPath},
};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "users",
    responses((status = 200, body = User), ErrorResponses))]
async fn me(Authenticated(caller): Authenticated) -> Json<User> {
    Json(user_view(caller.user))
}

/// Every user, by handle.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = Page<User>), ErrorResponses))]
async fn list_users(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<Json<Page<User>>, ApiError> {
    Ok(Json(s.app.list_users(&caller, &q).await?))
}

/// Creates a service user, for automation (instance admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewServiceUser,
    responses((status = 201, body = User), ErrorResponses))]
async fn create_user(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppJson(body): AppJson<NewServiceUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_service_user(&caller, body).await?),
    ))
}

/// A user's API tokens (never the tokens themselves): oneself, or anyone for instance admins.
#[utoipa::path(get, path = "/api/v1/users/{user}/tokens", tag = "users",
    params(UserPath, PageQuery),
    responses((status = 200, body = Page<TokenInfo>), ErrorResponses))]
async fn list_tokens(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<UserPath>,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<Json<Page<TokenInfo>>, ApiError> {
    Ok(Json(s.app.list_tokens(&caller, &p.user, &q).await?))
}

/// Creates an API token; the answer holds it, shown this once.
#[utoipa::path(post, path = "/api/v1/users/{user}/tokens", tag = "users", params(UserPath),
    request_body = NewToken,
    responses((status = 201, body = CreatedToken), ErrorResponses))]
async fn create_token(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<UserPath>,
    AppJson(body): AppJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.app.create_token(&caller, &p.user, body).await?),
    ))
}

/// Revokes an API token at once.
#[utoipa::path(delete, path = "/api/v1/users/{user}/tokens/{id}", tag = "users",
    params(TokenPath), responses((status = 204), ErrorResponses))]
async fn revoke_token(
    State(s): State<AppState>,
    Authenticated(caller): Authenticated,
    AppPath(p): AppPath<TokenPath>,
) -> Result<StatusCode, ApiError> {
    s.app.revoke_token(&caller, &p.user, &p.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
