//! Users and service users' API tokens, for instance admins. A token just created is in the
//! answer of the call that created it, shown once; no read returns it again.

use komander_domain::api::{CreatedToken, Page, TokenInfo, User};
use leptos::{prelude::*, server_fn::codec::GetUrl};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{non_empty, parse_field, projects::PAGE_SIZE},
    komander_app::App,
    komander_domain::api::{NewServiceUser, NewToken, PageQuery},
};

/// A page of the users (instance admins).
#[server(prefix = "/ui/fn", endpoint = "users", input = GetUrl)]
pub async fn load_users(cursor: Option<String>) -> Result<Page<User>, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    App::may_manage_users(&caller)?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    Ok(app.list_users(&caller, &query).await?)
}

/// Creates a service user, then opens its tokens.
#[server(prefix = "/ui/fn", endpoint = "create_service_user")]
pub async fn create_service_user(
    handle: String,
    display_name: Option<String>,
    #[server(default)] instance_admin: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let new = NewServiceUser {
        handle: parse_field("handle", &handle)?,
        display_name: non_empty(display_name),
        instance_admin,
    };
    let created = app.create_service_user(&caller, new).await?;
    leptos_axum::redirect(&format!("/admin/users/{}", created.handle));
    Ok(())
}

/// A page of a user's API tokens (never the tokens themselves).
#[server(prefix = "/ui/fn", endpoint = "tokens", input = GetUrl)]
pub async fn load_tokens(user: String, cursor: Option<String>) -> Result<Page<TokenInfo>, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    Ok(app.list_tokens(&caller, &user, &query).await?)
}

/// Creates an API token for a service user: the answer holds it, shown this once.
#[server(prefix = "/ui/fn", endpoint = "create_token")]
pub async fn create_token(
    user: String,
    name: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<CreatedToken, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    Ok(app.create_token(&caller, &user, NewToken { name }).await?)
}

/// Revokes an API token at once.
#[server(prefix = "/ui/fn", endpoint = "revoke_token")]
pub async fn revoke_token(
    user: String,
    id: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    app.revoke_token(&caller, &user, &id).await?;
    Ok(())
}
