//! The allow-list of `komander:docker`: one validator that checks every request the host is
//! about to send to the Docker daemon.
//!
//! The typed WIT records cannot express privileged mode, capabilities, devices, host
//! namespaces and the like. The host converts them to bollard's create bodies, and this module
//! checks those normalized bodies anyway, as defence in depth: a bug in the conversion, or a
//! field a later version adds, must still not reach the daemon. It is an allow-list in spirit:
//! a field the typed API never sets is refused when set, not merely when set to a known-bad value.
//!
//! - [`check_container`]: a container create body (host config, mounts, ports, endpoints,
//!   labels).
//! - [`check_volume`], [`check_network`]: volume and network create requests.
//! - [`check_build`]: the network mode of an image build.
//!
//! Bind sources are resolved on the host's filesystem, component by component: a symlink is
//! followed only to find where the path really leads, and the result must lie under the
//! admin-chosen bind root. The daemon resolves the path again when it mounts it, so a
//! symlink swapped in between is not caught here; the bind root must be a directory guests
//! cannot write symlinks into from outside a container.
//!
//! Refusals name the field in Docker's JSON spelling (`HostConfig.Privileged`) and never the
//! host paths a source resolved to.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    path::{Component, Path, PathBuf},
};

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, Mount,
    MountBindOptionsPropagationEnum, MountType, NetworkCreateRequest, PortMap, VolumeCreateRequest,
};

/// What an environment allows beyond the fixed allow-list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerPolicy {
    /// The admin-chosen directory bind mounts must lie under; `None` allows no bind mounts.
    pub bind_root: Option<PathBuf>,
    /// Whether ports may be published on addresses other than loopback (`127.0.0.1`, `::1`).
    pub allow_public_ports: bool,
    /// Komander's labels (project, environment, deployment ids): every container, volume and
    /// network must carry each of them with exactly this value.
    pub labels: BTreeMap<String, String>,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field holds something the allow-list does not allow.
    #[error("{field}: {reason}")]
    Forbidden {
        /// The field, in Docker's JSON spelling, such as `HostConfig.Privileged`.
        field: String,
        /// Why it is refused.
        reason: String,
    },
}

impl Refusal {
    /// A refusal of `field` for `reason`.
    pub fn forbidden(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Forbidden {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The refused field, in Docker's JSON spelling.
    pub fn field(&self) -> &str {
        let Self::Forbidden { field, .. } = self;
        field
    }
}

/// Paths of the Docker and containerd daemons: a bind of one of them, or of a directory
/// holding one, is refused even under the bind root.
const DAEMON_PATHS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/docker",
    "/run/docker",
    "/var/run/containerd",
    "/run/containerd",
    "/var/lib/docker",
    "/var/lib/containerd",
];

/// Mount propagation modes, refused in `Binds` options.
const PROPAGATION: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// The other `Binds` options allowed: access mode, SELinux relabelling, copy, consistency.
const BIND_OPTIONS: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
];

/// Linux's limit of symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 40;

/// Checks a container create body before it reaches the daemon.
///
/// Refuses privileged mode, added capabilities, devices, device cgroup rules and requests,
/// security options, sysctls, runtimes other than `runc`, cgroup parents, `host` or
/// `container:` network / pid / ipc / uts / userns modes, the host cgroup namespace,
/// `VolumesFrom`, links, `PublishAllPorts`, disabling the OOM killer, replaced masked or
/// read-only paths, OCI annotations, volume and log drivers other than the local ones,
/// ports off loopback (unless the policy allows them), binds and mounts the policy does not
/// allow, endpoint driver options, and missing or wrong Komander labels.
pub fn check_container(body: &ContainerCreateBody, policy: &DockerPolicy) -> Result<(), Refusal> {
    check_labels(body.labels.as_ref(), policy)?;
    let endpoints = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref());
    for (name, endpoint) in endpoints.into_iter().flatten() {
        let field = format!("NetworkingConfig.EndpointsConfig[{name}]");
        check_mode(&field, Some(name.as_str()))?;
        deny(
            &format!("{field}.DriverOpts"),
            non_empty(endpoint.driver_opts.as_ref()),
            "endpoint driver options (such as sysctls) are not allowed",
        )?;
        deny(
            &format!("{field}.Links"),
            non_empty(endpoint.links.as_ref()),
            "links are not allowed",
        )?;
    }
    body.host_config
        .as_ref()
        .map_or(Ok(()), |host| check_host_config(host, policy))
}

/// Checks a volume create request: the local driver only, without options that bind a host
/// path, no cluster volume, and the Komander labels.
pub fn check_volume(req: &VolumeCreateRequest, policy: &DockerPolicy) -> Result<(), Refusal> {
    check_labels(req.labels.as_ref(), policy)?;
    check_local_driver(
        "Driver",
        req.driver.as_deref(),
        "DriverOpts",
        req.driver_opts.as_ref(),
    )?;
    deny(
        "ClusterVolumeSpec",
        req.cluster_volume_spec.is_some(),
        "cluster volumes are not allowed",
    )
}

/// Checks a network create request: the bridge driver only, in local scope, with the default
/// IPAM driver and no IPAM options, not ingress, not configured from another network, driver
/// options from a short allow-list (MTU, inter-container traffic, a loopback host binding
/// address unless the policy allows public ports), and the Komander labels.
pub fn check_network(req: &NetworkCreateRequest, policy: &DockerPolicy) -> Result<(), Refusal> {
    check_labels(req.labels.as_ref(), policy)?;
    deny(
        "Driver",
        !allowed(req.driver.as_deref(), &["bridge"]),
        "only the bridge network driver is allowed",
    )?;
    deny(
        "Scope",
        !allowed(req.scope.as_deref(), &["local"]),
        "only local networks are allowed",
    )?;
    deny(
        "Ingress",
        req.ingress == Some(true),
        "ingress networks are not allowed",
    )?;
    deny(
        "ConfigFrom",
        req.config_from.is_some(),
        "networks configured from another network are not allowed",
    )?;
    if let Some(ipam) = &req.ipam {
        deny(
            "IPAM.Driver",
            !allowed(ipam.driver.as_deref(), &["default"]),
            "only the default IPAM driver is allowed",
        )?;
        deny(
            "IPAM.Options",
            non_empty(ipam.options.as_ref()),
            "IPAM options are not allowed",
        )?;
    }
    for (key, value) in req.options.iter().flatten() {
        let field = format!("Options[{key}]");
        match key.as_str() {
            "com.docker.network.driver.mtu" | "com.docker.network.bridge.enable_icc" => {}
            "com.docker.network.bridge.host_binding_ipv4" => deny(
                &field,
                !policy.allow_public_ports && !is_loopback(value),
                "ports are published on loopback only in this environment",
            )?,
            "com.docker.network.bridge.name" => {
                return Err(Refusal::forbidden(
                    field,
                    "choosing the host's bridge interface is not allowed",
                ));
            }
            _ => {
                return Err(Refusal::forbidden(
                    field,
                    "only the MTU, inter-container traffic and host binding address options are allowed",
                ));
            }
        }
    }
    Ok(())
}

/// Checks the network mode of an image build (the `networkmode` query parameter): `host` and
/// `container:` modes are refused.
pub fn check_build(network_mode: Option<&str>) -> Result<(), Refusal> {
    check_mode("networkmode", network_mode)
}

/// The checks of `HostConfig`: flags, lists and modes first, then ports, binds and mounts.
fn check_host_config(h: &HostConfig, policy: &DockerPolicy) -> Result<(), Refusal> {
    deny(
        "HostConfig.Privileged",
        h.privileged == Some(true),
        "privileged containers are not allowed",
    )?;
    let lists = [
        (
            "HostConfig.CapAdd",
            non_empty(h.cap_add.as_ref()),
            "adding capabilities is not allowed",
        ),
        (
            "HostConfig.Devices",
            non_empty(h.devices.as_ref()),
            "host devices are not allowed",
        ),
        (
            "HostConfig.DeviceCgroupRules",
            non_empty(h.device_cgroup_rules.as_ref()),
            "device cgroup rules are not allowed",
        ),
        (
            "HostConfig.DeviceRequests",
            non_empty(h.device_requests.as_ref()),
            "device requests (such as GPUs) are not allowed",
        ),
        (
            "HostConfig.SecurityOpt",
            non_empty(h.security_opt.as_ref()),
            "security options are not allowed",
        ),
        (
            "HostConfig.Sysctls",
            non_empty(h.sysctls.as_ref()),
            "sysctls are not allowed",
        ),
        (
            "HostConfig.VolumesFrom",
            non_empty(h.volumes_from.as_ref()),
            "mounting another container's volumes is not allowed",
        ),
        (
            "HostConfig.Links",
            non_empty(h.links.as_ref()),
            "links are not allowed",
        ),
        (
            "HostConfig.Annotations",
            non_empty(h.annotations.as_ref()),
            "OCI annotations are not allowed",
        ),
    ];
    for (field, refused, reason) in lists {
        deny(field, refused, reason)?;
    }
    deny(
        "HostConfig.Runtime",
        !allowed(h.runtime.as_deref(), &["runc"]),
        "only the default runtime (runc) is allowed",
    )?;
    deny(
        "HostConfig.CgroupParent",
        !allowed(h.cgroup_parent.as_deref(), &[]),
        "choosing a cgroup parent is not allowed",
    )?;
    deny(
        "HostConfig.Cgroup",
        !allowed(h.cgroup.as_deref(), &[]),
        "choosing a cgroup is not allowed",
    )?;
    deny(
        "HostConfig.CgroupnsMode",
        h.cgroupns_mode == Some(HostConfigCgroupnsModeEnum::HOST),
        "sharing the host's cgroup namespace is not allowed",
    )?;
    for (field, mode) in [
        ("HostConfig.NetworkMode", &h.network_mode),
        ("HostConfig.PidMode", &h.pid_mode),
        ("HostConfig.IpcMode", &h.ipc_mode),
        ("HostConfig.UTSMode", &h.uts_mode),
        ("HostConfig.UsernsMode", &h.userns_mode),
    ] {
        check_mode(field, mode.as_deref())?;
    }
    deny(
        "HostConfig.PublishAllPorts",
        h.publish_all_ports == Some(true),
        "publishing all ports on every address is not allowed",
    )?;
    deny(
        "HostConfig.OomKillDisable",
        h.oom_kill_disable == Some(true),
        "disabling the OOM killer is not allowed",
    )?;
    deny(
        "HostConfig.OomScoreAdj",
        h.oom_score_adj.is_some_and(|adj| adj < 0),
        "shielding a container from the OOM killer is not allowed",
    )?;
    // Docker replaces its defaults (which hide parts of /proc and /sys) with any list given,
    // so any list, empty or not, may unmask them.
    deny(
        "HostConfig.MaskedPaths",
        h.masked_paths.is_some(),
        "replacing Docker's masked paths is not allowed",
    )?;
    deny(
        "HostConfig.ReadonlyPaths",
        h.readonly_paths.is_some(),
        "replacing Docker's read-only paths is not allowed",
    )?;
    deny(
        "HostConfig.VolumeDriver",
        !allowed(h.volume_driver.as_deref(), &["local"]),
        "only the local volume driver is allowed",
    )?;
    deny(
        "HostConfig.LogConfig.Type",
        !allowed(
            h.log_config.as_ref().and_then(|l| l.typ.as_deref()),
            &["json-file", "local"],
        ),
        "only the json-file and local log drivers are allowed",
    )?;
    check_ports(h.port_bindings.as_ref(), policy)?;
    for (i, bind) in h.binds.iter().flatten().enumerate() {
        check_bind(&format!("HostConfig.Binds[{i}]"), bind, policy)?;
    }
    for (i, mount) in h.mounts.iter().flatten().enumerate() {
        check_mount(&format!("HostConfig.Mounts[{i}]"), mount, policy)?;
    }
    Ok(())
}

/// Refuses `field` for `reason` when `refused`.
fn deny(field: &str, refused: bool, reason: &str) -> Result<(), Refusal> {
    if refused {
        Err(Refusal::forbidden(field, reason))
    } else {
        Ok(())
    }
}

/// Whether an optional list or map holds anything.
fn non_empty<C: Collection>(collection: Option<&C>) -> bool {
    collection.is_some_and(|c| !c.is_empty())
}

/// The collections a create body holds, for [`non_empty`].
trait Collection {
    fn is_empty(&self) -> bool;
}

impl<T> Collection for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

impl<K, V> Collection for HashMap<K, V> {
    fn is_empty(&self) -> bool {
        HashMap::is_empty(self)
    }
}

/// Whether an optional string is unset, empty or one of `also`.
fn allowed(value: Option<&str>, also: &[&str]) -> bool {
    value.is_none_or(|v| v.is_empty() || also.contains(&v))
}

/// Refuses a namespace mode (or network name) that shares the host's namespace or another
/// container's.
fn check_mode(field: &str, mode: Option<&str>) -> Result<(), Refusal> {
    let Some(mode) = mode.map(str::trim) else {
        return Ok(());
    };
    deny(
        field,
        mode.eq_ignore_ascii_case("host"),
        "sharing the host's namespace is not allowed",
    )?;
    deny(
        field,
        mode.get(.."container:".len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("container:")),
        "joining another container's namespace is not allowed",
    )
}

/// Requires every policy label with exactly its value.
fn check_labels(
    labels: Option<&HashMap<String, String>>,
    policy: &DockerPolicy,
) -> Result<(), Refusal> {
    for (key, want) in &policy.labels {
        match labels.and_then(|l| l.get(key)) {
            Some(got) if got == want => {}
            Some(_) => {
                return Err(Refusal::forbidden(
                    format!("Labels[{key}]"),
                    format!("must be {want:?}"),
                ));
            }
            None => return Err(Refusal::forbidden(format!("Labels[{key}]"), "missing")),
        }
    }
    Ok(())
}

/// Refuses published ports off loopback, unless the policy allows public ports. An empty or
/// missing `HostIp` means every address.
fn check_ports(ports: Option<&PortMap>, policy: &DockerPolicy) -> Result<(), Refusal> {
    if policy.allow_public_ports {
        return Ok(());
    }
    for (port, bindings) in ports.into_iter().flatten() {
        for binding in bindings.iter().flatten() {
            if !is_loopback(binding.host_ip.as_deref().unwrap_or_default()) {
                return Err(Refusal::forbidden(
                    format!("HostConfig.PortBindings[{port}].HostIp"),
                    "ports are published on loopback only in this environment",
                ));
            }
        }
    }
    Ok(())
}

/// Whether `ip` is a loopback address.
fn is_loopback(ip: &str) -> bool {
    ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks one `Binds` entry, `source:target[:options]` (a lone `target` is an anonymous
/// volume). A source without `/` names a volume; any other is a host path.
fn check_bind(field: &str, spec: &str, policy: &DockerPolicy) -> Result<(), Refusal> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, options) = match parts.as_slice() {
        [_target] => return Ok(()),
        [source, _target] => (*source, ""),
        [source, _target, options] => (*source, *options),
        _ => {
            return Err(Refusal::forbidden(
                field,
                "not a `source:target[:options]` bind",
            ));
        }
    };
    for option in options.split(',').filter(|o| !o.is_empty()) {
        deny(
            field,
            PROPAGATION.contains(&option),
            "bind propagation is not allowed",
        )?;
        deny(
            field,
            !BIND_OPTIONS.contains(&option),
            "unknown bind option",
        )?;
    }
    if source.contains('/') {
        check_bind_source(field, source, policy)
    } else {
        Ok(())
    }
}

/// Checks one `Mounts` entry: volume (local driver, no host path), bind (no propagation, no
/// created source, under the bind root) or tmpfs.
fn check_mount(field: &str, mount: &Mount, policy: &DockerPolicy) -> Result<(), Refusal> {
    match mount.typ {
        Some(MountType::BIND) => {
            let options = mount.bind_options.as_ref();
            deny(
                &format!("{field}.BindOptions.Propagation"),
                options
                    .and_then(|o| o.propagation)
                    .is_some_and(|p| p != MountBindOptionsPropagationEnum::EMPTY),
                "bind propagation is not allowed",
            )?;
            deny(
                &format!("{field}.BindOptions.CreateMountpoint"),
                options.and_then(|o| o.create_mountpoint) == Some(true),
                "creating a missing bind source is not allowed",
            )?;
            check_bind_source(
                &format!("{field}.Source"),
                mount.source.as_deref().unwrap_or_default(),
                policy,
            )
        }
        Some(MountType::VOLUME) => {
            deny(
                &format!("{field}.Source"),
                mount.source.as_deref().is_some_and(|s| s.contains('/')),
                "a volume mount's source is a volume name",
            )?;
            let Some(driver) = mount
                .volume_options
                .as_ref()
                .and_then(|o| o.driver_config.as_ref())
            else {
                return Ok(());
            };
            check_local_driver(
                &format!("{field}.VolumeOptions.DriverConfig.Name"),
                driver.name.as_deref(),
                &format!("{field}.VolumeOptions.DriverConfig.Options"),
                driver.options.as_ref(),
            )
        }
        Some(MountType::TMPFS) => Ok(()),
        _ => Err(Refusal::forbidden(
            format!("{field}.Type"),
            "only volume, bind and tmpfs mounts are allowed",
        )),
    }
}

/// Refuses a volume driver other than `local`, and local-driver options that bind a host path
/// (`o` with `bind`, `type=none`, or an absolute `device`).
fn check_local_driver(
    driver_field: &str,
    driver: Option<&str>,
    options_field: &str,
    options: Option<&HashMap<String, String>>,
) -> Result<(), Refusal> {
    deny(
        driver_field,
        !allowed(driver, &["local"]),
        "only the local volume driver is allowed",
    )?;
    let option = |key: &str| options.and_then(|o| o.get(key)).map(String::as_str);
    deny(
        options_field,
        option("o").is_some_and(|o| o.contains("bind"))
            || option("type") == Some("none")
            || option("device").is_some_and(|d| d.starts_with('/')),
        "local-driver options that mount a host path are not allowed",
    )
}

/// Checks a bind source: an absolute host path, not `/`, not a daemon path, under the bind
/// root once resolved, and not resolving to a daemon path.
fn check_bind_source(field: &str, source: &str, policy: &DockerPolicy) -> Result<(), Refusal> {
    let path = Path::new(source);
    deny(
        field,
        !path.is_absolute(),
        "a bind source must be an absolute host path",
    )?;
    deny(
        field,
        path == Path::new("/"),
        "binding the host's root filesystem is not allowed",
    )?;
    deny(
        field,
        touches_daemon(path),
        "binding the Docker or containerd daemon's files is not allowed",
    )?;
    let Some(root) = &policy.bind_root else {
        return Err(Refusal::forbidden(
            field,
            "bind mounts are not allowed in this environment",
        ));
    };
    let resolved = resolve_under(field, root, path)?;
    deny(
        field,
        touches_daemon(&resolved),
        "binding the Docker or containerd daemon's files is not allowed",
    )
}

/// Whether `path` is a daemon path, lies under one, or holds one.
fn touches_daemon(path: &Path) -> bool {
    DAEMON_PATHS
        .iter()
        .map(Path::new)
        .any(|daemon| path.starts_with(daemon) || daemon.starts_with(path))
}

/// Resolves `source` on the host's filesystem and requires the result under `root`.
///
/// `source` must be absolute, without `..` components, and exist (Docker would create a
/// missing one). The walk starts at `/` and checks each component with `symlink_metadata`; a
/// symlink is replaced by its target (a relative one relative to its directory) and the walk
/// goes on from there, at most [`MAX_SYMLINKS`] times. The final path must start with the
/// canonicalized root, which must not be `/`. So symlinks may be followed only when they end
/// up inside the root.
fn resolve_under(field: &str, root: &Path, source: &Path) -> Result<PathBuf, Refusal> {
    let refuse = |reason: &str| Refusal::forbidden(field, reason);
    if !source.is_absolute() {
        return Err(refuse("a bind source must be an absolute host path"));
    }
    if source.components().any(|c| c == Component::ParentDir) {
        return Err(refuse("a bind source must not contain `..`"));
    }
    if source == Path::new("/") {
        return Err(refuse("binding the host's root filesystem is not allowed"));
    }
    let root = std::fs::canonicalize(root)
        .map_err(|_| refuse("the environment's bind root cannot be resolved"))?;
    if root == Path::new("/") {
        return Err(refuse("a bind root of `/` is not allowed"));
    }

    let mut resolved = PathBuf::from("/");
    let mut remaining = source.to_path_buf();
    let mut links = 0;
    loop {
        let mut components = remaining.components();
        let Some(component) = components.next() else {
            break;
        };
        let rest = components.as_path().to_path_buf();
        match component {
            Component::RootDir => resolved = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                let next = resolved.join(name);
                let metadata = std::fs::symlink_metadata(&next).map_err(|_| {
                    refuse("the bind source does not exist (Docker would create it)")
                })?;
                if metadata.is_symlink() {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(refuse("the bind source has too many symlinks"));
                    }
                    let target = std::fs::read_link(&next)
                        .map_err(|_| refuse("a symlink in the bind source cannot be read"))?;
                    // An absolute target starts again at `/`; a relative one goes on from
                    // the link's directory, which is `resolved`.
                    remaining = target.join(rest);
                    continue;
                }
                resolved = next;
            }
            Component::Prefix(_) => return Err(refuse("not a Unix path")),
        }
        remaining = rest;
    }
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(refuse("the bind source resolves outside the bind root"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use serde_json::{Value, json};

    use super::*;

    fn labels() -> BTreeMap<String, String> {
        [
            ("dev.komander.project", "p1"),
            ("dev.komander.environment", "e1"),
            ("dev.komander.deployment", "d1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn policy() -> DockerPolicy {
        DockerPolicy {
            bind_root: None,
            allow_public_ports: false,
            labels: labels(),
        }
    }

    fn policy_with_root(root: &Path) -> DockerPolicy {
        DockerPolicy {
            bind_root: Some(root.to_path_buf()),
            ..policy()
        }
    }

    fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("a valid Docker request")
    }

    /// A create body with the Komander labels and this `HostConfig`.
    fn body(host_config: Value) -> ContainerCreateBody {
        from_json(json!({ "Image": "nginx:1.27", "Labels": labels(), "HostConfig": host_config }))
    }

    #[track_caller]
    fn assert_refused(result: Result<(), Refusal>, field: &str) -> Refusal {
        let refusal = result.expect_err("refused");
        assert_eq!(refusal.field(), field, "{refusal}");
        assert!(refusal.to_string().starts_with(&format!("{field}: ")));
        refusal
    }

    /// A bind root with `data/`, `current -> data`, `abs -> <root>/data`, `evil -> /etc`,
    /// `hop -> evil`, `loop -> loop`.
    fn bind_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("a temporary directory");
        let path = root.path();
        std::fs::create_dir(path.join("data")).expect("mkdir data");
        symlink("data", path.join("current")).expect("symlink");
        symlink(path.join("data"), path.join("abs")).expect("symlink");
        symlink("/etc", path.join("evil")).expect("symlink");
        symlink("evil", path.join("hop")).expect("symlink");
        symlink("loop", path.join("loop")).expect("symlink");
        root
    }

    fn bind(root: &Path, source: &str, options: &str) -> ContainerCreateBody {
        let source = root.join(source);
        body(json!({ "Binds": [format!("{}:/data{options}", source.display())] }))
    }

    /// One test per `HostConfig` bypass: `name: { HostConfig } => "refused field"`.
    macro_rules! refuses {
        ($($name:ident: $host_config:tt => $field:literal;)*) => {$(
            #[test]
            fn $name() {
                assert_refused(check_container(&body(json!($host_config)), &policy()), $field);
            }
        )*};
    }

    refuses! {
        privileged: { "Privileged": true } => "HostConfig.Privileged";
        cap_add: { "CapAdd": ["SYS_ADMIN"] } => "HostConfig.CapAdd";
        devices: {
            "Devices": [{ "PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm" }]
        } => "HostConfig.Devices";
        device_cgroup_rules: { "DeviceCgroupRules": ["b 8:* rmw"] } => "HostConfig.DeviceCgroupRules";
        device_requests: { "DeviceRequests": [{ "Driver": "nvidia", "Count": -1 }] } => "HostConfig.DeviceRequests";
        security_opt: { "SecurityOpt": ["seccomp=unconfined"] } => "HostConfig.SecurityOpt";
        apparmor_unconfined: { "SecurityOpt": ["apparmor=unconfined"] } => "HostConfig.SecurityOpt";
        sysctls: { "Sysctls": { "net.ipv4.ip_forward": "1" } } => "HostConfig.Sysctls";
        runtime: { "Runtime": "nvidia" } => "HostConfig.Runtime";
        cgroup_parent: { "CgroupParent": "/system.slice" } => "HostConfig.CgroupParent";
        cgroup: { "Cgroup": "host" } => "HostConfig.Cgroup";
        host_network: { "NetworkMode": "host" } => "HostConfig.NetworkMode";
        host_network_upper_case: { "NetworkMode": "HOST" } => "HostConfig.NetworkMode";
        container_network: { "NetworkMode": "container:3f2a" } => "HostConfig.NetworkMode";
        host_pid: { "PidMode": "host" } => "HostConfig.PidMode";
        container_pid: { "PidMode": "container:3f2a" } => "HostConfig.PidMode";
        host_ipc: { "IpcMode": "host" } => "HostConfig.IpcMode";
        container_ipc: { "IpcMode": "container:3f2a" } => "HostConfig.IpcMode";
        host_uts: { "UTSMode": "host" } => "HostConfig.UTSMode";
        host_userns: { "UsernsMode": "host" } => "HostConfig.UsernsMode";
        host_cgroupns: { "CgroupnsMode": "host" } => "HostConfig.CgroupnsMode";
        volumes_from: { "VolumesFrom": ["other:ro"] } => "HostConfig.VolumesFrom";
        links: { "Links": ["db:db"] } => "HostConfig.Links";
        publish_all_ports: { "PublishAllPorts": true } => "HostConfig.PublishAllPorts";
        port_on_every_address: {
            "PortBindings": { "80/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "8080" }] }
        } => "HostConfig.PortBindings[80/tcp].HostIp";
        port_on_every_ipv6_address: {
            "PortBindings": { "80/tcp": [{ "HostIp": "::", "HostPort": "8080" }] }
        } => "HostConfig.PortBindings[80/tcp].HostIp";
        port_on_empty_host_ip: {
            "PortBindings": { "80/tcp": [{ "HostIp": "", "HostPort": "8080" }] }
        } => "HostConfig.PortBindings[80/tcp].HostIp";
        port_without_host_ip: {
            "PortBindings": { "53/udp": [{ "HostPort": "53" }] }
        } => "HostConfig.PortBindings[53/udp].HostIp";
        oom_kill_disable: { "OomKillDisable": true } => "HostConfig.OomKillDisable";
        oom_score_adj: { "OomScoreAdj": -1000 } => "HostConfig.OomScoreAdj";
        unmasked_paths: { "MaskedPaths": [] } => "HostConfig.MaskedPaths";
        replaced_masked_paths: { "MaskedPaths": ["/nothing"] } => "HostConfig.MaskedPaths";
        writable_proc: { "ReadonlyPaths": [] } => "HostConfig.ReadonlyPaths";
        annotations: { "Annotations": { "run.oci.keep_original_groups": "1" } } => "HostConfig.Annotations";
        volume_driver: { "VolumeDriver": "rexray" } => "HostConfig.VolumeDriver";
        log_driver: {
            "LogConfig": { "Type": "syslog", "Config": { "syslog-address": "tcp://10.0.0.1:514" } }
        } => "HostConfig.LogConfig.Type";
        bind_of_host_root: { "Binds": ["/:/host"] } => "HostConfig.Binds[0]";
        bind_without_root: { "Binds": ["/srv/data:/data"] } => "HostConfig.Binds[0]";
        relative_bind: { "Binds": ["./data:/data"] } => "HostConfig.Binds[0]";
        malformed_bind: { "Binds": ["/a:/b:ro:extra"] } => "HostConfig.Binds[0]";
        unknown_bind_option: { "Binds": ["data:/data:exec"] } => "HostConfig.Binds[0]";
        mount_image: {
            "Mounts": [{ "Type": "image", "Source": "alpine", "Target": "/image" }]
        } => "HostConfig.Mounts[0].Type";
        mount_npipe: {
            "Mounts": [{ "Type": "npipe", "Source": "//./pipe/docker_engine", "Target": "/pipe" }]
        } => "HostConfig.Mounts[0].Type";
        mount_cluster: {
            "Mounts": [{ "Type": "cluster", "Source": "csi", "Target": "/csi" }]
        } => "HostConfig.Mounts[0].Type";
        mount_without_type: { "Mounts": [{ "Source": "data", "Target": "/data" }] } => "HostConfig.Mounts[0].Type";
        bind_mount_without_root: {
            "Mounts": [{ "Type": "bind", "Source": "/srv/data", "Target": "/data" }]
        } => "HostConfig.Mounts[0].Source";
        volume_mount_with_path_source: {
            "Mounts": [{ "Type": "volume", "Source": "/etc", "Target": "/data" }]
        } => "HostConfig.Mounts[0].Source";
        local_volume_mount_device: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": {
                    "Name": "local", "Options": { "type": "none", "o": "bind", "device": "/etc" }
                } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options";
        local_volume_mount_rbind: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": { "Options": { "o": "rbind,ro" } } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options";
        local_volume_mount_block_device: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": { "Options": { "type": "ext4", "device": "/dev/sda1" } } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options";
        plugin_volume_mount: {
            "Mounts": [{
                "Type": "volume", "Source": "data", "Target": "/data",
                "VolumeOptions": { "DriverConfig": { "Name": "sshfs" } }
            }]
        } => "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Name";
    }

    #[test]
    fn the_body_the_host_produces_passes() {
        let mut labels = labels();
        labels.insert("dev.komander.plugin".into(), "docker-runtime".into());
        labels.insert("spec-hash".into(), "9f2c".into());
        let body: ContainerCreateBody = from_json(json!({
            "Image": "ghcr.io/acme/api:1.2",
            "Cmd": ["serve", "--port", "8080"],
            "Env": ["PORT=8080", "DATABASE_URL=postgres://db/app"],
            "WorkingDir": "/app",
            "User": "1000:1000",
            "Hostname": "api",
            "ExposedPorts": { "8080/tcp": {} },
            "Healthcheck": { "Test": ["CMD", "curl", "-f", "http://localhost:8080/health"], "Interval": 30_000_000_000_i64 },
            "Labels": labels,
            "HostConfig": {
                "Mounts": [
                    { "Type": "volume", "Source": "p1-e1-d1-data", "Target": "/data", "ReadOnly": false },
                    { "Type": "volume", "Source": "p1-e1-d1-cache", "Target": "/cache",
                      "VolumeOptions": { "DriverConfig": { "Name": "local" } } },
                    { "Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": { "SizeBytes": 67_108_864 } }
                ],
                "Binds": ["p1-e1-d1-logs:/logs:ro"],
                "Tmpfs": { "/run": "size=16m" },
                "PortBindings": {
                    "8080/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "18080" }],
                    "8443/tcp": [{ "HostIp": "::1" }]
                },
                "NetworkMode": "p1-e1-d1-net",
                "RestartPolicy": { "Name": "unless-stopped" },
                "Memory": 268_435_456,
                "NanoCpus": 500_000_000,
                "PidsLimit": 512,
                "CgroupnsMode": "private",
                "IpcMode": "private",
                "Runtime": "runc",
                "CapDrop": ["ALL"],
                "ReadonlyRootfs": true,
                "LogConfig": { "Type": "json-file", "Config": { "max-size": "10m" } }
            },
            "NetworkingConfig": { "EndpointsConfig": { "p1-e1-d1-net": { "Aliases": ["api"] } } }
        }));
        check_container(&body, &policy()).expect("allowed");
    }

    #[test]
    fn public_ports_pass_when_the_environment_allows_them() {
        let body = body(json!({
            "PortBindings": { "80/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "80" }] }
        }));
        let policy = DockerPolicy {
            allow_public_ports: true,
            ..policy()
        };
        check_container(&body, &policy).expect("allowed");
    }

    #[test]
    fn missing_labels_are_refused() {
        let body: ContainerCreateBody = from_json(json!({ "Image": "nginx:1.27" }));
        let refusal = assert_refused(
            check_container(&body, &policy()),
            "Labels[dev.komander.deployment]",
        );
        assert!(refusal.to_string().ends_with("missing"));
    }

    #[test]
    fn wrong_labels_are_refused() {
        let mut labels = labels();
        labels.insert("dev.komander.project".into(), "someone-else".into());
        let body: ContainerCreateBody =
            from_json(json!({ "Image": "nginx:1.27", "Labels": labels }));
        assert_refused(
            check_container(&body, &policy()),
            "Labels[dev.komander.project]",
        );
    }

    #[test]
    fn endpoint_on_the_host_network_is_refused() {
        let body: ContainerCreateBody = from_json(json!({
            "Labels": labels(),
            "NetworkingConfig": { "EndpointsConfig": { "host": {} } }
        }));
        assert_refused(
            check_container(&body, &policy()),
            "NetworkingConfig.EndpointsConfig[host]",
        );
    }

    #[test]
    fn endpoint_sysctls_are_refused() {
        let body: ContainerCreateBody = from_json(json!({
            "Labels": labels(),
            "NetworkingConfig": { "EndpointsConfig": { "p1-e1-d1-net": { "DriverOpts": {
                "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.forwarding=1"
            } } } }
        }));
        assert_refused(
            check_container(&body, &policy()),
            "NetworkingConfig.EndpointsConfig[p1-e1-d1-net].DriverOpts",
        );
    }

    #[test]
    fn the_docker_socket_is_refused_even_under_the_bind_root() {
        let policy = policy_with_root(Path::new("/run"));
        for source in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/var/run/docker",
            "/run/containerd/containerd.sock",
            "/run",
            "/var/lib/docker/volumes",
        ] {
            let refusal = assert_refused(
                check_container(
                    &body(json!({ "Binds": [format!("{source}:/sock")] })),
                    &policy,
                ),
                "HostConfig.Binds[0]",
            );
            assert!(
                refusal.to_string().contains("daemon"),
                "{source}: {refusal}"
            );
            let mount = body(
                json!({ "Mounts": [{ "Type": "bind", "Source": source, "Target": "/sock" }] }),
            );
            let refusal = assert_refused(
                check_container(&mount, &policy),
                "HostConfig.Mounts[0].Source",
            );
            assert!(
                refusal.to_string().contains("daemon"),
                "{source}: {refusal}"
            );
        }
    }

    #[test]
    fn a_bind_root_of_slash_is_refused() {
        let policy = policy_with_root(Path::new("/"));
        assert_refused(
            check_container(&body(json!({ "Binds": ["/etc:/host-etc:ro"] })), &policy),
            "HostConfig.Binds[0]",
        );
    }

    #[test]
    fn a_directory_inside_the_root_passes() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        check_container(&bind(root.path(), "data", ":ro"), &policy).expect("allowed");
        check_container(&bind(root.path(), "data", ""), &policy).expect("allowed");
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("data"), "Target": "/data", "ReadOnly": true,
            "BindOptions": { "Propagation": "" }
        }] }));
        check_container(&mount, &policy).expect("allowed");
    }

    #[test]
    fn a_symlink_staying_inside_the_root_passes() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        check_container(&bind(root.path(), "current", ":ro"), &policy).expect("relative link");
        check_container(&bind(root.path(), "abs", ":ro"), &policy).expect("absolute link");
    }

    #[test]
    fn a_path_outside_the_root_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        let refusal = assert_refused(
            check_container(&body(json!({ "Binds": ["/etc:/host-etc:ro"] })), &policy),
            "HostConfig.Binds[0]",
        );
        assert!(
            refusal.to_string().contains("outside the bind root"),
            "{refusal}"
        );
    }

    #[test]
    fn a_symlink_out_of_the_root_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        for source in ["evil", "hop", "current/../evil"] {
            assert_refused(
                check_container(&bind(root.path(), source, ":ro"), &policy),
                "HostConfig.Binds[0]",
            );
        }
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("evil"), "Target": "/data"
        }] }));
        assert_refused(
            check_container(&mount, &policy),
            "HostConfig.Mounts[0].Source",
        );
    }

    #[test]
    fn a_missing_source_or_a_symlink_loop_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        let refusal = assert_refused(
            check_container(&bind(root.path(), "missing", ""), &policy),
            "HostConfig.Binds[0]",
        );
        assert!(refusal.to_string().contains("does not exist"), "{refusal}");
        let refusal = assert_refused(
            check_container(&bind(root.path(), "loop", ""), &policy),
            "HostConfig.Binds[0]",
        );
        assert!(
            refusal.to_string().contains("too many symlinks"),
            "{refusal}"
        );
    }

    #[test]
    fn bind_propagation_is_refused() {
        let root = bind_root();
        let policy = policy_with_root(root.path());
        for options in [":rshared", ":ro,shared", ":rslave", ":private"] {
            let refusal = assert_refused(
                check_container(&bind(root.path(), "data", options), &policy),
                "HostConfig.Binds[0]",
            );
            assert!(refusal.to_string().contains("propagation"), "{refusal}");
        }
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("data"), "Target": "/data",
            "BindOptions": { "Propagation": "rshared" }
        }] }));
        assert_refused(
            check_container(&mount, &policy),
            "HostConfig.Mounts[0].BindOptions.Propagation",
        );
        let mount = body(json!({ "Mounts": [{
            "Type": "bind", "Source": root.path().join("data/new"), "Target": "/data",
            "BindOptions": { "CreateMountpoint": true }
        }] }));
        assert_refused(
            check_container(&mount, &policy),
            "HostConfig.Mounts[0].BindOptions.CreateMountpoint",
        );
    }

    #[test]
    fn volumes() {
        let ok: VolumeCreateRequest =
            from_json(json!({ "Name": "p1-e1-d1-data", "Labels": labels() }));
        check_volume(&ok, &policy()).expect("allowed");
        let local: VolumeCreateRequest =
            from_json(json!({ "Name": "v", "Driver": "local", "Labels": labels() }));
        check_volume(&local, &policy()).expect("allowed");

        let host_path: VolumeCreateRequest = from_json(json!({
            "Name": "v", "Driver": "local", "Labels": labels(),
            "DriverOpts": { "type": "none", "o": "bind", "device": "/var/run" }
        }));
        assert_refused(check_volume(&host_path, &policy()), "DriverOpts");
        let device: VolumeCreateRequest = from_json(json!({
            "Name": "v", "Labels": labels(), "DriverOpts": { "device": "/home" }
        }));
        assert_refused(check_volume(&device, &policy()), "DriverOpts");
        let plugin: VolumeCreateRequest =
            from_json(json!({ "Name": "v", "Driver": "rexray", "Labels": labels() }));
        assert_refused(check_volume(&plugin, &policy()), "Driver");
        let unlabelled: VolumeCreateRequest = from_json(json!({ "Name": "v" }));
        assert_refused(
            check_volume(&unlabelled, &policy()),
            "Labels[dev.komander.deployment]",
        );
    }

    #[test]
    fn networks() {
        let ok: NetworkCreateRequest = from_json(json!({
            "Name": "p1-e1-d1-net", "Driver": "bridge", "Internal": true, "Attachable": true,
            "Options": { "com.docker.network.driver.mtu": "1400" }, "Labels": labels()
        }));
        check_network(&ok, &policy()).expect("allowed");
        let default_driver: NetworkCreateRequest =
            from_json(json!({ "Name": "n", "Labels": labels() }));
        check_network(&default_driver, &policy()).expect("allowed");

        let refused = |mut request: Value, field: &str| {
            request["Name"] = json!("n");
            request["Labels"] = json!(labels());
            assert_refused(check_network(&from_json(request), &policy()), field);
        };
        for driver in ["host", "macvlan", "ipvlan", "overlay", "none"] {
            refused(json!({ "Driver": driver }), "Driver");
        }
        refused(json!({ "Ingress": true }), "Ingress");
        refused(
            json!({ "ConfigFrom": { "Network": "other" } }),
            "ConfigFrom",
        );
        refused(json!({ "Scope": "swarm" }), "Scope");
        refused(json!({ "IPAM": { "Driver": "custom" } }), "IPAM.Driver");
        refused(
            json!({ "Options": { "com.docker.network.bridge.name": "docker0" } }),
            "Options[com.docker.network.bridge.name]",
        );
        refused(
            json!({ "Options": { "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0" } }),
            "Options[com.docker.network.bridge.host_binding_ipv4]",
        );
        refused(
            json!({ "Options": { "com.docker.network.bridge.gateway_mode_ipv4": "routed" } }),
            "Options[com.docker.network.bridge.gateway_mode_ipv4]",
        );
        let unlabelled: NetworkCreateRequest = from_json(json!({ "Name": "n" }));
        assert_refused(
            check_network(&unlabelled, &policy()),
            "Labels[dev.komander.deployment]",
        );
    }

    #[test]
    fn builds() {
        for mode in [
            None,
            Some(""),
            Some("default"),
            Some("none"),
            Some("bridge"),
        ] {
            check_build(mode).expect("allowed");
        }
        assert_refused(check_build(Some("host")), "networkmode");
        assert_refused(check_build(Some("container:3f2a")), "networkmode");
    }
}
