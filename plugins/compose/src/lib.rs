//! Komander's first-party Docker runtime (`komander.compose`): a deployment's services run as
//! containers on the environment's Docker Engine, on one network of the deployment where each
//! service answers to its name, as Docker Compose would run them.
//!
//! - `plan` and `apply-step` compare each container with the spec's fields stored in its labels
//!   ([`names::fields`]): an unchanged container is left alone (a spec that already runs
//!   changes nothing), a changed one is replaced (the plan says why: `image changed: a -> b`,
//!   `variable MODE changed`), a removed service's deleted. A service with `pull: always` has
//!   its image pulled first, and its containers replaced when the image id changed; a container
//!   whose image reference now names another image on the engine is replaced too.
//! - Services start after those they depend on ([`order`]): a `started` dependency in the same
//!   batch; a `healthy` or `completed-successfully` one makes the step return a continuation
//!   until it is, so an apply may take several steps ([`converge`]).
//! - A service of several replicas runs as containers `<project>_<service>` and
//!   `<project>_<service>_<n>`; it cannot publish a host port (`validate` refuses it).
//! - `stop-step` stops every container, dependents first, keeping them; `start-step` starts them
//!   again in dependency order, creating nothing.
//! - `status` inspects each container: state, health, restart count, since when, replicas
//!   running.
//! - `destroy-step` removes the containers, the network and built images; the named volumes
//!   only when asked.
//! - `export-bundle` writes a `compose.yaml` and a `.env.example`.

mod converge;
mod export;
mod names;
mod order;
mod status;

use std::collections::BTreeMap;

use komander_plugin_sdk::{
    docker::{
        engine,
        types::{
            ContainerRemove, ContainerState, ContainerStop, ContainerSummary, Operation,
            OperationEntry, OperationResult, Outcome,
        },
    },
    runtime::{
        Bundle, DeploymentPlan, DeploymentSpec, DeploymentStatus, Error, LogEntry, LogPage,
        Runtime, ServiceSource, StepResult,
    },
};

struct Compose;

/// A service's containers, by replica number.
type Replicas = BTreeMap<u32, ContainerSummary>;

/// The deployment's containers by service name, then replica number.
fn running() -> Result<BTreeMap<String, Replicas>, Error> {
    let mut services: BTreeMap<String, Replicas> = BTreeMap::new();
    for container in engine::list_containers(&[])? {
        let Some(service) = label(&container, names::SERVICE_LABEL) else {
            continue;
        };
        let replica = label(&container, names::REPLICA_LABEL)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        services
            .entry(service.to_owned())
            .or_default()
            .insert(replica, container);
    }
    Ok(services)
}

fn label<'a>(container: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    container
        .labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn entry(id: String, depends_on: Vec<String>, op: Operation) -> OperationEntry {
    OperationEntry { id, depends_on, op }
}

/// Runs a batch; the first failure (in batch order) fails the step, naming its operation.
/// Answers the results.
fn run(batch: Vec<OperationEntry>) -> Result<Vec<OperationResult>, Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let results = engine::run_batch(&batch)?;
    for result in &results {
        if let Outcome::Failed(error) = &result.outcome {
            return Err(named(&result.id, error.clone()));
        }
    }
    Ok(results)
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

/// Operation ids name services and replica numbers, never containers: a container's name may
/// be longer than the 64 bytes an id may have.
///
/// Containers one deployment may hold: each takes up to three operations of one batch
/// (remove, create, start) beside its service's pull, and a batch holds at most 256.
const MAX_CONTAINERS: u32 = 60;

/// Seconds a container has to stop after SIGTERM before SIGKILL (Docker Compose's default).
const STOP_TIMEOUT_S: u32 = 10;

/// The most lines of progress one step reports (the WIT's limit).
const PROGRESS_LINES: usize = 100;

fn finished(progress_lines: Vec<String>) -> StepResult {
    StepResult {
        continuation: None,
        progress: progress_lines.into_iter().take(PROGRESS_LINES).collect(),
        done: true,
    }
}

/// Refuses a continuation: the steps of this operation finish in one call.
fn one_step(operation: &str, continuation: &Option<Vec<u8>>) -> Result<(), Error> {
    match continuation {
        Some(_) => Err(Error::InvalidInput(format!(
            "this runtime {operation} in one step and issues no continuation"
        ))),
        None => Ok(()),
    }
}

impl Runtime for Compose {
    fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
        if let Some((key, _)) = spec.settings.first() {
            return Err(Error::InvalidInput(format!(
                "this runtime has no setting {key:?}"
            )));
        }
        let mut problems = Vec::new();
        let containers: u32 = spec
            .services
            .iter()
            .map(|s| s.replicas)
            .fold(0, u32::saturating_add);
        if containers > MAX_CONTAINERS {
            problems.push(format!(
                "this runtime runs at most {MAX_CONTAINERS} containers in one deployment, not \
                 {containers} (replicas included)"
            ));
        }
        let mut warnings = Vec::new();
        for service in &spec.services {
            let name = &service.name;
            if service.replicas == 0 {
                problems.push(format!("service {name}: replicas must be at least 1"));
            }
            let published: Vec<&_> = service
                .ports
                .iter()
                .filter(|p| p.host_port.is_some())
                .collect();
            if service.replicas > 1 && !published.is_empty() {
                problems.push(format!(
                    "service {name}: {} replicas cannot share host port {}: publish no host \
                     port, or run one replica",
                    service.replicas,
                    published[0].host_port.unwrap_or_default()
                ));
            }
            if let Some(check) = &service.health_check {
                problems.extend(converge::health_check_problems(name, check));
            }
            for port in published {
                if matches!(port.host_address.as_deref(), None | Some("127.0.0.1")) {
                    warnings.push(format!(
                        "service {name}: port {} is published on 127.0.0.1 only",
                        port.host_port.unwrap_or_default()
                    ));
                }
            }
        }
        if let Err(Error::InvalidInput(problem)) = order::services(&spec) {
            problems.push(problem);
        }
        if problems.is_empty() {
            Ok(warnings)
        } else {
            Err(Error::InvalidInput(problems.join("; ")))
        }
    }

    fn plan(spec: DeploymentSpec) -> Result<DeploymentPlan, Error> {
        converge::plan(&spec)
    }

    fn apply_step(
        spec: DeploymentSpec,
        continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        converge::step(&spec, continuation, converge::Mode::Apply)
    }

    fn stop_step(spec: DeploymentSpec, continuation: Option<Vec<u8>>) -> Result<StepResult, Error> {
        one_step("stops", &continuation)?;
        let current = running()?;
        let mut batch = Vec::new();
        let mut lines = Vec::new();
        let stop_id = |service: &str, replica: u32| format!("stop:{service}:{replica}");
        for (service, replicas) in &current {
            // Dependents stop first: a service stops after every service that depends on it.
            let dependents: Vec<String> = spec
                .services
                .iter()
                .filter(|s| s.depends_on.iter().any(|d| &d.service == service))
                .flat_map(|s| {
                    current
                        .get(&s.name)
                        .into_iter()
                        .flat_map(|r| r.keys())
                        .map(|n| stop_id(&s.name, *n))
                        .collect::<Vec<_>>()
                })
                .collect();
            for (replica, c) in replicas {
                batch.push(entry(
                    stop_id(service, *replica),
                    dependents.clone(),
                    Operation::StopContainer(ContainerStop {
                        name: c.name.clone(),
                        timeout_s: STOP_TIMEOUT_S,
                    }),
                ));
                if matches!(
                    c.state,
                    ContainerState::Running | ContainerState::Restarting | ContainerState::Paused
                ) {
                    lines.push(format!("stopped container {}", c.name));
                }
            }
        }
        run(batch)?;
        if lines.is_empty() {
            lines.push("nothing to stop".into());
        }
        Ok(finished(lines))
    }

    fn start_step(
        spec: DeploymentSpec,
        continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        converge::step(&spec, continuation, converge::Mode::Start)
    }

    fn status(spec: DeploymentSpec) -> Result<DeploymentStatus, Error> {
        status::status(&spec, &running()?)
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
        let current = running()?;
        let containers: Vec<&ContainerSummary> = current
            .get(&service)
            .map(|r| r.values().collect())
            .unwrap_or_default();
        match containers.as_slice() {
            // One container (or none yet): the engine's own cursor.
            [] => engine::logs(
                &names::container(&spec, &service, 1),
                cursor.as_deref(),
                max_lines,
            ),
            [one] => engine::logs(&one.name, cursor.as_deref(), max_lines),
            several => merged_logs(several, cursor.as_deref(), max_lines),
        }
    }

    fn destroy_step(
        spec: DeploymentSpec,
        continuation: Option<Vec<u8>>,
        remove_volumes: bool,
    ) -> Result<StepResult, Error> {
        one_step("destroys", &continuation)?;
        let current = running()?;
        let mut batch = Vec::new();
        let mut containers = Vec::new();
        let mut lines = Vec::new();
        for (service, replicas) in &current {
            for (n, c) in replicas {
                let id = format!("remove:{service}:{n}");
                batch.push(entry(
                    id.clone(),
                    vec![],
                    Operation::RemoveContainer(ContainerRemove {
                        name: c.name.clone(),
                        force: true,
                    }),
                ));
                containers.push(id);
                lines.push(format!("removed container {}", c.name));
            }
        }
        batch.push(entry(
            "network".into(),
            containers.clone(),
            Operation::RemoveNetwork(names::network(&spec)),
        ));
        lines.push(format!("removed network {}", names::network(&spec)));
        for volume in names::volumes(&spec.services) {
            let name = names::volume(&spec, volume);
            if remove_volumes {
                batch.push(entry(
                    format!("volume:{volume}"),
                    containers.clone(),
                    Operation::RemoveVolume(name.clone()),
                ));
                lines.push(format!("removed volume {name}"));
            } else {
                lines.push(format!("kept volume {name}"));
            }
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
        Ok(finished(lines))
    }

    fn export_bundle(spec: DeploymentSpec) -> Result<Bundle, Error> {
        Ok(export::bundle(&spec))
    }
}

/// The log of a service of several containers: each container's page (an even share of
/// `max_lines`, at least one line) merged by time. The cursor holds each container's own, one
/// `<container> <cursor>` a line.
fn merged_logs(
    containers: &[&ContainerSummary],
    cursor: Option<&str>,
    max_lines: u32,
) -> Result<LogPage, Error> {
    let cursors: BTreeMap<&str, &str> = match cursor {
        None => BTreeMap::new(),
        Some(text) => text
            .lines()
            .map(|l| {
                l.split_once(' ').ok_or_else(|| {
                    Error::InvalidInput("this cursor is not one of this service's".into())
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let share = (max_lines / containers.len() as u32).max(1);
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut next = String::new();
    let mut more = false;
    for c in containers {
        let page = engine::logs(&c.name, cursors.get(c.name.as_str()).copied(), share)?;
        entries.extend(page.entries);
        more |= page.more;
        next.push_str(&format!("{} {}\n", c.name, page.next));
    }
    entries.sort_by_key(|e| e.timestamp_ms);
    Ok(LogPage {
        entries,
        next,
        more,
    })
}

komander_plugin_sdk::export_runtime!(Compose, manifest = "komander-plugin.toml");
