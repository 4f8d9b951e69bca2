//! Server operations when things go wrong, with real `komander serve` processes: two servers
//! on one PostgreSQL racing to apply the same deployment (one wins, the other answers 409
//! naming the running operation); `kill -9` of the server in the middle of an apply, on SQLite
//! and on PostgreSQL (after a restart the server reclaims the operation, resumes it and the
//! deployment converges, with nothing orphaned and no row lost).

use std::time::{Duration, Instant};

use komander_e2e::{ADMIN_TOKEN, ServerProcess, docker};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One REST call to `server` as the bootstrap admin.
async fn call(
    server: &ServerProcess,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = ServerProcess::client()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn expect(
    server: &ServerProcess,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let (got, answer) = call(server, method, path, body).await;
    assert_eq!(got, status, "{path}: {answer}");
    answer
}

/// Creates project `project`, its Compose environment `dev` (server executor, on the default
/// target) and deployment `app` whose service `web` runs the test image; answers the
/// deployment's path.
async fn deployment(server: &ServerProcess, project: &str) -> String {
    deployment_with(
        server,
        project,
        json!({"name": "web", "image": docker::IMAGE}),
    )
    .await
}

/// As [`deployment`], with `service` as its service.
async fn deployment_with(server: &ServerProcess, project: &str, service: Value) -> String {
    let e = format!("/api/v1/projects/{project}/environments/dev");
    let d = format!("{e}/deployments/app");
    for (path, body) in [
        ("/api/v1/projects".to_owned(), json!({"name": project})),
        (
            format!("/api/v1/projects/{project}/environments"),
            json!({"name": "dev", "runtime": "compose"}),
        ),
        (format!("{e}/deployments"), json!({"name": "app"})),
        (format!("{d}/services"), service),
    ] {
        expect(server, Method::POST, &path, Some(body), StatusCode::CREATED).await;
    }
    d
}

/// Waits (at most 90 s) until operation `id` of the deployment at `d` ended; answers it.
async fn ended(server: &ServerProcess, d: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let op = expect(
            server,
            Method::GET,
            &format!("{d}/operations/{id}"),
            None,
            StatusCode::OK,
        )
        .await;
        if op["state"] != "running" {
            return op;
        }
        assert!(
            Instant::now() < deadline,
            "operation {id} still runs: {op}\n{}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_race_to_apply_the_same_deployment() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let Some(url) = komander_e2e::postgres_database().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let env = [
        ("KOMANDER_DATABASE_URL", url.as_str()),
        ("KOMANDER_DOCKER_HOST", host.as_str()),
    ];
    let a = ServerProcess::start(&env, "info");
    a.wait_for_first_party_plugins();
    let b = ServerProcess::start(&env, "info");
    b.wait_for_first_party_plugins();
    let d = deployment(&a, "race").await;
    let id = expect(&a, Method::GET, &d, None, StatusCode::OK).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("{d}/apply");
    let (first, second) = tokio::join!(
        call(&a, Method::POST, &path, None),
        call(&b, Method::POST, &path, None)
    );
    let mut answers = [first, second];
    answers.sort_by_key(|(status, _)| *status);
    let [(won, operation), (lost, refusal)] = answers;
    assert_eq!(won, StatusCode::ACCEPTED, "{operation}");
    assert_eq!(
        lost,
        StatusCode::CONFLICT,
        "{refusal}: {}{}",
        std::fs::read_to_string(&a.log).unwrap_or_default(),
        std::fs::read_to_string(&b.log).unwrap_or_default()
    );
    assert_eq!(refusal["error"]["code"], "busy", "{refusal}");
    let op_id = operation["id"].as_str().unwrap();
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains(op_id),
        "the refusal names the running operation: {refusal}"
    );

    // Either server reads the outcome; exactly one operation was stored.
    let op = ended(&b, &d, op_id).await;
    assert_eq!(op["state"], "done", "{op}");
    let history = expect(
        &a,
        Method::GET,
        &format!("{d}/operations"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
    let destroyed = expect(
        &b,
        Method::POST,
        &format!("{d}/destroy?volumes=true"),
        None,
        StatusCode::ACCEPTED,
    )
    .await;
    let op = ended(&a, &d, destroyed["id"].as_str().unwrap()).await;
    assert_eq!(op["state"], "done", "{op}");
    docker::remove_deployment(&engine, &id).await;
}

/// A service that becomes healthy only some seconds after it starts: the apply's health wait
/// lasts that long, long enough to kill the server in the middle of it.
fn slow_service() -> Value {
    json!({"name": "web", "image": docker::IMAGE,
        "command": ["/bin/busybox", "sh", "-c",
                    "/bin/busybox sleep 6; /bin/busybox touch /ready; exec /bin/busybox sleep 600"],
        "health_check": {"command": ["/bin/busybox", "test", "-f", "/ready"],
                         "interval_seconds": 1, "timeout_seconds": 1, "retries": 30}})
}

/// Applies a slow deployment, kills the server with SIGKILL once the apply is past its apply
/// step (in its health wait), starts it again on the same data directory and database, and
/// checks that the operation was resumed and ended `done`, with exactly one container and no
/// lost row.
async fn killed_mid_apply(env: &[(&str, &str)], project: &str) {
    let engine = docker::engine().await.expect("checked by the caller");
    let mut server = ServerProcess::start(env, "info");
    server.wait_for_first_party_plugins();
    let d = deployment_with(&server, project, slow_service()).await;
    let id = expect(&server, Method::GET, &d, None, StatusCode::OK).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let op = expect(
        &server,
        Method::POST,
        &format!("{d}/apply"),
        None,
        StatusCode::ACCEPTED,
    )
    .await;
    let op_id = op["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let read = expect(
            &server,
            Method::GET,
            &format!("{d}/operations/{op_id}"),
            None,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            read["state"], "running",
            "the apply must still run when killed: {read}"
        );
        let applied = read["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "apply #1");
        if applied {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the apply step never ran: {read}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    server.restart(env, "info");
    let op = ended(&server, &d, &op_id).await;
    assert_eq!(op["state"], "done", "{op}");
    assert!(op["resumes"].as_u64().unwrap() >= 1, "it was resumed: {op}");
    let steps: Vec<&str> = op["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(steps.contains(&"health"), "{steps:?}");
    let progress = expect(
        &server,
        Method::GET,
        &format!("{d}/operations/{op_id}/progress?limit=1000"),
        None,
        StatusCode::OK,
    )
    .await;
    let sequences: Vec<u64> = progress
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sequences,
        (1..=sequences.len() as u64).collect::<Vec<_>>(),
        "no line lost or doubled"
    );
    let containers = engine
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(std::collections::HashMap::from([(
                "label".to_owned(),
                vec![format!("dev.komander.deployment={id}")],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(containers.len(), 1, "nothing orphaned, nothing doubled");
    // The next apply converges: nothing to change.
    let plan = expect(
        &server,
        Method::GET,
        &format!("{d}/plan"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(plan["changes"], json!([]), "{plan}");
    let destroyed = expect(
        &server,
        Method::POST,
        &format!("{d}/destroy?volumes=true"),
        None,
        StatusCode::ACCEPTED,
    )
    .await;
    let op = ended(&server, &d, destroyed["id"].as_str().unwrap()).await;
    assert_eq!(op["state"], "done", "{op}");
    docker::remove_deployment(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_apply_resumes_it_on_sqlite() {
    if docker::engine().await.is_none() {
        return;
    }
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    killed_mid_apply(&[("KOMANDER_DOCKER_HOST", host.as_str())], "killed-lite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_apply_resumes_it_on_postgres() {
    if docker::engine().await.is_none() {
        return;
    }
    let Some(url) = komander_e2e::postgres_database().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let env = [
        ("KOMANDER_DATABASE_URL", url.as_str()),
        ("KOMANDER_DOCKER_HOST", host.as_str()),
    ];
    killed_mid_apply(&env, "killed-pg").await;
}
