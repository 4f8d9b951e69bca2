//! `komander service|variable`: a deployment's services (one container each, from an image)
//! and their environment variables, whose secret values are write-only.

use anyhow::Context as _;
use clap::Subcommand;
use komander_domain::{
    api::{
        NewService, PortSpec, Protocol, Service, ServicePatch, Variable, VariableWrite, VolumeSpec,
    },
    names::{ServiceName, VariableName, VolumeName},
};

use super::{
    ApiClient, OutputFormat,
    output::{Row, joined, print_item, print_list, timestamp, yes_no},
    scope::{DeploymentScope, Scope as _, ServiceScope},
};

/// `komander service`.
#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Lists a deployment's services.
    List {
        /// The deployment.
        #[command(flatten)]
        scope: DeploymentScope,
    },
    /// Adds a service to a deployment.
    Create {
        /// The deployment.
        #[command(flatten)]
        scope: DeploymentScope,
        /// The service's slug, unique in the deployment; immutable.
        name: ServiceName,
        /// The container image (`name[:tag][@digest]`).
        #[arg(long)]
        image: String,
        /// A port it listens on, published on the host (127.0.0.1) when HOST is given; repeat
        /// for several.
        #[arg(long = "port", value_name = "CONTAINER[:HOST][/udp]", value_parser = parse_port)]
        ports: Vec<PortSpec>,
        /// A named volume to mount, read-only with `:ro`; repeat for several.
        #[arg(long = "volume", value_name = "NAME:/PATH[:ro]", value_parser = parse_volume)]
        volumes: Vec<VolumeSpec>,
    },
    /// Shows a service.
    Show {
        /// The deployment.
        #[command(flatten)]
        scope: DeploymentScope,
        /// The service's slug.
        name: ServiceName,
    },
    /// Changes a service's image, ports or volumes; each given kind replaces the old ones.
    Edit {
        /// The deployment.
        #[command(flatten)]
        scope: DeploymentScope,
        /// The service's slug.
        name: ServiceName,
        /// The new container image.
        #[arg(long)]
        image: Option<String>,
        /// A port (replaces all ports); repeat for several.
        #[arg(long = "port", value_name = "CONTAINER[:HOST][/udp]", value_parser = parse_port)]
        ports: Vec<PortSpec>,
        /// A volume (replaces all volumes); repeat for several.
        #[arg(long = "volume", value_name = "NAME:/PATH[:ro]", value_parser = parse_volume)]
        volumes: Vec<VolumeSpec>,
        /// Removes all ports.
        #[arg(long, conflicts_with = "ports")]
        no_ports: bool,
        /// Removes all volumes.
        #[arg(long, conflicts_with = "volumes")]
        no_volumes: bool,
    },
    /// Deletes a service.
    Delete {
        /// The deployment.
        #[command(flatten)]
        scope: DeploymentScope,
        /// The service's slug.
        name: ServiceName,
    },
}

/// `komander variable`.
#[derive(Subcommand, Debug)]
pub enum VariableCommand {
    /// Lists a service's variables; secret values never show.
    List {
        /// The service.
        #[command(flatten)]
        scope: ServiceScope,
    },
    /// Sets a variable. A secret without a value is declared, to be entered later.
    Set {
        /// The service.
        #[command(flatten)]
        scope: ServiceScope,
        /// The variable's name (letters, digits and '_').
        name: VariableName,
        /// The value. For a secret prefer --value-stdin: arguments show in `ps` and shell history.
        #[arg(long, conflicts_with = "value_stdin")]
        value: Option<String>,
        /// Read the value from standard input (a prompt without echo on a terminal).
        #[arg(long)]
        value_stdin: bool,
        /// Makes the variable secret: stored encrypted, never shown again.
        #[arg(long)]
        secret: bool,
    },
    /// Deletes a variable.
    Delete {
        /// The service.
        #[command(flatten)]
        scope: ServiceScope,
        /// The variable's name.
        name: VariableName,
    },
}

impl ServiceCommand {
    /// Runs the command and prints the server's answer.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        match self {
            Self::List { scope } => {
                print_list::<Service>(api, out, &scope.collection("services"), || {
                    format!("listing the services of {scope}")
                })
                .await
            }
            Self::Create {
                scope,
                name,
                image,
                ports,
                volumes,
            } => {
                let body = NewService {
                    name: name.clone(),
                    image,
                    ports,
                    volumes,
                };
                let service: Service = api
                    .post(&scope.collection("services"), &body)
                    .await
                    .with_context(|| format!("creating service {name} in {scope}"))?;
                print_item(out, &service)
            }
            Self::Show { scope, name } => {
                let service: Service = api
                    .get(&scope.item("services", &name))
                    .await
                    .with_context(|| format!("showing service {scope}/{name}"))?;
                print_item(out, &service)
            }
            Self::Edit {
                scope,
                name,
                image,
                ports,
                volumes,
                no_ports,
                no_volumes,
            } => {
                let patch = ServicePatch {
                    image,
                    ports: (no_ports || !ports.is_empty()).then_some(ports),
                    volumes: (no_volumes || !volumes.is_empty()).then_some(volumes),
                };
                let service: Service = api
                    .patch(&scope.item("services", &name), &patch)
                    .await
                    .with_context(|| format!("editing service {scope}/{name}"))?;
                print_item(out, &service)
            }
            Self::Delete { scope, name } => {
                api.delete(&scope.item("services", &name), false)
                    .await
                    .with_context(|| format!("deleting service {scope}/{name}"))?;
                eprintln!("deleted service {scope}/{name}");
                Ok(())
            }
        }
    }
}

impl VariableCommand {
    /// Runs the command and prints the server's answer, which never holds a secret value.
    ///
    /// # Errors
    /// When standard input cannot be read, or the server cannot be reached or refuses (an
    /// `ApiError` in the chain).
    pub async fn run(self, api: &ApiClient, out: OutputFormat) -> anyhow::Result<()> {
        match self {
            Self::List { scope } => {
                print_list::<Variable>(api, out, &scope.collection("variables"), || {
                    format!("listing the variables of {scope}")
                })
                .await
            }
            Self::Set {
                scope,
                name,
                value,
                value_stdin,
                secret,
            } => {
                if secret && value.is_some() {
                    eprintln!(
                        "warning: --value shows the secret in `ps` and shell history; \
                         prefer --value-stdin"
                    );
                }
                let value = if value_stdin {
                    Some(super::read_stdin(&format!("value of {name}"))?)
                } else {
                    value
                };
                let variable: Variable = api
                    .put(
                        &scope.item("variables", &name),
                        &VariableWrite { value, secret },
                    )
                    .await
                    .with_context(|| format!("setting variable {name} of {scope}"))?;
                print_item(out, &variable)
            }
            Self::Delete { scope, name } => {
                api.delete(&scope.item("variables", &name), false)
                    .await
                    .with_context(|| format!("deleting variable {name} of {scope}"))?;
                eprintln!("deleted variable {name} of {scope}");
                Ok(())
            }
        }
    }
}

/// Parses `CONTAINER[:HOST][/tcp|/udp]`, such as `80:8081` or `53/udp`.
fn parse_port(text: &str) -> Result<PortSpec, String> {
    let (ports, protocol) = match text.rsplit_once('/') {
        None => (text, Protocol::Tcp),
        Some((ports, "tcp")) => (ports, Protocol::Tcp),
        Some((ports, "udp")) => (ports, Protocol::Udp),
        Some((_, other)) => return Err(format!("unknown protocol {other:?}: use tcp or udp")),
    };
    let number = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| format!("{port:?} is not a port number (1 to 65535)"))
    };
    let (container, host) = match ports.split_once(':') {
        Some((container, host)) => (number(container)?, Some(number(host)?)),
        None => (number(ports)?, None),
    };
    Ok(PortSpec {
        container,
        host,
        protocol,
    })
}

/// Parses `NAME:/PATH[:ro|:rw]`, such as `data:/var/lib/postgresql/data`.
fn parse_volume(text: &str) -> Result<VolumeSpec, String> {
    let (source, rest) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not NAME:/PATH[:ro]"))?;
    let (target, read_only) = match rest.rsplit_once(':') {
        Some((target, "ro")) => (target, true),
        Some((target, "rw")) => (target, false),
        _ => (rest, false),
    };
    if !target.starts_with('/') {
        return Err(format!("the mount path {target:?} is not absolute"));
    }
    Ok(VolumeSpec {
        source: source
            .parse::<VolumeName>()
            .map_err(|err| err.to_string())?,
        target: target.to_owned(),
        read_only,
    })
}

/// A port as `--port` takes it.
fn show_port(port: &PortSpec) -> String {
    let host = port.host.map(|host| format!(":{host}")).unwrap_or_default();
    let protocol = if port.protocol == Protocol::Udp {
        "/udp"
    } else {
        ""
    };
    format!("{}{host}{protocol}", port.container)
}

/// A volume as `--volume` takes it.
fn show_volume(volume: &VolumeSpec) -> String {
    let mode = if volume.read_only { ":ro" } else { "" };
    format!("{}:{}{mode}", volume.source, volume.target)
}

impl Row for Service {
    const COLUMNS: &'static [&'static str] = &["NAME", "IMAGE", "PORTS", "VOLUMES", "UPDATED"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.to_string(),
            self.image.clone(),
            joined(self.ports.iter().map(show_port)),
            joined(self.volumes.iter().map(show_volume)),
            timestamp(self.updated_at),
        ]
    }
}

impl Row for Variable {
    const COLUMNS: &'static [&'static str] = &["NAME", "SECRET", "SET", "VALUE"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.to_string(),
            yes_no(self.secret),
            yes_no(self.has_value),
            self.value.clone().unwrap_or_else(|| "-".to_owned()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_show_alike() {
        for text in ["80", "80:8081", "53/udp", "53:5353/udp"] {
            assert_eq!(show_port(&parse_port(text).unwrap()), text);
        }
        assert_eq!(parse_port("80/tcp").unwrap(), parse_port("80").unwrap());
        for bad in ["", "0", "80:", "x:80", "70000", "80/sctp"] {
            assert!(parse_port(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn volumes_parse_and_show_alike() {
        for text in ["data:/var/lib/data", "cache:/cache:ro"] {
            assert_eq!(show_volume(&parse_volume(text).unwrap()), text);
        }
        assert!(!parse_volume("data:/d:rw").unwrap().read_only);
        for bad in ["data", "data:relative", "Data:/d"] {
            assert!(parse_volume(bad).is_err(), "{bad:?}");
        }
    }
}
