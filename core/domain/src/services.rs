//! The rules a service's spec follows, alone ([`check_ports`], [`check_settings`]) and among
//! the other services of its deployment ([`check_deployment`], [`dependents`]). Pure functions:
//! the app runs them before it writes anything, the store runs the deployment-wide ones inside
//! the write's transaction.

use std::{collections::BTreeSet, fmt, net::IpAddr};

use crate::{
    api::{DependencyCondition, PortSpec, Protocol, ServiceSettings},
    names::ServiceName,
};

/// The most ports a service publishes or listens on.
pub const MAX_PORTS: usize = 64;
/// The most replicas a service runs: more is a typo or a resource-exhaustion attempt.
pub const MAX_REPLICAS: u32 = 100;
/// The most dependencies a service lists.
pub const MAX_DEPENDENCIES: usize = 64;
/// The most arguments in a command, entrypoint or health-check command.
pub const MAX_ARGS: usize = 256;
/// The longest argument, working directory or user, in characters (the document's
/// `maxLength`).
pub const MAX_ARG_CHARS: usize = 4096;
/// The longest a health-check interval, timeout or start period may be, in seconds (an hour).
pub const MAX_HEALTH_SECONDS: u32 = 3600;
/// The most retries of a health check.
pub const MAX_HEALTH_RETRIES: u32 = 100;
/// The largest CPU limit, in CPUs.
pub const MAX_CPUS: f64 = 1024.0;

/// A rule a service's spec breaks, naming the request field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    /// The request field at fault (`ports`, `depends_on`, `health_check.interval_seconds`…).
    pub field: String,
    /// What is wrong, naming the value.
    pub message: String,
}

fn refuse<T>(field: &str, message: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError {
        field: field.to_owned(),
        message: message.into(),
    })
}

/// Checks a service's ports: 1 to 65535, at most [`MAX_PORTS`], no container port listed twice
/// and no host binding used twice.
///
/// # Errors
/// A [`SpecError`] on `ports` naming the port.
pub fn check_ports(ports: &[PortSpec]) -> Result<(), SpecError> {
    if ports.len() > MAX_PORTS {
        return refuse("ports", format!("at most {MAX_PORTS} ports"));
    }
    for (i, p) in ports.iter().enumerate() {
        if p.container == 0 || p.host == Some(0) {
            return refuse("ports", "ports are between 1 and 65535");
        }
        let earlier = &ports[..i];
        if earlier
            .iter()
            .any(|q| q.container == p.container && q.protocol == p.protocol)
        {
            return refuse(
                "ports",
                format!("container port {} is listed twice", p.container),
            );
        }
        if let Some(q) = earlier.iter().find(|q| clash(p, q)) {
            return refuse(
                "ports",
                format!("host port {} is published twice", Binding(q)),
            );
        }
    }
    Ok(())
}

/// Whether two ports would bind the same host port: same port and protocol, on the same
/// address or on an unspecified one (0.0.0.0 or ::), which takes every address.
fn clash(a: &PortSpec, b: &PortSpec) -> bool {
    a.host.is_some()
        && a.host == b.host
        && a.protocol == b.protocol
        && (a.host_address == b.host_address
            || a.host_address.is_unspecified()
            || b.host_address.is_unspecified())
}

/// A host binding as people write it: `127.0.0.1:8080/tcp`.
struct Binding<'a>(&'a PortSpec);

impl fmt::Display for Binding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.0.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        let port = self.0.host.unwrap_or_default();
        match self.0.host_address {
            IpAddr::V4(address) => write!(f, "{address}:{port}/{protocol}"),
            IpAddr::V6(address) => write!(f, "[{address}]:{port}/{protocol}"),
        }
    }
}

/// Checks a service's settings on their own, with its ports: argument counts and lengths (no
/// NUL byte anywhere), an absolute working directory, a user without spaces, health-check
/// timing in range, limits above zero, 1 to [`MAX_REPLICAS`] replicas and no more than one
/// when a host port is published (two containers cannot bind one host port).
///
/// # Errors
/// A [`SpecError`] naming the field and the value.
pub fn check_settings(settings: &ServiceSettings, ports: &[PortSpec]) -> Result<(), SpecError> {
    check_args("command", &settings.command)?;
    check_args("entrypoint", &settings.entrypoint)?;
    if let Some(dir) = &settings.working_dir {
        check_text("working_dir", dir)?;
        if !dir.starts_with('/') {
            return refuse(
                "working_dir",
                format!("working directory {dir:?} is not an absolute path"),
            );
        }
    }
    if let Some(user) = &settings.user {
        check_text("user", user)?;
        if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse(
                "user",
                format!("user {user:?} must be a name, uid or uid:gid without spaces"),
            );
        }
    }
    if let Some(check) = &settings.health_check {
        if check.command.is_empty() {
            return refuse("health_check.command", "a health check needs a command");
        }
        check_args("health_check.command", &check.command)?;
        for (field, seconds, min) in [
            ("health_check.interval_seconds", check.interval_seconds, 1),
            ("health_check.timeout_seconds", check.timeout_seconds, 1),
            (
                "health_check.start_period_seconds",
                check.start_period_seconds,
                0,
            ),
        ] {
            if !(min..=MAX_HEALTH_SECONDS).contains(&seconds) {
                return refuse(
                    field,
                    format!("{field} is {seconds}: it must be {min} to {MAX_HEALTH_SECONDS}"),
                );
            }
        }
        if !(1..=MAX_HEALTH_RETRIES).contains(&check.retries) {
            return refuse(
                "health_check.retries",
                format!(
                    "health_check.retries is {}: it must be 1 to {MAX_HEALTH_RETRIES}",
                    check.retries
                ),
            );
        }
    }
    if settings
        .memory_bytes
        .is_some_and(|bytes| bytes == 0 || bytes > crate::api::JSON_SAFE_INTEGER)
    {
        return refuse(
            "memory_bytes",
            format!(
                "memory_bytes must be above 0 and at most {}",
                crate::api::JSON_SAFE_INTEGER
            ),
        );
    }
    if let Some(cpus) = settings.cpus
        && !(cpus.is_finite() && cpus > 0.0 && cpus <= MAX_CPUS)
    {
        return refuse(
            "cpus",
            format!("cpus is {cpus}: it must be above 0 and at most {MAX_CPUS}"),
        );
    }
    if !(1..=MAX_REPLICAS).contains(&settings.replicas) {
        return refuse(
            "replicas",
            format!(
                "replicas is {}: it must be 1 to {MAX_REPLICAS}",
                settings.replicas
            ),
        );
    }
    if settings.replicas > 1
        && let Some(port) = ports.iter().find(|p| p.host.is_some())
    {
        return refuse(
            "replicas",
            format!(
                "replicas is {} but ports publishes host port {}: two containers cannot bind \
                 one host port (drop the host port or run one replica)",
                settings.replicas,
                Binding(port)
            ),
        );
    }
    if settings.depends_on.len() > MAX_DEPENDENCIES {
        return refuse(
            "depends_on",
            format!("at most {MAX_DEPENDENCIES} dependencies"),
        );
    }
    for (i, dependency) in settings.depends_on.iter().enumerate() {
        if settings.depends_on[..i]
            .iter()
            .any(|d| d.service == dependency.service)
        {
            return refuse(
                "depends_on",
                format!("service {} is listed twice", dependency.service),
            );
        }
    }
    Ok(())
}

fn check_args(field: &str, args: &[String]) -> Result<(), SpecError> {
    if args.len() > MAX_ARGS {
        return refuse(field, format!("{field} has more than {MAX_ARGS} arguments"));
    }
    args.iter().try_for_each(|arg| check_text(field, arg))
}

fn check_text(field: &str, text: &str) -> Result<(), SpecError> {
    if text.chars().count() > MAX_ARG_CHARS {
        return refuse(
            field,
            format!("{field} holds a value longer than {MAX_ARG_CHARS} characters"),
        );
    }
    if text.contains('\0') {
        return refuse(field, format!("{field} holds a NUL character"));
    }
    Ok(())
}

/// One service of a deployment, as [`check_deployment`] sees it.
#[derive(Clone, Copy, Debug)]
pub struct Sibling<'a> {
    /// Its name.
    pub name: &'a ServiceName,
    /// Its ports.
    pub ports: &'a [PortSpec],
    /// Its settings.
    pub settings: &'a ServiceSettings,
}

/// Checks a deployment's services as a change of `changed` would leave them: its dependencies
/// name services of the deployment, none of which waits for itself through a cycle; a `healthy`
/// dependency from or on it names a service with a health check; no other service binds one of
/// its host ports. Problems between two other services (older rows) are not its to fix and are
/// left alone.
///
/// # Errors
/// A [`SpecError`] on `depends_on`, `health_check` or `ports` naming the services involved.
pub fn check_deployment(services: &[Sibling<'_>], changed: &ServiceName) -> Result<(), SpecError> {
    let find = |name: &ServiceName| services.iter().find(|s| s.name == name);
    let Some(this) = find(changed) else {
        return Ok(());
    };
    for dependency in &this.settings.depends_on {
        let Some(target) = find(&dependency.service) else {
            return refuse(
                "depends_on",
                format!(
                    "service {changed} depends on {}, which is not a service of this deployment",
                    dependency.service
                ),
            );
        };
        if dependency.condition == DependencyCondition::Healthy
            && target.settings.health_check.is_none()
        {
            return refuse(
                "depends_on",
                format!(
                    "service {changed} waits for {} to be healthy, but {} has no health check",
                    target.name, target.name
                ),
            );
        }
    }
    if this.settings.health_check.is_none() {
        let waiting: Vec<&str> = services
            .iter()
            .filter(|s| {
                s.settings
                    .depends_on
                    .iter()
                    .any(|d| &d.service == changed && d.condition == DependencyCondition::Healthy)
            })
            .map(|s| s.name.as_str())
            .collect();
        if !waiting.is_empty() {
            return refuse(
                "health_check",
                format!(
                    "service {changed} needs a health check: {} wait for it to be healthy",
                    waiting.join(", ")
                ),
            );
        }
    }
    if let Some(cycle) = cycle_through(services, changed) {
        return refuse(
            "depends_on",
            format!("dependency cycle: {}", cycle.join(" -> ")),
        );
    }
    for other in services.iter().filter(|s| s.name != changed) {
        for port in this.ports {
            if let Some(taken) = other.ports.iter().find(|q| clash(port, q)) {
                return refuse(
                    "ports",
                    format!(
                        "host port {} of service {changed} is already published by service {} \
                         (as {})",
                        Binding(port),
                        other.name,
                        Binding(taken)
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The dependency cycle through `start`, if there is one: `[start, …, start]`.
fn cycle_through(services: &[Sibling<'_>], start: &ServiceName) -> Option<Vec<String>> {
    let edges = |name: &ServiceName| {
        services
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.settings.depends_on.as_slice())
            .unwrap_or_default()
    };
    // Depth-first search from `start`, remembering the path; a service already explored
    // without finding `start` is not explored again.
    let mut explored = BTreeSet::new();
    let mut path: Vec<&ServiceName> = vec![start];
    let mut next: Vec<std::slice::Iter<'_, crate::api::Dependency>> = vec![edges(start).iter()];
    while let Some(iter) = next.last_mut() {
        match iter.next() {
            Some(dependency) if &dependency.service == start => {
                let mut cycle: Vec<String> = path.iter().map(|n| n.to_string()).collect();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            Some(dependency) => {
                if explored.insert(dependency.service.as_str()) {
                    path.push(&dependency.service);
                    next.push(edges(&dependency.service).iter());
                }
            }
            None => {
                next.pop();
                path.pop();
            }
        }
    }
    None
}

/// The services that depend on `name`, in the order given: what deleting it would break.
pub fn dependents<'a>(services: &[Sibling<'a>], name: &ServiceName) -> Vec<&'a ServiceName> {
    services
        .iter()
        .filter(|s| s.settings.depends_on.iter().any(|d| &d.service == name))
        .map(|s| s.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::api::{Dependency, HealthCheck};

    fn name(text: &str) -> ServiceName {
        text.parse().unwrap()
    }

    fn depends(on: &[(&str, DependencyCondition)]) -> ServiceSettings {
        ServiceSettings {
            depends_on: on
                .iter()
                .map(|(service, condition)| Dependency {
                    service: name(service),
                    condition: *condition,
                })
                .collect(),
            ..ServiceSettings::default()
        }
    }

    fn host(port: u16, address: IpAddr) -> PortSpec {
        PortSpec {
            container: 80,
            host: Some(port),
            protocol: Protocol::Tcp,
            host_address: address,
        }
    }

    struct Deployment(Vec<(ServiceName, Vec<PortSpec>, ServiceSettings)>);

    impl Deployment {
        fn check(&self, changed: &str) -> Result<(), SpecError> {
            let siblings: Vec<Sibling<'_>> = self
                .0
                .iter()
                .map(|(name, ports, settings)| Sibling {
                    name,
                    ports,
                    settings,
                })
                .collect();
            check_deployment(&siblings, &name(changed))
        }
    }

    #[test]
    fn a_cycle_across_three_services_is_named_in_order() {
        use DependencyCondition::Started;
        let d = Deployment(vec![
            (name("a"), vec![], depends(&[("b", Started)])),
            (name("b"), vec![], depends(&[("c", Started)])),
            (name("c"), vec![], depends(&[("a", Started)])),
        ]);
        let err = d.check("c").unwrap_err();
        assert_eq!(err.field, "depends_on");
        assert_eq!(err.message, "dependency cycle: c -> a -> b -> c");
        let chain = Deployment(vec![
            (
                name("a"),
                vec![],
                depends(&[("b", Started), ("c", Started)]),
            ),
            (name("b"), vec![], depends(&[("c", Started)])),
            (name("c"), vec![], ServiceSettings::default()),
        ]);
        assert_eq!(chain.check("a"), Ok(()), "a diamond is no cycle");
        let myself = Deployment(vec![(name("a"), vec![], depends(&[("a", Started)]))]);
        assert_eq!(
            myself.check("a").unwrap_err().message,
            "dependency cycle: a -> a"
        );
    }

    #[test]
    fn dependencies_name_existing_services_with_the_checks_they_need() {
        use DependencyCondition::Healthy;
        let unknown = Deployment(vec![(name("web"), vec![], depends(&[("db", Healthy)]))]);
        let err = unknown.check("web").unwrap_err();
        assert!(err.message.contains("depends on db"), "{err}");
        let unhealthy = Deployment(vec![
            (name("web"), vec![], depends(&[("db", Healthy)])),
            (name("db"), vec![], ServiceSettings::default()),
        ]);
        assert!(
            unhealthy
                .check("web")
                .unwrap_err()
                .message
                .contains("no health check")
        );
        let err = unhealthy.check("db").unwrap_err();
        assert_eq!(err.field, "health_check");
        assert!(err.message.contains("web wait"), "{err}");
        let healthy = Deployment(vec![
            (name("web"), vec![], depends(&[("db", Healthy)])),
            (
                name("db"),
                vec![],
                ServiceSettings {
                    health_check: Some(HealthCheck::new(vec!["true".into()])),
                    ..ServiceSettings::default()
                },
            ),
        ]);
        assert_eq!(healthy.check("web"), Ok(()));
    }

    #[test]
    fn two_services_on_one_host_binding_clash() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let d = |a: PortSpec, b: PortSpec| {
            Deployment(vec![
                (name("a"), vec![a], ServiceSettings::default()),
                (name("b"), vec![b], ServiceSettings::default()),
            ])
        };
        let err = d(host(8080, lo), host(8080, lo)).check("b").unwrap_err();
        assert_eq!(err.field, "ports");
        assert!(err.message.contains("127.0.0.1:8080/tcp"), "{err}");
        assert!(err.message.contains("service a"), "{err}");
        assert!(d(host(8080, any), host(8080, lo)).check("b").is_err());
        assert_eq!(d(host(8080, other), host(8080, lo)).check("b"), Ok(()));
        assert_eq!(d(host(8080, lo), host(8081, lo)).check("b"), Ok(()));
        let mut udp = host(8080, lo);
        udp.protocol = Protocol::Udp;
        assert_eq!(d(udp, host(8080, lo)).check("b"), Ok(()));
    }

    /// Lengths count characters, as the document's `maxLength` does: 4096 two-byte characters
    /// are taken, one more is not.
    #[test]
    fn argument_lengths_count_characters() {
        let with_dir = |chars: usize| ServiceSettings {
            working_dir: Some(format!("/{}", "é".repeat(chars - 1))),
            ..ServiceSettings::default()
        };
        assert_eq!(check_settings(&with_dir(MAX_ARG_CHARS), &[]), Ok(()));
        let err = check_settings(&with_dir(MAX_ARG_CHARS + 1), &[]).unwrap_err();
        assert!(err.to_string().contains("4096 characters"), "{err}");
    }

    #[test]
    fn settings_out_of_range_are_refused_naming_the_field() {
        let ok = ServiceSettings::default();
        assert_eq!(check_settings(&ok, &[]), Ok(()));
        let health = |f: fn(&mut HealthCheck)| {
            let mut check = HealthCheck::new(vec!["true".into()]);
            f(&mut check);
            ServiceSettings {
                health_check: Some(check),
                ..ServiceSettings::default()
            }
        };
        let cases: Vec<(ServiceSettings, &str)> = vec![
            (
                health(|c| c.interval_seconds = 0),
                "health_check.interval_seconds",
            ),
            (
                health(|c| c.timeout_seconds = 3601),
                "health_check.timeout_seconds",
            ),
            (
                health(|c| c.start_period_seconds = 3601),
                "health_check.start_period_seconds",
            ),
            (health(|c| c.retries = 0), "health_check.retries"),
            (health(|c| c.command.clear()), "health_check.command"),
            (
                ServiceSettings {
                    memory_bytes: Some(0),
                    ..ok.clone()
                },
                "memory_bytes",
            ),
            (
                ServiceSettings {
                    cpus: Some(0.0),
                    ..ok.clone()
                },
                "cpus",
            ),
            (
                ServiceSettings {
                    cpus: Some(-1.0),
                    ..ok.clone()
                },
                "cpus",
            ),
            (
                ServiceSettings {
                    cpus: Some(f64::NAN),
                    ..ok.clone()
                },
                "cpus",
            ),
            (
                ServiceSettings {
                    replicas: 0,
                    ..ok.clone()
                },
                "replicas",
            ),
            (
                ServiceSettings {
                    replicas: 101,
                    ..ok.clone()
                },
                "replicas",
            ),
            (
                ServiceSettings {
                    command: vec!["a\0b".into()],
                    ..ok.clone()
                },
                "command",
            ),
            (
                ServiceSettings {
                    entrypoint: vec!["x".repeat(4097)],
                    ..ok.clone()
                },
                "entrypoint",
            ),
            (
                ServiceSettings {
                    working_dir: Some("relative".into()),
                    ..ok.clone()
                },
                "working_dir",
            ),
            (
                ServiceSettings {
                    user: Some("a b".into()),
                    ..ok.clone()
                },
                "user",
            ),
            (
                ServiceSettings {
                    user: Some(String::new()),
                    ..ok.clone()
                },
                "user",
            ),
        ];
        for (settings, field) in cases {
            let err = check_settings(&settings, &[]).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn replicas_and_a_host_port_are_refused_together() {
        let settings = ServiceSettings {
            replicas: 2,
            ..ServiceSettings::default()
        };
        let published = host(8080, PortSpec::LOOPBACK);
        let err = check_settings(&settings, &[published]).unwrap_err();
        assert_eq!(err.field, "replicas");
        assert!(
            err.message.contains("ports") && err.message.contains("8080"),
            "{err}"
        );
        let internal = PortSpec {
            host: None,
            ..host(8080, PortSpec::LOOPBACK)
        };
        assert_eq!(check_settings(&settings, &[internal]), Ok(()));
    }
}
