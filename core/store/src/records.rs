//! What the store reads and writes, as typed records, and the raw rows they are decoded from.
//! Times are milliseconds since the Unix epoch, as stored.

use std::str::FromStr;

use komander_domain::{
    AuditId, DeploymentId, EnvironmentId, Executor, InvitationId, ProjectId, Role, ServiceId,
    TargetId, TokenId, UserId, VariableId,
    api::UserKind,
    names::{
        DeploymentName, EnvironmentName, ProjectName, RuntimeId, ServiceName, TargetName,
        UserHandle, VariableName,
    },
};

use crate::StoreError;

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Unique handle.
    pub handle: UserHandle,
    /// Display name.
    pub display_name: String,
    /// Human or service user.
    pub kind: UserKind,
    /// Administers the instance.
    pub instance_admin: bool,
    /// Creation time (ms).
    pub created_at: i64,
}

/// An API token: only its SHA-256 is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Id.
    pub id: TokenId,
    /// Its holder.
    pub user_id: UserId,
    /// What it is for.
    pub name: String,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// Creation time (ms).
    pub created_at: i64,
}

/// A browser session of the web UI: only the SHA-256 of its id is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session id.
    pub id_hash: [u8; 32],
    /// The signed-in user.
    pub user_id: UserId,
    /// The session's CSRF token, sent back in forms.
    pub csrf_token: String,
    /// When the user signed in (ms).
    pub created_at: i64,
    /// When the session was last used (ms), updated at most once a minute.
    pub last_seen_at: i64,
}

/// A one-time sign-in link: only the SHA-256 of its token is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInLinkRecord {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The user it signs in.
    pub user_id: UserId,
    /// Creation time (ms).
    pub created_at: i64,
    /// Expiry (ms): it is refused from this time on.
    pub expires_at: i64,
}

/// A project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Id.
    pub id: ProjectId,
    /// Slug.
    pub name: ProjectName,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Its creator, made Admin at creation.
    pub created_by: UserId,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A member of a project, with the user's handle and display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    /// The user.
    pub user_id: UserId,
    /// The user's handle.
    pub handle: UserHandle,
    /// The user's display name.
    pub display_name: String,
    /// The role.
    pub role: Role,
    /// When they joined (ms).
    pub created_at: i64,
}

/// An invitation link; only its token's SHA-256 is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRecord {
    /// Id.
    pub id: InvitationId,
    /// The project.
    pub project_id: ProjectId,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The role it grants.
    pub role: Role,
    /// Its creator's handle (read back; ignored on insert).
    pub created_by_handle: Option<UserHandle>,
    /// Its creator.
    pub created_by: UserId,
    /// Creation time (ms).
    pub created_at: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// Who accepted it (handle).
    pub accepted_by: Option<UserHandle>,
}

/// An environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentRecord {
    /// Id.
    pub id: EnvironmentId,
    /// The project.
    pub project_id: ProjectId,
    /// Slug.
    pub name: EnvironmentName,
    /// Display name.
    pub display_name: String,
    /// The runtime plugin's full id.
    pub runtime: RuntimeId,
    /// Executor.
    pub executor: Executor,
    /// The target it names (granted to its project); `None` uses the default target.
    pub target_id: Option<TargetId>,
    /// That target's name (read back; ignored on write).
    pub target_name: Option<TargetName>,
    /// Settings as a JSON object of strings.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A deployment, with its owner's handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentRecord {
    /// Id.
    pub id: DeploymentId,
    /// The project (denormalized for visibility filters).
    pub project_id: ProjectId,
    /// The environment.
    pub environment_id: EnvironmentId,
    /// Slug.
    pub name: DeploymentName,
    /// Display name.
    pub display_name: String,
    /// Owner.
    pub owner_id: UserId,
    /// Owner's handle (read back; ignored on insert).
    pub owner_handle: Option<UserHandle>,
    /// Shared with the project.
    pub shared: bool,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    /// Id.
    pub id: ServiceId,
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// Slug.
    pub name: ServiceName,
    /// Image reference.
    pub image: String,
    /// Ports, as JSON.
    pub ports: serde_json::Value,
    /// Volumes, as JSON.
    pub volumes: serde_json::Value,
    /// How it runs (command, health check, limits…), as a JSON object; `{}` for the
    /// defaults.
    pub settings: serde_json::Value,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A deployment with all its services and their variables, read in one transaction: the spec
/// a runtime call starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentWithServices {
    /// The deployment.
    pub deployment: DeploymentRecord,
    /// Its services, in name order.
    pub services: Vec<ServiceWithVariables>,
}

/// A service with all its variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceWithVariables {
    /// The service.
    pub service: ServiceRecord,
    /// Its variables, in name order.
    pub variables: Vec<VariableRecord>,
}

/// A variable's stored value.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredValue {
    /// No value (a secret declared, or cleared by sharing).
    Empty,
    /// A plain value.
    Plain(String),
    /// A secret's ciphertext, sealed for this row's id.
    Sealed(Vec<u8>),
}

impl std::fmt::Debug for StoredValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredValue::Empty => f.write_str("Empty"),
            StoredValue::Plain(_) => f.write_str("Plain(..)"),
            StoredValue::Sealed(_) => f.write_str("Sealed(..)"),
        }
    }
}

/// A service's variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableRecord {
    /// Id: the associated data its ciphertext is sealed with.
    pub id: VariableId,
    /// The service.
    pub service_id: ServiceId,
    /// Name.
    pub name: VariableName,
    /// Secret or plain.
    pub secret: bool,
    /// The value.
    pub value: StoredValue,
    /// Last change (ms).
    pub updated_at: i64,
}

/// An installed plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRecord {
    /// The manifest's id, unique.
    pub id: String,
    /// Its version.
    pub version: String,
    /// `runtime` or `git-provider`.
    pub kind: String,
    /// For runtimes: `docker`, `kubernetes` or `remote`.
    pub world: Option<String>,
    /// SHA-256 of the component, hex: its file is `<digest>.wasm`.
    pub digest: String,
    /// The manifest, as embedded (TOML).
    pub manifest: String,
    /// The capabilities it asks for.
    pub requested: Vec<String>,
    /// The capabilities granted.
    pub granted: Vec<String>,
    /// `pending-grant`, `enabled` or `disabled`.
    pub status: komander_domain::api::PluginStatus,
    /// Who installed (or last upgraded) it.
    pub installed_by: UserId,
    /// When it was installed (ms).
    pub installed_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// The install's admin settings: a JSON object, validated against the manifest's config
    /// schema before it is stored.
    pub config: String,
    /// SHA-256 of the precompiled artifact the server wrote for this build, hex: a cached
    /// artifact is loaded only when it has this digest. `None` until one is written.
    pub artifact: Option<String>,
}

/// An HTTP connection configured for a plugin install.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// Id: the associated data its credential is sealed with.
    pub id: String,
    /// The plugin install.
    pub plugin_id: String,
    /// The name the plugin uses.
    pub name: String,
    /// Requests go below this URL.
    pub base_url: String,
    /// The sealed `Authorization` value, if any.
    pub credential: Option<Vec<u8>>,
    /// May reach private, loopback and link-local addresses.
    pub allow_private: bool,
    /// Allowed path prefixes (empty: all).
    pub path_prefixes: Vec<String>,
    /// Requests per minute, if limited.
    pub requests_per_minute: Option<i64>,
    /// Last change (ms).
    pub updated_at: i64,
}

impl std::fmt::Debug for ConnectionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("plugin_id", &self.plugin_id)
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// A target: a Docker Engine `server` deployments run on, with its policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRecord {
    /// Id: the associated data its TLS material is sealed with.
    pub id: TargetId,
    /// Unique slug.
    pub name: TargetName,
    /// How the engine is reached.
    pub endpoint: StoredEndpoint,
    /// The absolute directory bind mounts lie under; `None` allows none.
    pub bind_root: Option<String>,
    /// The IP addresses ports may be published on.
    pub publish_addresses: Vec<String>,
    /// The largest memory limit a container may ask for, in bytes.
    pub max_memory_bytes: Option<i64>,
    /// The largest CPU limit, in billionths of a CPU.
    pub max_nano_cpus: Option<i64>,
    /// Whether environments that name no target use it.
    pub is_default: bool,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// How a target's engine is reached, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredEndpoint {
    /// A unix socket at this absolute path.
    Unix(String),
    /// `tcp://host:port` with mutual TLS.
    Tcp {
        /// `tcp://host:port`.
        address: String,
        /// The TLS material, each PEM sealed for the target's id.
        tls: SealedTls,
    },
}

/// A TLS target's three PEMs, each sealed for the target's row (field `tls_ca`, `tls_cert`,
/// `tls_key`). `Debug` prints none of them.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTls {
    /// The CA certificate(s).
    pub ca: Vec<u8>,
    /// The client certificate.
    pub cert: Vec<u8>,
    /// The client key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for SealedTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedTls(***)")
    }
}

/// An audit entry: who did what to which target, which fields changed; never values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Id (time-ordered).
    pub id: AuditId,
    /// The project, for project-level entries.
    pub project_id: Option<ProjectId>,
    /// Who.
    pub actor_id: UserId,
    /// Who, by handle (kept even if the user goes).
    pub actor_handle: String,
    /// What, such as `deployment.share`.
    pub action: String,
    /// Which object, as a path of slugs.
    pub target: String,
    /// Which fields changed.
    pub fields: Vec<String>,
    /// When (ms).
    pub at: i64,
    /// The one user who may see the entry, when it names a private deployment (its own, its
    /// services' or its variables'): that deployment's owner. `None` for entries every reader
    /// of the log sees.
    pub private_to: Option<UserId>,
}

/// Parses a stored value; [`StoreError::Corrupt`] naming `table` and the value when it does not
/// parse.
pub(crate) fn parse<T: FromStr>(table: &'static str, value: &str) -> Result<T, StoreError> {
    value.parse().map_err(|_| StoreError::Corrupt {
        table,
        detail: format!("unexpected value {value:?}"),
    })
}

/// Parses a stored value with `parse`; [`StoreError::Corrupt`] naming `table` and the value
/// when it answers `None`.
pub(crate) fn parse_with<T>(
    table: &'static str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(value).ok_or_else(|| StoreError::Corrupt {
        table,
        detail: format!("unexpected value {value:?}"),
    })
}

fn hash(table: &'static str, bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        table,
        detail: "a token hash is not 32 bytes".into(),
    })
}

fn json<T: serde::de::DeserializeOwned>(table: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table,
        detail: e.to_string(),
    })
}

pub(crate) mod rows {
    //! Raw rows as the database returns them, decoded into records with validation.

    use super::*;

    #[derive(sqlx::FromRow)]
    pub(crate) struct UserRow {
        id: String,
        handle: String,
        display_name: String,
        kind: String,
        instance_admin: bool,
        created_at: i64,
    }

    impl TryFrom<UserRow> for UserRecord {
        type Error = StoreError;
        fn try_from(r: UserRow) -> Result<Self, StoreError> {
            Ok(UserRecord {
                id: parse("users", &r.id)?,
                handle: parse("users", &r.handle)?,
                display_name: r.display_name,
                kind: parse_with("users", &r.kind, |k| match k {
                    "human" => Some(UserKind::Human),
                    "service" => Some(UserKind::Service),
                    _ => None,
                })?,
                instance_admin: r.instance_admin,
                created_at: r.created_at,
            })
        }
    }

    /// A session with its user's columns (the session's own times as `session_created_at`
    /// and `last_seen_at`).
    #[derive(sqlx::FromRow)]
    pub(crate) struct SessionRow {
        id_hash: Vec<u8>,
        csrf_token: String,
        session_created_at: i64,
        last_seen_at: i64,
        #[sqlx(flatten)]
        user: UserRow,
    }

    impl TryFrom<SessionRow> for (SessionRecord, UserRecord) {
        type Error = StoreError;
        fn try_from(r: SessionRow) -> Result<Self, StoreError> {
            let user = UserRecord::try_from(r.user)?;
            let session = SessionRecord {
                id_hash: hash("web_sessions", r.id_hash)?,
                user_id: user.id,
                csrf_token: r.csrf_token,
                created_at: r.session_created_at,
                last_seen_at: r.last_seen_at,
            };
            Ok((session, user))
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct TokenRow {
        id: String,
        user_id: String,
        name: String,
        token_hash: Vec<u8>,
        created_at: i64,
    }

    impl TryFrom<TokenRow> for TokenRecord {
        type Error = StoreError;
        fn try_from(r: TokenRow) -> Result<Self, StoreError> {
            Ok(TokenRecord {
                id: parse("api_tokens", &r.id)?,
                user_id: parse("api_tokens", &r.user_id)?,
                name: r.name,
                token_hash: hash("api_tokens", r.token_hash)?,
                created_at: r.created_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct ProjectRow {
        id: String,
        name: String,
        display_name: String,
        description: String,
        created_by: String,
        created_at: i64,
        updated_at: i64,
        pub(crate) role: Option<String>,
    }

    impl ProjectRow {
        pub(crate) fn decode(self) -> Result<(ProjectRecord, Option<Role>), StoreError> {
            let role = self
                .role
                .as_deref()
                .map(|r| parse_with("members", r, Role::parse))
                .transpose()?;
            Ok((
                ProjectRecord {
                    id: parse("projects", &self.id)?,
                    name: parse("projects", &self.name)?,
                    display_name: self.display_name,
                    description: self.description,
                    created_by: parse("projects", &self.created_by)?,
                    created_at: self.created_at,
                    updated_at: self.updated_at,
                },
                role,
            ))
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct MemberRow {
        user_id: String,
        handle: String,
        display_name: String,
        role: String,
        created_at: i64,
    }

    impl TryFrom<MemberRow> for MemberRecord {
        type Error = StoreError;
        fn try_from(r: MemberRow) -> Result<Self, StoreError> {
            Ok(MemberRecord {
                user_id: parse("members", &r.user_id)?,
                handle: parse("members", &r.handle)?,
                display_name: r.display_name,
                role: parse_with("members", &r.role, Role::parse)?,
                created_at: r.created_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct InvitationRow {
        id: String,
        project_id: String,
        token_hash: Vec<u8>,
        role: String,
        created_by: String,
        created_by_handle: String,
        created_at: i64,
        expires_at: i64,
        accepted_by: Option<String>,
    }

    impl TryFrom<InvitationRow> for InvitationRecord {
        type Error = StoreError;
        fn try_from(r: InvitationRow) -> Result<Self, StoreError> {
            Ok(InvitationRecord {
                id: parse("invitations", &r.id)?,
                project_id: parse("invitations", &r.project_id)?,
                token_hash: hash("invitations", r.token_hash)?,
                role: parse_with("invitations", &r.role, Role::parse)?,
                created_by: parse("invitations", &r.created_by)?,
                created_by_handle: Some(parse("invitations", &r.created_by_handle)?),
                created_at: r.created_at,
                expires_at: r.expires_at,
                accepted_by: r
                    .accepted_by
                    .as_deref()
                    .map(|h| parse("invitations", h))
                    .transpose()?,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct EnvironmentRow {
        id: String,
        project_id: String,
        name: String,
        display_name: String,
        runtime: String,
        executor: String,
        target_id: Option<String>,
        target_name: Option<String>,
        settings: String,
        created_at: i64,
        updated_at: i64,
    }

    impl TryFrom<EnvironmentRow> for EnvironmentRecord {
        type Error = StoreError;
        fn try_from(r: EnvironmentRow) -> Result<Self, StoreError> {
            Ok(EnvironmentRecord {
                id: parse("environments", &r.id)?,
                project_id: parse("environments", &r.project_id)?,
                name: parse("environments", &r.name)?,
                display_name: r.display_name,
                runtime: parse("environments", &r.runtime)?,
                executor: parse_with("environments", &r.executor, Executor::parse)?,
                target_id: r
                    .target_id
                    .as_deref()
                    .map(|t| parse("environments", t))
                    .transpose()?,
                target_name: r
                    .target_name
                    .as_deref()
                    .map(|t| parse("environments", t))
                    .transpose()?,
                settings: json("environments", &r.settings)?,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct DeploymentRow {
        id: String,
        project_id: String,
        environment_id: String,
        name: String,
        display_name: String,
        owner_id: String,
        owner_handle: String,
        shared: bool,
        created_at: i64,
        updated_at: i64,
    }

    impl TryFrom<DeploymentRow> for DeploymentRecord {
        type Error = StoreError;
        fn try_from(r: DeploymentRow) -> Result<Self, StoreError> {
            Ok(DeploymentRecord {
                id: parse("deployments", &r.id)?,
                project_id: parse("deployments", &r.project_id)?,
                environment_id: parse("deployments", &r.environment_id)?,
                name: parse("deployments", &r.name)?,
                display_name: r.display_name,
                owner_id: parse("deployments", &r.owner_id)?,
                owner_handle: Some(parse("deployments", &r.owner_handle)?),
                shared: r.shared,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct ServiceRow {
        id: String,
        deployment_id: String,
        name: String,
        image: String,
        ports: String,
        volumes: String,
        settings: String,
        created_at: i64,
        updated_at: i64,
    }

    impl TryFrom<ServiceRow> for ServiceRecord {
        type Error = StoreError;
        fn try_from(r: ServiceRow) -> Result<Self, StoreError> {
            Ok(ServiceRecord {
                id: parse("services", &r.id)?,
                deployment_id: parse("services", &r.deployment_id)?,
                name: parse("services", &r.name)?,
                image: r.image,
                ports: json("services", &r.ports)?,
                volumes: json("services", &r.volumes)?,
                settings: json("services", &r.settings)?,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct VariableRow {
        id: String,
        service_id: String,
        name: String,
        secret: bool,
        value: Option<String>,
        sealed: Option<Vec<u8>>,
        updated_at: i64,
    }

    impl TryFrom<VariableRow> for VariableRecord {
        type Error = StoreError;
        fn try_from(r: VariableRow) -> Result<Self, StoreError> {
            Ok(VariableRecord {
                id: parse("variables", &r.id)?,
                service_id: parse("variables", &r.service_id)?,
                name: parse("variables", &r.name)?,
                secret: r.secret,
                value: match (r.value, r.sealed) {
                    (None, None) => StoredValue::Empty,
                    (Some(v), None) => StoredValue::Plain(v),
                    (None, Some(s)) => StoredValue::Sealed(s),
                    (Some(_), Some(_)) => {
                        return Err(StoreError::Corrupt {
                            table: "variables",
                            detail: "both a value and a ciphertext".into(),
                        });
                    }
                },
                updated_at: r.updated_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct PluginRow {
        id: String,
        version: String,
        kind: String,
        world: Option<String>,
        digest: String,
        manifest: String,
        requested: String,
        granted: String,
        status: String,
        installed_by: String,
        installed_at: i64,
        updated_at: i64,
        config: String,
        artifact_sha256: Option<String>,
    }

    impl TryFrom<PluginRow> for PluginRecord {
        type Error = StoreError;
        fn try_from(r: PluginRow) -> Result<Self, StoreError> {
            Ok(PluginRecord {
                id: r.id,
                version: r.version,
                kind: r.kind,
                world: r.world,
                digest: r.digest,
                manifest: r.manifest,
                requested: json("plugins", &r.requested)?,
                granted: json("plugins", &r.granted)?,
                status: parse_with(
                    "plugins",
                    &r.status,
                    komander_domain::api::PluginStatus::parse,
                )?,
                installed_by: parse("plugins", &r.installed_by)?,
                installed_at: r.installed_at,
                updated_at: r.updated_at,
                config: r.config,
                artifact: r.artifact_sha256,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct ConnectionRow {
        id: String,
        plugin_id: String,
        name: String,
        base_url: String,
        credential: Option<Vec<u8>>,
        allow_private: bool,
        path_prefixes: String,
        requests_per_minute: Option<i64>,
        updated_at: i64,
    }

    impl TryFrom<ConnectionRow> for ConnectionRecord {
        type Error = StoreError;
        fn try_from(r: ConnectionRow) -> Result<Self, StoreError> {
            Ok(ConnectionRecord {
                id: r.id,
                plugin_id: r.plugin_id,
                name: r.name,
                base_url: r.base_url,
                credential: r.credential,
                allow_private: r.allow_private,
                path_prefixes: json("plugin_connections", &r.path_prefixes)?,
                requests_per_minute: r.requests_per_minute,
                updated_at: r.updated_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct TargetRow {
        id: String,
        name: String,
        kind: String,
        address: String,
        tls_ca: Option<Vec<u8>>,
        tls_cert: Option<Vec<u8>>,
        tls_key: Option<Vec<u8>>,
        bind_root: Option<String>,
        publish_addresses: String,
        max_memory_bytes: Option<i64>,
        max_nano_cpus: Option<i64>,
        is_default: bool,
        created_at: i64,
        updated_at: i64,
    }

    impl TryFrom<TargetRow> for TargetRecord {
        type Error = StoreError;
        fn try_from(r: TargetRow) -> Result<Self, StoreError> {
            let endpoint = match (r.kind.as_str(), r.tls_ca, r.tls_cert, r.tls_key) {
                ("unix", None, None, None) => StoredEndpoint::Unix(r.address),
                ("tcp", Some(ca), Some(cert), Some(key)) => StoredEndpoint::Tcp {
                    address: r.address,
                    tls: SealedTls { ca, cert, key },
                },
                (kind, ..) => {
                    return Err(StoreError::Corrupt {
                        table: "targets",
                        detail: format!("a {kind:?} target with the wrong TLS columns"),
                    });
                }
            };
            Ok(TargetRecord {
                id: parse("targets", &r.id)?,
                name: parse("targets", &r.name)?,
                endpoint,
                bind_root: r.bind_root,
                publish_addresses: json("targets", &r.publish_addresses)?,
                max_memory_bytes: r.max_memory_bytes,
                max_nano_cpus: r.max_nano_cpus,
                is_default: r.is_default,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        }
    }

    #[derive(sqlx::FromRow)]
    pub(crate) struct AuditRow {
        id: String,
        project_id: Option<String>,
        actor_id: String,
        actor_handle: String,
        action: String,
        target: String,
        fields: String,
        at: i64,
        private_to: Option<String>,
    }

    impl TryFrom<AuditRow> for AuditRecord {
        type Error = StoreError;
        fn try_from(r: AuditRow) -> Result<Self, StoreError> {
            Ok(AuditRecord {
                id: parse("audit_log", &r.id)?,
                project_id: r
                    .project_id
                    .as_deref()
                    .map(|p| parse("audit_log", p))
                    .transpose()?,
                actor_id: parse("audit_log", &r.actor_id)?,
                actor_handle: r.actor_handle,
                action: r.action,
                target: r.target,
                fields: json("audit_log", &r.fields)?,
                at: r.at,
                private_to: r
                    .private_to
                    .as_deref()
                    .map(|u| parse("audit_log", u))
                    .transpose()?,
            })
        }
    }
}
