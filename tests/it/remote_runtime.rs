//! A remote runtime runs deployments through the server like any other: the example
//! `webhook-runtime`, installed and granted through the REST API, applies, plans, reads the
//! status of and destroys a deployment against a fake deployer the test serves on 127.0.0.1,
//! through a connection the admin allowed to reach loopback. A failing deployer fails the
//! apply naming what it answered; a connection not allowed loopback, and a disabled runtime,
//! are refused; a secret variable's value reaches the deployer, written in by the host, and
//! nothing else.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use komander_e2e::{Backend, TestApi};
use serde_json::{Value, json};

use crate::runs::{call, expect, lines, run};

const WEBHOOK: &str = "example.webhook-runtime";
const PLUGIN: &str = "/api/v1/plugins/example.webhook-runtime";
const DEPLOYMENT: &str = "/api/v1/projects/shop/environments/hooks/deployments/app";
const IMAGE: &str = "registry.example/web:1";
const CREDENTIAL: &str = "Bearer deployer-token";

/// One request the fake deployer received.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) method: Method,
    /// The path with its query.
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    /// The JSON body; `Null` when empty.
    pub(crate) body: Value,
}

/// A deployer as the webhook runtime's contract describes it, holding what it was sent.
#[derive(Clone, Default)]
pub(crate) struct Deployer {
    received: Arc<Mutex<Vec<Received>>>,
    /// What runs, by deployment id, then service: the body of the service's last PUT.
    running: Arc<Mutex<BTreeMap<String, BTreeMap<String, Value>>>>,
    /// While set, every PUT answers 500.
    failing: Arc<AtomicBool>,
}

impl Deployer {
    /// Serves the deployer on 127.0.0.1; answers its base URL.
    pub(crate) async fn start(&self) -> String {
        let app = Router::new().fallback(answer).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// The deployer's side of the contract: `PUT /deployments/{id}/services/{name}`,
/// `GET /deployments/{id}` (404 when nothing runs; secret variables left out) and
/// `DELETE /deployments/{id}`.
async fn answer(
    State(deployer): State<Deployer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    deployer.received.lock().unwrap().push(Received {
        method: method.clone(),
        path: uri.to_string(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned()),
        body: json.clone(),
    });
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let mut running = deployer.running.lock().unwrap();
    match (method, segments.as_slice()) {
        (Method::PUT, ["deployments", id, "services", name]) => {
            if deployer.failing.load(Ordering::SeqCst) {
                return (StatusCode::INTERNAL_SERVER_ERROR, "the deployer is down").into_response();
            }
            running
                .entry((*id).to_owned())
                .or_default()
                .insert((*name).to_owned(), json);
            StatusCode::OK.into_response()
        }
        (Method::GET, ["deployments", id]) => {
            let Some(services) = running.get(*id) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let services: serde_json::Map<String, Value> = services
                .iter()
                .map(|(name, put)| {
                    let plain: Vec<&Value> = put["env"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|e| e["secret"] == false)
                        .collect();
                    let image = &put["image"];
                    let state = json!({"state": "running", "message": format!("serving {image}"),
                                       "image": image, "env": plain});
                    (name.clone(), state)
                })
                .collect();
            Json(json!({ "services": services })).into_response()
        }
        (Method::DELETE, ["deployments", id]) => {
            running.remove(*id);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Sets the runtime's `deployer` connection to `base_url`, allowed to reach loopback or not.
async fn connect(api: &TestApi, base_url: &str, allow_private: bool) {
    let body = json!({"base_url": base_url, "credential": CREDENTIAL,
                      "allow_private": allow_private});
    let path = format!("{PLUGIN}/connections/deployer");
    expect(api, Method::PUT, &path, Some(body), StatusCode::OK).await;
}

/// An instance with the webhook runtime installed, granted and connected to `deployer`;
/// project `shop`, environment `hooks` running on it, and deployment `app` with service `web`
/// (image [`IMAGE`], variable `MODE=one`). Answers the deployment's id and the deployer's URL.
async fn instance(deployer: &Deployer) -> (TestApi, String, String) {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    let plugin = api.install_plugin("webhook_runtime").await;
    assert_eq!(plugin["world"], "remote", "{plugin}");
    let base_url = deployer.start().await;
    connect(&api, &base_url, true).await;
    let unasked = expect(
        &api,
        Method::PUT,
        &format!("{PLUGIN}/connections/other"),
        Some(json!({"base_url": base_url})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        unasked["error"]["message"],
        format!("plugin {WEBHOOK:?} asks for the connections deployer, not \"other\""),
        "the names, not Rust's debug output"
    );
    for (path, body) in [
        ("/api/v1/projects".to_owned(), json!({"name": "shop"})),
        (
            "/api/v1/projects/shop/environments".to_owned(),
            json!({"name": "hooks", "runtime": WEBHOOK}),
        ),
        (
            "/api/v1/projects/shop/environments/hooks/deployments".to_owned(),
            json!({"name": "app"}),
        ),
        (
            format!("{DEPLOYMENT}/services"),
            json!({"name": "web", "image": IMAGE}),
        ),
    ] {
        expect(&api, Method::POST, &path, Some(body), StatusCode::CREATED).await;
    }
    set_variable(&api, "MODE", json!({"value": "one"})).await;
    let id = expect(&api, Method::GET, DEPLOYMENT, None, StatusCode::OK).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (api, id, base_url)
}

async fn set_variable(api: &TestApi, name: &str, body: Value) {
    let path = format!("{DEPLOYMENT}/services/web/variables/{name}");
    let (status, answer) = call(api, Method::PUT, &path, Some(body)).await;
    assert!(status.is_success(), "{path}: {answer}");
}

async fn get(api: &TestApi, what: &str) -> Value {
    expect(
        api,
        Method::GET,
        &format!("{DEPLOYMENT}/{what}"),
        None,
        StatusCode::OK,
    )
    .await
}

/// The kinds and states of the deployment's operations, newest first.
async fn history(api: &TestApi) -> Vec<(String, String)> {
    get(api, "operations").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_runtime_applies_plans_reads_status_and_destroys_through_its_connection() {
    let deployer = Deployer::default();
    let (api, id, _) = instance(&deployer).await;
    let plan = get(&api, "plan").await;
    assert_eq!(
        plan["changes"],
        json!([{"action": "create", "kind": "service", "name": "web", "reason": "not deployed"}]),
        "{plan}"
    );

    let applied = run(&api, DEPLOYMENT, "apply").await;
    let progress = lines(&api, DEPLOYMENT, &applied).await;
    assert_eq!(applied["state"], "done", "{applied}: {progress:?}");
    assert_eq!(
        applied["target"],
        Value::Null,
        "a remote runtime has no target"
    );
    assert!(progress.iter().any(|l| l == "deployed web"), "{progress:?}");
    let puts: Vec<Received> = deployer
        .received()
        .into_iter()
        .filter(|r| r.method == Method::PUT)
        .collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0].path, format!("/deployments/{id}/services/web"));
    assert_eq!(
        puts[0].body,
        json!({"image": IMAGE, "env": [{"name": "MODE", "value": "one", "secret": false}]})
    );
    assert!(
        deployer
            .received()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(CREDENTIAL)),
        "the host adds the connection's credential to every request"
    );

    let status = get(&api, "status").await;
    assert_eq!(
        status["services"],
        json!([{"service": "web", "state": "running",
                "message": format!("serving \"{IMAGE}\""), "health": "none",
                "restarts": 0, "since": null, "replicas_running": 1}]),
        "{status}"
    );
    assert_eq!(status["drift"], json!([]), "{status}");
    assert_eq!(get(&api, "plan").await["changes"], json!([]));

    // A changed variable shows in the plan and as drift, with its reason.
    set_variable(&api, "MODE", json!({"value": "two"})).await;
    let plan = get(&api, "plan").await;
    assert_eq!(
        plan["changes"],
        json!([{"action": "update", "kind": "service", "name": "web",
                "reason": "variable MODE changed"}]),
        "{plan}"
    );
    assert_eq!(get(&api, "status").await["drift"], plan["changes"]);

    let destroyed = run(&api, DEPLOYMENT, "destroy?volumes=true").await;
    assert_eq!(destroyed["state"], "done", "{destroyed}");
    let last = deployer.received().pop().unwrap();
    assert_eq!(
        (last.method, last.path),
        (Method::DELETE, format!("/deployments/{id}?volumes=true"))
    );
    let status = get(&api, "status").await;
    assert_eq!(status["services"][0]["state"], "missing", "{status}");
    assert_eq!(
        history(&api).await,
        [
            ("destroy".to_owned(), "done".to_owned()),
            ("apply".to_owned(), "done".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_deployer_a_connection_without_loopback_and_a_disabled_runtime_are_refused() {
    let deployer = Deployer::default();
    let (api, id, base_url) = instance(&deployer).await;

    deployer.failing.store(true, Ordering::SeqCst);
    let failed = run(&api, DEPLOYMENT, "apply").await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "the deployer answered 500 to /deployments/{id}/services/web"
        )),
        "{message}"
    );
    deployer.failing.store(false, Ordering::SeqCst);

    // Loopback is reachable only when the admin's grant of the connection says so.
    connect(&api, &base_url, false).await;
    let before = deployer.received().len();
    let refused = run(&api, DEPLOYMENT, "apply").await;
    assert_eq!(refused["state"], "failed", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("resolves to the non-public address 127.0.0.1")
            && message.contains("does not allow private, loopback or metadata addresses"),
        "{message}"
    );
    assert_eq!(deployer.received().len(), before, "nothing reached it");

    // A disabled runtime: 409 naming it, and no operation starts.
    connect(&api, &base_url, true).await;
    expect(
        &api,
        Method::POST,
        &format!("{PLUGIN}/disable"),
        None,
        StatusCode::OK,
    )
    .await;
    let (status, answer) = call(&api, Method::POST, &format!("{DEPLOYMENT}/apply"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "the runtime plugin \"example.webhook-runtime\" of environment \"hooks\" is disabled"
        ),
        "{message}"
    );
    assert_eq!(history(&api).await.len(), 2, "no third operation");
    expect(
        &api,
        Method::POST,
        &format!("{PLUGIN}/enable"),
        None,
        StatusCode::OK,
    )
    .await;
    let applied = run(&api, DEPLOYMENT, "apply").await;
    assert_eq!(applied["state"], "done", "{applied}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_variable_reaches_the_remote_deployer_and_nothing_else() {
    const SECRET: &str = "hunter2-\"quoted\"-s3cret";
    let deployer = Deployer::default();
    let (api, id, _) = instance(&deployer).await;
    // A secret without a value is refused before anything starts, naming it.
    set_variable(&api, "TOKEN", json!({"secret": true})).await;
    let (status, answer) = call(&api, Method::POST, &format!("{DEPLOYMENT}/apply"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secret variables without a value: web.TOKEN"),
        "{answer}"
    );
    assert!(history(&api).await.is_empty());

    set_variable(&api, "TOKEN", json!({"value": SECRET, "secret": true})).await;
    let applied = run(&api, DEPLOYMENT, "apply").await;
    let progress = lines(&api, DEPLOYMENT, &applied).await;
    assert_eq!(applied["state"], "done", "{applied}: {progress:?}");
    let put = deployer
        .received()
        .into_iter()
        .find(|r| r.method == Method::PUT)
        .unwrap();
    assert_eq!(put.path, format!("/deployments/{id}/services/web"));
    assert_eq!(
        put.body["env"],
        json!([
            {"name": "MODE", "value": "one", "secret": false},
            {"name": "TOKEN", "value": SECRET, "secret": true}
        ]),
        "the host wrote the value in, escaped for JSON"
    );

    // Nowhere in what the server answers about the deployment.
    let op = format!("operations/{}", applied["id"].as_str().unwrap());
    let mut answers = vec![
        json!(progress),
        get(&api, &op).await,
        get(&api, "operations").await,
        get(&api, "status").await,
        get(&api, "plan").await,
        expect(&api, Method::GET, DEPLOYMENT, None, StatusCode::OK).await,
        get(&api, "services/web/variables").await,
    ];
    let (_, audit) = call(&api, Method::GET, "/api/v1/projects/shop/audit", None).await;
    answers.push(audit);
    for answer in answers {
        let text = answer.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "the secret leaked: {text}"
        );
    }
}
