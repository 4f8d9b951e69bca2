//! `komander:docker`: the host side of the Docker capability, on bollard.
//!
//! A [`DockerScope`] is what one runtime call may touch: the deployment it acts for (every
//! object is labelled with its ids, and objects without them are invisible), the
//! environment's policy (bind root, public ports, resource maximums), the secret values and
//! build contexts the host prepared for the call, and the server's [`DockerGate`], which
//! bounds the Docker operations running at once across all calls. Every request goes through
//! [`request`]'s conversion and the one allow-list validator before it reaches the daemon.
//!
//! - [`batch`]: the shape of a batch, and running it with independent operations
//!   concurrently.
//! - [`build`]: an image build, its Dockerfile checked before it starts.
//! - [`dockerfile`]: the images a Dockerfile reads, found by a scan of its text.
//! - [`gate`]: the server-wide bound on concurrent Docker operations.
//! - [`ops`]: each operation against the daemon, scoped to the deployment.
//! - [`logs`]: container logs by cursor.
//! - [`policy`]: the allow-list validator every request goes through.
//! - [`reference`]: image references, normalized for the scope check.

mod batch;
mod build;
mod dockerfile;
mod gate;
mod logs;
mod ops;
pub mod policy;
mod reference;
mod request;

use std::{collections::HashMap, net::IpAddr, path::PathBuf, sync::Arc};

use bollard::Docker;
pub use build::{BUILD_CONTEXT_BYTES, DOCKERFILE_BYTES};
pub use gate::DockerGate;
use policy::DockerPolicy;
use reference::{Reference, ReferenceError};

use crate::{
    PluginError,
    bindings::{
        docker_engine,
        docker_types::{self, ContainerSummary, OperationEntry, OperationResult},
        types::{Error as WitError, LogPage},
    },
    capabilities::{
        DeploymentIds, SecretValues,
        call::{CallContext, Capability, HostCapability},
    },
    error::HostError,
    host::HostState,
};

/// The `docker` capability: a call holds the scope of the deployment it acts for, on a Docker
/// environment.
pub(crate) struct DockerCapability;

impl HostCapability for DockerCapability {
    type Grant = Option<Arc<DockerScope>>;
    type State = Self::Grant;

    fn prepare(scope: Self::Grant) -> Self::Grant {
        scope
    }
}

/// The prefix of Komander's own labels; guests may not set labels under it.
pub const LABEL_PREFIX: &str = "dev.komander.";
/// The label holding the project's id.
pub const PROJECT_LABEL: &str = "dev.komander.project";
/// The label holding the environment's id.
pub const ENVIRONMENT_LABEL: &str = "dev.komander.environment";
/// The label holding the deployment's id: what makes an object visible to a call.
pub const DEPLOYMENT_LABEL: &str = "dev.komander.deployment";
/// The label holding the id of the plugin that created the object.
pub const PLUGIN_LABEL: &str = "dev.komander.plugin";

/// The first path component of the images deployments build: `komander/<deployment id>/…`.
const KOMANDER_IMAGES: &str = "komander";

/// Seconds bollard waits for the daemon's answer to one request.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Maximums an environment sets on containers' resources; `None` leaves one unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceMaximums {
    /// The largest memory limit a container may ask for, in bytes; when set, a container
    /// must ask for one.
    pub memory_bytes: Option<u64>,
    /// The largest CPU limit, in billionths of a CPU; when set, a container must ask for one.
    pub nano_cpus: Option<u64>,
}

/// What one runtime call may do with Docker.
pub struct DockerScope {
    client: Docker,
    gate: DockerGate,
    plugin: String,
    deployment: String,
    policy: DockerPolicy,
    maximums: ResourceMaximums,
    secrets: SecretValues,
    build_contexts: HashMap<String, PathBuf>,
}

impl DockerScope {
    /// A scope for `plugin_id` acting for the deployment `ids` on the daemon `client`, its
    /// operations bounded by `gate` (the server's one [`DockerGate`], cloned): no bind root,
    /// ports on loopback only, no resource maximums, no secrets, no build contexts.
    pub fn new(
        client: Docker,
        gate: DockerGate,
        ids: DeploymentIds,
        plugin_id: impl Into<String>,
    ) -> DockerScope {
        let labels = [
            (PROJECT_LABEL, ids.project),
            (ENVIRONMENT_LABEL, ids.environment),
            (DEPLOYMENT_LABEL, ids.deployment.clone()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        DockerScope {
            client,
            gate,
            plugin: plugin_id.into(),
            deployment: ids.deployment,
            policy: DockerPolicy {
                labels,
                ..DockerPolicy::default()
            },
            maximums: ResourceMaximums::default(),
            secrets: SecretValues::default(),
            build_contexts: HashMap::new(),
        }
    }

    /// Allows bind mounts under `root`, the environment's admin-chosen directory: each
    /// deployment gets `<root>/<deployment id>`, and binds its direct subdirectories only, so
    /// no container ever mounts a directory in which another bind's source could be swapped
    /// for a symlink. A deployment id that is not one path component allows no binds.
    pub fn with_bind_root(mut self, root: PathBuf) -> DockerScope {
        let mut parts = std::path::Path::new(&self.deployment).components();
        let single = matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        );
        self.policy.bind_root = single.then(|| root.join(&self.deployment));
        self
    }

    /// Allows ports published on `addresses` besides loopback (`0.0.0.0` for every IPv4
    /// address, which is also what a binding without an address means).
    pub fn with_publish_addresses(
        mut self,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> DockerScope {
        self.policy.publish_addresses = addresses.into_iter().collect();
        self
    }

    /// Sets the environment's resource maximums.
    pub fn with_maximums(mut self, maximums: ResourceMaximums) -> DockerScope {
        self.maximums = maximums;
        self
    }

    /// Lets the call's `secret-ref` named `name` stand for `value` in container environments.
    pub fn with_secret(mut self, name: impl Into<String>, value: impl Into<String>) -> DockerScope {
        self.secrets.insert(name, value);
        self
    }

    /// Lets the call's `build-context-ref` with `id` stand for the directory `dir`.
    pub fn with_build_context(mut self, id: impl Into<String>, dir: PathBuf) -> DockerScope {
        self.build_contexts.insert(id.into(), dir);
        self
    }

    /// Komander's labels for everything this scope creates.
    fn labels(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.policy
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain([(PLUGIN_LABEL.to_owned(), self.plugin.clone())])
    }

    /// Whether an object with `labels` belongs to this scope's deployment.
    fn owns(&self, labels: Option<&HashMap<String, String>>) -> bool {
        self.policy
            .labels
            .iter()
            .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
    }

    /// The directory a build context reference stands for in this call.
    pub(super) fn build_context(&self, id: &str) -> Result<PathBuf, WitError> {
        self.build_contexts.get(id).cloned().ok_or_else(|| {
            WitError::NotFound(format!(
                "build context {id:?} was not prepared for this call"
            ))
        })
    }

    /// Checks an image a container runs or a pull fetches: a reference, not an image id or a
    /// name of hex digits only, and under `komander/` (however the reference spells Docker
    /// Hub) only this deployment's own images.
    fn check_image_reference(&self, image: &str) -> Result<(), WitError> {
        let reference = Reference::parse(image).map_err(reference_error)?;
        if reference.is_local_under(&[KOMANDER_IMAGES]) {
            self.check_own(image, &reference, WitError::Denied)?;
        }
        Ok(())
    }

    /// Checks that `tag` names one of this deployment's images, `komander/<deployment id>/…`
    /// once normalized, answering `error` otherwise.
    fn check_own_image(&self, tag: &str, error: fn(String) -> WitError) -> Result<(), WitError> {
        let reference = Reference::parse(tag).map_err(|e| match e {
            ReferenceError::ImageId { .. } => reference_error(e),
            ReferenceError::Invalid { .. } => error(e.to_string()),
        })?;
        self.check_own(tag, &reference, error)
    }

    /// Answers `error` unless `reference` (parsed from `image`) lies under
    /// `komander/<deployment id>/`.
    fn check_own(
        &self,
        image: &str,
        reference: &Reference,
        error: fn(String) -> WitError,
    ) -> Result<(), WitError> {
        let own = reference.path.len() > 2
            && reference.is_local_under(&[KOMANDER_IMAGES, self.deployment.as_str()]);
        if own {
            Ok(())
        } else {
            Err(error(format!(
                "image {image:?} (read as {reference}): this deployment's images are tagged \
                 {KOMANDER_IMAGES}/{}/<name>",
                self.deployment
            )))
        }
    }

    /// Checks resource limits against the environment's maximums.
    fn check_resources(&self, memory: Option<u64>, nano_cpus: Option<u64>) -> Result<(), WitError> {
        for (what, asked, maximum) in [
            ("memory-bytes", memory, self.maximums.memory_bytes),
            ("nano-cpus", nano_cpus, self.maximums.nano_cpus),
        ] {
            match (asked, maximum) {
                (Some(0), _) => {
                    return Err(WitError::InvalidInput(format!(
                        "{what} must be more than 0"
                    )));
                }
                (Some(asked), _) if asked > i64::MAX as u64 => {
                    return Err(WitError::InvalidInput(format!("{what} is too large")));
                }
                (None, Some(maximum)) => {
                    return Err(WitError::Denied(format!(
                        "this environment requires a {what} limit (at most {maximum})"
                    )));
                }
                (Some(asked), Some(maximum)) if asked > maximum => {
                    return Err(WitError::Denied(format!(
                        "{what} {asked} is above this environment's maximum of {maximum}"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Connects to a Docker daemon at `host` (`unix:///path/docker.sock` or a socket path) and
/// negotiates the API version, since Debian's daemon speaks 1.41 only.
///
/// # Errors
/// [`PluginError::Host`] when the socket is missing or the daemon does not answer.
pub async fn connect(host: &str) -> Result<Docker, PluginError> {
    let client =
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|e| PluginError::Host(format!("connecting to Docker at {host}: {e}")))?;
    client.negotiate_version().await.map_err(|e| {
        PluginError::Host(format!(
            "negotiating the API version with Docker at {host}: {e}"
        ))
    })
}

/// A reference the host does not accept, as the WIT error: an image id is `denied`, a string
/// that is no reference `invalid-input`.
fn reference_error(error: ReferenceError) -> WitError {
    match error {
        ReferenceError::ImageId { .. } => WitError::Denied(error.to_string()),
        ReferenceError::Invalid { .. } => WitError::InvalidInput(error.to_string()),
    }
}

/// `error` with `context` (such as `operation "web"`) before its message; errors that are
/// not about the guest's input keep theirs.
fn prefixed(context: &str, error: WitError) -> WitError {
    let with = |message: String| format!("{context}: {message}");
    match error {
        WitError::Denied(m) => WitError::Denied(with(m)),
        WitError::InvalidInput(m) => WitError::InvalidInput(with(m)),
        WitError::NotFound(m) => WitError::NotFound(with(m)),
        WitError::Conflict(m) => WitError::Conflict(with(m)),
        other => other,
    }
}

/// The HTTP status of a daemon's error answer, if it was one.
fn status_of(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// A daemon error as the WIT error: by HTTP status when the daemon answered, `unavailable`
/// when it could not be reached, `timeout` when it did not answer in time.
fn engine_error(error: bollard::errors::Error) -> WitError {
    use bollard::errors::Error as E;
    match error {
        E::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            400 => WitError::InvalidInput(message),
            401 | 403 => WitError::Denied(message),
            404 => WitError::NotFound(message),
            409 => WitError::Conflict(message),
            503 => WitError::Unavailable(message),
            _ => WitError::Internal(format!("Docker answered {status_code}: {message}")),
        },
        E::RequestTimeoutError => WitError::Timeout("Docker did not answer in time".into()),
        other @ (E::IOError { .. }
        | E::HyperResponseError { .. }
        | E::HyperLegacyError { .. }
        | E::SocketNotFoundError(_)) => {
            WitError::Unavailable(format!("Docker cannot be reached: {}", causes(&other)))
        }
        other => WitError::Internal(format!("talking to Docker: {other}")),
    }
}

/// `error` and each of its sources, joined by `: `: the HTTP client's own message says
/// only `client error (Connect)`, its cause says why (no such socket, connection refused).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

impl HostState {
    /// The call's Docker scope, if the capability is granted and the call has one.
    fn docker(&self) -> Result<Arc<DockerScope>, WitError> {
        CallContext::granted(&self.call.docker, Capability::Docker)?
            .clone()
            .ok_or_else(|| {
                WitError::Unavailable(
                    "this call acts for no deployment on a Docker environment".into(),
                )
            })
    }
}

impl docker_types::Host for HostState {}

impl docker_engine::Host for HostState {
    async fn run_batch(
        &mut self,
        entries: Vec<OperationEntry>,
    ) -> Result<Vec<OperationResult>, HostError> {
        let scope = self.docker()?;
        Ok(batch::run(&scope, entries).await?)
    }

    async fn list_containers(
        &mut self,
        labels: Vec<(String, String)>,
    ) -> Result<Vec<ContainerSummary>, HostError> {
        let scope = self.docker()?;
        Ok(ops::list_containers(&scope, &labels).await?)
    }

    async fn logs(
        &mut self,
        container: String,
        cursor: Option<String>,
        max_lines: u32,
    ) -> Result<LogPage, HostError> {
        let scope = self.docker()?;
        Ok(logs::page(&scope, &container, cursor.as_deref(), max_lines).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scope for the deployment `d-1`, with a client that never reaches a daemon.
    fn scope() -> DockerScope {
        let client = Docker::connect_with_unix(
            // Never reached: bollard only wants the path to exist.
            "unix:///dev/null",
            1,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        let ids = DeploymentIds {
            project: "p-1".into(),
            environment: "e-1".into(),
            deployment: "d-1".into(),
        };
        DockerScope::new(client, DockerGate::new(1), ids, "test")
    }

    #[tokio::test]
    async fn an_engine_that_does_not_answer_is_unavailable_with_the_cause() {
        // A socket file nothing listens on: what a stopped or restarting dockerd leaves.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let client = Docker::connect_with_unix(
            &format!("unix://{}", path.display()),
            5,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        match engine_error(client.ping().await.unwrap_err()) {
            WitError::Unavailable(message) => {
                assert!(message.starts_with("Docker cannot be reached"), "{message}");
                assert!(message.contains("refused"), "the cause: {message}");
            }
            other => panic!("unavailable, not {other:?}"),
        }
    }

    #[test]
    fn images_of_other_deployments_are_out_of_reach() {
        let scope = scope();
        for allowed in [
            "busybox",
            "busybox:1.36",
            "docker.io/library/busybox",
            "3f:latest",
            "komander/d-1/web",
            "docker.io/komander/d-1/web:2",
            "ghcr.io/komander/d-2/web",
            "localhost:5000/komander/d-2/web",
        ] {
            scope
                .check_image_reference(allowed)
                .unwrap_or_else(|e| panic!("{allowed}: {e:?}"));
        }
        for refused in [
            "3f",
            "0123456789ab",
            "sha256:3f",
            "komander/d-2/web",
            "komander/d-1",
            "komander/d-10/web",
            "docker.io/komander/d-2/web",
            "index.docker.io/komander/d-2/web",
            "registry-1.docker.io/komander/d-2/web:latest",
            "docker.io/library/komander/d-2/web",
            "Docker.io/komander/d-2/web",
        ] {
            assert!(
                matches!(
                    scope.check_image_reference(refused),
                    Err(WitError::Denied(_))
                ),
                "{refused}"
            );
        }
        assert!(matches!(
            scope.check_image_reference("komander/../d-2/web"),
            Err(WitError::InvalidInput(_))
        ));
        // A build's tag and a removal go by the same normalized name.
        scope
            .check_own_image("docker.io/komander/d-1/web", WitError::InvalidInput)
            .unwrap();
        assert!(matches!(
            scope.check_own_image("docker.io/komander/d-2/web", WitError::InvalidInput),
            Err(WitError::InvalidInput(m)) if m.contains("komander/d-2/web:latest")
        ));
        assert!(matches!(
            scope.check_own_image("3f", WitError::InvalidInput),
            Err(WitError::Denied(_))
        ));
    }
}
