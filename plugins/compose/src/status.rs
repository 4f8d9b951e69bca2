//! `status`: each service's state, health, restart count, since when and running replicas,
//! from its containers as listed and inspected in one batch.

use std::collections::BTreeMap;

use komander_plugin_sdk::{
    docker::{
        engine,
        types::{ContainerInfo, ContainerState, Health, OpOutput, Operation, Outcome},
    },
    runtime::{
        DeploymentSpec, DeploymentStatus, Error, ServiceHealth, ServiceState, ServiceStatus,
    },
};

use crate::{Replicas, entry};

/// Exit codes of a process ended by `docker stop`: SIGTERM (143), or SIGKILL (137) once the
/// stop's grace period passed.
const STOPPED_BY_SIGNAL: [i32; 2] = [128 + 15, 128 + 9];

/// One container's state, with Docker's own words for people. An exited container counts as
/// stopped when it exited 0 or was ended by `docker stop` (SIGTERM, or SIGKILL without running
/// out of memory); any other exit is a failure.
fn state(info: &ContainerInfo) -> ServiceState {
    let c = &info.summary;
    match (c.state, c.health) {
        (ContainerState::Running, Health::Unhealthy) => ServiceState::Unhealthy,
        (ContainerState::Running, Health::Starting) => ServiceState::Starting,
        (ContainerState::Running, _) => ServiceState::Running,
        (ContainerState::Created, _) => ServiceState::Starting,
        (ContainerState::Paused, _) => ServiceState::Stopped,
        (ContainerState::Exited, _) if info.exit_code == Some(0) => ServiceState::Stopped,
        (ContainerState::Exited, _)
            if !info.oom_killed
                && info
                    .exit_code
                    .is_some_and(|code| STOPPED_BY_SIGNAL.contains(&code)) =>
        {
            ServiceState::Stopped
        }
        _ => ServiceState::Failed,
    }
}

/// How bad a state is, to report a service's worst container.
fn rank(state: ServiceState) -> u8 {
    match state {
        ServiceState::Running => 0,
        ServiceState::Stopped => 1,
        ServiceState::Starting => 2,
        ServiceState::Unhealthy => 3,
        ServiceState::Failed => 4,
        ServiceState::Missing => 5,
    }
}

fn health(health: Health) -> ServiceHealth {
    match health {
        Health::Unconfigured => ServiceHealth::None,
        Health::Starting => ServiceHealth::Starting,
        Health::Healthy => ServiceHealth::Healthy,
        Health::Unhealthy => ServiceHealth::Unhealthy,
    }
}

/// How bad a health is, to report a service's worst container.
fn health_rank(health: ServiceHealth) -> u8 {
    match health {
        ServiceHealth::None => 0,
        ServiceHealth::Healthy => 1,
        ServiceHealth::Starting => 2,
        ServiceHealth::Unhealthy => 3,
    }
}

/// When a container entered its state: its last start while it runs, its last stop once it
/// stopped, its creation before it ever started.
fn since(info: &ContainerInfo) -> Option<u64> {
    match info.summary.state {
        ContainerState::Running | ContainerState::Restarting | ContainerState::Paused => {
            info.started_ms
        }
        ContainerState::Created => Some(info.summary.created_ms),
        _ => info.finished_ms.or(info.started_ms),
    }
}

/// Docker's status of a container, with why it failed when Docker knows.
fn message(info: &ContainerInfo) -> String {
    let mut message = info.summary.status.clone();
    if info.oom_killed {
        message.push_str(" (out of memory)");
    }
    if let Some(error) = info.state_error.as_ref().filter(|e| !e.is_empty()) {
        message.push_str(&format!(": {error}"));
    }
    message
}

/// The status of every service of `spec`, in the spec's order.
///
/// # Errors
/// `unavailable` when the engine cannot be reached.
pub fn status(
    spec: &DeploymentSpec,
    current: &BTreeMap<String, Replicas>,
) -> Result<DeploymentStatus, Error> {
    // Operation ids name the service and replica: a container's name may be too long for one.
    let batch = spec
        .services
        .iter()
        .filter_map(|s| Some((s, current.get(&s.name)?)))
        .flat_map(|(s, r)| {
            r.iter().map(move |(n, c)| {
                entry(
                    format!("inspect:{}:{n}", s.name),
                    vec![],
                    Operation::InspectContainer(c.name.clone()),
                )
            })
        })
        .collect::<Vec<_>>();
    let mut inspected: BTreeMap<String, ContainerInfo> = BTreeMap::new();
    if !batch.is_empty() {
        for result in engine::run_batch(&batch)? {
            // A container removed since it was listed is not there: it counts as missing.
            if let Outcome::Ok(OpOutput::Inspected(info)) = result.outcome {
                inspected.insert(info.summary.name.clone(), info);
            }
        }
    }
    let services = spec
        .services
        .iter()
        .map(|service| {
            let infos: Vec<&ContainerInfo> = current
                .get(&service.name)
                .into_iter()
                .flat_map(|r| r.values())
                .filter(|c| {
                    // Replicas above the spec's count are on their way out.
                    c.labels.iter().all(|(k, v)| {
                        k != crate::names::REPLICA_LABEL
                            || v.parse::<u32>().is_ok_and(|n| n <= service.replicas.max(1))
                    })
                })
                .filter_map(|c| inspected.get(&c.name))
                .collect();
            let Some(worst) = infos.iter().max_by_key(|i| rank(state(i))) else {
                return ServiceStatus {
                    service: service.name.clone(),
                    state: ServiceState::Missing,
                    message: String::new(),
                    health: ServiceHealth::None,
                    restarts: 0,
                    since_ms: None,
                    replicas_running: 0,
                };
            };
            let mut service_state = state(worst);
            let replicas_running = infos
                .iter()
                .filter(|i| i.summary.state == ContainerState::Running)
                .count() as u32;
            if service_state == ServiceState::Running
                && (infos.len() as u32) < service.replicas.max(1)
            {
                // Some replicas are not created yet: rolling out.
                service_state = ServiceState::Starting;
            }
            ServiceStatus {
                service: service.name.clone(),
                state: service_state,
                message: message(worst),
                health: infos
                    .iter()
                    .map(|i| health(i.summary.health))
                    .max_by_key(|h| health_rank(*h))
                    .unwrap_or(ServiceHealth::None),
                restarts: infos.iter().map(|i| i.restart_count).sum(),
                since_ms: infos.iter().filter_map(|i| since(i)).max(),
                replicas_running,
            }
        })
        .collect();
    Ok(DeploymentStatus { services })
}
