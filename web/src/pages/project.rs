//! One project: its environments, editing it and deleting it.

use komander_domain::Action;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    api::projects::{DeleteProject, UpdateProject, load_project},
    components::{ConfirmDelete, Crumbs, Csrf, Field, FormError, Loaded, NextPage, action_error},
    pages::environment::NewEnvironmentForm,
};

/// A project's page. The controls shown are the actions the viewer may take.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let update = ServerAction::<UpdateProject>::new();
    let delete = ServerAction::<DeleteProject>::new();
    let view_data = Resource::new(
        move || {
            (
                params.read().get("project").unwrap_or_default(),
                query.read().get("cursor"),
                update.version().get(),
            )
        },
        |(name, cursor, _)| load_project(name, cursor),
    );
    view! {
        <Loaded
            data=view_data
            view=move |data| {
                {
                    {
                        let p = data.project;
                        let name = p.name.to_string();
                        let may = |action| data.actions.contains(&action);
                        view! {
                            <Title text=format!("{} · Komander", p.display_name)/>
                            <Crumbs trail=vec![] here=name.clone()/>
                            <h1>{p.display_name.clone()}</h1>
                            <p>{p.description.clone()}</p>
                            <section aria-labelledby="environments">
                                <h2 id="environments">"Environments"</h2>
                                {if data.environments.items.is_empty() {
                                    view! { <p>"No environment yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="cards">
                                            {data
                                                .environments
                                                .items
                                                .into_iter()
                                                .map(|e| {
                                                    let name = name.clone();
                                                    view! {
                                                        <li>
                                                            <A href=format!(
                                                                "/projects/{name}/environments/{}",
                                                                e.name,
                                                            )>
                                                                <strong>{e.display_name}</strong>
                                                            </A>
                                                            <span class="muted">
                                                                " " {e.runtime.to_string()} ", "
                                                                {format!("{:?}", e.executor).to_lowercase()}
                                                            </span>
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                    }
                                        .into_any()
                                }}
                                <NextPage
                                    cursor=data.environments.next_cursor.clone()
                                    path=format!("/projects/{name}")
                                />
                            </section>
                            <nav class="actions" aria-label="Project">
                                {may(Action::ManageMembers)
                                    .then(|| {
                                        let name = name.clone();
                                        view! {
                                            <A href=format!("/projects/{name}/members")>
                                                "Members and invitations"
                                            </A>
                                        }
                                    })}
                                {may(Action::ReadAudit)
                                    .then(|| {
                                        let name = name.clone();
                                        view! {
                                            <A href=format!("/projects/{name}/audit")>"Audit log"</A>
                                        }
                                    })}
                            </nav>
                            {may(Action::EditProject)
                                .then({
                                    let name = name.clone();
                                    move || {
                                    let error = action_error(update);
                                    view! {
                                        <section aria-labelledby="edit-project">
                                            <h2 id="edit-project">"Edit the project"</h2>
                                            <ActionForm action=update>
                                                <Csrf/>
                                                <input type="hidden" name="project" value=name.clone()/>
                                                <Field
                                                    name="display_name"
                                                    id="edit-display-name"
                                                    label="Display name"
                                                    value=p.display_name.clone()
                                                    error=error
                                                />
                                                <Field
                                                    name="description"
                                                    id="edit-description"
                                                    label="Description"
                                                    value=p.description.clone()
                                                    error=error
                                                />
                                                <FormError error=error fields=&["display_name", "description"]/>
                                                <button type="submit" id="save-project">"Save"</button>
                                            </ActionForm>
                                        </section>
                                    }
                                }})}
                            {may(Action::ManageEnvironment)
                                .then(|| view! { <NewEnvironmentForm project=name.clone()/> })}
                            {may(Action::DeleteProject)
                                .then(|| view! { <DeleteProjectForm action=delete name=name.clone()/> })}
                        }
                            .into_any()
                    }
                }
            }
        />
    }
}

/// Deleting a project: its name typed to confirm.
#[component]
fn DeleteProjectForm(action: ServerAction<DeleteProject>, name: String) -> impl IntoView {
    let error = action_error(action);
    view! {
        <section aria-labelledby="delete-project" class="danger">
            <h2 id="delete-project">"Delete the project"</h2>
            <ActionForm action=action>
                <Csrf/>
                <input type="hidden" name="project" value=name.clone()/>
                <ConfirmDelete
                    what="project"
                    name=name
                    consequence="This deletes its environments, deployments and services here; nothing in a git provider."
                    error=error
                />
            </ActionForm>
        </section>
    }
}
