//! The CLI's commands for what the server runs, against a `komander serve` process with the
//! test Docker Engine as its target `local`: apply (following the operation live), plan, status
//! and logs of the applied deployment, a failed apply exiting 7, destroy.

use std::time::{Duration, Instant};

use komander_e2e::{ADMIN_TOKEN, ServerProcess, docker, sse::EventStream};
use serde_json::{Value, json};

const D: &str = "/api/v1/projects/shop/environments/dev/deployments/app";
const SCOPE: [&str; 4] = ["--project", "shop", "--environment", "dev"];
const T: &str = "/api/v1/projects/tail/environments/dev/deployments/app";
const TAIL_SCOPE: [&str; 4] = ["--project", "tail", "--environment", "dev"];

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

/// The numbers of `lines` printed as `n 17`.
fn numbers<'a>(lines: impl IntoIterator<Item = &'a Value>) -> Vec<u64> {
    lines
        .into_iter()
        .map(|l| {
            l["line"]
                .as_str()
                .and_then(|t| t.strip_prefix("n "))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a numbered line: {l}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_followed_live_resumes_after_a_disconnect_without_a_lost_or_doubled_line() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let server = ServerProcess::start(&[("KOMANDER_DOCKER_HOST", host.as_str())], "info");
    server.wait_for_first_party_plugins();
    // Its own project: Docker names follow slugs, and the tests run at once on one engine.
    server.cli_ok(&["project", "create", "tail"]);
    server.cli_ok(&[
        "environment",
        "create",
        "--project",
        "tail",
        "dev",
        "--runtime",
        "compose",
    ]);
    server.cli_ok(&[
        "deployment",
        "create",
        "--project",
        "tail",
        "--environment",
        "dev",
        "app",
    ]);
    let service = json!({"name": "web", "image": docker::IMAGE,
        "command": ["/bin/busybox", "sh", "-c",
                    "i=0; while true; do i=$((i+1)); echo \"n $i\"; /bin/busybox sleep 0.1; done"]});
    post(&server, &format!("{T}/services"), Some(service), 201).await;
    server.cli_ok(&[&["deployment", "apply"][..], &TAIL_SCOPE, &["app"]].concat());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let url = format!("{}{T}/services/web/logs/events?tail=3", server.base);
    let mut stream = EventStream::open(&url, ADMIN_TOKEN, None).await.unwrap();
    let tail = stream.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(tail.name, "tail");
    let mut seen = numbers(tail.data.as_array().unwrap());
    assert_eq!(seen.len(), 3, "{tail:?}");
    let mut last_id = tail.id.clone().unwrap();
    for round in 0..3 {
        for _ in 0..5 {
            let event = stream.next(Duration::from_secs(10)).await.unwrap();
            assert_eq!(event.name, "line", "{event:?}");
            seen.extend(numbers([&event.data]));
            last_id = event.id.unwrap();
        }
        // The client drops the connection; the service goes on printing meanwhile.
        drop(stream);
        tokio::time::sleep(Duration::from_millis(300 * (round + 1))).await;
        stream = EventStream::open(&url, ADMIN_TOKEN, Some(&last_id))
            .await
            .unwrap();
    }
    let first = seen[0];
    assert_eq!(
        seen,
        (first..first + seen.len() as u64).collect::<Vec<_>>(),
        "every line once, in order"
    );

    // The CLI follows the same stream: the tail first, then lines written after it started.
    let mut follow = server
        .cli_command(
            &[
                &["deployment", "logs"][..],
                &TAIL_SCOPE,
                &["app", "web", "--tail", "2", "--follow"],
            ]
            .concat(),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let printed = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .take(12)
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    });
    let printed = tokio::time::timeout(Duration::from_secs(20), printed)
        .await
        .expect("the CLI prints the lines as they come")
        .unwrap();
    let _ = std::process::Command::new("kill")
        .arg(follow.id().to_string())
        .status();
    let _ = follow.wait();
    let followed: Vec<u64> = printed
        .iter()
        .map(|l| {
            l.strip_prefix("n ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{l:?}"))
        })
        .collect();
    assert_eq!(
        followed,
        (followed[0]..followed[0] + 12).collect::<Vec<_>>(),
        "every line once, in order, past the tail of 2"
    );

    let (status, answer) = EventStream::open(&url, ADMIN_TOKEN, Some("not-an-id"))
        .await
        .err()
        .unwrap();
    assert_eq!(status.as_u16(), 400, "{answer}");
    drop(stream);
    server.cli_ok(
        &[
            &["deployment", "destroy"][..],
            &TAIL_SCOPE,
            &["app", "--volumes"],
        ]
        .concat(),
    );
    let deployment: Value = ServerProcess::client()
        .get(format!("{}{T}", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    docker::remove_deployment(&engine, deployment["id"].as_str().unwrap()).await;
}
