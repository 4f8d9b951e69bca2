//! Bad input gets a 4xx naming the problem, in the API's error shape, and nothing is
//! half-written: failed writes leave no row and no audit entry.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi};
use serde_json::json;

async fn setup() -> TestApi {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    for (path, body) in [
        ("/api/v1/projects", json!({"name": "shop"})),
        (
            "/api/v1/projects/shop/environments",
            json!({"name": "dev", "runtime": "compose"}),
        ),
        (
            "/api/v1/projects/shop/environments/dev/deployments",
            json!({"name": "mine"}),
        ),
    ] {
        let (status, answer) = api
            .call(Method::POST, path, Some(ADMIN_TOKEN), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    api
}

/// Komander issue 7: messages quote a name as text, not as Rust debug output
/// (`UserHandle("nobody")`).
#[tokio::test]
async fn issue_7_messages_print_names_not_debug_output() {
    let api = setup().await;
    let (status, answer) = api
        .call(
            Method::POST,
            "/api/v1/projects/shop/members",
            Some(ADMIN_TOKEN),
            Some(json!({"user": "nobody", "role": "dev"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["error"]["message"], "no user has the handle \"nobody\"",
        "{answer}"
    );
}

#[tokio::test]
async fn invalid_names_and_values_are_refused_with_the_field() {
    let api = setup().await;
    let d = "/api/v1/projects/shop/environments/dev/deployments/mine";
    let cases = [
        (
            Method::POST,
            "/api/v1/projects".to_owned(),
            json!({"name": "Shop!"}),
            "project name",
        ),
        (
            Method::POST,
            "/api/v1/projects".to_owned(),
            json!({"name": "api"}),
            "reserved",
        ),
        (
            Method::POST,
            "/api/v1/projects".to_owned(),
            json!({"name": "x".repeat(31)}),
            "at most 30",
        ),
        (
            Method::POST,
            "/api/v1/projects".to_owned(),
            json!({"name": "ok", "display_name": "   "}),
            "display name",
        ),
        (
            Method::POST,
            "/api/v1/projects/shop/environments".to_owned(),
            json!({"name": "prod", "runtime": "nomad"}),
            "runtime",
        ),
        (
            Method::POST,
            format!("{d}/services"),
            json!({"name": "web", "image": "bad image"}),
            "image",
        ),
        (
            Method::POST,
            format!("{d}/services"),
            json!({"name": "web", "image": "nginx", "ports": [{"container": 0}]}),
            "ports",
        ),
        (
            Method::POST,
            format!("{d}/services"),
            json!({"name": "web", "image": "nginx", "volumes": [{"source": "data", "target": "/a/../etc"}]}),
            "mount target",
        ),
        (
            Method::POST,
            "/api/v1/projects".to_owned(),
            json!({"name": "ok", "extra": 1}),
            "unknown field",
        ),
        (
            Method::POST,
            "/api/v1/projects/shop/members".to_owned(),
            json!({"user": "nobody", "role": "dev"}),
            "no user",
        ),
        (
            Method::POST,
            "/api/v1/projects/shop/invitations".to_owned(),
            json!({"role": "dev", "expires_in_hours": 100000}),
            "expires_in_hours",
        ),
    ];
    for (method, path, body, needle) in cases {
        let (status, answer) = api
            .call(method, &path, Some(ADMIN_TOKEN), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_input", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
    let (status, answer) = api
        .call(
            Method::PUT,
            &format!("{d}/services/web/variables/1BAD"),
            Some(ADMIN_TOKEN),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no service web yet: {answer}"
    );
    let (status, answer) = api
        .call(
            Method::GET,
            "/api/v1/projects?limit=0",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
    let (status, _) = api
        .call(
            Method::GET,
            "/api/v1/projects?limit=abc",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing was written: one project, and the audit log holds only the set-up.
    let (_, projects) = api
        .call(Method::GET, "/api/v1/projects", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(projects["items"].as_array().unwrap().len(), 1);
    let (_, audit) = api
        .call(
            Method::GET,
            "/api/v1/projects/shop/audit",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 3, "{audit}");
}

#[tokio::test]
async fn unknown_ids_and_routes_answer_404_in_the_error_shape() {
    let api = setup().await;
    for path in [
        "/api/v1/projects/nope",
        "/api/v1/projects/shop/environments/nope",
        "/api/v1/projects/shop/environments/dev/deployments/nope",
        "/api/v1/projects/shop/environments/dev/deployments/mine/services/nope",
        "/api/v1/projects/Not%20A%20Slug",
        "/api/v1/nothing-here",
    ] {
        let (status, answer) = api.call(Method::GET, path, Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found", "{path}");
    }
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/users/bootstrap/tokens/not-a-uuid",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = api
        .call(Method::PUT, "/api/v1/projects", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{answer}");
    assert_eq!(answer["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn malformed_oversize_and_non_json_bodies() {
    let api = setup().await;
    let request = |body: Body, content_type: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/projects")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap()
    };
    let (status, answer) = api
        .send(request(Body::from("{\"name\": "), "application/json"))
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_input"))
    );
    let (status, answer) = api.send(request(Body::from("name=x"), "text/plain")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(answer["error"]["code"], "unsupported_media_type");
    let huge = format!(
        "{{\"name\": \"big\", \"description\": \"{}\"}}",
        "x".repeat(300 * 1024)
    );
    let (status, answer) = api
        .send(request(Body::from(huge), "application/json"))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "payload_too_large");
    let (status, answer) = api
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "long", "description": "d".repeat(1001)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Regression: serde reads a struct from an array too, so `["arr"]` made project "arr" and
    // `[]` patched a project with nothing. A body is one JSON object.
    for body in [
        json!(["arr"]),
        json!([]),
        json!("arr"),
        json!(7),
        json!(null),
    ] {
        let (status, answer) = api
            .call(
                Method::POST,
                "/api/v1/projects",
                Some(ADMIN_TOKEN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(
            answer["error"]["message"], "the request body is not a JSON object",
            "{answer}"
        );
    }
    let (status, _) = api
        .call(Method::GET, "/api/v1/projects/arr", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was made");
}

#[tokio::test]
async fn duplicate_names_conflict_and_leave_the_first() {
    let api = setup().await;
    for (path, body) in [
        (
            "/api/v1/projects",
            json!({"name": "shop", "display_name": "Other"}),
        ),
        (
            "/api/v1/projects/shop/environments",
            json!({"name": "dev", "runtime": "komander.compose"}),
        ),
        (
            "/api/v1/projects/shop/environments/dev/deployments",
            json!({"name": "mine"}),
        ),
    ] {
        let (status, answer) = api
            .call(Method::POST, path, Some(ADMIN_TOKEN), Some(body))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "conflict");
        assert_eq!(answer["error"]["field"], "name", "{answer}");
    }
    let (_, project) = api
        .call(
            Method::GET,
            "/api/v1/projects/shop",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(project["display_name"], "shop");
    let (_, env) = api
        .call(
            Method::GET,
            "/api/v1/projects/shop/environments/dev",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(env["runtime"], "komander.compose");
    api.user("ann").await;
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(ADMIN_TOKEN),
            Some(json!({"handle": "ann"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}
