//! The two backends a test body runs on: a SQLite file in a temp dir, and a fresh database on
//! the test PostgreSQL.

use std::sync::Arc;

use komander_store::Store;
use sqlx::{Connection, Executor, PgConnection, SqliteConnection, sqlite::SqliteConnectOptions};
use tempfile::TempDir;

use crate::postgres::postgres_database;

/// A fresh, migrated store, with the temp dir that holds its data.
pub struct TestDb {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The data directory (the SQLite file lives here).
    dir: TempDir,
    /// The PostgreSQL database's URL, for PostgreSQL stores.
    url: Option<String>,
}

impl TestDb {
    /// A store on a SQLite file in a temp dir.
    pub async fn sqlite() -> TestDb {
        Self::open(None).await
    }

    /// A store on a fresh PostgreSQL database; `None` (after a loud message) when no test
    /// PostgreSQL is configured outside CI.
    ///
    /// # Panics
    /// Under `CI=true` without `KOMANDER_TEST_DATABASE_URL`.
    pub async fn postgres() -> Option<TestDb> {
        Some(Self::open(Some(postgres_database().await?)).await)
    }

    async fn open(url: Option<String>) -> TestDb {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = komander_store::connect(url.as_deref(), dir.path())
            .await
            .expect("opening the test store");
        TestDb { store, dir, url }
    }

    /// Runs `statements` in order on a connection of their own, behind the store's back: to
    /// plant what Komander never writes.
    pub async fn raw(&self, statements: &[&str]) {
        match &self.url {
            None => {
                let file = self.dir.path().join("komander.db");
                let options = SqliteConnectOptions::new().filename(file);
                let conn = SqliteConnection::connect_with(&options).await;
                run(&mut conn.expect("opening the SQLite file"), statements).await;
            }
            Some(url) => {
                let conn = PgConnection::connect(url).await;
                run(&mut conn.expect("connecting to PostgreSQL"), statements).await;
            }
        }
    }

    /// The integer `query` answers (such as a `COUNT(*)`), read behind the store's back.
    pub async fn count(&self, query: &str) -> i64 {
        let answer = match &self.url {
            None => {
                let file = self.dir.path().join("komander.db");
                let options = SqliteConnectOptions::new().filename(file);
                let conn = SqliteConnection::connect_with(&options).await;
                sqlx::query_scalar(query)
                    .fetch_one(&mut conn.expect("opening the SQLite file"))
                    .await
            }
            Some(url) => {
                let conn = PgConnection::connect(url).await;
                sqlx::query_scalar(query)
                    .fetch_one(&mut conn.expect("connecting to PostgreSQL"))
                    .await
            }
        };
        answer.unwrap_or_else(|e| panic!("{query}: {e}"))
    }
}

/// Runs `statements` in order on `conn`.
async fn run<C>(conn: &mut C, statements: &[&str])
where
    for<'c> &'c mut C: Executor<'c>,
{
    for statement in statements {
        if let Err(e) = conn.execute(*statement).await {
            panic!("{statement}: {e}");
        }
    }
}

/// For each named `async fn(&TestDb)`, a module of two tests: `sqlite` and `postgres` (which
/// skips loudly without a test PostgreSQL, and fails for want of one under `CI=true`).
macro_rules! on_both {
    ($($body:ident),+ $(,)?) => {$(
        mod $body {
            #[tokio::test]
            async fn sqlite() {
                super::$body(&crate::backends::TestDb::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = crate::backends::TestDb::postgres().await {
                    super::$body(&db).await;
                }
            }
        }
    )+};
}

pub(crate) use on_both;
