//! A Docker runtime tested with this kit on a real engine: the first-party Compose runtime
//! (`plugins/compose`) applies a one-service deployment on the test engine
//! (`KOMANDER_TEST_DOCKER_HOST`, which `bash scripts/test.sh` starts), reads its status and
//! logs, and destroys it, leaving nothing behind.

#[path = "../../../tests/src/docker.rs"]
mod test_docker;

use std::path::PathBuf;

use komander_plugin_testkit::{ServiceSource, ServiceSpec, ServiceState, TestPlugin, deployment};

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_runtime_runs_a_service_on_the_engine_and_removes_it() {
    let Ok(host) = std::env::var("KOMANDER_TEST_DOCKER_HOST") else {
        // Skips loudly outside CI, fails under CI=true.
        assert!(test_docker::engine().await.is_none());
        return;
    };
    let docker = test_docker::connect(&host).await; // builds the test image when missing
    let plugin =
        TestPlugin::build(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/compose"))
            .await
            .unwrap();
    let runner = plugin.runner().docker(&host).await.unwrap();
    let mut web = ServiceSpec::new(
        "s-web",
        "web",
        ServiceSource::Image(test_docker::IMAGE.into()),
    );
    web.command = Some(
        [
            "/bin/busybox",
            "sh",
            "-c",
            "echo hello from web; exec /bin/busybox sleep 600",
        ]
        .map(String::from)
        .to_vec(),
    );
    let spec = deployment(&format!("testkit-{}", std::process::id()), vec![web]);

    let applied = runner.apply(&spec).await;
    let outcome = async {
        let applied = applied?;
        let status = runner.status(&spec).await?;
        let logs = runner.logs(&spec, "web", None, 10).await?;
        Ok::<_, komander_plugin_testkit::Error>((applied, status, logs))
    }
    .await;
    let destroyed = runner.destroy(&spec, true).await;
    test_docker::remove_deployment(&docker, &spec.deployment_id).await;

    let (applied, status, logs) = outcome.unwrap();
    assert!(applied.steps >= 1, "{applied:?}");
    assert_eq!(
        status.services[0].state,
        ServiceState::Running,
        "{status:?}"
    );
    // The container may not have printed yet when logs are first read: the line is either
    // there or the page is empty, never anything else.
    assert!(
        logs.entries.iter().all(|e| e.line == "hello from web"),
        "{logs:?}"
    );
    destroyed.unwrap();
    let after = runner.status(&spec).await.unwrap();
    assert_eq!(after.services[0].state, ServiceState::Missing, "{after:?}");
}
