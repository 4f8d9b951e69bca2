//! Hostile plugins, each in a test: every one fails its call with a typed error inside its
//! budget, and the host keeps serving other work meanwhile. Capabilities answer `denied`
//! without their grant.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, http::HeaderMap, routing::get};
use komander_plugin_host::{
    PluginError,
    capabilities::{
        CallBuilder, CallContext, Connection, ConnectionGrant, KvScope, MemoryKv, ProgressEvent,
        ProgressSink,
    },
    manifest::{PluginKind, RuntimeWorld},
    runtime::{DeploymentSpec, GuestError, RuntimeCallError, ServiceSource, ServiceSpec},
};

use crate::loading;

const ALL: &[&str] = &["log", "config", "kv", "connections", "progress"];

pub fn spec(settings: &[(&str, &str)]) -> DeploymentSpec {
    DeploymentSpec {
        project_id: "p-id".into(),
        project: "shop".into(),
        environment_id: "e-id".into(),
        environment: "dev".into(),
        deployment_id: "d-id".into(),
        deployment: "mine".into(),
        services: vec![ServiceSpec::new(
            "s-id",
            "web",
            ServiceSource::Image("busybox:1".into()),
        )],
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn context(granted: &[&str]) -> CallContext {
    call(granted).build()
}

/// Starts the context of a call of the test guest with `granted` capabilities.
fn call(granted: &[&str]) -> CallBuilder {
    loading::call("komander_test_guest", granted)
}

#[tokio::test]
async fn the_test_guest_loads_as_a_remote_runtime_and_answers() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    assert_eq!(plugin.kind, PluginKind::Runtime(RuntimeWorld::Remote));
    assert_eq!(plugin.manifest.id, "komander.test-guest");
    assert_eq!(
        plugin.wit_version,
        komander_plugin_host::RUNTIME_WIT_VERSION
    );
    let warnings = engine
        .validate(&plugin, context(ALL), spec(&[]))
        .await
        .unwrap();
    assert_eq!(warnings, ["1 services"]);
    // apply-step is a step function: the host drives it with the continuation.
    let mut continuation = None;
    let mut steps = 0;
    loop {
        let step = engine
            .apply_step(&plugin, context(ALL), spec(&[]), continuation)
            .await
            .unwrap();
        steps += 1;
        if step.done {
            break;
        }
        continuation = step.continuation;
    }
    assert_eq!(steps, 2);
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_its_cpu_budget() {
    let (engine, mut plugin) = loading::load("komander_test_guest").await;
    plugin.limits.cpu_budget = Duration::from_millis(300);
    let started = Instant::now();
    let err = engine
        .validate(&plugin, context(ALL), spec(&[("behavior", "loop")]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RuntimeCallError::Plugin(PluginError::Timeout { .. })),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_looping_guest_yields_so_the_server_keeps_serving() {
    let (engine, mut plugin) = loading::load("komander_test_guest").await;
    plugin.limits.cpu_budget = Duration::from_millis(500);
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let err = engine
        .validate(&plugin, context(ALL), spec(&[("behavior", "loop")]))
        .await
        .unwrap_err();
    counter.abort();
    assert!(matches!(
        err,
        RuntimeCallError::Plugin(PluginError::Timeout { .. })
    ));
    // On one thread, the other task ran while the guest looped for 500 ms.
    assert!(
        ticks.load(Ordering::Relaxed) >= 20,
        "{} ticks",
        ticks.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_its_cap() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    let err = engine
        .validate(&plugin, context(ALL), spec(&[("behavior", "memory-bomb")]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeCallError::Plugin(PluginError::OutOfMemory { limit_bytes, .. })
                if limit_bytes == komander_plugin_host::sandbox::RUNTIME_MEMORY_BYTES
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_panic_is_a_crash_and_the_next_call_is_fresh() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    let err = engine
        .validate(&plugin, context(ALL), spec(&[("behavior", "panic")]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeCallError::Plugin(PluginError::Crashed { plugin, .. }) if plugin == "komander.test-guest@0.1.0"),
        "{err:?}"
    );
    let warnings = engine
        .validate(&plugin, context(ALL), spec(&[]))
        .await
        .unwrap();
    assert_eq!(warnings, ["1 services"]);
}

#[tokio::test]
async fn nothing_a_call_writes_reaches_the_next_one() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    for _ in 0..20 {
        let answer = engine
            .validate(&plugin, context(ALL), spec(&[("behavior", "remember")]))
            .await
            .unwrap();
        assert_eq!(answer, ["1"], "a fresh instance sees a fresh memory");
    }
}

#[tokio::test]
async fn log_spam_is_capped_and_print_spam_fails_typed() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    let started = Instant::now();
    let warnings = engine
        .validate(&plugin, context(ALL), spec(&[("behavior", "log-spam")]))
        .await
        .unwrap();
    assert_eq!(warnings, ["spammed"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = engine
        .validate(&plugin, context(ALL), spec(&[("behavior", "print-spam")]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RuntimeCallError::Plugin(PluginError::Crashed { .. })),
        "{err:?}"
    );
}

fn denied(err: RuntimeCallError) -> String {
    match err {
        RuntimeCallError::Guest {
            error: GuestError::Denied(message),
            ..
        } => message,
        other => panic!("expected denied, got {other:?}"),
    }
}

#[tokio::test]
async fn ungranted_capabilities_answer_denied() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    for (behavior, capability) in [("config", "config"), ("kv", "kv"), ("http", "connections")] {
        let granted: Vec<&str> = ALL.iter().copied().filter(|c| *c != capability).collect();
        let err = engine
            .validate(&plugin, context(&granted), spec(&[("behavior", behavior)]))
            .await
            .unwrap_err();
        assert!(denied(err).contains(capability), "{behavior}");
    }
}

#[tokio::test]
async fn granted_config_kv_and_progress_work_per_scope() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    let ctx = call(ALL).config(Arc::from(r#"{"region": "eu"}"#)).build();
    let warnings = engine
        .validate(&plugin, ctx, spec(&[("behavior", "config")]))
        .await
        .unwrap();
    assert_eq!(warnings, [r#"{"region": "eu"}"#]);
    let kv = Arc::new(MemoryKv::default());
    let scope = KvScope {
        install: "install-1".into(),
        project: Some("p-id".into()),
    };
    let ctx = call(ALL).kv(kv.clone(), scope.clone()).build();
    let warnings = engine
        .validate(&plugin, ctx, spec(&[("behavior", "kv")]))
        .await
        .unwrap();
    assert_eq!(warnings, ["1"]);
    use komander_plugin_host::capabilities::KvStore;
    assert_eq!(kv.get(&scope, "visits").await.unwrap(), Some(b"1".to_vec()));
    let progress = ProgressSink::default();
    let ctx = call(ALL).progress(progress.clone()).build();
    engine
        .validate(&plugin, ctx, spec(&[("behavior", "progress")]))
        .await
        .unwrap();
    assert_eq!(
        *progress.lock().unwrap(),
        [
            ProgressEvent::Step {
                step: "validate".into(),
                done: 1,
                total: 2
            },
            ProgressEvent::Message("half way".into())
        ]
    );
}

/// A local HTTP server that says whether a credential arrived.
async fn api() -> std::net::SocketAddr {
    let app = Router::new().route(
        "/v1/hello",
        get(|headers: HeaderMap| async move {
            match headers.get("authorization") {
                Some(v) if v == "Bearer host-held-token" => "hello, authenticated",
                _ => "hello, anonymous",
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

fn connection(base: &str, allow_private: bool) -> Arc<Connection> {
    Arc::new(Connection::new(
        "api",
        base.parse().unwrap(),
        Some("Bearer host-held-token".parse().unwrap()),
        ConnectionGrant {
            allow_private,
            path_prefixes: vec!["/v1/".into()],
            requests_per_minute: None,
        },
    ))
}

#[tokio::test]
async fn connections_block_private_addresses_unless_granted_and_hide_the_credential() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    let address = api().await;
    let http = |base: String, allow_private: bool, path: &'static str| {
        let ctx = call(ALL)
            .connections(vec![connection(&base, allow_private)])
            .build();
        engine.validate(&plugin, ctx, spec(&[("behavior", "http"), ("path", path)]))
    };
    let err = http(format!("http://{address}"), false, "/v1/hello")
        .await
        .unwrap_err();
    assert!(denied(err).contains("127.0.0.1"));
    let err = http("http://169.254.169.254".into(), false, "/v1/hello")
        .await
        .unwrap_err();
    assert!(
        denied(err).contains("169.254.169.254"),
        "the metadata service is blocked"
    );
    let err = http("http://localhost:1".into(), false, "/v1/hello")
        .await
        .unwrap_err();
    assert!(denied(err).contains("non-public"));
    let err = http(format!("http://{address}"), true, "/admin")
        .await
        .unwrap_err();
    assert!(denied(err).contains("outside the prefixes"));
    let answer = http(format!("http://{address}"), true, "/v1/hello")
        .await
        .unwrap();
    assert_eq!(
        answer,
        ["200", "hello, authenticated"],
        "the host added the credential"
    );
}

/// URL parsing drops tabs and line breaks, so `/v1/.\t./.\t./admin` would become `/admin`:
/// such a request is refused naming the character, and the server sees nothing.
#[tokio::test]
async fn a_path_with_a_control_character_reaches_nothing() {
    let (engine, plugin) = loading::load("komander_test_guest").await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let app = {
        let seen = seen.clone();
        Router::new().fallback(move |uri: axum::http::Uri| async move {
            seen.lock().unwrap().push(uri.to_string());
            "reached"
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = |path: &'static str| {
        let ctx = call(ALL)
            .connections(vec![connection(&format!("http://{address}"), true)])
            .build();
        engine.validate(&plugin, ctx, spec(&[("behavior", "http"), ("path", path)]))
    };
    for (path, named) in [
        ("/v1/.\t./.\t./admin", "'\\t'"),
        ("/v1/.\r./.\n./admin", "'\\r'"),
        ("/v1/hello\n", "'\\n'"),
    ] {
        match http(path).await {
            Err(RuntimeCallError::Guest {
                error: GuestError::InvalidInput(message),
                ..
            }) => assert!(
                message.contains("control character") && message.contains(named),
                "{path:?}: {message}"
            ),
            other => panic!("{path:?}: expected invalid-input, got {other:?}"),
        }
    }
    assert_eq!(
        *seen.lock().unwrap(),
        Vec::<String>::new(),
        "nothing was sent"
    );
    // The listener does see a request inside the prefix.
    assert_eq!(http("/v1/hello").await.unwrap(), ["200", "reached"]);
    assert_eq!(*seen.lock().unwrap(), ["/v1/hello"]);
}

#[tokio::test]
async fn the_example_webhook_runtime_deploys_through_its_connection() {
    let (engine, plugin) = loading::load("webhook_runtime").await;
    let received = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let app = {
        let received = received.clone();
        Router::new().route(
            "/deployments/{deployment}/services/{service}",
            axum::routing::put(
                move |axum::extract::Path((d, s)): axum::extract::Path<(String, String)>,
                      headers: HeaderMap,
                      body: String| async move {
                    let auth = headers.get("authorization").is_some();
                    received
                        .lock()
                        .unwrap()
                        .push(format!("{d}/{s} auth={auth} {body}"));
                    "ok"
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut continuation = None;
    for _ in 0..10 {
        let ctx = loading::call("webhook_runtime", &["connections", "log", "progress"])
            .label("example")
            .connections(vec![Arc::new(Connection::new(
                "deployer",
                format!("http://{address}").parse().unwrap(),
                Some("Bearer deployer-token".parse().unwrap()),
                ConnectionGrant {
                    allow_private: true,
                    path_prefixes: vec![],
                    requests_per_minute: Some(60),
                },
            ))])
            .build();
        let step = engine
            .apply_step(&plugin, ctx, spec(&[]), continuation)
            .await
            .unwrap();
        if step.done {
            break;
        }
        continuation = step.continuation;
    }
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(
        received[0].starts_with("d-id/web auth=true"),
        "{received:?}"
    );
    assert!(received[0].contains("busybox:1"), "{received:?}");
}
