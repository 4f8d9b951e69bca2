//! The first-party Compose runtime (`plugins/compose`) against the real Docker Engine: a
//! two-service deployment applied in one step, reachable on loopback, services finding each
//! other by name; a re-apply changes nothing; a change replaces only its service; export;
//! destroy leaves nothing.

use std::time::{Duration, Instant};

use komander_plugin_host::runtime::{
    DeploymentSpec, EnvValue, EnvVar, Protocol, SecretRef, ServicePort, ServiceSource, ServiceSpec,
    ServiceVolume,
};

use crate::{
    docker::{Deployment, free_port, get, test_docker},
    loading,
};

const PLUGIN: &str = "komander_compose";
const GRANTS: &[&str] = &["docker", "progress"];

fn service(name: &str, script: &str) -> ServiceSpec {
    ServiceSpec {
        id: format!("id-{name}"),
        name: name.into(),
        source: ServiceSource::Image(test_docker::IMAGE.into()),
        ports: vec![],
        volumes: vec![],
        env: vec![],
        command: Some(vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            script.into(),
        ]),
    }
}

fn spec(deployment: &Deployment, port: u16, worker_script: Option<&str>) -> DeploymentSpec {
    let mut web = service(
        "web",
        "echo $GREETING > /srv/index.html; exec /bin/busybox httpd -f -v -p 80 -h /srv",
    );
    web.ports = vec![ServicePort {
        container_port: 80,
        protocol: Protocol::Tcp,
        host_port: Some(port),
    }];
    web.volumes = vec![ServiceVolume {
        name: "data".into(),
        target: "/srv".into(),
        read_only: false,
    }];
    web.env = vec![EnvVar {
        name: "GREETING".into(),
        value: EnvValue::Secret(SecretRef {
            name: "web/GREETING".into(),
        }),
    }];
    let mut services = vec![web];
    if let Some(script) = worker_script {
        services.push(service("worker", script));
    }
    DeploymentSpec {
        project_id: deployment.ids.project.clone(),
        project: "shop".into(),
        environment_id: deployment.ids.environment.clone(),
        environment: "dev".into(),
        deployment_id: deployment.ids.deployment.clone(),
        deployment: deployment.prefix.clone(),
        services,
        settings: vec![],
    }
}

/// The worker asks the web service for its page by the service's name, every 200 ms.
const FETCH: &str = "while true; do /bin/busybox wget -q -O- http://web/; sleep 0.2; done";

#[tokio::test]
async fn the_compose_runtime_applies_replaces_exports_and_destroys() {
    let Some(deployment) = Deployment::new("compose").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let context = || deployment.guest_context(PLUGIN, GRANTS, |scope| scope);
    let port = free_port();
    let first = spec(&deployment, port, Some(FETCH));
    let project = format!("shop_dev_{}", deployment.prefix);
    let container = |service: &str| format!("{project}_{service}");

    let warnings = engine
        .validate(&plugin, context(), first.clone())
        .await
        .unwrap();
    assert_eq!(
        warnings,
        [format!(
            "service web: port {port} is published on 127.0.0.1 only"
        )]
    );
    let plan = engine
        .plan(&plugin, context(), first.clone())
        .await
        .unwrap();
    assert_eq!(plan.changes.len(), 2, "{plan:?}");

    let step = engine
        .apply_step(&plugin, context(), first.clone(), None)
        .await
        .unwrap();
    assert!(step.done && step.continuation.is_none());
    assert!(
        step.progress
            .contains(&format!("created container {}", container("web"))),
        "{step:?}"
    );
    assert_eq!(get(port).await.trim(), "hello-from-a-secret");
    let status = engine
        .status(&plugin, context(), first.clone())
        .await
        .unwrap();
    assert!(
        status
            .services
            .iter()
            .all(|s| format!("{:?}", s.state).contains("Running")),
        "{status:?}"
    );
    // The worker reaches the web service by its name on the deployment's network; what it
    // prints is the secret greeting, which its log shows redacted.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = engine
            .logs(&plugin, context(), first.clone(), "worker".into(), None, 50)
            .await
            .unwrap();
        if page.entries.iter().any(|e| e.line == "[secret]") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never reached web: {page:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Nothing changed: nothing to do, nothing recreated.
    let id = |name: String| {
        let docker = deployment.docker.clone();
        async move {
            docker
                .inspect_container(&name, None)
                .await
                .unwrap()
                .id
                .unwrap()
        }
    };
    let (web_id, worker_id) = (id(container("web")).await, id(container("worker")).await);
    assert!(
        engine
            .plan(&plugin, context(), first.clone())
            .await
            .unwrap()
            .changes
            .is_empty()
    );
    let again = engine
        .apply_step(&plugin, context(), first.clone(), None)
        .await
        .unwrap();
    assert_eq!(again.progress, ["nothing to change"]);
    assert_eq!(id(container("web")).await, web_id);

    // A changed worker is replaced; web stays.
    let changed = spec(&deployment, port, Some(&format!("{FETCH} # v2")));
    let plan = engine
        .plan(&plugin, context(), changed.clone())
        .await
        .unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].name, container("worker"));
    engine
        .apply_step(&plugin, context(), changed.clone(), None)
        .await
        .unwrap();
    assert_eq!(id(container("web")).await, web_id);
    assert_ne!(id(container("worker")).await, worker_id);

    // A service dropped from the spec is removed.
    let web_only = spec(&deployment, port, None);
    engine
        .apply_step(&plugin, context(), web_only.clone(), None)
        .await
        .unwrap();
    assert!(
        deployment
            .docker
            .inspect_container(&container("worker"), None)
            .await
            .is_err()
    );

    let bundle = engine
        .export_bundle(&plugin, context(), first.clone())
        .await
        .unwrap();
    let compose = &bundle.files[0];
    assert_eq!(compose.path, "compose.yaml");
    assert!(
        compose.content.contains("\"GREETING\": \"${GREETING}\""),
        "{}",
        compose.content
    );
    assert!(
        compose
            .content
            .contains(&format!("\"127.0.0.1:{port}:80/tcp\""))
    );
    assert_eq!(bundle.files[1].path, ".env.example");

    let destroyed = engine
        .destroy_step(&plugin, context(), web_only.clone(), None)
        .await
        .unwrap();
    assert!(destroyed.done);
    assert!(
        deployment
            .docker
            .inspect_container(&container("web"), None)
            .await
            .is_err()
    );
    assert!(
        deployment
            .docker
            .inspect_network(&project, None)
            .await
            .is_err()
    );
    assert!(
        deployment
            .docker
            .inspect_volume(&format!("{project}_data"))
            .await
            .is_err()
    );
    let status = engine
        .status(&plugin, context(), web_only.clone())
        .await
        .unwrap();
    assert!(format!("{:?}", status.services[0].state).contains("Missing"));
    // Destroying what is gone finishes at once.
    assert!(
        engine
            .destroy_step(&plugin, context(), web_only, None)
            .await
            .unwrap()
            .done
    );
    deployment.cleanup().await;
}
