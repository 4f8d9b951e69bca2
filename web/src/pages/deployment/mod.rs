//! One deployment: what applying it would change, its latest operation live, each service's
//! status, published URLs and logs, its history with rollback, and the forms that apply, stop,
//! start, destroy, share and delete it and add services (by hand or from a Compose file).

mod history;
mod live;
mod logs;

use komander_domain::{
    Action,
    api::{DeploymentPlan, DeploymentRunStatus, OperationState, Service, ServiceHealth},
};
use leptos::{html, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::{
        deployments::{ApplyDeployment, DeleteDeployment, ShareDeployment, load_deployment},
        runs::{
            DestroyDeployment, RollbackDeployment, ServiceUrls, StartDeployment, StopDeployment,
            latest_operation,
        },
        services::{CreateService, ImportCompose, ServiceFields},
    },
    components::{
        ConfirmDelete, CopyButton, Crumbs, Csrf, Field, FormError, Loaded, TextArea, action_error,
        when,
    },
    pages::service::ServiceFieldset,
};

/// How often a page with no running operation asks whether one started (a teammate's apply,
/// or their `komander up`), in milliseconds.
const OPERATION_POLL_MS: u64 = 2000;

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
    let stop = ServerAction::<StopDeployment>::new();
    let start = ServerAction::<StartDeployment>::new();
    let destroy = ServerAction::<DestroyDeployment>::new();
    let rollback = ServerAction::<RollbackDeployment>::new();
    let share = ServerAction::<ShareDeployment>::new();
    let delete = ServerAction::<DeleteDeployment>::new();
    let create = ServerAction::<CreateService>::new();
    let import = ServerAction::<ImportCompose>::new();
    // Bumped when the operation the page watches ends, or another one starts.
    let refresh = RwSignal::new(0usize);
    let data = Resource::new(
        move || {
            let p = params.read();
            (
                p.get("project").unwrap_or_default(),
                p.get("environment").unwrap_or_default(),
                p.get("deployment").unwrap_or_default(),
                apply.version().get()
                    + stop.version().get()
                    + start.version().get()
                    + destroy.version().get()
                    + rollback.version().get()
                    + share.version().get()
                    + create.version().get()
                    + import.version().get()
                    + refresh.get(),
            )
        },
        |(project, environment, deployment, _)| load_deployment(project, environment, deployment),
    );
    let on_end = Callback::new(move |()| refresh.update(|n| *n += 1));
    view! {
        <Loaded
            data=data
            view=move |data| {
                let (project, environment, name) = path_slugs();
                let d = data.deployment;
                let deployment_name = d.name.to_string();
                let may = |action| data.actions.contains(&action);
                let base = format!("/projects/{project}/environments/{environment}/deployments/{name}");
                let events = format!("/ui/events{base}");
                let downloads = format!("/ui/download{base}");
                let slugs = StoredValue::new((project.clone(), environment.clone(), name.clone()));
                let hidden = move || {
                    let (project, environment, deployment) = slugs.get_value();
                    view! { <DeploymentFields project environment deployment/> }
                };
                let watched = data.live.as_ref().map(|l| (l.operation.id, l.operation.state));
                if !matches!(watched, Some((_, OperationState::Running))) {
                    watch_for_new_operations(slugs.get_value(), watched.map(|(id, _)| id), refresh);
                }
                let services = services_table(&base, data.services, data.status.clone(), &data.urls);
                let drift = data.status.map(drift_list);
                let live = data.live.map(|log| {
                    view! { <live::OperationPanel log events=events.clone() on_end/> }
                });
                let operate = may(Action::ApplyDeployment);
                let controls = operate.then(|| {
                    let apply_error = action_error(apply);
                    let stop_error = action_error(stop);
                    let start_error = action_error(start);
                    view! {
                        <section aria-labelledby="run-title" id="run">
                            <h2 id="run-title">"Run it"</h2>
                            {plan_view(data.plan, data.plan_error)}
                            <div class="buttons">
                                <ActionForm action=apply>
                                    <Csrf/>
                                    {hidden()}
                                    <FormError error=apply_error/>
                                    <button type="submit" id="apply">"Apply"</button>
                                </ActionForm>
                                <ActionForm action=stop>
                                    <Csrf/>
                                    {hidden()}
                                    <FormError error=stop_error/>
                                    <button type="submit" id="stop">"Stop"</button>
                                </ActionForm>
                                <ActionForm action=start>
                                    <Csrf/>
                                    {hidden()}
                                    <FormError error=start_error/>
                                    <button type="submit" id="start">"Start"</button>
                                </ActionForm>
                            </div>
                        </section>
                    }
                });
                let local = data.up_command.is_some();
                let up = data.up_command.map(|command| view! { <UpCommand command/> });
                let logs = (!data.logs.is_empty()).then(|| {
                    view! { <logs::LogsPanel tails=data.logs events=events.clone() downloads=downloads.clone()/> }
                });
                let history = view! {
                    <history::History entries=data.history slugs=slugs.get_value() rollback/>
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
                let destroy_form = (operate && !local).then(|| {
                    let error = action_error(destroy);
                    view! {
                        <section aria-labelledby="destroy-title" class="danger">
                            <h2 id="destroy-title">"Destroy what it runs"</h2>
                            <ActionForm action=destroy>
                                <Csrf/>
                                {hidden()}
                                <div class="field">
                                    <input type="checkbox" id="destroy-volumes" name="volumes" value="true"/>
                                    <label for="destroy-volumes">"Remove its named volumes and their data too"</label>
                                </div>
                                <ConfirmDelete
                                    what="deployment"
                                    name=deployment_name.clone()
                                    consequence="This removes its containers and networks; its spec stays, to apply again."
                                    error=error
                                    verb="Destroy"
                                />
                            </ActionForm>
                        </section>
                    }
                });
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
                    <p>
                        <a href=format!("{downloads}/export") download="" id="export">
                            "Download the export bundle (Compose file and .env)"
                        </a>
                    </p>
                    {up}
                    {controls}
                    {live}
                    {data.status_error.map(|e| view! { <p class="error">"Error: " {e}</p> })}
                    <section aria-labelledby="services">
                        <h2 id="services">"Services"</h2>
                        {services}
                        {drift}
                    </section>
                    {logs}
                    {history}
                    {share_form}
                    {edit}
                    {destroy_form}
                    {delete_form}
                }
                    .into_any()
            }
        />
    }
}

/// Once hydrated, asks every [`OPERATION_POLL_MS`] whether an operation other than `shown`
/// started, and then bumps `refresh` so that the page loads it and follows it live.
fn watch_for_new_operations(
    (project, environment, deployment): (String, String, String),
    shown: Option<komander_domain::OperationId>,
    refresh: RwSignal<usize>,
) {
    Effect::new(move |_| {
        let (project, environment, deployment) =
            (project.clone(), environment.clone(), deployment.clone());
        let ask = move || {
            let (project, environment, deployment) =
                (project.clone(), environment.clone(), deployment.clone());
            leptos::task::spawn_local(async move {
                if let Ok(Some(latest)) = latest_operation(project, environment, deployment).await
                    && Some(latest.id) != shown
                {
                    refresh.update(|n| *n += 1);
                }
            });
        };
        if let Ok(handle) =
            set_interval_with_handle(ask, std::time::Duration::from_millis(OPERATION_POLL_MS))
        {
            on_cleanup(move || handle.clear());
        }
    });
}

/// What an apply would change, with the reasons, shown before the apply button.
fn plan_view(plan: Option<DeploymentPlan>, error: Option<String>) -> impl IntoView {
    let body = match (plan, error) {
        (_, Some(error)) => view! { <p class="error">"The plan could not be made: " {error}</p> }.into_any(),
        (None, None) => ().into_any(),
        (Some(plan), None) if plan.changes.is_empty() && plan.warnings.is_empty() => {
            view! { <p id="plan-none">"Nothing to change: it runs as its spec says."</p> }.into_any()
        }
        (Some(plan), None) => view! {
            <ul id="plan-changes">
                {plan
                    .changes
                    .into_iter()
                    .map(|c| view! {
                        <li class=format!("change {}", c.action.as_str())>
                            <strong>{c.action.as_str()}</strong> " " {c.kind} " " <code>{c.name}</code> ": " {c.reason}
                        </li>
                    })
                    .collect_view()}
            </ul>
            {plan
                .warnings
                .into_iter()
                .map(|w| view! { <p class="warning">"Warning: " {w}</p> })
                .collect_view()}
        }
        .into_any(),
    };
    view! {
        <div id="plan" aria-labelledby="plan-title">
            <h3 id="plan-title">"What an apply would change"</h3>
            {body}
        </div>
    }
}

/// The services with how each runs and what it publishes.
fn services_table(
    base: &str,
    services: Vec<Service>,
    status: Option<DeploymentRunStatus>,
    urls: &[ServiceUrls],
) -> AnyView {
    if services.is_empty() {
        return view! { <p>"No service yet: add one, or import a Compose file."</p> }.into_any();
    }
    let rows = services
        .into_iter()
        .map(|s| {
            let run = status
                .as_ref()
                .and_then(|st| st.services.iter().find(|r| r.service == s.name))
                .cloned();
            let links = urls.iter().find(|u| u.service == s.name.as_str()).map(|u| {
                u.urls
                    .iter()
                    .map(|url| view! { <a href=url.clone() rel="noopener">{url.clone()}</a> " " })
                    .collect_view()
            });
            let (state, health, restarts, since, message) = match run {
                Some(r) => (
                    r.state.as_str().to_owned(),
                    health_text(r.health),
                    r.restarts.to_string(),
                    r.since.map(when).unwrap_or_default(),
                    r.message,
                ),
                None => (
                    "not applied".to_owned(),
                    "-",
                    String::new(),
                    String::new(),
                    String::new(),
                ),
            };
            let name = s.name.to_string();
            let href = format!("{base}/services/{name}");
            let label = name.clone();
            view! {
                <tr data-service=name>
                    <th scope="row">
                        <A href=href>{label}</A>
                    </th>
                    <td><code>{s.image}</code></td>
                    <td class="state">{state}</td>
                    <td>{health}</td>
                    <td>{restarts}</td>
                    <td>{since}</td>
                    <td class="urls">{links}</td>
                    <td>{message}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table>
            <caption class="visually-hidden">"Services"</caption>
            <thead>
                <tr>
                    <th scope="col">"Service"</th>
                    <th scope="col">"Image"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Health"</th>
                    <th scope="col">"Restarts"</th>
                    <th scope="col">"Since"</th>
                    <th scope="col">"URLs"</th>
                    <th scope="col">"Message"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// What a health check says, for people.
fn health_text(health: ServiceHealth) -> &'static str {
    match health {
        ServiceHealth::None => "no check",
        ServiceHealth::Starting => "starting",
        ServiceHealth::Healthy => "healthy",
        ServiceHealth::Unhealthy => "unhealthy",
    }
}

/// How what runs differs from the spec.
fn drift_list(status: DeploymentRunStatus) -> impl IntoView {
    if status.drift.is_empty() {
        return view! { <p id="drift">"No drift: what runs matches the spec."</p> }.into_any();
    }
    view! {
        <div id="drift">
            <h3>"Drift from the spec"</h3>
            <ul>
                {status
                    .drift
                    .into_iter()
                    .map(|c| view! { <li>{c.action.as_str()} " " {c.kind} " " <code>{c.name}</code> ": " {c.reason}</li> })
                    .collect_view()}
            </ul>
        </div>
    }
    .into_any()
}

/// The command that applies a deployment of a local environment on one's own machine, with a
/// button that copies it.
#[component]
fn UpCommand(command: String) -> impl IntoView {
    view! {
        <section aria-labelledby="up-title" id="up">
            <h2 id="up-title">"Run it on your machine"</h2>
            <p>"This environment is local: its deployments run on each developer's Docker engine. Run:"</p>
            <pre><code id="up-command">{command.clone()}</code></pre>
            <CopyButton text=command id="copy-up" label="Copy the command"/>
        </section>
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
