//! Calling runtime plugins: the host side of `komander:runtime/runtime`, without the WIT
//! version in the way: calls take and answer the version-free [`types`], converted to the
//! plugin's WIT version at the call. Each call instantiates the plugin afresh under its sandbox
//! limits.

mod types;

use crate::{
    CallFuture, LoadedPlugin, PluginEngine, PluginError,
    bindings::{Convert, from_wit, to_wit, types::Error as WitError},
    capabilities::CallContext,
};

pub use types::{
    BuildContextRef, BuildSource, Bundle, BundleFile, Change, ChangeAction, Dependency,
    DependencyCondition, DeploymentPlan, DeploymentSpec, DeploymentStatus, EnvValue, EnvVar,
    GuestError, HealthCheck, LogEntry, LogPage, LogSource, Protocol, PullPolicy, RateLimit,
    RestartPolicy, SecretRef, ServiceHealth, ServicePort, ServiceSource, ServiceSpec, ServiceState,
    ServiceStatus, ServiceVolume, StepResult,
};

/// Why a runtime call failed: the sandbox stopped it, or the guest answered an error.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeCallError {
    /// Refused, timed out, out of memory, crashed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The plugin answered with the WIT error variant.
    #[error("plugin {plugin} answered: {error}")]
    Guest {
        /// `id@version`.
        plugin: String,
        /// What it answered.
        error: GuestError,
    },
}

/// Defines the method of [`PluginEngine`] that calls one function of the `runtime` export:
/// its arguments, what it answers, the generated call, and optionally a check of the answer.
macro_rules! runtime_function {
    (
        $(#[$doc:meta])*
        $name:ident($spec:ident: DeploymentSpec $(, $arg:ident: $ty:ty)*) -> $out:ty
            => $call:ident($($pass:expr),*) $(, checked by $check:ident)?
    ) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// [`RuntimeCallError`].
        pub async fn $name(
            &self,
            plugin: &LoadedPlugin,
            context: CallContext,
            $spec: DeploymentSpec,
            $($arg: $ty),*
        ) -> Result<$out, RuntimeCallError> {
            let $spec: crate::bindings::runtime_types::DeploymentSpec = to_wit($spec);
            self.runtime_call(plugin, context, move |store, bindings| {
                Box::pin(async move {
                    bindings
                        .komander_runtime_runtime()
                        .$call(&mut *store, $($pass),*)
                        .await
                })
            })
            .await
            $(.and_then(|answer| $check(plugin, answer)))?
        }
    };
}

impl PluginEngine {
    /// Runs one function of a runtime plugin's `runtime` export.
    async fn runtime_call<R: Send + 'static + Convert<F>, F>(
        &self,
        plugin: &LoadedPlugin,
        context: CallContext,
        run: impl for<'a> FnOnce(
            &'a mut wasmtime::Store<crate::HostState>,
            crate::bindings::Runtime,
        ) -> CallFuture<'a, Result<R, WitError>>
        + Send
        + 'static,
    ) -> Result<F, RuntimeCallError> {
        let Some(runtime) = plugin.runtime.clone() else {
            return Err(PluginError::Host(format!("{} is not a runtime", plugin.label())).into());
        };
        let answer = self
            .call(plugin, context, move |store, _| {
                Box::pin(async move {
                    let bindings = runtime.instantiate_async(&mut *store).await?;
                    run(store, bindings).await
                })
            })
            .await?;
        answer
            .map(from_wit)
            .map_err(|error| RuntimeCallError::Guest {
                plugin: plugin.label(),
                error: from_wit(error),
            })
    }

    runtime_function!(
        /// `validate(spec)`: the plugin's warnings about a deployment, or why it cannot run it.
        validate(spec: DeploymentSpec) -> Vec<String> => call_validate(&spec)
    );

    runtime_function!(
        /// `plan(spec)`: what applying a deployment would change.
        plan(spec: DeploymentSpec) -> DeploymentPlan => call_plan(&spec)
    );

    runtime_function!(
        /// `apply-step(spec, continuation)`: one bounded step of applying a deployment. A step
        /// that breaks the contract (`done` without dropping the continuation or the reverse, a
        /// continuation over [`CONTINUATION_BYTES`]) is the plugin's `internal` error.
        apply_step(spec: DeploymentSpec, continuation: Option<Vec<u8>>) -> StepResult
            => call_apply_step(&spec, continuation.as_deref()), checked by check_step
    );

    runtime_function!(
        /// `status(spec)`: how each service of a deployment is doing.
        status(spec: DeploymentSpec) -> DeploymentStatus => call_status(&spec)
    );

    runtime_function!(
        /// `logs(spec, service, cursor, max-lines)`: a page of a service's log.
        logs(spec: DeploymentSpec, service: String, cursor: Option<String>, max_lines: u32)
            -> LogPage => call_logs(&spec, &service, cursor.as_ref(), max_lines)
    );

    runtime_function!(
        /// `stop-step(spec, continuation)`: one bounded step of stopping a deployment's
        /// services, keeping their containers, networks and volumes, under the same contract
        /// as [`PluginEngine::apply_step`].
        stop_step(spec: DeploymentSpec, continuation: Option<Vec<u8>>) -> StepResult
            => call_stop_step(&spec, continuation.as_deref()), checked by check_step
    );

    runtime_function!(
        /// `start-step(spec, continuation)`: one bounded step of starting again what
        /// [`PluginEngine::stop_step`] stopped, under the same contract as
        /// [`PluginEngine::apply_step`].
        start_step(spec: DeploymentSpec, continuation: Option<Vec<u8>>) -> StepResult
            => call_start_step(&spec, continuation.as_deref()), checked by check_step
    );

    runtime_function!(
        /// `destroy-step(spec, continuation, remove-volumes)`: one bounded step of destroying
        /// a deployment, under the same contract as [`PluginEngine::apply_step`]. Named
        /// volumes are removed only with `remove_volumes`.
        destroy_step(spec: DeploymentSpec, continuation: Option<Vec<u8>>, remove_volumes: bool)
            -> StepResult
            => call_destroy_step(&spec, continuation.as_deref(), remove_volumes),
            checked by check_step
    );

    runtime_function!(
        /// `export-bundle(spec)`: the deployment as files to run without Komander.
        export_bundle(spec: DeploymentSpec) -> Bundle => call_export_bundle(&spec)
    );
}

/// The largest continuation a step may hand back, in bytes.
pub const CONTINUATION_BYTES: usize = 1 << 20;

fn check_step(plugin: &LoadedPlugin, step: StepResult) -> Result<StepResult, RuntimeCallError> {
    let broken = |why: &str| RuntimeCallError::Guest {
        plugin: plugin.label(),
        error: GuestError::Internal(format!("the plugin broke the step contract: {why}")),
    };
    match (&step.continuation, step.done) {
        (None, false) => Err(broken("not done, yet no continuation")),
        (Some(_), true) => Err(broken("done, yet a continuation")),
        (Some(c), false) if c.len() > CONTINUATION_BYTES => {
            Err(broken("a continuation over 1 MiB"))
        }
        _ => Ok(step),
    }
}
