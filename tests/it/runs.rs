//! Deployments the server runs, against the test Docker Engine with the first-party Compose
//! runtime: an apply through the REST API answers 202 and runs in the background (validate,
//! plan, apply steps, health wait, images pinned), the service answers over HTTP on its
//! published port, plan and status show nothing to change, a changed variable shows in the
//! plan with its reason and a second apply replaces the container, the logs hold what the
//! container printed, and a destroy with volumes leaves nothing labelled with the deployment.
//! Bad input is refused before any operation or container exists.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use bollard::{
    Docker,
    models::{ContainerCreateBody, HostConfig, PortBinding},
    query_parameters::{
        CreateContainerOptions, ListContainersOptions, RemoveContainerOptions,
        StartContainerOptions,
    },
};
use komander_domain::{
    AuditId, DeploymentId, Executor, OperationId,
    api::{OperationKind, OperationState},
};
use komander_e2e::{ADMIN_TOKEN, Backend, TestApi, docker};
use komander_store::{AuditRecord, LEASE_TTL_MS, OperationRecord, StepRecord};
use serde_json::{Value, json};

pub(crate) async fn call(
    api: &TestApi,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    api.call(method, path, Some(ADMIN_TOKEN), body).await
}

pub(crate) async fn expect(
    api: &TestApi,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let (got, answer) = call(api, method, path, body).await;
    assert_eq!(got, status, "{path}: {answer}");
    answer
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The socket path of the test engine.
fn engine_socket() -> String {
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("the test engine");
    host.strip_prefix("unix://").unwrap_or(&host).to_owned()
}

/// An instance with the Compose runtime, the test engine as default target `local`, project
/// `project` (distinct per test: the runtime names Docker objects by slugs), environment `dev` (server executor) and the admin's deployment `app` with service
/// `web`: busybox printing `started $MODE` then serving HTTP on `port`.
pub(crate) async fn setup(project: &str, port: u16) -> Option<(TestApi, Docker, String)> {
    let e = format!("/api/v1/projects/{project}/environments/dev");
    let d = format!("{e}/deployments/app");
    let engine = docker::engine().await?;
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    let target = json!({"name": "local", "default": true,
        "endpoint": {"kind": "unix", "socket": engine_socket()}});
    expect(
        &api,
        Method::POST,
        "/api/v1/targets",
        Some(target),
        StatusCode::CREATED,
    )
    .await;
    for (path, body) in [
        ("/api/v1/projects".to_owned(), json!({"name": project})),
        (
            format!("/api/v1/projects/{project}/environments"),
            json!({"name": "dev", "runtime": "compose"}),
        ),
        (format!("{e}/deployments"), json!({"name": "app"})),
        (
            format!("{d}/services"),
            json!({"name": "web", "image": docker::IMAGE,
                   "command": ["/bin/busybox", "sh", "-c",
                               "echo started $MODE && exec /bin/busybox httpd -f -p 8080 -h /"],
                   "ports": [{"container": 8080, "host": port}]}),
        ),
    ] {
        expect(&api, Method::POST, &path, Some(body), StatusCode::CREATED).await;
    }
    set_variable(&api, &d, "MODE", "one").await;
    Some((api, engine, d))
}

pub(crate) async fn set_variable(api: &TestApi, d: &str, name: &str, value: &str) {
    let path = format!("{d}/services/web/variables/{name}");
    let (status, answer) = call(api, Method::PUT, &path, Some(json!({"value": value}))).await;
    assert!(status.is_success(), "{path}: {answer}");
}

/// Starts an operation (`apply`, `destroy?volumes=true`…) and waits (at most 90 s) until it
/// ended; answers it with its steps.
pub(crate) async fn run(api: &TestApi, d: &str, action: &str) -> Value {
    let started = expect(
        api,
        Method::POST,
        &format!("{d}/{action}"),
        None,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(started["state"], "running", "{started}");
    assert_eq!(started["executor"], "server");
    ended(api, d, started["id"].as_str().unwrap()).await
}

/// Every progress line of operation `op`.
pub(crate) async fn lines(api: &TestApi, d: &str, op: &Value) -> Vec<String> {
    let path = format!(
        "{d}/operations/{}/progress?limit=1000",
        op["id"].as_str().unwrap()
    );
    expect(api, Method::GET, &path, None, StatusCode::OK)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect()
}

fn step_names(op: &Value) -> Vec<String> {
    op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids of the containers labelled with the deployment `id`.
pub(crate) async fn containers(engine: &Docker, id: &str) -> Vec<String> {
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("dev.komander.deployment={id}")],
    )]);
    let mut ids: Vec<String> = engine
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    ids.sort();
    ids
}

/// The first line of an HTTP answer from 127.0.0.1:`port`, tried for at most 10 s.
async fn http_status_line(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let _ = stream
                .write_all(b"GET /bin/busybox HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .await;
            let mut head = vec![0; 64];
            if let Ok(n) = stream.read(&mut head).await
                && n > 0
            {
                let text = String::from_utf8_lossy(&head[..n]).into_owned();
                return text.lines().next().unwrap_or_default().to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing answers on 127.0.0.1:{port}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_runs_on_the_target_answers_over_http_replaces_what_changed_and_destroys() {
    let port = free_port();
    let Some((api, engine, d)) = setup("served", port).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    let plan = expect(
        &api,
        Method::GET,
        &format!("{d}/plan"),
        None,
        StatusCode::OK,
    )
    .await;
    assert!(!plan["changes"].as_array().unwrap().is_empty(), "{plan}");

    let first = run(&api, &d, "apply").await;
    assert_eq!(
        first["state"],
        "done",
        "{first}: {:?}",
        lines(&api, &d, &first).await
    );
    let names = step_names(&first);
    for step in ["validate", "plan", "apply #1", "health", "pin images"] {
        assert!(names.contains(&step.to_owned()), "{step} in {names:?}");
    }
    let progress = lines(&api, &d, &first).await;
    assert!(
        progress.iter().any(|l| l.starts_with("web: running")),
        "{progress:?}"
    );
    assert!(
        progress
            .iter()
            .any(|l| l.contains(docker::IMAGE) && l.contains("sha256:")),
        "the image is pinned: {progress:?}"
    );
    assert!(http_status_line(port).await.starts_with("HTTP/1."));
    let status = expect(
        &api,
        Method::GET,
        &format!("{d}/status"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["services"][0]["service"], "web");
    assert_eq!(status["services"][0]["state"], "running", "{status}");
    assert_eq!(status["drift"], json!([]), "{status}");
    let before = containers(&engine, &id).await;
    assert_eq!(before.len(), 1);

    set_variable(&api, &d, "MODE", "two").await;
    let plan = expect(
        &api,
        Method::GET,
        &format!("{d}/plan"),
        None,
        StatusCode::OK,
    )
    .await;
    let reasons: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert_eq!(plan["changes"][0]["action"], "update", "{plan}");
    assert!(reasons.iter().any(|r| r.contains("MODE")), "{plan}");
    let status = expect(
        &api,
        Method::GET,
        &format!("{d}/status"),
        None,
        StatusCode::OK,
    )
    .await;
    assert!(
        !status["drift"].as_array().unwrap().is_empty(),
        "drift shows: {status}"
    );
    let second = run(&api, &d, "apply").await;
    assert_eq!(second["state"], "done", "{second}");
    let after = containers(&engine, &id).await;
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "the changed service was replaced");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = expect(
            &api,
            Method::GET,
            &format!("{d}/services/web/logs?limit=50"),
            None,
            StatusCode::OK,
        )
        .await;
        let text: Vec<&str> = logs["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["line"].as_str().unwrap())
            .collect();
        if text.contains(&"started two") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the log holds what the container printed: {logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let history = expect(
        &api,
        Method::GET,
        &format!("{d}/operations"),
        None,
        StatusCode::OK,
    )
    .await;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["apply", "apply"]);

    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_eq!(destroyed["state"], "done", "{destroyed}");
    assert!(containers(&engine, &id).await.is_empty());
    docker::remove_deployment(&engine, &id).await;
}

/// Starts a container outside any deployment publishing 127.0.0.1:`port`; answers its name.
async fn publish_outside(engine: &Docker, port: u16) -> String {
    let outsider = format!("outsider-{port}");
    engine
        .create_container(
            Some(CreateContainerOptions {
                name: Some(outsider.clone()),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(docker::IMAGE.into()),
                exposed_ports: Some(vec!["8080/tcp".to_owned()]),
                host_config: Some(HostConfig {
                    port_bindings: Some(std::collections::HashMap::from([(
                        "8080/tcp".to_owned(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(port.to_string()),
                        }]),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    engine
        .start_container(&outsider, None::<StartContainerOptions>)
        .await
        .unwrap();
    outsider
}

/// Removes the container [`publish_outside`] started.
async fn remove_outsider(engine: &Docker, outsider: &str) {
    engine
        .remove_container(
            outsider,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
}

/// The id of the deployment at `d`.
pub(crate) async fn deployment_id(api: &TestApi, d: &str) -> String {
    expect(api, Method::GET, d, None, StatusCode::OK).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts that the deployment has no operation.
async fn nothing_ran(api: &TestApi, d: &str) {
    let history = expect(
        api,
        Method::GET,
        &format!("{d}/operations"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"], json!([]), "no operation was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_is_created() {
    let port = free_port();
    let Some((api, engine, d)) = setup("guarded", port).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;

    // A secret variable without a value.
    let (status, _) = call(
        &api,
        Method::PUT,
        &format!("{d}/services/web/variables/TOKEN"),
        Some(json!({"secret": true})),
    )
    .await;
    assert!(status.is_success());
    let (status, answer) = call(&api, Method::POST, &format!("{d}/apply"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web.TOKEN"),
        "{answer}"
    );
    nothing_ran(&api, &d).await;
    expect(
        &api,
        Method::DELETE,
        &format!("{d}/services/web/variables/TOKEN"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // A host port that a container outside the deployment publishes.
    let outsider = publish_outside(&engine, port).await;
    let (status, answer) = call(&api, Method::POST, &format!("{d}/apply"), None).await;
    remove_outsider(&engine, &outsider).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&port.to_string()) && message.contains(&outsider),
        "{answer}"
    );
    nothing_ran(&api, &d).await;

    // Limits above the target's maximums.
    let patch = json!({"policy": {"max_memory_bytes": 67108864}});
    expect(
        &api,
        Method::PATCH,
        "/api/v1/targets/local",
        Some(patch),
        StatusCode::OK,
    )
    .await;
    let patch = json!({"memory_bytes": 134217728});
    expect(
        &api,
        Method::PATCH,
        &format!("{d}/services/web"),
        Some(patch),
        StatusCode::OK,
    )
    .await;
    let (status, answer) = call(&api, Method::POST, &format!("{d}/apply"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum"),
        "{answer}"
    );
    nothing_ran(&api, &d).await;

    // A local environment is applied by `komander up`, not by the server.
    let local = json!({"name": "laptop", "runtime": "compose", "executor": "local"});
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/guarded/environments",
        Some(local),
        StatusCode::CREATED,
    )
    .await;
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/guarded/environments/laptop/deployments",
        Some(json!({"name": "app"})),
        StatusCode::CREATED,
    )
    .await;
    let (status, answer) = call(
        &api,
        Method::POST,
        "/api/v1/projects/guarded/environments/laptop/deployments/app/apply",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("komander up"),
        "{answer}"
    );

    // No target at all.
    expect(
        &api,
        Method::DELETE,
        "/api/v1/targets/local",
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (status, answer) = call(&api, Method::POST, &format!("{d}/apply"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "no_target", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("komander target create"),
        "{answer}"
    );
    nothing_ran(&api, &d).await;
    assert!(
        containers(&engine, &id).await.is_empty(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_service_fails_the_apply_naming_it_and_quoting_its_log() {
    let port = free_port();
    let Some((api, engine, d)) = setup("sickly", port).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    let patch = json!({
        "command": ["/bin/busybox", "sh", "-c", "echo about to be sick; exec /bin/busybox sleep 600"],
        "health_check": {"command": ["/bin/busybox", "false"], "interval_seconds": 1,
                         "timeout_seconds": 1, "retries": 2}});
    expect(
        &api,
        Method::PATCH,
        &format!("{d}/services/web"),
        Some(patch),
        StatusCode::OK,
    )
    .await;
    let op = run(&api, &d, "apply").await;
    assert_eq!(op["state"], "failed", "{op}");
    let message = op["message"].as_str().unwrap();
    assert!(
        message.contains("\"web\"") && message.contains("unhealthy"),
        "{message}"
    );
    assert!(
        message.contains("about to be sick"),
        "its last log lines: {message}"
    );
    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_eq!(destroyed["state"], "done", "{destroyed}");
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_keeps_the_containers_that_start_runs_again() {
    let port = free_port();
    let Some((api, engine, d)) = setup("paused", port).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    assert_eq!(run(&api, &d, "apply").await["state"], "done");
    let before = containers(&engine, &id).await;
    let stopped = run(&api, &d, "stop").await;
    assert_eq!(stopped["state"], "done", "{stopped}");
    assert_eq!(stopped["kind"], "stop");
    let status = expect(
        &api,
        Method::GET,
        &format!("{d}/status"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["services"][0]["state"], "stopped", "{status}");
    assert_eq!(
        containers(&engine, &id).await,
        before,
        "stop keeps the containers"
    );
    let started = run(&api, &d, "start").await;
    assert_eq!(started["state"], "done", "{started}");
    assert!(
        step_names(&started).contains(&"health".to_owned()),
        "{started}"
    );
    let status = expect(
        &api,
        Method::GET,
        &format!("{d}/status"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["services"][0]["state"], "running", "{status}");
    assert_eq!(
        containers(&engine, &id).await,
        before,
        "start runs the same containers"
    );
    assert!(http_status_line(port).await.starts_with("HTTP/1."));
    assert_eq!(run(&api, &d, "destroy?volumes=true").await["state"], "done");
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_apply_ends_cancelled_and_the_next_apply_converges() {
    let port = free_port();
    let Some((api, engine, d)) = setup("cancelled", port).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    // Healthy only after 5 s: the apply waits in its health check long enough to cancel it.
    let patch = json!({
        "command": ["/bin/busybox", "sh", "-c",
                    "/bin/busybox sleep 5; /bin/busybox touch /ready; exec /bin/busybox sleep 600"],
        "health_check": {"command": ["/bin/busybox", "test", "-f", "/ready"],
                         "interval_seconds": 1, "timeout_seconds": 1, "retries": 30}});
    expect(
        &api,
        Method::PATCH,
        &format!("{d}/services/web"),
        Some(patch),
        StatusCode::OK,
    )
    .await;
    let started = expect(
        &api,
        Method::POST,
        &format!("{d}/apply"),
        None,
        StatusCode::ACCEPTED,
    )
    .await;
    let op = started["id"].as_str().unwrap().to_owned();
    let (status, busy) = call(&api, Method::POST, &format!("{d}/apply"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{busy}");
    assert_eq!(busy["error"]["code"], "busy");
    assert!(
        busy["error"]["message"].as_str().unwrap().contains(&op),
        "{busy}"
    );
    let cancel = expect(
        &api,
        Method::POST,
        &format!("{d}/operations/{op}/cancel"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancel["cancel_requested"], true);
    let ended = ended(&api, &d, &op).await;
    assert_eq!(ended["state"], "cancelled", "{ended}");
    let next = run(&api, &d, "apply").await;
    assert_eq!(next["state"], "done", "{next}");
    assert_eq!(containers(&engine, &id).await.len(), 1);
    let status = expect(
        &api,
        Method::GET,
        &format!("{d}/status"),
        None,
        StatusCode::OK,
    )
    .await;
    let web = &status["services"][0];
    assert_eq!(web["state"], "running", "{status}");
    assert_eq!(web["health"], "healthy", "{status}");
    assert_eq!(web["replicas_running"], 1, "{status}");
    assert_eq!(web["restarts"], 0, "{status}");
    assert!(web["since"].is_string(), "{status}");
    assert_eq!(run(&api, &d, "destroy?volumes=true").await["state"], "done");
    docker::remove_deployment(&engine, &id).await;
}

/// Stores a running `executor` operation of the deployment at `d`, held by a server that died
/// long ago, resumed `resumes` times already, with one step `apply #2` recorded.
async fn orphan(api: &TestApi, d: &str, executor: Executor, resumes: u32) -> String {
    let store = &api.store.store;
    let deployment: DeploymentId = expect(api, Method::GET, d, None, StatusCode::OK).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let admin = store
        .user_by_handle(&"bootstrap".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let long_ago = 1_000_000;
    let op = OperationRecord {
        id: OperationId::new(),
        deployment_id: deployment,
        kind: OperationKind::Apply,
        executor,
        started_by: admin.id,
        started_by_handle: None,
        started_at: long_ago,
        finished_at: None,
        state: OperationState::Running,
        message: None,
        holder: Some("a-server-that-died".into()),
        lease_expires_at: Some(long_ago + LEASE_TTL_MS),
        continuation: None,
        resumes,
        cancel_requested: false,
        lines: 0,
        spec: None,
        target_id: None,
        target_name: None,
        remove_volumes: false,
        rollback_of: None,
    };
    let audit = AuditRecord {
        id: AuditId::new(),
        project_id: None,
        actor_id: admin.id,
        actor_handle: "bootstrap".into(),
        action: "operation.start".into(),
        target: "test".into(),
        fields: Vec::new(),
        at: long_ago,
        private_to: None,
    };
    store.start_operation(&op, &audit).await.unwrap();
    let step = StepRecord {
        name: "apply #2".into(),
        started_at: long_ago,
        finished_at: long_ago,
        continuation: None,
        lines: vec!["half way".into()],
    };
    store
        .record_step(op.id, "a-server-that-died", long_ago + 1, &step)
        .await
        .unwrap();
    op.id.to_string()
}

/// Waits (at most 90 s) until operation `id` of the deployment at `d` ended; answers it with
/// its steps.
pub(crate) async fn ended(api: &TestApi, d: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let op = expect(
            api,
            Method::GET,
            &format!("{d}/operations/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
        if op["state"] != "running" {
            return op;
        }
        assert!(Instant::now() < deadline, "operation {id} still runs: {op}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_gives_up_after_three_resumes_and_fails_what_a_dead_cli_held() {
    let port = free_port();
    let Some((api, _engine, d)) = setup("reaped", port).await else {
        return;
    };
    let worn_out = orphan(&api, &d, Executor::Server, 3).await;
    let reaper = tokio::spawn(api.app.clone().run_reaper());
    let op = ended(&api, &d, &worn_out).await;
    assert_eq!(op["state"], "failed", "{op}");
    assert_eq!(op["resumes"], 4, "{op}");
    let message = op["message"].as_str().unwrap();
    assert!(
        message.contains("3 resumes") && message.contains("apply #2"),
        "{message}"
    );

    // A CLI's operation whose lease expired: only that CLI could go on with it.
    let local = json!({"name": "laptop", "runtime": "compose", "executor": "local"});
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/reaped/environments",
        Some(local),
        StatusCode::CREATED,
    )
    .await;
    let l = "/api/v1/projects/reaped/environments/laptop/deployments/app";
    expect(
        &api,
        Method::POST,
        "/api/v1/projects/reaped/environments/laptop/deployments",
        Some(json!({"name": "app"})),
        StatusCode::CREATED,
    )
    .await;
    let abandoned = orphan(&api, l, Executor::Local, 0).await;
    let op = ended(&api, l, &abandoned).await;
    assert_eq!(op["state"], "failed", "{op}");
    assert!(
        op["message"].as_str().unwrap().contains("stopped renewing"),
        "{op}"
    );
    reaper.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_to_a_port_taken_meanwhile_is_refused_before_anything_is_written() {
    let first_port = free_port();
    let Some((api, engine, d)) = setup("retaken", first_port).await else {
        return;
    };
    let id = deployment_id(&api, &d).await;
    let first = run(&api, &d, "apply").await;
    assert_eq!(first["state"], "done", "{first}");
    let second_port = free_port();
    let patch = json!({"ports": [{"container": 8080, "host": second_port}]});
    expect(
        &api,
        Method::PATCH,
        &format!("{d}/services/web"),
        Some(patch),
        StatusCode::OK,
    )
    .await;
    assert_eq!(run(&api, &d, "apply").await["state"], "done");
    let before = expect(
        &api,
        Method::GET,
        &format!("{d}/services/web"),
        None,
        StatusCode::OK,
    )
    .await;

    // Someone else publishes the first port now: rolling back to it is refused, unwritten.
    let outsider = publish_outside(&engine, first_port).await;
    let body = json!({"operation": first["id"]});
    let (status, answer) = call(&api, Method::POST, &format!("{d}/rollback"), Some(body)).await;
    remove_outsider(&engine, &outsider).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&first_port.to_string()),
        "{answer}"
    );
    let after = expect(
        &api,
        Method::GET,
        &format!("{d}/services/web"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after, before, "the service was not written back");
    let history = expect(
        &api,
        Method::GET,
        &format!("{d}/operations"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        history["items"].as_array().unwrap().len(),
        2,
        "no rollback stored: {history}"
    );
    assert_eq!(run(&api, &d, "destroy?volumes=true").await["state"], "done");
    docker::remove_deployment(&engine, &id).await;
}
