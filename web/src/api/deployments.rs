//! Deployments: one deployment's page (its services, status and last operations), creating,
//! applying, sharing (with the warning before it) and deleting.

use komander_domain::{
    Action,
    api::{Deployment, DeploymentRunStatus, Operation, Service},
};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{non_empty, parse_field},
    komander_app::AppError,
    komander_domain::{
        DeploymentRef, EnvironmentRef,
        api::{NewDeployment, PageQuery},
    },
};

/// What a deployment's page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    /// The deployment.
    pub deployment: Deployment,
    /// Its services.
    pub services: Vec<Service>,
    /// What its runtime says of each service; `None` before its first apply.
    pub status: Option<DeploymentRunStatus>,
    /// Why the status could not be read, when it could not.
    pub status_error: Option<String>,
    /// Its latest operations, newest first.
    pub operations: Vec<Operation>,
    /// What the viewer may do with it.
    pub actions: Vec<Action>,
    /// How many secret values sharing it would clear; `None` when the viewer may not share it
    /// or it is shared already.
    pub cleared_by_sharing: Option<u64>,
}

/// How many operations a deployment's page lists.
#[cfg(feature = "ssr")]
const RECENT_OPERATIONS: u32 = 5;

/// The deployment the page's path names.
#[cfg(feature = "ssr")]
pub(crate) fn deployment_ref(
    project: &str,
    environment: &str,
    deployment: &str,
) -> Result<DeploymentRef, UiError> {
    DeploymentRef::parse(project, environment, deployment).map_err(|e| AppError::from(e).into())
}

/// A deployment's page.
#[server(prefix = "/ui/fn", endpoint = "deployment", input = GetUrl)]
pub async fn load_deployment(
    project: String,
    environment: String,
    deployment: String,
) -> Result<DeploymentView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    let found = app.get_deployment(&caller, &reference).await?;
    let all = PageQuery {
        limit: Some(komander_domain::api::PAGE_MAX),
        cursor: None,
    };
    let services = app.list_services(&caller, &reference, &all).await?.items;
    let recent = PageQuery {
        limit: Some(RECENT_OPERATIONS),
        cursor: None,
    };
    let operations = app
        .list_operations(&caller, &reference, &recent)
        .await?
        .items;
    let actions = app.deployment_actions(&caller, &reference).await?;
    let (status, status_error) = if operations.is_empty() {
        (None, None)
    } else {
        match app.deployment_status(&caller, &reference).await {
            Ok(status) => (Some(status), None),
            Err(e) => (None, Some(UiError::from(e).to_string())),
        }
    };
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
        status,
        status_error,
        operations,
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

/// Starts applying a deployment on the server; the page shows the operation.
#[server(prefix = "/ui/fn", endpoint = "apply_deployment")]
pub async fn apply_deployment(
    project: String,
    environment: String,
    deployment: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = deployment_ref(&project, &environment, &deployment)?;
    app.apply_deployment(&caller, &reference).await?;
    Ok(())
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
