//! A fresh database on the test PostgreSQL for each test, and whether this is CI's run.
//!
//! Shared by the end-to-end tests and, through `#[path]`, the store's own tests; it uses
//! nothing but std, sqlx and uuid.

use sqlx::{Connection, Executor, PgConnection};

/// Whether this run is CI's, where nothing may be skipped.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A fresh, empty PostgreSQL database for one test, as a URL; `None` (after a loud message)
/// when no test PostgreSQL is configured outside CI.
///
/// # Panics
/// Under `CI=true` without `KOMANDER_TEST_DATABASE_URL`, or when the server refuses.
pub async fn postgres_database() -> Option<String> {
    let Ok(admin) = std::env::var("KOMANDER_TEST_DATABASE_URL") else {
        assert!(
            !ci(),
            "KOMANDER_TEST_DATABASE_URL is not set: under CI=true the PostgreSQL tests must run"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPING a PostgreSQL test: KOMANDER_TEST_DATABASE_URL is not set. \
             Run `bash scripts/test.sh`, which starts a private PostgreSQL. !!!!!!!!\n"
        );
        return None;
    };
    let name = format!("k_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connecting to the test PostgreSQL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("creating a test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("KOMANDER_TEST_DATABASE_URL ends with /<database>");
    Some(format!("{base}/{name}"))
}
