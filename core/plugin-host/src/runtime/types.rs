//! The records a runtime call takes and answers, as the rest of Komander sees them: plain Rust
//! types that do not change with the WIT version. `crate::bindings` converts them to and from
//! each WIT version's generated types; the WIT files (`wit/runtime`, `wit/host`) document each
//! field for plugin authors.

/// What a guest answers when it refuses or fails: the WIT `error` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestError {
    /// Not allowed (a capability not granted, a scope left).
    Denied(String),
    /// What was asked for does not exist.
    NotFound(String),
    /// The input breaks a rule; the message names it.
    InvalidInput(String),
    /// The state forbids it (a name taken).
    Conflict(String),
    /// Too many requests: retry after the wait.
    RateLimited(RateLimit),
    /// Something the call needs cannot be reached.
    Unavailable(String),
    /// Something took too long.
    Timeout(String),
    /// A fault inside the plugin or the host.
    Internal(String),
}

impl std::fmt::Display for GuestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestError::Denied(m) => write!(f, "denied: {m}"),
            GuestError::NotFound(m) => write!(f, "not found: {m}"),
            GuestError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            GuestError::Conflict(m) => write!(f, "conflict: {m}"),
            GuestError::RateLimited(limit) => write!(
                f,
                "rate limited: {} (retry after {} ms)",
                limit.message, limit.retry_after_ms
            ),
            GuestError::Unavailable(m) => write!(f, "unavailable: {m}"),
            GuestError::Timeout(m) => write!(f, "timeout: {m}"),
            GuestError::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl std::error::Error for GuestError {}

/// How long to wait before retrying a rate-limited request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Milliseconds to wait.
    pub retry_after_ms: u64,
    /// Which limit was hit.
    pub message: String,
}

/// A secret a variable stands for; the host substitutes its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The reference's name, `service/VARIABLE`.
    pub name: String,
}

/// A build context the host prepared for the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildContextRef {
    /// The host's opaque id for the context.
    pub id: String,
    /// What it holds, for people, such as `shop-api@3f2c9e1`.
    pub description: String,
}

/// A variable's value: plain, or a reference to a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    /// The value itself.
    Plain(String),
    /// A secret, substituted by the host.
    Secret(SecretRef),
}

/// An environment variable of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: EnvValue,
}

/// A port's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Which stream a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSource {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// When, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Which stream.
    pub source: LogSource,
    /// The line.
    pub line: String,
}

/// A page of log lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPage {
    /// The lines, oldest first.
    pub entries: Vec<LogEntry>,
    /// Where the next page starts.
    pub next: String,
    /// Whether more lines were there already.
    pub more: bool,
}

/// A port a service listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// The port in the container.
    pub container_port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// The port published on the host, if any.
    pub host_port: Option<u16>,
    /// The host address `host_port` is published on, an IP address; `None` is 127.0.0.1.
    pub host_address: Option<String>,
}

/// A named volume mounted into a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceVolume {
    /// The volume's name.
    pub name: String,
    /// Where it is mounted.
    pub target: String,
    /// Whether it is mounted read-only.
    pub read_only: bool,
}

/// A service built from a context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSource {
    /// The build context.
    pub context: BuildContextRef,
    /// The Dockerfile, relative to the context.
    pub dockerfile: Option<String>,
    /// The build stage.
    pub target: Option<String>,
    /// Build arguments.
    pub args: Vec<(String, String)>,
}

/// Where a service's image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceSource {
    /// An image reference.
    Image(String),
    /// A build.
    Build(BuildSource),
}

/// A health check run inside each of a service's containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// The program and its arguments, run without a shell.
    pub command: Vec<String>,
    /// Milliseconds between two checks.
    pub interval_ms: u64,
    /// Milliseconds one check may take.
    pub timeout_ms: u64,
    /// Failed checks in a row that make the service unhealthy.
    pub retries: u32,
    /// Milliseconds after start during which failures do not count.
    pub start_period_ms: u64,
}

/// When a service's containers are restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never.
    No,
    /// Whenever they stop.
    Always,
    /// When they exit with a non-zero status, at most this many times (`None`: no limit).
    OnFailure(Option<u32>),
    /// Whenever they stop, unless someone stopped them.
    UnlessStopped,
}

/// What a service waits for from one it depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DependencyCondition {
    /// Its containers have started.
    Started,
    /// Its health check passes.
    Healthy,
    /// It exited with status 0.
    CompletedSuccessfully,
}

/// A service of the same deployment that a service waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The other service's name.
    pub service: String,
    /// What it waits for.
    pub condition: DependencyCondition,
}

/// When a service's image is pulled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when it is not there.
    IfMissing,
    /// On every apply.
    Always,
}

/// One service of a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its image or build.
    pub source: ServiceSource,
    /// Its ports.
    pub ports: Vec<ServicePort>,
    /// Its volumes.
    pub volumes: Vec<ServiceVolume>,
    /// Its environment.
    pub env: Vec<EnvVar>,
    /// The command (the entrypoint's arguments), when not the image's.
    pub command: Option<Vec<String>>,
    /// The entrypoint, when not the image's.
    pub entrypoint: Option<Vec<String>>,
    /// The working directory, when not the image's.
    pub working_dir: Option<String>,
    /// The user, when not the image's.
    pub user: Option<String>,
    /// Its health check, if it has one.
    pub health_check: Option<HealthCheck>,
    /// When its containers are restarted.
    pub restart: RestartPolicy,
    /// The services it waits for.
    pub depends_on: Vec<Dependency>,
    /// The memory limit per container, in bytes.
    pub memory_bytes: Option<u64>,
    /// The CPU limit per container, in billionths of a CPU.
    pub nano_cpus: Option<u64>,
    /// How many containers run it.
    pub replicas: u32,
    /// When its image is pulled.
    pub pull: PullPolicy,
}

impl ServiceSpec {
    /// Service `name` (id `id`) of `source` with nothing else set: no ports, volumes or
    /// variables; the image's command, entrypoint, working directory and user; no health
    /// check; restart `no`; no dependencies or limits; one replica, pulled when missing.
    pub fn new(id: impl Into<String>, name: impl Into<String>, source: ServiceSource) -> Self {
        ServiceSpec {
            id: id.into(),
            name: name.into(),
            source,
            ports: Vec::new(),
            volumes: Vec::new(),
            env: Vec::new(),
            command: None,
            entrypoint: None,
            working_dir: None,
            user: None,
            health_check: None,
            restart: RestartPolicy::No,
            depends_on: Vec::new(),
            memory_bytes: None,
            nano_cpus: None,
            replicas: 1,
            pull: PullPolicy::IfMissing,
        }
    }
}

/// A deployment as a runtime receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentSpec {
    /// The project's id.
    pub project_id: String,
    /// The project's name.
    pub project: String,
    /// The environment's id.
    pub environment_id: String,
    /// The environment's name.
    pub environment: String,
    /// The deployment's id.
    pub deployment_id: String,
    /// The deployment's name.
    pub deployment: String,
    /// Its services.
    pub services: Vec<ServiceSpec>,
    /// The environment's runtime settings.
    pub settings: Vec<(String, String)>,
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeAction {
    /// Creates something.
    Create,
    /// Changes something.
    Update,
    /// Removes something.
    Delete,
}

/// One change a plan holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What it does.
    pub action: ChangeAction,
    /// The kind of object.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// What applying a deployment would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentPlan {
    /// The changes.
    pub changes: Vec<Change>,
}

/// One step of applying, stopping, starting or destroying a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// What the next step needs; `None` once done.
    pub continuation: Option<Vec<u8>>,
    /// Lines for the people watching.
    pub progress: Vec<String>,
    /// Whether the operation is over.
    pub done: bool,
}

/// How a service is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// Not there.
    Missing,
    /// Starting.
    Starting,
    /// Running.
    Running,
    /// Running, but failing its health check.
    Unhealthy,
    /// Stopped.
    Stopped,
    /// Failed.
    Failed,
}

/// A service's health, as its health check tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceHealth {
    /// No health check, or nothing runs.
    None,
    /// No verdict yet.
    Starting,
    /// Its last check passed.
    Healthy,
    /// Its check keeps failing.
    Unhealthy,
}

/// One service's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The service's name.
    pub service: String,
    /// Its state.
    pub state: ServiceState,
    /// Details.
    pub message: String,
    /// Its health.
    pub health: ServiceHealth,
    /// How many times its containers were restarted.
    pub restarts: u32,
    /// When it entered its current state, in milliseconds since the Unix epoch.
    pub since_ms: Option<u64>,
    /// How many of its containers run.
    pub replicas_running: u32,
}

/// How each service of a deployment is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentStatus {
    /// One per service.
    pub services: Vec<ServiceStatus>,
}

/// One file of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFile {
    /// Its relative path.
    pub path: String,
    /// Its text.
    pub content: String,
}

/// A deployment as files to run without Komander.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The files.
    pub files: Vec<BundleFile>,
}
