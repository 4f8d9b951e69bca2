//! Users and their tokens: who may mint a token for whom, the handles Komander keeps for
//! itself, and what start-up may do to existing users.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use komander_app::App;
use komander_domain::{TokenId, UserId, api::UserKind, timestamps};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi, TestStore};
use komander_secrets::{ApiToken, Keyring, SecretString};
use komander_store::{TokenRecord, UserRecord};
use serde_json::json;

/// Creates the human user `handle` straight in the store (humans do not come from the API),
/// answering one API token of theirs.
async fn human(api: &TestApi, handle: &str) -> String {
    let user = UserRecord {
        id: UserId::new(),
        handle: handle.parse().unwrap(),
        display_name: handle.into(),
        kind: UserKind::Human,
        instance_admin: false,
        created_at: timestamps::to_millis(timestamps::now()),
    };
    let token = ApiToken::generate("kmd_");
    let record = TokenRecord {
        id: TokenId::new(),
        user_id: user.id,
        name: "own".into(),
        token_hash: token.hash,
        created_at: user.created_at,
    };
    api.store
        .store
        .create_user(&user, Some(&record), None)
        .await
        .unwrap();
    token.token.expose().to_owned()
}

/// Regression: an instance admin who mints a token for a human could act as them.
#[tokio::test]
async fn instance_admins_mint_tokens_only_for_service_users() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let hugo = human(&api, "hugo").await;
    let mint = |handle: &str| format!("/api/v1/users/{handle}/tokens");
    let (status, answer) = api
        .call(
            Method::POST,
            &mint("hugo"),
            Some(ADMIN_TOKEN),
            Some(json!({"name": "impersonate"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("hugo") && message.contains("service users"),
        "{answer}"
    );
    let (_, tokens) = api
        .call(Method::GET, &mint("hugo"), Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(tokens["items"].as_array().unwrap().len(), 1, "{tokens}");
    // The human mints their own; the admin still mints for a service user.
    let (status, answer) = api
        .call(
            Method::POST,
            &mint("hugo"),
            Some(&hugo),
            Some(json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    api.user("robot").await;
}

/// Regression: the handles of Komander's own users are not for the API to give.
#[tokio::test]
async fn reserved_handles_are_refused() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    for handle in ["bootstrap", "local-admin"] {
        let (status, answer) = api
            .call(
                Method::POST,
                "/api/v1/users",
                Some(ADMIN_TOKEN),
                Some(json!({"handle": handle, "instance_admin": true})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], "handle", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(handle) && message.contains("reserved"),
            "{answer}"
        );
    }
    let local_admin = "local-admin".parse().unwrap();
    assert!(
        api.store
            .store
            .user_by_handle(&local_admin)
            .await
            .unwrap()
            .is_none()
    );
}

/// Regression: a start with a bootstrap token made any `bootstrap` user an instance
/// admin, whoever created it.
#[tokio::test]
async fn start_up_promotes_no_user_it_did_not_create() {
    let store = TestStore::new(Backend::Sqlite).await.unwrap();
    let keyring = Keyring::parse(&[Keyring::generate_key_spec("k")]).unwrap();
    let app = App::new(store.store.clone(), Arc::new(keyring));
    let planted = UserRecord {
        id: UserId::new(),
        handle: "bootstrap".parse().unwrap(),
        display_name: "Someone".into(),
        kind: UserKind::Human,
        instance_admin: false,
        created_at: 1,
    };
    store.store.create_user(&planted, None, None).await.unwrap();
    let err = app
        .ensure_bootstrap_token(&SecretString::new(ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"bootstrap\""), "{err}");
    let found = store.store.user_by_handle(&planted.handle).await.unwrap();
    assert_eq!(found, Some(planted));
    assert!(app.authenticate(ADMIN_TOKEN).await.is_err());
}
