//! `export-bundle`: the deployment as a `compose.yaml` that runs without Komander, and a
//! `.env.example` naming the secret variables the user fills in.

use komander_plugin_sdk::runtime::{
    Bundle, BundleFile, DeploymentSpec, EnvValue, Protocol, ServiceSource,
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
        if let Some(command) = &service.command {
            let items: Vec<String> = command.iter().map(|c| quoted(c)).collect();
            yaml.push_str(&format!("    command: [{}]\n", items.join(", ")));
        }
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
                yaml.push_str(&format!(
                    "      - \"127.0.0.1:{}:{}/{protocol}\"\n",
                    port.host_port.unwrap_or_default(),
                    port.container_port
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
