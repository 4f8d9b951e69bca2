//! Komander's storage: one trait per noun ([`UserStore`], [`ProjectStore`], [`MemberStore`],
//! [`EnvironmentStore`], [`DeploymentStore`], [`ServiceStore`], [`PluginStore`],
//! [`TargetStore`], [`OperationStore`], [`KvStore`], [`AuditStore`], [`SessionStore`]),
//! gathered by [`Store`], and implemented for SQLite (the default, a file in
//! the data directory) and PostgreSQL (`KOMANDER_DATABASE_URL=postgres://…`).
//!
//! SQL lives only here. Every write is one transaction that also writes its audit entry, so an
//! audited change is never half-done. Unique violations come back as [`StoreError::Conflict`]
//! naming the field; lists are keyset-paginated ([`PageRequest`]) and apply the caller's
//! [`Visibility`](komander_domain::Visibility) in SQL.
//!
//! It depends on the domain crate only; it knows nothing of HTTP, secrets' keys or plugins.
//!
//! Callers hold an `Arc<dyn Store>`, which reaches every noun's methods with no import (a
//! trait object carries its supertraits' methods); code that names a concrete store or a
//! generic `S: UserStore` brings the traits into scope with `use komander_store::prelude::*;`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), komander_store::StoreError> {
//! let store = komander_store::connect(None, std::path::Path::new("./komander-data")).await?;
//! assert_eq!(store.count_users().await?, 0);
//! # Ok(()) }
//! ```
//!
//! # Shape
//!
//! - **One trait per noun, one supertrait.** Each noun's module (`users.rs`, `projects.rs`, …)
//!   holds its trait; [`Store`] requires them all plus `backend` and `ping`, so
//!   `Arc<dyn Store>` still reaches every method and a use case that needs one noun could take
//!   `&dyn DeploymentStore`. One trait whose methods are merely grouped would keep a 60-method
//!   contract that every test double must implement whole.
//! - **One body of SQL, compiled once per backend.** Each noun's statements live in
//!   `sql/<noun>.rs`, an ordinary module that `sqlite.rs` and `postgres.rs` both include
//!   (`#[path = "sql/mod.rs"] mod sql;`) after naming their database `Db` and their store
//!   `SqlStore`; the SQL is the same for both (placeholders are `$N`, which SQLite also reads;
//!   booleans, blobs and integer times map to the same Rust types). What differs stays in the
//!   backend files: pool options, WAL and the busy timeout on SQLite, and how a transaction
//!   begins (`BEGIN IMMEDIATE` for SQLite writes; one snapshot for reads on both).
//!
//!   Generic functions over `sqlx::Database` were tried and rejected: Rust does not carry a
//!   trait's where-clauses to its users (rust-lang/rust#20671), so a private `Backend` trait
//!   cannot bundle the bounds the SQL needs (`Executor` for `&mut Connection`,
//!   `IntoArguments`, `Encode`/`Decode`/`Type` for `String`, `&str`, `i64`, `bool`, blobs and
//!   their `Option`s, `ColumnIndex` for `&str` and `usize`). Every generic block (each noun's
//!   impl and each helper) would repeat the same 13 predicates, about 15 copies. A
//!   `macro_rules!` per noun would put the SQL back where rustfmt does not reach. Compiling one
//!   plain module per backend costs what the old macro cost and needs neither.
#![deny(missing_docs)]

mod audit;
mod deployments;
mod environments;
mod error;
mod kv;
mod members;
mod operations;
mod plugins;
mod postgres;
mod projects;
mod records;
mod services;
mod sessions;
mod sqlite;
mod targets;
mod users;

use std::{path::Path, sync::Arc};

use async_trait::async_trait;

pub use audit::AuditStore;
pub use deployments::{DeploymentStore, SecretsOf};
pub use environments::EnvironmentStore;
pub use error::StoreError;
pub use kv::{KvQuota, KvStore};
pub use members::MemberStore;
pub use operations::{
    LEASE_TTL_MS, LeaseRecord, OperationRecord, OperationStore, ProgressRecord, StepRecord,
    StepTimingRecord,
};
pub use plugins::PluginStore;
pub use postgres::PostgresStore;
pub use projects::ProjectStore;
pub use records::*;
pub use services::{RestoredService, ServiceStore, ServicesCheck};
pub use sessions::SessionStore;
pub use sqlite::SqliteStore;
pub use targets::TargetStore;
pub use users::UserStore;

/// Every store trait, for `use komander_store::prelude::*;`: calling a noun's method on a
/// concrete store ([`SqliteStore`], [`PostgresStore`]) needs that noun's trait in scope (on an
/// `Arc<dyn Store>` it needs none).
pub mod prelude {
    pub use crate::{
        AuditStore, DeploymentStore, EnvironmentStore, KvStore, MemberStore, OperationStore,
        PluginStore, ProjectStore, ServiceStore, SessionStore, Store, TargetStore, UserStore,
    };
}

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

/// Everything Komander stores: every noun's trait. Implemented by [`SqliteStore`] and
/// [`PostgresStore`].
///
/// Lookups answer `Ok(None)` for what does not exist; writes answer [`StoreError::NotFound`]
/// when their target vanished, [`StoreError::Conflict`] for taken names and violated
/// invariants. Every write takes the [`AuditRecord`] it writes in the same transaction.
#[async_trait]
pub trait Store:
    UserStore
    + ProjectStore
    + MemberStore
    + EnvironmentStore
    + DeploymentStore
    + ServiceStore
    + PluginStore
    + TargetStore
    + OperationStore
    + KvStore
    + AuditStore
    + SessionStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is (`sqlite` or `postgres`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;
}
