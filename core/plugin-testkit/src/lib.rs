//! Runs a Komander runtime plugin in the real plugin host from the plugin's own tests: the
//! same wasmtime engine, sandbox limits, WIT conversions and capabilities as the server, with
//! every capability the manifest asks for granted, without building the server.
//!
//! - [`TestPlugin::build`] builds the plugin crate for `wasm32-wasip2` (release) with a cargo of
//!   its own, then loads the component as an install does; [`TestPlugin::load`] takes a built
//!   `.wasm`.
//! - [`TestPlugin::runner`] gives a [`Runner`]: the install's settings, a key-value store in
//!   memory, the connections a remote runtime asks for (usually to a [`FakeBackend`] on
//!   127.0.0.1), the secret values of the deployment, the Docker engine of a Docker runtime
//!   ([`Runner::docker`]), the cluster of a Kubernetes runtime ([`Runner::kubernetes`]).
//! - A [`Runner`] calls each function of the runtime contract; [`Runner::apply`],
//!   [`Runner::stop`], [`Runner::start`] and [`Runner::destroy`] run the steps until done, as the
//!   server's driver does, and answer the progress they reported.
//! - [`deployment`] makes a [`DeploymentSpec`] with ids of its own, so that tests sharing one
//!   engine never act on each other's objects.
//!
//! ```no_run
//! use komander_plugin_testkit::{
//!     FakeBackend, Response, ServiceSource, ServiceSpec, TestPlugin, deployment,
//! };
//!
//! # async fn example() -> Result<(), komander_plugin_testkit::Error> {
//! // The crate these tests belong to, built and loaded.
//! let plugin = TestPlugin::build(env!("CARGO_MANIFEST_DIR")).await?;
//! // A backend on 127.0.0.1 that answers 200 to everything and records what it was sent.
//! let backend = FakeBackend::start(|_request| Response::status(200)).await?;
//! let runner = plugin
//!     .runner()
//!     .settings(serde_json::json!({"region": "eu"}))
//!     .connection("deployer", backend.url(), Some("Bearer token"))?;
//! let web = ServiceSpec::new("s-1", "web", ServiceSource::Image("nginx:1".into()));
//! let spec = deployment("app", vec![web]);
//! let applied = runner.apply(&spec).await?;
//! assert!(applied.steps >= 1);
//! assert_eq!(backend.requests()[0].header("authorization"), Some("Bearer token"));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod backend;
mod build;

use std::{
    collections::BTreeSet,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use komander_plugin_host::{
    capabilities::{
        CallContext, Connection, DeploymentIds, KvScope, MemoryKv, ProgressEvent, ProgressSink,
        SecretValues,
        docker::{self as docker_capability, DockerGate, DockerScope},
        kubernetes::{self as kubernetes_capability, KubernetesScope},
    },
    manifest::{Manifest, PluginKind},
};

pub use backend::{FakeBackend, Request, Response};
/// The plugin host itself, for what this kit does not wrap (its `runtime` types, the
/// capabilities' scopes and grants).
pub use komander_plugin_host as host;
pub use komander_plugin_host::{
    LoadedPlugin, PluginEngine, PluginError,
    capabilities::{Capability, ConnectionGrant, kubernetes::KubernetesGrant},
    runtime::{
        Bundle, Change, ChangeAction, DeploymentPlan, DeploymentSpec, DeploymentStatus, EnvValue,
        EnvVar, GuestError, LogPage, RuntimeCallError, SecretRef, ServiceHealth, ServicePort,
        ServiceSource, ServiceSpec, ServiceState, ServiceStatus, StepResult,
    },
};

/// The most steps one [`Runner::apply`] (or stop, start, destroy) runs before it gives up: a
/// runtime that never answers `done` fails the test instead of hanging it.
pub const MAX_STEPS: u32 = 100;

/// Why a test could not build, load or call its plugin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The crate's `Cargo.toml` could not be read or names no package.
    #[error("the plugin crate {path}: {message}")]
    Crate {
        /// The manifest.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The crate did not build (cargo printed why) or its target is not installed.
    #[error(transparent)]
    Build(#[from] komander_guest_build::Error),
    /// The component could not be loaded, a grant was refused, or an engine did not answer.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The runtime refused or failed a call.
    #[error(transparent)]
    Call(#[from] RuntimeCallError),
    /// A connection given to the runner is malformed.
    #[error("the connection {name}: {message}")]
    Connection {
        /// The connection's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A multi-step operation did not answer `done` within [`MAX_STEPS`] steps.
    #[error("{operation} was not done after {MAX_STEPS} steps")]
    NotDone {
        /// `apply`, `stop`, `start` or `destroy`.
        operation: &'static str,
    },
    /// The fake backend could not listen on 127.0.0.1.
    #[error("the fake backend cannot listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
}

/// A runtime plugin loaded in the plugin host, as an install holds it.
pub struct TestPlugin {
    engine: PluginEngine,
    plugin: LoadedPlugin,
}

impl TestPlugin {
    /// Builds the plugin crate in the folder `crate_dir` (usually
    /// `env!("CARGO_MANIFEST_DIR")`) with `cargo build --release --locked --target
    /// wasm32-wasip2`, into `$CARGO_TARGET_DIR/plugins` when that variable is set and
    /// `<crate_dir>/target/komander-testkit` otherwise, then loads its component.
    ///
    /// # Errors
    /// [`Error::Crate`] when `Cargo.toml` names no package; [`Error::Build`] when the target is
    /// not installed or the build fails; [`Error::Plugin`] when loading refuses the component.
    pub async fn build(crate_dir: impl AsRef<Path>) -> Result<TestPlugin, Error> {
        let component = build::component(crate_dir.as_ref())?;
        TestPlugin::load(component).await
    }

    /// Loads the component in the file `wasm`, checking it as an install does (manifest,
    /// kind, WIT version, imports).
    ///
    /// # Errors
    /// [`Error::Plugin`] when the file cannot be read or loading refuses the component.
    pub async fn load(wasm: impl AsRef<Path>) -> Result<TestPlugin, Error> {
        let wasm = wasm.as_ref();
        let bytes = std::fs::read(wasm)
            .map_err(|e| PluginError::Host(format!("cannot read {}: {e}", wasm.display())))?;
        let engine = PluginEngine::new(None)?;
        let plugin = engine.load(bytes).await?;
        Ok(TestPlugin { engine, plugin })
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.plugin.manifest
    }

    /// What it is: a runtime of the Docker, Kubernetes or remote world.
    pub fn kind(&self) -> PluginKind {
        self.plugin.kind
    }

    /// The loaded plugin itself, to change its sandbox `limits` for a test.
    pub fn loaded_mut(&mut self) -> &mut LoadedPlugin {
        &mut self.plugin
    }

    /// A runner granting every capability the manifest asks for, with the settings `{}`, an
    /// empty key-value store, no connections, no secret values and no engine or cluster.
    pub fn runner(&self) -> Runner<'_> {
        let manifest = self.manifest();
        Runner {
            plugin: self,
            granted: manifest.requested_capabilities().collect(),
            settings: Arc::from("{}"),
            kv: Arc::new(MemoryKv::default()),
            connections: Vec::new(),
            secrets: Vec::new(),
            docker: None,
            kubernetes: None,
        }
    }
}

/// Makes a capability's scope for the deployment a call acts for, with the secret values
/// (reference name, value) its secret references stand for.
type ScopeFor<S> = Box<dyn Fn(DeploymentIds, &[(String, String)]) -> S + Send + Sync>;

/// Calls one loaded plugin, as the server does for an install with these grants, settings,
/// connections and engines. Each call runs in a fresh instance under the plugin's limits.
pub struct Runner<'p> {
    plugin: &'p TestPlugin,
    granted: BTreeSet<Capability>,
    settings: Arc<str>,
    kv: Arc<MemoryKv>,
    connections: Vec<Arc<Connection>>,
    secrets: Vec<(String, String)>,
    docker: Option<ScopeFor<DockerScope>>,
    kubernetes: Option<ScopeFor<KubernetesScope>>,
}

/// What a multi-step operation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Steps {
    /// How many steps it took.
    pub steps: u32,
    /// Every progress line, in order: the steps' own and the `progress` capability's messages.
    pub progress: Vec<String>,
}

impl Runner<'_> {
    /// The install's admin settings (what `config::get` answers), instead of `{}`.
    pub fn settings(mut self, settings: serde_json::Value) -> Self {
        self.settings = Arc::from(settings.to_string());
        self
    }

    /// Takes back the grant of `capability`, to see what the plugin does without it.
    pub fn without(mut self, capability: Capability) -> Self {
        self.granted.remove(&capability);
        self
    }

    /// Gives the connection `name` to `base_url`, the host adding `authorization` (such as
    /// `Bearer token`) to each request, allowed to reach loopback (where a [`FakeBackend`]
    /// listens), with no path prefix or rate limit.
    ///
    /// # Errors
    /// [`Error::Connection`] when the URL or the credential is malformed.
    pub fn connection(
        self,
        name: &str,
        base_url: &str,
        authorization: Option<&str>,
    ) -> Result<Self, Error> {
        let grant = ConnectionGrant {
            allow_private: true,
            path_prefixes: Vec::new(),
            requests_per_minute: None,
        };
        self.connection_with_grant(name, base_url, authorization, grant)
    }

    /// Gives the connection `name` as [`connection`](Self::connection) does, within `grant`
    /// (path prefixes, a rate limit, no private addresses).
    ///
    /// # Errors
    /// [`Error::Connection`] when the URL or the credential is malformed.
    pub fn connection_with_grant(
        mut self,
        name: &str,
        base_url: &str,
        authorization: Option<&str>,
        grant: ConnectionGrant,
    ) -> Result<Self, Error> {
        let malformed = |message: String| Error::Connection {
            name: name.to_owned(),
            message,
        };
        let url = base_url
            .parse()
            .map_err(|e| malformed(format!("the base URL {base_url:?}: {e}")))?;
        let authorization = authorization
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| malformed("the credential is not a header value".to_owned()))
            })
            .transpose()?;
        self.connections
            .push(Arc::new(Connection::new(name, url, authorization, grant)));
        Ok(self)
    }

    /// Lets the deployment's `secret-ref` named `name` (`service/VARIABLE`) stand for
    /// `value`: in containers, Kubernetes Secrets and connection request bodies, as the
    /// server does for a secret variable.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Gives a Docker runtime the engine at `host` (`unix:///var/run/docker.sock`,
    /// `tcp://127.0.0.1:2375`), scoped to each call's deployment, ports published on loopback
    /// only, no bind mounts.
    ///
    /// # Errors
    /// [`Error::Plugin`] when the engine does not answer.
    pub async fn docker(mut self, host: &str) -> Result<Self, Error> {
        let client = docker_capability::connect(host).await?;
        let gate = DockerGate::new(DockerGate::DEFAULT_SIZE);
        let plugin = self.plugin.manifest().id.to_string();
        self.docker = Some(Box::new(move |ids, secrets| {
            secrets.iter().fold(
                DockerScope::new(client.clone(), gate.clone(), ids, plugin.clone()),
                |scope, (name, value)| scope.with_secret(name, value),
            )
        }));
        Ok(self)
    }

    /// Gives a Kubernetes runtime the cluster of `kubeconfig` (YAML text, credentials inline),
    /// within `grant`, scoped to each call's deployment.
    ///
    /// # Errors
    /// [`Error::Plugin`] when the kubeconfig is refused or malformed.
    pub async fn kubernetes(
        mut self,
        kubeconfig: &str,
        grant: KubernetesGrant,
    ) -> Result<Self, Error> {
        let client = kubernetes_capability::connect(kubeconfig).await?;
        self.kubernetes = Some(Box::new(move |ids, secrets| {
            secrets.iter().fold(
                KubernetesScope::new(client.clone(), ids, grant.clone()),
                |scope, (name, value)| scope.with_secret(name, value),
            )
        }));
        Ok(self)
    }

    /// The context of one call for `spec`, its progress going to `progress`.
    fn context(&self, spec: &DeploymentSpec, progress: ProgressSink) -> Result<CallContext, Error> {
        let ids = DeploymentIds {
            project: spec.project_id.clone(),
            environment: spec.environment_id.clone(),
            deployment: spec.deployment_id.clone(),
        };
        let mut secrets = SecretValues::default();
        for (name, value) in &self.secrets {
            secrets.insert(name, value);
        }
        let manifest = self.plugin.manifest();
        let mut builder = CallContext::builder(manifest, self.granted.iter().copied())?
            .config(self.settings.clone())
            .kv(
                self.kv.clone(),
                KvScope {
                    install: manifest.id.to_string(),
                    project: Some(spec.project_id.clone()),
                },
            )
            .connections(self.connections.clone())
            .secrets(Arc::new(secrets))
            .progress(progress);
        if let Some(scope) = &self.docker {
            builder = builder.docker(Arc::new(scope(ids.clone(), &self.secrets)));
        }
        if let Some(scope) = &self.kubernetes {
            builder = builder.kubernetes(Arc::new(scope(ids, &self.secrets)));
        }
        Ok(builder.build())
    }

    /// A call's context with progress reports nobody reads.
    fn call(&self, spec: &DeploymentSpec) -> Result<CallContext, Error> {
        self.context(spec, ProgressSink::default())
    }

    /// `validate`: the runtime's warnings, or its refusal.
    ///
    /// # Errors
    /// [`Error::Call`] with what the runtime answered or how the sandbox stopped it.
    pub async fn validate(&self, spec: &DeploymentSpec) -> Result<Vec<String>, Error> {
        let engine = &self.plugin.engine;
        let context = self.call(spec)?;
        Ok(engine
            .validate(&self.plugin.plugin, context, spec.clone())
            .await?)
    }

    /// `plan`: what applying `spec` now would change.
    ///
    /// # Errors
    /// [`Error::Call`].
    pub async fn plan(&self, spec: &DeploymentSpec) -> Result<DeploymentPlan, Error> {
        let engine = &self.plugin.engine;
        let context = self.call(spec)?;
        Ok(engine
            .plan(&self.plugin.plugin, context, spec.clone())
            .await?)
    }

    /// `status`: what runs, service by service.
    ///
    /// # Errors
    /// [`Error::Call`].
    pub async fn status(&self, spec: &DeploymentSpec) -> Result<DeploymentStatus, Error> {
        let engine = &self.plugin.engine;
        let context = self.call(spec)?;
        Ok(engine
            .status(&self.plugin.plugin, context, spec.clone())
            .await?)
    }

    /// `logs`: up to `max_lines` lines of `service` after `cursor` (from the start when
    /// `None`).
    ///
    /// # Errors
    /// [`Error::Call`].
    pub async fn logs(
        &self,
        spec: &DeploymentSpec,
        service: &str,
        cursor: Option<String>,
        max_lines: u32,
    ) -> Result<LogPage, Error> {
        let engine = &self.plugin.engine;
        let context = self.call(spec)?;
        let plugin = &self.plugin.plugin;
        Ok(engine
            .logs(
                plugin,
                context,
                spec.clone(),
                service.to_owned(),
                cursor,
                max_lines,
            )
            .await?)
    }

    /// One `apply-step`, given the `continuation` of the one before (`None` first): to test
    /// what a step does when it is run again or resumed.
    ///
    /// # Errors
    /// [`Error::Call`].
    pub async fn apply_step(
        &self,
        spec: &DeploymentSpec,
        continuation: Option<Vec<u8>>,
    ) -> Result<StepResult, Error> {
        let engine = &self.plugin.engine;
        let context = self.call(spec)?;
        Ok(engine
            .apply_step(&self.plugin.plugin, context, spec.clone(), continuation)
            .await?)
    }

    /// Applies `spec`: `apply-step` until done, as the server's driver does.
    ///
    /// # Errors
    /// [`Error::Call`] for the first failing step; [`Error::NotDone`] after [`MAX_STEPS`].
    pub async fn apply(&self, spec: &DeploymentSpec) -> Result<Steps, Error> {
        let plugin = &self.plugin.plugin;
        self.steps("apply", spec, |engine, context, continuation| {
            engine.apply_step(plugin, context, spec.clone(), continuation)
        })
        .await
    }

    /// Stops `spec`'s services: `stop-step` until done.
    ///
    /// # Errors
    /// [`Error::Call`]; [`Error::NotDone`].
    pub async fn stop(&self, spec: &DeploymentSpec) -> Result<Steps, Error> {
        let plugin = &self.plugin.plugin;
        self.steps("stop", spec, |engine, context, continuation| {
            engine.stop_step(plugin, context, spec.clone(), continuation)
        })
        .await
    }

    /// Starts `spec`'s stopped services again: `start-step` until done.
    ///
    /// # Errors
    /// [`Error::Call`]; [`Error::NotDone`].
    pub async fn start(&self, spec: &DeploymentSpec) -> Result<Steps, Error> {
        let plugin = &self.plugin.plugin;
        self.steps("start", spec, |engine, context, continuation| {
            engine.start_step(plugin, context, spec.clone(), continuation)
        })
        .await
    }

    /// Destroys `spec`'s deployment, its volumes too when `remove_volumes`: `destroy-step`
    /// until done.
    ///
    /// # Errors
    /// [`Error::Call`]; [`Error::NotDone`].
    pub async fn destroy(
        &self,
        spec: &DeploymentSpec,
        remove_volumes: bool,
    ) -> Result<Steps, Error> {
        let plugin = &self.plugin.plugin;
        self.steps("destroy", spec, |engine, context, continuation| {
            engine.destroy_step(plugin, context, spec.clone(), continuation, remove_volumes)
        })
        .await
    }

    /// `export-bundle`: the files that run `spec` without Komander.
    ///
    /// # Errors
    /// [`Error::Call`].
    pub async fn export_bundle(&self, spec: &DeploymentSpec) -> Result<Bundle, Error> {
        let engine = &self.plugin.engine;
        let context = self.call(spec)?;
        Ok(engine
            .export_bundle(&self.plugin.plugin, context, spec.clone())
            .await?)
    }

    /// Runs the steps of `operation` until one answers done, each given the continuation of
    /// the one before, collecting their progress.
    async fn steps<'a, F>(
        &'a self,
        operation: &'static str,
        spec: &DeploymentSpec,
        step: impl Fn(&'a PluginEngine, CallContext, Option<Vec<u8>>) -> F,
    ) -> Result<Steps, Error>
    where
        F: Future<Output = Result<StepResult, RuntimeCallError>>,
    {
        let mut done = Steps::default();
        let mut continuation = None;
        while done.steps < MAX_STEPS {
            let sink = ProgressSink::default();
            let context = self.context(spec, sink.clone())?;
            let result = step(&self.plugin.engine, context, continuation).await?;
            done.steps += 1;
            let reported = sink.lock().map(|events| events.clone()).unwrap_or_default();
            done.progress
                .extend(reported.into_iter().map(|event| match event {
                    ProgressEvent::Message(message) => message,
                    ProgressEvent::Step { step, done, total } => format!("{step} ({done}/{total})"),
                }));
            done.progress.extend(result.progress);
            if result.done {
                return Ok(done);
            }
            continuation = result.continuation;
        }
        Err(Error::NotDone { operation })
    }
}

/// A deployment `name` of `services` in project `test`, environment `test`, with ids no other
/// call of this process has (and no other process, in practice): what the Docker capability
/// labels and scopes its objects by. No environment settings.
pub fn deployment(name: &str, services: Vec<ServiceSpec>) -> DeploymentSpec {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let unique = started.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) & 0xffff_ffff_ffff;
    let pid = std::process::id();
    let id = |kind: u16| format!("{pid:08x}-{kind:04x}-4000-8000-{unique:012x}");
    DeploymentSpec {
        project_id: id(1),
        project: "test".to_owned(),
        environment_id: id(2),
        environment: "test".to_owned(),
        deployment_id: id(3),
        deployment: name.to_owned(),
        services,
        settings: Vec::new(),
    }
}
