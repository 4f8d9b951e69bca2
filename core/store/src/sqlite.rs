//! The SQLite backend: the default, a file in the data directory.
//!
//! WAL mode with a busy timeout, so readers never wait for the writer; every write transaction
//! begins with `BEGIN IMMEDIATE`, taking the write lock up front (a deferred transaction that
//! reads first fails at once with "database is locked" when it tries to upgrade). A read
//! transaction is a plain (deferred) `BEGIN`: under WAL it reads one snapshot.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{Result, StoreError};

/// The database the shared SQL is compiled for here.
type Db = Sqlite;
/// The store the shared SQL implements here.
type SqlStore = SqliteStore;
/// What [`Store::backend`](crate::Store::backend) answers.
const BACKEND: &str = "sqlite";

// The SQL shared with PostgreSQL, compiled for SQLite (see the crate's docs).
#[expect(
    clippy::duplicate_mod,
    reason = "one body of SQL, compiled once per backend (see the crate's docs)"
)]
#[path = "sql/mod.rs"]
mod sql;

/// The [`Store`](crate::Store) on a SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path` and migrates it. The file is
    /// created readable and writable by its owner alone (0600), and SQLite gives its WAL and
    /// shared-memory files the database file's mode; any of them found looser (left by an
    /// older release) is tightened to 0600.
    ///
    /// # Errors
    /// [`StoreError::Database`] when it cannot be opened or its mode set;
    /// [`StoreError::Migrate`] when a migration fails.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Database(e.into()))?;
        }
        make_private(path).map_err(|e| StoreError::Database(e.into()))?;
        Self::with_options(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens the database a `sqlite:` URL names and migrates it. The modes of a file named
    /// this way are the operator's: unlike [`SqliteStore::open`], nothing is tightened.
    ///
    /// # Errors
    /// As [`SqliteStore::open`], and for a malformed URL.
    pub async fn connect_url(url: &str) -> Result<Self> {
        Self::with_options(SqliteConnectOptions::from_str(url)?).await
    }

    async fn with_options(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Begins a write transaction, taking the write lock up front.
    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Begins a read transaction: one snapshot of the database until it ends.
    async fn begin_read(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.pool.begin().await
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the database file at `path` with mode 0600 when it is missing, and sets the file,
/// its WAL (`-wal`), shared memory (`-shm`) and rollback journal (`-journal`) to 0600 when one
/// is readable or writable by anyone but its owner.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::metadata(&name) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
