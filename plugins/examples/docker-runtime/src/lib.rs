//! The plugin guide's Docker runtime (docs/plugins.md, "Docker"), compiled and tested so that
//! the guide cannot go stale: one step that pulls each service's image, replaces its container
//! and starts it.

use komander_plugin_sdk::{
    docker::{
        engine,
        types::{
            ContainerRemove, ContainerSpec, ImagePull, NetworkAttachment, NetworkSpec, Operation,
            OperationEntry, Outcome, PortBinding, PullPolicy, Resources, RestartPolicy,
        },
    },
    runtime::{DeploymentSpec, Error, Runtime, ServiceSource, StepResult},
};

struct DockerRuntime;

fn entry(id: &str, depends_on: &[&str], op: Operation) -> OperationEntry {
    OperationEntry {
        id: id.into(),
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        op,
    }
}

impl Runtime for DockerRuntime {
    fn apply_step(spec: DeploymentSpec, _: Option<Vec<u8>>) -> Result<StepResult, Error> {
        let prefix = format!("{}_{}_{}", spec.project, spec.environment, spec.deployment);
        let network = NetworkSpec {
            name: prefix.clone(),
            internal: false,
            labels: vec![],
            options: vec![],
        };
        let mut batch = vec![entry("net", &[], Operation::CreateNetwork(network))];
        for s in &spec.services {
            let ServiceSource::Image(image) = &s.source else {
                return Err(Error::InvalidInput(format!(
                    "{} is built from source",
                    s.name
                )));
            };
            let name = format!("{prefix}_{}", s.name);
            let (pull, remove) = (format!("pull-{}", s.name), format!("remove-{}", s.name));
            let (create, start) = (format!("create-{}", s.name), format!("start-{}", s.name));
            let container = ContainerSpec {
                name: name.clone(),
                image: image.clone(),
                command: s.command.clone(),
                entrypoint: None,
                env: s.env.clone(), // the host substitutes secret values
                working_dir: None,
                user: None,
                hostname: None,
                ports: s
                    .ports
                    .iter()
                    .map(|p| PortBinding {
                        container_port: p.container_port,
                        protocol: p.protocol,
                        host_port: p.host_port,
                        host_ip: None, // 127.0.0.1
                    })
                    .collect(),
                mounts: vec![],
                networks: vec![NetworkAttachment {
                    network: prefix.clone(),
                    aliases: vec![s.name.clone()],
                }],
                restart: RestartPolicy::UnlessStopped,
                healthcheck: None,
                labels: vec![],
                resources: Resources {
                    memory_bytes: None,
                    nano_cpus: None,
                },
            };
            let fetch = ImagePull {
                image: image.clone(),
                policy: PullPolicy::IfMissing,
                platform: None,
            };
            let old = ContainerRemove {
                name: name.clone(),
                force: true,
            };
            batch.extend([
                entry(&pull, &[], Operation::PullImage(fetch)),
                // the old container goes once the new image is there
                entry(&remove, &[pull.as_str()], Operation::RemoveContainer(old)),
                entry(
                    &create,
                    &["net", pull.as_str(), remove.as_str()],
                    Operation::CreateContainer(container),
                ),
                entry(&start, &[create.as_str()], Operation::StartContainer(name)),
            ]);
        }
        for result in engine::run_batch(&batch)? {
            if let Outcome::Failed(error) = result.outcome {
                return Err(error); // after a retryable error, the host runs the step again
            }
        }
        Ok(StepResult {
            continuation: None,
            progress: vec!["deployed".into()],
            done: true,
        })
    }
}

komander_plugin_sdk::export_runtime!(DockerRuntime, manifest = "komander-plugin.toml");
