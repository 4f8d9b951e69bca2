//! Deployments: one deployment's page (its services, status and last operations), creating,
//! applying, sharing (with the warning before it) and deleting.

use komander_domain::{
    Action,
    api::{Deployment, DeploymentPlan, DeploymentRunStatus, Operation, Service},
};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use super::runs::{HistoryEntry, LogTail, OperationLog, ServiceUrls};
use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{non_empty, parse_field, runs},
    komander_app::AppError,
    komander_domain::{
        DeploymentRef, EnvironmentRef, Executor,
        api::{ErrorDetail, NewDeployment, PageQuery},
    },
};

/// What a deployment's page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    /// The deployment.
    pub deployment: Deployment,
    /// Its services.
    pub services: Vec<Service>,
    /// What applying it now would change; `None` in a local environment, or when the plan
    /// could not be made (`plan_error` says why).
    pub plan: Option<DeploymentPlan>,
    /// Why the plan could not be made, when it could not.
    pub plan_error: Option<String>,
    /// What its runtime says of each service; `None` before its first apply.
    pub status: Option<DeploymentRunStatus>,
    /// Why the status could not be read, when it could not.
    pub status_error: Option<String>,
    /// The URLs each service publishes.
    pub urls: Vec<ServiceUrls>,
    /// The last lines of each service's log, once something ran.
    pub logs: Vec<LogTail>,
    /// Its latest operation, as far as it went.
    pub live: Option<OperationLog>,
    /// Its latest operations, newest first.
    pub history: Vec<HistoryEntry>,
    /// For a deployment of a local environment: the command that applies it on one's own
    /// machine.
    pub up_command: Option<String>,
    /// What the viewer may do with it.
    pub actions: Vec<Action>,
    /// How many secret values sharing it would clear; `None` when the viewer may not share it
    /// or it is shared already.
    pub cleared_by_sharing: Option<u64>,
}

/// The deployment the page's path names.
#[cfg(feature = "ssr")]
pub(crate) fn deployment_ref(
    project: &str,
    environment: &str,
    deployment: &str,
) -> Result<DeploymentRef, UiError> {
    DeploymentRef::parse(project, environment, deployment).map_err(|e| AppError::from(e).into())
}

/// A part of the runtime's reading as the page shows it: the value, or why there is none.
#[cfg(feature = "ssr")]
fn split<T>(part: Option<Result<T, ErrorDetail>>) -> (Option<T>, Option<String>) {
    match part {
        None => (None, None),
        Some(Ok(value)) => (Some(value), None),
        Some(Err(detail)) => (None, Some(UiError::App(detail).to_string())),
    }
}

/// A deployment's page: everything it shows rendered on the server, so that the plan, the
/// status, the latest operation and the last log lines are in the first answer.
#[server(prefix = "/ui/fn", endpoint = "deployment", input = GetUrl)]
pub async fn load_deployment(
    project: String,
    environment: String,
    deployment: String,
) -> Result<DeploymentView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    let found = app.get_deployment(&caller, &reference).await?;
    let place = app.get_environment(&caller, &reference.environment).await?;
    let local = place.executor == Executor::Local;
    let all = PageQuery {
        limit: Some(komander_domain::api::PAGE_MAX),
        cursor: None,
    };
    let services = app.list_services(&caller, &reference, &all).await?.items;
    let actions = app.deployment_actions(&caller, &reference).await?;
    let history = runs::history(
        &app,
        &caller,
        &reference,
        &services,
        actions.contains(&Action::ApplyDeployment),
    )
    .await?;
    let live = match history.first() {
        Some(entry) => {
            Some(runs::operation_log(&app, &caller, &reference, entry.operation.id).await?)
        }
        None => None,
    };
    let reading = app.read_deployment(&caller, &reference).await?;
    let (plan, plan_error) = split(reading.plan.clone());
    let (status, status_error) = split(reading.status.clone());
    let logs = runs::log_tails(&reading);
    let target = match history.iter().find_map(|e| e.operation.target.clone()) {
        Some(name) => app
            .list_project_targets(&caller, &reference.environment.project, &all)
            .await?
            .items
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.endpoint),
        None => None,
    };
    let host = crate::ssr::request_host();
    let urls = runs::service_urls(&services, target.as_ref(), host.as_deref());
    let up_command = local.then(|| {
        let server = host.map_or(String::new(), |h| {
            format!(" --server {}://{h}", crate::ssr::request_scheme())
        });
        format!("komander up{server} {project}/{environment}/{deployment}")
    });
    let cleared_by_sharing = if !found.shared && actions.contains(&Action::ShareDeployment) {
        Some(
            app.secret_values_cleared_by_sharing(&caller, &reference)
                .await?,
        )
    } else {
        None
    };
    Ok(DeploymentView {
        deployment: found,
        services,
        plan,
        plan_error,
        status,
        status_error,
        urls,
        logs,
        live,
        history,
        up_command,
        actions,
        cleared_by_sharing,
    })
}

/// Creates a private deployment owned by the signed-in user, then opens it.
#[server(prefix = "/ui/fn", endpoint = "create_deployment")]
pub async fn create_deployment(
    project: String,
    environment: String,
    name: String,
    display_name: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = EnvironmentRef::parse(&project, &environment).map_err(AppError::from)?;
    let new = NewDeployment {
        name: parse_field("name", &name)?,
        display_name: non_empty(display_name),
    };
    let created = app.create_deployment(&caller, &reference, new).await?;
    leptos_axum::redirect(&format!(
        "/projects/{project}/environments/{environment}/deployments/{}",
        created.name
    ));
    Ok(())
}

/// Starts applying a deployment on the server; the page follows the operation.
#[server(prefix = "/ui/fn", endpoint = "apply_deployment")]
pub async fn apply_deployment(
    project: String,
    environment: String,
    deployment: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<Operation, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    Ok(app.apply_deployment(&caller, &reference).await?)
}

/// Shares a deployment with the project's members, clearing its secret values.
#[server(prefix = "/ui/fn", endpoint = "share_deployment")]
pub async fn share_deployment(
    project: String,
    environment: String,
    deployment: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    app.share_deployment(&caller, &reference).await?;
    Ok(())
}

/// Deletes a deployment, once its name is typed to confirm.
#[server(prefix = "/ui/fn", endpoint = "delete_deployment")]
pub async fn delete_deployment(
    project: String,
    environment: String,
    deployment: String,
    confirm: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    super::confirm_name("deployment", &deployment, &confirm)?;
    app.delete_deployment(&caller, &reference).await?;
    leptos_axum::redirect(&format!("/projects/{project}/environments/{environment}"));
    Ok(())
}
