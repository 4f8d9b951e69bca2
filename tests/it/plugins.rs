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
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the plugin did not ask for docker: it asks for ")
            && !message.contains('[')
            && !message.contains('"'),
        "{message}"
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
    let komander_fails = |args: &[&str]| {
        let out = std::process::Command::new(komander_binary())
            .args(args)
            .env_clear()
            .env("HOME", server.data_dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "komander {args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    };
    let write = |name: &str, bytes: &[u8]| {
        let path = server.data_dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };

    // `plugin check` runs the install's checks here, with no server, and says what an admin
    // will be asked.
    let checked = komander(&["plugin", "check", guest.to_str().unwrap()]);
    for expected in [
        "ok: komander.test-guest 0.1.0 would install",
        "kind      runtime (remote world)",
        "exports   komander:runtime/runtime@0.2",
        "komander:host/config@",
        &komander_plugin_host::digest(&guests::bytes("komander_test_guest")),
        "An admin will be asked to grant:",
        "  connections: send HTTP requests",
        "  kv: keep small data",
    ] {
        assert!(checked.contains(expected), "{expected:?} in {checked}");
    }
    let json: serde_json::Value = serde_json::from_str(&komander(&[
        "plugin",
        "check",
        guest.to_str().unwrap(),
        "--output",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["world"], "remote", "{json}");
    assert_eq!(json["asks"].as_array().unwrap().len(), 5, "{json}");
    let good = write("good.json", br#"{"region": "eu", "replicas": 2}"#);
    komander(&[
        "plugin",
        "check",
        guest.to_str().unwrap(),
        "--settings",
        &good,
    ]);
    let bad = write("bad.json", br#"{"region": "mars"}"#);
    let refused = komander_fails(&[
        "plugin",
        "check",
        guest.to_str().unwrap(),
        "--settings",
        &bad,
    ]);
    assert!(refused.contains("/region"), "{refused}");
    let core_module = write("core.wasm", b"\0asm\x01\0\0\0");
    let refused = komander_fails(&["plugin", "check", &core_module]);
    assert!(refused.contains("wasm32-wasip2"), "{refused}");
    let wrong_kind = write(
        "wrong-kind.wasm",
        &with_manifest_edit(
            &guests::bytes("komander_test_guest"),
            r#"kind = "runtime""#,
            r#"kind = "runtimX""#,
        ),
    );
    let refused = komander_fails(&["plugin", "check", &wrong_kind]);
    assert!(refused.contains("would refuse"), "{refused}");
    let refused = komander_fails(&[
        "plugin",
        "check",
        guest.to_str().unwrap(),
        "--sha256",
        &"0".repeat(64),
    ]);
    assert!(
        refused.contains("sha256") || refused.contains("SHA-256"),
        "{refused}"
    );

    let shown = komander(&["plugin", "install", guest.to_str().unwrap()]);
    assert!(shown.contains("pending-grant"), "{shown}");
    komander(&["plugin", "grant", "komander.test-guest", "--all"]);
    let mut set = std::process::Command::new(komander_binary())
        .args(["plugin", "connection", "set", "komander.test-guest", "api"])
        .args([
            "--base-url",
            "https://api.example.com",
            "--credential-stdin",
        ])
        .env_clear()
        .env("HOME", server.data_dir.path())
        .env("KOMANDER_SERVER", &server.base)
        .env("KOMANDER_TOKEN", ADMIN_TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = set.stdin.take().unwrap();
        stdin.write_all(b"Bearer cli-held-secret\n").unwrap();
    }
    let out = set.wait_with_output().unwrap();
    assert!(out.status.success());
    let connections = komander(&["plugin", "connection", "list", "komander.test-guest"]);
    assert!(
        connections.contains("https://api.example.com/") && connections.contains("set"),
        "{connections}"
    );
    assert!(!connections.contains("cli-held-secret"));
    let set = komander(&[
        "plugin",
        "config",
        "set",
        "komander.test-guest",
        r#"{"region": "eu"}"#,
    ]);
    assert!(set.contains("region") && set.contains("\"eu\""), "{set}");
    let shown = komander(&[
        "plugin",
        "config",
        "show",
        "komander.test-guest",
        "--output",
        "json",
    ]);
    assert!(shown.contains("\"region\": \"eu\""), "{shown}");
    let refused = std::process::Command::new(komander_binary())
        .args([
            "plugin",
            "config",
            "set",
            "komander.test-guest",
            r#"{"region": "mars"}"#,
        ])
        .env_clear()
        .env("HOME", server.data_dir.path())
        .env("KOMANDER_SERVER", &server.base)
        .env("KOMANDER_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(6), "invalid input");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("/region"));
    let list = komander(&["plugin", "list"]);
    assert!(
        list.contains("komander.test-guest") && list.contains("enabled"),
        "{list}"
    );
    // A build that renames the setting `region`: upgraded from its file alone (the id read
    // from its manifest) with the new settings in the same step.
    let renamed = write(
        "renamed.wasm",
        &with_manifest_edit(
            &guests::bytes("komander_test_guest"),
            r#""region""#,
            r#""bucket""#,
        ),
    );
    let bucket = write("bucket.json", br#"{"bucket": "us"}"#);
    let upgraded = komander(&["plugin", "upgrade", &renamed, "--config", &bucket]);
    assert!(upgraded.contains("komander.test-guest"), "{upgraded}");
    let shown = komander(&["plugin", "config", "show", "komander.test-guest"]);
    assert!(
        shown.contains("bucket") && !shown.contains("region"),
        "{shown}"
    );
    komander(&["plugin", "uninstall", "komander.test-guest"]);
    assert!(!komander(&["plugin", "list"]).contains("komander.test-guest"));
}

/// Installs a component with every capability it asks for granted.
async fn install_granted(api: &TestApi, component: Vec<u8>) {
    let (status, answer) = api
        .send(upload(
            "/api/v1/plugins?grant_all=true",
            ADMIN_TOKEN,
            component,
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// A deployment spec for calling a runtime plugin directly.
fn spec(
    project_id: &str,
    services: Vec<komander_plugin_host::runtime::ServiceSpec>,
    settings: &[(&str, &str)],
) -> komander_plugin_host::runtime::DeploymentSpec {
    komander_plugin_host::runtime::DeploymentSpec {
        project_id: project_id.into(),
        project: "shop".into(),
        environment_id: "e".into(),
        environment: "dev".into(),
        deployment_id: "d".into(),
        deployment: "mine".into(),
        services,
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[tokio::test]
async fn kv_lives_in_the_database_per_install_and_project() {
    use std::sync::Arc;

    use komander_app::plugins::DatabaseKv;
    use komander_plugin_host::{
        PluginEngine,
        capabilities::{CallContext, Capability, KvScope, KvStore},
        runtime::GuestError,
    };

    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let guest = guests::bytes("komander_test_guest");
    install_granted(&api, guest.clone()).await;
    let kv: Arc<dyn KvStore> = Arc::new(DatabaseKv::new(&api.app));
    let scope = |project: &str| KvScope {
        install: "komander.test-guest".into(),
        project: Some(project.into()),
    };
    let engine = PluginEngine::new(None).unwrap();
    let plugin = engine.load(guest).await.unwrap();
    let spec = spec("p1", vec![], &[("behavior", "kv")]);
    let context = CallContext::builder(&plugin.manifest, [Capability::Kv])
        .unwrap()
        .kv(kv.clone(), scope("p1"))
        .build();
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

#[tokio::test]
async fn connections_are_configured_by_admins_and_their_credential_stays_sealed() {
    use std::sync::{Arc, Mutex};

    use komander_plugin_host::{
        PluginEngine,
        capabilities::{CallContext, Capability},
        runtime::{ServiceSource, ServiceSpec},
    };

    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let webhook = guests::bytes("webhook_runtime");
    install_granted(&api, webhook.clone()).await;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let app = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/deployments/{d}/services/{s}",
            axum::routing::put(move |headers: axum::http::HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                seen.lock().unwrap().push(auth);
                "ok"
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = "/api/v1/plugins/example.webhook-runtime/connections";
    let secret = "Bearer deployer-secret-0123456789";
    let write = json!({"base_url": base, "credential": secret, "allow_private": true,
        "requests_per_minute": 600});
    let alice = api.user("alice").await;
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("{c}/deployer"),
            Some(&alice),
            Some(write.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = api
        .call(
            Method::PUT,
            &format!("{c}/other"),
            Some(ADMIN_TOKEN),
            Some(write.clone()),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "not a connection the manifest names: {answer}"
    );
    let (status, answer) = api
        .call(
            Method::PUT,
            &format!("{c}/deployer"),
            Some(ADMIN_TOKEN),
            Some(json!({"base_url": "ftp://x", "credential": secret})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = api
        .call(
            Method::PUT,
            &format!("{c}/deployer"),
            Some(ADMIN_TOKEN),
            Some(write),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["has_credential"], true);
    let (_, list) = api.call(Method::GET, c, Some(ADMIN_TOKEN), None).await;
    assert_eq!(list["items"][0]["name"], "deployer");
    assert!(!list.to_string().contains("deployer-secret"), "{list}");
    let db = std::fs::read(api.store.sqlite_file()).unwrap_or_default();
    let wal = std::fs::read(api.store.dir.path().join("komander.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(15).any(|w| w == b"deployer-secret"),
            "the credential is sealed"
        );
    }
    // A call of the plugin gets the connection with its credential, added by the host.
    let connections = api
        .app
        .plugin_call_connections("example.webhook-runtime")
        .await
        .unwrap();
    let engine = PluginEngine::new(None).unwrap();
    let plugin = engine.load(webhook).await.unwrap();
    let web = ServiceSpec::new("s", "web", ServiceSource::Image("busybox:1".into()));
    let spec = spec("p", vec![web], &[]);
    let context = CallContext::builder(&plugin.manifest, [Capability::Connections])
        .unwrap()
        .connections(connections)
        .build();
    engine
        .apply_step(&plugin, context, spec, None)
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [secret]);
    // Without a credential the previous one is kept; an empty one clears it.
    let (_, kept) = api
        .call(
            Method::PUT,
            &format!("{c}/deployer"),
            Some(ADMIN_TOKEN),
            Some(json!({"base_url": base, "allow_private": true})),
        )
        .await;
    assert_eq!(kept["has_credential"], true);
    let (_, cleared) = api
        .call(
            Method::PUT,
            &format!("{c}/deployer"),
            Some(ADMIN_TOKEN),
            Some(json!({"base_url": base, "credential": ""})),
        )
        .await;
    assert_eq!(cleared["has_credential"], false);
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("{c}/deployer"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = api.call(Method::GET, c, Some(ADMIN_TOKEN), None).await;
    assert_eq!(list["items"], json!([]));
}

/// `bytes` with every `from` replaced by `to` (of the same length): another build of a
/// component whose embedded manifest differs (the toolchain may keep a copy of the section in
/// the core module too), the code untouched.
fn with_manifest_edit(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut edited = bytes.to_vec();
    let mut found = 0;
    let mut at = 0;
    while let Some(offset) = edited[at..]
        .windows(from.len())
        .position(|w| w == from.as_bytes())
    {
        let start = at + offset;
        edited[start..start + to.len()].copy_from_slice(to.as_bytes());
        found += 1;
        at = start + to.len();
    }
    assert!(found > 0, "{from:?} is not in the component");
    edited
}

#[tokio::test]
async fn settings_are_checked_against_the_config_schema_and_reach_the_plugin() {
    use komander_plugin_host::PluginEngine;

    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let guest = guests::bytes("komander_test_guest");
    // A build whose schema is no JSON schema is refused at install.
    let broken = with_manifest_edit(&guest, r#"{"type": "object","#, r#"{"type": "objekt","#);
    let (status, answer) = api
        .send(upload("/api/v1/plugins", ADMIN_TOKEN, broken))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer.to_string().contains("not a valid JSON schema"),
        "{answer}"
    );

    install_granted(&api, guest.clone()).await;
    let config = "/api/v1/plugins/komander.test-guest/config";
    let (_, fresh) = api.call(Method::GET, config, Some(ADMIN_TOKEN), None).await;
    assert_eq!(fresh, json!({"settings": {}}));
    let alice = api.user("alice").await;
    let (status, _) = api
        .call(
            Method::PUT,
            config,
            Some(&alice),
            Some(json!({"settings": {"region": "eu"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Every problem is named by where it is; nothing is stored.
    let (status, refused) = api
        .call(
            Method::PUT,
            config,
            Some(ADMIN_TOKEN),
            Some(json!({"settings": {"region": "mars", "replicas": 0, "colour": "red"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["field"], "settings");
    let message = refused["error"]["message"].as_str().unwrap();
    for place in ["/region", "/replicas", "colour"] {
        assert!(message.contains(place), "{place} in {message}");
    }
    let (_, unchanged) = api.call(Method::GET, config, Some(ADMIN_TOKEN), None).await;
    assert_eq!(unchanged, fresh);

    let settings = json!({"settings": {"region": "eu", "replicas": 2}});
    let (status, set) = api
        .call(
            Method::PUT,
            config,
            Some(ADMIN_TOKEN),
            Some(settings.clone()),
        )
        .await;
    assert_eq!((status, &set), (StatusCode::OK, &settings));
    // A call gets them through the config capability.
    let engine = PluginEngine::new(None).unwrap();
    let plugin = engine.load(guest.clone()).await.unwrap();
    let context = api
        .app
        .plugin_call("komander.test-guest", Some("p1".into()))
        .await
        .unwrap()
        .build();
    let got = engine
        .validate(
            &plugin,
            context,
            spec("p1", vec![], &[("behavior", "config")]),
        )
        .await
        .unwrap();
    let got: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(got, settings["settings"]);

    // An upgrade whose schema refuses the settings is refused, and changes nothing.
    let stricter = with_manifest_edit(&guest, r#""minimum": 1}"#, r#""minimum": 5}"#);
    let (status, answer) = api
        .send(upload(
            "/api/v1/plugins/komander.test-guest/upgrade",
            ADMIN_TOKEN,
            stricter.clone(),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.to_string().contains("/replicas"), "{answer}");
    let (_, plugin_view) = api
        .call(
            Method::GET,
            "/api/v1/plugins/komander.test-guest",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(plugin_view["sha256"], komander_plugin_host::digest(&guest));
    // With settings it accepts, the same upgrade goes through.
    let (status, _) = api
        .call(
            Method::PUT,
            config,
            Some(ADMIN_TOKEN),
            Some(json!({"settings": {"region": "us", "replicas": 5}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = api
        .send(upload(
            "/api/v1/plugins/komander.test-guest/upgrade",
            ADMIN_TOKEN,
            stricter.clone(),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // A build that renames a setting: its schema refuses the current settings, and the
    // current schema the new ones. The upgrade takes the new settings in the same step.
    let renamed = with_manifest_edit(&stricter, r#""region""#, r#""bucket""#);
    let upgrade = "/api/v1/plugins/komander.test-guest/upgrade";
    let with_settings = |settings: &str| {
        let mut url = reqwest::Url::parse("http://komander.test/").unwrap();
        url.query_pairs_mut().append_pair("settings", settings);
        let query = url.query().unwrap_or_default();
        upload(&format!("{upgrade}?{query}"), ADMIN_TOKEN, renamed.clone())
    };
    let (status, _) = api
        .call(
            Method::PUT,
            config,
            Some(ADMIN_TOKEN),
            Some(json!({"settings": {"bucket": "eu", "replicas": 5}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the current schema refuses"
    );
    let (status, answer) = api
        .send(upload(upgrade, ADMIN_TOKEN, renamed.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer.to_string().contains("--config"),
        "the refusal says how out: {answer}"
    );
    for (bad, why) in [
        (r#"{"bucket": "eu", "replicas": 0}"#, "/replicas"),
        (r#"{"region": "eu", "replicas": 5}"#, "region"),
        (r#"["bucket"]"#, "not a JSON object"),
    ] {
        let (status, answer) = api.send(with_settings(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert_eq!(answer["error"]["field"], "settings", "{answer}");
        assert!(answer.to_string().contains(why), "{why} in {answer}");
    }
    let (_, kept) = api.call(Method::GET, config, Some(ADMIN_TOKEN), None).await;
    assert_eq!(kept, json!({"settings": {"region": "us", "replicas": 5}}));
    let (status, answer) = api
        .send(with_settings(r#"{"bucket": "eu", "replicas": 5}"#))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["sha256"], komander_plugin_host::digest(&renamed));
    let (_, upgraded) = api.call(Method::GET, config, Some(ADMIN_TOKEN), None).await;
    assert_eq!(
        upgraded,
        json!({"settings": {"bucket": "eu", "replicas": 5}})
    );

    // A disabled plugin gets no call context.
    api.call(
        Method::POST,
        "/api/v1/plugins/komander.test-guest/disable",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert!(
        api.app
            .plugin_call("komander.test-guest", None)
            .await
            .is_err()
    );
}

/// GETs a plugin from a running server, waiting (at most 60 s) until `ready` holds for it.
async fn plugin_when(
    server: &ServerProcess,
    id: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let client = ServerProcess::client();
    let url = format!("{}/api/v1/plugins/{id}", server.base);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let response = client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            let plugin: serde_json::Value = response.json().await.unwrap();
            if ready(&plugin) {
                return plugin;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "plugin {id} never became ready: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Upgrades `komander.compose` on a running server to the build `bytes`, as an admin.
async fn upgrade_compose(server: &ServerProcess, bytes: Vec<u8>) {
    let response = ServerProcess::client()
        .post(format!(
            "{}/api/v1/plugins/komander.compose/upgrade",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn first_party_plugins_install_at_first_start_and_upgrade_like_any_other() {
    let compose = komander_first_party::PLUGINS
        .iter()
        .find(|p| p.name == "komander_compose")
        .expect("the Compose runtime is first-party");
    let mut server = ServerProcess::start(&[], "info");
    let installed = plugin_when(&server, "komander.compose", |_| true).await;
    assert_eq!(installed["status"], "enabled");
    assert_eq!(installed["world"], "docker");
    assert_eq!(installed["version"], "0.1.0");
    assert_eq!(installed["granted"], json!(["docker", "progress"]));
    assert_eq!(
        installed["sha256"],
        komander_plugin_host::digest(compose.bytes)
    );

    // An admin upgrades it like any other plugin; a restart does not take that back.
    let newer = with_manifest_edit(
        compose.bytes,
        r#"version = "0.1.0""#,
        r#"version = "0.1.9""#,
    );
    upgrade_compose(&server, newer.clone()).await;
    server.restart(&[], "info");
    server.wait_for_first_party_plugins();
    let kept = plugin_when(&server, "komander.compose", |_| true).await;
    assert_eq!(kept["version"], "0.1.9");
    assert_eq!(kept["sha256"], komander_plugin_host::digest(&newer));

    // Uninstalled, it comes back at the next start (disable it to stop using it).
    let response = ServerProcess::client()
        .delete(format!("{}/api/v1/plugins/komander.compose", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    server.restart(&[], "info");
    let back = plugin_when(&server, "komander.compose", |p| p["version"] == "0.1.0").await;
    assert_eq!(back["status"], "enabled");

    // An older build installed (say, by a restore) is upgraded to the binary's at start.
    let older = with_manifest_edit(
        compose.bytes,
        r#"version = "0.1.0""#,
        r#"version = "0.0.9""#,
    );
    upgrade_compose(&server, older).await;
    server.restart(&[], "info");
    let upgraded = plugin_when(&server, "komander.compose", |p| p["version"] == "0.1.0").await;
    assert_eq!(
        upgraded["sha256"],
        komander_plugin_host::digest(compose.bytes)
    );
    assert_eq!(upgraded["granted"], json!(["docker", "progress"]));
}

/// Answers a request to a running server as admin: its status and its JSON body.
async fn admin_call(
    server: &ServerProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (StatusCode, serde_json::Value) {
    let mut request = ServerProcess::client()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(bytes) = body {
        request = request
            .header(header::CONTENT_TYPE, "application/wasm")
            .body(bytes);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_runtime_built_for_0_1_is_refused_and_an_installed_one_is_marked_incompatible_at_start() {
    use reqwest::Method;
    let mut server = ServerProcess::start(&[], "info");
    let old = guests::bytes("komander_test_guest_v0_1");
    let (status, refused) =
        admin_call(&server, Method::POST, "/api/v1/plugins", Some(old.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "plugin refused: this runtime is built for komander:runtime@0.1.0; this Komander runs \
         runtimes of komander:runtime@0.2.0: rebuild it with the 0.2 SDK (see wit/CHANGELOG.md)"
    );
    let (_, listed) = admin_call(&server, Method::GET, "/api/v1/plugins", None).await;
    assert!(
        !listed.to_string().contains("komander.test-guest"),
        "nothing installed: {listed}"
    );

    // A 0.2 build installed, named by an environment; then, as if an earlier Komander had
    // installed it, its stored component is the 0.1 build of the same plugin.
    let current = guests::bytes("komander_test_guest");
    let (status, plugin) = admin_call(
        &server,
        Method::POST,
        "/api/v1/plugins?grant_all=true",
        Some(current.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["status"], "enabled");
    server.cli_ok(&["project", "create", "shop"]);
    server.cli_ok(&[
        "environment",
        "create",
        "--project",
        "shop",
        "dev",
        "--runtime",
        "komander.test-guest",
    ]);
    server.cli_ok(&[
        "deployment",
        "create",
        "--project",
        "shop",
        "--environment",
        "dev",
        "app",
    ]);
    server.stop();
    let stored = server
        .data_dir
        .path()
        .join("data/plugins")
        .join(format!("{}.wasm", komander_plugin_host::digest(&current)));
    assert!(stored.exists(), "{} is kept", stored.display());
    std::fs::write(&stored, &old).unwrap();

    // At start it is marked incompatible, and the server serves.
    server.restart(&[], "info");
    let marked = plugin_when(&server, "komander.test-guest", |p| {
        p["status"] == "incompatible"
    })
    .await;
    assert_eq!(marked["kind"], "runtime");
    let (status, _) = admin_call(&server, Method::GET, "/api/v1/plugins", None).await;
    assert_eq!(status, StatusCode::OK);
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("an installed plugin is incompatible"), "{log}");

    // It cannot be enabled, and its environment's operations answer 409 naming it.
    let (status, refused) = admin_call(
        &server,
        Method::POST,
        "/api/v1/plugins/komander.test-guest/enable",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is incompatible"),
        "{refused}"
    );
    let (status, refused) = admin_call(
        &server,
        Method::GET,
        "/api/v1/projects/shop/environments/dev/deployments/app/export",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"komander.test-guest\"") && message.contains("is incompatible"),
        "{message}"
    );

    // Upgraded to a 0.2 build, it runs again.
    let newer = with_manifest_edit(&current, r#"version = "0.1.0""#, r#"version = "0.1.1""#);
    let (status, upgraded) = admin_call(
        &server,
        Method::POST,
        "/api/v1/plugins/komander.test-guest/upgrade",
        Some(newer),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    assert_eq!(upgraded["status"], "enabled");
    assert_eq!(upgraded["version"], "0.1.1");
}

#[test]
fn every_guest_is_tested() {
    guests::every_guest_is_tested();
}
