//! The SQL of services and their variables.

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, ServiceId,
    names::{ServiceName, VariableName},
};

use super::{Conn, SqlStore, audit::write_audit, decode_all, expect_one};
use crate::{
    AuditRecord, PageRequest, RestoredService, Result, ServiceRecord, ServiceStore, ServicesCheck,
    StoreError, StoredValue, VariableRecord,
    records::{
        parse,
        rows::{ServiceRow, VariableRow},
    },
};

/// A service's columns.
pub(super) const SERVICE_COLUMNS: &str =
    "id, deployment_id, name, image, ports, volumes, settings, created_at, updated_at";

/// Locks the deployment's row for the rest of the transaction, so that writes to its services
/// take turns, and reads its services in name order. [`StoreError::NotFound`] when the
/// deployment is gone.
async fn lock_services(conn: &mut Conn, deployment: DeploymentId) -> Result<Vec<ServiceRecord>> {
    let done = sqlx::query("UPDATE deployments SET updated_at = updated_at WHERE id = $1")
        .bind(deployment.to_string())
        .execute(&mut *conn)
        .await?;
    expect_one(done.rows_affected(), "deployment")?;
    let sql =
        format!("SELECT {SERVICE_COLUMNS} FROM services WHERE deployment_id = $1 ORDER BY name");
    decode_all(
        sqlx::query_as::<_, ServiceRow>(&sql)
            .bind(deployment.to_string())
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// A variable's columns, qualified by `v` (`variables v`).
pub(super) const VARIABLE_COLUMNS: &str =
    "v.id, v.service_id, v.name, v.secret, v.value, v.sealed, v.updated_at";

/// Creates or replaces a variable, keyed by service and name; the row takes `variable.id`.
async fn upsert_variable(conn: &mut Conn, variable: &VariableRecord) -> Result<()> {
    let (value, sealed) = match &variable.value {
        StoredValue::Empty => (None, None),
        StoredValue::Plain(plain) => (Some(plain.as_str()), None),
        StoredValue::Sealed(sealed) => (None, Some(sealed.as_slice())),
    };
    sqlx::query(
        "INSERT INTO variables (id, service_id, name, secret, value, sealed, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (service_id, name) DO UPDATE SET id = excluded.id, \
         secret = excluded.secret, value = excluded.value, \
         sealed = excluded.sealed, updated_at = excluded.updated_at",
    )
    .bind(variable.id.to_string())
    .bind(variable.service_id.to_string())
    .bind(variable.name.as_str())
    .bind(variable.secret)
    .bind(value)
    .bind(sealed)
    .bind(variable.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a service's row.
async fn insert_service(conn: &mut Conn, service: &ServiceRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO services (id, deployment_id, name, image, ports, volumes, settings, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(service.id.to_string())
    .bind(service.deployment_id.to_string())
    .bind(service.name.as_str())
    .bind(&service.image)
    .bind(service.ports.to_string())
    .bind(service.volumes.to_string())
    .bind(service.settings.to_string())
    .bind(service.created_at)
    .bind(service.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl ServiceStore for SqlStore {
    async fn create_service(
        &self,
        service: &ServiceRecord,
        check: &ServicesCheck<'_>,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mut services = lock_services(&mut tx, service.deployment_id).await?;
        if services.iter().any(|s| s.name == service.name) {
            return Err(StoreError::Conflict {
                field: Some("name".to_owned()),
                message: "the name is already taken".to_owned(),
            });
        }
        services.push(service.clone());
        services.sort_by(|a, b| a.name.cmp(&b.name));
        check(&services)?;
        insert_service(&mut tx, service).await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_services(
        &self,
        deployment: DeploymentId,
        new: &[(ServiceRecord, Vec<VariableRecord>)],
        check: &ServicesCheck<'_>,
        audits: &[AuditRecord],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mut services = lock_services(&mut tx, deployment).await?;
        let taken: Vec<&str> = new
            .iter()
            .filter(|(n, _)| services.iter().any(|s| s.name == n.name))
            .map(|(n, _)| n.name.as_str())
            .collect();
        if !taken.is_empty() {
            return Err(StoreError::Conflict {
                field: Some("name".to_owned()),
                message: format!(
                    "the deployment already has services named {}",
                    taken.join(", ")
                ),
            });
        }
        services.extend(new.iter().map(|(s, _)| s.clone()));
        services.sort_by(|a, b| a.name.cmp(&b.name));
        check(&services)?;
        for (service, variables) in new {
            insert_service(&mut tx, service).await?;
            for variable in variables {
                upsert_variable(&mut tx, variable).await?;
            }
        }
        for audit in audits {
            write_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn service(
        &self,
        deployment: DeploymentId,
        name: &ServiceName,
    ) -> Result<Option<ServiceRecord>> {
        let sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE deployment_id = $1 AND name = $2"
        );
        sqlx::query_as::<_, ServiceRow>(&sql)
            .bind(deployment.to_string())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(ServiceRecord::try_from)
            .transpose()
    }

    async fn list_services(
        &self,
        deployment: DeploymentId,
        page: &PageRequest,
    ) -> Result<Vec<ServiceRecord>> {
        let sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE deployment_id = $1 \
             AND name > COALESCE($2, '') ORDER BY name LIMIT $3"
        );
        self.scoped_page::<ServiceRow, _>(&sql, deployment.to_string(), page)
            .await
    }

    async fn update_service(
        &self,
        service: &ServiceRecord,
        check: &ServicesCheck<'_>,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mut services = lock_services(&mut tx, service.deployment_id).await?;
        let slot = services
            .iter_mut()
            .find(|s| s.id == service.id)
            .ok_or(StoreError::NotFound("service"))?;
        *slot = service.clone();
        check(&services)?;
        let done = sqlx::query(
            "UPDATE services SET image = $1, ports = $2, volumes = $3, settings = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(&service.image)
        .bind(service.ports.to_string())
        .bind(service.volumes.to_string())
        .bind(service.settings.to_string())
        .bind(service.updated_at)
        .bind(service.id.to_string())
        .execute(&mut *tx)
        .await?;
        expect_one(done.rows_affected(), "service")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_service(
        &self,
        service: ServiceId,
        check: &ServicesCheck<'_>,
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let deployment: Option<(String,)> =
            sqlx::query_as("SELECT deployment_id FROM services WHERE id = $1")
                .bind(service.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let (deployment,) = deployment.ok_or(StoreError::NotFound("service"))?;
        let deployment: DeploymentId = parse("services", &deployment)?;
        let mut services = lock_services(&mut tx, deployment).await?;
        services.retain(|s| s.id != service);
        check(&services)?;
        let done = sqlx::query("DELETE FROM services WHERE id = $1")
            .bind(service.to_string())
            .execute(&mut *tx)
            .await?;
        expect_one(done.rows_affected(), "service")?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn variable(
        &self,
        service: ServiceId,
        name: &VariableName,
    ) -> Result<Option<VariableRecord>> {
        let sql = format!(
            "SELECT {VARIABLE_COLUMNS} FROM variables v WHERE v.service_id = $1 AND v.name = $2"
        );
        sqlx::query_as::<_, VariableRow>(&sql)
            .bind(service.to_string())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(VariableRecord::try_from)
            .transpose()
    }

    async fn list_variables(
        &self,
        service: ServiceId,
        page: &PageRequest,
    ) -> Result<Vec<VariableRecord>> {
        let sql = format!(
            "SELECT {VARIABLE_COLUMNS} FROM variables v WHERE v.service_id = $1 \
             AND v.name > COALESCE($2, '') ORDER BY v.name LIMIT $3"
        );
        self.scoped_page::<VariableRow, _>(&sql, service.to_string(), page)
            .await
    }

    async fn put_variable(&self, variable: &VariableRecord, audit: &AuditRecord) -> Result<()> {
        let mut tx = self.begin_write().await?;
        upsert_variable(&mut tx, variable).await?;
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn restore_services(
        &self,
        deployment: DeploymentId,
        services: &[RestoredService],
        audit: &AuditRecord,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let current = lock_services(&mut tx, deployment).await?;
        let mut missing = Vec::new();
        for restored in services {
            for name in &restored.secrets {
                let sealed: Option<(bool, Option<Vec<u8>>)> = sqlx::query_as(
                    "SELECT secret, sealed FROM variables WHERE service_id = $1 AND name = $2",
                )
                .bind(restored.service.id.to_string())
                .bind(name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if !matches!(sealed, Some((true, Some(_)))) {
                    missing.push(format!("{}.{name}", restored.service.name));
                }
            }
        }
        if !missing.is_empty() {
            return Err(StoreError::Invalid {
                field: "variables".into(),
                message: format!(
                    "secret variables without a value now: {}; set them with `komander variable \
                     set --secret` first",
                    missing.join(", ")
                ),
            });
        }
        for gone in current
            .iter()
            .filter(|c| !services.iter().any(|r| r.service.id == c.id))
        {
            sqlx::query("DELETE FROM services WHERE id = $1")
                .bind(gone.id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        for restored in services {
            let s = &restored.service;
            let done = if current.iter().any(|c| c.id == s.id) {
                sqlx::query(
                    "UPDATE services SET name = $1, image = $2, ports = $3, volumes = $4, \
                     settings = $5, updated_at = $6 WHERE id = $7",
                )
                .bind(s.name.as_str())
                .bind(&s.image)
                .bind(s.ports.to_string())
                .bind(s.volumes.to_string())
                .bind(s.settings.to_string())
                .bind(s.updated_at)
                .bind(s.id.to_string())
                .execute(&mut *tx)
                .await?
            } else {
                sqlx::query(
                    "INSERT INTO services (id, deployment_id, name, image, ports, volumes, \
                     settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(s.id.to_string())
                .bind(deployment.to_string())
                .bind(s.name.as_str())
                .bind(&s.image)
                .bind(s.ports.to_string())
                .bind(s.volumes.to_string())
                .bind(s.settings.to_string())
                .bind(s.created_at)
                .bind(s.updated_at)
                .execute(&mut *tx)
                .await?
            };
            expect_one(done.rows_affected(), "service")?;
            let names: Vec<String> =
                sqlx::query_scalar("SELECT name FROM variables WHERE service_id = $1")
                    .bind(s.id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
            let kept = |name: &str| {
                restored.plain.iter().any(|v| v.name.as_str() == name)
                    || restored.secrets.iter().any(|v| v.as_str() == name)
            };
            for name in names.iter().filter(|n| !kept(n)) {
                sqlx::query("DELETE FROM variables WHERE service_id = $1 AND name = $2")
                    .bind(s.id.to_string())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
            for variable in &restored.plain {
                upsert_variable(&mut tx, variable).await?;
            }
        }
        write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_variable(
        &self,
        service: ServiceId,
        name: &VariableName,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.delete_audited(
            "DELETE FROM variables WHERE service_id = $1 AND name = $2",
            &[service.to_string(), name.to_string()],
            "variable",
            audit,
        )
        .await
    }
}
