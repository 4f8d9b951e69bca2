//! The audit log through the API: what each reader of it may see.

use axum::http::Method;
use komander_e2e::{Backend, TestApi};
use serde_json::{Value, json};

/// Sends a request as `token`, checking it succeeded.
async fn ok(api: &TestApi, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, answer) = api.call(method.clone(), path, Some(token), body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// The targets of the project's audit log as `token`'s user sees it, two entries a page, with
/// every page but the last full.
async fn targets(api: &TestApi, token: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut path = "/api/v1/projects/shop/audit?limit=2".to_owned();
    loop {
        let page = ok(api, Method::GET, &path, token, None).await;
        let items = page["items"].as_array().unwrap();
        targets.extend(
            items
                .iter()
                .map(|e| e["target"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(items.len(), 2, "a page before the last is full: {page}");
                path = format!("/api/v1/projects/shop/audit?limit=2&cursor={cursor}");
            }
            None => return targets,
        }
    }
}

/// Regression: the audit log named every member's private deployments, with their
/// services and variables, to the project's Admins.
#[tokio::test]
async fn the_audit_log_hides_other_members_private_deployments() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    let alice = api.user("alice").await;
    let bob = api.user("bob").await;
    ok(
        &api,
        Method::POST,
        "/api/v1/projects",
        &alice,
        Some(json!({"name": "shop"})),
    )
    .await;
    let member = json!({"user": "bob", "role": "admin"});
    ok(
        &api,
        Method::POST,
        "/api/v1/projects/shop/members",
        &alice,
        Some(member),
    )
    .await;
    let environment = json!({"name": "dev", "runtime": "compose"});
    let environments = "/api/v1/projects/shop/environments";
    ok(&api, Method::POST, environments, &alice, Some(environment)).await;
    let deployments = format!("{environments}/dev/deployments");
    for (owner, name) in [(&bob, "bob-plan"), (&alice, "alice-plan")] {
        ok(
            &api,
            Method::POST,
            &deployments,
            owner,
            Some(json!({"name": name})),
        )
        .await;
        let d = format!("{deployments}/{name}");
        let web = json!({"name": "web", "image": "busybox:1"});
        ok(
            &api,
            Method::POST,
            &format!("{d}/services"),
            owner,
            Some(web),
        )
        .await;
        let variable = format!("{d}/services/web/variables/TOKEN");
        let value = json!({"value": "x", "secret": true});
        ok(&api, Method::PUT, &variable, owner, Some(value)).await;
        let patch = json!({"display_name": "Plan"});
        ok(&api, Method::PATCH, &d, owner, Some(patch)).await;
    }
    let names = |targets: &[String], name: &str| targets.iter().any(|t| t.contains(name));
    let seen_by_alice = targets(&api, &alice).await;
    let seen_by_bob = targets(&api, &bob).await;
    assert!(!names(&seen_by_alice, "bob-plan"), "{seen_by_alice:?}");
    assert!(names(&seen_by_alice, "alice-plan"), "{seen_by_alice:?}");
    assert!(!names(&seen_by_bob, "alice-plan"), "{seen_by_bob:?}");
    assert_eq!(
        seen_by_bob
            .iter()
            .filter(|t| t.contains("bob-plan"))
            .count(),
        4,
        "create, service, variable, update: {seen_by_bob:?}"
    );
    // Once shared, what happens to it is the project's; what happened in private stays so.
    let share = format!("{deployments}/bob-plan/share");
    ok(&api, Method::POST, &share, &bob, None).await;
    let web = format!("{deployments}/bob-plan/services/web");
    ok(
        &api,
        Method::PATCH,
        &web,
        &bob,
        Some(json!({"image": "busybox:2"})),
    )
    .await;
    let seen_by_alice = targets(&api, &alice).await;
    let about_bob_plan: Vec<&String> = seen_by_alice
        .iter()
        .filter(|t| t.contains("bob-plan"))
        .collect();
    assert_eq!(
        about_bob_plan,
        ["dev/bob-plan/web", "dev/bob-plan"],
        "{seen_by_alice:?}"
    );
}
