//! The local executor: what `komander up` (and `down`, `stop`, `start`, `rollback`) does for
//! a deployment of a `local` environment. It runs the deployment on this machine's Docker
//! engine (`DOCKER_HOST`, else the default socket) with the runtime plugin the environment
//! names, in the same plugin host and through the same driver as the server's runner, while
//! the server holds the lease and records every step: history, rollback and the live view are
//! the same as for a server's operation.
//!
//! The plugin is the first-party one built into this binary when the server runs that very
//! build (same SHA-256); otherwise its component is downloaded from the server, checked
//! against the SHA-256 the server recorded, and cached under the user's cache folder.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::Context as _;
use async_trait::async_trait;
use komander_app::{
    local::LocalRuntime,
    operations::MAX_LINE_BYTES,
    runner::{
        DEFAULT_HEALTH_TIMEOUT,
        driver::{self, DriveSettings, Job, Ledger, LedgerError, Outcome},
    },
};
use komander_domain::{
    OperationId,
    api::{
        Lease, NewOperation, OperationFinish, OperationKind, OperationOutcome, ResolvedDeployment,
        StartedOperation, StepRecorded, StepTiming, StepWrite,
    },
    timestamps::from_millis as timestamps_from_millis,
};
use komander_plugin_host::{LoadedPlugin, PluginEngine};
use komander_store::StepRecord;
use reqwest::StatusCode;

use super::{ApiClient, ApiError, address::DeploymentAt, scope::Scope as _};

/// How many log lines `logs --follow` reads at a time after the first page.
pub const FOLLOW_PAGE: u32 = 200;

/// Where Docker is looked for when `DOCKER_HOST` is not set.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// The Docker engine this machine's deployments run on: `DOCKER_HOST`, else the default
/// socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned())
}

/// Where downloaded runtime components are kept:
/// `$XDG_CACHE_HOME/komander`, else `$HOME/.cache/komander`.
fn cache_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join("komander").join("plugins"))
}

/// A deployment of a `local` environment, resolved by the server and connected to this
/// machine's Docker engine through its runtime plugin.
pub struct LocalDeployment {
    /// Where it is.
    pub at: DeploymentAt,
    /// The runtime, ready to call.
    pub runtime: LocalRuntime,
}

impl LocalDeployment {
    /// Resolves `at` on the server (with its secret values when `with_secrets`: the server
    /// audits their release) and connects its runtime plugin to this machine's Docker engine.
    ///
    /// # Errors
    /// When the server refuses (not a `local` environment, not allowed), the plugin cannot be
    /// had or loaded, a secret variable has no value, or the engine does not answer.
    pub async fn connect(
        api: &ApiClient,
        at: &DeploymentAt,
        with_secrets: bool,
    ) -> anyhow::Result<LocalDeployment> {
        let query = if with_secrets { "" } else { "?secrets=false" };
        let resolved: ResolvedDeployment = api
            .post_action(&format!("{}/resolve{query}", at.path()))
            .await
            .with_context(|| format!("resolving {at} for this machine"))?;
        let compiled = compiled_dir();
        let engine =
            Arc::new(PluginEngine::new(compiled.clone()).context("starting the plugin engine")?);
        let plugin = runtime_plugin(api, &engine, compiled.as_deref(), &resolved).await?;
        let runtime =
            LocalRuntime::connect(engine, plugin, &resolved, &docker_host(), with_secrets).await?;
        Ok(LocalDeployment {
            at: at.clone(),
            runtime,
        })
    }
}

/// The runtime plugin `resolved` names, loaded: built into this binary when its SHA-256 is
/// the installed one, else downloaded from the server (and cached), checked against it. Its
/// compiled artifact is kept in `compiled` and loaded from there next time when its SHA-256 is
/// the one written beside it then.
async fn runtime_plugin(
    api: &ApiClient,
    engine: &PluginEngine,
    compiled: Option<&Path>,
    resolved: &ResolvedDeployment,
) -> anyhow::Result<LoadedPlugin> {
    let digest = &resolved.runtime_sha256;
    let built_in = komander_first_party::PLUGINS
        .iter()
        .find(|p| komander_plugin_host::digest(p.bytes) == *digest);
    let bytes = match built_in {
        Some(plugin) => plugin.bytes.to_vec(),
        None => downloaded_component(api, resolved).await?,
    };
    let trusted_file =
        compiled.map(|dir| dir.join(format!("{digest}-{}.sha256", engine.compatibility_hash())));
    let trusted = match &trusted_file {
        Some(file) => tokio::fs::read_to_string(file).await.ok(),
        None => None,
    };
    let plugin = engine
        .load_cached(bytes, trusted.as_deref().map(str::trim))
        .await
        .with_context(|| format!("loading the runtime plugin {:?}", resolved.runtime.as_str()))?;
    if let (Some(file), Some(artifact)) = (&trusted_file, &plugin.artifact)
        && trusted.as_deref().map(str::trim) != Some(artifact.as_str())
        && let Err(e) = tokio::fs::write(file, artifact).await
    {
        tracing::warn!(error = %e, "could not remember a compiled runtime");
    }
    Ok(plugin)
}

/// Where compiled runtimes are kept, when the folder is this user's alone: it is made mode
/// 0700, which only its owner can, since an artifact there is loaded as machine code. `None`
/// (compile every time) when it cannot be.
fn compiled_dir() -> Option<PathBuf> {
    let dir = cache_dir()?.join("compiled");
    std::fs::create_dir_all(&dir).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    Some(dir)
}

/// The component of `resolved`'s runtime: from the cache when there, else from the server;
/// either way checked against the SHA-256 the server recorded at install.
async fn downloaded_component(
    api: &ApiClient,
    resolved: &ResolvedDeployment,
) -> anyhow::Result<Vec<u8>> {
    let digest = &resolved.runtime_sha256;
    let cached = cache_dir().map(|d| d.join(format!("{digest}.wasm")));
    if let Some(path) = &cached
        && let Ok(bytes) = tokio::fs::read(path).await
        && komander_plugin_host::verify_digest(&bytes, digest).is_ok()
    {
        return Ok(bytes);
    }
    let id = resolved.runtime.as_str();
    let bytes = api
        .get_bytes(&format!("/api/v1/plugins/{id}/component"))
        .await
        .with_context(|| format!("downloading the runtime plugin {id:?} from the server"))?;
    komander_plugin_host::verify_digest(&bytes, digest).with_context(|| {
        format!("the runtime plugin {id:?} downloaded is not the one the server installed")
    })?;
    if let Some(path) = &cached {
        let written = async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::write(path, &bytes).await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, path = %path.display(), "could not cache a runtime plugin");
        }
    }
    Ok(bytes)
}

/// The server's REST API as a driver's ledger, under the lease token it answered.
struct RestLedger {
    api: ApiClient,
    /// `.../operations/{id}`.
    operation: String,
    token: String,
    /// The pins of the apply, sent with the finish.
    pins: Mutex<BTreeMap<String, String>>,
}

/// A REST error as a ledger sees it: 409 (the lease is not ours) and 404 lose the lease.
fn ledger_error(e: anyhow::Error) -> LedgerError {
    let status = e
        .chain()
        .find_map(|c| c.downcast_ref::<ApiError>())
        .map(|a| a.status);
    match status {
        Some(StatusCode::CONFLICT | StatusCode::NOT_FOUND) => LedgerError::Lost,
        _ => LedgerError::Failed(format!("{e:#}")),
    }
}

#[async_trait]
impl Ledger for RestLedger {
    async fn record_step(&self, step: &StepRecord) -> Result<bool, LedgerError> {
        let write = StepWrite {
            step: StepTiming {
                name: step.name.clone(),
                started_at: timestamps_from_millis(step.started_at),
                finished_at: timestamps_from_millis(step.finished_at),
            },
            continuation: step.continuation.clone(),
            lines: step.lines.clone(),
        };
        let recorded: StepRecorded = self
            .api
            .post_leased(&format!("{}/steps", self.operation), &self.token, &write)
            .await
            .map_err(ledger_error)?;
        Ok(recorded.cancel_requested)
    }

    async fn renew(&self) -> Result<bool, LedgerError> {
        let lease: Lease = self
            .api
            .post_leased(&format!("{}/lease", self.operation), &self.token, &())
            .await
            .map_err(ledger_error)?;
        Ok(lease.cancel_requested)
    }

    async fn record_pins(&self, pins: BTreeMap<String, String>) -> Result<(), LedgerError> {
        *self
            .pins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pins;
        Ok(())
    }
}

/// An operation to run on this machine.
#[derive(Clone, Copy, Debug)]
pub struct LocalOperation {
    /// What it does.
    pub kind: OperationKind,
    /// For a destroy: the named volumes go too.
    pub remove_volumes: bool,
    /// For a rollback: the earlier apply it brings back.
    pub rollback_of: Option<OperationId>,
}

impl LocalOperation {
    /// Whether its calls create containers, and so need the secret values.
    fn needs_secrets(self) -> bool {
        matches!(self.kind, OperationKind::Apply | OperationKind::Rollback)
    }
}

/// A local operation started on the server, to drive.
pub struct StartedLocal {
    /// The operation's API path.
    pub path: String,
    /// Its id.
    pub id: OperationId,
    deployment: LocalDeployment,
    ledger: Arc<RestLedger>,
    operation: LocalOperation,
}

/// Starts `operation` on `at` on the server, holding its lease: resolved and checked first
/// (the runtime's `validate` for an apply) so that a refusal starts nothing. A rollback is
/// resolved after the start, which writes the earlier apply back to the deployment.
///
/// # Errors
/// As [`LocalDeployment::connect`]; the runtime's refusal of the spec; 409 busy when another
/// operation runs.
pub async fn start(
    api: &ApiClient,
    at: &DeploymentAt,
    operation: LocalOperation,
) -> anyhow::Result<StartedLocal> {
    let early = if operation.kind == OperationKind::Rollback {
        None
    } else {
        let deployment = LocalDeployment::connect(api, at, operation.needs_secrets()).await?;
        if operation.kind == OperationKind::Apply {
            deployment.runtime.plan().await?;
        }
        Some(deployment)
    };
    let new = NewOperation {
        kind: operation.kind,
        remove_volumes: operation.remove_volumes,
        rollback_of: operation.rollback_of,
    };
    let started: StartedOperation = api
        .post(&format!("{}/operations", at.path()), &new)
        .await
        .with_context(|| format!("starting the {} of {at}", operation.kind.as_str()))?;
    let path = format!("{}/operations/{}", at.path(), started.operation.id);
    let ledger = Arc::new(RestLedger {
        api: api.clone(),
        operation: path.clone(),
        token: started.lease_token,
        pins: Mutex::default(),
    });
    let deployment = match early {
        Some(deployment) => deployment,
        None => match LocalDeployment::connect(api, at, true).await {
            Ok(deployment) => deployment,
            Err(e) => {
                let message = format!("{e:#}");
                finish(&ledger, OperationOutcome::Failed, Some(message)).await?;
                return Err(e);
            }
        },
    };
    Ok(StartedLocal {
        path,
        id: started.operation.id,
        deployment,
        ledger,
        operation,
    })
}

impl StartedLocal {
    /// Drives the operation on this machine to its end and records the end on the server.
    ///
    /// # Errors
    /// When the end cannot be recorded, or the lease passed to another holder.
    pub async fn drive(&self) -> anyhow::Result<()> {
        let job = Job {
            kind: self.operation.kind,
            remove_volumes: self.operation.remove_volumes,
            continuation: None,
            cancel_requested: false,
        };
        let settings = DriveSettings {
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
        };
        let interrupted = tokio::signal::ctrl_c();
        let outcome = tokio::select! {
            outcome = driver::drive(&self.deployment.runtime, self.ledger.clone(), job, settings) => outcome,
            _ = interrupted => Outcome::Failed("interrupted on the member's machine".to_owned()),
        };
        let (outcome, message) = match outcome {
            Outcome::Done => (OperationOutcome::Done, None),
            Outcome::Failed(message) => (OperationOutcome::Failed, Some(message)),
            Outcome::Cancelled => (OperationOutcome::Cancelled, Some("cancelled".to_owned())),
            Outcome::LeaseLost => anyhow::bail!(
                "the lease of operation {} passed to another holder (it expired while this \
                 machine was away): run the command again",
                self.id
            ),
        };
        finish(&self.ledger, outcome, message).await
    }

    /// The runtime, for the summary after the end.
    pub fn deployment(&self) -> &LocalDeployment {
        &self.deployment
    }
}

/// Ends the operation on the server as `outcome` says, with the images an apply pinned.
async fn finish(
    ledger: &RestLedger,
    outcome: OperationOutcome,
    message: Option<String>,
) -> anyhow::Result<()> {
    let pins = std::mem::take(
        &mut *ledger
            .pins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let pinned = pins
        .into_iter()
        .filter_map(|(service, image)| service.parse().ok().map(|s| (s, image)))
        .collect();
    let finish = OperationFinish {
        outcome,
        message: message.map(|m| driver::truncate(&m, MAX_LINE_BYTES)),
        pinned,
    };
    let _: serde_json::Value = ledger
        .api
        .post_leased(
            &format!("{}/finish", ledger.operation),
            &ledger.token,
            &finish,
        )
        .await
        .with_context(|| format!("recording the end of {}", ledger.operation))?;
    Ok(())
}
