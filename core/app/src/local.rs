//! The local executor's runtime: a deployment of a `local` environment, resolved by the
//! server, run on a member's own machine (`komander up`) with the same plugin host, the same
//! runtime plugin and the same [`driver`](crate::runner::driver) as the server's runner.
//!
//! What differs from the server is only where things come from: the spec from the resolve
//! endpoint (the one path by which secret values leave the server), the Docker engine of
//! `DOCKER_HOST` (or the default socket), ports published on loopback only, no bind mounts,
//! and no plugin key-value store or connections (their data and credentials stay on the
//! server: a runtime that needs them runs in a `server` environment).

use std::sync::Arc;

use async_trait::async_trait;
use bollard::Docker;
use komander_domain::api::{
    DeploymentPlan, DeploymentRunStatus, PlannedChange, ResolvedDeployment, ServiceLogPage,
};
use komander_plugin_host::{
    LoadedPlugin, PluginEngine,
    capabilities::{
        CallContext, Capability, Connection, DeploymentIds, KvScope, MemoryKv, ProgressSink,
        docker::{DockerGate, DockerScope},
    },
    manifest::{PluginKind, RuntimeWorld},
    runtime::{DeploymentSpec, EnvValue, EnvVar, SecretRef, ServiceSource},
};

use crate::{
    runner::{
        driver::{Runtime, runtime_message},
        log_page, planned, service_status,
    },
    runtimes::{ServiceBase, port, volume, with_settings},
};

/// Why a local runtime could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A secret variable has no value: its owner sets one first.
    #[error(
        "secret variables without a value: {0}; set them with `komander variable set --secret` \
         before applying"
    )]
    MissingSecrets(String),
    /// The instance granted the plugin a capability this host does not know.
    #[error("the runtime plugin {plugin}: {message}")]
    Plugin {
        /// The plugin's id.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// The runtime plugin refused or failed a call.
    #[error("the runtime plugin {plugin}: {message}")]
    Runtime {
        /// The plugin's id.
        plugin: String,
        /// What it said.
        message: String,
    },
    /// The Docker engine does not answer.
    #[error("the local Docker engine at {host} does not answer: {message}")]
    Docker {
        /// Where it was looked for.
        host: String,
        /// What the client said.
        message: String,
    },
}

/// The largest number of log lines one local read answers.
pub const LOG_LINES_MAX: u32 = 1000;

/// How long one request to the local Docker engine may take, in seconds.
const DOCKER_TIMEOUT_SECS: u64 = 120;

/// A resolved deployment run on this machine through its runtime plugin.
pub struct LocalRuntime {
    engine: Arc<PluginEngine>,
    plugin: LoadedPlugin,
    spec: DeploymentSpec,
    granted: Vec<Capability>,
    settings: Arc<str>,
    /// The local Docker engine, for a Docker runtime.
    docker: Option<LocalDocker>,
    /// The connections a remote runtime's calls hold.
    connections: Vec<Arc<Connection>>,
    /// A key-value store of its own, for an author's run.
    kv: Option<(Arc<MemoryKv>, KvScope)>,
}

/// The local Docker engine a Docker runtime drives.
struct LocalDocker {
    scope: Arc<DockerScope>,
    client: Docker,
    /// How failures name the engine: `the local Docker engine at unix:///…`.
    name: String,
}

/// The deployment's ids, as the Docker capability labels its objects.
fn deployment_ids(spec: &DeploymentSpec) -> DeploymentIds {
    DeploymentIds {
        project: spec.project_id.clone(),
        environment: spec.environment_id.clone(),
        deployment: spec.deployment_id.clone(),
    }
}

/// The local Docker engine at `host`, scoped to `spec`'s deployment for `plugin`, with the
/// secret values `secrets` to substitute.
async fn local_docker(
    host: &str,
    spec: &DeploymentSpec,
    plugin: &LoadedPlugin,
    secrets: Vec<(String, String)>,
) -> Result<LocalDocker, LocalError> {
    let client = connect_docker(host).await?;
    let mut scope = DockerScope::new(
        client.clone(),
        DockerGate::new(DockerGate::DEFAULT_SIZE),
        deployment_ids(spec),
        plugin.manifest.id.to_string(),
    );
    for (name, value) in secrets {
        scope = scope.with_secret(name, value);
    }
    Ok(LocalDocker {
        scope: Arc::new(scope),
        client,
        name: format!("the local Docker engine at {host}"),
    })
}

impl LocalRuntime {
    /// The runtime of `resolved` through `plugin` (loaded in `engine`), on the Docker engine
    /// at `docker_host` (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`), with every
    /// capabilities and settings the instance gave the plugin. `require_secrets` refuses a secret variable without
    /// a value (for the calls that create containers).
    ///
    /// # Errors
    /// [`LocalError`] naming the secret variables without a value, a capability the host does
    /// not know, or the engine that does not answer.
    pub async fn connect(
        engine: Arc<PluginEngine>,
        plugin: LoadedPlugin,
        resolved: &ResolvedDeployment,
        docker_host: &str,
        require_secrets: bool,
    ) -> Result<LocalRuntime, LocalError> {
        let missing: Vec<String> = resolved
            .services
            .iter()
            .flat_map(|s| {
                s.missing_secrets
                    .iter()
                    .map(move |v| format!("{}.{v}", s.name))
            })
            .collect();
        if require_secrets && !missing.is_empty() {
            return Err(LocalError::MissingSecrets(missing.join(", ")));
        }
        let granted = resolved
            .runtime_granted
            .iter()
            .map(|name| name.parse::<Capability>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LocalError::Plugin {
                plugin: plugin.manifest.id.to_string(),
                message: e.to_string(),
            })?;
        let (spec, secrets) = local_spec(resolved);
        let docker = local_docker(docker_host, &spec, &plugin, secrets).await?;
        Ok(LocalRuntime {
            engine,
            plugin,
            spec,
            granted,
            settings: resolved.runtime_settings.as_str().into(),
            docker: Some(docker),
            connections: Vec::new(),
            kv: None,
        })
    }

    /// The runtime of `resolved` as its author runs it (`komander plugin run`): every
    /// capability its manifest asks for granted, the settings `resolved` carries, the Docker
    /// engine at `docker_host` when it drives Docker, the `connections` given, and a
    /// key-value store of its own in memory, gone when the run ends.
    ///
    /// # Errors
    /// [`LocalError::Plugin`] for a Kubernetes runtime (no cluster here); the Docker engine
    /// that does not answer.
    pub async fn for_author(
        engine: Arc<PluginEngine>,
        plugin: LoadedPlugin,
        resolved: &ResolvedDeployment,
        docker_host: &str,
        connections: Vec<Arc<Connection>>,
    ) -> Result<LocalRuntime, LocalError> {
        let granted: Vec<Capability> = plugin.manifest.requested_capabilities().collect();
        let (spec, secrets) = local_spec(resolved);
        let docker = match plugin.kind {
            PluginKind::Runtime(RuntimeWorld::Docker) => {
                Some(local_docker(docker_host, &spec, &plugin, secrets).await?)
            }
            PluginKind::Runtime(RuntimeWorld::Remote) => None,
            _ => {
                return Err(LocalError::Plugin {
                    plugin: plugin.manifest.id.to_string(),
                    message: "it drives Kubernetes, and a local run has no cluster: install it \
                              and run it in a server environment"
                        .to_owned(),
                });
            }
        };
        let kv = KvScope {
            install: plugin.manifest.id.to_string(),
            project: Some(spec.project_id.clone()),
        };
        Ok(LocalRuntime {
            engine,
            plugin,
            spec,
            granted,
            settings: resolved.runtime_settings.as_str().into(),
            docker,
            connections,
            kv: Some((Arc::new(MemoryKv::default()), kv)),
        })
    }
}

impl LocalRuntime {
    /// A refusal or failure of this runtime's plugin.
    fn failed(&self, e: impl std::fmt::Display) -> LocalError {
        LocalError::Runtime {
            plugin: self.plugin.manifest.id.to_string(),
            message: e.to_string(),
        }
    }

    /// What applying now would change, and the runtime's warnings: as `komander plan`
    /// shows it for a server environment.
    ///
    /// # Errors
    /// [`LocalError::Runtime`] when the runtime refuses the spec or fails.
    pub async fn plan(&self) -> Result<DeploymentPlan, LocalError> {
        let context = self.context(None).await.map_err(|e| self.failed(e))?;
        let warnings = self
            .engine
            .validate(&self.plugin, context, self.spec.clone())
            .await
            .map_err(|e| self.failed(runtime_message(&e)))?;
        Ok(DeploymentPlan {
            warnings,
            changes: self.changes().await?,
        })
    }

    /// Each service as it runs on this machine, with the drift from the spec.
    ///
    /// # Errors
    /// [`LocalError::Runtime`] when the runtime fails or answers a service that is not one.
    pub async fn status(&self) -> Result<DeploymentRunStatus, LocalError> {
        let context = self.context(None).await.map_err(|e| self.failed(e))?;
        let status = self
            .engine
            .status(&self.plugin, context, self.spec.clone())
            .await
            .map_err(|e| self.failed(runtime_message(&e)))?;
        let services = status
            .services
            .into_iter()
            .map(|s| {
                service_status(s).map_err(|bad| {
                    self.failed(format!(
                        "answered a status for {bad:?}, which is no service"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(DeploymentRunStatus {
            services,
            drift: self.changes().await?,
        })
    }

    /// A page of `service`'s log on this machine: its last `limit` lines (1 to
    /// [`LOG_LINES_MAX`]), or those after `cursor`.
    ///
    /// # Errors
    /// [`LocalError::Runtime`] when the limit is out of range or the runtime fails (nothing
    /// runs for the service, a cursor it did not give).
    pub async fn logs(
        &self,
        service: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ServiceLogPage, LocalError> {
        if !(1..=LOG_LINES_MAX).contains(&limit) {
            return Err(self.failed(format!(
                "a log read asks for 1 to {LOG_LINES_MAX} lines, not {limit}"
            )));
        }
        let context = self.context(None).await.map_err(|e| self.failed(e))?;
        let page = self
            .engine
            .logs(
                &self.plugin,
                context,
                self.spec.clone(),
                service.to_owned(),
                cursor,
                limit,
            )
            .await
            .map_err(|e| self.failed(runtime_message(&e)))?;
        Ok(log_page(page))
    }

    /// The runtime's plan, as the API shows it.
    async fn changes(&self) -> Result<Vec<PlannedChange>, LocalError> {
        let context = self.context(None).await.map_err(|e| self.failed(e))?;
        let plan = self
            .engine
            .plan(&self.plugin, context, self.spec.clone())
            .await
            .map_err(|e| self.failed(runtime_message(&e)))?;
        Ok(plan.changes.iter().map(planned).collect())
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    fn spec(&self) -> &DeploymentSpec {
        &self.spec
    }

    async fn context(&self, progress: Option<ProgressSink>) -> Result<CallContext, String> {
        let mut call = CallContext::builder(&self.plugin.manifest, self.granted.iter().cloned())
            .map_err(|e| e.to_string())?
            .config(self.settings.clone())
            .connections(self.connections.clone());
        if let Some(docker) = &self.docker {
            call = call.docker(docker.scope.clone());
        }
        if let Some((store, scope)) = &self.kv {
            call = call.kv(store.clone(), scope.clone());
        }
        if let Some(sink) = progress {
            call = call.progress(sink);
        }
        Ok(call.build())
    }

    fn docker(&self) -> Option<(&str, &Docker)> {
        self.docker.as_ref().map(|d| (d.name.as_str(), &d.client))
    }
}

/// A client of the Docker engine at `host`, its API version negotiated.
///
/// # Errors
/// [`LocalError::Docker`] when the address is not one bollard speaks or the engine does not
/// answer.
pub async fn connect_docker(host: &str) -> Result<Docker, LocalError> {
    let refused = |message: String| LocalError::Docker {
        host: host.to_owned(),
        message,
    };
    let client = if host.starts_with("unix://") || host.starts_with('/') {
        Docker::connect_with_unix(host, DOCKER_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, DOCKER_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(refused(
            "only unix:// sockets and tcp:// addresses are supported".to_owned(),
        ));
    };
    let client = client.map_err(|e| refused(e.to_string()))?;
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.negotiate_version(),
    )
    .await
    .map_err(|_| refused("no answer within 10 s".to_owned()))?
    .map_err(|e| refused(e.to_string()))
}

/// The spec a runtime plugin receives for `resolved`, its secret variables as references, and
/// the secret values by reference name (`service/VARIABLE`) for the Docker capability to
/// substitute where it creates the containers.
pub fn local_spec(resolved: &ResolvedDeployment) -> (DeploymentSpec, Vec<(String, String)>) {
    let mut secrets = Vec::new();
    let services = resolved
        .services
        .iter()
        .map(|s| {
            let env = s
                .environment
                .iter()
                .filter(|(name, _)| !s.secret.iter().any(|v| v.as_str() == name.as_str()))
                .map(|(name, value)| EnvVar {
                    name: name.clone(),
                    value: EnvValue::Plain(value.clone()),
                })
                .chain(s.secret.iter().map(|name| {
                    let reference = format!("{}/{name}", s.name);
                    if let Some(value) = s.environment.get(name.as_str()) {
                        secrets.push((reference.clone(), value.clone()));
                    }
                    EnvVar {
                        name: name.to_string(),
                        value: EnvValue::Secret(SecretRef { name: reference }),
                    }
                }))
                .collect();
            with_settings(
                ServiceBase {
                    id: s.id.to_string(),
                    name: s.name.to_string(),
                    source: ServiceSource::Image(s.image.clone()),
                    ports: s.ports.iter().cloned().map(port).collect(),
                    volumes: s.volumes.iter().map(volume).collect(),
                    env,
                },
                s.settings.clone(),
            )
        })
        .collect();
    let spec = DeploymentSpec {
        project_id: resolved.project_id.to_string(),
        project: resolved.project.to_string(),
        environment_id: resolved.environment_id.to_string(),
        environment: resolved.environment.to_string(),
        deployment_id: resolved.deployment_id.to_string(),
        deployment: resolved.deployment.to_string(),
        services,
        settings: resolved
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    (spec, secrets)
}
