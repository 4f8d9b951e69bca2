//! Who is signed in, signing in with an API token, and signing out.

use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;

/// The signed-in user, as the shell shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// Their handle.
    pub handle: String,
    /// Their display name.
    pub display_name: String,
    /// They administer the instance: the layout links the admin pages.
    pub instance_admin: bool,
}

/// What every page needs of the browser's session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// The signed-in user; `None` for an anonymous browser.
    pub me: Option<Me>,
    /// The CSRF token every form carries.
    pub csrf: String,
}

/// The browser's session.
#[server(prefix = "/ui/fn", endpoint = "session", input = GetUrl)]
pub async fn session() -> Result<SessionView, UiError> {
    use crate::ssr;
    let me = ssr::viewer().map(|v| Me {
        handle: v.caller.user.handle.to_string(),
        display_name: v.caller.user.display_name.clone(),
        instance_admin: v.caller.user.instance_admin,
    });
    Ok(SessionView {
        me,
        csrf: ssr::csrf_token().unwrap_or_default(),
    })
}

/// Signs in with an API token (the local admin's, or a service user's), then goes to `next`
/// (the page that asked for a sign-in; only a path of this server) or to the projects.
#[server(prefix = "/ui/fn", endpoint = "sign_in")]
pub async fn sign_in(
    token: String,
    next: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    use crate::ssr;
    let app = ssr::app()?;
    let session =
        app.sign_in_with_token(token.trim())
            .await
            .map_err(|e| match UiError::from(e) {
                UiError::App(mut detail) => {
                    detail.field = Some("token".to_owned());
                    UiError::App(detail)
                }
                other => other,
            })?;
    ssr::start_session(&session)?;
    leptos_axum::redirect(&local_path(next.as_deref()));
    Ok(())
}

/// Signs out: the session ends on the server, its cookie is cleared.
#[server(prefix = "/ui/fn", endpoint = "sign_out")]
pub async fn sign_out(#[server(rename = "csrf")] _csrf: String) -> Result<(), UiError> {
    use crate::ssr;
    let app = ssr::app()?;
    if let Some(viewer) = ssr::viewer() {
        app.sign_out(&viewer.session).await?;
    }
    ssr::end_session();
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// `next` when it is a path of this server (`/…`, never `//host` or `/\host`, which browsers
/// read as another site); `/` otherwise.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.contains(['\r', '\n']) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_this_server_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/invitations/abc")), "/invitations/abc");
        for outside in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "evil",
            "/x\r\nLocation: https://evil.example",
        ] {
            assert_eq!(local_path(Some(outside)), "/", "{outside:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
