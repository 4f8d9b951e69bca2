//! Environments (DEV, STAGING, PROD…): unlimited per project, shared by its members, each bound
//! to one runtime and one executor. Admins and DevOps manage them; deleting one that still
//! holds deployments needs an Admin's `force`.

use std::collections::BTreeMap;

use komander_domain::{
    Action, EnvironmentId, EnvironmentRef, ProjectRef,
    api::{Environment, EnvironmentPatch, NewEnvironment, Page, PageQuery},
    names::SettingKey,
    timestamps,
};
use komander_store::EnvironmentRecord;
use serde_json::{Map, Value};
use tracing::{info, instrument};

use crate::{App, AppError, Caller, Paging, Result, projects::display_name};

const MAX_SETTINGS: usize = 64;

fn environment_view(e: EnvironmentRecord) -> Environment {
    Environment {
        id: e.id,
        name: e.name,
        display_name: e.display_name,
        runtime: e.runtime,
        executor: e.executor,
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

/// Validates runtime settings: at most 64 keys, each a [`SettingKey`], values up to 4 KiB.
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
        if value.len() > 4096 || value.contains('\0') {
            return Err(AppError::invalid(
                "settings",
                format!("the value of setting {key:?} is longer than 4 KiB or holds NUL"),
            ));
        }
    }
    Ok(settings
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect())
}

impl App {
    /// `POST /api/v1/projects/{project}/environments` (Admins, DevOps).
    ///
    /// # Errors
    /// Not found, forbidden, invalid input, conflict on a taken name.
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
        let now = timestamps::to_millis(timestamps::now());
        let environment = EnvironmentRecord {
            id: EnvironmentId::new(),
            project_id: scope.project.id,
            display_name: display_name(new.display_name.as_deref())?
                .unwrap_or_else(|| new.name.to_string()),
            name: new.name,
            runtime: new.runtime,
            executor: new.executor,
            settings: settings(new.settings)?,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "environment.create",
            environment.name.to_string(),
            &["name", "display_name", "runtime", "executor", "settings"],
        );
        self.store
            .create_environment(&environment, &audit)
            .await
            .map_err(|e| AppError::from_store(e, "environment"))?;
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

    /// `PATCH .../environments/{environment}` (Admins, DevOps).
    ///
    /// # Errors
    /// Not found, forbidden, invalid input.
    #[instrument(skip_all, fields(actor = %caller.user.handle, environment = %environment))]
    pub async fn update_environment(
        &self,
        caller: &Caller,
        environment: &EnvironmentRef,
        patch: EnvironmentPatch,
    ) -> Result<Environment> {
        let scope = self
            .environment_scope(caller, environment, Action::ManageEnvironment)
            .await?;
        let mut record = scope.environment;
        let mut fields = Vec::new();
        if let Some(d) = display_name(patch.display_name.as_deref())? {
            record.display_name = d;
            fields.push("display_name");
        }
        if let Some(executor) = patch.executor {
            record.executor = executor;
            fields.push("executor");
        }
        if let Some(s) = patch.settings {
            record.settings = settings(s)?;
            fields.push("settings");
        }
        record.updated_at = timestamps::to_millis(timestamps::now());
        let audit = self.audit(
            caller,
            Some(scope.project.id),
            "environment.update",
            record.name.to_string(),
            &fields,
        );
        self.store.update_environment(&record, &audit).await?;
        Ok(environment_view(record))
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
