//! The SQL of every noun, written once and compiled once per backend: `sqlite.rs` and
//! `postgres.rs` each include this module after naming their sqlx database `Db`, their store
//! `SqlStore` (a `pool`, `begin_write()` and `begin_read()`) and their `BACKEND`.
//!
//! Statements use `$N` placeholders, which SQLite also reads; booleans and blobs map to the
//! same Rust types and times are integers, so every statement runs unchanged on both. This
//! module holds what every noun uses: the [`Store`] methods of its own, and the keyset pages
//! and audited deletes.

mod audit;
mod deployments;
mod environments;
mod kv;
mod members;
mod operations;
mod plugins;
mod projects;
mod services;
mod sessions;
mod targets;
mod users;

use async_trait::async_trait;
use sqlx::{Database, FromRow};

use super::{BACKEND, Db, SqlStore};
use crate::{AuditRecord, PageRequest, Result, Store, StoreError};

/// A connection of this backend: helpers that run inside a caller's transaction take one.
type Conn = <Db as Database>::Connection;

/// A row of this backend, as records are decoded from.
type Row = <Db as Database>::Row;

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Decodes every raw row into its record, failing on the first corrupt one.
fn decode_all<R, T>(rows: Vec<R>) -> Result<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// A page's limit, as SQL binds it.
fn limit(page: &PageRequest) -> i64 {
    i64::from(page.limit)
}

/// [`StoreError::NotFound`] naming `what` when a write changed no row.
fn expect_one(rows: u64, what: &'static str) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

impl SqlStore {
    /// Runs a DELETE of one row (every bind is text) and writes its audit entry, in one
    /// transaction; [`StoreError::NotFound`] names `what` when no row matched.
    async fn delete_audited(
        &self,
        sql: &str,
        binds: &[String],
        what: &'static str,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind.as_str());
        }
        let done = query.execute(&mut *tx).await?;
        expect_one(done.rows_affected(), what)?;
        audit::write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One keyset page of an instance-wide list whose SQL binds the cursor as `$1` and the
    /// limit as `$2`.
    async fn instance_page<R, T>(&self, sql: &str, page: &PageRequest) -> Result<Vec<T>>
    where
        R: for<'r> FromRow<'r, Row> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        decode_all(
            sqlx::query_as::<_, R>(sql)
                .bind(page.after.as_deref())
                .bind(limit(page))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// One keyset page of a list whose SQL binds the scope's id as `$1`, the cursor as `$2`
    /// and the limit as `$3`.
    async fn scoped_page<R, T>(
        &self,
        sql: &str,
        scope: String,
        page: &PageRequest,
    ) -> Result<Vec<T>>
    where
        R: for<'r> FromRow<'r, Row> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
    {
        decode_all(
            sqlx::query_as::<_, R>(sql)
                .bind(scope)
                .bind(page.after.as_deref())
                .bind(limit(page))
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
