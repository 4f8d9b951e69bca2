//! Services of a deployment (one container each, from an image) and their variables. Secret
//! variable values are sealed for their row and never read back.

use komander_domain::{
    Action, DeploymentRef, ServiceId, ServiceRef, VariableId,
    api::{
        NewService, Page, PageQuery, PortSpec, Service, ServicePatch, Variable, VariableWrite,
        VolumeSpec,
    },
    names::{ImageRef, VariableName},
    timestamps,
};
use komander_secrets::Aad;
use komander_store::{ServiceRecord, StoredValue, VariableRecord};
use tracing::instrument;

use crate::{App, AppError, Caller, Paging, Result, about_deployment, scope::ServiceScope};

const MAX_PORTS: usize = 64;
const MAX_VOLUMES: usize = 64;
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Where a variable's ciphertext lives: bound into it, so it opens on this row only.
pub(crate) fn variable_aad(row: &str) -> Aad<'_> {
    Aad {
        table: "variables",
        row,
        field: "value",
    }
}

fn corrupt(what: &str, e: serde_json::Error) -> AppError {
    AppError::internal(format!("stored {what} do not parse"), e)
}

pub(crate) fn service_ports(s: &ServiceRecord) -> Result<Vec<PortSpec>> {
    serde_json::from_value(s.ports.clone()).map_err(|e| corrupt("ports", e))
}

pub(crate) fn service_volumes(s: &ServiceRecord) -> Result<Vec<VolumeSpec>> {
    serde_json::from_value(s.volumes.clone()).map_err(|e| corrupt("volumes", e))
}

fn service_view(s: ServiceRecord) -> Result<Service> {
    Ok(Service {
        id: s.id,
        ports: service_ports(&s)?,
        volumes: service_volumes(&s)?,
        name: s.name,
        image: s.image,
        created_at: timestamps::from_millis(s.created_at),
        updated_at: timestamps::from_millis(s.updated_at),
    })
}

/// Checks an image reference (see [`ImageRef`]), as the store keeps it.
fn image(value: &str) -> Result<String> {
    value
        .parse::<ImageRef>()
        .map(String::from)
        .map_err(|e| AppError::name("image", e))
}

fn ports(ports: Vec<PortSpec>) -> Result<serde_json::Value> {
    if ports.len() > MAX_PORTS {
        return Err(AppError::invalid(
            "ports",
            format!("at most {MAX_PORTS} ports"),
        ));
    }
    for (i, p) in ports.iter().enumerate() {
        if p.container == 0 || p.host == Some(0) {
            return Err(AppError::invalid("ports", "ports are between 1 and 65535"));
        }
        let earlier = &ports[..i];
        if earlier
            .iter()
            .any(|q| q.container == p.container && q.protocol == p.protocol)
        {
            return Err(AppError::invalid(
                "ports",
                format!("container port {} is listed twice", p.container),
            ));
        }
        if p.host.is_some()
            && earlier
                .iter()
                .any(|q| q.host == p.host && q.protocol == p.protocol)
        {
            return Err(AppError::invalid(
                "ports",
                format!(
                    "host port {} is published twice",
                    p.host.unwrap_or_default()
                ),
            ));
        }
    }
    Ok(serde_json::to_value(ports).expect("ports serialize"))
}

fn volumes(volumes: Vec<VolumeSpec>) -> Result<serde_json::Value> {
    if volumes.len() > MAX_VOLUMES {
        return Err(AppError::invalid(
            "volumes",
            format!("at most {MAX_VOLUMES} volumes"),
        ));
    }
    for (i, v) in volumes.iter().enumerate() {
        let t = &v.target;
        let ok = t.starts_with('/')
            && t.len() <= 4096
            && !t.contains('\0')
            && !t.split('/').any(|part| part == ".." || part == ".");
        if !ok {
            return Err(AppError::invalid(
                "volumes",
                format!("invalid mount target {t:?}: an absolute path without . or .."),
            ));
        }
        if volumes[..i].iter().any(|w| w.target == v.target) {
            return Err(AppError::invalid(
                "volumes",
                format!("mount target {t:?} is used twice"),
            ));
        }
    }
    Ok(serde_json::to_value(volumes).expect("volumes serialize"))
}

fn variable_view(v: VariableRecord) -> Variable {
    let (has_value, value) = match v.value {
        StoredValue::Empty => (false, None),
        StoredValue::Plain(p) => (true, Some(p)),
        StoredValue::Sealed(_) => (true, None),
    };
    Variable {
        name: v.name,
        secret: v.secret,
        has_value,
        value,
    }
}

impl App {
    /// `POST .../deployments/{deployment}/services`: those who may edit the deployment.
    ///
    /// # Errors
    /// Not found, forbidden, invalid input, conflict on a taken name.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment, service = %new.name))]
    pub async fn create_service(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        new: NewService,
    ) -> Result<Service> {
        let scope = self
            .deployment_scope(caller, deployment, Action::EditDeployment)
            .await?;
        let now = timestamps::to_millis(timestamps::now());
        let service = ServiceRecord {
            id: ServiceId::new(),
            deployment_id: scope.deployment.id,
            image: image(&new.image)?,
            ports: ports(new.ports)?,
            volumes: volumes(new.volumes)?,
            name: new.name,
            created_at: now,
            updated_at: now,
        };
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "service.create",
                format!("{}/{}", scope.target(), service.name),
                &["name", "image", "ports", "volumes"],
            ),
            &scope.deployment,
        );
        self.store
            .create_service(&service, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "service"))?;
        service_view(service)
    }

    /// `GET .../deployments/{deployment}/services`, by name.
    ///
    /// # Errors
    /// Not found; invalid paging.
    pub async fn list_services(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        query: &PageQuery,
    ) -> Result<Page<Service>> {
        let scope = self
            .deployment_scope(caller, deployment, Action::ViewDeployment)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_services(scope.deployment.id, &page).await?;
        paging.page(rows, |s| s.name.to_string(), service_view)
    }

    /// `GET .../services/{service}`.
    ///
    /// # Errors
    /// Not found.
    pub async fn get_service(&self, caller: &Caller, service: &ServiceRef) -> Result<Service> {
        let scope = self
            .service_scope(caller, service, Action::ViewDeployment)
            .await?;
        service_view(scope.service)
    }

    /// `PATCH .../services/{service}`: replaces what is given.
    ///
    /// # Errors
    /// Not found, forbidden, invalid input.
    #[instrument(skip_all, fields(actor = %caller.user.handle, service = %service))]
    pub async fn update_service(
        &self,
        caller: &Caller,
        service: &ServiceRef,
        patch: ServicePatch,
    ) -> Result<Service> {
        let ServiceScope {
            deployment,
            mut service,
        } = self
            .service_scope(caller, service, Action::EditDeployment)
            .await?;
        let mut fields = Vec::new();
        if let Some(i) = patch.image {
            service.image = image(&i)?;
            fields.push("image");
        }
        if let Some(p) = patch.ports {
            service.ports = ports(p)?;
            fields.push("ports");
        }
        if let Some(v) = patch.volumes {
            service.volumes = volumes(v)?;
            fields.push("volumes");
        }
        service.updated_at = timestamps::to_millis(timestamps::now());
        let audit = about_deployment(
            self.audit(
                caller,
                Some(deployment.project.id),
                "service.update",
                format!("{}/{}", deployment.target(), service.name),
                &fields,
            ),
            &deployment.deployment,
        );
        self.store.update_service(&service, &audit).await?;
        service_view(service)
    }

    /// `DELETE .../services/{service}`, with its variables.
    ///
    /// # Errors
    /// Not found, forbidden.
    #[instrument(skip_all, fields(actor = %caller.user.handle, service = %service))]
    pub async fn delete_service(&self, caller: &Caller, service: &ServiceRef) -> Result<()> {
        let scope = self
            .service_scope(caller, service, Action::EditDeployment)
            .await?;
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.deployment.project.id),
                "service.delete",
                scope.target(),
                &[],
            ),
            &scope.deployment.deployment,
        );
        Ok(self.store.delete_service(scope.service.id, &audit).await?)
    }

    /// `GET .../services/{service}/variables`, by name; secret values never appear.
    ///
    /// # Errors
    /// Not found; invalid paging.
    pub async fn list_variables(
        &self,
        caller: &Caller,
        service: &ServiceRef,
        query: &PageQuery,
    ) -> Result<Page<Variable>> {
        let scope = self
            .service_scope(caller, service, Action::ViewDeployment)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self.store.list_variables(scope.service.id, &page).await?;
        paging.page(rows, |v| v.name.to_string(), |v| Ok(variable_view(v)))
    }

    /// `PUT .../variables/{name}`: sets a variable, replacing it. A secret value is sealed for
    /// the variable's row and is write-only from then on; without `value` the variable is
    /// declared with no value (a secret to be entered later). Turning a secret into a plain
    /// variable therefore clears its value unless a new one is given.
    ///
    /// # Errors
    /// Not found, forbidden, invalid name or value.
    #[instrument(skip_all, fields(actor = %caller.user.handle, service = %service, variable = name))]
    pub async fn put_variable(
        &self,
        caller: &Caller,
        service: &ServiceRef,
        name: &str,
        write: VariableWrite,
    ) -> Result<Variable> {
        let scope = self
            .service_scope(caller, service, Action::EditDeployment)
            .await?;
        let name: VariableName = name.parse().map_err(|e| AppError::name("name", e))?;
        if let Some(v) = &write.value
            && (v.len() > MAX_VALUE_BYTES || v.contains('\0'))
        {
            return Err(AppError::invalid(
                "value",
                "a value is at most 64 KiB and holds no NUL character",
            ));
        }
        let id = match self.store.variable(scope.service.id, &name).await? {
            Some(existing) => existing.id,
            None => VariableId::new(),
        };
        let row = id.to_string();
        let value = match (write.value, write.secret) {
            (None, _) => StoredValue::Empty,
            (Some(v), false) => StoredValue::Plain(v),
            (Some(v), true) => {
                StoredValue::Sealed(self.keyring.seal(v.as_bytes(), &variable_aad(&row)))
            }
        };
        let record = VariableRecord {
            id,
            service_id: scope.service.id,
            name,
            secret: write.secret,
            value,
            updated_at: timestamps::to_millis(timestamps::now()),
        };
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.deployment.project.id),
                "variable.set",
                format!("{}/{}", scope.target(), record.name),
                &["secret", "value"],
            ),
            &scope.deployment.deployment,
        );
        self.store.put_variable(&record, &audit).await?;
        Ok(variable_view(record))
    }

    /// `DELETE .../variables/{name}`.
    ///
    /// # Errors
    /// Not found, forbidden.
    #[instrument(skip_all, fields(actor = %caller.user.handle, service = %service, variable = name))]
    pub async fn delete_variable(
        &self,
        caller: &Caller,
        service: &ServiceRef,
        name: &str,
    ) -> Result<()> {
        let scope = self
            .service_scope(caller, service, Action::EditDeployment)
            .await?;
        let parsed: VariableName = name
            .parse()
            .map_err(|_| AppError::NotFound(format!("variable {name:?}")))?;
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.deployment.project.id),
                "variable.delete",
                format!("{}/{}", scope.target(), parsed),
                &[],
            ),
            &scope.deployment.deployment,
        );
        self.store
            .delete_variable(scope.service.id, &parsed, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "variable"))
    }
}
