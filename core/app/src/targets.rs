//! Targets: the Docker Engines `server` deployments run on. Instance admins register them (a
//! unix socket, or TCP with mutual TLS whose three PEMs are sealed for the target's row and
//! never shown again), set their policy and grant them to projects; a project's members list
//! the targets granted to it, and its environments may name one of them. At most one target
//! is the default, which environments that name none use.
//!
//! [`App::connect_target`] turns a stored target into what a Docker scope needs: a client
//! whose API version is negotiated, the server's one [`DockerGate`], and the policy, which
//! maps field by field onto [`DockerScope`]'s builder ([`TargetConnection::scope`]).

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use bollard::Docker;
use komander_domain::{
    Action, Facts, ProjectRef, TargetId,
    api::{
        JSON_SAFE_INTEGER, NewTarget, Page, PageQuery, Target, TargetEndpoint, TargetEndpointWrite,
        TargetGrant, TargetHealth, TargetPatch, TargetPolicy,
    },
    authorize,
    names::{ProjectName, TargetName},
    timestamps,
};
/// The server-wide bound on concurrent Docker operations ([`App::with_docker`] takes it).
pub use komander_plugin_host::capabilities::docker::DockerGate;
use komander_plugin_host::capabilities::{
    DeploymentIds,
    docker::{DockerScope, ResourceMaximums},
};
use komander_secrets::Aad;
use komander_store::{SealedTls, StoredEndpoint, TargetRecord};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tracing::{info, instrument};

use crate::{App, AppError, Caller, Paging, Result, error::named};

/// The name of the target Komander registers at start for the engine it finds.
pub const LOCAL_TARGET: &str = "local";

/// How long connecting to an engine (negotiating its API version) may take: an engine that
/// does not answer in this time is taken as absent.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long checking whether a target answers may take, connecting included: an admin page
/// waits for it.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// Seconds bollard waits for an engine's answer to one request.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// The most publish addresses a policy lists.
const MAX_PUBLISH_ADDRESSES: usize = 16;

/// The largest PEM accepted, per field: a CA bundle fits many times over.
const MAX_PEM_BYTES: usize = 64 * 1024;

/// The longest socket path or address accepted (a unix socket path is at most 108 bytes).
const MAX_ADDRESS_BYTES: usize = 255;

/// The data-directory folder holding each TLS target's key files, rewritten from the sealed
/// values at every connection.
pub const TARGET_FILES_DIR: &str = "targets";

/// Which sealed field of a target's row: the associated data its PEM is sealed with.
fn tls_aad<'a>(row: &'a str, field: &'static str) -> Aad<'a> {
    Aad {
        table: "targets",
        row,
        field,
    }
}

/// The three TLS fields: sealed field name, file name, request field.
const TLS_FIELDS: [(&str, &str, &str); 3] = [
    ("tls_ca", "ca.pem", "endpoint.ca_pem"),
    ("tls_cert", "cert.pem", "endpoint.cert_pem"),
    ("tls_key", "key.pem", "endpoint.key_pem"),
];

fn target_view(t: TargetRecord) -> Target {
    Target {
        id: t.id,
        name: t.name,
        endpoint: match t.endpoint {
            StoredEndpoint::Unix(socket) => TargetEndpoint::Unix { socket },
            StoredEndpoint::Tcp { address, .. } => TargetEndpoint::Tcp { address },
        },
        policy: TargetPolicy {
            bind_root: t.bind_root,
            publish_addresses: t.publish_addresses,
            max_memory_bytes: t.max_memory_bytes.and_then(|m| u64::try_from(m).ok()),
            max_nano_cpus: t.max_nano_cpus.and_then(|c| u64::try_from(c).ok()),
        },
        default: t.is_default,
        created_at: timestamps::from_millis(t.created_at),
        updated_at: timestamps::from_millis(t.updated_at),
    }
}

/// Checks a socket path: absolute, no `..`, no NUL, at most 108 bytes.
fn check_socket(socket: &str) -> Result<()> {
    let path = Path::new(socket);
    if !path.is_absolute()
        || socket.len() > 108
        || socket.contains('\0')
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(AppError::invalid(
            "endpoint.socket",
            format!(
                "socket {socket:?} is not an absolute path to a unix socket (at most 108 \
                 bytes, no '..')"
            ),
        ));
    }
    Ok(())
}

/// Checks a TCP address: `tcp://host:port`, the host a name or an IP, the port a number.
fn check_address(address: &str) -> Result<()> {
    let refused = || {
        AppError::invalid(
            "endpoint.address",
            format!("address {address:?} is not tcp://host:port"),
        )
    };
    let rest = address.strip_prefix("tcp://").ok_or_else(refused)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(refused)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host_ok = host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    if address.len() > MAX_ADDRESS_BYTES || !host_ok || port.parse::<u16>().is_err() {
        return Err(refused());
    }
    Ok(())
}

/// Checks that `pem` holds what `field` needs: one or more certificates, or one private key.
fn check_pem(field: &str, pem: &str) -> Result<()> {
    let refused = |what: &str| AppError::invalid(field, format!("{field} is not {what}"));
    if pem.len() > MAX_PEM_BYTES {
        return Err(refused("a PEM of at most 64 KiB"));
    }
    if field.ends_with("key_pem") {
        PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map(drop)
            .map_err(|_| refused("a PEM private key"))
    } else {
        let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| refused("a PEM certificate"))?;
        if certificates.is_empty() {
            return Err(refused("a PEM certificate"));
        }
        Ok(())
    }
}

/// Checks a policy: an absolute bind root other than `/` without `..`, at most 16 publish
/// addresses that are IP addresses, maximums above 0 that a signed 64-bit integer holds.
fn check_policy(policy: &TargetPolicy) -> Result<()> {
    if let Some(root) = &policy.bind_root {
        let path = Path::new(root);
        if !path.is_absolute()
            || path.parent().is_none()
            || root.contains('\0')
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(AppError::invalid(
                "policy.bind_root",
                format!(
                    "bind root {root:?} is not an absolute directory other than / without '..'"
                ),
            ));
        }
    }
    if policy.publish_addresses.len() > MAX_PUBLISH_ADDRESSES {
        return Err(AppError::invalid(
            "policy.publish_addresses",
            format!("at most {MAX_PUBLISH_ADDRESSES} publish addresses"),
        ));
    }
    for address in &policy.publish_addresses {
        if address.parse::<IpAddr>().is_err() {
            return Err(AppError::invalid(
                "policy.publish_addresses",
                format!("publish address {address:?} is not an IP address"),
            ));
        }
    }
    for (field, value) in [
        ("policy.max_memory_bytes", policy.max_memory_bytes),
        ("policy.max_nano_cpus", policy.max_nano_cpus),
    ] {
        if value.is_some_and(|v| v == 0 || v > JSON_SAFE_INTEGER) {
            return Err(AppError::invalid(
                field,
                format!("{field} is between 1 and {JSON_SAFE_INTEGER}"),
            ));
        }
    }
    Ok(())
}

/// An error and the chain of its causes, `: `-separated: a TLS refusal shows as the
/// certificate problem, not only as the HTTP client's "canceled".
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// What a connected target gives each Docker scope built on it.
pub struct TargetConnection {
    client: Docker,
    gate: DockerGate,
    bind_root: Option<PathBuf>,
    publish_addresses: Vec<IpAddr>,
    maximums: ResourceMaximums,
}

impl TargetConnection {
    /// The engine's client, its API version negotiated.
    pub fn client(&self) -> &Docker {
        &self.client
    }

    /// The Docker scope of one runtime call of `plugin` for the deployment `ids` on this
    /// target: the server's gate, the target's bind root, publish addresses and resource
    /// maximums.
    pub fn scope(&self, ids: DeploymentIds, plugin: &str) -> DockerScope {
        let scope = DockerScope::new(self.client.clone(), self.gate.clone(), ids, plugin)
            .with_publish_addresses(self.publish_addresses.iter().copied())
            .with_maximums(self.maximums);
        match &self.bind_root {
            Some(root) => scope.with_bind_root(root.clone()),
            None => scope,
        }
    }
}

impl std::fmt::Debug for TargetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetConnection")
            .field("bind_root", &self.bind_root)
            .field("publish_addresses", &self.publish_addresses)
            .field("maximums", &self.maximums)
            .finish_non_exhaustive()
    }
}

/// What [`App::register_local_target`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalTarget {
    /// The engine answered and is now the target `local` (the default unless another
    /// target already was).
    Registered,
    /// A target `local` exists: left as the admin configured it.
    Kept,
    /// The engine did not answer; nothing was registered.
    NoAnswer(String),
}

/// The refusal of an environment naming `target`, which does not exist or is not granted to
/// its project: the same answer for both, nothing is changed.
pub(crate) fn not_granted(target: &TargetName) -> AppError {
    AppError::invalid(
        "target",
        format!(
            "target {:?} is not granted to this project; an instance admin grants targets",
            target.as_str()
        ),
    )
}

/// Writes `contents` to `path` with mode 0600, replacing what was there atomically (a
/// connection reading the old file meanwhile reads it whole).
fn write_key_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("{}.tmp", uuid::Uuid::now_v7()));
    komander_secrets::write_private_file(&temporary, contents)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

impl App {
    /// Whether `caller` may manage targets (instance admins).
    fn may_manage_targets(caller: &Caller) -> Result<()> {
        authorize(&caller.actor(), Action::ManageTargets, &Facts::default())
            .map_err(|d| AppError::denied(d, String::new))
    }

    /// The target `name`, for an instance admin.
    async fn managed_target(&self, caller: &Caller, name: &str) -> Result<TargetRecord> {
        Self::may_manage_targets(caller)?;
        let what = || named("target", name);
        let name: TargetName = name.parse().map_err(|_| AppError::NotFound(what()))?;
        self.store
            .target(&name)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))
    }

    /// The stored endpoint for `endpoint`, checked, its PEMs sealed for the row `id`.
    fn endpoint(&self, id: TargetId, endpoint: TargetEndpointWrite) -> Result<StoredEndpoint> {
        match endpoint {
            TargetEndpointWrite::Unix { socket } => {
                check_socket(&socket)?;
                Ok(StoredEndpoint::Unix(socket))
            }
            TargetEndpointWrite::Tcp {
                address,
                ca_pem,
                cert_pem,
                key_pem,
            } => {
                check_address(&address)?;
                let row = id.to_string();
                let pems = [ca_pem, cert_pem, key_pem];
                for ((_, _, field), pem) in TLS_FIELDS.iter().zip(&pems) {
                    check_pem(field, pem)?;
                }
                let [ca, cert, key] = [0, 1, 2].map(|i| {
                    self.keyring
                        .seal(pems[i].as_bytes(), &tls_aad(&row, TLS_FIELDS[i].0))
                });
                Ok(StoredEndpoint::Tcp {
                    address,
                    tls: SealedTls { ca, cert, key },
                })
            }
        }
    }

    /// `POST /api/v1/targets` (instance admins): registers a Docker Engine.
    ///
    /// # Errors
    /// Forbidden; invalid input naming the field (socket path, address, a PEM, bind root,
    /// publish address, maximum); conflict on a taken name.
    #[instrument(skip_all, fields(actor = %caller.user.handle, target = %new.name))]
    pub async fn create_target(&self, caller: &Caller, new: NewTarget) -> Result<Target> {
        Self::may_manage_targets(caller)?;
        check_policy(&new.policy)?;
        let id = TargetId::new();
        let now = timestamps::to_millis(timestamps::now());
        let record = TargetRecord {
            id,
            name: new.name,
            endpoint: self.endpoint(id, new.endpoint)?,
            bind_root: new.policy.bind_root,
            publish_addresses: new.policy.publish_addresses,
            max_memory_bytes: new.policy.max_memory_bytes.map(|m| m as i64),
            max_nano_cpus: new.policy.max_nano_cpus.map(|c| c as i64),
            is_default: new.default,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(
            caller,
            None,
            "target.create",
            format!("target/{}", record.name),
            &["name", "endpoint", "policy", "default"],
        );
        self.store
            .create_target(&record, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "target"))?;
        info!("target registered");
        Ok(target_view(record))
    }

    /// `GET /api/v1/targets` (instance admins), by name: never TLS material.
    ///
    /// # Errors
    /// Forbidden, invalid paging.
    pub async fn list_targets(&self, caller: &Caller, query: &PageQuery) -> Result<Page<Target>> {
        Self::may_manage_targets(caller)?;
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_targets(&page).await?;
        paging.page(rows, |t| t.name.to_string(), |t| Ok(target_view(t)))
    }

    /// `GET /api/v1/targets/{target}` (instance admins): never TLS material.
    ///
    /// # Errors
    /// Forbidden, not found.
    pub async fn get_target(&self, caller: &Caller, name: &str) -> Result<Target> {
        Ok(target_view(self.managed_target(caller, name).await?))
    }

    /// `PATCH /api/v1/targets/{target}` (instance admins): changes what is given; a new
    /// endpoint replaces the TLS material whole.
    ///
    /// # Errors
    /// As [`App::create_target`], and not found.
    #[instrument(skip_all, fields(actor = %caller.user.handle, target = name))]
    pub async fn update_target(
        &self,
        caller: &Caller,
        name: &str,
        patch: TargetPatch,
    ) -> Result<Target> {
        let mut record = self.managed_target(caller, name).await?;
        let mut fields = Vec::new();
        if let Some(policy) = patch.policy {
            check_policy(&policy)?;
            record.bind_root = policy.bind_root;
            record.publish_addresses = policy.publish_addresses;
            record.max_memory_bytes = policy.max_memory_bytes.map(|m| m as i64);
            record.max_nano_cpus = policy.max_nano_cpus.map(|c| c as i64);
            fields.push("policy");
        }
        if let Some(endpoint) = patch.endpoint {
            record.endpoint = self.endpoint(record.id, endpoint)?;
            fields.push("endpoint");
        }
        if let Some(default) = patch.default {
            record.is_default = default;
            fields.push("default");
        }
        record.updated_at = timestamps::to_millis(timestamps::now());
        let audit = self.audit(
            caller,
            None,
            "target.update",
            format!("target/{}", record.name),
            &fields,
        );
        self.store
            .update_target(&record, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "target"))?;
        Ok(target_view(record))
    }

    /// `DELETE /api/v1/targets/{target}` (instance admins): deletes it and its grants.
    ///
    /// # Errors
    /// Forbidden, not found; conflict naming the environments that still name it.
    #[instrument(skip_all, fields(actor = %caller.user.handle, target = name))]
    pub async fn delete_target(&self, caller: &Caller, name: &str) -> Result<()> {
        let record = self.managed_target(caller, name).await?;
        let audit = self.audit(
            caller,
            None,
            "target.delete",
            format!("target/{}", record.name),
            &[],
        );
        self.store
            .delete_target(record.id, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "target"))?;
        self.forget_target_files(record.id);
        info!("target deleted");
        Ok(())
    }

    /// `GET /api/v1/targets/{target}/grants` (instance admins): the projects it is granted
    /// to, by name.
    ///
    /// # Errors
    /// Forbidden, not found.
    pub async fn target_grants(&self, caller: &Caller, name: &str) -> Result<Vec<ProjectName>> {
        let record = self.managed_target(caller, name).await?;
        Ok(self.store.target_grants(record.id).await?)
    }

    /// `POST /api/v1/targets/{target}/grants` (instance admins): lets the project's
    /// environments name the target. Idempotent.
    ///
    /// # Errors
    /// Forbidden; not found (the target or the project).
    #[instrument(skip_all, fields(actor = %caller.user.handle, target = name, project = %grant.project))]
    pub async fn grant_target(
        &self,
        caller: &Caller,
        name: &str,
        grant: TargetGrant,
    ) -> Result<()> {
        let record = self.managed_target(caller, name).await?;
        let (project, _) = self
            .store
            .project(&grant.project, caller.user.id)
            .await?
            .ok_or_else(|| AppError::NotFound(named("project", grant.project.as_str())))?;
        let audit = self.audit(
            caller,
            Some(project.id),
            "target.grant",
            format!("target/{}", record.name),
            &["project"],
        );
        let now = timestamps::to_millis(timestamps::now());
        self.store
            .grant_target(record.id, project.id, now, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "target"))?;
        Ok(())
    }

    /// `DELETE /api/v1/targets/{target}/grants/{project}` (instance admins).
    ///
    /// # Errors
    /// Forbidden; not found (target, project or grant); conflict naming the project's
    /// environments that still name the target.
    #[instrument(skip_all, fields(actor = %caller.user.handle, target = name, project = project))]
    pub async fn revoke_target(&self, caller: &Caller, name: &str, project: &str) -> Result<()> {
        let record = self.managed_target(caller, name).await?;
        let what = || named("project", project);
        let project_name: ProjectName = project.parse().map_err(|_| AppError::NotFound(what()))?;
        let (project, _) = self
            .store
            .project(&project_name, caller.user.id)
            .await?
            .ok_or_else(|| AppError::NotFound(what()))?;
        let audit = self.audit(
            caller,
            Some(project.id),
            "target.revoke",
            format!("target/{}", record.name),
            &["project"],
        );
        self.store
            .revoke_target(record.id, project.id, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "target"))
    }

    /// `GET /api/v1/projects/{project}/targets` (members): the targets granted to the
    /// project, by name; never TLS material.
    ///
    /// # Errors
    /// Not found unless a member; invalid paging.
    pub async fn list_project_targets(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        query: &PageQuery,
    ) -> Result<Page<Target>> {
        let scope = self
            .project_scope(caller, project, Action::ViewProject)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.project_targets(scope.project.id, &page).await?;
        paging.page(rows, |t| t.name.to_string(), |t| Ok(target_view(t)))
    }

    /// Whether target `name`'s engine answers (instance admins): connects as an operation
    /// would and pings it, within [`HEALTH_TIMEOUT`]. An engine that does not answer is an
    /// answer saying why, not an error.
    ///
    /// # Errors
    /// Forbidden, not found.
    pub async fn target_health(&self, caller: &Caller, name: &str) -> Result<TargetHealth> {
        let record = self.managed_target(caller, name).await?;
        let check = async {
            let connection = self.connect_target(&record).await?;
            let client = connection.client();
            client.ping().await.map_err(|e| AppError::Conflict {
                field: Some("target".into()),
                message: format!(
                    "the Docker Engine of target {name:?} does not answer a ping: {}",
                    with_causes(&e)
                ),
            })?;
            Ok::<_, AppError>(format!("answers (Docker API {})", client.client_version()))
        };
        Ok(match tokio::time::timeout(HEALTH_TIMEOUT, check).await {
            Ok(Ok(message)) => TargetHealth {
                reachable: true,
                message,
            },
            Ok(Err(e)) => TargetHealth {
                reachable: false,
                message: e.to_string(),
            },
            Err(_) => TargetHealth {
                reachable: false,
                message: format!(
                    "the Docker Engine of target {name:?} does not answer within {} s",
                    HEALTH_TIMEOUT.as_secs()
                ),
            },
        })
    }

    /// The id of the target `name` an environment names; whether it is granted to the
    /// environment's project the store checks in the write's transaction, and
    /// [`not_granted`] maps its refusal to the same answer as a target that does not exist.
    pub(crate) async fn target_for_environment(&self, name: &TargetName) -> Result<TargetId> {
        Ok(self
            .store
            .target(name)
            .await?
            .ok_or_else(|| not_granted(name))?
            .id)
    }

    /// Connects to `target`'s engine and negotiates the API version (Debian's daemon speaks
    /// 1.41 only), within [`CONNECT_TIMEOUT`]; a TLS target's PEMs are opened and written,
    /// 0600, under the data directory's `targets/<id>/` first (bollard reads key files only).
    ///
    /// # Errors
    /// Conflict on `target` naming it when the engine does not answer; internal when its
    /// sealed material does not open or its files cannot be written.
    pub async fn connect_target(&self, target: &TargetRecord) -> Result<TargetConnection> {
        let client = match &target.endpoint {
            StoredEndpoint::Unix(socket) => Docker::connect_with_unix(
                socket,
                REQUEST_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
            StoredEndpoint::Tcp { address, tls } => {
                let dir = self.write_target_files(target.id, tls)?;
                Docker::connect_with_ssl(
                    address,
                    &dir.join("key.pem"),
                    &dir.join("cert.pem"),
                    &dir.join("ca.pem"),
                    REQUEST_TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )
            }
        };
        let unanswered = |detail: String| AppError::Conflict {
            field: Some("target".into()),
            message: format!(
                "the Docker Engine of target {:?} does not answer: {detail}",
                target.name.as_str()
            ),
        };
        let client = client.map_err(|e| unanswered(with_causes(&e)))?;
        let client = tokio::time::timeout(CONNECT_TIMEOUT, client.negotiate_version())
            .await
            .map_err(|_| unanswered(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| unanswered(with_causes(&e)))?;
        // Checked when stored; a row that no longer parses allows nothing more.
        let publish_addresses = target
            .publish_addresses
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .collect();
        Ok(TargetConnection {
            client,
            gate: self.docker_gate.clone(),
            bind_root: target.bind_root.as_ref().map(PathBuf::from),
            publish_addresses,
            maximums: ResourceMaximums {
                memory_bytes: target.max_memory_bytes.and_then(|m| u64::try_from(m).ok()),
                nano_cpus: target.max_nano_cpus.and_then(|c| u64::try_from(c).ok()),
            },
        })
    }

    /// The directory of a TLS target's key files, each PEM opened from its sealed value and
    /// written 0600 (the directory 0700).
    fn write_target_files(&self, id: TargetId, tls: &SealedTls) -> Result<PathBuf> {
        let base = self
            .target_files
            .as_ref()
            .ok_or_else(|| AppError::fault("this instance has no folder for targets' key files"))?;
        let dir = base.join(id.to_string());
        let io = |e: std::io::Error| AppError::internal(format!("writing {}", dir.display()), e);
        std::fs::create_dir_all(&dir).map_err(io)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        let row = id.to_string();
        for ((field, file, _), sealed) in TLS_FIELDS.iter().zip([&tls.ca, &tls.cert, &tls.key]) {
            let pem = self.keyring.open(sealed, &tls_aad(&row, field))?;
            write_key_file(&dir.join(file), pem.expose().as_bytes()).map_err(io)?;
        }
        Ok(dir)
    }

    /// Removes a deleted target's key files; a failure is logged.
    fn forget_target_files(&self, id: TargetId) {
        if let Some(base) = &self.target_files {
            let dir = base.join(id.to_string());
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted target's key files");
            }
        }
    }

    /// At start: registers the engine at `host` (a unix socket path, or `unix://` and its
    /// path) as the target `local` when it answers, the default unless another target is,
    /// granted to no project. A target `local` that exists is left as the admin configured
    /// it.
    ///
    /// # Errors
    /// When the store fails or no instance admin exists to record it.
    pub async fn register_local_target(&self, host: &str) -> Result<LocalTarget> {
        let name: TargetName = LOCAL_TARGET.parse().expect("a valid target name");
        if self.store.target(&name).await?.is_some() {
            return Ok(LocalTarget::Kept);
        }
        let socket = host.strip_prefix("unix://").unwrap_or(host);
        if check_socket(socket).is_err() {
            return Ok(LocalTarget::NoAnswer(format!(
                "{host:?} is not a unix socket path"
            )));
        }
        let now = timestamps::to_millis(timestamps::now());
        let record = TargetRecord {
            id: TargetId::new(),
            name,
            endpoint: StoredEndpoint::Unix(socket.to_owned()),
            bind_root: None,
            publish_addresses: TargetPolicy::default().publish_addresses,
            max_memory_bytes: None,
            max_nano_cpus: None,
            is_default: self.store.default_target().await?.is_none(),
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = self.connect_target(&record).await {
            return Ok(LocalTarget::NoAnswer(e.to_string()));
        }
        let caller = self.system_caller().await?;
        let audit = self.audit(
            &caller,
            None,
            "target.create",
            format!("target/{LOCAL_TARGET}"),
            &["name", "endpoint", "policy", "default"],
        );
        match self.store.create_target(&record, &audit).await {
            Ok(()) => Ok(LocalTarget::Registered),
            // Another server sharing the database registered it meanwhile.
            Err(komander_store::StoreError::Conflict { .. }) => Ok(LocalTarget::Kept),
            Err(e) => Err(e.into()),
        }
    }
}
