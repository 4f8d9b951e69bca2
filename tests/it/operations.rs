//! Operations through the REST API: one at a time per deployment (409 `busy` naming the
//! running one), leases that only their token renews, steps whose progress lines a reader
//! follows by cursor without a lost or doubled line, expired leases taken over, racing starts,
//! and what a Dev or a `server` environment is refused.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use komander_domain::api::LEASE_HEADER;
use komander_e2e::{ADMIN_TOKEN, Answer, Backend, TestApi};
use komander_store::LEASE_TTL_MS;
use serde_json::{Value, json};

const OPS: &str = "/api/v1/projects/shop/environments/dev/deployments/app/operations";

/// Project `shop`, a `local` environment `dev` and the admin's private deployment `app`.
async fn setup(backend: Backend) -> Option<TestApi> {
    let api = TestApi::new(backend).await?;
    api.install_plugin("komander_compose").await;
    for (path, body) in [
        ("/api/v1/projects", json!({"name": "shop"})),
        (
            "/api/v1/projects/shop/environments",
            json!({"name": "dev", "runtime": "compose", "executor": "local"}),
        ),
        (
            "/api/v1/projects/shop/environments/dev/deployments",
            json!({"name": "app"}),
        ),
    ] {
        expect(&api, Method::POST, path, Some(body), StatusCode::CREATED).await;
    }
    Some(api)
}

async fn expect(
    api: &TestApi,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let (got, answer) = api.call(method, path, Some(ADMIN_TOKEN), body).await;
    assert_eq!(got, status, "{path}: {answer}");
    answer
}

/// A POST as the admin carrying the lease token `lease`.
async fn leased(api: &TestApi, path: &str, lease: &str, body: Option<Value>) -> Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(LEASE_HEADER, lease)
        .header(header::CONTENT_TYPE, "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    api.send(request.body(body).expect("a request")).await
}

/// Starts an apply: answers its id and lease token.
async fn start(api: &TestApi) -> (String, String) {
    let started = expect(
        api,
        Method::POST,
        OPS,
        Some(json!({"kind": "apply"})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(started["operation"]["state"], "running");
    (
        started["operation"]["id"].as_str().unwrap().to_owned(),
        started["lease_token"].as_str().unwrap().to_owned(),
    )
}

/// A step named `name` printing `lines`.
fn step(name: &str, lines: &[String]) -> Value {
    json!({
        "step": {"name": name, "started_at": "2026-12-01T10:00:00Z",
                 "finished_at": "2026-12-01T10:00:01Z"},
        "continuation": format!("after {name}"),
        "lines": lines,
    })
}

/// Asserts a 409 refusal of the lease.
fn assert_lease_refused((status, body): Answer) {
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], "lease", "{body}");
}

#[tokio::test]
async fn a_second_start_is_busy_naming_the_running_operation_until_it_finishes() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let (id, lease) = start(&api).await;
    let (status, busy) = api
        .call(
            Method::POST,
            OPS,
            Some(ADMIN_TOKEN),
            Some(json!({"kind": "destroy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{busy}");
    assert_eq!(busy["error"]["code"], "busy");
    assert!(
        busy["error"]["message"].as_str().unwrap().contains(&id),
        "{busy}"
    );
    let (status, done) = leased(
        &api,
        &format!("{OPS}/{id}/finish"),
        &lease,
        Some(json!({"outcome": "done"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "done");
    assert!(done["finished_at"].is_string());
    assert!(done["lease_expires_at"].is_null());
    let (next, _) = start(&api).await;
    let history = expect(&api, Method::GET, OPS, None, StatusCode::OK).await;
    let ids: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [next.as_str(), id.as_str()], "newest first");
    let audit = expect(
        &api,
        Method::GET,
        "/api/v1/projects/shop/audit",
        None,
        StatusCode::OK,
    )
    .await
    .to_string();
    for action in ["operation.start", "operation.finish"] {
        assert!(audit.contains(action), "{action} audited: {audit}");
    }
}

#[tokio::test]
async fn only_the_lease_token_renews_the_lease_and_it_is_never_shown_again() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let (id, lease) = start(&api).await;
    let (status, renewed) = leased(&api, &format!("{OPS}/{id}/lease"), &lease, None).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert!(renewed["expires_at"].is_string());
    assert_eq!(renewed["cancel_requested"], false);
    assert_lease_refused(leased(&api, &format!("{OPS}/{id}/lease"), "kml_forged", None).await);
    assert_lease_refused(
        leased(
            &api,
            &format!("{OPS}/{id}/steps"),
            "kml_forged",
            Some(step("pull", &["x".into()])),
        )
        .await,
    );
    let (status, missing) = api
        .call(
            Method::POST,
            &format!("{OPS}/{id}/lease"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
    assert_eq!(missing["error"]["field"], LEASE_HEADER);
    let listed = expect(&api, Method::GET, OPS, None, StatusCode::OK).await;
    let one = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    for shown in [listed.to_string(), one.to_string()] {
        assert!(!shown.contains(&lease), "the token is never shown again");
    }
    let progress = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}/progress"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(progress, json!([]), "a forged token recorded nothing");
}

#[tokio::test]
async fn progress_read_by_cursor_loses_and_doubles_no_line() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let (id, lease) = start(&api).await;
    let mut written = Vec::new();
    for (n, name) in ["pull web", "create web", "start web"]
        .into_iter()
        .enumerate()
    {
        let lines: Vec<String> = (0..=n + 1).map(|i| format!("{name} line {i}")).collect();
        let (status, recorded) = leased(
            &api,
            &format!("{OPS}/{id}/steps"),
            &lease,
            Some(step(name, &lines)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{recorded}");
        written.extend(lines);
        assert_eq!(recorded["last_sequence"], written.len());
    }
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let page = expect(
            &api,
            Method::GET,
            &format!("{OPS}/{id}/progress?after={after}&limit=2"),
            None,
            StatusCode::OK,
        )
        .await;
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        for line in page {
            after += 1;
            assert_eq!(line["sequence"], after, "consecutive: {line}");
            read.push(line["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(read, written);
    let one = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    let steps: Vec<&str> = one["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["pull web", "create web", "start web"]);
}

#[tokio::test]
async fn a_step_over_a_limit_is_refused_naming_it_and_records_nothing() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let (id, lease) = start(&api).await;
    let path = format!("{OPS}/{id}/steps");
    let too_many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let mut backwards = step("pull", &[]);
    backwards["step"]["finished_at"] = json!("2026-12-01T09:00:00Z");
    let mut huge = step("pull", &[]);
    huge["continuation"] = json!("x".repeat(64 * 1024 + 1));
    for (body, field) in [
        (step("pull", &too_many), "lines"),
        (step("pull", &["y".repeat(4097)]), "lines"),
        (step("", &[]), "step.name"),
        (backwards, "step.finished_at"),
        (huge, "continuation"),
    ] {
        let (status, refused) = leased(&api, &path, &lease, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let one = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["steps"], json!([]));
}

#[tokio::test]
async fn an_expired_lease_taken_over_refuses_its_old_holder() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let (id, lease) = start(&api).await;
    let later = komander_domain::timestamps::to_millis(komander_domain::timestamps::now())
        + LEASE_TTL_MS
        + 1;
    let taken = api
        .store
        .store
        .take_over_expired(later, "server-b", 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id.to_string(), id);
    assert_lease_refused(leased(&api, &format!("{OPS}/{id}/lease"), &lease, None).await);
    assert_lease_refused(
        leased(
            &api,
            &format!("{OPS}/{id}/steps"),
            &lease,
            Some(step("late", &["x".into()])),
        )
        .await,
    );
    assert_lease_refused(
        leased(
            &api,
            &format!("{OPS}/{id}/finish"),
            &lease,
            Some(json!({"outcome": "done"})),
        )
        .await,
    );
    let one = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["resumes"], 1);
    assert_eq!(one["state"], "running");
}

#[tokio::test]
async fn a_cancel_request_reaches_the_holder_when_it_renews() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let (id, lease) = start(&api).await;
    let cancelled = expect(
        &api,
        Method::POST,
        &format!("{OPS}/{id}/cancel"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["cancel_requested"], true);
    let (_, renewed) = leased(&api, &format!("{OPS}/{id}/lease"), &lease, None).await;
    assert_eq!(renewed["cancel_requested"], true, "{renewed}");
    let (status, ended) = leased(
        &api,
        &format!("{OPS}/{id}/finish"),
        &lease,
        Some(json!({"outcome": "cancelled", "message": "stopped after pull"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["state"], "cancelled");
    let (status, again) = api
        .call(
            Method::POST,
            &format!("{OPS}/{id}/cancel"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
}

/// Two starts at once: exactly one is created, the other is busy.
async fn racing_starts(backend: Backend) {
    let Some(api) = setup(backend).await else {
        return;
    };
    let api = Arc::new(api);
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                api.call(
                    Method::POST,
                    OPS,
                    Some(ADMIN_TOKEN),
                    Some(json!({"kind": "apply"})),
                )
                .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        if status == StatusCode::CONFLICT {
            assert_eq!(body["error"]["code"], "busy", "{body}");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
}

#[tokio::test]
async fn racing_starts_create_exactly_one_on_sqlite() {
    racing_starts(Backend::Sqlite).await;
}

#[tokio::test]
async fn racing_starts_create_exactly_one_on_postgres() {
    racing_starts(Backend::Postgres).await;
}

#[tokio::test]
async fn a_dev_who_cannot_see_a_private_deployment_gets_404() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let (id, _) = start(&api).await;
    let dave = api.user("dave").await;
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/shop/members",
        Some(json!({"user": "dave", "role": "dev"})),
        StatusCode::CREATED,
    )
    .await;
    for (method, path, body) in [
        (Method::POST, OPS.to_owned(), Some(json!({"kind": "apply"}))),
        (Method::GET, OPS.to_owned(), None),
        (Method::GET, format!("{OPS}/{id}"), None),
        (Method::GET, format!("{OPS}/{id}/progress"), None),
        (Method::POST, format!("{OPS}/{id}/cancel"), None),
    ] {
        let (status, answer) = api.call(method, &path, Some(&dave), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
    let one = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["cancel_requested"], false, "nothing changed");
}

#[tokio::test]
async fn a_server_environment_refuses_starts_through_the_api() {
    let api = setup(Backend::Sqlite).await.unwrap();
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/shop/environments",
        Some(json!({"name": "prod", "runtime": "compose", "executor": "server"})),
        StatusCode::CREATED,
    )
    .await;
    let prod = "/api/v1/projects/shop/environments/prod/deployments";
    expect(
        &api,
        Method::POST,
        prod,
        Some(json!({"name": "app"})),
        StatusCode::CREATED,
    )
    .await;
    let (status, refused) = api
        .call(
            Method::POST,
            &format!("{prod}/app/operations"),
            Some(ADMIN_TOKEN),
            Some(json!({"kind": "apply"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["field"], "executor");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server's own runner"),
        "{refused}"
    );
    let history = expect(
        &api,
        Method::GET,
        &format!("{prod}/app/operations"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"], json!([]));
}

#[tokio::test]
async fn the_openapi_document_names_the_lease_header() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let doc = expect(
        &api,
        Method::GET,
        "/api/v1/openapi.json",
        None,
        StatusCode::OK,
    )
    .await;
    let lease = &doc["paths"]["/api/v1/projects/{project}/environments/{environment}/deployments/{deployment}/operations/{operation}/lease"]
        ["post"];
    let header = lease["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["in"] == "header")
        .expect("a header parameter");
    assert_eq!(header["name"], LEASE_HEADER);
    assert!(doc["components"]["schemas"]["StartedOperation"].is_object());
}

/// Adds service `web` to the deployment `app`.
async fn add_web(api: &TestApi) {
    expect(
        api,
        Method::POST,
        "/api/v1/projects/shop/environments/dev/deployments/app/services",
        Some(json!({"name": "web", "image": "busybox:1"})),
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn a_start_whose_fields_do_not_fit_its_kind_is_refused_and_starts_nothing() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let earlier = uuid::Uuid::now_v7().to_string();
    for (body, field) in [
        (
            json!({"kind": "apply", "remove_volumes": true}),
            "remove_volumes",
        ),
        (json!({"kind": "rollback"}), "rollback_of"),
        (
            json!({"kind": "apply", "rollback_of": earlier}),
            "rollback_of",
        ),
        (
            json!({"kind": "rollback", "rollback_of": earlier}),
            "operation",
        ),
    ] {
        let (status, refused) = api
            .call(Method::POST, OPS, Some(ADMIN_TOKEN), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
        assert_eq!(refused["error"]["field"], field, "{body}: {refused}");
    }
    let history = expect(&api, Method::GET, OPS, None, StatusCode::OK).await;
    assert_eq!(history["items"], json!([]), "nothing started");
}

#[tokio::test]
async fn a_local_apply_records_its_spec_and_only_well_formed_pins_of_its_own_services() {
    let api = setup(Backend::Sqlite).await.unwrap();
    add_web(&api).await;
    let (id, lease) = start(&api).await;
    let finish = format!("{OPS}/{id}/finish");
    let digest = format!("sha256:{}", "a".repeat(64));
    for pinned in [
        json!({"ghost": digest}),
        json!({"web": "busybox:latest"}),
        json!({"web": "sha256:abc"}),
    ] {
        let (status, refused) = leased(
            &api,
            &finish,
            &lease,
            Some(json!({"outcome": "done", "pinned": pinned})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pinned}: {refused}");
        assert_eq!(refused["error"]["field"], "pinned", "{refused}");
    }
    let one = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["state"], "running", "a refused finish ends nothing");
    assert_eq!(one["spec"]["services"][0]["name"], "web", "{one}");
    assert!(one["spec"]["services"][0]["pinned"].is_null(), "{one}");
    // Another token cannot pin.
    let (status, _) = leased(
        &api,
        &finish,
        "kml_not-the-lease",
        Some(json!({"outcome": "done", "pinned": {"web": digest}})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, done) = leased(
        &api,
        &finish,
        &lease,
        Some(json!({"outcome": "done", "pinned": {"web": digest}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let one = expect(
        &api,
        Method::GET,
        &format!("{OPS}/{id}"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        one["spec"]["services"][0]["pinned"],
        digest.as_str(),
        "{one}"
    );
}

#[tokio::test]
async fn a_resolve_without_secrets_releases_none_and_components_go_only_to_signed_in_users() {
    let api = setup(Backend::Sqlite).await.unwrap();
    let d = "/api/v1/projects/shop/environments/dev/deployments/app";
    add_web(&api).await;
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("{d}/services/web/variables/DB_PASSWORD"),
            Some(ADMIN_TOKEN),
            Some(json!({"value": "resolve-secret-5d1", "secret": true})),
        )
        .await;
    assert!(status.is_success());
    let withheld = expect(
        &api,
        Method::POST,
        &format!("{d}/resolve?secrets=false"),
        None,
        StatusCode::OK,
    )
    .await;
    assert!(
        !withheld.to_string().contains("resolve-secret-5d1"),
        "{withheld}"
    );
    assert_eq!(withheld["services"][0]["secret"], json!(["DB_PASSWORD"]));
    let released = expect(
        &api,
        Method::POST,
        &format!("{d}/resolve"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        released["services"][0]["environment"]["DB_PASSWORD"],
        "resolve-secret-5d1"
    );
    assert!(
        released["runtime_granted"]
            .as_array()
            .is_some_and(|g| !g.is_empty()),
        "{released}"
    );
    // The runtime's component is its recorded digest's; nobody signed out gets it.
    let (status, headers, bytes) = api
        .get_raw("/api/v1/plugins/komander.compose/component", ADMIN_TOKEN)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    assert_eq!(
        komander_plugin_host::digest(&bytes),
        released["runtime_sha256"].as_str().unwrap(),
        "the very component the resolve names"
    );
    let (status, _) = api
        .call(
            Method::GET,
            "/api/v1/plugins/komander.compose/component",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, missing) = api
        .call(
            Method::GET,
            "/api/v1/plugins/komander.nothing/component",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
}
