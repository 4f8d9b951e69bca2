//! Projects: the list, one project's page, creating, editing and deleting.

use komander_domain::{
    Action,
    api::{Environment, Page, Project},
};
use leptos::{prelude::*, server_fn::codec::GetUrl};
use serde::{Deserialize, Serialize};

use crate::error::UiError;
#[cfg(feature = "ssr")]
use {
    super::{non_empty, parse_field},
    komander_domain::{
        ProjectRef,
        api::{NewProject, PageQuery, ProjectPatch},
    },
};

/// A page of the signed-in user's projects.
#[server(prefix = "/ui/fn", endpoint = "projects", input = GetUrl)]
pub async fn projects(cursor: Option<String>) -> Result<Page<Project>, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    Ok(app.list_projects(&caller, &query).await?)
}

/// How many items a page of a list shows.
pub const PAGE_SIZE: u32 = 25;

/// What a project's page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectView {
    /// The project.
    pub project: Project,
    /// Its environments, a page of them.
    pub environments: Page<Environment>,
    /// What the viewer may do in it.
    pub actions: Vec<Action>,
}

/// A project's page, with the page of its environments after `cursor`.
#[server(prefix = "/ui/fn", endpoint = "project", input = GetUrl)]
pub async fn load_project(project: String, cursor: Option<String>) -> Result<ProjectView, UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = ProjectRef::parse(&project).map_err(komander_app::AppError::from)?;
    let found = app.get_project(&caller, &reference).await?;
    let query = PageQuery {
        limit: Some(PAGE_SIZE),
        cursor,
    };
    let environments = app.list_environments(&caller, &reference, &query).await?;
    let actions = app.project_actions(&caller, &reference).await?;
    Ok(ProjectView {
        project: found,
        environments,
        actions,
    })
}

/// Creates a project whose Admin is the signed-in user, then opens it.
#[server(prefix = "/ui/fn", endpoint = "create_project")]
pub async fn create_project(
    name: String,
    display_name: Option<String>,
    description: Option<String>,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let new = NewProject {
        name: parse_field("name", &name)?,
        display_name: non_empty(display_name),
        description: non_empty(description),
    };
    let created = app.create_project(&caller, new).await?;
    leptos_axum::redirect(&format!("/projects/{}", created.name));
    Ok(())
}

/// Changes a project's display name and description.
#[server(prefix = "/ui/fn", endpoint = "update_project")]
pub async fn update_project(
    project: String,
    display_name: String,
    description: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = ProjectRef::parse(&project).map_err(komander_app::AppError::from)?;
    let patch = ProjectPatch {
        display_name: Some(display_name),
        description: Some(description),
    };
    app.update_project(&caller, &reference, patch).await?;
    Ok(())
}

/// Deletes a project, once its name is typed to confirm.
#[server(prefix = "/ui/fn", endpoint = "delete_project")]
pub async fn delete_project(
    project: String,
    confirm: String,
    #[server(rename = "csrf")] _csrf: String,
) -> Result<(), UiError> {
    let (app, caller) = crate::ssr::signed_in()?;
    let reference = ProjectRef::parse(&project).map_err(komander_app::AppError::from)?;
    super::confirm_name("project", &project, &confirm)?;
    app.delete_project(&caller, &reference).await?;
    leptos_axum::redirect("/");
    Ok(())
}
