//! One deployment: its services and their status, applying it, adding services (by hand or
//! from a Compose file), sharing it (with the warning before) and deleting it.

use komander_domain::{Action, api::ServiceHealth};
use leptos::{html, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{
        deployments::{ApplyDeployment, DeleteDeployment, ShareDeployment, load_deployment},
        services::{CreateService, ImportCompose, ServiceFields},
    },
    components::{ConfirmDelete, Crumbs, Csrf, Field, FormError, Loaded, TextArea, action_error},
    pages::service::ServiceFieldset,
};

/// The path's three slugs.
fn path_slugs() -> (String, String, String) {
    let params = use_params_map();
    let p = params.read_untracked();
    (
        p.get("project").unwrap_or_default(),
        p.get("environment").unwrap_or_default(),
        p.get("deployment").unwrap_or_default(),
    )
}

/// The hidden fields naming the deployment.
#[component]
pub fn DeploymentFields(project: String, environment: String, deployment: String) -> impl IntoView {
    view! {
        <input type="hidden" name="project" value=project/>
        <input type="hidden" name="environment" value=environment/>
        <input type="hidden" name="deployment" value=deployment/>
    }
}

/// A deployment's page. The controls shown are the actions the viewer may take.
#[component]
pub fn DeploymentPage() -> impl IntoView {
    let params = use_params_map();
    let apply = ServerAction::<ApplyDeployment>::new();
    let share = ServerAction::<ShareDeployment>::new();
    let delete = ServerAction::<DeleteDeployment>::new();
    let create = ServerAction::<CreateService>::new();
    let import = ServerAction::<ImportCompose>::new();
    let data = Resource::new(
        move || {
            let p = params.read();
            (
                p.get("project").unwrap_or_default(),
                p.get("environment").unwrap_or_default(),
                p.get("deployment").unwrap_or_default(),
                apply.version().get()
                    + share.version().get()
                    + create.version().get()
                    + import.version().get(),
            )
        },
        |(project, environment, deployment, _)| load_deployment(project, environment, deployment),
    );
    view! {
        <Loaded
            data=data
            view=move |data| {
                let (project, environment, name) = path_slugs();
                let d = data.deployment;
                let may = |action| data.actions.contains(&action);
                let base = format!("/projects/{project}/environments/{environment}/deployments/{name}");
                let slugs = StoredValue::new((project.clone(), environment.clone(), name.clone()));
                let hidden = move || {
                    let (project, environment, deployment) = slugs.get_value();
                    view! { <DeploymentFields project environment deployment/> }
                };
                let services = if data.services.is_empty() {
                    view! { <p>"No service yet: add one, or import a Compose file."</p> }.into_any()
                } else {
                    let status = data.status.clone();
                    view! {
                        <table>
                            <caption class="visually-hidden">"Services"</caption>
                            <thead>
                                <tr>
                                    <th scope="col">"Service"</th>
                                    <th scope="col">"Image"</th>
                                    <th scope="col">"State"</th>
                                    <th scope="col">"Health"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {data
                                    .services
                                    .into_iter()
                                    .map(|s| {
                                        let run = status
                                            .as_ref()
                                            .and_then(|st| st.services.iter().find(|r| r.service == s.name))
                                            .cloned();
                                        let state = run
                                            .as_ref()
                                            .map_or("not applied".to_owned(), |r| r.state.as_str().to_owned());
                                        let health = run
                                            .as_ref()
                                            .map_or("-", |r| match r.health {
                                                ServiceHealth::None => "no check",
                                                ServiceHealth::Starting => "starting",
                                                ServiceHealth::Healthy => "healthy",
                                                ServiceHealth::Unhealthy => "unhealthy",
                                            });
                                        view! {
                                            <tr>
                                                <th scope="row">
                                                    <A href=format!("{base}/services/{}", s.name)>
                                                        {s.name.to_string()}
                                                    </A>
                                                </th>
                                                <td><code>{s.image}</code></td>
                                                <td class="state">{state}</td>
                                                <td>{health}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any()
                };
                let last = data.operations.first().cloned();
                let operation = last
                    .map(|op| {
                        view! {
                            <p id="last-operation">
                                "Last operation: " <strong>{op.kind.as_str()}</strong> " by "
                                {op.started_by.to_string()} ", " <span class="state">{op.state.as_str()}</span>
                                {op.message.map(|m| format!(": {m}"))}
                            </p>
                        }
                    });
                let apply_form = if may(Action::ApplyDeployment) {
                        Some({
                        let error = action_error(apply);
                        view! {
                            <ActionForm action=apply>
                                <Csrf/>
                                {hidden()}
                                <FormError error=error/>
                                <button type="submit" id="apply">"Apply"</button>
                            </ActionForm>
                        }
                        })
                    } else {
                        None
                    };
                let share_form = data.cleared_by_sharing.map(|count| {
                        let error = action_error(share);
                        view! {
                            <section aria-labelledby="share" class="warning-box">
                                <h2 id="share">"Share with the project"</h2>
                                <p id="share-warning">
                                    "Warning: the project's members will see it, and sharing clears "
                                    {count} " secret value" {if count == 1 { "" } else { "s" }}
                                    " set in it: you enter them again. It cannot be made private again."
                                </p>
                                <ActionForm action=share>
                                    <Csrf/>
                                    {hidden()}
                                    <FormError error=error/>
                                    <button type="submit" id="share-button">"Share it"</button>
                                </ActionForm>
                            </section>
                        }
                });
                let edit = if may(Action::EditDeployment) {
                        Some({
                        let create_error = action_error(create);
                        let import_error = action_error(import);
                        view! {
                            <section aria-labelledby="new-service">
                                <h2 id="new-service">"Add a service"</h2>
                                <ActionForm action=create>
                                    <Csrf/>
                                    {hidden()}
                                    <Field
                                        name="name"
                                        id="service-name"
                                        label="Name"
                                        error=create_error
                                        required=true
                                    />
                                    <ServiceFieldset fields=ServiceFields::default() error=create_error/>
                                    <button type="submit" id="create-service">"Add the service"</button>
                                </ActionForm>
                            </section>
                            <ComposeImportForm action=import error=import_error hidden=hidden().into_any()/>
                        }
                        })
                    } else {
                        None
                    };
                let delete_form = if may(Action::DeleteDeployment) {
                        Some({
                        let error = action_error(delete);
                        view! {
                            <section aria-labelledby="delete-deployment" class="danger">
                                <h2 id="delete-deployment">"Delete the deployment"</h2>
                                <ActionForm action=delete>
                                    <Csrf/>
                                    {hidden()}
                                    <ConfirmDelete
                                        what="deployment"
                                        name=d.name.to_string()
                                        consequence="This deletes its services and variables here."
                                        error=error
                                    />
                                </ActionForm>
                            </section>
                        }
                        })
                    } else {
                        None
                    };
                let (project, environment, name) = path_slugs();
                let environment_path = format!("/projects/{project}/environments/{environment}");
                let project_path = format!("/projects/{project}");
                view! {
                    <Title text=format!("{} · Komander", d.display_name)/>
                    <Crumbs trail=vec![(project, project_path), (environment, environment_path)] here=name/>
                    <h1>{d.display_name.clone()}</h1>
                    <p class="muted" id="visibility">
                        "Owned by " {d.owner.to_string()} ", "
                        {if d.shared { "shared with the project" } else { "private: only you see it" }}
                    </p>
                    {operation}
                    <p>
                        <a href=format!("/ui/download{base}/export") download="" id="export">
                            "Download the export bundle (Compose file and .env)"
                        </a>
                    </p>
                    {data.status_error.map(|e| view! { <p class="error">"Error: " {e}</p> })}
                    {apply_form}
                    <section aria-labelledby="services">
                        <h2 id="services">"Services"</h2>
                        {services}
                    </section>
                    {share_form}
                    {edit}
                    {delete_form}
                }
                    .into_any()
            }
        />
    }
}

/// Importing a Compose file: pasted, or read from a chosen file into the text area (once
/// hydrated). Errors name the file's line.
#[component]
fn ComposeImportForm(
    action: ServerAction<ImportCompose>,
    error: Signal<Option<crate::error::UiError>>,
    hidden: AnyView,
) -> impl IntoView {
    let text: NodeRef<html::Textarea> = NodeRef::new();
    let on_file = move |ev: leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        let promise = file.text();
        leptos::task::spawn_local(async move {
            if let Ok(value) = wasm_bindgen_futures::JsFuture::from(promise).await
                && let (Some(content), Some(area)) = (value.as_string(), text.get())
            {
                area.set_value(&content);
            }
        });
    };
    view! {
        <section aria-labelledby="import">
            <h2 id="import">"Import a Compose file"</h2>
            <ActionForm action=action>
                <Csrf/>
                {hidden}
                <div class="field">
                    <label for="compose-file">"Compose file to read"</label>
                    <input type="file" id="compose-file" accept=".yaml,.yml" on:change=on_file/>
                </div>
                <TextArea
                    name="compose"
                    id="compose"
                    label="Compose file"
                    hint="Paste it, or choose a file above."
                    value=String::new()
                    error=error
                    node_ref=text
                />
                <TextArea
                    name="env_file"
                    id="env-file"
                    label=".env file (optional)"
                    value=String::new()
                    error=error
                />
                <FormError error=error fields=&["compose", "env_file"]/>
                <button type="submit" id="import-compose">"Import"</button>
            </ActionForm>
        </section>
    }
}
