//! A deployment's services and their variables.

use async_trait::async_trait;
use komander_domain::{
    DeploymentId, ServiceId,
    names::{ServiceName, VariableName},
};

use crate::{AuditRecord, PageRequest, Result, ServiceRecord, VariableRecord};

/// Services and variables. Implemented in `sql/services.rs`.
#[async_trait]
pub trait ServiceStore: Send + Sync {
    /// Creates a service.
    async fn create_service(&self, service: &ServiceRecord, audit: &AuditRecord) -> Result<()>;

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

    /// Saves a service's image, ports and volumes.
    async fn update_service(&self, service: &ServiceRecord, audit: &AuditRecord) -> Result<()>;

    /// Deletes a service with its variables.
    async fn delete_service(&self, service: ServiceId, audit: &AuditRecord) -> Result<()>;

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

    /// Deletes a variable.
    async fn delete_variable(
        &self,
        service: ServiceId,
        name: &VariableName,
        audit: &AuditRecord,
    ) -> Result<()>;
}
