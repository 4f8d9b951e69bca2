//! The first-party Compose runtime (`plugins/compose`) against the real Docker Engine: a
//! two-service deployment applied in one step, reachable on loopback, services finding each
//! other by name; a re-apply changes nothing; a change replaces only its service; export;
//! destroy leaves nothing. Then the fields and functions of `komander:runtime@0.2`: health
//! checks and `healthy` dependencies, stop and start, destroy with and without volumes,
//! replicas, and a host address the target does not allow.

use std::time::{Duration, Instant};

use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::CallContext,
    runtime::{
        Dependency, DependencyCondition, DeploymentSpec, DeploymentStatus, EnvValue, EnvVar,
        GuestError, HealthCheck, Protocol, RuntimeCallError, SecretRef, ServiceHealth, ServicePort,
        ServiceSource, ServiceSpec, ServiceState, ServiceVolume, StepResult,
    },
};

use crate::{
    docker::{Deployment, free_port, get, test_docker},
    loading,
};

const PLUGIN: &str = "komander_compose";
const GRANTS: &[&str] = &["docker", "progress"];

fn service(name: &str, script: &str) -> ServiceSpec {
    ServiceSpec {
        command: Some(vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            script.into(),
        ]),
        ..ServiceSpec::new(
            format!("id-{name}"),
            name,
            ServiceSource::Image(test_docker::IMAGE.into()),
        )
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
        host_address: None,
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
        .destroy_step(&plugin, context(), web_only.clone(), None, true)
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
            .destroy_step(&plugin, context(), web_only, None, true)
            .await
            .unwrap()
            .done
    );
    deployment.cleanup().await;
}

/// `services` as one deployment of `deployment`.
fn deployment_of(deployment: &Deployment, services: Vec<ServiceSpec>) -> DeploymentSpec {
    DeploymentSpec {
        services,
        ..spec(deployment, 0, None)
    }
}

/// A service that runs until it is stopped, and stops at once on SIGTERM (exit 0).
fn idle(name: &str) -> ServiceSpec {
    service(
        name,
        "trap 'exit 0' TERM; while true; do /bin/busybox sleep 0.2; done",
    )
}

/// Which step function [`steps`] calls.
#[derive(Clone, Copy)]
enum Steps {
    Apply,
    Start,
}

/// Calls `apply-step` or `start-step` until done, as the host's runner does (a pause between
/// steps); answers every step's result.
async fn steps(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    context: impl Fn() -> CallContext,
    spec: &DeploymentSpec,
    which: Steps,
) -> Vec<StepResult> {
    let mut results: Vec<StepResult> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let continuation = results.last().and_then(|r| r.continuation.clone());
        let step = match which {
            Steps::Apply => {
                engine
                    .apply_step(plugin, context(), spec.clone(), continuation)
                    .await
            }
            Steps::Start => {
                engine
                    .start_step(plugin, context(), spec.clone(), continuation)
                    .await
            }
        }
        .unwrap();
        let done = step.done;
        results.push(step);
        if done {
            return results;
        }
        assert!(Instant::now() < deadline, "never done: {results:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn status(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    context: CallContext,
    spec: &DeploymentSpec,
) -> DeploymentStatus {
    engine.status(plugin, context, spec.clone()).await.unwrap()
}

/// The id of container `name`, if there is one.
async fn container_id(deployment: &Deployment, name: &str) -> Option<String> {
    deployment
        .docker
        .inspect_container(name, None)
        .await
        .ok()
        .and_then(|c| c.id)
}

async fn destroy(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    context: CallContext,
    spec: &DeploymentSpec,
    remove_volumes: bool,
) {
    let done = engine
        .destroy_step(plugin, context, spec.clone(), None, remove_volumes)
        .await
        .unwrap();
    assert!(done.done, "{done:?}");
}

#[tokio::test]
async fn a_healthy_dependency_is_waited_for_and_health_shows_in_status() {
    let Some(deployment) = Deployment::new("compose-health").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let context = || deployment.guest_context(PLUGIN, GRANTS, |scope| scope);
    let mut db = service(
        "db",
        "trap 'exit 0' TERM; /bin/busybox sleep 1; /bin/busybox touch /ready; \
         while true; do /bin/busybox sleep 0.2; done",
    );
    db.health_check = Some(HealthCheck {
        command: vec![
            "/bin/busybox".into(),
            "test".into(),
            "-f".into(),
            "/ready".into(),
        ],
        interval_ms: 300,
        timeout_ms: 1_000,
        retries: 3,
        // Failures before it is ready do not count; its first passing check counts.
        start_period_ms: 30_000,
    });
    let mut web = idle("web");
    web.depends_on = vec![Dependency {
        service: "db".into(),
        condition: DependencyCondition::Healthy,
    }];
    // The dependent first: the runtime orders by dependencies, not by the spec's order.
    let spec = deployment_of(&deployment, vec![web, db]);
    let project = format!("shop_dev_{}", deployment.prefix);

    let results = steps(&engine, &plugin, context, &spec, Steps::Apply).await;
    let first = &results[0];
    assert!(!first.done && first.continuation.is_some(), "{first:?}");
    assert!(
        first
            .progress
            .contains(&format!("created container {project}_db")),
        "{first:?}"
    );
    assert!(
        first
            .progress
            .iter()
            .any(|l| l == "service web waits for db to be healthy"),
        "{first:?}"
    );
    // Web is created at once, as Compose does, and started only once db is healthy.
    assert!(
        first.progress.contains(&format!(
            "created container {project}_web, to start once it may"
        )),
        "{first:?}"
    );
    assert!(
        !first
            .progress
            .iter()
            .any(|l| l.starts_with("started") && l.contains("_web")),
        "web waits for db: {first:?}"
    );
    let last = results.last().unwrap();
    assert!(
        last.progress
            .contains(&format!("started container {project}_web")),
        "{results:?}"
    );

    let status = status(&engine, &plugin, context(), &spec).await;
    let by_name = |name: &str| {
        status
            .services
            .iter()
            .find(|s| s.service == name)
            .unwrap()
            .clone()
    };
    let (db, web) = (by_name("db"), by_name("web"));
    assert_eq!(
        (db.state, db.health, db.replicas_running, db.restarts),
        (ServiceState::Running, ServiceHealth::Healthy, 1, 0),
        "{db:?}"
    );
    assert_eq!(
        (web.state, web.health, web.replicas_running),
        (ServiceState::Running, ServiceHealth::None, 1),
        "{web:?}"
    );
    let since = db.since_ms.expect("since when db runs");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(since <= now && now - since < 120_000, "{since} vs {now}");

    // Everything runs: one step, nothing to change.
    let again = steps(&engine, &plugin, context, &spec, Steps::Apply).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].progress, ["nothing to change"]);
    destroy(&engine, &plugin, context(), &spec, true).await;
    deployment.cleanup().await;
}

#[tokio::test]
async fn stop_then_start_keeps_the_containers_and_destroy_keeps_volumes_unless_asked() {
    let Some(deployment) = Deployment::new("compose-stop").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let context = || deployment.guest_context(PLUGIN, GRANTS, |scope| scope);
    let mut web = idle("web");
    web.volumes = vec![ServiceVolume {
        name: "data".into(),
        target: "/data".into(),
        read_only: false,
    }];
    let spec = deployment_of(&deployment, vec![web]);
    let project = format!("shop_dev_{}", deployment.prefix);
    let container = format!("{project}_web");
    let volume = format!("{project}_data");

    steps(&engine, &plugin, context, &spec, Steps::Apply).await;
    let id = container_id(&deployment, &container)
        .await
        .expect("created");

    let stopped = engine
        .stop_step(&plugin, context(), spec.clone(), None)
        .await
        .unwrap();
    assert!(stopped.done, "{stopped:?}");
    assert_eq!(stopped.progress, [format!("stopped container {container}")]);
    let web = status(&engine, &plugin, context(), &spec).await.services[0].clone();
    assert_eq!(
        (web.state, web.replicas_running),
        (ServiceState::Stopped, 0),
        "{web:?}"
    );
    assert!(web.since_ms.is_some(), "{web:?}");

    let started = steps(&engine, &plugin, context, &spec, Steps::Start).await;
    assert_eq!(
        started.last().unwrap().progress,
        [format!("started container {container}")]
    );
    assert_eq!(container_id(&deployment, &container).await, Some(id));
    let web = status(&engine, &plugin, context(), &spec).await.services[0].clone();
    assert_eq!(
        (web.state, web.replicas_running),
        (ServiceState::Running, 1)
    );

    // Destroy keeps the named volume unless asked to remove it.
    destroy(&engine, &plugin, context(), &spec, false).await;
    assert_eq!(container_id(&deployment, &container).await, None);
    assert!(
        deployment.docker.inspect_volume(&volume).await.is_ok(),
        "the volume is kept"
    );
    destroy(&engine, &plugin, context(), &spec, true).await;
    assert!(
        deployment.docker.inspect_volume(&volume).await.is_err(),
        "the volume is removed"
    );
    deployment.cleanup().await;
}

#[tokio::test]
async fn replicas_run_as_several_containers_and_cannot_share_a_host_port() {
    let Some(deployment) = Deployment::new("compose-replicas").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let context = || deployment.guest_context(PLUGIN, GRANTS, |scope| scope);
    let mut web = idle("web");
    web.replicas = 2;
    let mut published = web.clone();
    published.ports = vec![ServicePort {
        container_port: 80,
        protocol: Protocol::Tcp,
        host_port: Some(free_port()),
        host_address: None,
    }];
    let refused = engine
        .validate(
            &plugin,
            context(),
            deployment_of(&deployment, vec![published]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            RuntimeCallError::Guest { error: GuestError::InvalidInput(m), .. }
                if m.contains("service web: 2 replicas cannot share host port")
        ),
        "{refused}"
    );

    let spec = deployment_of(&deployment, vec![web.clone()]);
    let project = format!("shop_dev_{}", deployment.prefix);
    let (first, second) = (format!("{project}_web"), format!("{project}_web_2"));
    steps(&engine, &plugin, context, &spec, Steps::Apply).await;
    let first_id = container_id(&deployment, &first).await.expect("replica 1");
    assert!(
        container_id(&deployment, &second).await.is_some(),
        "replica 2"
    );
    let status = status(&engine, &plugin, context(), &spec).await;
    assert_eq!(
        (
            status.services[0].state,
            status.services[0].replicas_running
        ),
        (ServiceState::Running, 2),
        "{status:?}"
    );

    // Down to one replica: the second goes, the first stays as it is.
    web.replicas = 1;
    let one = deployment_of(&deployment, vec![web]);
    let plan = engine.plan(&plugin, context(), one.clone()).await.unwrap();
    assert_eq!(plan.changes.len(), 1, "{plan:?}");
    assert_eq!(plan.changes[0].name, second);
    steps(&engine, &plugin, context, &one, Steps::Apply).await;
    assert_eq!(container_id(&deployment, &second).await, None);
    assert_eq!(container_id(&deployment, &first).await, Some(first_id));
    destroy(&engine, &plugin, context(), &one, true).await;
    deployment.cleanup().await;
}

#[tokio::test]
async fn a_host_address_the_target_does_not_allow_is_refused() {
    let Some(deployment) = Deployment::new("compose-address").await else {
        return;
    };
    let (engine, plugin) = loading::load(PLUGIN).await;
    let mut web = idle("web");
    web.ports = vec![ServicePort {
        container_port: 80,
        protocol: Protocol::Tcp,
        host_port: Some(free_port()),
        host_address: Some("0.0.0.0".into()),
    }];
    let spec = deployment_of(&deployment, vec![web]);
    let context = deployment.guest_context(PLUGIN, GRANTS, |scope| scope);
    let refused = engine
        .apply_step(&plugin, context, spec.clone(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            RuntimeCallError::Guest { error: GuestError::Denied(m), .. }
                if m.contains("loopback and the addresses the target allows")
        ),
        "{refused}"
    );
    let project = format!("shop_dev_{}", deployment.prefix);
    assert_eq!(
        container_id(&deployment, &format!("{project}_web")).await,
        None
    );

    // A target that lists the address lets it through.
    let allowed = deployment.guest_context(PLUGIN, GRANTS, |scope| {
        scope.with_publish_addresses(["0.0.0.0".parse().unwrap()])
    });
    let done = engine
        .apply_step(&plugin, allowed, spec.clone(), None)
        .await
        .unwrap();
    assert!(done.done, "{done:?}");
    let context = || deployment.guest_context(PLUGIN, GRANTS, |scope| scope);
    destroy(&engine, &plugin, context(), &spec, true).await;
    deployment.cleanup().await;
}
