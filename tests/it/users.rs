//! Users and their tokens: who may mint a token for whom, the handles Komander keeps for
//! itself, and what start-up may do to existing users.

use axum::http::{Method, StatusCode};
use komander_domain::{TokenId, UserId, api::UserKind, timestamps};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi};
use komander_secrets::ApiToken;
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

/// Komander issue 8: an instance admin who mints a token for a human could act as them.
#[tokio::test]
async fn issue_8_instance_admins_mint_tokens_only_for_service_users() {
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
