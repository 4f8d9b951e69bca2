//! What one call may use, built in the Spin factors' three steps: every capability adds itself
//! to the linker once, at engine start (`capabilities::add_to_linker`); at install,
//! [`Capability::check`] checks what the manifest asks of it and the admin's grant (callable
//! on its own, to validate); per call, [`CallBuilder`] takes the manifest's requests and the
//! install's grants and each capability's [`HostCapability::prepare`] builds the state the
//! call holds. A capability the install was not granted has no state in the call at all, so
//! its host functions answer `denied` without looking further.

use std::{
    collections::BTreeSet,
    fmt,
    str::FromStr,
    sync::{Arc, Mutex},
};

use super::{
    Connection, KvScope, KvStore, SecretValues, docker::DockerScope, kubernetes::KubernetesScope,
    log::LogBudget,
};
use crate::{PluginError, bindings::types::Error as WitError, manifest::Manifest};

/// A host capability a plugin may ask for in its manifest and an admin may grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `komander:host/log`: log lines into Komander's log.
    Log,
    /// `komander:host/config`: the install's admin settings.
    Config,
    /// `komander:host/kv`: a small key-value store per install and project.
    Kv,
    /// `komander:host/connections`: HTTP endpoints the admin configured, credential added by
    /// the host.
    Connections,
    /// `komander:host/progress`: progress reports for the user watching a call.
    Progress,
    /// `komander:docker/engine`: a Docker Engine, scoped to the deployment a call acts for.
    Docker,
    /// `komander:kubernetes/cluster`: a cluster, scoped to the deployment a call acts for.
    Kubernetes,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 7] = [
        Capability::Log,
        Capability::Config,
        Capability::Kv,
        Capability::Connections,
        Capability::Progress,
        Capability::Docker,
        Capability::Kubernetes,
    ];

    /// Its name in manifests, grants and the API.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Config => "config",
            Capability::Kv => "kv",
            Capability::Connections => "connections",
            Capability::Progress => "progress",
            Capability::Docker => "docker",
            Capability::Kubernetes => "kubernetes",
        }
    }

    /// What granting it lets the plugin do, as an admin is asked.
    pub fn allows(self) -> &'static str {
        match self {
            Capability::Log => "write lines into Komander's log",
            Capability::Config => "read the settings an admin gives it",
            Capability::Kv => "keep small data per install and project",
            Capability::Connections => {
                "send HTTP requests to the endpoints an admin configures, with the credentials \
                 the host adds"
            }
            Capability::Progress => "report progress to the user watching a call",
            Capability::Docker => {
                "drive the Docker Engine of a deployment's target, scoped to that deployment"
            }
            Capability::Kubernetes => {
                "drive a Kubernetes cluster, scoped to the deployment a call acts for"
            }
        }
    }

    /// Checks what `manifest` asks of this capability (its value under `[capabilities]`) and,
    /// when `granted`, that the manifest asks for it at all. Runs at install and grant, and
    /// again when a call is built.
    ///
    /// # Errors
    /// [`PluginError::Refused`] naming the capability and the problem.
    pub fn check(self, manifest: &Manifest, granted: bool) -> Result<(), PluginError> {
        let Some(request) = manifest.capabilities.get(self.name()) else {
            return if granted {
                Err(PluginError::refused(format!(
                    "the {self} capability is granted, but the plugin does not ask for it"
                )))
            } else {
                Ok(())
            };
        };
        let checked = match self {
            Capability::Log => super::log::LogCapability::check(request),
            Capability::Config => ConfigCapability::check(request),
            Capability::Kv => super::kv::KvCapability::check(request),
            Capability::Connections => super::connections::ConnectionsCapability::check(request),
            Capability::Progress => ProgressCapability::check(request),
            Capability::Docker => super::docker::DockerCapability::check(request),
            Capability::Kubernetes => super::kubernetes::KubernetesCapability::check(request),
        };
        checked.map_err(|problem| {
            PluginError::refused(format!("its request for the {self} capability: {problem}"))
        })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no capability.
#[derive(Debug, thiserror::Error)]
#[error("unknown capability {0:?}")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| UnknownCapability(name.to_owned()))
    }
}

/// One capability's part in a call: what its manifest request may be, and the state a call
/// holds when the install is granted it.
pub(crate) trait HostCapability {
    /// What the embedder supplies for a call (settings, a kv store, connections, a
    /// deployment's scope).
    type Grant;
    /// What the call holds.
    type State;

    /// Checks the manifest's value for this capability. Most ask with `true`.
    fn check(request: &toml::Value) -> Result<(), String> {
        if request.as_bool() == Some(true) {
            Ok(())
        } else {
            Err(format!("expected `true`, found {request}"))
        }
    }

    /// Builds the call's state from what the embedder supplied.
    fn prepare(grant: Self::Grant) -> Self::State;
}

/// `komander:host/config`: the call holds the install's settings as JSON text.
struct ConfigCapability;

impl HostCapability for ConfigCapability {
    type Grant = Arc<str>;
    type State = Arc<str>;

    fn prepare(settings: Arc<str>) -> Arc<str> {
        settings
    }
}

/// `komander:host/progress`: the call appends to the caller's list of events.
struct ProgressCapability;

impl HostCapability for ProgressCapability {
    type Grant = ProgressSink;
    type State = ProgressSink;

    fn prepare(sink: ProgressSink) -> ProgressSink {
        sink
    }
}

/// One progress report of a call, for the user watching it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressEvent {
    /// `step`: `done` of `total`.
    Step {
        /// The step's name.
        step: String,
        /// How many are done.
        done: u32,
        /// How many in all.
        total: u32,
    },
    /// A message.
    Message(String),
}

/// Where a call's progress reports go; the caller keeps a clone to show them.
pub type ProgressSink = Arc<Mutex<Vec<ProgressEvent>>>;

/// What one call may use: the state of each capability the install was granted, and nothing
/// of the others. Built by [`CallBuilder`].
pub struct CallContext {
    /// `id@version`, for logs.
    pub(crate) plugin: String,
    pub(crate) log: Option<LogBudget>,
    pub(crate) config: Option<Arc<str>>,
    /// `None` inside: granted, but the embedder gave this call no kv store.
    pub(crate) kv: Option<Option<(Arc<dyn KvStore>, KvScope)>>,
    pub(crate) connections: Option<Vec<Arc<Connection>>>,
    /// What `connections.secret-substitution` may write into request bodies (none by default).
    pub(crate) secrets: Arc<SecretValues>,
    pub(crate) progress: Option<ProgressSink>,
    /// `None` inside: granted, but this call acts for no deployment on a Docker environment.
    pub(crate) docker: Option<Option<Arc<DockerScope>>>,
    /// `None` inside: granted, but this call acts for no deployment on a Kubernetes
    /// environment.
    pub(crate) kubernetes: Option<Option<Arc<KubernetesScope>>>,
}

impl CallContext {
    /// Starts building the context of a call of the plugin `manifest` describes, for an
    /// install granted `granted`.
    ///
    /// # Errors
    /// [`PluginError::Refused`] when a grant is one the manifest does not ask for, or the
    /// manifest's request for it is malformed (see [`Capability::check`]).
    pub fn builder(
        manifest: &Manifest,
        granted: impl IntoIterator<Item = Capability>,
    ) -> Result<CallBuilder, PluginError> {
        let granted: BTreeSet<Capability> = granted.into_iter().collect();
        for capability in &granted {
            capability.check(manifest, true)?;
        }
        Ok(CallBuilder {
            plugin: format!("{}@{}", manifest.id, manifest.version),
            granted,
            config: Arc::from("{}"),
            kv: None,
            connections: Vec::new(),
            secrets: Arc::default(),
            progress: ProgressSink::default(),
            docker: None,
            kubernetes: None,
        })
    }

    /// How many log lines were dropped for going over the per-call limit.
    pub fn logs_dropped(&self) -> u32 {
        self.log.as_ref().map_or(0, LogBudget::dropped)
    }

    /// The state of `capability` in this call.
    ///
    /// # Errors
    /// The WIT `denied` error when the install was not granted it.
    pub(crate) fn granted<T>(state: &Option<T>, capability: Capability) -> Result<&T, WitError> {
        state.as_ref().ok_or_else(|| {
            WitError::Denied(format!(
                "the {capability} capability is not granted to this plugin's install"
            ))
        })
    }
}

/// Builds a [`CallContext`]: what the embedder supplies for each capability is kept only when
/// the install holds that grant.
#[derive(Clone)]
pub struct CallBuilder {
    plugin: String,
    granted: BTreeSet<Capability>,
    config: Arc<str>,
    kv: Option<(Arc<dyn KvStore>, KvScope)>,
    connections: Vec<Arc<Connection>>,
    secrets: Arc<SecretValues>,
    progress: ProgressSink,
    docker: Option<Arc<DockerScope>>,
    kubernetes: Option<Arc<KubernetesScope>>,
}

impl CallBuilder {
    /// Names the plugin otherwise than `id@version` in logs.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.plugin = label.into();
        self
    }

    /// The install's admin settings, as JSON text already checked against the plugin's schema
    /// (`{}` when not given).
    pub fn config(mut self, settings: Arc<str>) -> Self {
        self.config = settings;
        self
    }

    /// The key-value store and this call's scope in it.
    pub fn kv(mut self, store: Arc<dyn KvStore>, scope: KvScope) -> Self {
        self.kv = Some((store, scope));
        self
    }

    /// The connections the install may use.
    pub fn connections(mut self, connections: Vec<Arc<Connection>>) -> Self {
        self.connections = connections;
        self
    }

    /// The secret values the call's connection requests may carry (`secret-substitution`),
    /// by reference name: a deployment's, for a remote runtime's apply. None when not given,
    /// and then every substitution is `denied`.
    pub fn secrets(mut self, secrets: Arc<SecretValues>) -> Self {
        self.secrets = secrets;
        self
    }

    /// The Docker Engine and the deployment the call acts for, on a Docker environment.
    pub fn docker(mut self, scope: Arc<DockerScope>) -> Self {
        self.docker = Some(scope);
        self
    }

    /// The cluster and the deployment the call acts for, on a Kubernetes environment.
    pub fn kubernetes(mut self, scope: Arc<KubernetesScope>) -> Self {
        self.kubernetes = Some(scope);
        self
    }

    /// Where the call's progress reports go (a fresh list when not given): keep a clone to
    /// read them after the call.
    pub fn progress(mut self, sink: ProgressSink) -> Self {
        self.progress = sink;
        self
    }

    /// The context, holding the prepared state of each granted capability.
    pub fn build(self) -> CallContext {
        use super::{
            connections::ConnectionsCapability, docker::DockerCapability,
            kubernetes::KubernetesCapability, kv::KvCapability, log::LogCapability,
        };
        let CallBuilder {
            plugin,
            granted,
            config,
            kv,
            connections,
            secrets,
            progress,
            docker,
            kubernetes,
        } = self;
        let granted = |c: Capability| granted.contains(&c);
        CallContext {
            plugin,
            log: granted(Capability::Log).then(|| LogCapability::prepare(())),
            config: granted(Capability::Config).then(|| ConfigCapability::prepare(config)),
            kv: granted(Capability::Kv).then(|| KvCapability::prepare(kv)),
            connections: granted(Capability::Connections)
                .then(|| ConnectionsCapability::prepare(connections)),
            secrets,
            progress: granted(Capability::Progress).then(|| ProgressCapability::prepare(progress)),
            docker: granted(Capability::Docker).then(|| DockerCapability::prepare(docker)),
            kubernetes: granted(Capability::Kubernetes)
                .then(|| KubernetesCapability::prepare(kubernetes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(capabilities: &str) -> Manifest {
        Manifest::parse(&format!(
            "id = \"acme.x\"\nversion = \"1.0.0\"\nkind = \"runtime\"\n[capabilities]\n{capabilities}"
        ))
        .unwrap()
    }

    #[test]
    fn names_round_trip() {
        for capability in Capability::ALL {
            assert_eq!(capability.name().parse::<Capability>().unwrap(), capability);
        }
        assert!("root".parse::<Capability>().is_err());
    }

    #[test]
    fn a_grant_needs_a_request() {
        let asks_log = manifest("log = true");
        assert!(Capability::Log.check(&asks_log, true).is_ok());
        assert!(Capability::Kv.check(&asks_log, false).is_ok());
        let error = Capability::Kv.check(&asks_log, true).unwrap_err();
        assert!(error.to_string().contains("does not ask for it"), "{error}");
        assert!(CallContext::builder(&asks_log, [Capability::Docker]).is_err());
    }

    #[test]
    fn requests_are_checked_per_capability_at_install() {
        let named = manifest("connections = [\"api\", \"hooks\"]");
        assert!(Capability::Connections.check(&named, true).is_ok());
        for (request, needle) in [
            ("kv = \"yes\"", "kv capability"),
            ("connections = [\"Not A Name\"]", "not a connection name"),
            ("docker = false", "expected `true`"),
        ] {
            let text = format!(
                "id = \"a\"\nversion = \"1.0.0\"\nkind = \"runtime\"\n[capabilities]\n{request}"
            );
            let error = Manifest::parse(&text).unwrap_err().to_string();
            assert!(error.contains(needle), "{needle:?} not in {error:?}");
        }
    }

    #[test]
    fn only_granted_capabilities_have_state_in_a_call() {
        let manifest = manifest("log = true\nconfig = true\nprogress = true");
        let context = CallContext::builder(&manifest, [Capability::Config])
            .unwrap()
            .config(Arc::from("{\"a\":1}"))
            .build();
        assert_eq!(context.config.as_deref(), Some("{\"a\":1}"));
        assert!(context.log.is_none() && context.progress.is_none());
        assert!(matches!(
            CallContext::granted(&context.progress, Capability::Progress),
            Err(WitError::Denied(_))
        ));
    }
}
