//! The SQL of operations, their leases, progress lines and step timings.
//!
//! One running operation per deployment is the partial unique index `operations__running`;
//! every lease check is part of the `UPDATE` that acts on it (`holder = $h AND
//! lease_expires_at > $now`), so it holds with several servers on one PostgreSQL. A step's
//! lines are numbered from the `lines` counter that the same `UPDATE` advances, under the
//! row's lock: no gap, no double.

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, Executor, OperationId,
    api::{OperationKind, OperationState},
};

use super::{Conn, SqlStore, audit::write_audit};
use crate::{
    AuditRecord, LeaseRecord, OperationRecord, OperationStore, PageRequest, ProgressRecord, Result,
    StepRecord, StepTimingRecord, StoreError,
    operations::LEASE_TTL_MS,
    records::{parse, parse_with},
};

const OPERATION_COLUMNS: &str = "o.id, o.deployment_id, o.kind, o.executor, o.started_by, \
     u.handle AS started_by_handle, o.started_at, o.finished_at, o.state, o.message, o.holder, \
     o.lease_expires_at, o.continuation, o.resumes, o.cancel_requested, o.lines, o.spec, \
     o.target_id, t.name AS target_name, o.remove_volumes, o.rollback_of \
     FROM operations o JOIN users u ON u.id = o.started_by \
     LEFT JOIN targets t ON t.id = o.target_id";

const TABLE: &str = "operations";

#[derive(sqlx::FromRow)]
struct OperationRow {
    id: String,
    deployment_id: String,
    kind: String,
    executor: String,
    started_by: String,
    started_by_handle: String,
    started_at: i64,
    finished_at: Option<i64>,
    state: String,
    message: Option<String>,
    holder: Option<String>,
    lease_expires_at: Option<i64>,
    continuation: Option<String>,
    resumes: i64,
    cancel_requested: bool,
    lines: i64,
    spec: Option<String>,
    target_id: Option<String>,
    target_name: Option<String>,
    remove_volumes: bool,
    rollback_of: Option<String>,
}

impl TryFrom<OperationRow> for OperationRecord {
    type Error = StoreError;

    fn try_from(r: OperationRow) -> Result<Self> {
        Ok(OperationRecord {
            id: parse(TABLE, &r.id)?,
            deployment_id: parse(TABLE, &r.deployment_id)?,
            kind: parse_with(TABLE, &r.kind, OperationKind::parse)?,
            executor: parse_with(TABLE, &r.executor, Executor::parse)?,
            started_by: parse(TABLE, &r.started_by)?,
            started_by_handle: Some(parse(TABLE, &r.started_by_handle)?),
            started_at: r.started_at,
            finished_at: r.finished_at,
            state: parse_with(TABLE, &r.state, OperationState::parse)?,
            message: r.message,
            holder: r.holder,
            lease_expires_at: r.lease_expires_at,
            continuation: r.continuation,
            resumes: count(r.resumes)?,
            cancel_requested: r.cancel_requested,
            lines: count(r.lines)?,
            spec: r.spec,
            target_id: r.target_id.map(|t| parse(TABLE, &t)).transpose()?,
            target_name: r.target_name.map(|t| parse(TABLE, &t)).transpose()?,
            remove_volumes: r.remove_volumes,
            rollback_of: r.rollback_of.map(|o| parse(TABLE, &o)).transpose()?,
        })
    }
}

/// A stored counter, which Komander never makes negative.
fn count<T: TryFrom<i64>>(value: i64) -> Result<T> {
    T::try_from(value).map_err(|_| StoreError::Corrupt {
        table: TABLE,
        detail: format!("unexpected count {value}"),
    })
}

/// What a lease-holding `UPDATE ... RETURNING` answers.
#[derive(sqlx::FromRow)]
struct LeaseRow {
    lease_expires_at: i64,
    cancel_requested: bool,
    lines: i64,
}

impl TryFrom<LeaseRow> for LeaseRecord {
    type Error = StoreError;

    fn try_from(r: LeaseRow) -> Result<Self> {
        Ok(LeaseRecord {
            expires_at: r.lease_expires_at,
            cancel_requested: r.cancel_requested,
            last_sequence: count(r.lines)?,
        })
    }
}

/// Why a lease-holding write on operation `id` changed nothing: it is gone, it ended, or its
/// lease is not (any more) the caller's.
async fn lease_refused(conn: &mut Conn, id: OperationId) -> StoreError {
    let state: sqlx::Result<Option<String>> =
        sqlx::query_scalar("SELECT state FROM operations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await;
    match state {
        Err(e) => e.into(),
        Ok(None) => StoreError::NotFound("operation"),
        Ok(Some(state)) if state != OperationState::Running.as_str() => StoreError::Conflict {
            field: Some("lease".into()),
            message: format!("operation {id} has already ended ({state})"),
        },
        Ok(Some(_)) => StoreError::Conflict {
            field: Some("lease".into()),
            message: format!(
                "the lease of operation {id} is not held by this holder: it expired or another \
                 holder took the operation over"
            ),
        },
    }
}

/// The running operation of `deployment`, if any.
async fn running(conn: &mut Conn, deployment: DeploymentId) -> Result<Option<OperationId>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM operations WHERE deployment_id = $1 AND state = $2")
            .bind(deployment.to_string())
            .bind(OperationState::Running.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    id.map(|id| parse(TABLE, &id)).transpose()
}

impl SqlStore {
    /// [`OperationStore::start_operation`], which may lose a race to the unique index.
    async fn insert_operation(&self, op: &OperationRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some(operation) = running(&mut tx, op.deployment_id).await? {
            return Err(StoreError::Busy { operation });
        }
        sqlx::query(
            "INSERT INTO operations (id, deployment_id, kind, executor, started_by, started_at, \
             finished_at, state, message, holder, lease_expires_at, continuation, resumes, \
             cancel_requested, lines, spec, target_id, remove_volumes, rollback_of) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19)",
        )
        .bind(op.id.to_string())
        .bind(op.deployment_id.to_string())
        .bind(op.kind.as_str())
        .bind(op.executor.as_str())
        .bind(op.started_by.to_string())
        .bind(op.started_at)
        .bind(op.finished_at)
        .bind(op.state.as_str())
        .bind(op.message.as_deref())
        .bind(op.holder.as_deref())
        .bind(op.lease_expires_at)
        .bind(op.continuation.as_deref())
        .bind(i64::from(op.resumes))
        .bind(op.cancel_requested)
        .bind(i64::try_from(op.lines).unwrap_or(i64::MAX))
        .bind(op.spec.as_deref())
        .bind(op.target_id.map(|t| t.to_string()))
        .bind(op.remove_volumes)
        .bind(op.rollback_of.map(|o| o.to_string()))
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The operation `id`, whatever its deployment.
    async fn operation_by_id(&self, id: OperationId) -> Result<Option<OperationRecord>> {
        let sql = format!("SELECT {OPERATION_COLUMNS} WHERE o.id = $1");
        sqlx::query_as::<_, OperationRow>(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(OperationRecord::try_from)
            .transpose()
    }
}

#[async_trait]
impl OperationStore for SqlStore {
    async fn start_operation(&self, op: &OperationRecord, audit: &AuditRecord) -> Result<()> {
        match self.insert_operation(op, audit).await {
            // Another server inserted one between our check and our insert (PostgreSQL).
            Err(StoreError::Conflict { .. }) => {
                let mut conn = self.pool.acquire().await?;
                match running(&mut conn, op.deployment_id).await? {
                    Some(operation) => Err(StoreError::Busy { operation }),
                    None => Err(StoreError::conflict(
                        "another operation of this deployment started and ended meanwhile; \
                         start again",
                    )),
                }
            }
            other => other,
        }
    }

    async fn operation(
        &self,
        deployment: DeploymentId,
        id: OperationId,
    ) -> Result<Option<OperationRecord>> {
        Ok(self
            .operation_by_id(id)
            .await?
            .filter(|op| op.deployment_id == deployment))
    }

    async fn list_operations(
        &self,
        deployment: DeploymentId,
        page: &PageRequest,
    ) -> Result<Vec<OperationRecord>> {
        let sql = format!(
            "SELECT {OPERATION_COLUMNS} WHERE o.deployment_id = $1 \
             AND ($2 IS NULL OR o.id < $2) ORDER BY o.id DESC LIMIT $3"
        );
        self.scoped_page::<OperationRow, _>(&sql, deployment.to_string(), page)
            .await
    }

    async fn operation_steps(&self, id: OperationId) -> Result<Vec<StepTimingRecord>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT name, started_at, finished_at FROM operation_steps \
             WHERE operation_id = $1 ORDER BY position",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, started_at, finished_at)| StepTimingRecord {
                name,
                started_at,
                finished_at,
            })
            .collect())
    }

    async fn renew_lease(&self, id: OperationId, holder: &str, now: i64) -> Result<LeaseRecord> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, LeaseRow>(
            "UPDATE operations SET lease_expires_at = $1 \
             WHERE id = $2 AND state = 'running' AND holder = $3 AND lease_expires_at > $4 \
             RETURNING lease_expires_at, cancel_requested, lines",
        )
        .bind(now + LEASE_TTL_MS)
        .bind(id.to_string())
        .bind(holder)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(lease_refused(&mut tx, id).await);
        };
        tx.commit().await?;
        row.try_into()
    }

    async fn record_step(
        &self,
        id: OperationId,
        holder: &str,
        now: i64,
        step: &StepRecord,
    ) -> Result<LeaseRecord> {
        let added = i64::try_from(step.lines.len()).map_err(|_| StoreError::Invalid {
            field: "lines".into(),
            message: "too many lines".into(),
        })?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, LeaseRow>(
            "UPDATE operations SET lines = lines + $1, \
             continuation = COALESCE($2, continuation) \
             WHERE id = $3 AND state = 'running' AND holder = $4 AND lease_expires_at > $5 \
             RETURNING lease_expires_at, cancel_requested, lines",
        )
        .bind(added)
        .bind(step.continuation.as_deref())
        .bind(id.to_string())
        .bind(holder)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(lease_refused(&mut tx, id).await);
        };
        let first = row.lines - added + 1;
        for (sequence, text) in (first..).zip(&step.lines) {
            sqlx::query(
                "INSERT INTO operation_lines (operation_id, sequence, text, at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id.to_string())
            .bind(sequence)
            .bind(text.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO operation_steps (operation_id, position, name, started_at, finished_at) \
             SELECT $1, COALESCE(MAX(position), 0) + 1, $2, $3, $4 FROM operation_steps \
             WHERE operation_id = $1",
        )
        .bind(id.to_string())
        .bind(step.name.as_str())
        .bind(step.started_at)
        .bind(step.finished_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn finish_operation(
        &self,
        id: OperationId,
        holder: &str,
        now: i64,
        state: OperationState,
        message: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()> {
        if state == OperationState::Running {
            return Err(StoreError::Invalid {
                field: "outcome".into(),
                message: "an operation cannot finish as running".into(),
            });
        }
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE operations SET state = $1, message = $2, finished_at = $3, holder = NULL, \
             lease_expires_at = NULL \
             WHERE id = $4 AND state = 'running' AND holder = $5 AND lease_expires_at > $6",
        )
        .bind(state.as_str())
        .bind(message)
        .bind(now)
        .bind(id.to_string())
        .bind(holder)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(lease_refused(&mut tx, id).await);
        }
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_operation_spec(
        &self,
        id: OperationId,
        holder: &str,
        now: i64,
        spec: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE operations SET spec = $1 \
             WHERE id = $2 AND state = 'running' AND holder = $3 AND lease_expires_at > $4",
        )
        .bind(spec)
        .bind(id.to_string())
        .bind(holder)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(lease_refused(&mut tx, id).await);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reclaim_operations(&self, holder: &str, now: i64) -> Result<Vec<OperationRecord>> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE operations SET lease_expires_at = $1, resumes = resumes + 1 \
             WHERE state = 'running' AND holder = $2 RETURNING id",
        )
        .bind(now + LEASE_TTL_MS)
        .bind(holder)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(op) = self.operation_by_id(parse(TABLE, &id)?).await? {
                records.push(op);
            }
        }
        Ok(records)
    }

    async fn request_cancel(&self, id: OperationId, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE operations SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(lease_refused(&mut tx, id).await);
        }
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn progress(
        &self,
        id: OperationId,
        after: u64,
        page_size: u32,
    ) -> Result<Vec<ProgressRecord>> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT sequence, text, at FROM operation_lines \
             WHERE operation_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
        )
        .bind(id.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(page_size))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(sequence, text, at)| {
                Ok(ProgressRecord {
                    sequence: count(sequence)?,
                    text,
                    at,
                })
            })
            .collect()
    }

    async fn take_over_expired(
        &self,
        now: i64,
        new_holder: &str,
        page_size: u32,
    ) -> Result<Vec<OperationRecord>> {
        let expired: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, holder, lease_expires_at FROM operations \
             WHERE state = 'running' AND lease_expires_at <= $1 \
             ORDER BY lease_expires_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(page_size))
        .fetch_all(&self.pool)
        .await?;
        let mut taken = Vec::new();
        for (id, holder, expires_at) in expired {
            // Compare-and-set: only if nobody renewed or took it since we read it.
            let done = sqlx::query(
                "UPDATE operations SET holder = $1, lease_expires_at = $2, resumes = resumes + 1 \
                 WHERE id = $3 AND state = 'running' AND holder = $4 AND lease_expires_at = $5",
            )
            .bind(new_holder)
            .bind(now + LEASE_TTL_MS)
            .bind(&id)
            .bind(&holder)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                taken.push(id);
            }
        }
        let mut records = Vec::with_capacity(taken.len());
        for id in taken {
            if let Some(op) = self.operation_by_id(parse(TABLE, &id)?).await? {
                records.push(op);
            }
        }
        Ok(records)
    }
}
