//! Each Docker operation against the daemon, scoped to the call's deployment: objects without
//! the deployment's labels are invisible (`not-found`, or `conflict` when a name is taken by
//! one), and every operation is bounded in time.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bollard::{
    models::{
        ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary as DockerSummary,
        EndpointSettings, HealthStatusEnum, NetworkConnectRequest, NetworkCreateRequest, PortMap,
        PortSummaryTypeEnum, VolumeCreateRequest,
    },
    query_parameters::{
        CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
        RemoveImageOptions, RemoveVolumeOptions, StopContainerOptions,
    },
};
use futures_util::StreamExt;

use super::{
    DEPLOYMENT_LABEL, DockerScope, build, engine_error,
    request::{self, BuildRequest, ContainerRequest},
    status_of,
};
use crate::{
    bindings::{
        docker_types::{
            ContainerInfo, ContainerState, ContainerSummary, Health, OpOutput, Operation,
            PortBinding, PullPolicy,
        },
        types::{Error as WitError, Protocol},
    },
    capabilities::log_pages::rfc3339_ms,
};

/// How long one operation may take (a stop: its own timeout plus this).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// How long a pull or a build may take. It goes on after the guest's call ends.
pub const IMAGE_TIMEOUT: Duration = Duration::from_secs(600);

/// Seconds a stop may give a container before SIGKILL.
const MAX_STOP_SECONDS: u32 = 600;

/// An operation converted and checked, ready to run.
pub(super) enum Prepared {
    Pull {
        image: String,
        policy: PullPolicy,
        platform: Option<String>,
    },
    Build(Box<BuildRequest>),
    RemoveImage(String),
    CreateNetwork(NetworkCreateRequest),
    RemoveNetwork(String),
    CreateVolume(VolumeCreateRequest),
    RemoveVolume(String),
    CreateContainer {
        name: String,
        volumes: Vec<String>,
        request: Box<ContainerRequest>,
    },
    StartContainer(String),
    StopContainer {
        name: String,
        timeout_s: u32,
    },
    RemoveContainer {
        name: String,
        force: bool,
    },
    InspectContainer(String),
}

/// Converts and checks one operation without touching the daemon.
pub(super) fn prepare(scope: &DockerScope, op: &Operation) -> Result<Prepared, WitError> {
    let named = |what: &str, name: &String| request::check_name(what, name).map(|()| name.clone());
    Ok(match op {
        Operation::PullImage(pull) => {
            scope.check_image_reference(&pull.image)?;
            Prepared::Pull {
                image: pull.image.clone(),
                policy: pull.policy,
                platform: pull.platform.clone(),
            }
        }
        Operation::BuildImage(build) => Prepared::Build(Box::new(request::build(scope, build)?)),
        Operation::RemoveImage(tag) => {
            scope.check_own_image(tag, WitError::Denied)?;
            Prepared::RemoveImage(tag.clone())
        }
        Operation::CreateNetwork(spec) => Prepared::CreateNetwork(request::network(scope, spec)?),
        Operation::RemoveNetwork(name) => Prepared::RemoveNetwork(named("network", name)?),
        Operation::CreateVolume(spec) => Prepared::CreateVolume(request::volume(scope, spec)?),
        Operation::RemoveVolume(name) => Prepared::RemoveVolume(named("volume", name)?),
        Operation::CreateContainer(spec) => Prepared::CreateContainer {
            name: spec.name.clone(),
            volumes: spec
                .mounts
                .iter()
                .filter_map(|m| match m {
                    crate::bindings::docker_types::Mount::Volume(v) => Some(v.name.clone()),
                    _ => None,
                })
                .collect(),
            request: Box::new(request::container(scope, spec)?),
        },
        Operation::StartContainer(name) => Prepared::StartContainer(named("container", name)?),
        Operation::StopContainer(stop) => {
            if stop.timeout_s > MAX_STOP_SECONDS {
                return Err(WitError::InvalidInput(format!(
                    "a stop timeout is at most {MAX_STOP_SECONDS} seconds"
                )));
            }
            Prepared::StopContainer {
                name: named("container", &stop.name)?,
                timeout_s: stop.timeout_s,
            }
        }
        Operation::RemoveContainer(remove) => Prepared::RemoveContainer {
            name: named("container", &remove.name)?,
            force: remove.force,
        },
        Operation::InspectContainer(name) => Prepared::InspectContainer(named("container", name)?),
    })
}

/// Runs one prepared operation within [`OPERATION_TIMEOUT`], holding a slot of the scope's
/// [`super::DockerGate`] (waiting for one counts against the timeout).
///
/// The operation runs in a task of its own: when the guest's call ends first (its wall-clock
/// timeout), the operation still finishes (a pull completes, a create is not cut between
/// its steps), and a repeated step finds its result; it keeps its slot until then.
pub(super) async fn execute(scope: Arc<DockerScope>, op: Prepared) -> Result<OpOutput, WitError> {
    let limit = match &op {
        Prepared::Pull { .. } | Prepared::Build(_) => IMAGE_TIMEOUT,
        Prepared::StopContainer { timeout_s, .. } => {
            Duration::from_secs(u64::from(*timeout_s)) + OPERATION_TIMEOUT
        }
        _ => OPERATION_TIMEOUT,
    };
    let task = tokio::spawn(async move {
        let slots = scope.gate.size();
        let work = async {
            // Held until the operation ends, also after the guest's call has.
            let _slot = scope.gate.enter().await;
            run(&scope, op).await
        };
        tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(WitError::Timeout(format!(
                "the operation took longer than {limit:?}, counting the wait for one of the \
                 server's {slots} Docker operation slots"
            )))
        })
    });
    task.await
        .unwrap_or_else(|e| Err(WitError::Internal(format!("the operation failed: {e}"))))
}

async fn run(scope: &DockerScope, op: Prepared) -> Result<OpOutput, WitError> {
    let docker = &scope.client;
    match op {
        Prepared::Pull {
            image,
            policy,
            platform,
        } => pull(scope, &image, policy, platform).await,
        Prepared::Build(request) => build::run(scope, *request).await,
        Prepared::RemoveImage(tag) => {
            match docker
                .remove_image(&tag, None::<RemoveImageOptions>, None)
                .await
            {
                Ok(_) => Ok(OpOutput::Done),
                Err(e) if status_of(&e) == Some(404) => Ok(OpOutput::Done),
                Err(e) => Err(engine_error(e)),
            }
        }
        Prepared::CreateNetwork(request) => match network(scope, &request.name).await? {
            Presence::Own(id) => Ok(OpOutput::Network(id)),
            Presence::Foreign => Err(taken("network", &request.name)),
            Presence::Missing => docker
                .create_network(request)
                .await
                .map(|created| OpOutput::Network(created.id))
                .map_err(engine_error),
        },
        Prepared::RemoveNetwork(name) => match network(scope, &name).await? {
            // By the id the check found: a name can also match a foreign network's id prefix.
            Presence::Own(id) => match docker.remove_network(&id).await {
                Ok(()) => Ok(OpOutput::Done),
                Err(e) if status_of(&e) == Some(404) => Ok(OpOutput::Done),
                // Docker answers 403 while containers are attached.
                Err(e) if matches!(status_of(&e), Some(403 | 409)) => {
                    Err(WitError::Conflict(engine_error(e).to_string()))
                }
                Err(e) => Err(engine_error(e)),
            },
            Presence::Foreign | Presence::Missing => Ok(OpOutput::Done),
        },
        Prepared::CreateVolume(request) => {
            let name = request.name.clone().unwrap_or_default();
            match volume(scope, &name).await? {
                Presence::Own(()) => Ok(OpOutput::Volume(name)),
                Presence::Foreign => Err(taken("volume", &name)),
                Presence::Missing => docker
                    .create_volume(request)
                    .await
                    .map(|created| OpOutput::Volume(created.name))
                    .map_err(engine_error),
            }
        }
        Prepared::RemoveVolume(name) => match volume(scope, &name).await? {
            Presence::Own(()) => match docker
                .remove_volume(&name, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => Ok(OpOutput::Done),
                Err(e) if status_of(&e) == Some(404) => Ok(OpOutput::Done),
                Err(e) => Err(engine_error(e)),
            },
            Presence::Foreign | Presence::Missing => Ok(OpOutput::Done),
        },
        Prepared::CreateContainer {
            name,
            volumes,
            request,
        } => create_container(scope, name, volumes, *request).await,
        Prepared::StartContainer(name) => {
            let id = own_container_id(scope, &name).await?;
            docker
                .start_container(&id, None)
                .await
                .map(|()| OpOutput::Done)
                .map_err(engine_error)
        }
        Prepared::StopContainer { name, timeout_s } => {
            let id = own_container_id(scope, &name).await?;
            let options = StopContainerOptions {
                t: Some(timeout_s as i32),
                signal: None,
            };
            docker
                .stop_container(&id, Some(options))
                .await
                .map(|()| OpOutput::Done)
                .map_err(engine_error)
        }
        Prepared::RemoveContainer { name, force } => match own_container_id(scope, &name).await {
            Ok(id) => {
                // `v`: the anonymous volumes an image's VOLUME made go with the container.
                let options = RemoveContainerOptions {
                    force,
                    v: true,
                    ..Default::default()
                };
                match docker.remove_container(&id, Some(options)).await {
                    Ok(()) => Ok(OpOutput::Done),
                    Err(e) if status_of(&e) == Some(404) => Ok(OpOutput::Done),
                    Err(e) => Err(engine_error(e)),
                }
            }
            Err(WitError::NotFound(_)) => Ok(OpOutput::Done),
            Err(e) => Err(e),
        },
        Prepared::InspectContainer(name) => own_container(scope, &name)
            .await
            .map(|found| OpOutput::Inspected(info(&found))),
    }
}

/// Whether a named object exists, and whose it is.
enum Presence<T> {
    /// No object has that name.
    Missing,
    /// One exists, without this deployment's labels.
    Foreign,
    /// This deployment's, with what the caller needs of it.
    Own(T),
}

fn taken(what: &str, name: &str) -> WitError {
    WitError::Conflict(format!(
        "a {what} named {name:?} exists outside this deployment"
    ))
}

/// Sorts an inspect answer into [`Presence`].
fn presence<T, R>(
    scope: &DockerScope,
    answer: Result<T, bollard::errors::Error>,
    labels: impl FnOnce(&T) -> Option<&HashMap<String, String>>,
    keep: impl FnOnce(T) -> R,
) -> Result<Presence<R>, WitError> {
    match answer {
        Ok(found) if scope.owns(labels(&found)) => Ok(Presence::Own(keep(found))),
        Ok(_) => Ok(Presence::Foreign),
        Err(e) if status_of(&e) == Some(404) => Ok(Presence::Missing),
        Err(e) => Err(engine_error(e)),
    }
}

/// A network of this deployment, by name, and its id.
async fn network(scope: &DockerScope, name: &str) -> Result<Presence<String>, WitError> {
    let answer = scope.client.inspect_network(name, None).await;
    presence(
        scope,
        answer,
        |n| n.labels.as_ref(),
        |n| n.id.unwrap_or_default(),
    )
}

/// A volume of this deployment, by name.
async fn volume(scope: &DockerScope, name: &str) -> Result<Presence<()>, WitError> {
    let answer = scope.client.inspect_volume(name).await;
    presence(scope, answer, |v| Some(&v.labels), |_| ())
}

/// The id of this deployment's container `name`: every action after the ownership check
/// goes by it, since Docker also resolves a name as the prefix of another container's id.
pub(super) async fn own_container_id(scope: &DockerScope, name: &str) -> Result<String, WitError> {
    let found = own_container(scope, name).await?;
    found
        .id
        .ok_or_else(|| WitError::Internal(format!("Docker gave container {name:?} no id")))
}

/// A container of this deployment, by name; any other answers `not-found`.
pub(super) async fn own_container(
    scope: &DockerScope,
    name: &str,
) -> Result<ContainerInspectResponse, WitError> {
    let answer = scope.client.inspect_container(name, None).await;
    match presence(
        scope,
        answer,
        |c| c.config.as_ref().and_then(|c| c.labels.as_ref()),
        |c| c,
    )? {
        Presence::Own(found) => Ok(found),
        Presence::Foreign | Presence::Missing => Err(WitError::NotFound(format!(
            "this deployment has no container named {name:?}"
        ))),
    }
}

async fn create_container(
    scope: &DockerScope,
    name: String,
    volumes: Vec<String>,
    request: ContainerRequest,
) -> Result<OpOutput, WitError> {
    for volume_name in &volumes {
        if !matches!(volume(scope, volume_name).await?, Presence::Own(())) {
            return Err(WitError::NotFound(format!(
                "volume {volume_name:?} is not one of this deployment's (create-volume it first)"
            )));
        }
    }
    let mut body = request.body;
    // Networks go by the ids their ownership check found.
    let network_id = |network_name: String| async move {
        match network(scope, &network_name).await? {
            Presence::Own(id) => Ok(id),
            _ => Err(WitError::NotFound(format!(
                "network {network_name:?} is not one of this deployment's (create-network it first)"
            ))),
        }
    };
    if let Some(first) = body
        .host_config
        .as_mut()
        .and_then(|h| h.network_mode.take())
    {
        let id = network_id(first.clone()).await?;
        if let Some(endpoints) = body
            .networking_config
            .as_mut()
            .and_then(|n| n.endpoints_config.as_mut())
            && let Some(endpoint) = endpoints.remove(&first)
        {
            endpoints.insert(id.clone(), endpoint);
        }
        if let Some(host) = body.host_config.as_mut() {
            host.network_mode = Some(id);
        }
    }
    let mut more_networks = Vec::with_capacity(request.more_networks.len());
    for (network_name, aliases) in request.more_networks {
        more_networks.push((network_id(network_name).await?, aliases));
    }
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let created = scope
        .client
        .create_container(Some(options), body)
        .await
        .map_err(|e| match status_of(&e) {
            Some(409) => WitError::Conflict(format!(
                "a container named {name:?} exists: remove it first to replace it"
            )),
            _ => engine_error(e),
        })?;
    for (network_id, aliases) in more_networks {
        let connect = NetworkConnectRequest {
            container: created.id.clone(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases).filter(|a| !a.is_empty()),
                ..Default::default()
            }),
        };
        if let Err(e) = scope.client.connect_network(&network_id, connect).await {
            // Never leave half a container behind: the create is undone.
            let remove = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            let _ = scope
                .client
                .remove_container(&created.id, Some(remove))
                .await;
            return Err(engine_error(e));
        }
    }
    Ok(OpOutput::Container(created.id))
}

/// `name:latest` for a reference without a tag or digest (Docker would pull every tag).
fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

async fn pull(
    scope: &DockerScope,
    image: &str,
    policy: PullPolicy,
    platform: Option<String>,
) -> Result<OpOutput, WitError> {
    let image = with_tag(image);
    if policy == PullPolicy::IfMissing
        && let Ok(found) = scope.client.inspect_image(&image).await
    {
        return Ok(OpOutput::Image(found.id.unwrap_or_default()));
    }
    let options = CreateImageOptions {
        from_image: Some(image.clone()),
        platform: platform.unwrap_or_default(),
        ..Default::default()
    };
    let mut progress = scope.client.create_image(Some(options), None, None);
    while let Some(item) = progress.next().await {
        let message = match item {
            Ok(info) => match info.error_detail.and_then(|d| d.message) {
                Some(message) => message,
                None => continue,
            },
            Err(bollard::errors::Error::DockerStreamError { error }) => error,
            // The engine relays the registry's refusal (an unreachable registry) this way.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => message,
            Err(e) => return Err(engine_error(e)),
        };
        return Err(pull_error(&image, message));
    }
    let found = scope
        .client
        .inspect_image(&image)
        .await
        .map_err(engine_error)?;
    Ok(OpOutput::Image(found.id.unwrap_or_default()))
}

/// A registry's refusal of a pull, sorted by what it says.
fn pull_error(image: &str, message: String) -> WitError {
    let lower = message.to_ascii_lowercase();
    let text = format!("pulling {image}: {message}");
    if lower.contains("not found")
        || lower.contains("manifest unknown")
        || lower.contains("does not exist")
    {
        WitError::NotFound(text)
    } else if lower.contains("denied") || lower.contains("unauthorized") {
        WitError::Denied(text)
    } else {
        WitError::Unavailable(text)
    }
}

/// Lists the deployment's containers carrying all of `labels`, holding a slot of the gate.
pub(super) async fn list_containers(
    scope: &DockerScope,
    labels: &[(String, String)],
) -> Result<Vec<ContainerSummary>, WitError> {
    let filter = std::iter::once(format!("{DEPLOYMENT_LABEL}={}", scope.deployment))
        .chain(labels.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_owned(), filter)])),
        ..Default::default()
    };
    let _slot = scope.gate.enter().await;
    let mut found: Vec<ContainerSummary> = scope
        .client
        .list_containers(Some(options))
        .await
        .map_err(engine_error)?
        .iter()
        .filter(|c| scope.owns(c.labels.as_ref()))
        .map(summary)
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn protocol(tcp: bool) -> Protocol {
    if tcp { Protocol::Tcp } else { Protocol::Udp }
}

fn labels_of(labels: Option<&HashMap<String, String>>) -> Vec<(String, String)> {
    let mut labels: Vec<_> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.sort();
    labels
}

/// Health from Docker's human status, which is all a listing says on API 1.41.
fn health_from_status(status: &str) -> Health {
    if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::Unconfigured
    }
}

fn summary(c: &DockerSummary) -> ContainerSummary {
    let status = c.status.clone().unwrap_or_default();
    ContainerSummary {
        id: c.id.clone().unwrap_or_default(),
        name: c
            .names
            .iter()
            .flatten()
            .next()
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        image: c.image.clone().unwrap_or_default(),
        image_id: c.image_id.clone().unwrap_or_default(),
        state: state_named(c.state.as_ref().map_or("", AsRef::as_ref)),
        health: health_from_status(&status),
        status,
        labels: labels_of(c.labels.as_ref()),
        ports: c
            .ports
            .iter()
            .flatten()
            .map(|p| PortBinding {
                container_port: p.private_port,
                protocol: protocol(p.typ != Some(PortSummaryTypeEnum::UDP)),
                host_port: p.public_port,
                host_ip: p.ip.clone(),
            })
            .collect(),
        created_ms: c.created.map_or(0, |s| (s.max(0) as u64) * 1000),
    }
}

/// A container's state from Docker's name for it (listings and inspections use two enums
/// with the same names).
fn state_named(name: &str) -> ContainerState {
    match name {
        "running" => ContainerState::Running,
        "paused" => ContainerState::Paused,
        "restarting" => ContainerState::Restarting,
        "removing" => ContainerState::Removing,
        "exited" => ContainerState::Exited,
        "dead" => ContainerState::Dead,
        _ => ContainerState::Created,
    }
}

fn ports_of(map: Option<&PortMap>) -> Vec<PortBinding> {
    let mut ports = Vec::new();
    for (key, bindings) in map.into_iter().flatten() {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(container_port) = port.parse() else {
            continue;
        };
        for binding in bindings.iter().flatten() {
            ports.push(PortBinding {
                container_port,
                protocol: protocol(proto != "udp"),
                host_port: binding.host_port.as_deref().and_then(|p| p.parse().ok()),
                host_ip: binding.host_ip.clone(),
            });
        }
    }
    ports.sort_by_key(|p| (p.container_port, p.host_ip.clone()));
    ports
}

fn info(c: &ContainerInspectResponse) -> ContainerInfo {
    let state = c.state.clone().unwrap_or_default();
    let status = state.status.unwrap_or(ContainerStateStatusEnum::CREATED);
    let health = match state.health.as_ref().and_then(|h| h.status) {
        Some(HealthStatusEnum::STARTING) => Health::Starting,
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        _ => Health::Unconfigured,
    };
    let exited = matches!(
        status,
        ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD
    );
    let config = c.config.clone().unwrap_or_default();
    ContainerInfo {
        summary: ContainerSummary {
            id: c.id.clone().unwrap_or_default(),
            name: c
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: config.image.clone().unwrap_or_default(),
            image_id: c.image.clone().unwrap_or_default(),
            state: state_named(status.as_ref()),
            health,
            status: status.to_string(),
            labels: labels_of(config.labels.as_ref()),
            ports: ports_of(c.network_settings.as_ref().and_then(|n| n.ports.as_ref())),
            created_ms: c.created.as_deref().and_then(rfc3339_ms).unwrap_or(0),
        },
        exit_code: exited
            .then_some(state.exit_code)
            .flatten()
            .map(|code| code as i32),
        started_ms: state.started_at.as_deref().and_then(rfc3339_ms),
        finished_ms: state.finished_at.as_deref().and_then(rfc3339_ms),
        restart_count: c.restart_count.unwrap_or(0).max(0) as u32,
        oom_killed: state.oom_killed.unwrap_or(false),
        state_error: state.error.filter(|e| !e.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untagged_reference_pulls_latest_only() {
        assert_eq!(with_tag("busybox"), "busybox:latest");
        assert_eq!(with_tag("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(with_tag("ghcr.io/acme/api:1.2"), "ghcr.io/acme/api:1.2");
        assert_eq!(with_tag("api@sha256:abc"), "api@sha256:abc");
    }

    #[test]
    fn health_is_read_from_the_status() {
        assert_eq!(
            health_from_status("Up 3 minutes (healthy)"),
            Health::Healthy
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            Health::Starting
        );
        assert_eq!(
            health_from_status("Up 9 minutes (unhealthy)"),
            Health::Unhealthy
        );
        assert_eq!(
            health_from_status("Exited (0) 2 seconds ago"),
            Health::Unconfigured
        );
    }
}
