//! The PostgreSQL backend, selected by `KOMANDER_DATABASE_URL=postgres://…`.
//!
//! Write transactions begin as PostgreSQL's default (read committed); multi-step writes lock
//! the project's row first (see `sql/projects.rs`). A read transaction is repeatable read and
//! read only: all its statements see one snapshot, and it can never fail to serialize.

use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions};

use crate::Result;

/// The database the shared SQL is compiled for here.
type Db = Postgres;
/// The store the shared SQL implements here.
type SqlStore = PostgresStore;
/// What [`Store::backend`](crate::Store::backend) answers.
const BACKEND: &str = "postgres";

// The SQL shared with SQLite, compiled for PostgreSQL (see the crate's docs).
#[expect(
    clippy::duplicate_mod,
    reason = "one body of SQL, compiled once per backend (see the crate's docs)"
)]
#[path = "sql/mod.rs"]
mod sql;

/// The [`Store`](crate::Store) on a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl PostgresStore {
    /// Connects to the database at `url` and migrates it.
    ///
    /// # Errors
    /// [`StoreError::Database`](crate::StoreError::Database) when it cannot connect;
    /// [`StoreError::Migrate`](crate::StoreError::Migrate) when a migration fails.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Begins a write transaction.
    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool.begin().await
    }

    /// Begins a read transaction: one snapshot of the database until it ends.
    async fn begin_read(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
