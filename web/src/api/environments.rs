//! Environments: one environment's page, creating, editing (with the warning before a switch
//! to `local`) and deleting.

use komander_domain::{
    Action,
    api::{Deployment, Environment, Page},
};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{non_empty, parse_field, projects::PAGE_SIZE},
    komander_app::AppError,
    komander_domain::{
        EnvironmentRef, Executor, ProjectRef,
        api::{EnvironmentPatch, NewEnvironment, PageQuery},
    },
    std::collections::BTreeMap,
};

/// What the form that creates an environment offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentChoices {
    /// The installed, enabled runtimes, by id.
    pub runtimes: Vec<String>,
    /// The targets granted to the project, by name.
    pub targets: Vec<String>,
}

/// The runtimes and targets an environment of `project` may name.
#[server(prefix = "/ui/fn", endpoint = "environment_choices", input = GetUrl)]
pub async fn load_environment_choices(project: String) -> Result<EnvironmentChoices, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = ProjectRef::parse(&project).map_err(AppError::from)?;
    let all = PageQuery {
        limit: Some(komander_domain::api::PAGE_MAX),
        cursor: None,
    };
    let runtimes = app
        .list_plugins(&caller, &all)
        .await?
        .items
        .into_iter()
        .filter(|p| p.kind == "runtime" && p.status == komander_domain::api::PluginStatus::Enabled)
        .map(|p| p.id)
        .collect();
    let targets = app
        .list_project_targets(&caller, &reference, &all)
        .await?
        .items
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    Ok(EnvironmentChoices { runtimes, targets })
}

/// What an environment's page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentView {
    /// The environment.
    pub environment: Environment,
    /// Its deployments the viewer may see, a page of them.
    pub deployments: Page<Deployment>,
    /// What the viewer may do in its project.
    pub actions: Vec<Action>,
    /// How many secret values a switch to `local` would clear; `None` when the viewer may not
    /// switch it or it is `local` already.
    pub cleared_by_going_local: Option<u64>,
}

/// An environment's page, with the page of its deployments after `cursor`.
#[server(prefix = "/ui/fn", endpoint = "environment", input = GetUrl)]
pub async fn load_environment(
    project: String,
    environment: String,
    cursor: Option<String>,
) -> Result<EnvironmentView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = EnvironmentRef::parse(&project, &environment).map_err(AppError::from)?;
    let found = app.get_environment(&caller, &reference).await?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    let deployments = app.list_deployments(&caller, &reference, &query).await?;
    let actions = app.project_actions(&caller, &reference.project).await?;
    let cleared_by_going_local = if found.executor == Executor::Server
        && actions.contains(&Action::SwitchEnvironmentToLocal)
    {
        Some(
            app.secret_values_cleared_by_going_local(&caller, &reference)
                .await?,
        )
    } else {
        None
    };
    Ok(EnvironmentView {
        environment: found,
        deployments,
        actions,
        cleared_by_going_local,
    })
}

/// Parses the settings text area: one `KEY=VALUE` a line, blank lines skipped.
#[cfg(feature = "ssr")]
fn parse_settings(text: &str) -> Result<BTreeMap<String, String>, UiError> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(n, line)| {
            line.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    AppError::invalid(
                        "settings",
                        format!("line {}: write each setting as KEY=VALUE", n + 1),
                    )
                    .into()
                })
        })
        .collect()
}

/// Parses the executor field.
#[cfg(feature = "ssr")]
fn parse_executor(text: &str) -> Result<Executor, UiError> {
    Executor::parse(text.trim())
        .ok_or_else(|| AppError::invalid("executor", "the executor is server or local").into())
}

/// Creates an environment, then opens it.
#[server(prefix = "/ui/fn", endpoint = "create_environment")]
pub async fn create_environment(
    project: String,
    name: String,
    display_name: Option<String>,
    runtime: String,
    executor: String,
    target: Option<String>,
    settings: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = ProjectRef::parse(&project).map_err(AppError::from)?;
    let new = NewEnvironment {
        name: parse_field("name", &name)?,
        display_name: non_empty(display_name),
        runtime: parse_field("runtime", &runtime)?,
        executor: parse_executor(&executor)?,
        target: non_empty(target)
            .map(|t| parse_field("target", &t))
            .transpose()?,
        settings: parse_settings(settings.as_deref().unwrap_or_default())?,
    };
    let created = app.create_environment(&caller, &reference, new).await?;
    leptos_axum::redirect(&format!(
        "/projects/{project}/environments/{}",
        created.name
    ));
    Ok(())
}

/// Changes an environment: display name, executor, target and settings.
#[server(prefix = "/ui/fn", endpoint = "update_environment")]
pub async fn update_environment(
    project: String,
    environment: String,
    display_name: String,
    executor: String,
    target: Option<String>,
    settings: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = EnvironmentRef::parse(&project, &environment).map_err(AppError::from)?;
    let patch = EnvironmentPatch {
        display_name: Some(display_name),
        executor: Some(parse_executor(&executor)?),
        target: Some(
            non_empty(target)
                .map(|t| parse_field("target", &t))
                .transpose()?,
        ),
        settings: Some(parse_settings(settings.as_deref().unwrap_or_default())?),
    };
    app.update_environment(&caller, &reference, patch).await?;
    Ok(())
}

/// Deletes an environment, once its name is typed to confirm; `force` destroys the
/// deployments it still holds.
#[server(prefix = "/ui/fn", endpoint = "delete_environment")]
pub async fn delete_environment(
    project: String,
    environment: String,
    confirm: String,
    #[server(default)] force: bool,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = EnvironmentRef::parse(&project, &environment).map_err(AppError::from)?;
    super::confirm_name("environment", &environment, &confirm)?;
    app.delete_environment(&caller, &reference, force).await?;
    leptos_axum::redirect(&format!("/projects/{project}"));
    Ok(())
}
