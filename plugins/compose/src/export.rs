//! `export-bundle`: the deployment as a `compose.yaml` that runs without Komander, and a
//! `.env.example` naming the secret variables the user fills in.

use komander_plugin_sdk::runtime::{
    Bundle, BundleFile, DependencyCondition, DeploymentSpec, EnvValue, Protocol, PullPolicy,
    RestartPolicy, ServiceSource, ServiceSpec,
};

use crate::names;

/// A YAML scalar that is always a string: JSON's quoting, which YAML reads the same way.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            // Compose interpolates `$`: `$$` is a literal dollar.
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list of strings as a YAML flow sequence.
fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|c| quoted(c)).collect();
    format!("[{}]", items.join(", "))
}

/// Milliseconds as a Compose duration, such as `1500ms`.
fn duration(ms: u64) -> String {
    format!("{ms}ms")
}

/// Writes a service's settings beyond its image, ports, variables and volumes.
fn settings(yaml: &mut String, service: &ServiceSpec) {
    if let Some(entrypoint) = &service.entrypoint {
        yaml.push_str(&format!("    entrypoint: {}\n", list(entrypoint)));
    }
    if let Some(command) = &service.command {
        yaml.push_str(&format!("    command: {}\n", list(command)));
    }
    if let Some(dir) = &service.working_dir {
        yaml.push_str(&format!("    working_dir: {}\n", quoted(dir)));
    }
    if let Some(user) = &service.user {
        yaml.push_str(&format!("    user: {}\n", quoted(user)));
    }
    let restart = match service.restart {
        RestartPolicy::No => "no".to_owned(),
        RestartPolicy::Always => "always".to_owned(),
        RestartPolicy::OnFailure(None) => "on-failure".to_owned(),
        RestartPolicy::OnFailure(Some(max)) => format!("on-failure:{max}"),
        RestartPolicy::UnlessStopped => "unless-stopped".to_owned(),
    };
    yaml.push_str(&format!("    restart: {}\n", quoted(&restart)));
    if let Some(check) = &service.health_check {
        let mut test = vec!["CMD".to_owned()];
        test.extend(check.command.iter().cloned());
        yaml.push_str(&format!(
            "    healthcheck:\n      test: {}\n      interval: {}\n      timeout: {}\n      \
             retries: {}\n      start_period: {}\n",
            list(&test),
            duration(check.interval_ms),
            duration(check.timeout_ms),
            check.retries,
            duration(check.start_period_ms)
        ));
    }
    if !service.depends_on.is_empty() {
        yaml.push_str("    depends_on:\n");
        for dependency in &service.depends_on {
            let condition = match dependency.condition {
                DependencyCondition::Started => "service_started",
                DependencyCondition::Healthy => "service_healthy",
                DependencyCondition::CompletedSuccessfully => "service_completed_successfully",
            };
            yaml.push_str(&format!(
                "      {}:\n        condition: {condition}\n",
                dependency.service
            ));
        }
    }
    if let Some(bytes) = service.memory_bytes {
        yaml.push_str(&format!("    mem_limit: {bytes}\n"));
    }
    if let Some(nano) = service.nano_cpus {
        yaml.push_str(&format!("    cpus: {}\n", nano as f64 / 1e9));
    }
    if service.replicas > 1 {
        yaml.push_str(&format!("    scale: {}\n", service.replicas));
    }
    if let (ServiceSource::Image(_), PullPolicy::Always) = (&service.source, service.pull) {
        yaml.push_str("    pull_policy: always\n");
    }
}

/// The bundle of `spec`.
pub fn bundle(spec: &DeploymentSpec) -> Bundle {
    let mut yaml = format!(
        "# {} exported by Komander: `docker compose up -d` runs it.\nname: {}\nservices:\n",
        names::project(spec),
        quoted(&names::project(spec))
    );
    let mut secrets = Vec::new();
    let mut volumes = Vec::new();
    for service in &spec.services {
        yaml.push_str(&format!("  {}:\n", service.name));
        match &service.source {
            ServiceSource::Image(image) => {
                yaml.push_str(&format!("    image: {}\n", quoted(image)))
            }
            ServiceSource::Build(build) => {
                let described: String = build
                    .context
                    .description
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                yaml.push_str(&format!(
                    "    # built from {described}\n    build:\n      context: .\n"
                ));
                if let Some(dockerfile) = &build.dockerfile {
                    yaml.push_str(&format!("      dockerfile: {}\n", quoted(dockerfile)));
                }
                if let Some(target) = &build.target {
                    yaml.push_str(&format!("      target: {}\n", quoted(target)));
                }
                if !build.args.is_empty() {
                    yaml.push_str("      args:\n");
                    for (name, value) in &build.args {
                        yaml.push_str(&format!("        {}: {}\n", quoted(name), quoted(value)));
                    }
                }
            }
        }
        settings(&mut yaml, service);
        if !service.env.is_empty() {
            yaml.push_str("    environment:\n");
            for var in &service.env {
                let value = match &var.value {
                    EnvValue::Plain(value) => quoted(value),
                    EnvValue::Secret(_) => {
                        secrets.push(var.name.clone());
                        format!("\"${{{}}}\"", var.name)
                    }
                };
                yaml.push_str(&format!("      {}: {value}\n", quoted(&var.name)));
            }
        }
        if service.ports.iter().any(|p| p.host_port.is_some()) {
            yaml.push_str("    ports:\n");
            for port in service.ports.iter().filter(|p| p.host_port.is_some()) {
                let protocol = match port.protocol {
                    Protocol::Tcp => "tcp",
                    Protocol::Udp => "udp",
                };
                let address = match port.host_address.as_deref() {
                    None => "127.0.0.1".to_owned(),
                    Some(v6) if v6.contains(':') => format!("[{v6}]"),
                    Some(v4) => v4.to_owned(),
                };
                yaml.push_str(&format!(
                    "      - {}\n",
                    quoted(&format!(
                        "{address}:{}:{}/{protocol}",
                        port.host_port.unwrap_or_default(),
                        port.container_port
                    ))
                ));
            }
        }
        // Ports other services reach, published on no host port.
        if service.ports.iter().any(|p| p.host_port.is_none()) {
            yaml.push_str("    expose:\n");
            for port in service.ports.iter().filter(|p| p.host_port.is_none()) {
                let protocol = match port.protocol {
                    Protocol::Tcp => "tcp",
                    Protocol::Udp => "udp",
                };
                yaml.push_str(&format!(
                    "      - {}\n",
                    quoted(&format!("{}/{protocol}", port.container_port))
                ));
            }
        }
        if !service.volumes.is_empty() {
            yaml.push_str("    volumes:\n");
            for volume in &service.volumes {
                let mode = if volume.read_only { ":ro" } else { "" };
                yaml.push_str(&format!(
                    "      - {}\n",
                    quoted(&format!("{}:{}{mode}", volume.name, volume.target))
                ));
                if !volumes.contains(&volume.name) {
                    volumes.push(volume.name.clone());
                }
            }
        }
    }
    if !volumes.is_empty() {
        yaml.push_str("volumes:\n");
        for volume in &volumes {
            yaml.push_str(&format!("  {volume}: {{}}\n"));
        }
    }
    let mut files = vec![BundleFile {
        path: "compose.yaml".into(),
        content: yaml,
    }];
    if !secrets.is_empty() {
        secrets.sort();
        secrets.dedup();
        let mut env =
            String::from("# The secret variables of this deployment: fill them in as .env\n");
        for name in secrets {
            env.push_str(&format!("{name}=\n"));
        }
        files.push(BundleFile {
            path: ".env.example".into(),
            content: env,
        });
    }
    Bundle { files }
}
