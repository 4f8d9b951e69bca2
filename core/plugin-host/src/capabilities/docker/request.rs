//! From the typed WIT records to the requests the Docker daemon receives.
//!
//! Each conversion checks what the records cannot express by their types (names, paths,
//! reserved labels, limits), adds Komander's labels, and hands the result to the one
//! allow-list validator in [`super::policy`]: what reaches the daemon is exactly
//! what was checked.

use std::{collections::HashMap, net::IpAddr};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountTmpfsOptions,
    MountType, NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};

use super::{
    DockerScope, LABEL_PREFIX,
    policy::{self, Refusal},
};
use crate::bindings::{
    docker_types::{
        ContainerSpec, ImageBuild, Mount as WitMount, NetworkSpec, RestartPolicy as Restart,
        VolumeSpec,
    },
    types::{EnvValue, Error as WitError, Protocol},
};

/// Bytes of a container, network or volume name.
const NAME_BYTES: usize = 128;

/// Processes one container may run: a fork bomb stops here, not at the host's limit.
pub const PIDS_LIMIT: i64 = 4096;

/// The one network driver option a guest may set.
const NETWORK_OPTIONS: &[&str] = &["com.docker.network.driver.mtu"];

/// A container create request, checked: the body (every network in its endpoints, as
/// validated) and the networks to connect after the create, since Docker's API 1.41 attaches
/// only one network at create time.
pub(super) struct ContainerRequest {
    /// The body to send, with the first network only.
    pub body: ContainerCreateBody,
    /// The other networks and their aliases, connected after the create.
    pub more_networks: Vec<(String, Vec<String>)>,
}

/// Checks a name of a container, network or volume: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most
/// 128 bytes.
pub(super) fn check_name(what: &str, name: &str) -> Result<(), WitError> {
    let mut chars = name.chars();
    let valid = name.len() <= NAME_BYTES
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(WitError::InvalidInput(format!(
            "{what} name {name:?} must match [a-zA-Z0-9][a-zA-Z0-9_.-]* and be at most \
             {NAME_BYTES} bytes"
        )))
    }
}

/// The validator's refusal as the WIT `denied` error.
pub(super) fn denied(refusal: Refusal) -> WitError {
    WitError::Denied(format!("Docker refuses this request here: {refusal}"))
}

/// The guest's labels plus Komander's; a guest label under `dev.komander.` is invalid input.
fn labels(
    scope: &DockerScope,
    guest: &[(String, String)],
) -> Result<HashMap<String, String>, WitError> {
    let mut all = HashMap::with_capacity(guest.len() + scope.policy.labels.len() + 1);
    for (key, value) in guest {
        if key.starts_with(LABEL_PREFIX) {
            return Err(WitError::InvalidInput(format!(
                "label {key:?}: keys starting with {LABEL_PREFIX:?} are reserved for Komander"
            )));
        }
        all.insert(key.clone(), value.clone());
    }
    all.extend(scope.labels());
    Ok(all)
}

fn absolute(what: &str, path: &str) -> Result<(), WitError> {
    if path.starts_with('/') && !path.contains('\0') {
        Ok(())
    } else {
        Err(WitError::InvalidInput(format!(
            "{what} {path:?} must be an absolute path"
        )))
    }
}

/// Converts and checks a container spec.
pub(super) fn container(
    scope: &DockerScope,
    spec: &ContainerSpec,
) -> Result<ContainerRequest, WitError> {
    check_name("container", &spec.name)?;
    scope.check_image_reference(&spec.image)?;
    let env =
        spec.env
            .iter()
            .map(|var| {
                let valid_name = var.name.chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                });
                if var.name.is_empty() || !valid_name {
                    return Err(WitError::InvalidInput(format!(
                        "environment variable name {:?} must match [A-Za-z_][A-Za-z0-9_]*",
                        var.name
                    )));
                }
                let value = match &var.value {
                    EnvValue::Plain(value) => value.as_str(),
                    EnvValue::Secret(reference) => scope.secrets.get(&reference.name)?,
                };
                Ok(format!("{}={value}", var.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
    if let Some(dir) = &spec.working_dir {
        absolute("working-dir", dir)?;
    }
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &spec.ports {
        if port.container_port == 0 || port.host_port == Some(0) {
            return Err(WitError::InvalidInput("ports are 1 to 65535".into()));
        }
        let host_ip = match &port.host_ip {
            None => "127.0.0.1".to_owned(),
            Some(ip) => ip
                .parse::<IpAddr>()
                .map_err(|_| {
                    WitError::InvalidInput(format!("host-ip {ip:?} is not an IP address"))
                })?
                .to_string(),
        };
        let protocol = match port.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        port_bindings
            .entry(format!("{}/{protocol}", port.container_port))
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(host_ip),
                host_port: Some(port.host_port.map(|p| p.to_string()).unwrap_or_default()),
            });
    }
    let mounts = spec
        .mounts
        .iter()
        .map(|mount| self::mount(scope, mount))
        .collect::<Result<Vec<_>, _>>()?;
    let mut endpoints = HashMap::new();
    let mut networks = Vec::new();
    for attachment in &spec.networks {
        if endpoints.contains_key(&attachment.network) {
            return Err(WitError::InvalidInput(format!(
                "network {:?} is listed twice",
                attachment.network
            )));
        }
        endpoints.insert(
            attachment.network.clone(),
            EndpointSettings {
                aliases: Some(attachment.aliases.clone()).filter(|a| !a.is_empty()),
                ..Default::default()
            },
        );
        networks.push((attachment.network.clone(), attachment.aliases.clone()));
    }
    let memory = spec.resources.memory_bytes;
    let nano_cpus = spec.resources.nano_cpus;
    scope.check_resources(memory, nano_cpus)?;
    let healthcheck = spec.healthcheck.as_ref().map(|check| {
        let nanos = |ms: Option<u32>| ms.map(|ms| i64::from(ms) * 1_000_000);
        if check.test.is_empty() {
            return Err(WitError::InvalidInput(
                "a health check's test must not be empty".into(),
            ));
        }
        Ok(HealthConfig {
            test: Some(
                std::iter::once("CMD".to_owned())
                    .chain(check.test.iter().cloned())
                    .collect(),
            ),
            interval: nanos(check.interval_ms),
            timeout: nanos(check.timeout_ms),
            retries: check.retries.map(i64::from),
            start_period: nanos(check.start_period_ms),
            start_interval: None,
        })
    });
    let mut body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: Some(env),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        exposed_ports: Some(port_bindings.keys().cloned().collect())
            .filter(|p: &Vec<_>| !p.is_empty()),
        labels: Some(labels(scope, &spec.labels)?),
        healthcheck: healthcheck.transpose()?,
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings).filter(|p| !p.is_empty()),
            mounts: Some(mounts).filter(|m| !m.is_empty()),
            network_mode: networks.first().map(|(name, _)| name.clone()),
            restart_policy: Some(RestartPolicy {
                name: Some(match spec.restart {
                    Restart::No => RestartPolicyNameEnum::NO,
                    Restart::Always => RestartPolicyNameEnum::ALWAYS,
                    Restart::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
                    Restart::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
                }),
                maximum_retry_count: None,
            }),
            memory: memory.map(|m| m as i64),
            nano_cpus: nano_cpus.map(|n| n as i64),
            pids_limit: Some(PIDS_LIMIT),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    };
    // The validator sees every network the container will join; the daemon gets the first.
    policy::check_container(&body, &scope.policy).map_err(denied)?;
    // After the validator, so that `host` or `container:…` answers `denied`, as an escape.
    for (name, _) in &networks {
        check_name("network", name)?;
    }
    let mut more_networks = networks;
    let first = if more_networks.is_empty() {
        None
    } else {
        Some(more_networks.remove(0).0)
    };
    if let Some(config) = &mut body.networking_config {
        config.endpoints_config = config.endpoints_config.take().map(|mut all| {
            all.drain()
                .filter(|(name, _)| Some(name) == first.as_ref())
                .collect()
        });
    }
    Ok(ContainerRequest {
        body,
        more_networks,
    })
}

/// Converts one mount; a bind is resolved under the bind root (the validator then checks
/// where it really leads).
fn mount(scope: &DockerScope, mount: &WitMount) -> Result<Mount, WitError> {
    Ok(match mount {
        WitMount::Volume(volume) => {
            check_name("volume", &volume.name)?;
            absolute("mount target", &volume.target)?;
            Mount {
                typ: Some(MountType::VOLUME),
                source: Some(volume.name.clone()),
                target: Some(volume.target.clone()),
                read_only: Some(volume.read_only),
                ..Default::default()
            }
        }
        WitMount::Bind(bind) => {
            absolute("mount target", &bind.target)?;
            let Some(root) = &scope.policy.bind_root else {
                return Err(WitError::Denied(
                    "bind mounts are not allowed in this environment (it has no bind root)".into(),
                ));
            };
            let mut parts = std::path::Path::new(&bind.source).components();
            let single = matches!(
                (parts.next(), parts.next()),
                (Some(std::path::Component::Normal(_)), None)
            );
            if !single {
                return Err(WitError::Denied(format!(
                    "bind source {:?}: name one directory of the deployment's bind folder, \
                     such as \"data\"",
                    bind.source
                )));
            }
            // The host makes the directory; the validator then checks where it really leads.
            let source = root.join(&bind.source);
            std::fs::create_dir_all(&source).map_err(|e| {
                WitError::Internal(format!(
                    "making bind folder {:?}: {}",
                    bind.source,
                    e.kind()
                ))
            })?;
            Mount {
                typ: Some(MountType::BIND),
                source: Some(source.to_string_lossy().into_owned()),
                target: Some(bind.target.clone()),
                read_only: Some(bind.read_only),
                ..Default::default()
            }
        }
        WitMount::Tmpfs(tmpfs) => {
            absolute("mount target", &tmpfs.target)?;
            if tmpfs.size_bytes == 0 || tmpfs.size_bytes > i64::MAX as u64 {
                return Err(WitError::InvalidInput(
                    "a tmpfs needs a size of more than 0 bytes".into(),
                ));
            }
            Mount {
                typ: Some(MountType::TMPFS),
                target: Some(tmpfs.target.clone()),
                tmpfs_options: Some(MountTmpfsOptions {
                    size_bytes: Some(tmpfs.size_bytes as i64),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
    })
}

/// Converts and checks a network spec: the bridge driver, the MTU option only.
pub(super) fn network(
    scope: &DockerScope,
    spec: &NetworkSpec,
) -> Result<NetworkCreateRequest, WitError> {
    check_name("network", &spec.name)?;
    for (key, _) in &spec.options {
        if !NETWORK_OPTIONS.contains(&key.as_str()) {
            return Err(WitError::Denied(format!(
                "network option {key:?} is not allowed (allowed: {})",
                NETWORK_OPTIONS.join(", ")
            )));
        }
    }
    let request = NetworkCreateRequest {
        name: spec.name.clone(),
        driver: Some("bridge".into()),
        internal: Some(spec.internal),
        options: Some(spec.options.iter().cloned().collect())
            .filter(|o: &HashMap<_, _>| !o.is_empty()),
        labels: Some(labels(scope, &spec.labels)?),
        ..Default::default()
    };
    policy::check_network(&request, &scope.policy).map_err(denied)?;
    Ok(request)
}

/// Converts and checks a volume spec: the local driver without options.
pub(super) fn volume(
    scope: &DockerScope,
    spec: &VolumeSpec,
) -> Result<VolumeCreateRequest, WitError> {
    check_name("volume", &spec.name)?;
    let request = VolumeCreateRequest {
        name: Some(spec.name.clone()),
        driver: Some("local".into()),
        labels: Some(labels(scope, &spec.labels)?),
        ..Default::default()
    };
    policy::check_volume(&request, &scope.policy).map_err(denied)?;
    Ok(request)
}

/// The build of an image, checked: its tag under `komander/<deployment id>/`, its Dockerfile
/// inside the context (whose images are checked when the build runs, see [`super::build`]),
/// plain build arguments, Komander's labels on the image, the classic builder.
pub(super) struct BuildRequest {
    /// The options of `POST /build`.
    pub options: bollard::query_parameters::BuildImageOptions,
    /// The build context reference, resolved when the operation runs (an unknown one fails
    /// that operation only).
    pub context: String,
}

/// Converts and checks an image build.
pub(super) fn build(scope: &DockerScope, spec: &ImageBuild) -> Result<BuildRequest, WitError> {
    scope.check_own_image(&spec.tag, WitError::InvalidInput)?;
    let dockerfile = spec
        .dockerfile
        .clone()
        .unwrap_or_else(|| "Dockerfile".into());
    let inside = std::path::Path::new(&dockerfile).components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if !inside || dockerfile.is_empty() {
        return Err(WitError::Denied(format!(
            "dockerfile {dockerfile:?} must be a relative path inside the build context"
        )));
    }
    let options = bollard::query_parameters::BuildImageOptions {
        dockerfile,
        t: Some(spec.tag.clone()),
        rm: true,
        forcerm: true,
        buildargs: Some(spec.build_args.iter().cloned().collect()),
        labels: Some(labels(scope, &spec.labels)?),
        target: spec.target.clone().unwrap_or_default(),
        // The builder whose reading of the Dockerfile the host checks before the build.
        version: bollard::query_parameters::BuilderVersion::BuilderV1,
        ..Default::default()
    };
    policy::check_build(&options).map_err(denied)?;
    Ok(BuildRequest {
        options,
        context: spec.context.id.clone(),
    })
}
