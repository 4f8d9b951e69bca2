//! Browser sessions and one-time sign-in links, through the use cases the web UI calls, on
//! SQLite and on PostgreSQL: sessions by API token or by link, stored hashed, idle and
//! absolute expiry, sign-out, links valid once for ten minutes, and crafted ids refused.

use std::{sync::Arc, time::Duration};

use komander_app::{
    App, AppError,
    sessions::{MAX_TOKEN_LEN, NewSession, SIGN_IN_LINK_TTL, SessionSettings},
};
use komander_e2e::{Backend, TestStore};
use komander_secrets::{Keyring, SecretString, token_hash};
use sqlx::{PgPool, SqlitePool, sqlite::SqliteConnectOptions};

/// For each named `async fn(Backend)`, a module of two tests: `sqlite` and `postgres` (which
/// skips loudly without a test PostgreSQL, and fails for want of one under `CI=true`).
macro_rules! on_both {
    ($($body:ident),+ $(,)?) => {$(
        mod $body {
            #[tokio::test]
            async fn sqlite() {
                super::$body(komander_e2e::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$body(komander_e2e::Backend::Postgres).await;
            }
        }
    )+};
}

/// A fresh instance in single-user mode: its store, the app over it and the local admin's
/// API token. `None` when the backend is not available (see [`TestStore::new`]).
struct Instance {
    store: TestStore,
    app: App,
    admin_token: String,
}

impl Instance {
    async fn new(backend: Backend) -> Option<Instance> {
        let store = TestStore::new(backend).await?;
        let keyring = Keyring::parse(&[Keyring::generate_key_spec("k")]).unwrap();
        let app = App::new(store.store.clone(), Arc::new(keyring));
        let path = app
            .ensure_local_admin(store.dir.path())
            .await
            .unwrap()
            .expect("the local admin's token file");
        let admin_token = std::fs::read_to_string(path).unwrap().trim().to_owned();
        Some(Instance {
            store,
            app,
            admin_token,
        })
    }

    /// Signs the local admin in with their API token.
    async fn sign_in(&self) -> NewSession {
        self.app
            .sign_in_with_token(&self.admin_token)
            .await
            .unwrap()
    }

    /// Runs `statement` behind the store's back.
    async fn raw(&self, statement: &str) {
        match &self.store.url {
            None => {
                let pool = self.sqlite().await;
                sqlx::query(statement).execute(&pool).await.map(drop)
            }
            Some(url) => {
                let pool = PgPool::connect(url).await.unwrap();
                sqlx::query(statement).execute(&pool).await.map(drop)
            }
        }
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    /// The integer `query` answers (such as a `COUNT(*)`), with `blob` bound as `$1` when
    /// given, read behind the store's back.
    async fn count(&self, query: &str, blob: Option<&[u8]>) -> i64 {
        match &self.store.url {
            None => {
                let pool = self.sqlite().await;
                let mut q = sqlx::query_scalar(query);
                if let Some(blob) = blob {
                    q = q.bind(blob);
                }
                q.fetch_one(&pool).await
            }
            Some(url) => {
                let pool = PgPool::connect(url).await.unwrap();
                let mut q = sqlx::query_scalar(query);
                if let Some(blob) = blob {
                    q = q.bind(blob);
                }
                q.fetch_one(&pool).await
            }
        }
        .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    async fn sqlite(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new().filename(self.store.sqlite_file());
        SqlitePool::connect_with(options).await.unwrap()
    }

    /// How many sessions are stored.
    async fn sessions(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM web_sessions", None).await
    }

    /// How many instance-level audit entries record `action` with `fields`.
    async fn audited(&self, action: &str, fields: &str) -> i64 {
        let query = format!(
            "SELECT COUNT(*) FROM audit_log WHERE project_id IS NULL AND action = '{action}' \
             AND actor_handle = 'local-admin' AND fields = '{fields}'"
        );
        self.count(&query, None).await
    }
}

on_both!(a_valid_token_signs_in_and_finds_the_session);

async fn a_valid_token_signs_in_and_finds_the_session(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let new = instance.sign_in().await;
    assert_eq!(new.caller.user.handle.as_str(), "local-admin");
    assert_eq!(new.id.expose().len(), 43, "32 bytes of base64url");
    assert_eq!(new.csrf.len(), 43, "32 bytes of base64url");
    assert_ne!(new.id.expose(), new.csrf);
    assert_ne!(new.id.expose(), instance.admin_token);

    let session = instance.app.session(new.id.expose()).await.unwrap();
    let session = session.expect("the session");
    assert_eq!(session.caller.user, new.caller.user);
    assert_eq!(session.csrf, new.csrf);
    assert_eq!(instance.audited("session.sign_in", r#"["token"]"#).await, 1);

    // A second sign-in is a second session, with its own id and CSRF token.
    let other = instance.sign_in().await;
    assert_ne!(other.id.expose(), new.id.expose());
    assert_ne!(other.csrf, new.csrf);
    assert_eq!(instance.sessions().await, 2);
}

on_both!(a_bad_token_is_refused_as_the_api_refuses_it);

async fn a_bad_token_is_refused_as_the_api_refuses_it(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let long = "k".repeat(10_000);
    for token in ["kmd_not-a-token", "", &long, &instance.admin_token[1..]] {
        match instance.app.sign_in_with_token(token).await {
            Err(AppError::Unauthenticated) => {}
            other => panic!("{token:?} must be refused, got {other:?}"),
        }
    }
    assert_eq!(instance.sessions().await, 0);
    assert_eq!(
        instance.count("SELECT COUNT(*) FROM audit_log", None).await,
        0
    );
}

on_both!(session_ids_are_stored_hashed);

async fn session_ids_are_stored_hashed(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let new = instance.sign_in().await;
    let id = new.id.expose();
    let by_hash = "SELECT COUNT(*) FROM web_sessions WHERE id_hash = $1";
    assert_eq!(instance.count(by_hash, Some(&token_hash(id))).await, 1);
    assert_eq!(instance.count(by_hash, Some(id.as_bytes())).await, 0);
    let anywhere = format!(
        "SELECT COUNT(*) FROM web_sessions WHERE csrf_token LIKE '%{id}%' OR user_id = '{id}'"
    );
    assert_eq!(instance.count(&anywhere, None).await, 0);
    let audit = format!(
        "SELECT COUNT(*) FROM audit_log WHERE target LIKE '%{id}%' OR fields LIKE '%{id}%'"
    );
    assert_eq!(instance.count(&audit, None).await, 0);
    if backend == Backend::Sqlite {
        // Nowhere in the database's files either (the WAL included).
        for file in ["komander.db", "komander.db-wal"] {
            let path = instance.store.dir.path().join(file);
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert!(
                !bytes.windows(id.len()).any(|w| w == id.as_bytes()),
                "the session id is in {file}"
            );
        }
    }
}

on_both!(an_idle_session_expires_and_is_deleted);

async fn an_idle_session_expires_and_is_deleted(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let idle = SessionSettings::default().idle;
    assert_eq!(idle, Duration::from_secs(8 * 60 * 60));
    let new = instance.sign_in().await;
    let id = new.id.expose();

    // Seven hours idle: still live, and marked used now.
    instance
        .raw("UPDATE web_sessions SET last_seen_at = last_seen_at - 25200000")
        .await;
    assert!(instance.app.session(id).await.unwrap().is_some());
    let fresh = "SELECT COUNT(*) FROM web_sessions WHERE last_seen_at >= created_at";
    assert_eq!(instance.count(fresh, None).await, 1, "touched");

    // Eight hours and a second idle: over, and gone.
    instance
        .raw("UPDATE web_sessions SET last_seen_at = last_seen_at - 28801000")
        .await;
    assert!(instance.app.session(id).await.unwrap().is_none());
    assert_eq!(instance.sessions().await, 0);
}

on_both!(an_old_session_expires_however_busy);

async fn an_old_session_expires_however_busy(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let new = instance.sign_in().await;
    let id = new.id.expose();
    // Signed in six days ago, used a moment ago: live.
    instance
        .raw("UPDATE web_sessions SET created_at = created_at - 518400000")
        .await;
    assert!(instance.app.session(id).await.unwrap().is_some());
    // Seven days and a second ago: over, and gone.
    instance
        .raw("UPDATE web_sessions SET created_at = created_at - 86401000")
        .await;
    assert!(instance.app.session(id).await.unwrap().is_none());
    assert_eq!(instance.sessions().await, 0);
}

on_both!(session_settings_set_the_lifetimes);

async fn session_settings_set_the_lifetimes(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let short = SessionSettings {
        idle: Duration::from_secs(3600),
        absolute: Duration::from_millis(1),
    };
    let app = instance.app.clone().with_session_settings(short);
    let new = app.sign_in_with_token(&instance.admin_token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(app.session(new.id.expose()).await.unwrap().is_none());

    let short = SessionSettings {
        idle: Duration::from_millis(1),
        absolute: Duration::from_secs(3600),
    };
    let app = instance.app.clone().with_session_settings(short);
    let new = app.sign_in_with_token(&instance.admin_token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(app.session(new.id.expose()).await.unwrap().is_none());
    assert_eq!(instance.sessions().await, 0);
}

on_both!(a_session_is_written_at_most_once_a_minute);

async fn a_session_is_written_at_most_once_a_minute(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let new = instance.sign_in().await;
    instance
        .raw("UPDATE web_sessions SET last_seen_at = created_at - 30000")
        .await;
    assert!(
        instance
            .app
            .session(new.id.expose())
            .await
            .unwrap()
            .is_some()
    );
    let untouched = "SELECT COUNT(*) FROM web_sessions WHERE last_seen_at = created_at - 30000";
    assert_eq!(instance.count(untouched, None).await, 1, "not written");

    instance
        .raw("UPDATE web_sessions SET last_seen_at = created_at - 61000")
        .await;
    assert!(
        instance
            .app
            .session(new.id.expose())
            .await
            .unwrap()
            .is_some()
    );
    let touched = "SELECT COUNT(*) FROM web_sessions WHERE last_seen_at >= created_at";
    assert_eq!(instance.count(touched, None).await, 1, "written");
}

on_both!(sign_out_ends_the_session);

async fn sign_out_ends_the_session(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let mine = instance.sign_in().await;
    let other = instance.sign_in().await;
    instance.app.sign_out(mine.id.expose()).await.unwrap();
    assert!(
        instance
            .app
            .session(mine.id.expose())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        instance
            .app
            .session(other.id.expose())
            .await
            .unwrap()
            .is_some(),
        "other sessions stay"
    );
    assert_eq!(instance.audited("session.sign_out", "[]").await, 1);
    // Signing out again does nothing, and records nothing.
    instance.app.sign_out(mine.id.expose()).await.unwrap();
    assert_eq!(instance.audited("session.sign_out", "[]").await, 1);
}

on_both!(a_sign_in_link_signs_in_once);

async fn a_sign_in_link_signs_in_once(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let token = instance.app.create_sign_in_link().await.unwrap();
    let token = token.expect("a link for the local admin");
    let stored = "SELECT COUNT(*) FROM sign_in_links WHERE token_hash = $1 \
                  AND expires_at - created_at = 600000 AND used_at IS NULL";
    assert_eq!(SIGN_IN_LINK_TTL, Duration::from_secs(600));
    assert_eq!(instance.count(stored, Some(&token_hash(&token))).await, 1);

    let new = instance.app.redeem_sign_in_link(&token).await.unwrap();
    assert_eq!(new.caller.user.handle.as_str(), "local-admin");
    let session = instance.app.session(new.id.expose()).await.unwrap();
    assert_eq!(session.expect("the session").csrf, new.csrf);
    assert_eq!(instance.audited("session.sign_in", r#"["link"]"#).await, 1);

    match instance.app.redeem_sign_in_link(&token).await {
        Err(err @ AppError::InvalidSignInLink) => {
            let message = err.to_string();
            assert!(message.contains("used, expired or unknown"), "{message}");
            assert!(message.contains("new one"), "{message}");
        }
        other => panic!("a used link must be refused, got {other:?}"),
    }
    assert_eq!(instance.sessions().await, 1);
}

on_both!(an_expired_sign_in_link_is_refused);

async fn an_expired_sign_in_link_is_refused(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let token = instance.app.create_sign_in_link().await.unwrap().unwrap();
    // Created ten minutes and a second ago.
    instance
        .raw(
            "UPDATE sign_in_links SET created_at = created_at - 601000, \
             expires_at = expires_at - 601000",
        )
        .await;
    assert!(matches!(
        instance.app.redeem_sign_in_link(&token).await,
        Err(AppError::InvalidSignInLink)
    ));
    assert_eq!(instance.sessions().await, 0);
}

on_both!(no_local_admin_no_sign_in_link);

async fn no_local_admin_no_sign_in_link(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else {
        return;
    };
    let keyring = Keyring::parse(&[Keyring::generate_key_spec("k")]).unwrap();
    let app = App::new(store.store.clone(), Arc::new(keyring));
    assert_eq!(app.create_sign_in_link().await.unwrap(), None, "no user");
    app.ensure_bootstrap_token(&SecretString::new("kmd_bootstrap-token-0123456789"))
        .await
        .unwrap();
    assert_eq!(
        app.create_sign_in_link().await.unwrap(),
        None,
        "only the bootstrap user"
    );
    drop(store);

    // A local admin deleted after its link was made: no new link, and the old one is void.
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let token = instance.app.create_sign_in_link().await.unwrap().unwrap();
    instance
        .raw("DELETE FROM users WHERE handle = 'local-admin'")
        .await;
    assert_eq!(instance.app.create_sign_in_link().await.unwrap(), None);
    assert!(matches!(
        instance.app.redeem_sign_in_link(&token).await,
        Err(AppError::InvalidSignInLink)
    ));
}

on_both!(crafted_ids_and_tokens_find_nothing);

async fn crafted_ids_and_tokens_find_nothing(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let live = instance.sign_in().await;
    let oversize = "a".repeat(MAX_TOKEN_LEN + 1);
    let padded = format!("{}=", live.id.expose());
    let with_tail = format!("{}; other=1", live.id.expose());
    let crafted = [
        "",
        "../../etc/passwd",
        "%00",
        "' OR 1=1 --",
        "a b",
        "é",
        &oversize,
        &padded,
        &with_tail,
        &live.csrf,
        &instance.admin_token,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ];
    for id in crafted {
        assert!(
            instance.app.session(id).await.unwrap().is_none(),
            "{id:?} must find no session"
        );
        instance.app.sign_out(id).await.unwrap();
        assert!(
            matches!(
                instance.app.redeem_sign_in_link(id).await,
                Err(AppError::InvalidSignInLink)
            ),
            "{id:?} must redeem no link"
        );
    }
    assert!(
        instance
            .app
            .session(live.id.expose())
            .await
            .unwrap()
            .is_some(),
        "the live session is untouched"
    );
    assert_eq!(instance.audited("session.sign_out", "[]").await, 0);
}

on_both!(deleting_a_user_ends_their_sessions);

async fn deleting_a_user_ends_their_sessions(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    let new = instance.sign_in().await;
    instance
        .raw("DELETE FROM users WHERE handle = 'local-admin'")
        .await;
    assert_eq!(instance.sessions().await, 0);
    assert!(
        instance
            .app
            .session(new.id.expose())
            .await
            .unwrap()
            .is_none()
    );
}

on_both!(a_sign_in_purges_what_has_expired);

async fn a_sign_in_purges_what_has_expired(backend: Backend) {
    let Some(instance) = Instance::new(backend).await else {
        return;
    };
    instance.sign_in().await;
    instance.app.create_sign_in_link().await.unwrap().unwrap();
    instance
        .raw(
            "UPDATE web_sessions SET created_at = created_at - 700000000, \
             last_seen_at = last_seen_at - 700000000",
        )
        .await;
    instance
        .raw("UPDATE sign_in_links SET expires_at = expires_at - 700000000")
        .await;
    let live = instance.sign_in().await;
    assert_eq!(instance.sessions().await, 1, "only the new session");
    let links = instance
        .count("SELECT COUNT(*) FROM sign_in_links", None)
        .await;
    assert_eq!(links, 0);
    assert!(
        instance
            .app
            .session(live.id.expose())
            .await
            .unwrap()
            .is_some()
    );
}
