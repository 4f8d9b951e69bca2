//! An environment names any installed runtime plugin by its id: one an organization wrote as
//! well as the first-party ones (also by their short names). What is not an installed, enabled
//! runtime is refused at creation, naming it and the runtimes there are; a runtime disabled or
//! uninstalled later makes its environments' runtime-dependent operations answer 409 naming it.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use komander_domain::{AuditId, UserId, api::PluginStatus};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi, guests};
use komander_store::{AuditRecord, PluginRecord};
use serde_json::{Value, json};

const ENVIRONMENTS: &str = "/api/v1/projects/shop/environments";
const WEBHOOK: &str = "example.webhook-runtime";

/// An instance with the project `shop` and the runtimes `komander.compose` and the example
/// `example.webhook-runtime` installed and enabled.
async fn instance() -> TestApi {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    let webhook = api.install_plugin("webhook_runtime").await;
    assert_eq!(webhook["id"], WEBHOOK);
    assert_eq!(webhook["world"], "remote");
    assert_eq!(webhook["status"], "enabled");
    let (status, answer) = api
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    api
}

async fn create_environment(api: &TestApi, name: &str, runtime: &str) -> (StatusCode, Value) {
    let body = json!({"name": name, "runtime": runtime, "executor": "local"});
    api.call(Method::POST, ENVIRONMENTS, Some(ADMIN_TOKEN), Some(body))
        .await
}

/// An instance admin's install of the component `guest` builds, granting nothing.
fn upload(guest: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/v1/plugins")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(guests::bytes(guest)))
        .unwrap()
}

async fn admin(api: &TestApi, method: Method, path: &str) -> (StatusCode, Value) {
    api.call(method, path, Some(ADMIN_TOKEN), None).await
}

#[tokio::test]
async fn environments_name_any_installed_runtime_and_short_names_are_written_in_full() {
    let api = instance().await;
    for (name, given, stored) in [
        ("hooks", WEBHOOK, WEBHOOK),
        ("dev", "compose", "komander.compose"),
        ("prod", "komander.compose", "komander.compose"),
    ] {
        let (status, environment) = create_environment(&api, name, given).await;
        assert_eq!(status, StatusCode::CREATED, "{given}: {environment}");
        assert_eq!(environment["runtime"], stored, "{given}");
        let (_, read) = admin(&api, Method::GET, &format!("{ENVIRONMENTS}/{name}")).await;
        assert_eq!(read["runtime"], stored, "{given}");
    }
    let (_, list) = admin(&api, Method::GET, ENVIRONMENTS).await;
    let runtimes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["runtime"].as_str().unwrap())
        .collect();
    assert_eq!(
        runtimes,
        ["komander.compose", WEBHOOK, "komander.compose"],
        "dev, hooks, prod"
    );
}

/// Records a git-provider plugin `id` straight in the store: no such component is built yet,
/// and an environment must not be able to name one.
async fn record_git_provider(api: &TestApi, id: &str) {
    let (_, me) = admin(api, Method::GET, "/api/v1/me").await;
    let admin_id: UserId = serde_json::from_value(me["id"].clone()).unwrap();
    let plugin = PluginRecord {
        id: id.into(),
        version: "1.0.0".into(),
        kind: "git-provider".into(),
        world: None,
        digest: "d".repeat(64),
        manifest: String::new(),
        requested: Vec::new(),
        granted: Vec::new(),
        status: PluginStatus::Enabled,
        installed_by: admin_id,
        installed_at: 1,
        updated_at: 1,
        config: "{}".into(),
        artifact: None,
    };
    let audit = AuditRecord {
        id: AuditId::new(),
        project_id: None,
        actor_id: admin_id,
        actor_handle: me["handle"].as_str().unwrap().to_owned(),
        action: "plugin.install".into(),
        target: format!("plugin/{id}"),
        fields: Vec::new(),
        at: 1,
        private_to: None,
    };
    api.store
        .store
        .create_plugin(&plugin, &audit)
        .await
        .unwrap();
}

#[tokio::test]
async fn what_is_not_an_installed_enabled_runtime_is_refused_naming_it_and_creates_nothing() {
    let api = instance().await;
    // A runtime waiting for its grant, a disabled one and a plugin of another kind.
    let (status, pending) = api.send(upload("komander_test_guest")).await;
    assert_eq!(status, StatusCode::CREATED, "{pending}");
    assert_eq!(pending["status"], "pending-grant");
    api.install_plugin("komander_test_docker_guest").await;
    let (status, _) = admin(
        &api,
        Method::POST,
        "/api/v1/plugins/komander.test-docker-guest/disable",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    record_git_provider(&api, "acme.github").await;

    for (given, named, why) in [
        ("acme.nomad", "acme.nomad", "is not installed"),
        // The short name of a first-party runtime Komander does not ship yet.
        ("kubernetes", "komander.kubernetes", "is not installed"),
        (
            "komander.test-guest",
            "komander.test-guest",
            "is pending-grant",
        ),
        (
            "komander.test-docker-guest",
            "komander.test-docker-guest",
            "is disabled",
        ),
        (
            "acme.github",
            "acme.github",
            "is a git-provider plugin, not a runtime",
        ),
    ] {
        let (status, answer) = create_environment(&api, "dev", given).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{given}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_input", "{answer}");
        assert_eq!(answer["error"]["field"], "runtime", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert_eq!(
            message,
            format!(
                "runtime plugin {named:?} {why}: the installed, enabled runtimes are \
                 example.webhook-runtime, komander.compose"
            ),
            "{given}"
        );
    }
    // Not even a plugin id: refused as the body is read.
    for bad in ["Nomad!", "", "compose/../x"] {
        let (status, answer) = create_environment(&api, "dev", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("invalid runtime {bad:?}")),
            "{answer}"
        );
    }
    // Nothing was created, and nothing audited in the project beyond its creation.
    let (_, list) = admin(&api, Method::GET, ENVIRONMENTS).await;
    assert_eq!(list["items"], json!([]), "{list}");
    let (_, audit) = admin(&api, Method::GET, "/api/v1/projects/shop/audit").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|entry| entry["action"] != "environment.create"),
        "{audit}"
    );
}

#[tokio::test]
async fn with_no_runtime_enabled_the_refusal_says_so() {
    let api = instance().await;
    for id in ["komander.compose", WEBHOOK] {
        let (status, _) = admin(&api, Method::POST, &format!("/api/v1/plugins/{id}/disable")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, answer) = create_environment(&api, "dev", "compose").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "runtime plugin \"komander.compose\" is disabled: no runtime plugin is installed and \
         enabled (the first-party ones install in the background after a start)"
    );
}

/// How many resolves the project's audit log records.
async fn resolves_audited(api: &TestApi) -> usize {
    let (_, audit) = admin(api, Method::GET, "/api/v1/projects/shop/audit").await;
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "deployment.resolve")
        .count()
}

#[tokio::test]
async fn a_disabled_or_uninstalled_runtime_makes_its_environments_answer_409_naming_it() {
    let api = instance().await;
    let (status, answer) = create_environment(&api, "hooks", WEBHOOK).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let deployments = format!("{ENVIRONMENTS}/hooks/deployments");
    let (status, answer) = api
        .call(
            Method::POST,
            &deployments,
            Some(ADMIN_TOKEN),
            Some(json!({"name": "app"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let resolve = format!("{deployments}/app/resolve");
    let (status, resolved) = admin(&api, Method::POST, &resolve).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["runtime"], WEBHOOK);
    assert_eq!(resolves_audited(&api).await, 1);

    let plugin = format!("/api/v1/plugins/{WEBHOOK}");
    let (status, _) = admin(&api, Method::POST, &format!("{plugin}/disable")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = admin(&api, Method::POST, &resolve).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "conflict");
    assert_eq!(
        answer["error"]["message"],
        "the runtime plugin \"example.webhook-runtime\" of environment \"hooks\" is disabled: \
         an instance admin enables it (`komander plugin enable example.webhook-runtime`)"
    );
    assert_eq!(
        resolves_audited(&api).await,
        1,
        "a refused resolve releases nothing"
    );
    // Someone who may not see the deployment learns nothing about its runtime.
    let outsider = api.user("oscar").await;
    let (status, _) = api
        .call(Method::POST, &resolve, Some(&outsider), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = admin(&api, Method::POST, &format!("{plugin}/enable")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin(&api, Method::POST, &resolve).await;
    assert_eq!(status, StatusCode::OK);

    // Uninstalling a runtime that environments still name is allowed; they stay, and answer
    // 409 until it is installed again.
    let (status, answer) = admin(&api, Method::DELETE, &plugin).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let (status, environment) = admin(&api, Method::GET, &format!("{ENVIRONMENTS}/hooks")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(environment["runtime"], WEBHOOK);
    let (status, answer) = admin(&api, Method::POST, &resolve).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "the runtime plugin \"example.webhook-runtime\" of environment \"hooks\" is not \
         installed: an instance admin installs it (`komander plugin install`)"
    );
    // A plugin of another kind that took the id does not run them either.
    record_git_provider(&api, WEBHOOK).await;
    let (status, answer) = admin(&api, Method::POST, &resolve).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "the runtime plugin \"example.webhook-runtime\" of environment \"hooks\" is a \
             git-provider plugin, not a runtime:"
        ),
        "{message}"
    );
    let (status, _) = admin(&api, Method::DELETE, &plugin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Installed again without a grant, it waits for one, and so do its environments.
    let (status, answer) = api.send(upload("webhook_runtime")).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = admin(&api, Method::POST, &resolve).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "the runtime plugin \"example.webhook-runtime\" of environment \"hooks\" is \
         pending-grant: an instance admin grants it (`komander plugin grant \
         example.webhook-runtime`)"
    );
    let (status, _) = api
        .call(
            Method::POST,
            &format!("{plugin}/grant"),
            Some(ADMIN_TOKEN),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, resolved) = admin(&api, Method::POST, &resolve).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolves_audited(&api).await, 3);
}
