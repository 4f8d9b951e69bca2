//! The PostgreSQL backend, selected by `KOMANDER_DATABASE_URL=postgres://…`.

use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions};

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
    /// [`StoreError::Database`] when it cannot connect; [`StoreError::Migrate`] when a
    /// migration fails.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    async fn begin(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool.begin().await
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::backend::impl_store!(PostgresStore, Postgres, "postgres");
