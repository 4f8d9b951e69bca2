//! `komander up` and its siblings on a `local` environment, against a `komander serve`
//! process and the test Docker Engine as the member's own (`DOCKER_HOST`): the CLI applies
//! the three-service stack on this machine with the embedded Compose runtime while the server
//! holds the lease and records every step; a changed variable replaces only its service; the
//! history on the server lists the local applies; `down --volumes` leaves nothing labelled. A
//! CLI killed with SIGKILL mid-apply loses its lease and the next `up` converges. On a
//! terminal (a pseudo-terminal by `script`) it shows step lines and a summary; piped, plain
//! lines; with `--output json`, one JSON object per line.

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use komander_e2e::{ADMIN_TOKEN, ServerProcess, docker, komander_binary};
use serde_json::{Value, json};

use crate::{
    history::nothing_labelled,
    runs::{containers, free_port},
    stack::{by_service, greeting, stack},
};

/// A `komander serve` with the Compose runtime, project `project` (distinct per test: Docker
/// names follow slugs) with the `local` environment `dev` and the admin's deployment `app`;
/// answers the server, the deployment's path, its address and its id.
async fn local_instance(project: &str) -> (ServerProcess, String, String, String) {
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    server.cli_ok(&["project", "create", project]);
    server.cli_ok(&[
        "environment",
        "create",
        "--project",
        project,
        "dev",
        "--runtime",
        "compose",
        "--executor",
        "local",
    ]);
    server.cli_ok(&["deployment", "create", "-p", project, "-e", "dev", "app"]);
    let d = format!("/api/v1/projects/{project}/environments/dev/deployments/app");
    let id = rest(&server, reqwest::Method::GET, &d, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (server, d, format!("{project}/dev/app"), id)
}

/// A request to `server` as the bootstrap admin; answers the JSON body after checking that
/// it succeeded.
async fn rest(
    server: &ServerProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = ServerProcess::client()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// The operations of the deployment at `d`, newest first, as the server lists them.
async fn operations(server: &ServerProcess, d: &str) -> Value {
    rest(
        server,
        reqwest::Method::GET,
        &format!("{d}/operations"),
        None,
    )
    .await
}

/// `komander ARGS…` against `server` with the test engine as this machine's Docker.
fn komander(server: &ServerProcess, args: &[&str]) -> Output {
    local_command(server, args)
        .output()
        .expect("running komander")
}

/// The command [`komander`] runs.
fn local_command(server: &ServerProcess, args: &[&str]) -> Command {
    let mut command = server.cli_command(args);
    command.env(
        "DOCKER_HOST",
        std::env::var("KOMANDER_TEST_DOCKER_HOST").expect("the test engine"),
    );
    command
}

/// Standard output and error of `out`, for messages.
fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `komander ARGS…`, asserting exit 0; answers standard output.
fn komander_ok(server: &ServerProcess, args: &[&str]) -> String {
    let out = komander(server, args);
    assert!(out.status.success(), "komander {args:?}: {}", shown(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_a_local_stack_on_this_machine_recorded_on_the_server() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let (server, d, at, id) = local_instance("uplocal").await;
    let port = free_port();
    for service in stack(port) {
        rest(
            &server,
            reqwest::Method::POST,
            &format!("{d}/services"),
            Some(service),
        )
        .await;
    }
    let greeting_path = format!("{d}/services/store/variables/GREETING");
    rest(
        &server,
        reqwest::Method::PUT,
        &greeting_path,
        Some(json!({"value": "hello"})),
    )
    .await;

    // Applied by the CLI on this machine, not by the server (which has no engine here).
    let first = komander_ok(&server, &["up", &at]);
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}")),
        "{first}"
    );
    assert_eq!(greeting(port, "hello").await, "hello", "through the front");
    let before = by_service(&engine, &id).await;
    assert_eq!(before.len(), 3, "{before:?}");

    // Linked folders need no name; a changed variable replaces only its service.
    let folder = server.data_dir.path().join("work/src");
    std::fs::create_dir_all(&folder).unwrap();
    let mut link = local_command(&server, &["link", &at]);
    link.current_dir(server.data_dir.path().join("work"));
    assert!(link.output().unwrap().status.success());
    rest(
        &server,
        reqwest::Method::PUT,
        &greeting_path,
        Some(json!({"value": "bonjour"})),
    )
    .await;
    let mut plan = local_command(&server, &["plan"]);
    plan.current_dir(&folder);
    let planned = plan.output().unwrap();
    let planned = String::from_utf8_lossy(&planned.stdout).into_owned();
    assert!(planned.contains("variable GREETING changed"), "{planned}");
    let mut up = local_command(&server, &["up"]);
    up.current_dir(&folder);
    let second = up.output().unwrap();
    assert!(second.status.success(), "{}", shown(&second));
    let after = by_service(&engine, &id).await;
    assert_ne!(after["store"], before["store"], "the store was replaced");
    assert_eq!(
        after["backend"], before["backend"],
        "the backend kept its container"
    );
    assert_eq!(
        after["front"], before["front"],
        "the front kept its container"
    );
    assert_eq!(greeting(port, "bonjour").await, "bonjour");
    let status = komander_ok(&server, &["status", &at]);
    assert!(
        status.lines().filter(|l| l.contains("running")).count() == 3,
        "{status}"
    );

    // The server's history lists the local applies, each with its steps and pinned images.
    let history = operations(&server, &d).await;
    let ops = history["items"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{history}");
    for op in ops {
        assert_eq!(
            (
                op["kind"].as_str(),
                op["executor"].as_str(),
                op["state"].as_str()
            ),
            (Some("apply"), Some("local"), Some("done")),
            "{op}"
        );
        let one = rest(
            &server,
            reqwest::Method::GET,
            &format!("{d}/operations/{}", op["id"].as_str().unwrap()),
            None,
        )
        .await;
        let steps: Vec<&str> = one["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert!(
            steps.starts_with(&["validate", "plan", "apply #1"]),
            "{steps:?}"
        );
        assert!(
            steps.contains(&"health") && steps.contains(&"pin images"),
            "{steps:?}"
        );
        assert!(
            one["spec"]["services"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["pinned"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("sha256:"))),
            "{one}"
        );
    }
    let listed = komander_ok(&server, &["history", &at]);
    assert_eq!(
        listed.lines().filter(|l| l.contains("local")).count(),
        2,
        "{listed}"
    );

    // A rollback writes the first apply back on the server and applies it here.
    let first_apply = ops[1]["id"].as_str().unwrap();
    komander_ok(&server, &["rollback", &at, first_apply]);
    assert_eq!(
        greeting(port, "hello").await,
        "hello",
        "the first apply is back"
    );
    let history = operations(&server, &d).await;
    assert_eq!(history["items"][0]["kind"], "rollback", "{history}");
    assert_eq!(history["items"][0]["rollback_of"], first_apply, "{history}");

    komander_ok(&server, &["down", "--volumes", &at]);
    nothing_labelled(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_killed_mid_apply_loses_its_lease_and_the_next_up_converges() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let (server, d, at, id) = local_instance("upkill").await;
    // `slow` becomes healthy 8 s after it starts: the CLI is killed while it waits.
    let slow = json!({"name": "slow", "image": docker::IMAGE,
        "command": ["/bin/busybox", "sh", "-c",
                    "/bin/busybox sleep 8 && /bin/busybox touch /ready && exec /bin/busybox sleep 600"],
        "health_check": {"command": ["/bin/busybox", "test", "-f", "/ready"],
                         "interval_seconds": 1, "timeout_seconds": 2, "retries": 60}});
    let web = json!({"name": "web", "image": docker::IMAGE,
        "command": ["/bin/busybox", "sleep", "600"]});
    for service in [slow, web] {
        rest(
            &server,
            reqwest::Method::POST,
            &format!("{d}/services"),
            Some(service),
        )
        .await;
    }
    let mut child = local_command(&server, &["up", &at])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the containers exist and the health wait runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if containers(&engine, &id).await.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the CLI created the containers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let running = operations(&server, &d).await;
    assert_eq!(running["items"][0]["state"], "running", "{running}");

    // Busy (exit 5) while the lease runs; then the server fails the orphaned operation and
    // the next `up` converges.
    let deadline = Instant::now() + Duration::from_secs(90);
    let converged = loop {
        let out = komander(&server, &["up", &at]);
        match out.status.code() {
            Some(5) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            _ => break out,
        }
    };
    assert!(converged.status.success(), "{}", shown(&converged));
    let history = operations(&server, &d).await;
    let states: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["done", "failed"], "{history}");
    let message = history["items"][1]["message"].as_str().unwrap_or_default();
    assert!(message.contains("lease"), "the failure says why: {message}");
    assert_eq!(
        containers(&engine, &id).await.len(),
        2,
        "nothing orphaned, nothing doubled"
    );
    komander_ok(&server, &["down", "--volumes", &at]);
    nothing_labelled(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_shows_steps_on_a_terminal_plain_lines_in_a_pipe_and_json_lines_for_scripts() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let (server, d, at, id) = local_instance("upshow").await;
    let port = free_port();
    let web = json!({"name": "web", "image": docker::IMAGE,
        "command": ["/bin/busybox", "httpd", "-f", "-p", "8080"],
        "ports": [{"container": 8080, "host": port}]});
    rest(
        &server,
        reqwest::Method::POST,
        &format!("{d}/services"),
        Some(web),
    )
    .await;

    // A terminal session: `script` gives the CLI a pseudo-terminal and records it.
    let binary = komander_binary();
    let line = format!("{} up {at}", binary.display());
    let mut script = local_command(&server, &[]);
    let env: Vec<(String, String)> = script
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .collect();
    script = Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .current_dir(server.data_dir.path())
        .env_clear()
        .envs(env)
        .env("TERM", "xterm");
    let session = script.output().expect("running script");
    let recorded = String::from_utf8_lossy(&session.stdout).into_owned();
    assert!(session.status.success(), "{recorded}");
    assert!(
        recorded.contains("✔ validate ("),
        "a line per step: {recorded}"
    );
    assert!(recorded.contains("✔ apply #1 ("), "{recorded}");
    assert!(recorded.contains(" s)"), "with its timing: {recorded}");
    assert!(recorded.contains("✔ operation done"), "{recorded}");
    assert!(
        recorded.contains("SERVICE") && recorded.contains("URLS"),
        "the summary: {recorded}"
    );
    assert!(
        recorded.contains(&format!("http://127.0.0.1:{port}")),
        "{recorded}"
    );

    // Piped: plain lines, no spinner, no escape sequences.
    let piped = komander(&server, &["up", &at]);
    assert!(piped.status.success(), "{}", shown(&piped));
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(stderr.contains("step validate took"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('✔'),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&piped.stdout);
    assert!(stdout.contains("nothing to change"), "{stdout}");

    // JSON: every line parses; events first, the outcome last.
    let json_out = komander(&server, &["up", &at, "--output", "json"]);
    assert!(json_out.status.success(), "{}", shown(&json_out));
    let objects: Vec<Value> = String::from_utf8(json_out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let (outcome, events) = objects.split_last().unwrap();
    assert!(events.iter().any(|e| e["event"] == "step"), "{events:?}");
    assert_eq!(events.last().unwrap()["event"], "end", "{events:?}");
    assert_eq!(outcome["outcome"], "done", "{outcome}");
    assert_eq!(outcome["services"][0]["service"], "web", "{outcome}");
    assert_eq!(outcome["services"][0]["state"], "running", "{outcome}");

    komander_ok(&server, &["down", &at]);
    nothing_labelled(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_that_is_not_built_in_is_downloaded_checked_and_cached() {
    let Some(_engine) = docker::engine().await else {
        return;
    };
    let server = ServerProcess::start(&[], "info");
    server.wait_for_first_party_plugins();
    let wasm = server.data_dir.path().join("guest.wasm");
    std::fs::write(
        &wasm,
        komander_e2e::guests::bytes("komander_test_docker_guest"),
    )
    .unwrap();
    server.cli_ok(&["plugin", "install", wasm.to_str().unwrap(), "--grant-all"]);
    server.cli_ok(&["project", "create", "upfetch"]);
    server.cli_ok(&[
        "environment",
        "create",
        "--project",
        "upfetch",
        "dev",
        "--runtime",
        "komander.test-docker-guest",
        "--executor",
        "local",
        "--setting",
        "behavior=list",
    ]);
    server.cli_ok(&["deployment", "create", "-p", "upfetch", "-e", "dev", "app"]);
    let digest = rest(
        &server,
        reqwest::Method::GET,
        "/api/v1/plugins/komander.test-docker-guest",
        None,
    )
    .await["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let cached = server
        .data_dir
        .path()
        .join(format!(".cache/komander/plugins/{digest}.wasm"));

    // The guest runs on this machine: its `validate` lists the deployment's containers
    // through the Docker capability granted on the server; its `plan` is one it lacks.
    let planned = komander(&server, &["plan", "upfetch/dev/app"]);
    let said = shown(&planned);
    assert_eq!(planned.status.code(), Some(1), "{said}");
    assert!(
        said.contains("komander.test-docker-guest") && said.contains("plan"),
        "{said}"
    );
    assert_eq!(
        komander_plugin_host::digest(&std::fs::read(&cached).unwrap()),
        digest,
        "cached as downloaded"
    );

    // Its compiled artifact is kept in a folder of the user's alone, its SHA-256 beside it; an
    // artifact changed on disk is not loaded but compiled again.
    let compiled = server
        .data_dir
        .path()
        .join(".cache/komander/plugins/compiled");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&compiled).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let artifacts: Vec<std::path::PathBuf> = std::fs::read_dir(&compiled)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy()
                .starts_with(&*compiled.join(&digest).to_string_lossy())
        })
        .collect();
    assert_eq!(
        artifacts.len(),
        2,
        "the artifact and its digest: {artifacts:?}"
    );
    let artifact = artifacts
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    std::fs::write(artifact, b"not machine code").unwrap();
    let recompiled = komander(&server, &["plan", "upfetch/dev/app"]);
    assert!(
        shown(&recompiled).contains("plan"),
        "{}",
        shown(&recompiled)
    );
    assert_ne!(
        std::fs::read(artifact).unwrap(),
        b"not machine code",
        "written again"
    );

    // A cached copy that no longer matches is not run: the server's is fetched again.
    std::fs::write(&cached, b"\0asm tampered").unwrap();
    let again = komander(&server, &["plan", "upfetch/dev/app"]);
    assert!(shown(&again).contains("plan"), "{}", shown(&again));
    assert_eq!(
        komander_plugin_host::digest(&std::fs::read(&cached).unwrap()),
        digest,
        "replaced by the server's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_link_file_cannot_send_the_token_to_another_server() {
    let (server, _, at, _) = local_instance("uplink").await;
    let folder = server.data_dir.path().join("cloned");
    std::fs::create_dir_all(&folder).unwrap();
    // A repository's `.komander.toml` naming a server of its author's choosing.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let evil = format!("http://{}", trap.local_addr().unwrap());
    std::fs::write(
        folder.join(".komander.toml"),
        format!("server = \"{evil}\"\ndeployment = \"{at}\"\n"),
    )
    .unwrap();
    let mut history = server.cli_command(&["history"]);
    history.current_dir(&folder).env_remove("KOMANDER_SERVER");
    let refused = history.output().unwrap();
    let said = shown(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&evil) && said.contains("refusing to send your token"),
        "{said}"
    );
    assert!(trap.accept().is_err(), "nothing reached the other server");

    // A link to the server the user logged in to needs no flag.
    let mut login = server.cli_command(&["login"]);
    login
        .env_remove("KOMANDER_SERVER")
        .arg("--server")
        .arg(&server.base);
    assert!(login.output().unwrap().status.success());
    std::fs::write(
        folder.join(".komander.toml"),
        format!("server = \"{}\"\ndeployment = \"{at}\"\n", server.base),
    )
    .unwrap();
    let mut history = server.cli_command(&["history"]);
    history
        .current_dir(&folder)
        .env_remove("KOMANDER_SERVER")
        .env_remove("KOMANDER_TOKEN");
    let listed = history.output().unwrap();
    assert!(listed.status.success(), "{}", shown(&listed));
}
