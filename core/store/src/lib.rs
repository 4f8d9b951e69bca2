//! Komander's storage: one [`Store`] trait, implemented for SQLite (the default, a file in the
//! data directory) and PostgreSQL (`KOMANDER_DATABASE_URL=postgres://…`).
//!
//! SQL lives only here. Every write is one transaction that also writes its audit entry, so an
//! audited change is never half-done. Unique violations come back as [`StoreError::Conflict`]
//! naming the field; lists are keyset-paginated ([`PageRequest`]) and apply the caller's
//! [`Visibility`](komander_domain::Visibility) in SQL.
//!
//! It depends on the domain crate only; it knows nothing of HTTP, secrets' keys or plugins.
//!
//! ```no_run
//! # async fn demo() -> Result<(), komander_store::StoreError> {
//! let store = komander_store::connect(None, std::path::Path::new("./komander-data")).await?;
//! assert_eq!(store.count_users().await?, 0);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod backend;
mod error;
mod postgres;
mod records;
mod sqlite;

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, EnvironmentId, InvitationId, ProjectId, Role, ServiceId, TokenId, UserId,
    Visibility,
    names::{DeploymentName, EnvironmentName, ProjectName, ServiceName, UserHandle, VariableName},
};

pub use error::StoreError;
pub use postgres::PostgresStore;
pub use records::*;
pub use sqlite::SqliteStore;

/// The result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A page of a keyset-paginated list: up to `limit` items after the key `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: u32,
    /// The sort key of the last item of the previous page.
    pub after: Option<String>,
}

/// The most a plugin's kv scope may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvQuota {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// Opens the configured database and runs its migrations: PostgreSQL when `database_url`
/// starts with `postgres://` or `postgresql://`, otherwise SQLite at `database_url` (a
/// `sqlite:` URL) or, when it is `None`, `komander.db` in `data_dir`.
///
/// # Errors
/// [`StoreError::Database`] when the database cannot be opened or migrated.
pub async fn connect(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PostgresStore::connect(url).await?))
        }
        Some(url) => Ok(Arc::new(SqliteStore::connect_url(url).await?)),
        None => Ok(Arc::new(
            SqliteStore::open(&data_dir.join("komander.db")).await?,
        )),
    }
}

/// Everything Komander stores. Implemented by [`SqliteStore`] and [`PostgresStore`].
///
/// Lookups answer `Ok(None)` for what does not exist; writes answer [`StoreError::NotFound`]
/// when their target vanished, [`StoreError::Conflict`] for taken names and violated
/// invariants. Every write takes the [`AuditRecord`] it writes in the same transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is (`sqlite` or `postgres`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// How many users exist.
    async fn count_users(&self) -> Result<i64>;

    /// Creates a user, with its first API token when given.
    async fn create_user(
        &self,
        user: &UserRecord,
        token: Option<&TokenRecord>,
        audit: Option<&AuditRecord>,
    ) -> Result<()>;

    /// Makes sure `token` exists for `user` (creating the user when its handle is free, making
    /// it an instance admin when it exists): used for the bootstrap token.
    async fn ensure_user_token(&self, user: &UserRecord, token: &TokenRecord) -> Result<()>;

    /// The user with this handle.
    async fn user_by_handle(&self, handle: &UserHandle) -> Result<Option<UserRecord>>;

    /// The user holding the token with this SHA-256.
    async fn user_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<UserRecord>>;

    /// Users in handle order.
    async fn list_users(&self, page: &PageRequest) -> Result<Vec<UserRecord>>;

    /// Creates an API token.
    async fn create_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<()>;

    /// A user's tokens in id order.
    async fn list_tokens(&self, user: UserId, page: &PageRequest) -> Result<Vec<TokenRecord>>;

    /// Revokes a user's token.
    async fn delete_token(&self, user: UserId, token: TokenId, audit: &AuditRecord) -> Result<()>;

    /// Creates a project with `project.created_by` as its Admin.
    async fn create_project(&self, project: &ProjectRecord, audit: &AuditRecord) -> Result<()>;

    /// The project named `name`, with `viewer`'s role in it (`None`: not a member).
    async fn project(
        &self,
        name: &ProjectName,
        viewer: UserId,
    ) -> Result<Option<(ProjectRecord, Option<Role>)>>;

    /// The projects `visibility` sees, in name order, with the viewer's role.
    async fn list_projects(
        &self,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<(ProjectRecord, Role)>>;

    /// Saves a project's display name and description.
    async fn update_project(&self, project: &ProjectRecord, audit: &AuditRecord) -> Result<()>;

    /// Deletes a project and everything in it (never anything in a git provider).
    async fn delete_project(&self, project: ProjectId, audit: &AuditRecord) -> Result<()>;

    /// Members in handle order.
    async fn list_members(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<MemberRecord>>;

    /// The member with this handle.
    async fn member(&self, project: ProjectId, handle: &UserHandle)
    -> Result<Option<MemberRecord>>;

    /// Adds a member; [`StoreError::Conflict`] when already one.
    async fn add_member(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Changes a member's role; refuses to demote the last Admin.
    async fn set_member_role(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Removes a member and deletes their private deployments in the project, returning how
    /// many. Refuses to remove the last Admin, and, unless `force`, a member who still has
    /// private deployments (the conflict names the count).
    async fn remove_member(
        &self,
        project: ProjectId,
        user: UserId,
        force: bool,
        audit: &AuditRecord,
    ) -> Result<u64>;

    /// Creates an invitation.
    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// A project's invitations, newest first.
    async fn list_invitations(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<InvitationRecord>>;

    /// Revokes an invitation.
    async fn delete_invitation(
        &self,
        project: ProjectId,
        invitation: InvitationId,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Accepts the invitation with this token hash for `user` at `now_ms`: makes them a
    /// member and marks the invitation used, in one transaction. Answers the project's name.
    /// [`StoreError::NotFound`] when unknown, used or expired; [`StoreError::Conflict`] when
    /// the user is already a member.
    async fn accept_invitation(
        &self,
        token_hash: &[u8; 32],
        user: &UserRecord,
        now_ms: i64,
    ) -> Result<ProjectName>;

    /// Creates an environment.
    async fn create_environment(
        &self,
        environment: &EnvironmentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// A project's environment by name.
    async fn environment(
        &self,
        project: ProjectId,
        name: &EnvironmentName,
    ) -> Result<Option<EnvironmentRecord>>;

    /// A project's environments in name order.
    async fn list_environments(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<EnvironmentRecord>>;

    /// Saves an environment's display name, executor and settings.
    async fn update_environment(
        &self,
        environment: &EnvironmentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes an environment. Unless `force`, refuses one that holds deployments (the
    /// conflict names the count); with `force`, deletes them too and answers how many.
    async fn delete_environment(
        &self,
        environment: EnvironmentId,
        force: bool,
        audit: &AuditRecord,
    ) -> Result<u64>;

    /// Creates a deployment.
    async fn create_deployment(
        &self,
        deployment: &DeploymentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// An environment's deployment by name, whoever owns it (authorization decides who sees it).
    async fn deployment(
        &self,
        environment: EnvironmentId,
        name: &DeploymentName,
    ) -> Result<Option<DeploymentRecord>>;

    /// The deployments of an environment that `visibility` sees (shared ones and the viewer's
    /// own), in name order.
    async fn list_deployments(
        &self,
        environment: EnvironmentId,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>>;

    /// Saves a deployment's display name.
    async fn update_deployment(
        &self,
        deployment: &DeploymentRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes a deployment with its services and variables.
    async fn delete_deployment(&self, deployment: DeploymentId, audit: &AuditRecord) -> Result<()>;

    /// Shares a deployment and clears every secret variable value in it, in one transaction;
    /// answers how many values were cleared. [`StoreError::Conflict`] when already shared.
    async fn share_deployment(
        &self,
        deployment: DeploymentId,
        now_ms: i64,
        audit: &AuditRecord,
    ) -> Result<u64>;

    /// Creates a service.
    async fn create_service(&self, service: &ServiceRecord, audit: &AuditRecord) -> Result<()>;

    /// A deployment's service by name.
    async fn service(
        &self,
        deployment: DeploymentId,
        name: &ServiceName,
    ) -> Result<Option<ServiceRecord>>;

    /// A deployment's services in name order.
    async fn list_services(
        &self,
        deployment: DeploymentId,
        page: &PageRequest,
    ) -> Result<Vec<ServiceRecord>>;

    /// Saves a service's image, ports and volumes.
    async fn update_service(&self, service: &ServiceRecord, audit: &AuditRecord) -> Result<()>;

    /// Deletes a service with its variables.
    async fn delete_service(&self, service: ServiceId, audit: &AuditRecord) -> Result<()>;

    /// A service's variable by name.
    async fn variable(
        &self,
        service: ServiceId,
        name: &VariableName,
    ) -> Result<Option<VariableRecord>>;

    /// A service's variables in name order.
    async fn list_variables(
        &self,
        service: ServiceId,
        page: &PageRequest,
    ) -> Result<Vec<VariableRecord>>;

    /// Every variable of every service of a deployment, by service then name.
    async fn deployment_variables(&self, deployment: DeploymentId) -> Result<Vec<VariableRecord>>;

    /// Creates or replaces a variable (keyed by service and name; the row takes
    /// `variable.id`, the id its ciphertext was sealed for).
    async fn put_variable(&self, variable: &VariableRecord, audit: &AuditRecord) -> Result<()>;

    /// Deletes a variable.
    async fn delete_variable(
        &self,
        service: ServiceId,
        name: &VariableName,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Records a new plugin; [`StoreError::Conflict`] when one with its id is installed.
    async fn create_plugin(&self, plugin: &PluginRecord, audit: &AuditRecord) -> Result<()>;

    /// Saves a plugin's version, digest, manifest, grants and status.
    async fn update_plugin(&self, plugin: &PluginRecord, audit: &AuditRecord) -> Result<()>;

    /// The plugin with this id.
    async fn plugin(&self, id: &str) -> Result<Option<PluginRecord>>;

    /// Installed plugins, by id.
    async fn list_plugins(&self, page: &PageRequest) -> Result<Vec<PluginRecord>>;

    /// Forgets a plugin.
    async fn delete_plugin(&self, id: &str, audit: &AuditRecord) -> Result<()>;

    /// The value of `key` in a plugin's kv scope (`project` empty outside any project).
    async fn kv_get(&self, plugin: &str, project: &str, key: &str) -> Result<Option<Vec<u8>>>;

    /// Sets `key` in a plugin's kv scope, unless the scope would then hold more than
    /// `quota.keys` keys or `quota.bytes` bytes of keys and values: [`StoreError::Conflict`]
    /// naming the limit. [`StoreError::NotFound`] when the plugin is not installed.
    async fn kv_set(
        &self,
        plugin: &str,
        project: &str,
        key: &str,
        value: &[u8],
        quota: KvQuota,
    ) -> Result<()>;

    /// Deletes `key`, answering whether it existed.
    async fn kv_delete(&self, plugin: &str, project: &str, key: &str) -> Result<bool>;

    /// The keys of a scope starting with `prefix`, in order, at most `limit`.
    async fn kv_keys(
        &self,
        plugin: &str,
        project: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>>;

    /// A plugin's connections, by name.
    async fn plugin_connections(&self, plugin: &str) -> Result<Vec<ConnectionRecord>>;

    /// Creates or replaces a plugin's connection (keyed by plugin and name; the row takes
    /// `connection.id`, the id its credential was sealed for).
    async fn put_plugin_connection(
        &self,
        connection: &ConnectionRecord,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes a plugin's connection.
    async fn delete_plugin_connection(
        &self,
        plugin: &str,
        name: &str,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Records an audit entry on its own (for audited reads such as resolving a deployment).
    async fn record_audit(&self, audit: &AuditRecord) -> Result<()>;

    /// A project's audit log, newest first.
    async fn list_audit(&self, project: ProjectId, page: &PageRequest) -> Result<Vec<AuditRecord>>;
}
