//! The SQL of deployments, and the one read of a deployment with its services and their
//! variables.

use std::collections::HashMap;

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, EnvironmentId, ServiceId, Visibility,
    names::{DeploymentName, EnvironmentName, ProjectName},
};

use super::{
    Conn, SqlStore,
    audit::write_audit,
    decode_all, expect_one, limit,
    services::{SERVICE_COLUMNS, VARIABLE_COLUMNS},
};
use crate::{
    AuditRecord, DeploymentRecord, DeploymentStore, DeploymentWithServices, PageRequest, Result,
    SecretsOf, ServiceRecord, ServiceWithVariables, StoreError, VariableRecord,
    records::{
        parse,
        rows::{DeploymentRow, ServiceRow, VariableRow},
    },
};

/// A deployment's columns with its owner's handle, up to the `WHERE`.
const DEPLOYMENT_SELECT: &str = "SELECT d.id, d.project_id, d.environment_id, d.name, \
     d.display_name, d.owner_id, u.handle AS owner_handle, d.shared, d.created_at, \
     d.updated_at FROM deployments d JOIN users u ON u.id = d.owner_id";

/// Clears secret variable values (their owners enter them again), inside the caller's
/// transaction; answers how many were cleared.
pub(super) async fn clear_secret_values(
    conn: &mut Conn,
    of: SecretsOf,
    now_ms: i64,
) -> Result<u64> {
    let (services, id) = services_of(of, 3);
    let done = sqlx::query(&format!(
        "UPDATE variables SET sealed = NULL, updated_at = $1 \
         WHERE secret = $2 AND sealed IS NOT NULL AND service_id IN ({services})"
    ))
    .bind(now_ms)
    .bind(true)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// The services whose secret values `of` names: a sub-query whose one bind is `$n`, and that
/// bind.
fn services_of(of: SecretsOf, n: u8) -> (String, String) {
    match of {
        SecretsOf::Deployment(id) => (
            format!("SELECT id FROM services WHERE deployment_id = ${n}"),
            id.to_string(),
        ),
        SecretsOf::Environment(id) => (
            format!(
                "SELECT services.id FROM services JOIN deployments \
                 ON services.deployment_id = deployments.id WHERE deployments.environment_id = ${n}"
            ),
            id.to_string(),
        ),
    }
}

#[async_trait]
impl DeploymentStore for SqlStore {
    async fn count_secret_values(&self, of: SecretsOf) -> Result<u64> {
        let (services, id) = services_of(of, 2);
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM variables \
             WHERE secret = $1 AND sealed IS NOT NULL AND service_id IN ({services})"
        ))
        .bind(true)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn create_deployment(
        &self,
        deployment: &DeploymentRecord,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO deployments (id, project_id, environment_id, name, display_name, \
             owner_id, shared, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(deployment.id.to_string())
        .bind(deployment.project_id.to_string())
        .bind(deployment.environment_id.to_string())
        .bind(deployment.name.as_str())
        .bind(&deployment.display_name)
        .bind(deployment.owner_id.to_string())
        .bind(deployment.shared)
        .bind(deployment.created_at)
        .bind(deployment.updated_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn deployment(
        &self,
        environment: EnvironmentId,
        name: &DeploymentName,
    ) -> Result<Option<DeploymentRecord>> {
        let sql = format!("{DEPLOYMENT_SELECT} WHERE d.environment_id = $1 AND d.name = $2");
        sqlx::query_as::<_, DeploymentRow>(&sql)
            .bind(environment.to_string())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(DeploymentRecord::try_from)
            .transpose()
    }

    async fn list_deployments(
        &self,
        environment: EnvironmentId,
        visibility: Visibility,
        page: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>> {
        let sql = format!(
            "{DEPLOYMENT_SELECT} WHERE d.environment_id = $1 \
             AND (d.shared = $2 OR d.owner_id = $3) AND d.name > COALESCE($4, '') \
             ORDER BY d.name LIMIT $5"
        );
        decode_all(
            sqlx::query_as::<_, DeploymentRow>(&sql)
                .bind(environment.to_string())
                .bind(true)
                .bind(visibility.user.to_string())
                .bind(page.after.as_deref())
                .bind(limit(page))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn deployment_path(
        &self,
        deployment: DeploymentId,
    ) -> Result<Option<(ProjectName, EnvironmentName, DeploymentName)>> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT p.name, e.name, d.name FROM deployments d \
             JOIN environments e ON e.id = d.environment_id \
             JOIN projects p ON p.id = e.project_id WHERE d.id = $1",
        )
        .bind(deployment.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(p, e, d)| {
            Ok((
                parse("projects", &p)?,
                parse("environments", &e)?,
                parse("deployments", &d)?,
            ))
        })
        .transpose()
    }

    async fn deployment_with_services(
        &self,
        deployment: DeploymentId,
    ) -> Result<Option<DeploymentWithServices>> {
        let id = deployment.to_string();
        let mut tx = self.begin_read().await?;
        let Some(row) =
            sqlx::query_as::<_, DeploymentRow>(&format!("{DEPLOYMENT_SELECT} WHERE d.id = $1"))
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let services: Vec<ServiceRecord> = decode_all(
            sqlx::query_as::<_, ServiceRow>(&format!(
                "SELECT {SERVICE_COLUMNS} FROM services WHERE deployment_id = $1 ORDER BY name"
            ))
            .bind(&id)
            .fetch_all(&mut *tx)
            .await?,
        )?;
        let variables: Vec<VariableRecord> = decode_all(
            sqlx::query_as::<_, VariableRow>(&format!(
                "SELECT {VARIABLE_COLUMNS} FROM variables v \
                 JOIN services s ON s.id = v.service_id \
                 WHERE s.deployment_id = $1 ORDER BY v.name"
            ))
            .bind(&id)
            .fetch_all(&mut *tx)
            .await?,
        )?;
        tx.commit().await?;
        // Grouped by service id, not by trusting two ORDER BYs to agree.
        let mut by_service: HashMap<ServiceId, Vec<VariableRecord>> = HashMap::new();
        for variable in variables {
            by_service
                .entry(variable.service_id)
                .or_default()
                .push(variable);
        }
        Ok(Some(DeploymentWithServices {
            deployment: DeploymentRecord::try_from(row)?,
            services: services
                .into_iter()
                .map(|service| ServiceWithVariables {
                    variables: by_service.remove(&service.id).unwrap_or_default(),
                    service,
                })
                .collect(),
        }))
    }

    async fn update_deployment(
        &self,
        deployment: &DeploymentRecord,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE deployments SET display_name = $1, updated_at = $2 WHERE id = $3")
                .bind(&deployment.display_name)
                .bind(deployment.updated_at)
                .bind(deployment.id.to_string())
                .execute(&mut *tx)
                .await?;
        expect_one(done.rows_affected(), "deployment")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_deployment(&self, deployment: DeploymentId, audit: &AuditRecord) -> Result<()> {
        self.delete_audited(
            "DELETE FROM deployments WHERE id = $1",
            &[deployment.to_string()],
            "deployment",
            audit,
        )
        .await
    }

    async fn share_deployment(
        &self,
        deployment: DeploymentId,
        now_ms: i64,
        audit: &AuditRecord,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE deployments SET shared = $1, updated_at = $2 WHERE id = $3 AND shared = $4",
        )
        .bind(true)
        .bind(now_ms)
        .bind(deployment.to_string())
        .bind(false)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::conflict("the deployment is already shared"));
        }
        let cleared =
            clear_secret_values(&mut tx, SecretsOf::Deployment(deployment), now_ms).await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(cleared)
    }
}
