//! The SQL of environments.

use async_trait::async_trait;
use komander_domain::{EnvironmentId, Executor, ProjectId, names::EnvironmentName};

use super::{
    Conn, SqlStore, audit::write_audit, deployments::clear_secret_values, expect_one,
    projects::lock_project,
};
use crate::{
    AuditRecord, EnvironmentRecord, EnvironmentStore, PageRequest, Result, SecretsOf, StoreError,
    records::rows::EnvironmentRow,
};

const ENVIRONMENT_COLUMNS: &str = "id, project_id, name, display_name, runtime, executor, \
     target_id, (SELECT t.name FROM targets t WHERE t.id = environments.target_id) AS target_name, \
     settings, created_at, updated_at";

/// An environment's settings as stored: a JSON object.
fn settings(environment: &EnvironmentRecord) -> String {
    serde_json::Value::Object(environment.settings.clone()).to_string()
}

/// When `environment` names a target, locks its project's row (as revoking a grant does) and
/// checks that the target is granted to the project: [`StoreError::Conflict`] on `target`
/// otherwise, so no environment ever names a target its project may not use.
async fn check_target(conn: &mut Conn, environment: &EnvironmentRecord) -> Result<()> {
    let Some(target) = environment.target_id else {
        return Ok(());
    };
    lock_project(conn, environment.project_id).await?;
    let granted: Option<String> = sqlx::query_scalar(
        "SELECT target_id FROM target_grants WHERE target_id = $1 AND project_id = $2",
    )
    .bind(target.to_string())
    .bind(environment.project_id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    match granted {
        Some(_) => Ok(()),
        None => Err(StoreError::Conflict {
            field: Some("target".into()),
            message: "the target is not granted to this project".into(),
        }),
    }
}

#[async_trait]
impl EnvironmentStore for SqlStore {
    async fn create_environment(
        &self,
        environment: &EnvironmentRecord,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        check_target(&mut tx, environment).await?;
        sqlx::query(
            "INSERT INTO environments (id, project_id, name, display_name, runtime, \
             executor, target_id, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(environment.id.to_string())
        .bind(environment.project_id.to_string())
        .bind(environment.name.as_str())
        .bind(&environment.display_name)
        .bind(environment.runtime.as_str())
        .bind(environment.executor.as_str())
        .bind(environment.target_id.map(|t| t.to_string()))
        .bind(settings(environment))
        .bind(environment.created_at)
        .bind(environment.updated_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn environment(
        &self,
        project: ProjectId,
        name: &EnvironmentName,
    ) -> Result<Option<EnvironmentRecord>> {
        let sql = format!(
            "SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE project_id = $1 AND name = $2"
        );
        sqlx::query_as::<_, EnvironmentRow>(&sql)
            .bind(project.to_string())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(EnvironmentRecord::try_from)
            .transpose()
    }

    async fn list_environments(
        &self,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Vec<EnvironmentRecord>> {
        let sql = format!(
            "SELECT {ENVIRONMENT_COLUMNS} FROM environments \
             WHERE project_id = $1 AND name > COALESCE($2, '') ORDER BY name LIMIT $3"
        );
        self.scoped_page::<EnvironmentRow, _>(&sql, project.to_string(), page)
            .await
    }

    async fn update_environment(
        &self,
        environment: &EnvironmentRecord,
        previous: Executor,
        audit: &AuditRecord,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        check_target(&mut tx, environment).await?;
        let id = environment.id.to_string();
        let done = sqlx::query(
            "UPDATE environments SET display_name = $1, executor = $2, settings = $3, \
             updated_at = $4, target_id = $7 WHERE id = $5 AND executor = $6",
        )
        .bind(&environment.display_name)
        .bind(environment.executor.as_str())
        .bind(settings(environment))
        .bind(environment.updated_at)
        .bind(&id)
        .bind(previous.as_str())
        .bind(environment.target_id.map(|t| t.to_string()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM environments WHERE id = $1")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
            expect_one(u64::from(exists.is_some()), "environment")?;
            return Err(StoreError::conflict(
                "the environment's executor was changed meanwhile; read it again",
            ));
        }
        let cleared = if previous == Executor::Server && environment.executor == Executor::Local {
            let of = SecretsOf::Environment(environment.id);
            clear_secret_values(&mut tx, of, environment.updated_at).await?
        } else {
            0
        };
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(cleared)
    }

    async fn delete_environment(
        &self,
        environment: EnvironmentId,
        force: bool,
        audit: &AuditRecord,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deployments WHERE environment_id = $1")
                .bind(environment.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if held > 0 && !force {
            return Err(StoreError::conflict(format!(
                "the environment holds {held} deployment(s); an Admin may delete it \
                 with force=true, which destroys them"
            )));
        }
        let done = sqlx::query("DELETE FROM environments WHERE id = $1")
            .bind(environment.to_string())
            .execute(&mut *tx)
            .await?;
        expect_one(done.rows_affected(), "environment")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(held as u64)
    }
}
