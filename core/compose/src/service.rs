//! From a Compose file's interpolated tree to Komander's services: which keys are taken and
//! how, which are ignored because they change nothing Komander runs, and which are refused
//! because Komander cannot or will not run them.

use std::{collections::BTreeMap, net::IpAddr};

use komander_domain::{
    api::{
        Dependency, DependencyCondition, HealthCheck, NewService, PortSpec, Protocol, PullPolicy,
        RestartPolicy, ServiceSettings, VolumeSpec,
    },
    names::{ImageRef, ServiceName, VariableName, VolumeName},
    services::{self as rules, Sibling},
};

use crate::{
    ImportedService, ImportedVariable, MAX_SERVICES, Refusals, child,
    interpolate::Variables,
    is_secret_name,
    yaml::{Node, Value},
};

/// The longest variable value, in bytes (as a variable set through the API).
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Top-level keys that change nothing Komander runs: the file format version and the Compose
/// project name (Komander names by project, environment and deployment).
const IGNORED_TOP_LEVEL: &[&str] = &["version", "name"];

/// Service keys that change nothing Komander runs: Komander names containers itself.
const IGNORED_SERVICE_KEYS: &[&str] = &["container_name"];

/// Reads the services of a file's root.
pub(crate) fn read_file(
    root: &Node,
    vars: &Variables,
    r: &mut Refusals<'_>,
) -> Vec<ImportedService> {
    let Some(top) = root.as_map() else {
        r.refuse(
            root.line,
            "(file)",
            "a Compose file is a mapping with services:",
        );
        return Vec::new();
    };
    let mut volumes = BTreeMap::new();
    let mut services = None;
    for (key, node) in top {
        match key.as_str() {
            k if IGNORED_TOP_LEVEL.contains(&k) || k.starts_with("x-") => {}
            "services" => services = Some(node),
            "volumes" => volumes = read_volumes(node, r),
            "networks" => default_network_only(node, "networks", r),
            "secrets" | "configs" => r.refuse(
                node.line,
                key,
                "Komander has no Compose secrets or configs: give the services secret \
                 variables instead",
            ),
            "include" => r.refuse(
                node.line,
                key,
                "Komander reads one file: include is refused",
            ),
            _ => r.refuse(node.line, key, "unknown top-level key"),
        }
    }
    let Some(services) = services else {
        r.refuse(root.line, "services", "the file defines no services");
        return Vec::new();
    };
    let Some(entries) = services.as_map().filter(|e| !e.is_empty()) else {
        r.refuse(services.line, "services", "the file defines no services");
        return Vec::new();
    };
    if entries.len() > MAX_SERVICES {
        r.refuse(
            services.line,
            "services",
            format!(
                "{} services: Komander imports at most {MAX_SERVICES} at once",
                entries.len()
            ),
        );
        return Vec::new();
    }
    let imported: Vec<(usize, ImportedService)> = entries
        .iter()
        .filter_map(|(name, node)| {
            let service = Reader {
                path: child("services", name),
                volumes: &volumes,
                vars,
                r: &mut *r,
            }
            .read(name, node)?;
            Some((node.line, service))
        })
        .collect();
    // Among the services read, when each one read well: a dependency on a refused service
    // would only repeat its refusal.
    if r.found.is_empty() {
        check_deployment(&imported, r);
    }
    imported.into_iter().map(|(_, s)| s).collect()
}

/// The deployment-wide rules (dependencies exist, no cycle, no host port twice) among the
/// imported services.
fn check_deployment(imported: &[(usize, ImportedService)], r: &mut Refusals<'_>) {
    let settings: Vec<ServiceSettings> =
        imported.iter().map(|(_, s)| s.service.settings()).collect();
    let siblings: Vec<Sibling<'_>> = imported
        .iter()
        .zip(&settings)
        .map(|((_, s), settings)| Sibling {
            name: &s.service.name,
            ports: &s.service.ports,
            settings,
        })
        .collect();
    for (line, s) in imported {
        if let Err(e) = rules::check_deployment(&siblings, &s.service.name) {
            r.refuse(
                *line,
                &format!("services.{}.{}", s.service.name, e.field),
                e.message,
            );
        }
    }
}

/// The top-level `volumes:`: each a named volume Komander creates, its name made a slug
/// (`db_data` becomes `db-data`).
fn read_volumes(node: &Node, r: &mut Refusals<'_>) -> BTreeMap<String, VolumeName> {
    let mut out = BTreeMap::new();
    let Some(entries) = map_or_refuse(node, "volumes", r) else {
        return out;
    };
    for (name, spec) in entries {
        let path = child("volumes", name);
        if let Some(props) = spec.as_map() {
            for (key, value) in props {
                let ok = match key.as_str() {
                    "driver" => value.as_text() == Some("local"),
                    k => k.starts_with("x-"),
                };
                if !ok {
                    r.refuse(
                        value.line,
                        &child(&path, key),
                        "Komander creates plain local volumes: volume drivers, options, \
                         external and named volumes are refused",
                    );
                }
            }
        } else if spec.value != Value::Null {
            r.refuse(spec.line, &path, "expected a mapping");
        }
        let slug = name.to_ascii_lowercase().replace(['_', '.'], "-");
        match slug.parse::<VolumeName>() {
            Ok(volume) if out.values().any(|v| *v == volume) => r.refuse(
                spec.line,
                &path,
                format!("volume {name:?} becomes {volume}, like another volume"),
            ),
            Ok(volume) => {
                out.insert(name.clone(), volume);
            }
            Err(e) => r.refuse(spec.line, &path, e.to_string()),
        }
    }
    out
}

/// Accepts `networks` only when it names the default network with no settings.
fn default_network_only(node: &Node, path: &str, r: &mut Refusals<'_>) {
    let names: Vec<(&str, &Node)> = match &node.value {
        Value::Seq(items) => items
            .iter()
            .map(|n| (n.as_text().unwrap_or(""), n))
            .collect(),
        Value::Map(entries) => entries.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        _ => vec![("", node)],
    };
    for (name, value) in names {
        let bare = value.value == Value::Null || value.as_text() == Some(name);
        if name != "default" || !bare {
            r.refuse(
                value.line,
                &child(path, name),
                "Komander runs each deployment on one network of its own: only the default \
                 network, without settings, is accepted",
            );
        }
    }
}

fn map_or_refuse<'n>(
    node: &'n Node,
    path: &str,
    r: &mut Refusals<'_>,
) -> Option<&'n [(String, Node)]> {
    match &node.value {
        Value::Map(entries) => Some(entries),
        Value::Null => Some(&[]),
        _ => {
            r.refuse(node.line, path, "expected a mapping");
            None
        }
    }
}

/// Reads one service, refusing through `r`.
struct Reader<'a, 'r> {
    /// `services.NAME`.
    path: String,
    volumes: &'a BTreeMap<String, VolumeName>,
    vars: &'a Variables,
    r: &'a mut Refusals<'r>,
}

impl Reader<'_, '_> {
    fn refuse(&mut self, node: &Node, key: &str, message: impl Into<String>) {
        let path = child(&self.path, key);
        self.r.refuse(node.line, &path, message);
    }

    /// A scalar as text; `None` (refused) for a collection, `None` for null.
    fn text(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            Value::Null => None,
            _ => {
                self.refuse(node, key, "expected a single value");
                None
            }
        }
    }

    fn number<T: std::str::FromStr>(&mut self, node: &Node, key: &str) -> Option<T> {
        let text = self.text(node, key)?;
        let parsed = text.trim().parse().ok();
        if parsed.is_none() {
            self.refuse(
                node,
                key,
                format!("{text:?} is not a whole number in range"),
            );
        }
        parsed
    }

    fn flag(&mut self, node: &Node, key: &str) -> Option<bool> {
        match self.text(node, key)?.as_str() {
            "true" | "True" | "TRUE" | "yes" => Some(true),
            "false" | "False" | "FALSE" | "no" => Some(false),
            other => {
                self.refuse(node, key, format!("{other:?} is not true or false"));
                None
            }
        }
    }

    /// A command as a list, or a string split as a shell would (as Compose does).
    fn args(&mut self, node: &Node, key: &str) -> Vec<String> {
        let args = match &node.value {
            Value::Null => return Vec::new(),
            Value::Scalar { text, .. } => match shlex::split(text) {
                Some(args) => args,
                None => {
                    self.refuse(node, key, "unbalanced quotes");
                    return Vec::new();
                }
            },
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| {
                    let text = self.text(item, key);
                    if text.is_none() && item.value == Value::Null {
                        self.refuse(item, key, "an argument must not be null");
                    }
                    text
                })
                .collect(),
            Value::Map(_) => {
                self.refuse(node, key, "expected a string or a list");
                return Vec::new();
            }
        };
        if args.is_empty() {
            self.refuse(
                node,
                key,
                "an empty override would clear the image's own, which Komander does not do: \
                 remove the key",
            );
        }
        args
    }

    fn read(mut self, name: &str, node: &Node) -> Option<ImportedService> {
        let name: ServiceName = match name.parse() {
            Ok(name) => name,
            Err(e) => {
                let path = self.path.clone();
                self.r.refuse(node.line, &path, e.to_string());
                return None;
            }
        };
        let Some(entries) = node.as_map() else {
            let path = self.path.clone();
            self.r.refuse(node.line, &path, "expected a mapping");
            return None;
        };
        let mut settings = ServiceSettings::default();
        let mut image = None;
        let mut ports = Vec::new();
        let mut volumes = Vec::new();
        let mut variables = Vec::new();
        for (key, value) in entries {
            let k = key.as_str();
            match k {
                _ if IGNORED_SERVICE_KEYS.contains(&k) || k.starts_with("x-") => {}
                "image" => image = self.image(value),
                "build" => self.refuse(
                    value,
                    k,
                    "Komander builds images from a repository only: push the image and name \
                     it in image:",
                ),
                "command" => settings.command = self.args(value, k),
                "entrypoint" => settings.entrypoint = self.args(value, k),
                "environment" => self.environment(value, &mut variables),
                "env_file" => self.refuse(
                    value,
                    k,
                    "Komander reads no files from the server: move the variables into \
                     environment:",
                ),
                "ports" => self.ports(value, &mut ports),
                "expose" => self.expose(value, &mut ports),
                "volumes" => self.mounts(value, &mut volumes),
                "healthcheck" => settings.health_check = self.health_check(value),
                "depends_on" => settings.depends_on = self.depends_on(value),
                "restart" => {
                    if let Some(text) = self.text(value, k) {
                        match text.parse::<RestartPolicy>() {
                            Ok(policy) => settings.restart = policy,
                            Err(e) => self.refuse(value, k, e.to_string()),
                        }
                    }
                }
                "deploy" => self.deploy(value, &mut settings),
                "mem_limit" => settings.memory_bytes = self.bytes(value, k),
                "cpus" => settings.cpus = self.cpus(value, k),
                "scale" => settings.replicas = self.number(value, k).unwrap_or(1),
                "working_dir" => settings.working_dir = self.text(value, k),
                "user" => settings.user = self.text(value, k),
                "pull_policy" => match self.text(value, k).as_deref() {
                    Some("always") => settings.pull = PullPolicy::Always,
                    Some("missing" | "if_not_present") | None => {}
                    Some(other) => self.refuse(
                        value,
                        k,
                        format!("pull policy {other:?}: Komander pulls always or when missing"),
                    ),
                },
                "networks" => {
                    let path = child(&self.path, k);
                    default_network_only(value, &path, self.r);
                }
                "privileged" => {
                    if self.flag(value, k) == Some(true) {
                        self.refuse(value, k, "Komander does not run privileged containers");
                    }
                }
                "network_mode" => self.refuse(
                    value,
                    k,
                    "Komander runs each deployment on a network of its own: no host or shared \
                     network modes",
                ),
                "pid" | "ipc" | "uts" | "userns_mode" | "cgroup" => self.refuse(
                    value,
                    k,
                    "Komander does not share the host's or another container's namespaces",
                ),
                "cap_add" | "devices" | "security_opt" | "device_cgroup_rules" | "sysctls" => self
                    .refuse(
                        value,
                        k,
                        "Komander does not widen a container's privileges or give it host devices",
                    ),
                "extends" => self.refuse(
                    value,
                    k,
                    "Komander reads one file: write the service out instead of extending one",
                ),
                "secrets" | "configs" => self.refuse(
                    value,
                    k,
                    "Komander has no Compose secrets or configs: use secret variables",
                ),
                _ => self.refuse(value, k, "Komander does not support this Compose key"),
            }
        }
        let Some(image) = image else {
            if entries.iter().any(|(k, _)| k == "build") {
                return None;
            }
            let path = child(&self.path, "image");
            self.r.refuse(
                node.line,
                &path,
                "a service needs an image Komander can pull",
            );
            return None;
        };
        for (field, e) in [
            ("ports", rules::check_ports(&ports).err()),
            ("", rules::check_settings(&settings, &ports).err()),
        ] {
            if let Some(e) = e {
                let key = if field.is_empty() {
                    e.field.as_str()
                } else {
                    field
                };
                self.refuse(node, key, e.message);
            }
        }
        Some(ImportedService {
            service: NewService::with_settings(name, image, ports, volumes, settings),
            variables,
        })
    }

    fn image(&mut self, node: &Node) -> Option<String> {
        let text = self.text(node, "image")?;
        match text.parse::<ImageRef>() {
            Ok(image) => Some(image.into()),
            Err(e) => {
                self.refuse(node, "image", e.to_string());
                None
            }
        }
    }

    /// `environment:` as a list of `NAME=VALUE` (or `NAME`, taken from the variables) or a map.
    fn environment(&mut self, node: &Node, out: &mut Vec<ImportedVariable>) {
        let pairs: Vec<(String, Option<String>, &Node)> = match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|item| {
                    let text = self.text(item, "environment")?;
                    Some(match text.split_once('=') {
                        Some((name, value)) => (name.to_owned(), Some(value.to_owned()), item),
                        None => (text, None, item),
                    })
                })
                .collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(name, value)| {
                    let text = self.text(value, &format!("environment.{name}"));
                    (name.clone(), text, value)
                })
                .collect(),
            Value::Null => Vec::new(),
            Value::Scalar { .. } => {
                self.refuse(node, "environment", "expected a list or a mapping");
                Vec::new()
            }
        };
        for (name, value, at) in pairs {
            let key = format!("environment.{name}");
            // A name without a value takes the variable's value; unset, it is left out.
            let Some(value) = value.or_else(|| self.vars.get(&name).cloned()) else {
                continue;
            };
            let parsed: VariableName = match name.parse() {
                Ok(parsed) => parsed,
                Err(e) => {
                    self.refuse(at, &key, e.to_string());
                    continue;
                }
            };
            if value.len() > MAX_VALUE_BYTES || value.contains('\0') {
                self.refuse(
                    at,
                    &key,
                    "a value is at most 64 KiB and holds no NUL character",
                );
                continue;
            }
            out.retain(|v| v.name != parsed);
            out.push(ImportedVariable {
                secret: is_secret_name(parsed.as_str()),
                name: parsed,
                value,
            });
        }
    }

    fn items<'n>(&mut self, node: &'n Node, key: &str) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.refuse(node, key, "expected a list");
                &[]
            }
        }
    }

    fn ports(&mut self, node: &Node, out: &mut Vec<PortSpec>) {
        for item in self.items(node, "ports") {
            let port = match &item.value {
                Value::Map(entries) => self.long_port(item, entries),
                _ => self
                    .text(item, "ports")
                    .and_then(|text| self.short_port(item, &text)),
            };
            out.extend(port);
        }
    }

    /// `[[IP:](HOST:)]CONTAINER[/PROTOCOL]`. Without an IP, the port is published on
    /// 127.0.0.1, Komander's default (a target's policy decides which addresses it allows).
    fn short_port(&mut self, node: &Node, text: &str) -> Option<PortSpec> {
        let (spec, protocol) = match text.rsplit_once('/') {
            Some((spec, protocol)) => (spec, self.protocol(node, protocol)?),
            None => (text, Protocol::Tcp),
        };
        let mut parts = spec.rsplitn(3, ':');
        let container = parts.next().unwrap_or_default();
        let host = parts.next().filter(|h| !h.is_empty());
        let address = parts.next();
        if spec.matches(':').count() > 2 && !spec.starts_with('[') {
            self.refuse(
                node,
                "ports",
                format!("{text:?}: write an IPv6 address in brackets"),
            );
            return None;
        }
        let host_address = match address {
            Some(address) => {
                self.address(node, address.trim_start_matches('[').trim_end_matches(']'))?
            }
            None => PortSpec::LOOPBACK,
        };
        Some(PortSpec {
            container: self.port_number(node, container)?,
            host: match host {
                Some(host) => Some(self.port_number(node, host)?),
                None => None,
            },
            protocol,
            host_address,
        })
    }

    fn long_port(&mut self, node: &Node, entries: &[(String, Node)]) -> Option<PortSpec> {
        let mut port = PortSpec {
            container: 0,
            host: None,
            protocol: Protocol::Tcp,
            host_address: PortSpec::LOOPBACK,
        };
        for (key, value) in entries {
            let k = format!("ports.{key}");
            let text = self.text(value, &k)?;
            match key.as_str() {
                "target" => port.container = self.port_number(value, &text)?,
                "published" => port.host = Some(self.port_number(value, &text)?),
                "host_ip" => port.host_address = self.address(value, &text)?,
                "protocol" => port.protocol = self.protocol(value, &text)?,
                // Descriptions, and a Swarm routing mode that a single engine does not use.
                "mode" | "name" | "app_protocol" => {}
                _ => {
                    self.refuse(value, &k, "Komander does not support this Compose key");
                    return None;
                }
            }
        }
        if port.container == 0 {
            self.refuse(
                node,
                "ports.target",
                "a port needs its target (container) port",
            );
            return None;
        }
        Some(port)
    }

    /// `expose:`: ports other services reach, published on no host port.
    fn expose(&mut self, node: &Node, out: &mut Vec<PortSpec>) {
        for item in self.items(node, "expose") {
            let Some(text) = self.text(item, "expose") else {
                continue;
            };
            let (number, protocol) = match text.rsplit_once('/') {
                Some((number, protocol)) => (number, self.protocol(item, protocol)),
                None => (text.as_str(), Some(Protocol::Tcp)),
            };
            let (Some(container), Some(protocol)) = (self.port_number(item, number), protocol)
            else {
                continue;
            };
            if !out
                .iter()
                .any(|p| p.container == container && p.protocol == protocol)
            {
                out.push(PortSpec {
                    container,
                    host: None,
                    protocol,
                    host_address: PortSpec::LOOPBACK,
                });
            }
        }
    }

    fn port_number(&mut self, node: &Node, text: &str) -> Option<u16> {
        match text.trim().parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                self.refuse(
                    node,
                    "ports",
                    format!("{text:?} is not a port from 1 to 65535 (ranges are not supported)"),
                );
                None
            }
        }
    }

    fn protocol(&mut self, node: &Node, text: &str) -> Option<Protocol> {
        match text {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            other => {
                self.refuse(node, "ports", format!("protocol {other:?}: tcp or udp"));
                None
            }
        }
    }

    fn address(&mut self, node: &Node, text: &str) -> Option<IpAddr> {
        match text.parse() {
            Ok(address) => Some(address),
            Err(_) => {
                self.refuse(node, "ports", format!("{text:?} is not an IP address"));
                None
            }
        }
    }

    /// `volumes:` of a service: named volumes of the top-level `volumes:` only.
    fn mounts(&mut self, node: &Node, out: &mut Vec<VolumeSpec>) {
        for item in self.items(node, "volumes") {
            let mount = match &item.value {
                Value::Map(entries) => self.long_mount(item, entries),
                _ => self.text(item, "volumes").and_then(|text| {
                    let mut parts = text.splitn(3, ':');
                    let first = parts.next().unwrap_or_default().to_owned();
                    let Some(target) = parts.next() else {
                        self.refuse(
                            item,
                            "volumes",
                            format!(
                                "anonymous volume {first:?}: name it and declare it under the \
                                 top-level volumes:"
                            ),
                        );
                        return None;
                    };
                    let read_only = match parts.next() {
                        None | Some("rw") => false,
                        Some("ro") => true,
                        Some(mode) => {
                            self.refuse(
                                item,
                                "volumes",
                                format!("mount mode {mode:?}: Komander takes ro or rw"),
                            );
                            return None;
                        }
                    };
                    self.mount(item, &first, target, read_only)
                }),
            };
            out.extend(mount);
        }
    }

    fn long_mount(&mut self, node: &Node, entries: &[(String, Node)]) -> Option<VolumeSpec> {
        let (mut kind, mut source, mut target, mut read_only) = (None, None, None, false);
        for (key, value) in entries {
            let k = format!("volumes.{key}");
            match key.as_str() {
                "type" => kind = self.text(value, &k),
                "source" => source = self.text(value, &k),
                "target" => target = self.text(value, &k),
                "read_only" => read_only = self.flag(value, &k)?,
                _ => {
                    self.refuse(value, &k, "Komander does not support this Compose key");
                    return None;
                }
            }
        }
        if let Some(kind) = kind.filter(|k| k != "volume") {
            self.refuse(
                node,
                "volumes.type",
                format!(
                    "Komander mounts named volumes only, not {kind} mounts (a host path is \
                     outside the deployment)"
                ),
            );
            return None;
        }
        let (Some(source), Some(target)) = (source, target) else {
            self.refuse(
                node,
                "volumes",
                "a volume mount needs its source and target",
            );
            return None;
        };
        self.mount(node, &source, &target, read_only)
    }

    fn mount(
        &mut self,
        node: &Node,
        source: &str,
        target: &str,
        read_only: bool,
    ) -> Option<VolumeSpec> {
        if source.is_empty() || source.contains('/') || source.starts_with(['.', '~']) {
            self.refuse(
                node,
                "volumes",
                format!("bind mount of host path {source:?}: Komander mounts named volumes only"),
            );
            return None;
        }
        let Some(volume) = self.volumes.get(source) else {
            self.refuse(
                node,
                "volumes",
                format!("volume {source:?} is not declared under the top-level volumes:"),
            );
            return None;
        };
        let ok = target.starts_with('/')
            && !target.contains('\0')
            && !target.split('/').any(|part| part == ".." || part == ".");
        if !ok {
            self.refuse(
                node,
                "volumes",
                format!("mount target {target:?}: an absolute path without . or .."),
            );
            return None;
        }
        Some(VolumeSpec {
            source: volume.clone(),
            target: target.to_owned(),
            read_only,
        })
    }

    fn health_check(&mut self, node: &Node) -> Option<HealthCheck> {
        let entries = map_or_refuse(node, &child(&self.path, "healthcheck"), self.r)?;
        let mut check = HealthCheck::new(Vec::new());
        let mut disabled = false;
        for (key, value) in entries {
            let k = format!("healthcheck.{key}");
            match key.as_str() {
                "test" => match &value.value {
                    Value::Seq(items) => {
                        let args: Vec<String> =
                            items.iter().filter_map(|i| self.text(i, &k)).collect();
                        match args.split_first() {
                            Some((first, [])) if first == "NONE" => disabled = true,
                            Some((first, rest)) if first == "CMD" => check.command = rest.to_vec(),
                            Some((first, rest)) if first == "CMD-SHELL" => {
                                check.command = shell(&rest.join(" "))
                            }
                            _ => self.refuse(
                                value,
                                &k,
                                "a test list starts with CMD, CMD-SHELL or NONE",
                            ),
                        }
                    }
                    _ => {
                        if let Some(text) = self.text(value, &k) {
                            check.command = shell(&text);
                        }
                    }
                },
                "interval" => check.interval_seconds = self.seconds(value, &k)?,
                "timeout" => check.timeout_seconds = self.seconds(value, &k)?,
                "start_period" => check.start_period_seconds = self.seconds(value, &k)?,
                "retries" => check.retries = self.number(value, &k)?,
                "disable" => disabled = self.flag(value, &k)?,
                _ => self.refuse(value, &k, "Komander does not support this Compose key"),
            }
        }
        if disabled {
            return None;
        }
        if check.command.is_empty() {
            self.refuse(node, "healthcheck.test", "a health check needs a test");
            return None;
        }
        Some(check)
    }

    /// A Compose duration (`1m30s`, `500ms`, `10s`) in whole seconds.
    fn seconds(&mut self, node: &Node, key: &str) -> Option<u32> {
        let text = self.text(node, key)?;
        let millis = duration_millis(&text);
        match millis {
            Some(ms) if ms % 1000 == 0 && ms / 1000 <= u64::from(u32::MAX) => {
                Some((ms / 1000) as u32)
            }
            Some(_) => {
                self.refuse(
                    node,
                    key,
                    format!("{text}: Komander counts health-check timing in whole seconds"),
                );
                None
            }
            None => {
                self.refuse(
                    node,
                    key,
                    format!("{text:?} is not a duration such as 1m30s"),
                );
                None
            }
        }
    }

    fn depends_on(&mut self, node: &Node) -> Vec<Dependency> {
        let mut out = Vec::new();
        let names: Vec<(String, &Node, Option<&Node>)> = match &node.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| Some((self.text(i, "depends_on")?, i, None)))
                .collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(name, spec)| (name.clone(), spec, Some(spec)))
                .collect(),
            _ => {
                self.refuse(node, "depends_on", "expected a list or a mapping");
                return out;
            }
        };
        for (name, at, spec) in names {
            let key = format!("depends_on.{name}");
            let service: ServiceName = match name.parse() {
                Ok(service) => service,
                Err(e) => {
                    self.refuse(at, &key, e.to_string());
                    continue;
                }
            };
            let mut condition = DependencyCondition::Started;
            for (field, value) in spec.and_then(Node::as_map).unwrap_or(&[]) {
                let k = format!("{key}.{field}");
                match (field.as_str(), self.text(value, &k).as_deref()) {
                    ("condition", Some("service_started")) => {}
                    ("condition", Some("service_healthy")) => {
                        condition = DependencyCondition::Healthy
                    }
                    ("condition", Some("service_completed_successfully")) => {
                        condition = DependencyCondition::CompletedSuccessfully
                    }
                    ("required", Some("true")) | ("restart", Some("false")) => {}
                    ("required" | "restart", _) => self.refuse(
                        value,
                        &k,
                        "Komander always waits for a dependency and does not restart dependents",
                    ),
                    _ => self.refuse(value, &k, "Komander does not support this Compose key"),
                }
            }
            out.push(Dependency { service, condition });
        }
        out
    }

    /// `deploy:`: `resources.limits` (memory, cpus) and `replicas`; reservations are ignored
    /// (a single engine has no scheduler to reserve with).
    fn deploy(&mut self, node: &Node, settings: &mut ServiceSettings) {
        let Some(entries) = map_or_refuse(node, &child(&self.path, "deploy"), self.r) else {
            return;
        };
        for (key, value) in entries {
            let k = format!("deploy.{key}");
            match key.as_str() {
                "replicas" => settings.replicas = self.number(value, &k).unwrap_or(1),
                "mode" if value.as_text() == Some("replicated") => {}
                "resources" => {
                    let path = child(&self.path, &k);
                    for (kind, limits) in map_or_refuse(value, &path, self.r).unwrap_or(&[]) {
                        let k = format!("{k}.{kind}");
                        match kind.as_str() {
                            "reservations" => {}
                            "limits" => {
                                let path = child(&self.path, &k);
                                for (limit, v) in
                                    map_or_refuse(limits, &path, self.r).unwrap_or(&[])
                                {
                                    let k = format!("{k}.{limit}");
                                    match limit.as_str() {
                                        "memory" => settings.memory_bytes = self.bytes(v, &k),
                                        "cpus" => settings.cpus = self.cpus(v, &k),
                                        _ => self.refuse(
                                            v,
                                            &k,
                                            "Komander limits memory and cpus only",
                                        ),
                                    }
                                }
                            }
                            _ => self.refuse(limits, &k, "Komander does not support this key"),
                        }
                    }
                }
                _ => self.refuse(
                    value,
                    &k,
                    "Komander takes deploy.replicas and deploy.resources only",
                ),
            }
        }
    }

    /// A byte count such as `512m`, `1g`, `1024` (binary units, as Compose reads them).
    fn bytes(&mut self, node: &Node, key: &str) -> Option<u64> {
        let text = self.text(node, key)?;
        let parsed = byte_count(&text);
        if parsed.is_none() {
            self.refuse(
                node,
                key,
                format!("{text:?} is not a size such as 512m or 1g"),
            );
        }
        parsed
    }

    fn cpus(&mut self, node: &Node, key: &str) -> Option<f64> {
        let text = self.text(node, key)?;
        match text.trim().parse::<f64>() {
            Ok(cpus) if cpus.is_finite() && cpus > 0.0 => Some(cpus),
            _ => {
                self.refuse(node, key, format!("{text:?} is not a CPU count above 0"));
                None
            }
        }
    }
}

/// `text` run by `sh -c`, as `CMD-SHELL` does.
fn shell(text: &str) -> Vec<String> {
    vec!["sh".to_owned(), "-c".to_owned(), text.to_owned()]
}

/// A Go duration (`1h2m3s`, `1.5s`, `300ms`, `10us`) in whole milliseconds, or `None`.
fn duration_millis(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        let rest_unit = &rest[number_end..];
        let unit_end = rest_unit
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest_unit.len());
        let scale = match &rest_unit[..unit_end] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1000.0,
            "ms" => 1.0,
            "us" | "µs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        total += number * scale;
        rest = &rest_unit[unit_end..];
    }
    (total.is_finite() && total < 1e15 && total.fract() == 0.0).then_some(total as u64)
}

/// A Compose byte size (`2g`, `512M`, `100kb`, `1024`) in bytes, or `None`.
fn byte_count(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..split].parse().ok()?;
    let scale: u64 = match &text[split..] {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    let bytes = number * scale as f64;
    (1.0..1e18).contains(&bytes).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(duration_millis("10s"), Some(10_000));
        assert_eq!(duration_millis("1m30s"), Some(90_000));
        assert_eq!(duration_millis("1h"), Some(3_600_000));
        assert_eq!(duration_millis("30000ms"), Some(30_000));
        assert_eq!(duration_millis("1.5s"), Some(1_500));
        assert_eq!(duration_millis("0"), Some(0));
        assert_eq!(duration_millis("10"), None);
        assert_eq!(duration_millis("ten seconds"), None);
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(byte_count("512m"), Some(512 << 20));
        assert_eq!(byte_count("1G"), Some(1 << 30));
        assert_eq!(byte_count("100kb"), Some(100 << 10));
        assert_eq!(byte_count("1073741824"), Some(1 << 30));
        assert_eq!(byte_count("1.5g"), Some(3 << 29));
        assert_eq!(byte_count("0"), None);
        assert_eq!(byte_count("lots"), None);
    }
}

#[cfg(test)]
mod import_tests {
    use std::collections::BTreeMap;

    use komander_domain::api::{
        DependencyCondition, PortSpec, Protocol, PullPolicy, RestartPolicy,
    };

    use crate::{ImportedService, Refused, Source, parse};

    fn import(text: &str) -> Result<Vec<ImportedService>, Refused> {
        parse(&Source::new("compose.yaml", text))
    }

    /// The refusals of `text`, as `line: key` pairs.
    fn refused(text: &str) -> Vec<(usize, String)> {
        import(text)
            .unwrap_err()
            .0
            .into_iter()
            .map(|r| (r.line, r.key))
            .collect()
    }

    fn fixture(path: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/peers/compose/compose-go");
        std::fs::read_to_string(dir.join(path)).unwrap()
    }

    const FULL: &str = r#"
version: "3.8"
name: shop
x-common: &common
  restart: unless-stopped
services:
  web:
    <<: *common
    image: ${REGISTRY:-docker.io}/nginx:1.27
    command: nginx -g 'daemon off;'
    entrypoint: ["/docker-entrypoint.sh"]
    environment:
      - KEYCLOAK_URL=http://auth
      - DB_PASSWORD=${DB_PASSWORD:?set the database password}
      - FROM_SHELL
      - NOT_SET_ANYWHERE
    ports:
      - "8080:80"
      - "0.0.0.0:8443:443/tcp"
      - target: 53
        published: "5353"
        host_ip: "::1"
        protocol: udp
    expose: ["9000"]
    volumes:
      - static_files:/usr/share/nginx/html:ro
      - type: volume
        source: cache
        target: /var/cache/nginx
    healthcheck:
      test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
      interval: 1m30s
      timeout: 10s
      retries: 5
      start_period: 40s
    depends_on:
      db:
        condition: service_healthy
    deploy:
      replicas: 1
      resources:
        limits:
          memory: 512M
          cpus: "0.5"
        reservations:
          memory: 128M
    working_dir: /srv
    user: "101:101"
    pull_policy: always
  db:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD: $${NOT_INTERPOLATED}
      PGDATA: /var/lib/postgresql/data
    healthcheck:
      test: pg_isready
    depends_on: []
volumes:
  static_files: {}
  cache:
    driver: local
networks:
  default:
"#;

    #[test]
    fn every_supported_key_becomes_the_service_komander_creates() {
        let vars: BTreeMap<String, String> = [("FROM_SHELL", "shell"), ("DB_PASSWORD", "s3cret")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let services = parse(&Source {
            variables: &vars,
            ..Source::new("compose.yaml", FULL)
        })
        .unwrap();
        assert_eq!(services.len(), 2);
        let web = &services[0];
        let s = &web.service;
        assert_eq!(s.name, "web");
        assert_eq!(s.image, "docker.io/nginx:1.27");
        assert_eq!(s.command, ["nginx", "-g", "daemon off;"]);
        assert_eq!(s.entrypoint, ["/docker-entrypoint.sh"]);
        assert_eq!(s.restart, RestartPolicy::UnlessStopped);
        let vars: Vec<(&str, &str, bool)> = web
            .variables
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str(), v.secret))
            .collect();
        assert_eq!(
            vars,
            [
                ("KEYCLOAK_URL", "http://auth", false),
                ("DB_PASSWORD", "s3cret", true),
                ("FROM_SHELL", "shell", false),
            ]
        );
        assert_eq!(s.ports.len(), 4);
        assert_eq!(
            (
                s.ports[0].container,
                s.ports[0].host,
                s.ports[0].host_address
            ),
            (80, Some(8080), PortSpec::LOOPBACK)
        );
        assert_eq!(s.ports[1].host_address.to_string(), "0.0.0.0");
        assert_eq!(s.ports[2].protocol, Protocol::Udp);
        assert_eq!(s.ports[2].host, Some(5353));
        assert_eq!(s.ports[2].host_address.to_string(), "::1");
        assert_eq!((s.ports[3].container, s.ports[3].host), (9000, None));
        assert_eq!(s.volumes[0].source, "static-files");
        assert!(s.volumes[0].read_only);
        assert_eq!(s.volumes[1].target, "/var/cache/nginx");
        let check = s.health_check.as_ref().unwrap();
        assert_eq!(
            check.command,
            ["sh", "-c", "curl -f http://localhost/ || exit 1"]
        );
        assert_eq!(
            (
                check.interval_seconds,
                check.timeout_seconds,
                check.retries,
                check.start_period_seconds
            ),
            (90, 10, 5, 40)
        );
        assert_eq!(s.depends_on[0].service, "db");
        assert_eq!(s.depends_on[0].condition, DependencyCondition::Healthy);
        assert_eq!(s.memory_bytes, Some(512 << 20));
        assert_eq!(s.cpus, Some(0.5));
        assert_eq!(s.working_dir.as_deref(), Some("/srv"));
        assert_eq!(s.user.as_deref(), Some("101:101"));
        assert_eq!(s.pull, PullPolicy::Always);
        let db = &services[1];
        assert_eq!(db.variables[0].value, "${NOT_INTERPOLATED}");
        assert!(db.variables[0].secret);
        assert_eq!(
            db.service.health_check.as_ref().unwrap().command,
            ["sh", "-c", "pg_isready"]
        );
    }

    #[test]
    fn a_required_variable_that_is_missing_is_refused_at_its_line() {
        let err = import(FULL).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(
            err.to_string(),
            "compose.yaml:14: services.web.environment[1]: required variable DB_PASSWORD is \
             missing a value: set the database password"
        );
    }

    #[test]
    fn each_refusal_names_the_file_the_line_and_the_key() {
        let service = |body: &str| format!("services:\n  web:\n    image: nginx\n{body}");
        let cases: Vec<(String, usize, &str)> = vec![
            (service("    privileged: true\n"), 4, "services.web.privileged"),
            (service("    build: .\n"), 4, "services.web.build"),
            (service("    network_mode: host\n"), 4, "services.web.network_mode"),
            (service("    cap_add: [NET_ADMIN]\n"), 4, "services.web.cap_add"),
            (service("    devices: [/dev/fuse]\n"), 4, "services.web.devices"),
            (service("    pid: host\n"), 4, "services.web.pid"),
            (service("    extends: {service: base}\n"), 4, "services.web.extends"),
            (service("    env_file: .env\n"), 4, "services.web.env_file"),
            (service("    secrets: [token]\n"), 4, "services.web.secrets"),
            (service("    frobnicate: 1\n"), 4, "services.web.frobnicate"),
            (service("    volumes:\n      - /:/host\n"), 5, "services.web.volumes"),
            (service("    volumes:\n      - ./data:/data\n"), 5, "services.web.volumes"),
            (
                service("    volumes:\n      - type: bind\n        source: /\n        target: /h\n"),
                5,
                "services.web.volumes.type",
            ),
            (service("    volumes:\n      - undeclared:/data\n"), 5, "services.web.volumes"),
            (service("    ports: [\"8000-8005:80\"]\n"), 4, "services.web.ports"),
            (service("    restart: sometimes\n"), 4, "services.web.restart"),
            (service("    healthcheck:\n      interval: 1.5s\n      test: true\n"), 5, "services.web.healthcheck.interval"),
            (service("    deploy:\n      restart_policy: {condition: any}\n"), 5, "services.web.deploy.restart_policy"),
            (service("    networks: [backend]\n"), 4, "services.web.networks.backend"),
            (format!("{}frobnicate: 1\n", service("")), 4, "frobnicate"),
            (format!("{}secrets:\n  token:\n    file: ./t\n", service("")), 4, "secrets"),
            (format!("{}configs:\n  c:\n    file: ./c\n", service("")), 4, "configs"),
            (format!("{}volumes:\n  data:\n    external: true\n", service("")), 6, "volumes.data.external"),
            (format!("{}volumes:\n  data:\n    driver_opts: {{type: none, o: bind, device: /}}\n", service("")), 6, "volumes.data.driver_opts"),
            ("services:\n  My_App:\n    image: nginx\n".into(), 2, "services.My_App"),
            ("services:\n  api:\n    image: nginx\n".into(), 2, "services.api"),
            ("services:\n  ..:\n    image: nginx\n".into(), 2, "services..."),
            ("services:\n  web:\n    command: echo\n".into(), 2, "services.web.image"),
            ("services:\n  web:\n    image: nginx\n    environment:\n      discovery.type: single-node\n".into(), 5, "services.web.environment.discovery.type"),
            ("services:\n  web:\n    image: ${TAG:?the tag is required}\n".into(), 3, "services.web.image"),
            ("services:\n  web:\n    image: ${TAG/a/b}\n".into(), 3, "services.web.image"),
            ("services:\n  web:\n    image: nginx\n    depends_on: [db]\n".into(), 2, "services.web.depends_on"),
            ("services: {}\n".into(), 1, "services"),
            ("services:\n  web: [\n".into(), 2, "(yaml)"),
        ];
        for (text, line, key) in cases {
            let got = refused(&text);
            assert!(
                got.contains(&(line, key.to_owned())),
                "expected {line}: {key} for\n{text}\ngot {got:?}"
            );
        }
        let err = import(&service("    privileged: true\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "compose.yaml:4: services.web.privileged: Komander does not run privileged containers"
        );
    }

    #[test]
    fn every_refusal_of_a_file_is_reported_at_once() {
        let text = "services:\n  web:\n    image: nginx\n    privileged: true\n    cap_add: [ALL]\n  \
                    db:\n    build: .\n    volumes: [\"/:/host\"]\n";
        let got = refused(text);
        let expected = [
            (4, "services.web.privileged"),
            (5, "services.web.cap_add"),
            (7, "services.db.build"),
            (8, "services.db.volumes"),
        ];
        for (line, key) in expected {
            assert!(
                got.contains(&(line, key.to_owned())),
                "{line}: {key} in {got:?}"
            );
        }
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(
            got.windows(2).all(|w| w[0].0 <= w[1].0),
            "in line order: {got:?}"
        );
    }

    #[test]
    fn the_compose_go_variable_fixtures_interpolate() {
        let text = fixture("cli/testdata/simple/compose-with-variables.yaml");
        let env = fixture("cli/testdata/simple/.env");
        let services = parse(&Source {
            env_file: Some(&env),
            ..Source::new("compose-with-variables.yaml", &text)
        })
        .unwrap();
        assert_eq!(services[0].service.ports[0].host, Some(8000));
        // The shell's variables win over the .env file's.
        let vars = BTreeMap::from([("PUBLIC_PORT".to_owned(), "9000".to_owned())]);
        let services = parse(&Source {
            env_file: Some(&env),
            variables: &vars,
            ..Source::new("compose-with-variables.yaml", &text)
        })
        .unwrap();
        assert_eq!(services[0].service.ports[0].host, Some(9000));

        // `${SOURCE:-/dev/null}` defaults to a host path, which is refused.
        let text = fixture("loader/testdata/extends/interpolated.yaml");
        let err = parse(&Source::new("interpolated.yaml", &text)).unwrap_err();
        assert!(
            err.to_string().contains(
                "interpolated.yaml:5: services.foo.volumes: bind mount of host path \"/dev/null\""
            ),
            "{err}"
        );

        // Every value of the schema fixture is `${VARIABLE}`: set, it reaches each key, which
        // is then refused or taken by name, without a crash.
        let text = fixture("schema/using-variables.yaml");
        let vars = BTreeMap::from([("VARIABLE".to_owned(), "1".to_owned())]);
        let err = parse(&Source {
            variables: &vars,
            ..Source::new("using-variables.yaml", &text)
        })
        .unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|r| r.key.as_str()).collect();
        for key in [
            "services.foo.privileged",
            "services.foo.extra_hosts",
            "secrets",
            "configs",
        ] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        assert!(
            err.0.iter().all(|r| !r.message.contains("interpolation")),
            "{err}"
        );
    }

    #[test]
    fn an_alias_bomb_is_refused_without_expanding_it() {
        let mut text = String::from("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "x-a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        text.push_str("services:\n  web:\n    image: nginx\n");
        let err = import(&text).unwrap_err();
        assert_eq!(err.0[0].key, "(yaml)");
        assert!(err.to_string().contains("aliases are expanded"), "{err}");
    }
}
