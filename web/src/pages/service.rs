//! One service: its settings, its variables (secret values write-only: the page shows only
//! whether one is set), and deleting it.

use komander_domain::Action;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    api::services::{
        DeleteService, DeleteVariable, PutVariable, ServiceFields, UpdateService, load_service,
    },
    components::{ConfirmDelete, Crumbs, Csrf, Field, FormError, Loaded, TextArea, action_error},
    error::UiError,
    pages::deployment::DeploymentFields,
};

/// The settings fields of the service form, named `fields[...]` for the server function.
#[component]
pub fn ServiceFieldset(fields: ServiceFields, error: Signal<Option<UiError>>) -> impl IntoView {
    let names = &[
        "image",
        "command",
        "ports",
        "volumes",
        "health_command",
        "health_interval",
        "health_retries",
        "depends_on",
        "memory",
        "cpus",
        "restart",
    ];
    view! {
        <Field name="fields[image]" id="service-image" label="Image" value=fields.image error=error required=true/>
        <Field
            name="fields[command]"
            id="service-command"
            label="Command"
            hint="Words, or a JSON array of strings; empty keeps the image's."
            value=fields.command
            error=error
        />
        <TextArea
            name="fields[ports]"
            id="service-ports"
            label="Ports"
            hint="One a line: CONTAINER[:HOST[@ADDRESS]][/udp], such as 80:8080."
            value=fields.ports
            error=error
        />
        <TextArea
            name="fields[volumes]"
            id="service-volumes"
            label="Volumes"
            hint="One a line: NAME:/PATH[:ro]."
            value=fields.volumes
            error=error
        />
        <fieldset>
            <legend>"Health check"</legend>
            <Field
                name="fields[health_command]"
                id="service-health-command"
                label="Command"
                hint="Run in the container; exit status 0 is healthy. Empty: no check."
                value=fields.health_command
                error=error
            />
            <Field
                name="fields[health_interval]"
                id="service-health-interval"
                label="Interval"
                hint="Such as 30s or 1m."
                value=fields.health_interval
                error=error
            />
            <Field
                name="fields[health_retries]"
                id="service-health-retries"
                label="Retries"
                value=fields.health_retries
                error=error
            />
        </fieldset>
        <TextArea
            name="fields[depends_on]"
            id="service-depends-on"
            label="Depends on"
            hint="One a line: SERVICE[:started|healthy|completed_successfully]."
            value=fields.depends_on
            error=error
        />
        <Field
            name="fields[memory]"
            id="service-memory"
            label="Memory limit"
            hint="Such as 256m or 1g; empty: none."
            value=fields.memory
            error=error
        />
        <Field
            name="fields[cpus]"
            id="service-cpus"
            label="CPU limit"
            hint="In CPUs, such as 0.5; empty: none."
            value=fields.cpus
            error=error
        />
        <Field
            name="fields[restart]"
            id="service-restart"
            label="Restart"
            hint="no, always, unless-stopped, on-failure or on-failure:N."
            value=fields.restart
            error=error
        />
        <FormError error=error fields=names/>
    }
}

/// A service's page. The controls shown are the actions the viewer may take.
#[component]
pub fn ServicePage() -> impl IntoView {
    let params = use_params_map();
    let update = ServerAction::<UpdateService>::new();
    let put = ServerAction::<PutVariable>::new();
    let remove_variable = ServerAction::<DeleteVariable>::new();
    let delete = ServerAction::<DeleteService>::new();
    let data = Resource::new(
        move || {
            let p = params.read();
            (
                p.get("project").unwrap_or_default(),
                p.get("environment").unwrap_or_default(),
                p.get("deployment").unwrap_or_default(),
                p.get("service").unwrap_or_default(),
                update.version().get() + put.version().get() + remove_variable.version().get(),
            )
        },
        |(project, environment, deployment, service, _)| {
            load_service(project, environment, deployment, service)
        },
    );
    view! {
        <Loaded
            data=data
            view=move |data| {
                let p = params.read_untracked();
                let project = p.get("project").unwrap_or_default();
                let environment = p.get("environment").unwrap_or_default();
                let deployment = p.get("deployment").unwrap_or_default();
                let name = data.service.name.to_string();
                let editable = data.actions.contains(&Action::EditDeployment);
                let slugs = StoredValue::new((
                    project.clone(),
                    environment.clone(),
                    deployment.clone(),
                    name.clone(),
                ));
                let hidden = move || {
                    let (project, environment, deployment, service) = slugs.get_value();
                    view! {
                        <DeploymentFields project environment deployment/>
                        <input type="hidden" name="service" value=service/>
                    }
                };
                let variables = data
                    .variables
                    .into_iter()
                    .map(|v| {
                        let shown = if v.secret {
                            if v.has_value { "secret, set".to_owned() } else { "secret, not set".to_owned() }
                        } else {
                            v.value.clone().unwrap_or_default()
                        };
                        let variable = v.name.to_string();
                        let label = format!("Delete {}", v.name);
                        let remove = editable
                            .then(|| {
                                view! {
                                    <ActionForm action=remove_variable>
                                        <Csrf/>
                                        {hidden()}
                                        <input type="hidden" name="name" value=variable/>
                                        <button type="submit" class="link">
                                            {label}
                                        </button>
                                    </ActionForm>
                                }
                            });
                        view! {
                            <tr>
                                <th scope="row"><code>{v.name.to_string()}</code></th>
                                <td class="variable-value">{shown}</td>
                                <td>{remove}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                let fields = ServiceFields::of(&data.service);
                let image = data.service.image.clone();
                let title = format!("{name} · Komander");
                let heading = name.clone();
                let edit = editable
                    .then(|| {
                        let update_error = action_error(update);
                        let put_error = action_error(put);
                        let delete_error = action_error(delete);
                        view! {
                            <section aria-labelledby="set-variable">
                                <h2 id="set-variable">"Set a variable"</h2>
                                <ActionForm action=put>
                                    <Csrf/>
                                    {hidden()}
                                    <Field name="name" id="variable-name" label="Name" error=put_error required=true/>
                                    <Field name="value" id="variable-value" label="Value" error=put_error/>
                                    <div class="field check">
                                        <input type="checkbox" id="variable-secret" name="secret" value="true"/>
                                        <label for="variable-secret">
                                            "Secret: write-only, never shown again"
                                        </label>
                                    </div>
                                    <FormError error=put_error fields=&["name", "value"]/>
                                    <button type="submit" id="set-variable-button">"Set"</button>
                                </ActionForm>
                            </section>
                            <section aria-labelledby="edit-service">
                                <h2 id="edit-service">"Edit the service"</h2>
                                <ActionForm action=update>
                                    <Csrf/>
                                    {hidden()}
                                    <ServiceFieldset fields=fields error=update_error/>
                                    <button type="submit" id="save-service">"Save"</button>
                                </ActionForm>
                            </section>
                            <section aria-labelledby="delete-service" class="danger">
                                <h2 id="delete-service">"Delete the service"</h2>
                                <ActionForm action=delete>
                                    <Csrf/>
                                    {hidden()}
                                    <ConfirmDelete
                                        what="service"
                                        name=name.clone()
                                        consequence="Its variables go with it."
                                        error=delete_error
                                    />
                                </ActionForm>
                            </section>
                        }
                    });
                let base = format!("/projects/{project}/environments/{environment}");
                view! {
                    <Title text=title/>
                    <Crumbs trail=vec![(project.clone(), format!("/projects/{project}")), (environment.clone(), base.clone()), (deployment.clone(), format!("{base}/deployments/{deployment}"))] here=heading.clone()/>
                    <h1>{heading}</h1>
                    <p><code>{image}</code></p>
                    <section aria-labelledby="variables">
                        <h2 id="variables">"Variables"</h2>
                        <table>
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Value"</th>
                                    <th scope="col">"Actions"</th>
                                </tr>
                            </thead>
                            <tbody>{variables}</tbody>
                        </table>
                    </section>
                    {edit}
                }
                    .into_any()
            }
        />
    }
}
