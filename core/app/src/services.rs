//! Services of a deployment (one container each, from an image) and their variables. Secret
//! variable values are sealed for their row and never read back.

use komander_compose::{ImportedService, Source};
use komander_domain::{
    Action, DeploymentId, DeploymentRef, ServiceId, ServiceRef, VariableId,
    api::{
        ComposeImport, NewService, Page, PageQuery, PortSpec, Service, ServicePatch,
        ServiceSettings, Variable, VariableWrite, VolumeSpec,
    },
    names::{ImageRef, ServiceName, VariableName},
    services::{self as rules, Sibling, SpecError},
    timestamps,
};
use komander_secrets::Aad;
use komander_store::{ServiceRecord, StoreError, StoredValue, VariableRecord};
use tracing::{info, instrument};

use crate::{App, AppError, Caller, Paging, Result, about_deployment, scope::ServiceScope};

const MAX_VOLUMES: usize = 64;
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The fields a service's create or update may change, in the order the audit log names them.
const SERVICE_FIELDS: &[&str] = &[
    "name",
    "image",
    "ports",
    "volumes",
    "command",
    "entrypoint",
    "working_dir",
    "user",
    "health_check",
    "restart",
    "depends_on",
    "memory_bytes",
    "cpus",
    "replicas",
    "pull",
];

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

pub(crate) fn service_settings(s: &ServiceRecord) -> Result<ServiceSettings> {
    serde_json::from_value(s.settings.clone()).map_err(|e| corrupt("settings", e))
}

fn service_view(s: ServiceRecord) -> Result<Service> {
    Ok(Service {
        id: s.id,
        ports: service_ports(&s)?,
        volumes: service_volumes(&s)?,
        settings: service_settings(&s)?,
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

impl From<SpecError> for AppError {
    fn from(err: SpecError) -> Self {
        AppError::InvalidInput {
            field: Some(err.field),
            message: err.message,
        }
    }
}

fn ports(ports: Vec<PortSpec>) -> Result<serde_json::Value> {
    rules::check_ports(&ports)?;
    Ok(serde_json::to_value(ports).expect("ports serialize"))
}

/// Checks a service's settings with its ports, as the store keeps them.
fn settings(settings: &ServiceSettings, ports: &serde_json::Value) -> Result<serde_json::Value> {
    let ports: Vec<PortSpec> =
        serde_json::from_value(ports.clone()).map_err(|e| corrupt("ports", e))?;
    rules::check_settings(settings, &ports)?;
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

/// A deployment's services as the deployment-wide rules read them, from their rows.
fn siblings(
    services: &[ServiceRecord],
) -> komander_store::Result<Vec<(ServiceName, Vec<PortSpec>, ServiceSettings)>> {
    services
        .iter()
        .map(|s| {
            let parse = |e: serde_json::Error| StoreError::Corrupt {
                table: "services",
                detail: format!("service {}: {e}", s.name),
            };
            Ok((
                s.name.clone(),
                serde_json::from_value(s.ports.clone()).map_err(parse)?,
                serde_json::from_value(s.settings.clone()).map_err(parse)?,
            ))
        })
        .collect()
}

fn as_siblings(parsed: &[(ServiceName, Vec<PortSpec>, ServiceSettings)]) -> Vec<Sibling<'_>> {
    parsed
        .iter()
        .map(|(name, ports, settings)| Sibling {
            name,
            ports,
            settings,
        })
        .collect()
}

/// The deployment-wide rules for a change of `changed`, as the store runs them inside the
/// write (see [`komander_store::ServicesCheck`]).
fn deployment_rules(
    changed: &ServiceName,
) -> impl Fn(&[ServiceRecord]) -> komander_store::Result<()> + Send + Sync + '_ {
    move |services| {
        let parsed = siblings(services)?;
        rules::check_deployment(&as_siblings(&parsed), changed).map_err(|e| StoreError::Invalid {
            field: e.field,
            message: e.message,
        })
    }
}

/// [`deployment_rules`] for each of `changed`.
fn deployment_rules_all(
    changed: &[ServiceName],
) -> impl Fn(&[ServiceRecord]) -> komander_store::Result<()> + Send + Sync + '_ {
    move |services| {
        changed
            .iter()
            .try_for_each(|name| deployment_rules(name)(services))
    }
}

/// The row of a new service of `deployment`, checked as the store keeps it.
fn service_record(deployment: DeploymentId, new: NewService, now: i64) -> Result<ServiceRecord> {
    let wanted = new.settings();
    let ports = ports(new.ports)?;
    Ok(ServiceRecord {
        id: ServiceId::new(),
        deployment_id: deployment,
        image: image(&new.image)?,
        settings: settings(&wanted, &ports)?,
        ports,
        volumes: volumes(new.volumes)?,
        name: new.name,
        created_at: now,
        updated_at: now,
    })
}

/// Refuses to delete `deleted` while other services depend on it, naming them.
fn no_dependents(
    deleted: &ServiceName,
) -> impl Fn(&[ServiceRecord]) -> komander_store::Result<()> + Send + Sync + '_ {
    move |services| {
        let parsed = siblings(services)?;
        let dependents: Vec<&str> = rules::dependents(&as_siblings(&parsed), deleted)
            .into_iter()
            .map(ServiceName::as_str)
            .collect();
        if dependents.is_empty() {
            return Ok(());
        }
        Err(StoreError::conflict(format!(
            "service {deleted} cannot be deleted: {} depend on it (change their depends_on first)",
            dependents.join(", ")
        )))
    }
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
        let service = service_record(scope.deployment.id, new, now)?;
        let audit = about_deployment(
            self.audit(
                caller,
                Some(scope.project.id),
                "service.create",
                format!("{}/{}", scope.target(), service.name),
                SERVICE_FIELDS,
            ),
            &scope.deployment,
        );
        self.store
            .create_service(&service, &deployment_rules(&service.name), &audit)
            .await
            .map_err(|e| AppError::from_store(e, "service"))?;
        service_view(service)
    }

    /// `POST .../deployments/{deployment}/import`: creates the services of a Compose file
    /// (see [`komander_compose`]) with their variables, secret ones (by name) sealed for their
    /// row, in one transaction with one `service.create` and one `variable.set` audit entry
    /// each: all or nothing. Those who may edit the deployment.
    ///
    /// # Errors
    /// Not found, forbidden; invalid input naming the file, line and key of every refusal
    /// (`field` is the first key); conflict naming every service name already taken.
    #[instrument(skip_all, fields(actor = %caller.user.handle, deployment = %deployment, file = %import.file_name))]
    pub async fn import_compose(
        &self,
        caller: &Caller,
        deployment: &DeploymentRef,
        import: ComposeImport,
    ) -> Result<Vec<Service>> {
        let scope = self
            .deployment_scope(caller, deployment, Action::EditDeployment)
            .await?;
        let file_name = import.file_name.rsplit('/').next().unwrap_or_default();
        if file_name.is_empty() || file_name.len() > 255 || file_name.contains(char::is_control) {
            return Err(AppError::invalid(
                "file_name",
                "a file name of 1 to 255 characters without control characters",
            ));
        }
        let imported = komander_compose::parse(&Source {
            file_name,
            text: &import.compose,
            env_file: import.env_file.as_deref(),
            variables: &import.variables,
        })
        .map_err(|refused| AppError::InvalidInput {
            field: refused.0.first().map(|r| r.key.clone()),
            message: refused.to_string(),
        })?;
        let now = timestamps::to_millis(timestamps::now());
        let mut rows = Vec::with_capacity(imported.len());
        let mut audits = Vec::new();
        for ImportedService { service, variables } in imported {
            let service = service_record(scope.deployment.id, service, now)?;
            let target = format!("{}/{}", scope.target(), service.name);
            audits.push(self.audit(
                caller,
                Some(scope.project.id),
                "service.create",
                &*target,
                SERVICE_FIELDS,
            ));
            let variables: Vec<VariableRecord> = variables
                .into_iter()
                .map(|v| {
                    audits.push(self.audit(
                        caller,
                        Some(scope.project.id),
                        "variable.set",
                        format!("{target}/{}", v.name),
                        &["secret", "value"],
                    ));
                    let id = VariableId::new();
                    let value = if v.secret {
                        let row = id.to_string();
                        StoredValue::Sealed(
                            self.keyring.seal(v.value.as_bytes(), &variable_aad(&row)),
                        )
                    } else {
                        StoredValue::Plain(v.value)
                    };
                    VariableRecord {
                        id,
                        service_id: service.id,
                        name: v.name,
                        secret: v.secret,
                        value,
                        updated_at: now,
                    }
                })
                .collect();
            rows.push((service, variables));
        }
        let audits: Vec<_> = audits
            .into_iter()
            .map(|a| about_deployment(a, &scope.deployment))
            .collect();
        let names: Vec<ServiceName> = rows.iter().map(|(s, _)| s.name.clone()).collect();
        self.store
            .create_services(
                scope.deployment.id,
                &rows,
                &deployment_rules_all(&names),
                &audits,
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict { field, message } => AppError::Conflict { field, message },
                e => AppError::from_store(e, "service"),
            })?;
        info!(services = rows.len(), "compose file imported");
        rows.into_iter().map(|(s, _)| service_view(s)).collect()
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
        let mut wanted = service_settings(&service)?;
        let mut fields = patch.apply_settings(&mut wanted);
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
        service.settings = settings(&wanted, &service.ports)?;
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
        self.store
            .update_service(&service, &deployment_rules(&service.name), &audit)
            .await?;
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
        let check = no_dependents(&scope.service.name);
        self.store
            .delete_service(scope.service.id, &check, &audit)
            .await?;
        Ok(())
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
