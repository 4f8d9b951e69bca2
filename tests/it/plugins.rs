//! The plugin lifecycle through the REST API and the CLI: install (file or URL with its
//! sha256), pending-grant, grant, disable, enable, upgrade, uninstall; refusals leave nothing
//! installed.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use komander_e2e::{ADMIN_TOKEN, Answer, Backend, ServerProcess, TestApi, guests, komander_binary};
use serde_json::json;

fn upload(path: &str, token: &str, bytes: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(bytes))
        .unwrap()
}

async fn installed(api: &TestApi) -> Answer {
    api.call(Method::GET, "/api/v1/plugins", Some(ADMIN_TOKEN), None)
        .await
}

fn components(api: &TestApi) -> Vec<String> {
    std::fs::read_dir(api.store.dir.path().join("plugins"))
        .map(|d| {
            d.filter_map(|e| {
                let name = e.ok()?.file_name().to_string_lossy().into_owned();
                name.ends_with(".wasm").then_some(name)
            })
            .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn install_grant_disable_upgrade_uninstall() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let guest = guests::bytes("komander_test_guest");
    let alice = api.user("alice").await;
    let (status, answer) = api
        .send(upload("/api/v1/plugins", &alice, guest.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");

    let (status, plugin) = api
        .send(upload("/api/v1/plugins", ADMIN_TOKEN, guest.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["id"], "komander.test-guest");
    assert_eq!(plugin["kind"], "runtime");
    assert_eq!(plugin["world"], "remote");
    assert_eq!(plugin["status"], "pending-grant");
    assert_eq!(
        plugin["requested"],
        json!(["config", "connections", "kv", "log", "progress"])
    );
    assert_eq!(plugin["granted"], json!([]));
    assert_eq!(plugin["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(components(&api).len(), 1);
    let (_, list) = api
        .call(Method::GET, "/api/v1/plugins", Some(&alice), None)
        .await;
    assert_eq!(
        list["items"][0]["id"], "komander.test-guest",
        "everyone may read"
    );

    let p = "/api/v1/plugins/komander.test-guest";
    let (status, _) = api
        .send(upload("/api/v1/plugins", ADMIN_TOKEN, guest.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "installed twice");
    let (status, _) = api
        .call(
            Method::POST,
            &format!("{p}/enable"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "enabled before any grant");
    let (status, answer) = api
        .call(
            Method::POST,
            &format!("{p}/grant"),
            Some(ADMIN_TOKEN),
            Some(json!({"capabilities": ["docker"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not ask for")
    );
    let (status, plugin) = api
        .call(
            Method::POST,
            &format!("{p}/grant"),
            Some(ADMIN_TOKEN),
            Some(json!({"capabilities": ["log", "kv"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plugin}");
    assert_eq!(
        (&plugin["status"], &plugin["granted"]),
        (&json!("enabled"), &json!(["kv", "log"]))
    );
    let (_, plugin) = api
        .call(
            Method::POST,
            &format!("{p}/disable"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(plugin["status"], "disabled");
    let (_, plugin) = api
        .call(
            Method::POST,
            &format!("{p}/enable"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(plugin["status"], "enabled");

    let (status, _) = api
        .send(upload(&format!("{p}/upgrade"), ADMIN_TOKEN, guest.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the same build");
    let other = guests::bytes("webhook_runtime");
    let (status, answer) = api
        .send(upload(&format!("{p}/upgrade"), ADMIN_TOKEN, other))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("example.webhook-runtime")
    );

    let (status, _) = api.call(Method::DELETE, p, Some(&alice), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.call(Method::DELETE, p, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(installed(&api).await.1["items"], json!([]));
    assert!(components(&api).is_empty(), "the component file is gone");
    let (status, _) = api.call(Method::GET, p, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn refused_components_leave_nothing_installed() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let guest = guests::bytes("komander_test_guest");
    let wrong = "0".repeat(64);
    let (status, answer) = api
        .send(upload(
            &format!("/api/v1/plugins?sha256={wrong}"),
            ADMIN_TOKEN,
            guest,
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sha256"),
        "{answer}"
    );
    let (status, answer) = api
        .send(upload(
            "/api/v1/plugins",
            ADMIN_TOKEN,
            b"\0asm-garbage".to_vec(),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly component")
    );
    let text = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/plugins")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("hello"))
        .unwrap();
    assert_eq!(api.send(text).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(installed(&api).await.1["items"], json!([]));
    assert!(components(&api).is_empty());
}

#[tokio::test]
async fn install_from_a_url_needs_the_right_sha256() {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let guest = guests::bytes("komander_test_guest");
    let sha = komander_plugin_host::digest(&guest);
    let app = axum::Router::new().route(
        "/guest.wasm",
        axum::routing::get(move || {
            let guest = guest.clone();
            async move { guest }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/guest.wasm", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (status, answer) = api
        .call(
            Method::POST,
            "/api/v1/plugins",
            Some(ADMIN_TOKEN),
            Some(json!({"url": url, "sha256": "ab".repeat(32)})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, plugin) = api
        .call(
            Method::POST,
            "/api/v1/plugins",
            Some(ADMIN_TOKEN),
            Some(json!({"url": url, "sha256": sha, "grant_all": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["status"], "enabled");
    assert_eq!(plugin["granted"], plugin["requested"]);
}

#[test]
fn the_cli_installs_grants_and_lists_plugins() {
    let server = ServerProcess::start(&[], "info");
    let guest = server.data_dir.path().join("guest.wasm");
    std::fs::write(&guest, guests::bytes("komander_test_guest")).unwrap();
    let komander = |args: &[&str]| {
        let out = std::process::Command::new(komander_binary())
            .args(args)
            .env_clear()
            .env("HOME", server.data_dir.path())
            .env("KOMANDER_SERVER", &server.base)
            .env("KOMANDER_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "komander {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let shown = komander(&["plugin", "install", guest.to_str().unwrap()]);
    assert!(shown.contains("pending-grant"), "{shown}");
    komander(&["plugin", "grant", "komander.test-guest", "--all"]);
    let list = komander(&["plugin", "list"]);
    assert!(
        list.contains("komander.test-guest") && list.contains("enabled"),
        "{list}"
    );
    komander(&["plugin", "uninstall", "komander.test-guest"]);
    assert!(!komander(&["plugin", "list"]).contains("komander.test-guest"));
}

#[tokio::test]
async fn kv_lives_in_the_database_per_install_and_project() {
    use std::sync::Arc;

    use komander_app::plugins::DatabaseKv;
    use komander_plugin_host::{
        PluginEngine,
        capabilities::{CallContext, KvScope, KvStore},
        runtime::{DeploymentSpec, GuestError},
    };

    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let guest = guests::bytes("komander_test_guest");
    let (status, answer) = api
        .send(upload(
            "/api/v1/plugins?grant_all=true",
            ADMIN_TOKEN,
            guest.clone(),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let kv: Arc<dyn KvStore> = Arc::new(DatabaseKv::new(&api.app));
    let scope = |project: &str| KvScope {
        install: "komander.test-guest".into(),
        project: Some(project.into()),
    };
    let engine = PluginEngine::new(None).unwrap();
    let plugin = engine.load(guest).await.unwrap();
    let spec = DeploymentSpec {
        project_id: "p1".into(),
        project: "shop".into(),
        environment_id: "e".into(),
        environment: "dev".into(),
        deployment_id: "d".into(),
        deployment: "mine".into(),
        services: vec![],
        settings: vec![("behavior".into(), "kv".into())],
    };
    let mut context = CallContext::new("komander.test-guest@0.1.0", ["kv".to_owned()]);
    context.kv = Some((kv.clone(), scope("p1")));
    assert_eq!(
        engine.validate(&plugin, context, spec).await.unwrap(),
        ["1"]
    );
    assert_eq!(
        kv.get(&scope("p1"), "visits").await.unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(kv.get(&scope("p2"), "visits").await.unwrap(), None);
    let big = vec![0u8; komander_plugin_host::capabilities::VALUE_BYTES];
    let mut denied = None;
    for i in 0..20 {
        if let Err(e) = kv.set(&scope("p1"), &format!("k{i}"), big.clone()).await {
            denied = Some(e);
            break;
        }
    }
    assert!(matches!(denied, Some(GuestError::Denied(m)) if m.contains("quota")));
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/plugins/komander.test-guest",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        matches!(kv.get(&scope("p1"), "visits").await, Ok(None)),
        "uninstall clears kv"
    );
}

#[test]
fn every_guest_is_tested() {
    guests::every_guest_is_tested();
}
