//! The plugin guide's Docker and Kubernetes runtimes (`plugins/examples/docker-runtime`,
//! `plugins/examples/kubernetes-runtime`, whose code the guide quotes), run with this kit: the
//! Docker one on the test engine (`KOMANDER_TEST_DOCKER_HOST`), the Kubernetes one up to the
//! cluster, since no API server runs in Komander's tests.

#[path = "../../../tests/src/docker.rs"]
mod test_docker;

use std::{collections::HashMap, path::PathBuf};

use bollard::query_parameters::ListContainersOptions;
use komander_plugin_testkit::{
    Error, GuestError, KubernetesGrant, RuntimeCallError, ServiceSource, ServiceSpec, TestPlugin,
    deployment,
};

/// The crate of the guide's example `name`.
fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/examples")
        .join(name)
}

/// What the runtime answered, when it answered an error.
fn guest_error(result: Result<impl std::fmt::Debug, Error>) -> GuestError {
    match result {
        Err(Error::Call(RuntimeCallError::Guest { error, .. })) => error,
        other => panic!("expected an error of the runtime, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guides_docker_runtime_starts_each_service_on_the_engine() {
    let Ok(host) = std::env::var("KOMANDER_TEST_DOCKER_HOST") else {
        assert!(test_docker::engine().await.is_none()); // loud skip; fails under CI=true
        return;
    };
    let docker = test_docker::connect(&host).await;
    let plugin = TestPlugin::build(example("docker-runtime")).await.unwrap();
    let runner = plugin.runner().docker(&host).await.unwrap();
    let mut web = ServiceSpec::new(
        "s-web",
        "web",
        ServiceSource::Image(test_docker::IMAGE.into()),
    );
    web.command = Some(["/bin/busybox", "sleep", "600"].map(String::from).to_vec());
    let spec = deployment(&format!("guide-{}", std::process::id()), vec![web]);

    let applied = runner.apply(&spec).await;
    let again = runner.apply(&spec).await; // replaces the container: safe to repeat
    let label = format!("dev.komander.deployment={}", spec.deployment_id);
    let running = docker
        .list_containers(Some(ListContainersOptions {
            filters: Some(HashMap::from([("label".to_owned(), vec![label])])),
            ..Default::default()
        }))
        .await
        .unwrap();
    test_docker::remove_deployment(&docker, &spec.deployment_id).await;

    assert_eq!(applied.unwrap().progress, ["deployed"]);
    again.unwrap();
    let names: Vec<String> = running
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect();
    assert_eq!(names, [format!("/test_test_{}_web", spec.deployment)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guides_kubernetes_runtime_needs_its_namespace_and_reaches_for_the_cluster() {
    let plugin = TestPlugin::build(example("kubernetes-runtime"))
        .await
        .unwrap();
    // A cluster nowhere: every check before contact runs, then the call answers unavailable.
    let nowhere = "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    \
                   server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n\
                   - name: tester\n  user:\n    token: not-a-real-token\ncontexts:\n\
                   - name: nowhere\n  context: {cluster: nowhere, user: tester}\n\
                   current-context: nowhere\n";
    let grant = KubernetesGrant {
        namespaces: ["shop-dev".to_owned()].into(),
        kinds: ["Deployment".to_owned()].into(),
        ..KubernetesGrant::default()
    };
    let runner = plugin.runner().kubernetes(nowhere, grant).await.unwrap();
    let web = ServiceSpec::new("s-web", "web", ServiceSource::Image("nginx:1".into()));
    let mut spec = deployment("app", vec![web]);

    let missing = guest_error(runner.apply(&spec).await);
    assert!(
        matches!(&missing, GuestError::InvalidInput(m) if m.contains("namespace")),
        "{missing:?}"
    );
    spec.settings.push(("namespace".into(), "elsewhere".into()));
    let outside = guest_error(runner.apply(&spec).await);
    assert!(matches!(outside, GuestError::Denied(_)), "{outside:?}");
    spec.settings[0].1 = "shop-dev".into();
    let unreachable = guest_error(runner.apply(&spec).await);
    assert!(
        matches!(unreachable, GuestError::Unavailable(_)),
        "{unreachable:?}"
    );
}
