//! Whole stacks the server runs through the REST API with the Compose runtime: three services
//! (an HTTP front calling a backend API by its service name, the backend serving what a store
//! keeps on a named volume) answering through a published port, where one changed variable replaces only
//! its service, history holds both applies, a rollback brings the first back and a destroy with
//! volumes leaves nothing labelled; a Docker Engine that restarts in the middle of an apply
//! (the apply fails saying so, the next one converges); a host port held outside Docker; and a
//! service whose image tag moved on the engine, replaced by the next apply.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use bollard::{Docker, query_parameters::ListContainersOptions};
use komander_e2e::{Backend, TestApi, docker, dockerd::PrivateDockerd};
use serde_json::{Value, json};

use crate::{
    history::{
        assert_done, build_variant, image_id, nothing_labelled, roll_back, running_image, tag,
    },
    runs::{call, containers, deployment_id, ended, expect, free_port, lines, run},
};

/// An instance with the Compose runtime and the engine at `socket` registered as target
/// `target`, granted to project `project` (distinct per test: Docker objects are named by
/// slugs), whose environment `dev` names it; answers the path of its deployment `app`, which
/// has no service yet.
async fn instance(project: &str, target: &str, socket: &str) -> (TestApi, String) {
    let api = TestApi::new(Backend::Sqlite).await.unwrap();
    api.install_plugin("komander_compose").await;
    let e = format!("/api/v1/projects/{project}/environments/dev");
    let d = format!("{e}/deployments/app");
    let created = [
        (
            "/api/v1/targets".to_owned(),
            json!({"name": target, "endpoint": {"kind": "unix", "socket": socket}}),
            StatusCode::CREATED,
        ),
        (
            "/api/v1/projects".to_owned(),
            json!({"name": project}),
            StatusCode::CREATED,
        ),
        (
            format!("/api/v1/targets/{target}/grants"),
            json!({"project": project}),
            StatusCode::NO_CONTENT,
        ),
        (
            format!("/api/v1/projects/{project}/environments"),
            json!({"name": "dev", "runtime": "compose", "target": target}),
            StatusCode::CREATED,
        ),
        (
            format!("{e}/deployments"),
            json!({"name": "app"}),
            StatusCode::CREATED,
        ),
    ];
    for (path, body, status) in created {
        expect(&api, Method::POST, &path, Some(body), status).await;
    }
    (api, d)
}

/// The socket path of a Docker host `unix:///…`.
fn socket(host: &str) -> String {
    host.strip_prefix("unix://").unwrap_or(host).to_owned()
}

/// Adds `service` to the deployment at `d`.
async fn add_service(api: &TestApi, d: &str, service: Value) {
    expect(
        api,
        Method::POST,
        &format!("{d}/services"),
        Some(service),
        StatusCode::CREATED,
    )
    .await;
}

/// Sets the plain variable `name` of `service`.
async fn set_variable(api: &TestApi, d: &str, service: &str, name: &str, value: &str) {
    let path = format!("{d}/services/{service}/variables/{name}");
    let (status, answer) = call(api, Method::PUT, &path, Some(json!({"value": value}))).await;
    assert!(status.is_success(), "{path}: {answer}");
}

/// `/bin/busybox sh -c script`.
fn sh(script: &str) -> Value {
    json!(["/bin/busybox", "sh", "-c", script])
}

/// A health check running `command` every second, for at most 30 tries.
fn health(command: &[&str]) -> Value {
    json!({"command": command, "interval_seconds": 1, "timeout_seconds": 2, "retries": 30})
}

/// The three services (`api` is a reserved name): `store` writes `$GREETING` to
/// `/data/greeting` on volume `data` and keeps running; `backend`, the API, serves that volume, read-only, over HTTP on port 8080; `front` serves
/// a CGI script (`/cgi-bin/greeting`) that fetches `http://backend:8080/greeting`, by service
/// name, on port 8080 published on 127.0.0.1:`port`. Each has a health check, and each waits
/// for the one it needs to be healthy.
pub(crate) fn stack(port: u16) -> [Value; 3] {
    let cgi = "#!/bin/busybox sh\\necho Content-Type: text/plain\\necho\\n\
               exec /bin/busybox wget -qO- http://backend:8080/greeting\\n";
    [
        json!({"name": "store", "image": docker::IMAGE,
            "command": sh("echo \"$GREETING\" > /data/greeting.new && \
                           /bin/busybox mv /data/greeting.new /data/greeting && \
                           exec /bin/busybox sleep 600"),
            "volumes": [{"source": "data", "target": "/data"}],
            "health_check": health(&["/bin/busybox", "test", "-f", "/data/greeting"])}),
        json!({"name": "backend", "image": docker::IMAGE,
            "command": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/data"],
            "volumes": [{"source": "data", "target": "/data", "read_only": true}],
            "health_check": health(&["/bin/busybox", "wget", "-qO-",
                                     "http://127.0.0.1:8080/greeting"]),
            "depends_on": [{"service": "store", "condition": "healthy"}]}),
        json!({"name": "front", "image": docker::IMAGE,
            "command": sh(&format!(
                "/bin/busybox mkdir -p /www/cgi-bin && \
                 /bin/busybox printf '{cgi}' > /www/cgi-bin/greeting && \
                 /bin/busybox chmod 755 /www/cgi-bin/greeting && \
                 exec /bin/busybox httpd -f -p 8080 -h /www")),
            "ports": [{"container": 8080, "host": port}],
            "health_check": health(&["/bin/busybox", "wget", "-qO-",
                                     "http://127.0.0.1:8080/cgi-bin/greeting"]),
            "depends_on": [{"service": "backend", "condition": "healthy"}]}),
    ]
}

/// What the front answers on 127.0.0.1:`port` at `/cgi-bin/greeting`, once it answers 200
/// with `expected` (tried for at most 15 s).
pub(crate) async fn greeting(port: u16, expected: &str) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/cgi-bin/greeting");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                response.text().await.unwrap_or_default()
            }
            Ok(response) => format!("HTTP {}", response.status()),
            Err(e) => e.to_string(),
        };
        if answer.trim() == expected || Instant::now() >= deadline {
            return answer.trim().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The container id of each service of the deployment `id`, by the service label.
pub(crate) async fn by_service(engine: &Docker, id: &str) -> BTreeMap<String, String> {
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("dev.komander.deployment={id}")],
    )]);
    engine
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            let service = c
                .labels
                .as_ref()
                .and_then(|l| l.get("com.docker.compose.service"))
                .cloned()
                .unwrap_or_default();
            (service, c.id.unwrap_or_default())
        })
        .collect()
}

/// The changes of the deployment's plan, as (container name, reason).
async fn plan(api: &TestApi, d: &str) -> Vec<(String, String)> {
    let plan = expect(api, Method::GET, &format!("{d}/plan"), None, StatusCode::OK).await;
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_service_stack_answers_replaces_only_what_changed_rolls_back_and_destroys() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let (api, d) = instance("trio", "local", &socket(&host)).await;
    let id = deployment_id(&api, &d).await;
    let port = free_port();
    for service in stack(port) {
        add_service(&api, &d, service).await;
    }
    set_variable(&api, &d, "store", "GREETING", "hello").await;

    let first = run(&api, &d, "apply").await;
    assert_done(&api, &d, &first).await;
    assert_eq!(greeting(port, "hello").await, "hello", "through the front");
    let before = by_service(&engine, &id).await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        ["backend", "front", "store"],
        "{before:?}"
    );

    set_variable(&api, &d, "store", "GREETING", "bonjour").await;
    let changes = plan(&api, &d).await;
    assert_eq!(changes.len(), 1, "only the store changes: {changes:?}");
    assert!(
        changes[0].0.contains("store") && changes[0].1.contains("variable GREETING changed"),
        "{changes:?}"
    );
    let second = run(&api, &d, "apply").await;
    assert_done(&api, &d, &second).await;
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

    let history = expect(
        &api,
        Method::GET,
        &format!("{d}/operations"),
        None,
        StatusCode::OK,
    )
    .await;
    let applies: Vec<(&Value, &Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (&o["kind"], &o["id"]))
        .collect();
    assert_eq!(
        applies,
        [
            (&json!("apply"), &second["id"]),
            (&json!("apply"), &first["id"])
        ],
        "{history}"
    );

    let rollback = roll_back(&api, &d, &first).await;
    assert_done(&api, &d, &rollback).await;
    assert_eq!(greeting(port, "hello").await, "hello", "the first is back");
    let rolled = by_service(&engine, &id).await;
    assert_ne!(rolled["store"], after["store"]);
    assert_eq!(rolled["backend"], before["backend"]);
    assert_eq!(rolled["front"], before["front"]);

    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
    docker::remove_deployment(&engine, &id).await;
}

/// Waits (at most 30 s) until the operation `op` of the deployment at `d` recorded step
/// `step`, failing if it ends first.
async fn wait_for_step(api: &TestApi, d: &str, op: &str, step: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let read = expect(
            api,
            Method::GET,
            &format!("{d}/operations/{op}"),
            None,
            StatusCode::OK,
        )
        .await;
        assert_eq!(read["state"], "running", "{read}");
        if read["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == step)
        {
            return;
        }
        assert!(Instant::now() < deadline, "no step {step}: {read}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restarting_mid_apply_fails_it_clearly_and_the_next_apply_converges() {
    // No iptables rules of its own, and the default bridge kept (`--bridge none` would delete
    // `docker0`, which the test command's engine serves its containers on).
    let args = ["--iptables=false".into(), "--ip6tables=false".into()];
    let Some(mut dockerd) = PrivateDockerd::start(&args).await else {
        return;
    };
    let engine = docker::connect(&dockerd.host()).await;
    let (api, d) = instance("restarted", "private", &socket(&dockerd.host())).await;
    let id = deployment_id(&api, &d).await;
    // Healthy only some seconds after it starts: the apply waits in its health step.
    add_service(
        &api,
        &d,
        json!({"name": "web", "image": docker::IMAGE,
            "command": sh("/bin/busybox sleep 8; /bin/busybox touch /ready; \
                           exec /bin/busybox sleep 600"),
            "health_check": health(&["/bin/busybox", "test", "-f", "/ready"])}),
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
    let op = started["id"].as_str().unwrap();
    wait_for_step(&api, &d, op, "apply #1").await;

    dockerd.stop();
    let failed = ended(&api, &d, op).await;
    dockerd.start_again().await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("\"private\"") && message.contains("could not be reached"),
        "the message names the target and says its engine could not be reached: {message}"
    );

    let next = run(&api, &d, "apply").await;
    assert_done(&api, &d, &next).await;
    assert_eq!(
        containers(&engine, &id).await.len(),
        1,
        "exactly one container"
    );
    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_held_outside_docker_fails_the_step_naming_it() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let (api, d) = instance("squatted", "local", &socket(&host)).await;
    let id = deployment_id(&api, &d).await;
    // Held by this process, not by a container: only the engine can find it taken.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    add_service(
        &api,
        &d,
        json!({"name": "web", "image": docker::IMAGE,
            "command": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/"],
            "ports": [{"container": 8080, "host": port}]}),
    )
    .await;
    let op = run(&api, &d, "apply").await;
    assert_eq!(op["state"], "failed", "{op}");
    let message = op["message"].as_str().unwrap();
    assert!(
        message.contains("apply #1") && message.contains(&format!("127.0.0.1:{port}")),
        "the step fails with the engine's message naming the port: {message}"
    );
    drop(held);
    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_image_tag_moved_is_replaced_by_the_next_apply() {
    let Some(engine) = docker::engine().await else {
        return;
    };
    let host = std::env::var("KOMANDER_TEST_DOCKER_HOST").unwrap();
    let (api, d) = instance("retagged", "local", &socket(&host)).await;
    let id = deployment_id(&api, &d).await;
    // A tag of this engine only, moved below by a build.
    let repository = format!("komander-test/retagged-{}", free_port());
    let image = format!("{repository}:1");
    tag(&engine, docker::IMAGE, &repository, "1").await;
    add_service(
        &api,
        &d,
        json!({"name": "web", "image": image,
            "command": ["/bin/busybox", "sleep", "600"]}),
    )
    .await;
    let first = run(&api, &d, "apply").await;
    assert_done(&api, &d, &first).await;
    let before = containers(&engine, &id).await;
    assert_eq!(plan(&api, &d).await, [], "nothing to change yet");

    build_variant(&engine, &image, "second build").await;
    let moved = image_id(&engine, &image).await;
    let changes = plan(&api, &d).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        changes[0].1.starts_with("image changed") && changes[0].1.contains(&image),
        "{changes:?}"
    );
    let second = run(&api, &d, "apply").await;
    assert_done(&api, &d, &second).await;
    let progress = lines(&api, &d, &second).await;
    assert!(
        progress.iter().any(|l| l.contains("image changed")),
        "{progress:?}"
    );
    let after = containers(&engine, &id).await;
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "the container was replaced");
    assert_eq!(
        running_image(&engine, &id).await,
        moved,
        "it runs the new image"
    );
    assert_eq!(plan(&api, &d).await, [], "and the plan is empty again");

    let destroyed = run(&api, &d, "destroy?volumes=true").await;
    assert_done(&api, &d, &destroyed).await;
    nothing_labelled(&engine, &id).await;
    let _ = engine
        .remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
}
