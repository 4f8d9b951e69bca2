//! Komander's first-party Docker runtime (`komander.compose`): a deployment's services run as
//! containers on the environment's Docker Engine, on one network of the deployment where each
//! service answers to its name, as Docker Compose would run them.
//!
//! - `plan` and `apply-step` compare each service's spec with a hash stored in its container's
//!   labels: an unchanged service is left alone (a spec that already runs changes nothing), a
//!   changed one is replaced, a removed one deleted. An apply is one batch: network, volumes
//!   and images first, then each container after what it needs, independent services at
//!   once.
//! - `destroy-step` removes the containers, the network, the volumes and built images.
//! - `export-bundle` writes a `compose.yaml` and a `.env.example`.

mod export;
mod names;

use std::collections::BTreeMap;

use komander_plugin_sdk::{
    docker::{
        engine,
        types::{
            ContainerRemove, ContainerSpec, ContainerState, ContainerSummary, Health, ImageBuild,
            ImagePull, Mount, NetworkAttachment, NetworkSpec, Operation, OperationEntry, Outcome,
            PortBinding, PullPolicy, Resources, RestartPolicy, VolumeMount, VolumeSpec,
        },
    },
    host::progress,
    runtime::{
        Bundle, Change, ChangeAction, DeploymentPlan, DeploymentSpec, DeploymentStatus, Error,
        LogPage, Runtime, ServiceSource, ServiceSpec, ServiceState, ServiceStatus, StepResult,
    },
};

struct Compose;

/// The deployment's containers by service name.
fn running() -> Result<BTreeMap<String, ContainerSummary>, Error> {
    Ok(engine::list_containers(&[])?
        .into_iter()
        .filter_map(|c| {
            let service = label(&c, names::SERVICE_LABEL)?.to_owned();
            Some((service, c))
        })
        .collect())
}

fn label<'a>(container: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    container
        .labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// What an apply does to one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Its container is what the spec asks for and runs.
    Keep,
    /// Its container is what the spec asks for but does not run.
    Start,
    /// It has no container yet.
    Create,
    /// Its container was made from another spec.
    Replace,
}

fn action(
    spec: &DeploymentSpec,
    service: &ServiceSpec,
    current: Option<&ContainerSummary>,
) -> Action {
    match current {
        None => Action::Create,
        Some(c) if label(c, names::SPEC_HASH_LABEL) != Some(&names::spec_hash(spec, service)) => {
            Action::Replace
        }
        Some(c)
            if matches!(
                c.state,
                ContainerState::Running | ContainerState::Restarting
            ) =>
        {
            Action::Keep
        }
        Some(c) if matches!(c.state, ContainerState::Created | ContainerState::Exited) => {
            Action::Start
        }
        // Paused, dead or being removed: Docker will not start it; a new one replaces it.
        Some(_) => Action::Replace,
    }
}

/// The container a service runs in.
fn container(spec: &DeploymentSpec, service: &ServiceSpec) -> ContainerSpec {
    ContainerSpec {
        name: names::container(spec, &service.name),
        image: names::image(spec, service),
        command: service.command.clone(),
        entrypoint: None,
        env: service.env.clone(),
        working_dir: None,
        user: None,
        hostname: Some(service.name.clone()),
        ports: service
            .ports
            .iter()
            .filter(|p| p.host_port.is_some())
            .map(|p| PortBinding {
                container_port: p.container_port,
                protocol: p.protocol,
                host_port: p.host_port,
                host_ip: None,
            })
            .collect(),
        mounts: service
            .volumes
            .iter()
            .map(|v| {
                Mount::Volume(VolumeMount {
                    name: names::volume(spec, &v.name),
                    target: v.target.clone(),
                    read_only: v.read_only,
                })
            })
            .collect(),
        networks: vec![NetworkAttachment {
            network: names::network(spec),
            aliases: vec![service.name.clone()],
        }],
        restart: RestartPolicy::UnlessStopped,
        healthcheck: None,
        labels: vec![
            (names::PROJECT_LABEL.into(), names::project(spec)),
            (names::SERVICE_LABEL.into(), service.name.clone()),
            ("com.docker.compose.container-number".into(), "1".into()),
            ("com.docker.compose.oneoff".into(), "False".into()),
            (
                names::SPEC_HASH_LABEL.into(),
                names::spec_hash(spec, service),
            ),
        ],
        resources: Resources {
            memory_bytes: None,
            nano_cpus: None,
        },
    }
}

fn entry(id: String, depends_on: Vec<String>, op: Operation) -> OperationEntry {
    OperationEntry { id, depends_on, op }
}

/// Runs a batch; the first failure (in batch order) fails the step, naming its operation.
fn run(batch: Vec<OperationEntry>) -> Result<(), Error> {
    if batch.is_empty() {
        return Ok(());
    }
    for result in engine::run_batch(&batch)? {
        if let Outcome::Failed(error) = result.outcome {
            return Err(named(&result.id, error));
        }
    }
    Ok(())
}

/// `error` with the operation that failed named in its message.
fn named(operation: &str, error: Error) -> Error {
    let with = |message: String| format!("{operation}: {message}");
    match error {
        Error::Denied(m) => Error::Denied(with(m)),
        Error::NotFound(m) => Error::NotFound(with(m)),
        Error::InvalidInput(m) => Error::InvalidInput(with(m)),
        Error::Conflict(m) => Error::Conflict(with(m)),
        Error::Unavailable(m) => Error::Unavailable(with(m)),
        Error::Timeout(m) => Error::Timeout(with(m)),
        Error::Internal(m) => Error::Internal(with(m)),
        rate_limited @ Error::RateLimited(_) => rate_limited,
    }
}

/// Services one deployment may hold: each takes up to four operations of one batch (pull,
/// remove, create, start), and a batch holds at most 256.
const MAX_SERVICES: usize = 60;

fn finished(progress_lines: Vec<String>) -> StepResult {
    StepResult {
        continuation: None,
        progress: progress_lines.into_iter().take(100).collect(),
        done: true,
    }
}

impl Runtime for Compose {
    fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
        if let Some((key, _)) = spec.settings.first() {
            return Err(Error::InvalidInput(format!(
                "this runtime has no setting {key:?}"
            )));
        }
        if spec.services.len() > MAX_SERVICES {
            return Err(Error::InvalidInput(format!(
                "this runtime runs at most {MAX_SERVICES} services in one deployment, not {}",
                spec.services.len()
            )));
        }
        let mut warnings = Vec::new();
        for service in &spec.services {
            for port in service.ports.iter().filter_map(|p| p.host_port) {
                warnings.push(format!(
                    "service {}: port {port} is published on 127.0.0.1 only",
                    service.name
                ));
            }
        }
        Ok(warnings)
    }

    fn plan(spec: DeploymentSpec) -> Result<DeploymentPlan, Error> {
        let current = running()?;
        let mut changes = Vec::new();
        for service in &spec.services {
            let (action, reason) = match action(&spec, service, current.get(&service.name)) {
                Action::Keep => continue,
                Action::Start => (ChangeAction::Update, "not running: start it".to_owned()),
                Action::Create => (ChangeAction::Create, "new service".to_owned()),
                Action::Replace => (
                    ChangeAction::Update,
                    "its spec changed: replace it".to_owned(),
                ),
            };
            changes.push(Change {
                action,
                kind: "container".into(),
                name: names::container(&spec, &service.name),
                reason,
            });
        }
        for (name, c) in &current {
            if !spec.services.iter().any(|s| &s.name == name) {
                changes.push(Change {
                    action: ChangeAction::Delete,
                    kind: "container".into(),
                    name: c.name.clone(),
                    reason: "no longer in the deployment".into(),
                });
            }
        }
        Ok(DeploymentPlan { changes })
    }

    fn apply_step(
        spec: DeploymentSpec,
        continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        if continuation.is_some() {
            return Err(Error::InvalidInput(
                "this runtime applies in one step and issues no continuation".into(),
            ));
        }
        let current = running()?;
        let mut batch = Vec::new();
        let mut lines = Vec::new();
        let mut needs: Vec<String> = Vec::new();
        let to_create: Vec<(&ServiceSpec, Action)> = spec
            .services
            .iter()
            .map(|s| (s, action(&spec, s, current.get(&s.name))))
            .filter(|(_, a)| *a != Action::Keep)
            .collect();
        if to_create
            .iter()
            .any(|(_, a)| matches!(a, Action::Create | Action::Replace))
        {
            batch.push(entry(
                "network".into(),
                vec![],
                Operation::CreateNetwork(NetworkSpec {
                    name: names::network(&spec),
                    internal: false,
                    labels: vec![(names::PROJECT_LABEL.into(), names::project(&spec))],
                    options: vec![],
                }),
            ));
            needs.push("network".into());
            for volume in names::volumes(to_create.iter().map(|(s, _)| *s)) {
                let id = format!("volume:{volume}");
                batch.push(entry(
                    id.clone(),
                    vec![],
                    Operation::CreateVolume(VolumeSpec {
                        name: names::volume(&spec, volume),
                        labels: vec![(names::PROJECT_LABEL.into(), names::project(&spec))],
                    }),
                ));
                needs.push(id);
            }
        }
        for (service, action) in &to_create {
            let name = names::container(&spec, &service.name);
            let start = format!("start:{}", service.name);
            if *action == Action::Start {
                batch.push(entry(
                    start,
                    vec![],
                    Operation::StartContainer(name.clone()),
                ));
                lines.push(format!("started container {name}"));
                continue;
            }
            let image = format!("image:{}", service.name);
            batch.push(entry(
                image.clone(),
                vec![],
                match &service.source {
                    ServiceSource::Image(reference) => Operation::PullImage(ImagePull {
                        image: reference.clone(),
                        policy: PullPolicy::IfMissing,
                        platform: None,
                    }),
                    ServiceSource::Build(build) => Operation::BuildImage(ImageBuild {
                        context: build.context.clone(),
                        dockerfile: build.dockerfile.clone(),
                        tag: names::built_image(&spec, service),
                        build_args: build.args.clone(),
                        target: build.target.clone(),
                        labels: vec![],
                    }),
                },
            ));
            let mut create_after = vec![image];
            create_after.extend(
                needs
                    .iter()
                    .filter(|n| {
                        *n == "network"
                            || service
                                .volumes
                                .iter()
                                .any(|v| **n == format!("volume:{}", v.name))
                    })
                    .cloned(),
            );
            if *action == Action::Replace {
                // The old container goes only once everything the new one needs is there.
                let remove = format!("remove:{}", service.name);
                batch.push(entry(
                    remove.clone(),
                    create_after.clone(),
                    Operation::RemoveContainer(ContainerRemove {
                        name: name.clone(),
                        force: true,
                    }),
                ));
                create_after.push(remove);
                lines.push(format!("replaced container {name}"));
            } else {
                lines.push(format!("created container {name}"));
            }
            let create = format!("create:{}", service.name);
            batch.push(entry(
                create.clone(),
                create_after,
                Operation::CreateContainer(container(&spec, service)),
            ));
            batch.push(entry(start, vec![create], Operation::StartContainer(name)));
        }
        for (service, c) in &current {
            if !spec.services.iter().any(|s| &s.name == service) {
                batch.push(entry(
                    format!("remove:{service}"),
                    vec![],
                    Operation::RemoveContainer(ContainerRemove {
                        name: c.name.clone(),
                        force: true,
                    }),
                ));
                lines.push(format!("removed container {}", c.name));
            }
        }
        let total = batch.len() as u32;
        run(batch)?;
        progress::report("apply", total, total);
        if lines.is_empty() {
            lines.push("nothing to change".into());
        }
        Ok(finished(lines))
    }

    fn status(spec: DeploymentSpec) -> Result<DeploymentStatus, Error> {
        let current = running()?;
        let services = spec
            .services
            .iter()
            .map(|service| {
                let (state, message) = match current.get(&service.name) {
                    None => (ServiceState::Missing, String::new()),
                    Some(c) => (
                        match (c.state, c.health) {
                            (ContainerState::Running, Health::Unhealthy) => ServiceState::Unhealthy,
                            (ContainerState::Running, Health::Starting) => ServiceState::Starting,
                            (ContainerState::Running, _) => ServiceState::Running,
                            (ContainerState::Created, _) => ServiceState::Starting,
                            (ContainerState::Paused, _) => ServiceState::Stopped,
                            (ContainerState::Exited, _) if c.status.starts_with("Exited (0)") => {
                                ServiceState::Stopped
                            }
                            _ => ServiceState::Failed,
                        },
                        c.status.clone(),
                    ),
                };
                ServiceStatus {
                    service: service.name.clone(),
                    state,
                    message,
                }
            })
            .collect();
        Ok(DeploymentStatus { services })
    }

    fn logs(
        spec: DeploymentSpec,
        service: String,
        cursor: Option<String>,
        max_lines: u32,
    ) -> Result<LogPage, Error> {
        if !spec.services.iter().any(|s| s.name == service) {
            return Err(Error::NotFound(format!(
                "the deployment has no service {service:?}"
            )));
        }
        engine::logs(
            &names::container(&spec, &service),
            cursor.as_deref(),
            max_lines,
        )
    }

    fn destroy_step(
        spec: DeploymentSpec,
        continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        if continuation.is_some() {
            return Err(Error::InvalidInput(
                "this runtime destroys in one step and issues no continuation".into(),
            ));
        }
        let current = running()?;
        let mut batch = Vec::new();
        let mut containers = Vec::new();
        for (service, c) in &current {
            let id = format!("remove:{service}");
            batch.push(entry(
                id.clone(),
                vec![],
                Operation::RemoveContainer(ContainerRemove {
                    name: c.name.clone(),
                    force: true,
                }),
            ));
            containers.push(id);
        }
        batch.push(entry(
            "network".into(),
            containers.clone(),
            Operation::RemoveNetwork(names::network(&spec)),
        ));
        for volume in names::volumes(&spec.services) {
            batch.push(entry(
                format!("volume:{volume}"),
                containers.clone(),
                Operation::RemoveVolume(names::volume(&spec, volume)),
            ));
        }
        for service in &spec.services {
            if let ServiceSource::Build(_) = service.source {
                batch.push(entry(
                    format!("image:{}", service.name),
                    containers.clone(),
                    Operation::RemoveImage(names::built_image(&spec, service)),
                ));
            }
        }
        run(batch)?;
        Ok(finished(
            current
                .values()
                .map(|c| format!("removed container {}", c.name))
                .chain(std::iter::once(format!(
                    "removed network {}",
                    names::network(&spec)
                )))
                .collect(),
        ))
    }

    fn export_bundle(spec: DeploymentSpec) -> Result<Bundle, Error> {
        Ok(export::bundle(&spec))
    }
}

komander_plugin_sdk::export_runtime!(Compose, manifest = "komander-plugin.toml");
