//! A deployment as its runtime plugin sees it during one operation or one read: the loaded
//! plugin, the spec, and what each call of it gets (settings, kv, connections, and for a
//! Docker runtime the target's engine scoped to the deployment, with its secret values when
//! it applies; for a remote runtime those values go to its connections' `secret-substitution`).

use std::sync::Arc;

use komander_domain::{TargetId, timestamps};
use komander_plugin_host::{
    LoadedPlugin,
    capabilities::{
        CallContext, DeploymentIds, ProgressEvent, ProgressSink, SecretValues, docker::DockerScope,
    },
    runtime::DeploymentSpec,
};
use komander_store::{DeploymentWithServices, StoredValue, TargetRecord};

use crate::{
    App, AppError, Result, runtimes::deployment_spec, scope::DeploymentScope,
    services::variable_aad, targets::TargetConnection,
};

/// The world a runtime plugin drives, from its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum World {
    Docker,
    Kubernetes,
    Remote,
}

/// Whether a session carries the deployment's secret values (for the calls that create
/// containers) or none (for reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Secrets {
    /// Open every secret value; a secret variable without one is refused, naming it.
    Open,
    /// Leave them closed: plans, status and logs never need them.
    Closed,
}

/// The target a Docker runtime's session runs on.
pub(crate) struct SessionTarget {
    /// Its record.
    pub record: TargetRecord,
    /// Its engine, connected.
    pub connection: TargetConnection,
}

/// One operation's or read's view of a deployment through its runtime plugin.
pub(crate) struct RuntimeSession {
    /// The plugin's id.
    pub runtime: String,
    plugin: LoadedPlugin,
    project: String,
    /// The spec every call gets.
    pub spec: DeploymentSpec,
    docker: Option<Arc<DockerScope>>,
    /// A remote runtime's secret values, which its connection requests may carry.
    secrets: Arc<SecretValues>,
    /// Where a Docker runtime's containers run.
    pub target: Option<SessionTarget>,
}

impl RuntimeSession {
    /// The target's id, for the operation's record.
    pub fn target_id(&self) -> Option<TargetId> {
        self.target.as_ref().map(|t| t.record.id)
    }

    /// The context of one call, its progress reports going to `progress`.
    pub async fn context(&self, app: &App, progress: Option<ProgressSink>) -> Result<CallContext> {
        let mut call = app
            .plugin_call(&self.runtime, Some(self.project.clone()))
            .await?;
        if let Some(docker) = &self.docker {
            call = call.docker(docker.clone());
        }
        call = call.secrets(self.secrets.clone());
        if let Some(sink) = progress {
            call = call.progress(sink);
        }
        Ok(call.build())
    }

    /// The loaded plugin.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }
}

/// Turns what a call reported into progress lines, emptying `sink`.
pub(crate) fn drain_progress(sink: &ProgressSink) -> Vec<String> {
    let mut events = sink
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    events
        .drain(..)
        .map(|event| match event {
            ProgressEvent::Step { step, done, total } => format!("{step} ({done}/{total})"),
            ProgressEvent::Message(message) => message,
        })
        .collect()
}

impl App {
    /// The runtime session of the deployment `scope` with `contents`: its runtime plugin
    /// installed, enabled and loaded, and for a Docker runtime its target connected.
    ///
    /// # Errors
    /// Conflict naming the runtime when it is unavailable, or the target when its engine does
    /// not answer; `no_target` when a Docker runtime has no target; invalid input naming every
    /// secret variable without a value when `secrets` is [`Secrets::Open`].
    pub(crate) async fn runtime_session(
        &self,
        scope: &DeploymentScope,
        contents: DeploymentWithServices,
        secrets: Secrets,
    ) -> Result<RuntimeSession> {
        let record = self.environment_runtime(&scope.environment).await?;
        let world = match record.world.as_deref() {
            Some("docker") => World::Docker,
            Some("kubernetes") => World::Kubernetes,
            _ => World::Remote,
        };
        let opened = match secrets {
            Secrets::Open => Some(self.open_secrets(&contents)?),
            Secrets::Closed => None,
        };
        let spec = deployment_spec(&scope.project, &scope.environment, contents)?;
        let plugin = self.loaded_plugin(&record).await?;
        let mut secrets = SecretValues::default();
        let (docker, target) = match world {
            World::Docker => {
                let target = self.session_target(scope).await?;
                let ids = DeploymentIds {
                    project: spec.project_id.clone(),
                    environment: spec.environment_id.clone(),
                    deployment: spec.deployment_id.clone(),
                };
                let mut docker = target.connection.scope(ids, &record.id);
                for (name, value) in opened.into_iter().flatten() {
                    docker = docker.with_secret(name, value);
                }
                (Some(Arc::new(docker)), Some(target))
            }
            World::Kubernetes => {
                return Err(AppError::Conflict {
                    field: Some("runtime".into()),
                    message: format!(
                        "the runtime plugin {:?} drives Kubernetes, and this server has no \
                         Kubernetes cluster to give environments yet: choose a Docker or remote \
                         runtime for environment {:?}",
                        record.id,
                        scope.environment.name.as_str()
                    ),
                });
            }
            World::Remote => {
                for (name, value) in opened.into_iter().flatten() {
                    secrets.insert(name, value);
                }
                (None, None)
            }
        };
        Ok(RuntimeSession {
            runtime: record.id,
            plugin,
            project: scope.project.id.to_string(),
            spec,
            docker,
            secrets: Arc::new(secrets),
            target,
        })
    }

    /// The target of `scope`'s environment, or the instance's default, connected.
    pub(super) async fn session_target(&self, scope: &DeploymentScope) -> Result<SessionTarget> {
        let record = match &scope.environment.target_name {
            Some(name) => self.store.target(name).await?,
            None => self.store.default_target().await?,
        };
        let record = record.ok_or_else(|| {
            AppError::NoTarget(format!(
                "environment {:?} has no target to run deployments on, and this instance has \
                 no default target: an instance admin registers a Docker Engine \
                 (`komander target create NAME --socket /var/run/docker.sock --default`), or \
                 starts the server where the `docker_host` setting's engine answers",
                scope.environment.name.as_str()
            ))
        })?;
        let connection = self.connect_target(&record).await?;
        Ok(SessionTarget { record, connection })
    }

    /// The secret values of `contents` by reference name (`service/VARIABLE`), opened.
    ///
    /// # Errors
    /// Invalid input naming every secret variable without a value.
    fn open_secrets(&self, contents: &DeploymentWithServices) -> Result<Vec<(String, String)>> {
        let mut opened = Vec::new();
        let mut missing = Vec::new();
        for s in &contents.services {
            for v in &s.variables {
                let name = format!("{}/{}", s.service.name, v.name);
                match &v.value {
                    StoredValue::Sealed(sealed) => {
                        let value = self
                            .keyring
                            .open(sealed, &variable_aad(&v.id.to_string()))?;
                        opened.push((name, value.expose().to_owned()));
                    }
                    StoredValue::Empty if v.secret => {
                        missing.push(format!("{}.{}", s.service.name, v.name))
                    }
                    _ => {}
                }
            }
        }
        if !missing.is_empty() {
            return Err(AppError::invalid(
                "variables",
                format!(
                    "secret variables without a value: {}; set them with `komander variable set \
                     --secret` before applying",
                    missing.join(", ")
                ),
            ));
        }
        Ok(opened)
    }
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    timestamps::to_millis(timestamps::now())
}
