//! Plugin connections: a credential belongs to the base URL it was set for.

use axum::http::{Method, StatusCode};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi, guests};
use serde_json::json;

/// Regression: changing a connection's base URL kept its credential, so the host sent
/// it to the new address.
#[tokio::test]
async fn a_new_base_url_clears_the_credential() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let admin = api.app.authenticate(ADMIN_TOKEN).await.unwrap();
    api.app
        .install_plugin(&admin, guests::bytes("webhook_runtime"), None, true)
        .await
        .unwrap();
    let plugin = "example.webhook-runtime";
    let connections = format!("/api/v1/plugins/{plugin}/connections");
    let deployer = format!("{connections}/deployer");
    let put = |body| api.call(Method::PUT, &deployer, Some(ADMIN_TOKEN), Some(body));
    let first = json!({"base_url": "https://deploy.example.com", "credential": "Bearer s3cret"});
    let (status, answer) = put(first).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["has_credential"], true);
    // The same URL without a credential keeps it.
    let (_, answer) = put(json!({"base_url": "https://deploy.example.com"})).await;
    assert_eq!(answer["has_credential"], true, "{answer}");
    // Another URL without a credential drops it, in the answer, the list and the calls.
    let (status, answer) = put(json!({"base_url": "https://elsewhere.example.com"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["has_credential"], false, "{answer}");
    let (_, list) = api
        .call(Method::GET, &connections, Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(list["items"][0]["has_credential"], false, "{list}");
    let stored = api.store.store.plugin_connections(plugin).await.unwrap();
    assert_eq!(stored[0].credential, None);
    let built = api.app.plugin_call_connections(plugin).await.unwrap();
    assert!(format!("{:?}", built[0]).contains("authorization: None"));
    // Another URL with a credential takes the new one.
    let moved = json!({"base_url": "https://third.example.com", "credential": "Bearer new"});
    let (_, answer) = put(moved).await;
    assert_eq!(answer["has_credential"], true, "{answer}");
}
