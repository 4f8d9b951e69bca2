//! The CLI's commands for what the server runs, against a `komander serve` process with the
//! test Docker Engine as its target `local`: apply (following the operation live), plan, status
//! and logs of the applied deployment, a failed apply exiting 7, destroy.

use std::time::{Duration, Instant};

use komander_e2e::{ADMIN_TOKEN, ServerProcess, docker};
use serde_json::{Value, json};

const D: &str = "/api/v1/projects/shop/environments/dev/deployments/app";
const SCOPE: [&str; 4] = ["--project", "shop", "--environment", "dev"];

/// A POST to `server` as the bootstrap admin; answers the JSON body after checking `status`.
async fn post(server: &ServerProcess, path: &str, body: Option<Value>, status: u16) -> Value {
    let mut request = ServerProcess::client()
        .post(format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), status, "{path}");
    response.json().await.unwrap_or(Value::Null)
}

/// `komander deployment ARGS… app` with the scope flags, as the admin; answers its output.
fn deployment_cli(server: &ServerProcess, command: &str, extra: &[&str]) -> String {
    let args = [&["deployment", command][..], &SCOPE, &["app"], extra].concat();
    server.cli_ok(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_plan_status_logs_and_destroy_through_the_cli() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let server = ServerProcess::start(&[("KOMANDER_DOCKER_HOST", host.as_str())], "info");
    server.wait_for_first_party_plugins();
    server.cli_shop_deployment(&[], "app");
    let service = json!({"name": "web", "image": docker::IMAGE,
        "command": ["/bin/busybox", "sh", "-c", "echo hello from web && exec /bin/busybox sleep 600"]});
    post(&server, &format!("{D}/services"), Some(service), 201).await;

    let plan = deployment_cli(&server, "plan", &[]);
    assert!(plan.contains("create") && plan.contains("web"), "{plan}");

    let applied = deployment_cli(&server, "apply", &[]);
    assert!(
        applied.lines().any(|l| l.starts_with("web: running")),
        "the apply's progress lines come live: {applied}"
    );

    assert_eq!(
        deployment_cli(&server, "plan", &[]).trim(),
        "nothing to change"
    );
    let status = deployment_cli(&server, "status", &[]);
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("web") && l.contains("running")),
        "{status}"
    );
    let json_status: Value =
        serde_json::from_str(&deployment_cli(&server, "status", &["--output", "json"])).unwrap();
    assert_eq!(json_status["drift"], json!([]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = deployment_cli(&server, "logs", &["web", "--tail", "10"]);
        if logs.lines().any(|l| l == "hello from web") {
            break;
        }
        assert!(Instant::now() < deadline, "the log holds the line: {logs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A failed operation exits 7 and says why.
    let bad = json!({"image": "127.0.0.1:1/missing:1"});
    let patched = ServerProcess::client()
        .patch(format!("{}{D}/services/web", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success());
    let failed = server.cli(&[&["deployment", "apply"][..], &SCOPE, &["app"]].concat());
    assert_eq!(failed.status.code(), Some(7), "{failed:?}");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("127.0.0.1:1/missing"),
        "{failed:?}"
    );
    deployment_cli(&server, "destroy", &["--volumes"]);
    let deployment_id: Value = ServerProcess::client()
        .get(format!("{}{D}", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    docker::remove_deployment(&engine, deployment_id["id"].as_str().unwrap()).await;
}
