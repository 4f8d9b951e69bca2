//! How the runtime names what it creates, and the hash that tells whether a running
//! container is what the spec asks for.

use komander_plugin_sdk::runtime::{DeploymentSpec, EnvValue, ServiceSource, ServiceSpec};

/// The label holding a container's service name (Docker Compose's own).
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// The label holding the Compose project name.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label holding the hash of the service's desired spec.
pub const SPEC_HASH_LABEL: &str = "komander.compose.spec-hash";

/// The Compose project name: `<project>_<environment>_<deployment>` (slugs, which never hold
/// `_`, so two deployments never share a name).
pub fn project(spec: &DeploymentSpec) -> String {
    format!("{}_{}_{}", spec.project, spec.environment, spec.deployment)
}

/// The deployment's network.
pub fn network(spec: &DeploymentSpec) -> String {
    project(spec)
}

/// A service's container.
pub fn container(spec: &DeploymentSpec, service: &str) -> String {
    format!("{}_{service}", project(spec))
}

/// A named volume of the deployment.
pub fn volume(spec: &DeploymentSpec, volume: &str) -> String {
    format!("{}_{volume}", project(spec))
}

/// The volumes `services` mount, each once, by name.
pub fn volumes<'a>(services: impl IntoIterator<Item = &'a ServiceSpec>) -> Vec<&'a str> {
    let mut names: Vec<&str> = services
        .into_iter()
        .flat_map(|s| s.volumes.iter().map(|v| v.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The tag of a service's built image.
pub fn built_image(spec: &DeploymentSpec, service: &ServiceSpec) -> String {
    format!("komander/{}/{}:latest", spec.deployment_id, service.name)
}

/// The image a service's container runs.
pub fn image(spec: &DeploymentSpec, service: &ServiceSpec) -> String {
    match &service.source {
        ServiceSource::Image(reference) => reference.clone(),
        ServiceSource::Build(_) => built_image(spec, service),
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms, which `std`'s hasher is not.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The hash of everything in a service's spec that its container is created from. A secret
/// variable counts by its reference: a new secret value alone does not recreate the
/// container (the value never reaches the runtime).
pub fn spec_hash(spec: &DeploymentSpec, service: &ServiceSpec) -> String {
    let mut text = format!("image={}\n", image(spec, service));
    if let ServiceSource::Build(build) = &service.source {
        text.push_str(&format!(
            "build={} {:?} {:?} {:?}\n",
            build.context.description, build.dockerfile, build.target, build.args
        ));
    }
    text.push_str(&format!("command={:?}\n", service.command));
    for port in &service.ports {
        text.push_str(&format!(
            "port={} {:?} {:?}\n",
            port.container_port, port.protocol, port.host_port
        ));
    }
    for volume in &service.volumes {
        text.push_str(&format!(
            "volume={} {} {}\n",
            volume.name, volume.target, volume.read_only
        ));
    }
    for var in &service.env {
        match &var.value {
            EnvValue::Plain(value) => text.push_str(&format!("env={}={value:?}\n", var.name)),
            EnvValue::Secret(reference) => {
                text.push_str(&format!("secret={}={}\n", var.name, reference.name))
            }
        }
    }
    format!("{:016x}", fnv1a(&text))
}
