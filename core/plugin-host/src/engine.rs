//! The wasmtime engine: one per server, with the pooling allocator and epoch interruption; a
//! linker holding WASI (empty context) and every capability; precompiled artifacts cached by
//! component digest and the engine's compatibility hash; and the guard every call runs under.
//!
//! Deserializing an artifact runs whatever machine code it holds, so a cached artifact is
//! loaded only when its SHA-256 is the one the caller recorded when this engine wrote it
//! ([`LoadedPlugin::artifact`], kept in the database, which files swapped on disk cannot
//! change); any other is refused, logged, and replaced by a fresh compile of the component.

use std::{
    hash::{Hash, Hasher},
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use sha2::{Digest, Sha256};
use tracing::{info, warn};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
    component::{Component, InstancePre, Linker},
};

use crate::{
    PluginError,
    bindings::RuntimePre,
    capabilities::{self, CallContext},
    host::HostState,
    manifest::{Manifest, PluginKind, RuntimeWorld},
    sandbox::{EPOCH_TICK, Limits, RUNTIME_MEMORY_BYTES},
};

/// Component instances the pool holds at once: concurrent plugin calls beyond this wait for
/// the allocator to fail fast rather than exhaust the host.
const POOLED_INSTANCES: u32 = 64;

/// Bytes of a pooled memory or table kept mapped between calls and reset in place.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Pooled slots decommitted together.
const DECOMMIT_BATCH: usize = 8;

/// The version of `komander:runtime` this host runs: runtimes built for any `0.2.x` link; a
/// runtime of another minor version is refused with [`PluginError::Incompatible`].
pub const RUNTIME_WIT_VERSION: semver::Version = semver::Version::new(0, 2, 0);

/// The version of `komander:git-provider` this host runs: providers built for any `0.1.x`
/// link.
pub const GIT_PROVIDER_WIT_VERSION: semver::Version = semver::Version::new(0, 1, 0);

/// A future a call runs, borrowing the call's store.
pub type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// The plugin engine.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    ticker: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

/// A plugin ready to be called: its component compiled and linked once (`InstancePre`); each
/// call instantiates it afresh, so nothing leaks between calls or projects.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// Its manifest.
    pub manifest: Arc<Manifest>,
    /// What it is, read from its exports and imports.
    pub kind: PluginKind,
    /// The WIT version of the interface it exports.
    pub wit_version: semver::Version,
    /// SHA-256 of the component, hex.
    pub digest: String,
    /// SHA-256 of its precompiled artifact, hex, as this engine wrote (or checked and loaded)
    /// it in the cache: what to record, and hand to [`PluginEngine::load_cached`] next time.
    /// `None` without a cache, or when the artifact could not be written.
    pub artifact: Option<String>,
    /// The limits its calls run under.
    pub limits: Limits,
    /// The interfaces it imports (`komander:host/log@0.1.0`, …), in the component's order.
    pub imports: Vec<String>,
    pre: InstancePre<HostState>,
    /// For runtimes, the `runtime` export resolved once, at load.
    pub(crate) runtime: Option<RuntimePre<HostState>>,
}

impl LoadedPlugin {
    /// `id@version`, as logs and errors name it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.manifest.id, self.manifest.version)
    }

    /// The linked component, for the world-specific bindings.
    pub fn instance_pre(&self) -> &InstancePre<HostState> {
        &self.pre
    }
}

/// SHA-256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks that `bytes` have the SHA-256 `expected` (hex, any case), as an install from a URL
/// must.
///
/// # Errors
/// [`PluginError::Refused`] naming both digests.
pub fn verify_digest(bytes: &[u8], expected: &str) -> Result<(), PluginError> {
    let actual = digest(bytes);
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(PluginError::refused(format!(
            "its sha256 is {actual}, not the expected {expected}"
        )))
    }
}

impl PluginEngine {
    /// Builds the engine and starts its epoch ticker. Precompiled artifacts go to `cache_dir`
    /// when given.
    ///
    /// # Errors
    /// [`PluginError::Host`] when wasmtime refuses the configuration.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<PluginEngine, PluginError> {
        let host = |e: wasmtime::Error| PluginError::Host(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOLED_INSTANCES)
            .total_core_instances(POOLED_INSTANCES * 8)
            .total_memories(POOLED_INSTANCES * 4)
            .total_tables(POOLED_INSTANCES * 8)
            .total_stacks(POOLED_INSTANCES)
            .max_memory_size(RUNTIME_MEMORY_BYTES)
            // Reset a finished call's memory by rewriting the pages it dirtied (found with
            // PAGEMAP_SCAN on Linux 6.7 and later) instead of unmapping them, and decommit what
            // remains in batches: fewer system calls and page faults per fresh instance.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES)
            .decommit_batch_size(DECOMMIT_BATCH);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_reservation(RUNTIME_MEMORY_BYTES as u64)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(host)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(host)?;
        capabilities::add_to_linker(&mut linker).map_err(host)?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("plugin-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| PluginError::Host(format!("starting the epoch ticker: {e}")))?
        };
        Ok(PluginEngine {
            engine,
            linker,
            cache_dir,
            ticker: Some((stop, ticker)),
        })
    }

    /// The engine's compatibility hash, part of every cached artifact's name.
    pub fn compatibility_hash(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Checks and loads a component: finds its manifest, compiles it (writing the artifact to
    /// the cache, whose digest [`LoadedPlugin::artifact`] holds), reads its kind and WIT
    /// version from its exports and imports, and links it. Never loads a cached artifact:
    /// see [`PluginEngine::load_cached`]. Runs the compilation on a blocking thread.
    ///
    /// # Errors
    /// [`PluginError::Refused`] naming what is wrong: no or bad manifest, an unsupported kind,
    /// a kind that disagrees with the manifest, or an import the host does not provide;
    /// [`PluginError::Incompatible`] for an interface version this host does not run.
    pub async fn load(&self, bytes: Vec<u8>) -> Result<LoadedPlugin, PluginError> {
        self.load_cached(bytes, None).await
    }

    /// As [`PluginEngine::load`], but loads the cached artifact of the component instead of
    /// compiling it when that artifact's SHA-256 is `artifact` (recorded from
    /// [`LoadedPlugin::artifact`] when this engine wrote it). An artifact with another digest
    /// (replaced or corrupted on disk, or written by another engine build) is refused with a
    /// warning, and the component compiled again and its artifact rewritten; compare the
    /// answer's [`LoadedPlugin::artifact`] with `artifact` to know what to record.
    ///
    /// # Errors
    /// As [`PluginEngine::load`].
    pub async fn load_cached(
        &self,
        bytes: Vec<u8>,
        artifact: Option<&str>,
    ) -> Result<LoadedPlugin, PluginError> {
        let manifest = Manifest::find(&bytes)?;
        let digest = digest(&bytes);
        let (component, artifact) = {
            let engine = self.engine.clone();
            let cached = self.cache_path(&digest);
            let trusted = artifact.map(str::to_owned);
            tokio::task::spawn_blocking(move || {
                compile(&engine, &bytes, cached.as_deref(), trusted.as_deref())
            })
            .await
            .map_err(|e| PluginError::Host(format!("compiling: {e}")))??
        };
        let (kind, wit_version, imports) = self.classify(&component)?;
        if kind.manifest_name() != manifest.kind {
            return Err(PluginError::refused(format!(
                "its manifest says kind {:?} but it exports a {}",
                manifest.kind,
                kind.manifest_name()
            )));
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            PluginError::refused(format!("it imports what this host does not provide: {e:#}"))
        })?;
        let runtime = match kind {
            PluginKind::Runtime(_) => Some(RuntimePre::new(pre.clone()).map_err(|e| {
                PluginError::refused(format!(
                    "its komander:runtime/runtime export does not match the WIT: {e:#}"
                ))
            })?),
            PluginKind::GitProvider => None,
        };
        info!(plugin = %manifest.id, version = %manifest.version, ?kind, "plugin loaded");
        Ok(LoadedPlugin {
            limits: Limits::for_kind(kind),
            manifest: Arc::new(manifest),
            kind,
            wit_version,
            digest,
            artifact,
            imports,
            pre,
            runtime,
        })
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{}.cwasm", self.compatibility_hash())))
    }

    /// Reads the kind from the exported interface and the runtime world from the imports;
    /// answers them with the exported interface's version and the imports.
    fn classify(
        &self,
        component: &Component,
    ) -> Result<(PluginKind, semver::Version, Vec<String>), PluginError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let exported = |interface: &str| {
            exports.iter().find_map(|name| {
                let rest = name.strip_prefix(interface)?.strip_prefix('@')?;
                Some(semver::Version::parse(rest))
            })
        };
        let imports_any = |prefix: &str| imports.iter().any(|i| i.starts_with(prefix));
        let (kind, version) = if let Some(v) = exported("komander:git-provider/provider") {
            (PluginKind::GitProvider, v)
        } else if let Some(v) = exported("komander:runtime/runtime") {
            let world = if imports_any("komander:docker/") {
                RuntimeWorld::Docker
            } else if imports_any("komander:kubernetes/") {
                RuntimeWorld::Kubernetes
            } else {
                RuntimeWorld::Remote
            };
            (PluginKind::Runtime(world), v)
        } else {
            return Err(PluginError::refused(format!(
                "it exports neither komander:git-provider/provider nor komander:runtime/runtime \
                 (it exports: {})",
                if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports.join(", ")
                }
            )));
        };
        let version = version.map_err(|e| {
            PluginError::refused(format!("its interface version is not semver: {e}"))
        })?;
        let (supported, interface) = match kind {
            PluginKind::GitProvider => (GIT_PROVIDER_WIT_VERSION, "komander:git-provider"),
            PluginKind::Runtime(_) => (RUNTIME_WIT_VERSION, "komander:runtime"),
        };
        // 0.x versions are semver-compatible only within one minor version.
        if version.major != supported.major || version.minor != supported.minor {
            return Err(PluginError::Incompatible {
                kind: kind.manifest_name(),
                interface,
                built_for: version,
                supported,
            });
        }
        Ok((kind, version, imports))
    }

    /// Runs one call of `plugin` in a fresh store, under its limits: memory capped, guest time
    /// metered by epoch ticks (the guest yields to other tasks at every tick, so a loop never
    /// stalls the server), the whole call bounded in wall-clock time. The guest's stdout and
    /// stderr go to the logs with the plugin's id.
    ///
    /// # Errors
    /// [`PluginError::Timeout`], [`PluginError::OutOfMemory`] or [`PluginError::Crashed`].
    pub async fn call<R: Send>(
        &self,
        plugin: &LoadedPlugin,
        context: CallContext,
        run: impl for<'a> FnOnce(&'a mut Store<HostState>, InstancePre<HostState>) -> CallFuture<'a, R>,
    ) -> Result<R, PluginError> {
        let label = plugin.label();
        let mut store = Store::new(
            &self.engine,
            HostState::new(plugin.limits.memory_bytes, context),
        );
        store.limiter(HostState::limiter);
        let mut ticks_left = plugin.limits.cpu_ticks();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            ticks_left = ticks_left.saturating_sub(1);
            Ok(if ticks_left == 0 {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        let outcome =
            tokio::time::timeout(plugin.limits.timeout, run(&mut store, plugin.pre.clone())).await;
        forward_output(&label, store.data());
        let dropped = store.data().call.logs_dropped();
        if dropped > 0 {
            warn!(
                plugin = label,
                dropped, "log lines over the per-call limit were dropped"
            );
        }
        let result = match outcome {
            Err(_) => {
                return Err(PluginError::Timeout {
                    plugin: label,
                    detail: format!("the call took longer than {:?}", plugin.limits.timeout),
                });
            }
            Ok(result) => result,
        };
        result.map_err(|e| {
            if let Some(limit_bytes) = store.data().memory_exceeded() {
                PluginError::OutOfMemory {
                    plugin: label,
                    limit_bytes,
                }
            } else if matches!(
                e.downcast_ref::<wasmtime::Trap>(),
                Some(wasmtime::Trap::Interrupt)
            ) {
                PluginError::Timeout {
                    plugin: label,
                    detail: format!("it used its CPU budget of {:?}", plugin.limits.cpu_budget),
                }
            } else {
                let mut detail = format!("{e:#}");
                detail.truncate(2000);
                PluginError::Crashed {
                    plugin: label,
                    detail,
                }
            }
        })
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.ticker.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

/// Loads the artifact cached under `cached` when its SHA-256 is `trusted`; otherwise compiles
/// the component and writes its artifact there (through a temporary file, so a crash never
/// leaves half of one). Answers the component and the digest of the artifact now in the cache
/// (`None` without a cache or when writing failed).
fn compile(
    engine: &Engine,
    bytes: &[u8],
    cached: Option<&Path>,
    trusted: Option<&str>,
) -> Result<(Component, Option<String>), PluginError> {
    if let (Some(path), Some(expected)) = (cached, trusted) {
        match std::fs::read(path) {
            Ok(artifact) if digest(&artifact) == expected => {
                // SAFETY: these bytes are the very artifact this engine serialized: their
                // SHA-256 is the one recorded (in the database) when it was written, and they
                // are deserialized from memory, so the file cannot change in between.
                match unsafe { Component::deserialize(engine, &artifact) } {
                    Ok(component) => return Ok((component, Some(expected.to_owned()))),
                    Err(e) => {
                        warn!(path = %path.display(), error = %e, "a cached artifact did not load: compiling again")
                    }
                }
            }
            Ok(artifact) => warn!(
                path = %path.display(),
                expected,
                found = %digest(&artifact),
                "refusing a cached artifact whose digest is not the one recorded: compiling again"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                info!(path = %path.display(), "no cached artifact for this engine: compiling");
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "a cached artifact did not read: compiling again")
            }
        }
    }
    let component = Component::new(engine, bytes)
        .map_err(|e| PluginError::refused(format!("it does not compile: {e:#}")))?;
    let Some(path) = cached else {
        return Ok((component, None));
    };
    let write = || -> std::io::Result<String> {
        let serialized = component.serialize().map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension("partial");
        std::fs::write(&temporary, &serialized)?;
        std::fs::rename(&temporary, path)?;
        Ok(digest(&serialized))
    };
    match write() {
        Ok(artifact) => Ok((component, Some(artifact))),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "could not cache a compiled plugin");
            Ok((component, None))
        }
    }
}

/// Sends what the guest printed to the logs, line by line, with the plugin's id.
fn forward_output(label: &str, state: &HostState) {
    let Some((stdout, stderr)) = state.output() else {
        return;
    };
    for (stream, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        for line in String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.is_empty())
        {
            info!(plugin = label, stream, "{line}");
        }
    }
}
