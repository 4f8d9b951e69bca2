//! One environment: its deployments, creating one, editing the environment (with the warning
//! before a switch to `local`) and deleting it.

use komander_domain::Action;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    api::{
        deployments::CreateDeployment,
        environments::{
            CreateEnvironment, DeleteEnvironment, UpdateEnvironment, load_environment,
            load_environment_choices,
        },
    },
    components::{
        ConfirmDelete, Crumbs, Csrf, Field, FormError, Loaded, NextPage, Select, TextArea,
        action_error,
    },
};

/// Settings as the text area shows them: one `KEY=VALUE` a line.
fn settings_text(settings: &std::collections::BTreeMap<String, String>) -> String {
    settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// An environment's page. The controls shown are the actions the viewer may take.
#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let update = ServerAction::<UpdateEnvironment>::new();
    let delete = ServerAction::<DeleteEnvironment>::new();
    let create = ServerAction::<CreateDeployment>::new();
    let data = Resource::new(
        move || {
            let p = params.read();
            (
                p.get("project").unwrap_or_default(),
                p.get("environment").unwrap_or_default(),
                query.read().get("cursor"),
                update.version().get(),
            )
        },
        |(project, environment, cursor, _)| load_environment(project, environment, cursor),
    );
    view! {
        <Loaded
            data=data
            view=move |data| {
                let project = params.read_untracked().get("project").unwrap_or_default();
                let e = data.environment;
                let name = e.name.to_string();
                let may = |action| data.actions.contains(&action);
                let project_v = StoredValue::new(project.clone());
                let name_v = StoredValue::new(name.clone());
                let next_cursor = data.deployments.next_cursor.clone();
                let environment_path = format!("/projects/{project}/environments/{name}");
                let deployments = if data.deployments.items.is_empty() {
                    view! { <p>"No deployment you can see yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="cards">
                            {data
                                .deployments
                                .items
                                .into_iter()
                                .map(|d| {
                                    view! {
                                        <li>
                                            <A href=format!(
                                                "/projects/{project}/environments/{name}/deployments/{}",
                                                d.name,
                                            )>
                                                <strong>{d.display_name}</strong>
                                            </A>
                                            <span class="muted">
                                                " owned by " {d.owner.to_string()} ", "
                                                {if d.shared { "shared" } else { "private" }}
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                };
                let create_form = if may(Action::CreateDeployment) {
                        Some({
                        let error = action_error(create);
                        view! {
                            <section aria-labelledby="new-deployment">
                                <h2 id="new-deployment">"New deployment"</h2>
                                <p class="hint">"It is private to you until you share it."</p>
                                <ActionForm action=create>
                                    <Csrf/>
                                    <input type="hidden" name="project" value=project_v.get_value()/>
                                    <input type="hidden" name="environment" value=name_v.get_value()/>
                                    <Field
                                        name="name"
                                        id="deployment-name"
                                        label="Name"
                                        error=error
                                        required=true
                                    />
                                    <Field
                                        name="display_name"
                                        id="deployment-display-name"
                                        label="Display name"
                                        error=error
                                    />
                                    <FormError error=error fields=&["name", "display_name"]/>
                                    <button type="submit" id="create-deployment">
                                        "Create the deployment"
                                    </button>
                                </ActionForm>
                            </section>
                        }
                        })
                    } else {
                        None
                    };
                let edit_form = if may(Action::ManageEnvironment) {
                        Some({
                        let error = action_error(update);
                        let e = e.clone();
                        let warning = data
                            .cleared_by_going_local
                            .map(|count| {
                                format!(
                                    "Switching to local clears {count} secret value{} set in its \
                                     deployments: their owners enter them again.",
                                    if count == 1 { "" } else { "s" },
                                )
                            });
                        view! {
                            <section aria-labelledby="edit-environment">
                                <h2 id="edit-environment">"Edit the environment"</h2>
                                <ActionForm action=update>
                                    <Csrf/>
                                    <input type="hidden" name="project" value=project_v.get_value()/>
                                    <input type="hidden" name="environment" value=name_v.get_value()/>
                                    <Field
                                        name="display_name"
                                        id="environment-display-name"
                                        label="Display name"
                                        value=e.display_name.clone()
                                        error=error
                                    />
                                    <Select
                                        name="executor"
                                        id="environment-executor"
                                        label="Executor"
                                        options=vec![
                                            ("server".to_owned(), "server: Komander applies it".to_owned()),
                                            (
                                                "local".to_owned(),
                                                "local: members apply it with komander up".to_owned(),
                                            ),
                                        ]
                                        selected=e.executor.as_str().to_owned()
                                        error=error
                                    />
                                    {warning
                                        .map(|w| view! { <p class="warning" id="local-warning">"Warning: " {w}</p> })}
                                    <Field
                                        name="target"
                                        id="environment-target"
                                        label="Target"
                                        hint="A Docker Engine granted to the project; empty: the instance's default."
                                        value=e.target.map(|t| t.to_string()).unwrap_or_default()
                                        error=error
                                    />
                                    <TextArea
                                        name="settings"
                                        id="environment-settings"
                                        label="Settings"
                                        hint="One KEY=VALUE a line; not secret."
                                        value=settings_text(&e.settings)
                                        error=error
                                    />
                                    <FormError
                                        error=error
                                        fields=&["display_name", "executor", "target", "settings"]
                                    />
                                    <button type="submit" id="save-environment">"Save"</button>
                                </ActionForm>
                            </section>
                        }
                        })
                    } else {
                        None
                    };
                let delete_form = if may(Action::ManageEnvironment) {
                        Some({
                        let error = action_error(delete);
                        let force = may(Action::ForceDeleteEnvironment)
                            .then_some("Also destroy the deployments it still holds");
                        view! {
                            <section aria-labelledby="delete-environment" class="danger">
                                <h2 id="delete-environment">"Delete the environment"</h2>
                                <ActionForm action=delete>
                                    <Csrf/>
                                    <input type="hidden" name="project" value=project_v.get_value()/>
                                    <input type="hidden" name="environment" value=name_v.get_value()/>
                                    <ConfirmDelete
                                        what="environment"
                                        name=name_v.get_value()
                                        consequence="An environment that still holds deployments is kept, unless they are destroyed too."
                                        error=error
                                        force=force
                                    />
                                </ActionForm>
                            </section>
                        }
                        })
                    } else {
                        None
                    };
                view! {
                    <Title text=format!("{} · Komander", e.display_name)/>
                    <Crumbs trail=vec![(project.clone(), format!("/projects/{project}"))] here=name.clone()/>
                    <h1>{e.display_name.clone()}</h1>
                    <p class="muted">
                        "Runtime " {e.runtime.to_string()} ", executor "
                        {e.executor.as_str()}
                        {e.target.as_ref().map(|t| format!(", target {t}"))}
                    </p>
                    <section aria-labelledby="deployments">
                        <h2 id="deployments">"Deployments"</h2>
                        {deployments}
                        <NextPage cursor=next_cursor path=environment_path/>
                    </section>
                    {create_form}
                    {edit_form}
                    {delete_form}
                }
                    .into_any()
            }
        />
    }
}

/// The form that creates an environment in `project`, with the runtimes and targets it may
/// name.
#[component]
pub fn NewEnvironmentForm(project: String) -> impl IntoView {
    let create = ServerAction::<CreateEnvironment>::new();
    let error = action_error(create);
    let choices = Resource::new(
        {
            let project = project.clone();
            move || project.clone()
        },
        load_environment_choices,
    );
    view! {
        <section aria-labelledby="new-environment">
            <h2 id="new-environment">"New environment"</h2>
            <Loaded
                data=choices
                view=move |choices| {
                    let project = project.clone();
                    {
                        let runtimes = choices
                            .runtimes
                            .into_iter()
                            .map(|r| (r.clone(), r))
                            .collect::<Vec<_>>();
                        let targets = std::iter::once((String::new(), "the instance's default".to_owned()))
                            .chain(choices.targets.into_iter().map(|t| (t.clone(), t)))
                            .collect::<Vec<_>>();
                        view! {
                            <ActionForm action=create>
                                <Csrf/>
                                <input type="hidden" name="project" value=project/>
                                <Field
                                    name="name"
                                    id="environment-name"
                                    label="Name"
                                    hint="Such as dev, staging or prod."
                                    error=error
                                    required=true
                                />
                                <Field
                                    name="display_name"
                                    id="new-environment-display-name"
                                    label="Display name"
                                    error=error
                                />
                                <Select
                                    name="runtime"
                                    id="environment-runtime"
                                    label="Runtime"
                                    options=runtimes
                                    selected=String::new()
                                    error=error
                                />
                                <Select
                                    name="executor"
                                    id="new-environment-executor"
                                    label="Executor"
                                    options=vec![
                                        ("server".to_owned(), "server: Komander applies it".to_owned()),
                                        (
                                            "local".to_owned(),
                                            "local: members apply it with komander up".to_owned(),
                                        ),
                                    ]
                                    selected="server".to_owned()
                                    error=error
                                />
                                <Select
                                    name="target"
                                    id="environment-target-choice"
                                    label="Target"
                                    options=targets
                                    selected=String::new()
                                    error=error
                                />
                                <TextArea
                                    name="settings"
                                    id="new-environment-settings"
                                    label="Settings"
                                    hint="One KEY=VALUE a line; not secret."
                                    value=String::new()
                                    error=error
                                />
                                <FormError
                                    error=error
                                    fields=&[
                                        "name",
                                        "display_name",
                                        "runtime",
                                        "executor",
                                        "target",
                                        "settings",
                                    ]
                                />
                                <button type="submit" id="create-environment">
                                    "Create the environment"
                                </button>
                            </ActionForm>
                        }
                            .into_any()
                    }
                }
            />
        </section>
    }
}
