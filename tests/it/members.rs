//! Members and invitations: an invitation speaks for the Admin who made it, as long as they
//! are one.

use axum::http::{Method, StatusCode};
use komander_e2e::{Answer, TestApi};
use serde_json::{Value, json};

/// Sends a request as `token` and checks the status.
async fn expect(
    api: &TestApi,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let (got, answer): Answer = api.call(method.clone(), path, Some(token), body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    answer
}

/// Regression: an invitation outlived its creator's Admin role, so a demoted or removed
/// Admin's links still brought people in.
#[tokio::test]
async fn an_invitation_dies_when_its_creator_stops_being_an_admin() {
    let api = TestApi::new(komander_e2e::Backend::Sqlite).await.unwrap();
    let alice = api.user("alice").await;
    let bob = api.user("bob").await;
    let oscar = api.user("oscar").await;
    expect(
        &api,
        Method::POST,
        "/api/v1/projects",
        &alice,
        Some(json!({"name": "shop"})),
        StatusCode::CREATED,
    )
    .await;
    let members = "/api/v1/projects/shop/members";
    expect(
        &api,
        Method::POST,
        members,
        &alice,
        Some(json!({"user": "bob", "role": "admin"})),
        StatusCode::CREATED,
    )
    .await;
    // Bob, an Admin, invites, then is demoted; promoted again, he invites, then is removed.
    let bob_path = format!("{members}/bob");
    let token = invite(&api, &bob).await;
    let demote = Some(json!({"role": "dev"}));
    expect(
        &api,
        Method::PATCH,
        &bob_path,
        &alice,
        demote,
        StatusCode::OK,
    )
    .await;
    accept_is_refused(&api, &token, &oscar, &alice).await;
    let promote = Some(json!({"role": "admin"}));
    expect(
        &api,
        Method::PATCH,
        &bob_path,
        &alice,
        promote,
        StatusCode::OK,
    )
    .await;
    let token = invite(&api, &bob).await;
    let removed = StatusCode::NO_CONTENT;
    expect(&api, Method::DELETE, &bob_path, &alice, None, removed).await;
    accept_is_refused(&api, &token, &oscar, &alice).await;
    // An Admin's own link still works.
    let token = invite(&api, &alice).await;
    let accept = format!("/api/v1/invitations/{token}/accept");
    expect(&api, Method::POST, &accept, &oscar, None, StatusCode::OK).await;
}

/// Creates an invitation to `shop` as `admin`, answering its token.
async fn invite(api: &TestApi, admin: &str) -> String {
    let invitation = expect(
        api,
        Method::POST,
        "/api/v1/projects/shop/invitations",
        admin,
        Some(json!({"role": "admin"})),
        StatusCode::CREATED,
    )
    .await;
    invitation["token"].as_str().unwrap().to_owned()
}

/// Checks that `guest` cannot accept the invitation `token`, and that nothing changed.
async fn accept_is_refused(api: &TestApi, token: &str, guest: &str, admin: &str) {
    let accept = format!("/api/v1/invitations/{token}/accept");
    let refused = expect(
        api,
        Method::POST,
        &accept,
        guest,
        None,
        StatusCode::CONFLICT,
    )
    .await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("no longer an Admin"), "{refused}");
    let project = "/api/v1/projects/shop";
    expect(
        api,
        Method::GET,
        project,
        guest,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    let invitations = format!("{project}/invitations");
    let list = expect(api, Method::GET, &invitations, admin, None, StatusCode::OK).await;
    assert!(list["items"][0]["accepted_by"].is_null(), "{list}");
}
