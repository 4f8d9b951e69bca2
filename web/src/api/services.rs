//! Services and their variables: one service's page, creating, editing and deleting a service,
//! setting variables (secret values are write-only: a page shows only whether one is set),
//! and importing a Compose file.

use komander_domain::{
    Action,
    api::{Service, Variable},
};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{deployments::deployment_ref, non_empty, parse_field},
    komander_app::AppError,
    komander_domain::{
        ServiceRef,
        api::{
            ComposeImport, HealthCheck, NewService, PageQuery, ServicePatch, ServiceSettings,
            VariableWrite,
        },
        notation,
    },
};

/// The settings fields of the service form, as typed: one port, volume or dependency a line,
/// command lines as words or a JSON array, durations such as `30s`, sizes such as `256m`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceFields {
    /// The image.
    pub image: String,
    /// The command line.
    #[serde(default)]
    pub command: String,
    /// Ports, `CONTAINER[:HOST[@ADDRESS]][/udp]`, one a line.
    #[serde(default)]
    pub ports: String,
    /// Volumes, `NAME:/PATH[:ro]`, one a line.
    #[serde(default)]
    pub volumes: String,
    /// The health check's command line; none when empty.
    #[serde(default)]
    pub health_command: String,
    /// How often the health check runs.
    #[serde(default)]
    pub health_interval: String,
    /// How many failures make it unhealthy.
    #[serde(default)]
    pub health_retries: String,
    /// Dependencies, `SERVICE[:CONDITION]`, one a line.
    #[serde(default)]
    pub depends_on: String,
    /// The memory limit; none when empty.
    #[serde(default)]
    pub memory: String,
    /// The CPU limit in CPUs; none when empty.
    #[serde(default)]
    pub cpus: String,
    /// The restart policy.
    #[serde(default)]
    pub restart: String,
}

impl ServiceFields {
    /// The fields showing `service`.
    pub fn of(service: &Service) -> ServiceFields {
        use komander_domain::notation::{
            show_argv, show_bytes, show_dependency, show_port, show_seconds, show_volume,
        };
        let s = &service.settings;
        let lines = |items: Vec<String>| items.join("\n");
        ServiceFields {
            image: service.image.clone(),
            command: if s.command.is_empty() {
                String::new()
            } else {
                show_argv(&s.command)
            },
            ports: lines(service.ports.iter().map(show_port).collect()),
            volumes: lines(service.volumes.iter().map(show_volume).collect()),
            health_command: s
                .health_check
                .as_ref()
                .map(|h| show_argv(&h.command))
                .unwrap_or_default(),
            health_interval: s
                .health_check
                .as_ref()
                .map(|h| show_seconds(h.interval_seconds))
                .unwrap_or_default(),
            health_retries: s
                .health_check
                .as_ref()
                .map(|h| h.retries.to_string())
                .unwrap_or_default(),
            depends_on: lines(s.depends_on.iter().map(show_dependency).collect()),
            memory: s.memory_bytes.map(show_bytes).unwrap_or_default(),
            cpus: s.cpus.map(|c| c.to_string()).unwrap_or_default(),
            restart: s.restart.to_string(),
        }
    }
}

#[cfg(feature = "ssr")]
impl ServiceFields {
    /// Parses every field, refusing the first bad one naming its field (and its line).
    fn parse(
        &self,
    ) -> Result<
        (
            Vec<komander_domain::api::PortSpec>,
            Vec<komander_domain::api::VolumeSpec>,
            ServiceSettings,
        ),
        UiError,
    > {
        fn each<T>(
            field: &str,
            text: &str,
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> Result<Vec<T>, UiError> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .enumerate()
                .map(|(n, line)| {
                    parse(line).map_err(|e| {
                        AppError::invalid(field, format!("line {}: {e}", n + 1)).into()
                    })
                })
                .collect()
        }
        fn one<T>(
            field: &str,
            text: &str,
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> Result<Option<T>, UiError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            parse(text)
                .map(Some)
                .map_err(|e| AppError::invalid(field, e).into())
        }
        let ports = each("ports", &self.ports, notation::parse_port)?;
        let volumes = each("volumes", &self.volumes, notation::parse_volume)?;
        let health_check = match one("health_command", &self.health_command, notation::parse_argv)?
        {
            None => None,
            Some(command) => Some(HealthCheck {
                command,
                interval_seconds: one(
                    "health_interval",
                    &self.health_interval,
                    notation::parse_seconds,
                )?
                .unwrap_or(HealthCheck::DEFAULT_SECONDS),
                timeout_seconds: HealthCheck::DEFAULT_SECONDS,
                retries: one("health_retries", &self.health_retries, |t| {
                    t.parse::<u32>()
                        .map_err(|_| format!("{t:?} is not a number of retries"))
                })?
                .unwrap_or(HealthCheck::DEFAULT_RETRIES),
                start_period_seconds: 0,
            }),
        };
        let settings = ServiceSettings {
            command: one("command", &self.command, notation::parse_argv)?.unwrap_or_default(),
            health_check,
            restart: one("restart", &self.restart, |t| {
                t.parse()
                    .map_err(|e: komander_domain::api::RestartPolicyError| e.to_string())
            })?
            .unwrap_or_default(),
            depends_on: each("depends_on", &self.depends_on, notation::parse_dependency)?,
            memory_bytes: one("memory", &self.memory, notation::parse_bytes)?,
            cpus: one("cpus", &self.cpus, |t| {
                t.parse::<f64>()
                    .ok()
                    .filter(|c| *c > 0.0)
                    .ok_or_else(|| format!("{t:?} is not a number of CPUs such as 0.5"))
            })?,
            ..ServiceSettings::default()
        };
        Ok((ports, volumes, settings))
    }
}

/// The service the page's path or form names.
#[cfg(feature = "ssr")]
fn service_ref(
    project: &str,
    environment: &str,
    deployment: &str,
    service: &str,
) -> Result<ServiceRef, UiError> {
    ServiceRef::parse(project, environment, deployment, service)
        .map_err(|e| AppError::from(e).into())
}

/// What a service's page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    /// The service.
    pub service: Service,
    /// Its variables; secret ones without their value.
    pub variables: Vec<Variable>,
    /// What the viewer may do with its deployment.
    pub actions: Vec<Action>,
}

/// A service's page.
#[server(prefix = "/ui/fn", endpoint = "service", input = GetUrl)]
pub async fn load_service(
    project: String,
    environment: String,
    deployment: String,
    service: String,
) -> Result<ServiceView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = service_ref(&project, &environment, &deployment, &service)?;
    let found = app.get_service(&caller, &reference).await?;
    let all = PageQuery {
        limit: Some(komander_domain::api::PAGE_MAX),
        cursor: None,
    };
    let variables = app.list_variables(&caller, &reference, &all).await?.items;
    let actions = app
        .deployment_actions(&caller, &reference.deployment)
        .await?;
    Ok(ServiceView {
        service: found,
        variables,
        actions,
    })
}

/// Adds a service to a deployment.
#[server(prefix = "/ui/fn", endpoint = "create_service")]
pub async fn create_service(
    project: String,
    environment: String,
    deployment: String,
    name: String,
    fields: ServiceFields,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    let name = parse_field("name", &name)?;
    let (ports, volumes, settings) = fields.parse()?;
    let new = NewService::with_settings(
        name,
        fields.image.trim().to_owned(),
        ports,
        volumes,
        settings,
    );
    app.create_service(&caller, &reference, new).await?;
    Ok(())
}

/// Changes every setting of a service to what the form holds.
#[server(prefix = "/ui/fn", endpoint = "update_service")]
pub async fn update_service(
    project: String,
    environment: String,
    deployment: String,
    service: String,
    fields: ServiceFields,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = service_ref(&project, &environment, &deployment, &service)?;
    let (ports, volumes, settings) = fields.parse()?;
    let patch = ServicePatch {
        image: Some(fields.image.trim().to_owned()),
        ports: Some(ports),
        volumes: Some(volumes),
        command: Some(settings.command),
        health_check: Some(settings.health_check),
        restart: Some(settings.restart),
        depends_on: Some(settings.depends_on),
        memory_bytes: Some(settings.memory_bytes),
        cpus: Some(settings.cpus),
        ..ServicePatch::default()
    };
    app.update_service(&caller, &reference, patch).await?;
    Ok(())
}

/// Deletes a service, once its name is typed to confirm.
#[server(prefix = "/ui/fn", endpoint = "delete_service")]
pub async fn delete_service(
    project: String,
    environment: String,
    deployment: String,
    service: String,
    confirm: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = service_ref(&project, &environment, &deployment, &service)?;
    super::confirm_name("service", &service, &confirm)?;
    app.delete_service(&caller, &reference).await?;
    leptos_axum::redirect(&format!(
        "/projects/{project}/environments/{environment}/deployments/{deployment}"
    ));
    Ok(())
}

/// Sets a variable; a secret value is write-only from then on.
#[server(prefix = "/ui/fn", endpoint = "put_variable")]
pub async fn put_variable(
    project: String,
    environment: String,
    deployment: String,
    service: String,
    name: String,
    value: String,
    #[server(default)] secret: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = service_ref(&project, &environment, &deployment, &service)?;
    let write = VariableWrite {
        value: Some(value),
        secret,
    };
    app.put_variable(&caller, &reference, name.trim(), write)
        .await?;
    Ok(())
}

/// Deletes a variable.
#[server(prefix = "/ui/fn", endpoint = "delete_variable")]
pub async fn delete_variable(
    project: String,
    environment: String,
    deployment: String,
    service: String,
    name: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = service_ref(&project, &environment, &deployment, &service)?;
    app.delete_variable(&caller, &reference, &name).await?;
    Ok(())
}

/// Imports a Compose file (pasted, or read from a chosen file) into services of a deployment.
#[server(prefix = "/ui/fn", endpoint = "import_compose")]
pub async fn import_compose(
    project: String,
    environment: String,
    deployment: String,
    compose: String,
    env_file: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    let import = ComposeImport {
        file_name: "compose.yaml".to_owned(),
        compose,
        env_file: non_empty(env_file),
        variables: Default::default(),
    };
    app.import_compose(&caller, &reference, import).await?;
    Ok(())
}
