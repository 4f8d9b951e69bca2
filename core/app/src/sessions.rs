//! Browser sessions of the web UI and the one-time sign-in links of single-user mode.
//!
//! A browser signs in with an API token ([`App::sign_in_with_token`]) or a one-time link
//! ([`App::redeem_sign_in_link`]) and gets a [`NewSession`]: a random session id (for its
//! cookie) and a CSRF token (for its forms). Only the SHA-256 of a session id or a link token
//! is stored, so a copy of the database signs nobody in. A session ends on sign-out, when it
//! has been idle for longer than [`SessionSettings::idle`], or when it is older than
//! [`SessionSettings::absolute`]; deleting its user deletes it.
//!
//! Cookies, CSRF checks and routes are the web layer's: this module knows no HTTP.

use std::{fmt, time::Duration};

use komander_domain::timestamps;
use komander_secrets::{ApiToken, SecretString, token_hash};
use komander_store::{SessionRecord, SignInLinkRecord};
use tracing::{debug, info, instrument};

use crate::{App, AppError, Caller, Result, users::LOCAL_ADMIN};

/// How long a one-time sign-in link stays valid. The link is printed to the terminal (and may
/// land in a log or a scrollback that others read), so it is short-lived and works once.
pub const SIGN_IN_LINK_TTL: Duration = Duration::from_secs(10 * 60);

/// How often at most a session's last use is written: a session used more often is not
/// written on every request, which makes the idle expiry this much coarser.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The longest session id or link token looked up. Ids are 43 characters; anything longer is
/// refused before it is hashed or queried, so that a crafted cookie costs nothing.
pub const MAX_TOKEN_LEN: usize = 256;

/// How long browser sessions last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session unused for longer than this is over (to within [`TOUCH_INTERVAL`]).
    pub idle: Duration,
    /// A session older than this is over, however busy.
    pub absolute: Duration,
}

impl Default for SessionSettings {
    /// Idle 8 hours (a working day), absolute 7 days.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(8 * 60 * 60),
            absolute: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}

/// A session just created: what the browser gets. `Debug` redacts the id and the CSRF token.
pub struct NewSession {
    /// The session id, for the browser's cookie: shown once, stored only as its SHA-256.
    pub id: SecretString,
    /// The session's CSRF token, for its forms.
    pub csrf: String,
    /// The signed-in user.
    pub caller: Caller,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("id", &self.id)
            .field("csrf", &"***")
            .field("caller", &self.caller)
            .finish()
    }
}

/// A live session, as a request finds it. `Debug` redacts the CSRF token.
#[derive(Clone)]
pub struct Session {
    /// The signed-in user.
    pub caller: Caller,
    /// The session's CSRF token: a state-changing request must carry it.
    pub csrf: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("caller", &self.caller)
            .field("csrf", &"***")
            .finish()
    }
}

/// How a browser signed in, as its audit entry records it.
#[derive(Clone, Copy)]
enum SignInBy {
    /// An API token.
    Token,
    /// A one-time sign-in link.
    Link,
}

impl SignInBy {
    fn as_str(self) -> &'static str {
        match self {
            SignInBy::Token => "token",
            SignInBy::Link => "link",
        }
    }
}

/// Whether `token` could be a session id or link token Komander made: 1 to
/// [`MAX_TOKEN_LEN`] characters of base64url.
fn well_formed(token: &str) -> bool {
    (1..=MAX_TOKEN_LEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A duration in milliseconds, as times are stored (saturating).
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Now, in milliseconds, as times are stored.
fn now_ms() -> i64 {
    timestamps::to_millis(timestamps::now())
}

impl App {
    /// The application with these session lifetimes (the default is
    /// [`SessionSettings::default`]).
    pub fn with_session_settings(mut self, settings: SessionSettings) -> Self {
        self.sessions = settings;
        self
    }

    /// Signs a browser in with an API token, checked as [`App::authenticate`] does: creates a
    /// session (audited as `session.sign_in` by `token`) and deletes the sessions and links
    /// that have expired.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] for an unknown token; when the store fails.
    #[instrument(skip_all)]
    pub async fn sign_in_with_token(&self, token: &str) -> Result<NewSession> {
        let caller = self.authenticate(token).await?;
        self.start_session(caller, SignInBy::Token).await
    }

    /// The live session `id`, marked used now (written at most once per
    /// [`TOUCH_INTERVAL`]). `None` for an id that is malformed (not base64url, or longer than
    /// [`MAX_TOKEN_LEN`]: no query is made), unknown, or expired (idle or absolute; the
    /// expired session is deleted).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn session(&self, id: &str) -> Result<Option<Session>> {
        if !well_formed(id) {
            return Ok(None);
        }
        let hash = token_hash(id);
        let Some((session, user)) = self.store.session_by_hash(&hash).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let idle = now.saturating_sub(session.last_seen_at);
        if idle > millis(self.sessions.idle)
            || now.saturating_sub(session.created_at) > millis(self.sessions.absolute)
        {
            self.store.delete_session(&hash, None).await?;
            debug!(user = %user.handle, "an expired session was deleted");
            return Ok(None);
        }
        if idle >= millis(TOUCH_INTERVAL) && !self.store.touch_session(&hash, now).await? {
            return Ok(None);
        }
        Ok(Some(Session {
            caller: Caller { user },
            csrf: session.csrf_token,
        }))
    }

    /// Signs the session `id` out: deletes it, audited as `session.sign_out`. Signing out a
    /// session that does not exist (or a malformed id) does nothing.
    ///
    /// # Errors
    /// When the store fails.
    #[instrument(skip_all)]
    pub async fn sign_out(&self, id: &str) -> Result<()> {
        if !well_formed(id) {
            return Ok(());
        }
        let hash = token_hash(id);
        let Some((_, user)) = self.store.session_by_hash(&hash).await? else {
            return Ok(());
        };
        let caller = Caller { user };
        let audit = self.audit(
            &caller,
            None,
            "session.sign_out",
            format!("user/{}", caller.user.handle),
            &[],
        );
        if self.store.delete_session(&hash, Some(&audit)).await? {
            info!(user = %caller.user.handle, "signed out");
        }
        Ok(())
    }

    /// Single-user mode: a one-time sign-in link token for the local admin, valid once for
    /// [`SIGN_IN_LINK_TTL`] (only its SHA-256 is stored); the server builds the link's URL
    /// around it. `None` when there is no local admin.
    ///
    /// # Errors
    /// When the store fails.
    #[instrument(skip_all)]
    pub async fn create_sign_in_link(&self) -> Result<Option<String>> {
        let handle = LOCAL_ADMIN.parse().expect("a valid handle");
        let Some(admin) = self.store.user_by_handle(&handle).await? else {
            return Ok(None);
        };
        if !admin.instance_admin {
            return Ok(None);
        }
        let token = ApiToken::generate("");
        let now = now_ms();
        self.store
            .create_sign_in_link(&SignInLinkRecord {
                token_hash: token.hash,
                user_id: admin.id,
                created_at: now,
                expires_at: now.saturating_add(millis(SIGN_IN_LINK_TTL)),
            })
            .await?;
        Ok(Some(token.token.expose().to_owned()))
    }

    /// Signs a browser in with a one-time link token from [`App::create_sign_in_link`]: the
    /// first redeem within [`SIGN_IN_LINK_TTL`] creates a session as
    /// [`App::sign_in_with_token`] does (audited as `session.sign_in` by `link`).
    ///
    /// # Errors
    /// [`AppError::InvalidSignInLink`] for a link that is used, expired, unknown or malformed;
    /// when the store fails.
    #[instrument(skip_all)]
    pub async fn redeem_sign_in_link(&self, token: &str) -> Result<NewSession> {
        if !well_formed(token) {
            return Err(AppError::InvalidSignInLink);
        }
        let user = self
            .store
            .redeem_sign_in_link(&token_hash(token), now_ms())
            .await?
            .ok_or(AppError::InvalidSignInLink)?;
        self.start_session(Caller { user }, SignInBy::Link).await
    }

    /// Creates a session for `caller`, audited, and purges what has expired.
    async fn start_session(&self, caller: Caller, by: SignInBy) -> Result<NewSession> {
        let id = ApiToken::generate("");
        let csrf = ApiToken::generate("").token.expose().to_owned();
        let now = now_ms();
        let audit = self.audit(
            &caller,
            None,
            "session.sign_in",
            format!("user/{}", caller.user.handle),
            &[by.as_str()],
        );
        self.store
            .create_session(
                &SessionRecord {
                    id_hash: id.hash,
                    user_id: caller.user.id,
                    csrf_token: csrf.clone(),
                    created_at: now,
                    last_seen_at: now,
                },
                &audit,
            )
            .await?;
        let purged = self
            .store
            .purge_sessions(
                now.saturating_sub(millis(self.sessions.idle)),
                now.saturating_sub(millis(self.sessions.absolute)),
                now,
            )
            .await?;
        info!(user = %caller.user.handle, by = by.as_str(), purged, "signed in");
        Ok(NewSession {
            id: id.token,
            csrf,
            caller,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_base64url_up_to_the_limit_is_well_formed() {
        assert!(well_formed(ApiToken::generate("").token.expose()));
        assert!(well_formed(&"a".repeat(MAX_TOKEN_LEN)));
        for bad in ["", "a b", "a=", "a/b", "a+b", "é", "a\0", "a;b"] {
            assert!(!well_formed(bad), "{bad:?}");
        }
        assert!(!well_formed(&"a".repeat(MAX_TOKEN_LEN + 1)));
    }

    #[test]
    fn new_sessions_and_sessions_redact_their_secrets() {
        let caller = Caller {
            user: komander_store::UserRecord {
                id: komander_domain::UserId::new(),
                handle: "ann".parse().unwrap(),
                display_name: "Ann".into(),
                kind: komander_domain::api::UserKind::Human,
                instance_admin: false,
                created_at: 1,
            },
        };
        let new = NewSession {
            id: SecretString::new("the-session-id"),
            csrf: "the-csrf-token".into(),
            caller: caller.clone(),
        };
        let session = Session {
            caller,
            csrf: "the-csrf-token".into(),
        };
        for shown in [format!("{new:?}"), format!("{session:?}")] {
            assert!(!shown.contains("the-session-id"), "{shown}");
            assert!(!shown.contains("the-csrf-token"), "{shown}");
            assert!(shown.contains("ann"), "{shown}");
        }
    }
}
