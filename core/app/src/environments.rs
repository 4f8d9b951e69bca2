//! Environments (DEV, STAGING, PROD…): unlimited per project, shared by its members, each bound
//! to one runtime plugin (checked at creation, see `plugins::runtimes`) and one executor. Admins and DevOps manage them; deleting one that still
//! holds deployments needs an Admin's `force`.

use std::collections::BTreeMap;

use komander_domain::{
    Action, EnvironmentId, EnvironmentRef, Executor, Facts, ProjectRef,
    api::{Environment, EnvironmentPatch, EnvironmentUpdate, NewEnvironment, Page, PageQuery},
    authorize,
    names::{SettingKey, TargetName},
    timestamps,
};
use komander_store::{EnvironmentRecord, SecretsOf, StoreError};
use serde_json::{Map, Value};
use tracing::{info, instrument};

use crate::{
    App, AppError, Caller, Paging, Result, error::named, projects::display_name,
    targets::not_granted,
};

const MAX_SETTINGS: usize = 64;

fn environment_view(e: EnvironmentRecord) -> Environment {
    Environment {
        id: e.id,
        name: e.name,
        display_name: e.display_name,
        runtime: e.runtime,
        executor: e.executor,
        target: e.target_name,
        settings: e
            .settings
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        created_at: timestamps::from_millis(e.created_at),
        updated_at: timestamps::from_millis(e.updated_at),
    }
}

/// Validates runtime settings: at most 64 keys, each a [`SettingKey`], values up to 4096
/// characters (the document's `maxLength`) without NUL.
fn settings(settings: BTreeMap<String, String>) -> Result<Map<String, Value>> {
    if settings.len() > MAX_SETTINGS {
        return Err(AppError::invalid(
            "settings",
            format!("at most {MAX_SETTINGS} settings"),
        ));
    }
    for (key, value) in &settings {
        key.parse::<SettingKey>()
            .map_err(|e| AppError::name("settings", e))?;
        if value.chars().count() > 4096 || value.contains('\0') {
            return Err(AppError::invalid(
                "settings",
                format!("the value of setting {key:?} is longer than 4096 characters or holds NUL"),
            ));
        }
    }
    Ok(settings
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect())
}

/// Maps a store error of an environment write: the store's refusal of a target not granted
/// to the project answers as one that does not exist ([`not_granted`]).
fn environment_error(err: StoreError, target: Option<&TargetName>) -> AppError {
    match (err, target) {
        (StoreError::Conflict { field: Some(f), .. }, Some(target)) if f == "target" => {
            not_granted(target)
        }
        (other, _) => AppError::from_store(other, "environment"),
    }
}

impl App {
    /// `POST /api/v1/projects/{project}/environments` (Admins, DevOps). Its runtime must be an
    /// installed, enabled runtime plugin; it is fixed from then on.
    ///
    /// # Errors
    /// Not found, forbidden, invalid input (also for a runtime that is not an installed,
    /// enabled runtime plugin, naming the ones that are), conflict on a taken name.
    #[instrument(skip_all, fields(actor = %caller.user.handle, project = %project, environment = %new.name))]
    pub async fn create_environment(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        new: NewEnvironment,
    ) -> Result<Environment> {
        let scope = self
            .project_scope(caller, project, Action::ManageEnvironment)
            .await?;
        self.check_new_runtime(&new.runtime).await?;
        let now = timestamps::to_millis(timestamps::now());
        let target_id = match &new.target {
            Some(name) => Some(self.target_for_environment(name).await?),
            None => None,
        };
        let environment = EnvironmentRecord {
            id: EnvironmentId::new(),
            project_id: scope.project.id,
            display_name: display_name(new.display_name.as_deref())?
                .unwrap_or_else(|| new.name.to_string()),
            name: new.name,
            runtime: new.runtime,
            executor: new.executor,
            target_id,
            target_name: new.target.clone(),
            settings: settings(new.settings)?,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "environment.create",
            environment.name.to_string(),
            &[
                "name",
                "display_name",
                "runtime",
                "executor",
                "target",
                "settings",
            ],
        );
        self.store
            .create_environment(&environment, &audit)
            .await
            .map_err(|e| environment_error(e, new.target.as_ref()))?;
        info!("environment created");
        Ok(environment_view(environment))
    }

    /// `GET /api/v1/projects/{project}/environments`, by name.
    ///
    /// # Errors
    /// Not found unless a member; invalid paging.
    pub async fn list_environments(
        &self,
        caller: &Caller,
        project: &ProjectRef,
        query: &PageQuery,
    ) -> Result<Page<Environment>> {
        let scope = self
            .project_scope(caller, project, Action::ViewProject)
            .await?;
        let (paging, page) = Paging::new(query)?;
        let rows = self
            .store
            .list_environments(scope.project.id, &page)
            .await?;
        paging.page(rows, |e| e.name.to_string(), |e| Ok(environment_view(e)))
    }

    /// `GET /api/v1/projects/{project}/environments/{environment}`.
    ///
    /// # Errors
    /// Not found unless a member.
    pub async fn get_environment(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
    ) -> Result<Environment> {
        let scope = self
            .environment_scope(caller, environment, Action::ViewProject)
            .await?;
        Ok(environment_view(scope.environment))
    }

    /// How many secret values switching `environment` to the `local` executor would clear,
    /// for the warning before it.
    ///
    /// # Errors
    /// Not found, or forbidden when the caller may not switch it.
    pub async fn secret_values_cleared_by_going_local(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
    ) -> Result<u64> {
        let scope = self
            .environment_scope(caller, environment, Action::SwitchEnvironmentToLocal)
            .await?;
        Ok(self
            .store
            .count_secret_values(SecretsOf::Environment(scope.environment.id))
            .await?)
    }

    /// `PATCH .../environments/{environment}` (Admins, DevOps). Switching the executor from
    /// `server` to `local` is an Admin's act: from then on the members who may apply its
    /// deployments receive their secret values, so the values entered until then (meant for
    /// the server's runtime alone) are cleared, and the answer counts them.
    ///
    /// # Errors
    /// Not found, forbidden, invalid input; conflict when the executor was switched meanwhile.
    #[instrument(skip_all, fields(actor = %caller.user.handle, environment = %environment))]
    pub async fn update_environment(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
        patch: EnvironmentPatch,
    ) -> Result<EnvironmentUpdate> {
        let scope = self
            .environment_scope(caller, environment, Action::ManageEnvironment)
            .await?;
        let mut record = scope.environment;
        let previous = record.executor;
        let mut fields = Vec::new();
        if let Some(d) = display_name(patch.display_name.as_deref())? {
            record.display_name = d;
            fields.push("display_name");
        }
        if let Some(executor) = patch.executor {
            if previous == Executor::Server && executor == Executor::Local {
                authorize(
                    &caller.actor(),
                    Action::SwitchEnvironmentToLocal,
                    &Facts::member(scope.role),
                )
                .map_err(|d| AppError::denied(d, || named("environment", record.name.as_str())))?;
                fields.push("secret_values");
            }
            record.executor = executor;
            fields.push("executor");
        }
        if let Some(s) = patch.settings {
            record.settings = settings(s)?;
            fields.push("settings");
        }
        if let Some(target) = &patch.target {
            record.target_id = match target {
                Some(name) => Some(self.target_for_environment(name).await?),
                None => None,
            };
            record.target_name = target.clone();
            fields.push("target");
        }
        record.updated_at = timestamps::to_millis(timestamps::now());
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "environment.update",
            record.name.to_string(),
            &fields,
        );
        let cleared = self
            .store
            .update_environment(&record, previous, &audit)
            .await
            .map_err(|e| environment_error(e, record.target_name.as_ref()))?;
        if cleared > 0 {
            info!(
                cleared_secret_values = cleared,
                "environment switched to local"
            );
        }
        Ok(EnvironmentUpdate {
            environment: environment_view(record),
            cleared_secret_values: cleared,
        })
    }

    /// `DELETE .../environments/{environment}` (Admins, DevOps). One that holds deployments
    /// is refused with their count, unless an Admin passes `force`, which destroys them.
    /// Answers how many deployments were deleted.
    ///
    /// # Errors
    /// Not found, forbidden (DevOps with `force`), conflict.
    #[instrument(skip_all, fields(actor = %caller.user.handle, environment = %environment))]
    pub async fn delete_environment(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
        force: bool,
    ) -> Result<u64> {
        let action = if force {
            Action::ForceDeleteEnvironment
        } else {
            Action::ManageEnvironment
        };
        let scope = self.environment_scope(caller, environment, action).await?;
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            if force {
                "environment.force_delete"
            } else {
                "environment.delete"
            },
            scope.environment.name.to_string(),
            &[],
        );
        let deleted = self
            .store
            .delete_environment(scope.environment.id, force, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "environment"))?;
        info!(deleted_deployments = deleted, "environment deleted");
        Ok(deleted)
    }
}
