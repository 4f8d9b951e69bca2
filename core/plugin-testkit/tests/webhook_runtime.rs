//! The example remote runtime (`plugins/examples/webhook-runtime`) tested as its own crate's
//! tests would test it with this kit: built, loaded in the real host, and driven against a
//! fake deployer through its `deployer` connection.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use komander_plugin_testkit::{
    Capability, ChangeAction, EnvValue, EnvVar, Error, FakeBackend, GuestError, Request, Response,
    RuntimeCallError, SecretRef, ServiceSource, ServiceSpec, ServiceState, TestPlugin, deployment,
};
use serde_json::{Value, json};

/// The example's crate folder.
fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/examples/webhook-runtime")
}

/// A deployer as the example's contract describes it: a PUT of a service keeps its body, a
/// GET of the deployment answers what runs (404 when nothing does), a DELETE forgets it.
fn deployer() -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    let running: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    move |request| {
        let mut running = running.lock().unwrap();
        let path: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        match (request.method.as_str(), path.as_slice()) {
            ("PUT", ["deployments", _, "services", name]) => {
                let mut service = request.json().unwrap_or(Value::Null);
                service["state"] = json!("running");
                service["message"] = json!("serving");
                running.insert((*name).to_owned(), service);
                Response::status(200)
            }
            ("GET", ["deployments", _]) if !running.is_empty() => {
                Response::json(200, &json!({ "services": *running }))
            }
            ("DELETE", ["deployments", _]) => {
                running.clear();
                Response::status(204)
            }
            _ => Response::status(404),
        }
    }
}

/// Service `web` of the image `registry.example/web:1` with `MODE=one`.
fn web() -> ServiceSpec {
    let mut web = ServiceSpec::new(
        "s-web",
        "web",
        ServiceSource::Image("registry.example/web:1".into()),
    );
    web.env.push(EnvVar {
        name: "MODE".into(),
        value: EnvValue::Plain("one".into()),
    });
    web
}

#[tokio::test(flavor = "multi_thread")]
async fn it_plans_applies_reads_status_and_destroys_through_its_connection() {
    let plugin = TestPlugin::build(example()).await.unwrap();
    let backend = FakeBackend::start(deployer()).await.unwrap();
    let runner = plugin
        .runner()
        .connection("deployer", backend.url(), Some("Bearer deployer-token"))
        .unwrap();
    let spec = deployment("app", vec![web()]);

    assert_eq!(runner.validate(&spec).await.unwrap(), Vec::<String>::new());
    let plan = runner.plan(&spec).await.unwrap();
    assert_eq!(plan.changes.len(), 1, "{plan:?}");
    assert_eq!(plan.changes[0].action, ChangeAction::Create);

    let applied = runner.apply(&spec).await.unwrap();
    assert!(
        applied.progress.iter().any(|line| line == "deployed web"),
        "the step's progress: {applied:?}"
    );
    let put = backend
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT of the service");
    assert_eq!(
        put.path,
        format!("/deployments/{}/services/web", spec.deployment_id)
    );
    assert_eq!(
        put.header("Authorization"),
        Some("Bearer deployer-token"),
        "the host adds the connection's credential"
    );
    assert_eq!(put.json().unwrap()["image"], "registry.example/web:1");

    let status = runner.status(&spec).await.unwrap();
    assert_eq!(
        status.services[0].state,
        ServiceState::Running,
        "{status:?}"
    );
    assert!(runner.plan(&spec).await.unwrap().changes.is_empty());

    runner.destroy(&spec, false).await.unwrap();
    let last = backend.requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path),
        ("DELETE", format!("/deployments/{}", spec.deployment_id))
    );
    let status = runner.status(&spec).await.unwrap();
    assert_eq!(status.services[0].state, ServiceState::Missing);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_reaches_the_deployer_written_in_by_the_host() {
    let plugin = TestPlugin::build(example()).await.unwrap();
    let backend = FakeBackend::start(deployer()).await.unwrap();
    let runner = plugin
        .runner()
        .connection("deployer", backend.url(), None)
        .unwrap()
        .secret("web/TOKEN", "s3cret \"quoted\"");
    let mut service = web();
    service.env.push(EnvVar {
        name: "TOKEN".into(),
        value: EnvValue::Secret(SecretRef {
            name: "web/TOKEN".into(),
        }),
    });
    runner
        .apply(&deployment("app", vec![service]))
        .await
        .unwrap();
    let body = backend.requests()[0].json().unwrap();
    let token = body["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TOKEN")
        .unwrap()
        .clone();
    assert_eq!(token["value"], "s3cret \"quoted\"", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_deployer_and_a_missing_grant_are_errors_naming_the_cause() {
    let plugin = TestPlugin::build(example()).await.unwrap();
    let spec = deployment("app", vec![web()]);

    let down = FakeBackend::start(|_| Response::text(500, "the deployer is down"))
        .await
        .unwrap();
    let runner = plugin
        .runner()
        .connection("deployer", down.url(), None)
        .unwrap();
    let failed = runner.apply(&spec).await.unwrap_err();
    assert!(
        matches!(&failed, Error::Call(RuntimeCallError::Guest { .. })),
        "{failed:?}"
    );
    assert!(failed.to_string().contains("500"), "{failed}");

    let ungranted = plugin
        .runner()
        .connection("deployer", down.url(), None)
        .unwrap()
        .without(Capability::Connections);
    let denied = ungranted.apply(&spec).await.unwrap_err();
    assert!(
        matches!(
            &denied,
            Error::Call(RuntimeCallError::Guest {
                error: GuestError::Denied(_),
                ..
            })
        ),
        "{denied:?}"
    );
    assert_eq!(down.requests().len(), 1, "nothing sent without the grant");

    let malformed = plugin.runner().connection("deployer", "not a url", None);
    assert!(
        matches!(&malformed, Err(Error::Connection { name, .. }) if name == "deployer"),
        "a malformed base URL is refused naming the connection"
    );
}
