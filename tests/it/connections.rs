//! Plugin connections: a credential belongs to the base URL it was set for.

use axum::http::{Method, StatusCode};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi, guests};
use serde_json::json;

/// A server on SQLite with the example webhook runtime installed, every capability granted:
/// it asks for the connection `deployer`.
async fn with_webhook_runtime() -> TestApi {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let admin = api.app.authenticate(ADMIN_TOKEN).await.unwrap();
    api.app
        .install_plugin(&admin, guests::bytes("webhook_runtime"), None, true)
        .await
        .unwrap();
    api
}

/// Regression: changing a connection's base URL kept its credential, so the host sent
/// it to the new address.
#[tokio::test]
async fn a_new_base_url_clears_the_credential() {
    let api = with_webhook_runtime().await;
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

/// The document's rule for a base URL (`HttpUrlText`) and the server's agree: a client that
/// checks a URL against the document is not refused for it, and the URLs the document rules
/// out are refused with a message naming the host. A last label that is a number makes a URL
/// parser read the host as an IPv4 address (`a.b.9` fails, `0x7f.1` is 127.0.0.1).
#[tokio::test]
async fn the_document_and_the_server_take_the_same_base_urls() {
    let api = with_webhook_runtime().await;
    let (_, document) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let rule = &document["components"]["schemas"]["HttpUrlText"];
    let deployer = "/api/v1/plugins/example.webhook-runtime/connections/deployer";
    // 2048 characters, twice as many bytes: lengths count characters on both sides.
    let long = format!("https://a.example/{}", "é".repeat(2048 - 18));
    let taken = [
        "https://deploy.example.com",
        "http://localhost:8080/api/v1",
        "https://a-b.c1.example.io/hooks/",
        "http://127.0.0.1:65535",
        "https://xn--mnchen-3ya.example/",
        long.as_str(),
        "https://10.0.0.2/x",
    ];
    let refused = [
        ("https://a.b.9/", "invalid IPv4"),
        ("https://0x7f.1/", "reads as the IPv4 address 127.0.0.1"),
        ("https://1.2.3/", "reads as the IPv4 address 1.2.0.3"),
        ("https://host.1a/", "last label starts with a letter"),
        ("https://a.b*/", "not a host name"),
        ("https://münchen.example/", "its xn-- form"),
        ("https://-a.example/", "not a host name"),
        ("https://256.1.1.1/", "invalid IPv4"),
        ("https://example.com/?x=1", "without query"),
        (
            "https://user:pw@example.com",
            "without query, fragment or credentials",
        ),
        ("ftp://example.com", "absolute http(s) URL"),
    ];
    // Each URL: whether the document takes it, then what the server answers.
    let cases = taken
        .into_iter()
        .map(|url| (url, None))
        .chain(refused.into_iter().map(|(url, why)| (url, Some(why))));
    for (url, refusal) in cases {
        let documented = jsonschema::is_valid(rule, &json!(url));
        assert_eq!(documented, refusal.is_none(), "{url} against {rule}");
        let body = json!({ "base_url": url });
        let (status, answer) = api
            .call(Method::PUT, deployer, Some(ADMIN_TOKEN), Some(body))
            .await;
        match refusal {
            None => assert_eq!(status, StatusCode::OK, "{url}: {answer}"),
            Some(why) => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(why), "{url}: {message}");
            }
        }
    }
}
