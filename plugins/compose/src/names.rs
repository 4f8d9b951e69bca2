//! How the runtime names what it creates, and what it writes in a container's labels to tell
//! later whether the container is what the spec asks for, and if not, why.

use std::collections::BTreeMap;

use komander_plugin_sdk::runtime::{DeploymentSpec, EnvValue, ServiceSource, ServiceSpec};

/// The label holding a container's service name (Docker Compose's own).
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// The label holding the Compose project name.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label holding the replica's number, from 1 (Docker Compose's own).
pub const REPLICA_LABEL: &str = "com.docker.compose.container-number";
/// The label holding the hash of the service's desired spec.
pub const SPEC_HASH_LABEL: &str = "komander.compose.spec-hash";
/// The label holding the spec's fields a container was made from, one `key=value` a line
/// ([`fields`]), from which a plan tells what changed.
pub const SPEC_LABEL: &str = "komander.compose.spec";

/// The Compose project name: `<project>_<environment>_<deployment>` (slugs, which never hold
/// `_`, so two deployments never share a name).
pub fn project(spec: &DeploymentSpec) -> String {
    format!("{}_{}_{}", spec.project, spec.environment, spec.deployment)
}

/// The deployment's network.
pub fn network(spec: &DeploymentSpec) -> String {
    project(spec)
}

/// The container of a service's replica `replica` (from 1): `<project>_<service>` for the
/// first, `<project>_<service>_<replica>` for the others, so a service of one replica keeps
/// one name whatever it scales to.
pub fn container(spec: &DeploymentSpec, service: &str, replica: u32) -> String {
    if replica <= 1 {
        format!("{}_{service}", project(spec))
    } else {
        format!("{}_{service}_{replica}", project(spec))
    }
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

/// Everything in a service's spec that its containers are created from, as (key, value) in a
/// fixed order: the image reference as it is, every other field as a hash, a variable by its
/// name (`env:NAME`). A secret variable counts by its reference: a new secret value alone
/// does not recreate the container (the value never reaches the runtime). The replica count
/// and the pull policy are not in it: scaling or pulling does not replace a container.
pub fn fields(spec: &DeploymentSpec, service: &ServiceSpec) -> Vec<(String, String)> {
    let hashed = |text: String| format!("{:016x}", fnv1a(&text));
    let mut fields = vec![("image".to_owned(), image(spec, service))];
    if let ServiceSource::Build(build) = &service.source {
        fields.push((
            "build".into(),
            hashed(format!(
                "{} {:?} {:?} {:?}",
                build.context.description, build.dockerfile, build.target, build.args
            )),
        ));
    }
    let ports: Vec<String> = service
        .ports
        .iter()
        .map(|p| {
            format!(
                "{} {:?} {:?} {:?}",
                p.container_port, p.protocol, p.host_port, p.host_address
            )
        })
        .collect();
    let volumes: Vec<String> = service
        .volumes
        .iter()
        .map(|v| format!("{} {} {}", v.name, v.target, v.read_only))
        .collect();
    for (key, text) in [
        ("command", format!("{:?}", service.command)),
        ("entrypoint", format!("{:?}", service.entrypoint)),
        ("working-dir", format!("{:?}", service.working_dir)),
        ("user", format!("{:?}", service.user)),
        ("health-check", format!("{:?}", service.health_check)),
        ("restart", format!("{:?}", service.restart)),
        ("ports", format!("{ports:?}")),
        ("volumes", format!("{volumes:?}")),
        (
            "resources",
            format!("{:?} {:?}", service.memory_bytes, service.nano_cpus),
        ),
    ] {
        fields.push((key.to_owned(), hashed(text)));
    }
    for var in &service.env {
        let value = match &var.value {
            EnvValue::Plain(value) => format!("plain {value}"),
            EnvValue::Secret(reference) => format!("secret {}", reference.name),
        };
        fields.push((format!("env:{}", var.name), hashed(value)));
    }
    fields
}

/// The text of [`SPEC_LABEL`] for `fields`: one `key=value` a line.
pub fn spec_label(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// The hash of a service's [`fields`], stored in [`SPEC_HASH_LABEL`].
pub fn spec_hash(spec: &DeploymentSpec, service: &ServiceSpec) -> String {
    format!("{:016x}", fnv1a(&spec_label(&fields(spec, service))))
}

/// Why a container made from the fields written in `old` (its [`SPEC_LABEL`], if it has one)
/// is not what `new` asks for, for people: `image changed: a:1 -> a:2; variable MODE changed`.
pub fn changes(old: Option<&str>, new: &[(String, String)]) -> String {
    let Some(old) = old else {
        return "its spec changed".into();
    };
    let old: BTreeMap<&str, &str> = old.lines().filter_map(|l| l.split_once('=')).collect();
    let mut reasons = Vec::new();
    for (key, value) in new {
        match (old.get(key.as_str()), key.strip_prefix("env:")) {
            (Some(before), _) if before == value => {}
            (None, Some(name)) => reasons.push(format!("variable {name} added")),
            (Some(_), Some(name)) => reasons.push(format!("variable {name} changed")),
            (before, None) => reasons.push(match key.as_str() {
                "image" => format!("image changed: {} -> {value}", before.unwrap_or(&"none")),
                "working-dir" => "working directory changed".into(),
                "health-check" => "health check changed".into(),
                "restart" => "restart policy changed".into(),
                "resources" => "resource limits changed".into(),
                other => format!("{other} changed"),
            }),
        }
    }
    for key in old.keys() {
        if !new.iter().any(|(k, _)| k == key) {
            reasons.push(match key.strip_prefix("env:") {
                Some(name) => format!("variable {name} removed"),
                None => format!("{key} removed"),
            });
        }
    }
    if reasons.is_empty() {
        "its spec changed".into()
    } else {
        reasons.join("; ")
    }
}
