//! What Komander hands a runtime plugin: a stored deployment turned into the runtime's
//! [`DeploymentSpec`] (without a single secret value), and the export of a deployment as a
//! bundle of files (`compose.yaml`, `.env.example`…) through the runtime's `export-bundle`,
//! with the runtime's answer checked again on the host side.

use komander_domain::{
    Action, DeploymentRef,
    api::{
        self, DependencyCondition as Condition, PortSpec, Protocol as PortProtocol,
        ServiceSettings, VolumeSpec,
    },
};
use komander_plugin_host::runtime::{
    Bundle, Dependency, DependencyCondition, DeploymentSpec, EnvValue, EnvVar, GuestError,
    HealthCheck, Protocol, PullPolicy, RestartPolicy, RuntimeCallError, SecretRef, ServicePort,
    ServiceSource, ServiceSpec, ServiceVolume,
};
use komander_store::{
    DeploymentWithServices, EnvironmentRecord, ProjectRecord, ServiceWithVariables, StoredValue,
};
use tracing::{info, instrument};

use crate::{
    App, AppError, Caller, Result, about_deployment,
    services::{service_ports, service_settings, service_volumes},
};

/// The most files a bundle may hold (the WIT's limit, checked again here).
pub const BUNDLE_FILES: usize = 100;

/// The most bytes a bundle's files may hold in all (the WIT's limit, checked again here):
/// a runtime that answers more is refused rather than streamed to the caller.
pub const BUNDLE_BYTES: usize = 4 << 20;

/// A deployment exported by its runtime: the files to run it without Komander.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedDeployment {
    /// The deployment's slug, which names the archive (`<deployment>.tar`).
    pub deployment: String,
    /// The files, as the runtime answered them and the host checked them
    /// ([`check_bundle`]).
    pub bundle: Bundle,
}

/// The runtime's view of a deployment read in one transaction (`Store::deployment_with_services`)
/// with its project and environment: ids and slugs from the records, the environment's runtime
/// settings, and for each service its image, ports (with their host address), volumes,
/// variables and settings ([`ServiceSettings`]: command, entrypoint, working directory, user,
/// health check in milliseconds, restart policy, dependencies, memory limit, CPU limit in
/// billionths of a CPU, replicas, pull policy).
///
/// No secret value is in it: a secret variable becomes a [`SecretRef`] named
/// `service/VARIABLE`, whether a value is stored or not; the runner that applies a deployment
/// substitutes the values itself. A plain variable carries its value; one without a value is
/// left out, as when the deployment is resolved for a local executor.
///
/// # Errors
/// Internal when a stored service's ports, volumes or settings no longer parse.
pub fn deployment_spec(
    project: &ProjectRecord,
    environment: &EnvironmentRecord,
    contents: DeploymentWithServices,
) -> Result<DeploymentSpec> {
    let deployment = contents.deployment;
    let services = contents
        .services
        .into_iter()
        .map(service_spec)
        .collect::<Result<Vec<_>>>()?;
    Ok(DeploymentSpec {
        project_id: project.id.to_string(),
        project: project.name.to_string(),
        environment_id: environment.id.to_string(),
        environment: environment.name.to_string(),
        deployment_id: deployment.id.to_string(),
        deployment: deployment.name.to_string(),
        services,
        settings: environment
            .settings
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
    })
}

/// One service of [`deployment_spec`].
fn service_spec(
    ServiceWithVariables { service, variables }: ServiceWithVariables,
) -> Result<ServiceSpec> {
    let ports = service_ports(&service)?.into_iter().map(port).collect();
    let volumes = service_volumes(&service)?.iter().map(volume).collect();
    let env = variables
        .into_iter()
        .filter_map(|v| {
            let value = match v.value {
                _ if v.secret => EnvValue::Secret(SecretRef {
                    name: format!("{}/{}", service.name, v.name),
                }),
                StoredValue::Plain(value) => EnvValue::Plain(value),
                // A sealed value belongs to a secret variable; never hand it out.
                StoredValue::Sealed(_) => EnvValue::Secret(SecretRef {
                    name: format!("{}/{}", service.name, v.name),
                }),
                StoredValue::Empty => return None,
            };
            Some(EnvVar {
                name: v.name.to_string(),
                value,
            })
        })
        .collect();
    Ok(with_settings(
        ServiceBase {
            id: service.id.to_string(),
            name: service.name.to_string(),
            source: ServiceSource::Image(service.image.clone()),
            ports,
            volumes,
            env,
        },
        service_settings(&service)?,
    ))
}

/// What a [`ServiceSpec`] holds beyond a service's settings.
pub(crate) struct ServiceBase {
    pub id: String,
    pub name: String,
    pub source: ServiceSource,
    pub ports: Vec<ServicePort>,
    pub volumes: Vec<ServiceVolume>,
    pub env: Vec<EnvVar>,
}

/// A stored port as the runtime sees it: the host address only when it is not 127.0.0.1 (the
/// runtime's default).
pub(crate) fn port(p: PortSpec) -> ServicePort {
    ServicePort {
        container_port: p.container,
        protocol: match p.protocol {
            PortProtocol::Tcp => Protocol::Tcp,
            PortProtocol::Udp => Protocol::Udp,
        },
        host_port: p.host,
        host_address: (p.host_address != PortSpec::LOOPBACK).then(|| p.host_address.to_string()),
    }
}

/// A stored named volume as the runtime sees it.
pub(crate) fn volume(v: &VolumeSpec) -> ServiceVolume {
    ServiceVolume {
        name: v.source.to_string(),
        target: v.target.clone(),
        read_only: v.read_only,
    }
}

/// Milliseconds in `seconds`.
fn millis(seconds: u32) -> u64 {
    u64::from(seconds) * 1000
}

/// A service's spec from `base` and its stored settings: an empty command or entrypoint keeps
/// the image's, durations become milliseconds and CPUs billionths of a CPU (rounded to the
/// nearest).
pub(crate) fn with_settings(base: ServiceBase, settings: ServiceSettings) -> ServiceSpec {
    let ServiceSettings {
        command,
        entrypoint,
        working_dir,
        user,
        health_check,
        restart,
        depends_on,
        memory_bytes,
        cpus,
        replicas,
        pull,
    } = settings;
    let ServiceBase {
        id,
        name,
        source,
        ports,
        volumes,
        env,
    } = base;
    ServiceSpec {
        id,
        name,
        source,
        ports,
        volumes,
        env,
        command: (!command.is_empty()).then_some(command),
        entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
        working_dir,
        user,
        health_check: health_check.map(|h| HealthCheck {
            command: h.command,
            interval_ms: millis(h.interval_seconds),
            timeout_ms: millis(h.timeout_seconds),
            retries: h.retries,
            start_period_ms: millis(h.start_period_seconds),
        }),
        restart: match restart {
            api::RestartPolicy::No => RestartPolicy::No,
            api::RestartPolicy::Always => RestartPolicy::Always,
            api::RestartPolicy::OnFailure { max_retries } => RestartPolicy::OnFailure(max_retries),
            api::RestartPolicy::UnlessStopped => RestartPolicy::UnlessStopped,
        },
        depends_on: depends_on
            .into_iter()
            .map(|d| Dependency {
                service: d.service.to_string(),
                condition: match d.condition {
                    Condition::Started => DependencyCondition::Started,
                    Condition::Healthy => DependencyCondition::Healthy,
                    Condition::CompletedSuccessfully => DependencyCondition::CompletedSuccessfully,
                },
            })
            .collect(),
        memory_bytes,
        // The domain keeps CPUs positive and bounded, so the product fits a u64.
        nano_cpus: cpus.map(|c| (c * 1e9).round() as u64),
        replicas,
        pull: match pull {
            api::PullPolicy::Missing => PullPolicy::IfMissing,
            api::PullPolicy::Always => PullPolicy::Always,
        },
    }
}

/// Why a runtime's bundle is refused on the host side.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// More than [`BUNDLE_FILES`] files.
    #[error("the bundle holds {0} files, more than {BUNDLE_FILES}")]
    TooManyFiles(usize),
    /// More than [`BUNDLE_BYTES`] bytes in all.
    #[error("the bundle's files hold more than {BUNDLE_BYTES} bytes")]
    TooLarge,
    /// A path that is not relative, `/`-separated and free of `..`, `.` and empty segments.
    #[error(
        "the bundle file path {0:?} is not a plain relative path (no leading `/`, `\\`, `..`, `.`, empty segment or NUL)"
    )]
    BadPath(String),
    /// Two files with one path.
    #[error("the bundle holds the path {0:?} twice")]
    Duplicate(String),
}

/// Checks a bundle a runtime answered before any of it reaches a caller: at most
/// [`BUNDLE_FILES`] files of [`BUNDLE_BYTES`] in all, each path relative with `/` separators,
/// and no segment empty, `.` or `..`, none with a `\`, `:` or NUL (so that unpacking it
/// anywhere stays under the chosen folder), no path twice.
///
/// # Errors
/// [`BundleError`] naming the first problem found.
pub fn check_bundle(bundle: &Bundle) -> std::result::Result<(), BundleError> {
    if bundle.files.len() > BUNDLE_FILES {
        return Err(BundleError::TooManyFiles(bundle.files.len()));
    }
    let total: usize = bundle.files.iter().map(|f| f.content.len()).sum();
    if total > BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    let mut seen = std::collections::BTreeSet::new();
    for file in &bundle.files {
        let path = file.path.as_str();
        let plain = !path.is_empty()
            && !path
                .chars()
                .any(|c| c == '\\' || c == ':' || c.is_control())
            && path
                .split('/')
                .all(|segment| !matches!(segment, "" | "." | ".."));
        if !plain {
            return Err(BundleError::BadPath(file.path.clone()));
        }
        if !seen.insert(path) {
            return Err(BundleError::Duplicate(file.path.clone()));
        }
    }
    Ok(())
}

/// Maps a failed runtime call: what the runtime refuses about the deployment is the caller's
/// to fix; a runtime that misbehaves or fails is a fault, logged with the plugin's name.
pub(crate) fn runtime_error(runtime: &str, e: RuntimeCallError) -> AppError {
    match e {
        RuntimeCallError::Guest {
            error: GuestError::InvalidInput(message),
            ..
        } => AppError::invalid(
            "deployment",
            format!("the runtime plugin {runtime:?} refuses the deployment: {message}"),
        ),
        RuntimeCallError::Guest {
            error: GuestError::Denied(message),
            ..
        } => AppError::Conflict {
            field: Some("runtime".into()),
            message: format!("the runtime plugin {runtime:?} was denied: {message}"),
        },
        RuntimeCallError::Guest {
            error: GuestError::Conflict(message),
            ..
        } => AppError::Conflict {
            field: Some("runtime".into()),
            message: format!("the runtime plugin {runtime:?} answered: {message}"),
        },
        other => AppError::internal(format!("the runtime plugin {runtime:?} failed"), other),
    }
}

impl App {
    /// `GET .../deployments/{deployment}/export`: the deployment as files to run without
    /// Komander, written by the environment's runtime plugin (`export-bundle`). Anyone who
    /// sees the deployment may export it ([`Action::ViewDeployment`]): no secret value is ever
    /// in it ([`deployment_spec`]). Audited as `deployment.export`.
    ///
    /// # Errors
    /// Not found, including someone else's private deployment; conflict when the
    /// environment's runtime is not installed and enabled; invalid input naming the runtime's
    /// message when it refuses the deployment; internal when the runtime fails or answers a
    /// bundle [`check_bundle`] refuses.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment))]
    pub async fn export_deployment(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
    ) -> Result<ExportedDeployment> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let runtime = self.environment_runtime(&scope.environment).await?;
        let contents = self
            .store
            .deployment_with_services(scope.deployment.id)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("deployment {:?}", deployment.name.as_str()))
            })?;
        let spec = deployment_spec(&scope.project, &scope.environment, contents)?;
        let plugins = self.plugins()?;
        let plugin = self.loaded_plugin(&runtime).await?;
        let context = self
            .plugin_call(&runtime.id, Some(scope.project.id.to_string()))
            .await?
            .build();
        let bundle = plugins
            .engine()
            .export_bundle(&plugin, context, spec)
            .await
            .map_err(|e| runtime_error(&runtime.id, e))?;
        check_bundle(&bundle).map_err(|e| {
            AppError::internal(
                format!("the runtime plugin {:?} answered a bad bundle", runtime.id),
                e,
            )
        })?;
        self.store
            .record_audit(&about_deployment(
                self.audit(
                    caller,
                    Some(scope.project.id),
                    "deployment.export",
                    scope.target(),
                    &[],
                ),
                &scope.deployment,
            ))
            .await?;
        info!(files = bundle.files.len(), "deployment exported");
        Ok(ExportedDeployment {
            deployment: scope.deployment.name.to_string(),
            bundle,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use komander_domain::api::{Dependency as StoredDependency, HealthCheck as StoredHealthCheck};
    use komander_plugin_host::runtime::BundleFile;

    use super::*;

    fn base() -> ServiceBase {
        ServiceBase {
            id: "s".into(),
            name: "api".into(),
            source: ServiceSource::Image("api:1".into()),
            ports: vec![],
            volumes: vec![],
            env: vec![],
        }
    }

    #[test]
    fn every_stored_setting_reaches_the_runtime_spec() {
        let settings = ServiceSettings {
            command: vec!["serve".into()],
            entrypoint: vec!["/bin/api".into(), "--quiet".into()],
            working_dir: Some("/srv".into()),
            user: Some("1000:1000".into()),
            health_check: Some(StoredHealthCheck {
                command: vec!["/bin/check".into()],
                interval_seconds: 5,
                timeout_seconds: 2,
                retries: 4,
                start_period_seconds: 10,
            }),
            restart: api::RestartPolicy::OnFailure {
                max_retries: Some(3),
            },
            depends_on: vec![
                StoredDependency {
                    service: "db".parse().unwrap(),
                    condition: Condition::Healthy,
                },
                StoredDependency {
                    service: "migrate".parse().unwrap(),
                    condition: Condition::CompletedSuccessfully,
                },
            ],
            memory_bytes: Some(256 << 20),
            cpus: Some(0.5),
            replicas: 3,
            pull: api::PullPolicy::Always,
        };
        let spec = with_settings(base(), settings);
        assert_eq!(spec.command, Some(vec!["serve".to_owned()]));
        assert_eq!(
            spec.entrypoint,
            Some(vec!["/bin/api".to_owned(), "--quiet".to_owned()])
        );
        assert_eq!(spec.working_dir.as_deref(), Some("/srv"));
        assert_eq!(spec.user.as_deref(), Some("1000:1000"));
        assert_eq!(
            spec.health_check,
            Some(HealthCheck {
                command: vec!["/bin/check".into()],
                interval_ms: 5_000,
                timeout_ms: 2_000,
                retries: 4,
                start_period_ms: 10_000,
            })
        );
        assert_eq!(spec.restart, RestartPolicy::OnFailure(Some(3)));
        assert_eq!(
            spec.depends_on,
            [
                Dependency {
                    service: "db".into(),
                    condition: DependencyCondition::Healthy,
                },
                Dependency {
                    service: "migrate".into(),
                    condition: DependencyCondition::CompletedSuccessfully,
                },
            ]
        );
        assert_eq!(spec.memory_bytes, Some(256 << 20));
        assert_eq!(spec.nano_cpus, Some(500_000_000));
        assert_eq!(spec.replicas, 3);
        assert_eq!(spec.pull, PullPolicy::Always);
        assert_eq!((spec.id.as_str(), spec.name.as_str()), ("s", "api"));
    }

    #[test]
    fn default_settings_keep_the_image_and_run_one_replica() {
        let spec = with_settings(base(), ServiceSettings::default());
        assert_eq!(
            (spec.command, spec.entrypoint, spec.working_dir, spec.user),
            (None, None, None, None)
        );
        assert_eq!(spec.health_check, None);
        assert_eq!(spec.restart, RestartPolicy::No);
        assert!(spec.depends_on.is_empty());
        assert_eq!((spec.memory_bytes, spec.nano_cpus), (None, None));
        assert_eq!(spec.replicas, 1);
        assert_eq!(spec.pull, PullPolicy::IfMissing);
        let unlimited = with_settings(
            base(),
            ServiceSettings {
                restart: api::RestartPolicy::OnFailure { max_retries: None },
                cpus: Some(1.25),
                ..ServiceSettings::default()
            },
        );
        assert_eq!(unlimited.restart, RestartPolicy::OnFailure(None));
        assert_eq!(unlimited.nano_cpus, Some(1_250_000_000));
    }

    #[test]
    fn a_port_names_its_host_address_unless_it_is_loopback() {
        let stored = |address: &str| PortSpec {
            container: 80,
            host: Some(8080),
            protocol: PortProtocol::Udp,
            host_address: address.parse::<IpAddr>().unwrap(),
        };
        let loopback = port(stored("127.0.0.1"));
        assert_eq!(loopback.host_address, None);
        assert_eq!(loopback.host_port, Some(8080));
        assert_eq!(loopback.protocol, Protocol::Udp);
        assert_eq!(
            port(stored("0.0.0.0")).host_address.as_deref(),
            Some("0.0.0.0")
        );
        assert_eq!(port(stored("::1")).host_address.as_deref(), Some("::1"));
    }

    fn bundle(paths: &[&str]) -> Bundle {
        Bundle {
            files: paths
                .iter()
                .map(|p| BundleFile {
                    path: (*p).to_owned(),
                    content: "x".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn plain_relative_paths_pass() {
        assert_eq!(
            check_bundle(&bundle(&["compose.yaml", ".env.example", "k8s/api.yaml"])),
            Ok(())
        );
    }

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a//b",
            "a/",
            "./a",
            "",
            "a\\..\\b",
            "C:/x",
            "a\0b",
        ] {
            assert_eq!(
                check_bundle(&bundle(&["compose.yaml", bad])),
                Err(BundleError::BadPath(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn too_many_or_too_large_or_twice_is_refused() {
        let many: Vec<String> = (0..=BUNDLE_FILES).map(|i| format!("f{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            check_bundle(&bundle(&many)),
            Err(BundleError::TooManyFiles(BUNDLE_FILES + 1))
        );
        let mut large = bundle(&["big"]);
        large.files[0].content = "x".repeat(BUNDLE_BYTES + 1);
        assert_eq!(check_bundle(&large), Err(BundleError::TooLarge));
        assert_eq!(
            check_bundle(&bundle(&["a", "a"])),
            Err(BundleError::Duplicate("a".into()))
        );
    }
}
