//! A deployment's services and their variables.

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, ServiceId,
    names::{ServiceName, VariableName},
};

use crate::{AuditRecord, PageRequest, Result, ServiceRecord, VariableRecord};

/// A service as a rollback writes it back (see [`ServiceStore::restore_services`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoredService {
    /// The service's row as the earlier spec had it, under its id then (`created_at`
    /// counts only when it is recreated; the deployment is the one restored).
    pub service: ServiceRecord,
    /// Its plain variables with their recorded values (each row with a fresh id; the
    /// service id and name are what identify it).
    pub plain: Vec<VariableRecord>,
    /// Its secret variables by name: each keeps the sealed value it has now.
    pub secrets: Vec<VariableName>,
}

/// A rule over a deployment's services as a write would leave them (in name order). The store
/// runs it inside the write's transaction, with the deployment's row locked so that concurrent
/// writes to its services take turns, and writes nothing when it fails: it returns the error
/// the write fails with (such as [`StoreError::Invalid`](crate::StoreError::Invalid)).
pub type ServicesCheck<'a> = dyn Fn(&[ServiceRecord]) -> Result<()> + Send + Sync + 'a;

/// Services and variables. Implemented in `sql/services.rs`.
#[async_trait]
pub trait ServiceStore: Send + Sync {
    /// Creates a service once `check` accepts the deployment's services with it.
    async fn create_service(
        &self,
        service: &ServiceRecord,
        check: &ServicesCheck<'_>,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Creates `services` with their variables in one transaction once `check` accepts the
    /// deployment's services with them, writing `audits` with them: all or nothing.
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) on `name` naming every service
    /// name already taken in the deployment.
    async fn create_services(
        &self,
        deployment: DeploymentId,
        services: &[(ServiceRecord, Vec<VariableRecord>)],
        check: &ServicesCheck<'_>,
        audits: &[AuditRecord],
    ) -> Result<()>;

    /// A deployment's service by name.
    async fn service(
        &self,
        deployment: DeploymentId,
        name: &ServiceName,
    ) -> Result<Option<ServiceRecord>>;

    /// A deployment's services in name order.
    async fn list_services(
        &self,
        deployment: DeploymentId,
        page: &PageRequest,
    ) -> Result<Vec<ServiceRecord>>;

    /// Saves a service's image, ports, volumes and settings once `check` accepts the
    /// deployment's services with the change.
    async fn update_service(
        &self,
        service: &ServiceRecord,
        check: &ServicesCheck<'_>,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes a service with its variables once `check` accepts the deployment's services
    /// without it.
    async fn delete_service(
        &self,
        service: ServiceId,
        check: &ServicesCheck<'_>,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// A service's variable by name.
    async fn variable(
        &self,
        service: ServiceId,
        name: &VariableName,
    ) -> Result<Option<VariableRecord>>;

    /// A service's variables in name order.
    async fn list_variables(
        &self,
        service: ServiceId,
        page: &PageRequest,
    ) -> Result<Vec<VariableRecord>>;

    /// Creates or replaces a variable (keyed by service and name; the row takes
    /// `variable.id`, the id its ciphertext was sealed for).
    async fn put_variable(&self, variable: &VariableRecord, audit: &AuditRecord) -> Result<()>;

    /// Writes `services` back as the whole of `deployment`'s services and variables, in one
    /// transaction with the deployment's row locked: services are updated by id, recreated
    /// under their id when deleted since, and deleted (with their variables) when not among
    /// `services`; plain variables are set to their values, secret ones keep their sealed
    /// value, and every other variable is deleted.
    ///
    /// [`StoreError::Invalid`](crate::StoreError::Invalid) on `variables`, naming every
    /// secret variable (`service.NAME`) that has no sealed value now (also when its service
    /// is gone or it became plain), with nothing written;
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) when the deployment is gone.
    async fn restore_services(
        &self,
        deployment: DeploymentId,
        services: &[RestoredService],
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Deletes a variable.
    async fn delete_variable(
        &self,
        service: ServiceId,
        name: &VariableName,
        audit: &AuditRecord,
    ) -> Result<()>;
}
