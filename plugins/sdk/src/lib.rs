//! The Komander plugin SDK: write a runtime backend as a Rust type, build it with
//! `cargo build --target wasm32-wasip2`, install the `.wasm` file.
//!
//! ```ignore
//! use komander_plugin_sdk::runtime::{self, DeploymentSpec, Error, Runtime};
//!
//! struct Mine;
//!
//! impl Runtime for Mine {
//!     fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
//!         Ok(vec![format!("{} services", spec.services.len())])
//!     }
//! }
//!
//! komander_plugin_sdk::export_runtime!(Mine, manifest = "komander-plugin.toml");
//! ```
//!
//! The SDK builds runtimes of `komander:runtime@0.2.0` (`wit/CHANGELOG.md` says what changed
//! from `0.1` and how to migrate). A [`runtime::Runtime`] implements what its backend supports
//! of `validate`, `plan`, `apply_step`, `stop_step`, `start_step`, `status`, `logs`,
//! `destroy_step` (whose `remove_volumes` says whether named volumes go too) and
//! `export_bundle`; a [`runtime::ServiceSpec`] carries the service's image, ports (with their
//! `host_address`), volumes, variables, `command`, `entrypoint`, `working_dir`, `user`,
//! `health_check` ([`runtime::HealthCheck`]), `restart` ([`runtime::RestartPolicy`]),
//! `depends_on` ([`runtime::Dependency`], [`runtime::DependencyCondition`]), `memory_bytes`,
//! `nano_cpus`, `replicas` and `pull` ([`runtime::PullPolicy`]); a [`runtime::ServiceStatus`]
//! answers its state with its `health` ([`runtime::ServiceHealth`]), `restarts`, `since_ms`
//! and `replicas_running`.
//!
//! [`export_runtime!`] exports the type and embeds the manifest (`komander-plugin.toml`:
//! id, version, kind, capabilities) as the custom section `komander-plugin`, which the host reads
//! before running anything. Operations a type does not implement answer an error naming them.
//! Guests keep nothing between calls (each call is a fresh instance) and never panic on input:
//! return [`runtime::Error::InvalidInput`] instead.
#![deny(missing_docs)]

pub mod manifest;

#[doc(hidden)]
pub mod bindings {
    // One world that includes the three runtime worlds: a component imports only what it
    // uses, so a plugin that calls `docker` is a `docker-runtime`, one that calls
    // `connections` a `remote-runtime`, and the host reads which from its imports.
    wit_bindgen::generate!({
        inline: "
            package komander:sdk;

            world every-runtime {
                include komander:runtime/docker-runtime@0.2.0;
                include komander:runtime/kubernetes-runtime@0.2.0;
                include komander:runtime/remote-runtime@0.2.0;
            }
        ",
        world: "komander:sdk/every-runtime",
        // `wit` is the crate's own folder (in Komander's repository a link to its `wit/`), so
        // that the crate builds the same when published or written beside a new plugin.
        path: ["wit/host", "wit/docker", "wit/kubernetes", "wit/runtime"],
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "::komander_plugin_sdk::bindings",
        generate_all,
    });
}

/// Host capabilities a plugin may call (each needs the install's grant, or answers `denied`).
pub mod host {
    pub use crate::bindings::komander::host::{config, connections, kv, log, progress};
}

/// The Docker engine of the deployment a call acts for (`docker-runtime` plugins; needs the
/// `docker` grant). Submit work as batches with [`docker::engine::run_batch`]: the host runs
/// independent operations concurrently.
pub mod docker {
    pub use crate::bindings::komander::docker::{engine, types};
}

/// The Kubernetes cluster of the environment a call acts for (`kubernetes-runtime` plugins;
/// needs the `kubernetes` grant, limited to the namespaces and kinds the admin granted).
pub mod kubernetes {
    pub use crate::bindings::komander::kubernetes::cluster;
}

/// Writing a runtime: the [`Runtime`] trait and the types of `komander:runtime`.
pub mod runtime {
    pub use crate::bindings::komander::host::types::{
        BuildContextRef, EnvValue, EnvVar, Error, LogEntry, LogPage, LogSource, Protocol,
        RateLimit, SecretRef,
    };
    pub use crate::bindings::komander::runtime::types::{
        BuildSource, Bundle, BundleFile, Change, ChangeAction, Dependency, DependencyCondition,
        DeploymentPlan, DeploymentSpec, DeploymentStatus, HealthCheck, PullPolicy, RestartPolicy,
        ServiceHealth, ServicePort, ServiceSource, ServiceSpec, ServiceState, ServiceStatus,
        ServiceVolume, StepResult,
    };

    impl DeploymentSpec {
        /// The environment's runtime setting `key`, if it is set.
        pub fn setting(&self, key: &str) -> Option<&str> {
            self.settings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }

        /// The environment's runtime setting `key`, or `invalid-input` naming it.
        pub fn required_setting(&self, key: &str) -> Result<&str, Error> {
            self.setting(key)
                .ok_or_else(|| Error::InvalidInput(format!("the {key} setting is missing")))
        }
    }

    fn missing<T>(operation: &str) -> Result<T, Error> {
        Err(Error::Internal(format!(
            "this runtime does not implement {operation}"
        )))
    }

    /// A runtime backend. Every method has a default that answers an error naming the missing
    /// operation; implement what the backend supports.
    pub trait Runtime {
        /// Warnings about `spec`, or why this runtime cannot run it.
        fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
            let _ = spec;
            missing("validate")
        }
        /// What applying `spec` would change.
        fn plan(spec: DeploymentSpec) -> Result<DeploymentPlan, Error> {
            let _ = spec;
            missing("plan")
        }
        /// One bounded step of applying `spec`, resumed from `continuation`.
        fn apply_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
        ) -> Result<StepResult, Error> {
            let _ = (spec, continuation);
            missing("apply-step")
        }
        /// The state of each service.
        fn status(spec: DeploymentSpec) -> Result<DeploymentStatus, Error> {
            let _ = spec;
            missing("status")
        }
        /// A page of a service's log.
        fn logs(
            spec: DeploymentSpec,
            service: String,
            cursor: Option<String>,
            max_lines: u32,
        ) -> Result<LogPage, Error> {
            let _ = (spec, service, cursor, max_lines);
            missing("logs")
        }
        /// One bounded step of stopping every service of `spec`, keeping its containers,
        /// networks and volumes, resumed from `continuation` (the contract of `apply_step`).
        fn stop_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
        ) -> Result<StepResult, Error> {
            let _ = (spec, continuation);
            missing("stop-step")
        }
        /// One bounded step of starting again what `stop_step` stopped, creating nothing,
        /// resumed from `continuation` (the contract of `apply_step`).
        fn start_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
        ) -> Result<StepResult, Error> {
            let _ = (spec, continuation);
            missing("start-step")
        }
        /// One bounded step of destroying `spec`: named volumes and their data go only when
        /// `remove_volumes` is true.
        fn destroy_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
            remove_volumes: bool,
        ) -> Result<StepResult, Error> {
            let _ = (spec, continuation, remove_volumes);
            missing("destroy-step")
        }
        /// Files a user can take away (a compose file, manifests).
        fn export_bundle(spec: DeploymentSpec) -> Result<Bundle, Error> {
            let _ = spec;
            missing("export-bundle")
        }
    }

    #[doc(hidden)]
    pub struct Adapter<T>(core::marker::PhantomData<T>);

    impl<T: Runtime> crate::bindings::exports::komander::runtime::runtime::Guest for Adapter<T> {
        fn validate(spec: DeploymentSpec) -> Result<Vec<String>, Error> {
            T::validate(spec)
        }
        fn plan(spec: DeploymentSpec) -> Result<DeploymentPlan, Error> {
            T::plan(spec)
        }
        fn apply_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
        ) -> Result<StepResult, Error> {
            T::apply_step(spec, continuation)
        }
        fn status(spec: DeploymentSpec) -> Result<DeploymentStatus, Error> {
            T::status(spec)
        }
        fn logs(
            spec: DeploymentSpec,
            service: String,
            cursor: Option<String>,
            max_lines: u32,
        ) -> Result<LogPage, Error> {
            T::logs(spec, service, cursor, max_lines)
        }
        fn stop_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
        ) -> Result<StepResult, Error> {
            T::stop_step(spec, continuation)
        }
        fn start_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
        ) -> Result<StepResult, Error> {
            T::start_step(spec, continuation)
        }
        fn destroy_step(
            spec: DeploymentSpec,
            continuation: Option<Vec<u8>>,
            remove_volumes: bool,
        ) -> Result<StepResult, Error> {
            T::destroy_step(spec, continuation, remove_volumes)
        }
        fn export_bundle(spec: DeploymentSpec) -> Result<Bundle, Error> {
            T::export_bundle(spec)
        }
    }
}

/// Exports `$ty` (a [`runtime::Runtime`]) as a runtime component and embeds the
/// manifest file `$manifest` (a path relative to the crate's `Cargo.toml`) as the custom
/// section `komander-plugin`. The manifest is checked at compile time
/// ([`manifest::check`]): a malformed one is a compile error naming the problem.
#[macro_export]
macro_rules! export_runtime {
    ($ty:ty, manifest = $manifest:literal) => {
        const _: () = {
            const MANIFEST: &[u8] =
                include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $manifest));
            // A malformed manifest fails the build here, not the install.
            const _: () = $crate::manifest::check(MANIFEST);
            #[used]
            #[unsafe(link_section = "komander-plugin")]
            static SECTION: [u8; MANIFEST.len()] = {
                let mut bytes = [0u8; MANIFEST.len()];
                let mut i = 0;
                while i < MANIFEST.len() {
                    bytes[i] = MANIFEST[i];
                    i += 1;
                }
                bytes
            };
            type KomanderExport = $crate::runtime::Adapter<$ty>;
    $crate::bindings::export_bindings!(KomanderExport with_types_in $crate::bindings);
        };
    };
}
