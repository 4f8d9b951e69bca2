//! The Docker capability's figure (DESIGN.md §5): a batch of 10 container creations through a
//! plugin's `docker` capability (fresh instance, guest, batch checks, the allow-list, bollard)
//! against the same 10 creations issued directly and concurrently with bollard, on the same
//! engine in the same run (target ≤ 1.15×).
//!
//! The engine ([`Engine`]) is `KOMANDER_TEST_DOCKER_HOST` when set; otherwise, as root with
//! Debian's docker.io and busybox-static installed, a private `dockerd` this benchmark starts in
//! a temporary directory and stops by its process id.

use std::{collections::HashMap, sync::Arc, time::Instant};

use anyhow::Context as _;
use bollard::{
    Docker,
    models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum},
    query_parameters::{CreateContainerOptions, RemoveContainerOptions},
};
use komander_e2e::{docker as test_docker, dockerd::PrivateDockerd, guests};
use komander_plugin_host::{
    PluginEngine,
    capabilities::{
        CallContext, Capability, DeploymentIds,
        docker::{
            DEPLOYMENT_LABEL, DockerGate, DockerScope, ENVIRONMENT_LABEL, PLUGIN_LABEL,
            PROJECT_LABEL,
        },
    },
};

use crate::plugins::{median, spec};

const CONTAINERS: usize = 10;
const ROUNDS: usize = 15;

/// The body the capability sends for the guest's `create-many` containers.
fn body(ids: &DeploymentIds) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(test_docker::IMAGE.into()),
        cmd: Some(["/bin/busybox", "sleep", "600"].map(String::from).to_vec()),
        env: Some(vec![]),
        labels: Some(HashMap::from([
            (PROJECT_LABEL.to_owned(), ids.project.clone()),
            (ENVIRONMENT_LABEL.to_owned(), ids.environment.clone()),
            (DEPLOYMENT_LABEL.to_owned(), ids.deployment.clone()),
            (PLUGIN_LABEL.to_owned(), "bench".to_owned()),
        ])),
        host_config: Some(HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn create_directly(docker: &Docker, ids: &DeploymentIds, prefix: &str) -> anyhow::Result<()> {
    let creations = (0..CONTAINERS).map(|i| {
        let options = CreateContainerOptions {
            name: Some(format!("{prefix}-{i}")),
            ..Default::default()
        };
        docker.create_container(Some(options), body(ids))
    });
    for created in futures_util::future::join_all(creations).await {
        created?;
    }
    Ok(())
}

async fn remove(docker: &Docker, prefix: &str) {
    let removals = (0..CONTAINERS).map(|i| {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        let name = format!("{prefix}-{i}");
        async move { docker.remove_container(&name, Some(options)).await }
    });
    futures_util::future::join_all(removals).await;
}

/// The engine the Docker figures run on: `KOMANDER_TEST_DOCKER_HOST`, or a private `dockerd`
/// stopped (by its pid) when this is dropped.
pub struct Engine {
    /// The private daemon, when this benchmark started one.
    _dockerd: Option<PrivateDockerd>,
    /// Its unix socket, `unix:///…/docker.sock`.
    pub host: String,
}

impl Engine {
    /// `KOMANDER_TEST_DOCKER_HOST`, or a private `dockerd` started now.
    pub async fn start() -> anyhow::Result<Engine> {
        if let Ok(host) = std::env::var("KOMANDER_TEST_DOCKER_HOST") {
            return Ok(Engine {
                _dockerd: None,
                host,
            });
        }
        let dockerd = PrivateDockerd::start(&[])
            .await
            .context("no Docker Engine: set KOMANDER_TEST_DOCKER_HOST or run as root")?;
        Ok(Engine {
            host: dockerd.host(),
            _dockerd: Some(dockerd),
        })
    }
}

/// Runs the Docker benchmark on `engine` and prints it.
pub async fn run(engine: &Engine) -> anyhow::Result<()> {
    let docker = test_docker::connect(&engine.host).await;
    let plugins = PluginEngine::new(None)?;
    let plugin = plugins
        .load(guests::bytes("komander_test_docker_guest"))
        .await?;
    let ids = DeploymentIds {
        project: "bench-project".into(),
        environment: "bench-environment".into(),
        deployment: format!("bench-{}", std::process::id()),
    };
    // The default gate (32) is above a batch's own 16: it does not slow the benchmark.
    let scope = Arc::new(DockerScope::new(
        docker.clone(),
        DockerGate::new(DockerGate::DEFAULT_SIZE),
        ids.clone(),
        "bench",
    ));
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let prefix = format!("kbench-{round}");
        let started = Instant::now();
        create_directly(&docker, &ids, &prefix).await?;
        direct.push(started.elapsed());
        remove(&docker, &prefix).await;

        let context = CallContext::builder(&plugin.manifest, [Capability::Docker])?
            .label("bench")
            .docker(scope.clone())
            .build();
        let count = CONTAINERS.to_string();
        let started = Instant::now();
        let lines = plugins
            .validate(
                &plugin,
                context,
                spec(&[
                    ("behavior", "create-many"),
                    ("count", &count),
                    ("prefix", &prefix),
                    ("image", test_docker::IMAGE),
                ]),
            )
            .await?;
        through.push(started.elapsed());
        anyhow::ensure!(lines.len() == CONTAINERS, "the guest created {lines:?}");
        remove(&docker, &prefix).await;
    }
    test_docker::remove_deployment(&docker, &ids.deployment).await;
    let (direct, through) = (median(direct), median(through));
    println!("\ndocker capability ({CONTAINERS} container creations, median of {ROUNDS} rounds)");
    println!(
        "  bollard directly, concurrently: {:.1} ms; through the capability: {:.1} ms; \
         ratio {:.2} (target <= 1.15)",
        direct.as_secs_f64() * 1e3,
        through.as_secs_f64() * 1e3,
        through.as_secs_f64() / direct.as_secs_f64()
    );
    Ok(())
}
