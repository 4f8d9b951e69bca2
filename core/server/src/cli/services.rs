//! `komander service|variable`: a deployment's services (one container each, from an image)
//! and their environment variables, whose secret values are write-only.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use komander_domain::{
    api::{
        Dependency, HealthCheck, NewService, PortSpec, PullPolicy, RestartPolicy, Service,
        ServicePatch, ServiceSettings, Variable, VariableWrite, VolumeSpec,
    },
    names::{ServiceName, VariableName},
    notation::{
        parse_bytes, parse_dependency, parse_port, parse_pull, parse_seconds, parse_volume,
        show_argv, show_bytes, show_dependency, show_port, show_seconds, show_volume,
    },
};

use super::{
    ApiClient, OutputFormat,
    output::{Row, joined, print_item, print_json, print_list, print_rows, timestamp, yes_no},
    scope::{DeploymentScope, Scope as _, ServiceScope},
};

/// A command line as `--command`, `--entrypoint` and `--health-cmd` take it: words split at
/// white space, or a JSON array of strings (`'["sh", "-c", "echo hi"]'`) for arguments that
/// hold spaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argv(pub Vec<String>);

/// Parses a command line: a JSON array of strings, or words split at white space.
fn parse_argv(text: &str) -> Result<Argv, String> {
    komander_domain::notation::parse_argv(text).map(Argv)
}

/// How a service runs, as `service create` and `service edit` take it.
#[derive(clap::Args, Debug, Default)]
pub struct SettingsArgs {
    /// The arguments passed to the entrypoint (words, or a JSON array).
    #[arg(long, value_name = "ARGS", value_parser = parse_argv)]
    pub command: Option<Argv>,
    /// The program run instead of the image's entrypoint (words, or a JSON array).
    #[arg(long, value_name = "ARGS", value_parser = parse_argv)]
    pub entrypoint: Option<Argv>,
    /// The absolute working directory.
    #[arg(long, value_name = "PATH")]
    pub workdir: Option<String>,
    /// The user to run as: a name, a uid or uid:gid.
    #[arg(long)]
    pub user: Option<String>,
    /// The health check's command, run in the container without a shell (words, or a JSON
    /// array: '["sh", "-c", "wget -q -O- localhost"]').
    #[arg(long, value_name = "ARGS", value_parser = parse_argv)]
    pub health_cmd: Option<Argv>,
    /// Time between two health checks, such as 30s, 2m or 1h [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
    pub health_interval: Option<u32>,
    /// Time a health check may take [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
    pub health_timeout: Option<u32>,
    /// Failed checks in a row that make the service unhealthy [default: 3].
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u32>,
    /// Time after start during which failed checks do not count [default: 0s].
    #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
    pub health_start_period: Option<u32>,
    /// When to restart it: no, always, on-failure[:MAX] or unless-stopped [default: no].
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<RestartPolicy>,
    /// A service of the deployment it waits for, with the condition started (default), healthy
    /// or completed_successfully; repeat for several.
    #[arg(long = "depends-on", value_name = "SERVICE[:CONDITION]", value_parser = parse_dependency)]
    pub depends_on: Vec<Dependency>,
    /// Its memory limit: bytes, or with a suffix k, m or g (powers of 1024), such as 256m.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub memory: Option<u64>,
    /// Its CPU limit in CPUs, such as 0.5.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// How many containers run it [default: 1].
    #[arg(long, value_name = "N")]
    pub replicas: Option<u32>,
    /// When to pull its image: missing (default) or always.
    #[arg(long, value_name = "POLICY", value_parser = parse_pull)]
    pub pull: Option<PullPolicy>,
}

/// What `service edit` removes.
#[derive(clap::Args, Debug, Default)]
pub struct ClearArgs {
    /// Goes back to the image's command.
    #[arg(long, conflicts_with = "command")]
    pub no_command: bool,
    /// Goes back to the image's entrypoint.
    #[arg(long, conflicts_with = "entrypoint")]
    pub no_entrypoint: bool,
    /// Goes back to the image's working directory.
    #[arg(long, conflicts_with = "workdir")]
    pub no_workdir: bool,
    /// Goes back to the image's user.
    #[arg(long, conflicts_with = "user")]
    pub no_user: bool,
    /// Removes the health check.
    #[arg(long, conflicts_with_all = ["health_cmd", "health_interval", "health_timeout", "health_retries", "health_start_period"])]
    pub no_health_check: bool,
    /// Removes all dependencies.
    #[arg(long, conflicts_with = "depends_on")]
    pub no_depends_on: bool,
    /// Removes the memory limit.
    #[arg(long, conflicts_with = "memory")]
    pub no_memory: bool,
    /// Removes the CPU limit.
    #[arg(long, conflicts_with = "cpus")]
    pub no_cpus: bool,
}

impl SettingsArgs {
    /// Whether any health-check flag is given.
    fn health_given(&self) -> bool {
        self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some()
    }

    /// The health check the flags describe, starting from `current` (the service's, on edit).
    ///
    /// # Errors
    /// When timing flags are given without a command and there is no check to change.
    fn health_check(&self, current: Option<HealthCheck>) -> anyhow::Result<HealthCheck> {
        let mut check = match (&self.health_cmd, current) {
            (Some(Argv(command)), current) => HealthCheck {
                command: command.clone(),
                ..current.unwrap_or_else(|| HealthCheck::new(Vec::new()))
            },
            (None, Some(current)) => current,
            (None, None) => bail!("--health-cmd is needed: the service has no health check yet"),
        };
        let timing = [
            (self.health_interval, &mut check.interval_seconds),
            (self.health_timeout, &mut check.timeout_seconds),
            (self.health_retries, &mut check.retries),
            (self.health_start_period, &mut check.start_period_seconds),
        ];
        for (given, field) in timing {
            if let Some(value) = given {
                *field = value;
            }
        }
        Ok(check)
    }

    /// The settings of a new service: what is given, defaults for the rest.
    ///
    /// # Errors
    /// When health-check timing is given without `--health-cmd`.
    pub fn settings(self) -> anyhow::Result<ServiceSettings> {
        let health_check = if self.health_given() {
            Some(self.health_check(None)?)
        } else {
            None
        };
        let defaults = ServiceSettings::default();
        Ok(ServiceSettings {
            command: self.command.map(|a| a.0).unwrap_or_default(),
            entrypoint: self.entrypoint.map(|a| a.0).unwrap_or_default(),
            working_dir: self.workdir,
            user: self.user,
            health_check,
            restart: self.restart.unwrap_or(defaults.restart),
            depends_on: self.depends_on,
            memory_bytes: self.memory,
            cpus: self.cpus,
            replicas: self.replicas.unwrap_or(defaults.replicas),
            pull: self.pull.unwrap_or(defaults.pull),
        })
    }

    /// Fills `patch` with the changes the flags and `clear` ask for; `current` is the
    /// service's health check, which health flags change.
    ///
    /// # Errors
    /// When health-check timing is given without `--health-cmd` to a service without a check.
    pub fn patch(
        self,
        clear: &ClearArgs,
        current: Option<HealthCheck>,
        patch: &mut ServicePatch,
    ) -> anyhow::Result<()> {
        if clear.no_health_check {
            patch.health_check = Some(None);
        } else if self.health_given() {
            patch.health_check = Some(Some(self.health_check(current)?));
        }
        let cleared = |flag: bool| flag.then(Vec::new);
        patch.command = self.command.map(|a| a.0).or(cleared(clear.no_command));
        patch.entrypoint = self
            .entrypoint
            .map(|a| a.0)
            .or(cleared(clear.no_entrypoint));
        patch.depends_on = if clear.no_depends_on || !self.depends_on.is_empty() {
            Some(self.depends_on)
        } else {
            None
        };
        let optional = |given: Option<String>, clear: bool| match given {
            Some(value) => Some(Some(value)),
            None => clear.then_some(None),
        };
        patch.working_dir = optional(self.workdir, clear.no_workdir);
        patch.user = optional(self.user, clear.no_user);
        patch.memory_bytes = match self.memory {
            Some(bytes) => Some(Some(bytes)),
            None => clear.no_memory.then_some(None),
        };
        patch.cpus = match self.cpus {
            Some(cpus) => Some(Some(cpus)),
            None => clear.no_cpus.then_some(None),
        };
        patch.restart = self.restart;
        patch.replicas = self.replicas;
        patch.pull = self.pull;
        Ok(())
    }
}

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
        /// A port it listens on, published on the host port HOST when given, on 127.0.0.1
        /// unless ADDRESS says otherwise; repeat for several.
        #[arg(long = "port", value_name = "CONTAINER[:HOST[@ADDRESS]][/udp]", value_parser = parse_port)]
        ports: Vec<PortSpec>,
        /// A named volume to mount, read-only with `:ro`; repeat for several.
        #[arg(long = "volume", value_name = "NAME:/PATH[:ro]", value_parser = parse_volume)]
        volumes: Vec<VolumeSpec>,
        /// How it runs.
        #[command(flatten)]
        settings: Box<SettingsArgs>,
    },
    /// Shows a service, one field a line, as the flags of `service create` spell them.
    Show {
        /// The deployment.
        #[command(flatten)]
        scope: DeploymentScope,
        /// The service's slug.
        name: ServiceName,
    },
    /// Changes what is given of a service; each given kind replaces the old ones (all ports,
    /// all dependencies…), health-check flags change the current check.
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
        #[arg(long = "port", value_name = "CONTAINER[:HOST[@ADDRESS]][/udp]", value_parser = parse_port)]
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
        /// How it runs.
        #[command(flatten)]
        settings: Box<SettingsArgs>,
        /// What to remove.
        #[command(flatten)]
        clear: Box<ClearArgs>,
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
                settings,
            } => {
                let body = NewService::with_settings(
                    name.clone(),
                    image,
                    ports,
                    volumes,
                    settings.settings()?,
                );
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
                match out {
                    OutputFormat::Table => print_rows(&["FIELD", "VALUE"], &details(&service)),
                    OutputFormat::Json => print_json(&service),
                }
            }
            Self::Edit {
                scope,
                name,
                image,
                ports,
                volumes,
                no_ports,
                no_volumes,
                settings,
                clear,
            } => {
                let path = scope.item("services", &name);
                let current = if settings.health_given() {
                    let service: Service = api
                        .get(&path)
                        .await
                        .with_context(|| format!("reading service {scope}/{name}"))?;
                    service.settings.health_check
                } else {
                    None
                };
                let mut patch = ServicePatch {
                    image,
                    ports: (no_ports || !ports.is_empty()).then_some(ports),
                    volumes: (no_volumes || !volumes.is_empty()).then_some(volumes),
                    ..ServicePatch::default()
                };
                settings.patch(&clear, current, &mut patch)?;
                let service: Service = api
                    .patch(&path, &patch)
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

/// `service show`'s lines: each field as the flags of `service create` spell it, `-` when
/// unset.
fn details(service: &Service) -> Vec<Vec<String>> {
    let s = &service.settings;
    let or_dash = |text: String| {
        if text.is_empty() {
            "-".to_owned()
        } else {
            text
        }
    };
    let argv = |args: &[String]| {
        or_dash(if args.is_empty() {
            String::new()
        } else {
            show_argv(args)
        })
    };
    let health = s.health_check.as_ref();
    let mut rows = vec![
        ("name", service.name.to_string()),
        ("image", service.image.clone()),
        ("port", joined(service.ports.iter().map(show_port))),
        ("volume", joined(service.volumes.iter().map(show_volume))),
        ("command", argv(&s.command)),
        ("entrypoint", argv(&s.entrypoint)),
        (
            "workdir",
            or_dash(s.working_dir.clone().unwrap_or_default()),
        ),
        ("user", or_dash(s.user.clone().unwrap_or_default())),
        (
            "health-cmd",
            argv(health.map(|h| h.command.as_slice()).unwrap_or_default()),
        ),
    ];
    if let Some(h) = health {
        rows.extend([
            ("health-interval", show_seconds(h.interval_seconds)),
            ("health-timeout", show_seconds(h.timeout_seconds)),
            ("health-retries", h.retries.to_string()),
            ("health-start-period", show_seconds(h.start_period_seconds)),
        ]);
    }
    rows.extend([
        ("restart", s.restart.to_string()),
        (
            "depends-on",
            joined(s.depends_on.iter().map(show_dependency)),
        ),
        (
            "memory",
            s.memory_bytes
                .map(show_bytes)
                .unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "cpus",
            s.cpus
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".to_owned()),
        ),
        ("replicas", s.replicas.to_string()),
        ("pull", s.pull.as_str().to_owned()),
        ("created", timestamp(service.created_at)),
        ("updated", timestamp(service.updated_at)),
    ]);
    rows.into_iter()
        .map(|(field, value)| vec![field.to_owned(), value])
        .collect()
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

    /// A probe parser holding the flags `service create` and `service edit` share.
    #[derive(clap::Parser, Debug)]
    struct Probe {
        #[command(flatten)]
        settings: Box<SettingsArgs>,
        #[command(flatten)]
        clear: ClearArgs,
    }

    fn probe(args: &[&str]) -> Probe {
        use clap::Parser as _;
        Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn shown(settings: ServiceSettings) -> Vec<(String, String)> {
        let service = Service {
            id: komander_domain::ServiceId::new(),
            name: "web".parse().unwrap(),
            image: "nginx".into(),
            ports: Vec::new(),
            volumes: Vec::new(),
            settings,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        details(&service)
            .into_iter()
            .map(|row| (row[0].clone(), row[1].clone()))
            .collect()
    }

    #[test]
    fn every_setting_parses_from_flags_and_shows_as_them() {
        let flags = [
            "--command",
            "serve --port 80",
            "--entrypoint",
            r#"["sh", "-c", "exec \"$@\""]"#,
            "--workdir",
            "/srv",
            "--user",
            "1000:1000",
            "--health-cmd",
            "wget -q -O- localhost",
            "--health-interval",
            "10s",
            "--health-timeout",
            "2m",
            "--health-retries",
            "5",
            "--health-start-period",
            "1h",
            "--restart",
            "on-failure:3",
            "--depends-on",
            "db:healthy",
            "--depends-on",
            "migrate:completed_successfully",
            "--memory",
            "256m",
            "--cpus",
            "0.5",
            "--replicas",
            "2",
            "--pull",
            "always",
        ];
        let settings = probe(&flags).settings.settings().unwrap();
        assert_eq!(settings.command, ["serve", "--port", "80"]);
        assert_eq!(settings.entrypoint, ["sh", "-c", "exec \"$@\""]);
        assert_eq!(settings.memory_bytes, Some(256 << 20));
        let check = settings.health_check.clone().unwrap();
        assert_eq!(
            (check.interval_seconds, check.timeout_seconds, check.retries),
            (10, 120, 5)
        );
        assert_eq!(check.start_period_seconds, 3600);
        assert_eq!(
            settings.restart,
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        // What `service show` prints parses back into the same settings.
        let lines = shown(settings.clone());
        let mut again: Vec<String> = Vec::new();
        for (field, value) in &lines {
            if ["name", "image", "port", "volume", "created", "updated"].contains(&field.as_str()) {
                continue;
            }
            let values: Vec<&str> = if field == "depends-on" {
                value.split(',').collect()
            } else {
                vec![value]
            };
            for value in values {
                again.push(format!("--{field}"));
                again.push(value.to_owned());
            }
        }
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        assert_eq!(
            probe(&again).settings.settings().unwrap(),
            settings,
            "{lines:?}"
        );
    }

    #[test]
    fn unset_settings_show_as_dashes_and_defaults() {
        let lines = shown(ServiceSettings::default());
        let value = |field: &str| {
            lines
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value("command"), Some("-"));
        assert_eq!(value("health-cmd"), Some("-"));
        assert_eq!(value("health-interval"), None, "no timing without a check");
        assert_eq!(value("restart"), Some("no"));
        assert_eq!(value("replicas"), Some("1"));
        assert_eq!(value("pull"), Some("missing"));
        assert_eq!(value("memory"), Some("-"));
    }

    #[test]
    fn bad_flag_values_are_refused() {
        use clap::Parser as _;
        for bad in [
            ["--restart", "sometimes"],
            ["--restart", "on-failure:0"],
            ["--depends-on", "db:ready"],
            ["--depends-on", "Db"],
            ["--memory", "12q"],
            ["--health-interval", "5x"],
            ["--pull", "never"],
            ["--command", "[\"unclosed\""],
        ] {
            let parsed = Probe::try_parse_from(std::iter::once("probe").chain(bad));
            assert!(parsed.is_err(), "{bad:?}");
        }
        let timing_alone = probe(&["--health-interval", "5s"]).settings.settings();
        assert!(timing_alone.is_err(), "a check needs a command");
    }

    #[test]
    fn edit_flags_change_or_clear_only_what_is_given() {
        let mut patch = ServicePatch::default();
        let current = HealthCheck::new(vec!["true".into()]);
        let Probe { settings, clear } = probe(&[
            "--health-retries",
            "9",
            "--no-memory",
            "--no-workdir",
            "--replicas",
            "3",
        ]);
        settings
            .patch(&clear, Some(current.clone()), &mut patch)
            .unwrap();
        assert_eq!(
            patch.health_check,
            Some(Some(HealthCheck {
                retries: 9,
                ..current
            }))
        );
        assert_eq!(patch.memory_bytes, Some(None));
        assert_eq!(patch.working_dir, Some(None));
        assert_eq!(patch.replicas, Some(3));
        assert_eq!(
            (&patch.command, patch.cpus, &patch.user),
            (&None, None, &None)
        );
        let json = serde_json::to_value(&patch).unwrap();
        assert!(json.get("cpus").is_none(), "absent stays absent: {json}");
        assert!(json["memory_bytes"].is_null(), "cleared is null: {json}");
    }
}
