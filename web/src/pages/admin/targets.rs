//! The targets an instance admin registers: the list with whether each answers, registering
//! one (TLS keys write-only), and one target's page with its policy, grants and deletion.

use komander_domain::{
    api::{TargetEndpoint, TargetPolicy},
    notation,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    api::targets::{
        CreateTarget, DeleteTarget, GrantTarget, RevokeTarget, UpdateTargetPolicy, check_target,
        load_target, load_targets,
    },
    components::{
        ConfirmDelete, Crumbs, Csrf, Field, FormError, Loaded, NextPage, Select, TextArea,
        action_error,
    },
    error::UiError,
};

/// How a target's endpoint reads, never with TLS material: only whether it is set.
fn endpoint_text(endpoint: &TargetEndpoint) -> String {
    match endpoint {
        TargetEndpoint::Unix { socket } => format!("unix socket {socket}"),
        TargetEndpoint::Tcp { address } => {
            format!("{address}, mutual TLS keys set (write-only)")
        }
    }
}

/// Whether target `name` answers, checked when the page loads.
#[component]
fn Health(name: String, id: String) -> impl IntoView {
    let health = Resource::new(move || name.clone(), check_target);
    view! {
        <span id=id>
            <Suspense fallback=|| "checking…">
                {move || Suspend::new(async move {
                    match health.await {
                        Ok(h) if h.reachable => format!("answers: {}", h.message),
                        Ok(h) => format!("does not answer: {}", h.message),
                        Err(e) => format!("unknown: {e}"),
                    }
                })}
            </Suspense>
        </span>
    }
}

/// The fields of a policy and the default mark, shared by registering and editing.
#[component]
fn PolicyFields(
    policy: TargetPolicy,
    default: bool,
    error: Signal<Option<UiError>>,
) -> impl IntoView {
    view! {
        <Field
            name="bind_root"
            id="target-bind-root"
            label="Bind root"
            hint="The absolute directory bind mounts lie under; empty: no bind mounts."
            value=policy.bind_root.unwrap_or_default()
            error=error
        />
        <Field
            name="publish_addresses"
            id="target-publish-addresses"
            label="Publish addresses"
            hint="The IP addresses ports may be published on, separated by spaces or commas."
            value=policy.publish_addresses.join(", ")
            error=error
        />
        <Field
            name="max_memory"
            id="target-max-memory"
            label="Memory maximum per container"
            hint="Such as 512m or 2g; empty: unlimited. When set, every container must ask for a limit."
            value=policy.max_memory_bytes.map(notation::show_bytes).unwrap_or_default()
            error=error
        />
        <Field
            name="max_cpus"
            id="target-max-cpus"
            label="CPU maximum per container"
            hint="Such as 1.5; empty: unlimited."
            value=policy
                .max_nano_cpus
                .map(|n| (n as f64 / 1e9).to_string())
                .unwrap_or_default()
            error=error
        />
        <div class="field check">
            <input type="checkbox" id="target-default" name="default" value="true" checked=default/>
            <label for="target-default">"The default target (of environments that name none)"</label>
        </div>
    }
}

/// The targets, whether each answers, and the form that registers one.
#[component]
pub fn TargetsPage() -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateTarget>::new();
    let list = Resource::new(move || query.read().get("cursor"), load_targets);
    let error = action_error(create);
    view! {
        <Title text="Targets · Komander"/>
        <Loaded
            data=list
            view=move |page| {
                let rows = page
                    .items
                    .into_iter()
                    .map(|t| {
                        let name = t.name.to_string();
                        let href = format!("/admin/targets/{name}");
                        let health_id = format!("health-{name}");
                        let label = name.clone();
                        view! {
                            <tr>
                                <td>
                                    <A href=href>{label}</A>
                                </td>
                                <td>{endpoint_text(&t.endpoint)}</td>
                                <td>{if t.default { "yes" } else { "no" }}</td>
                                <td>
                                    <Health name=name id=health_id/>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <Crumbs trail=Vec::new() here="Targets"/>
                    <h1>"Targets"</h1>
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Endpoint"</th>
                                <th scope="col">"Default"</th>
                                <th scope="col">"Answers"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                    <NextPage cursor=page.next_cursor path="/admin/targets".to_owned()/>
                    <section aria-labelledby="new-target">
                        <h2 id="new-target">"Register a Docker Engine"</h2>
                        <ActionForm action=create>
                            <Csrf/>
                            <Field name="name" id="target-name" label="Name" error=error required=true/>
                            <Select
                                name="kind"
                                id="target-kind"
                                label="Endpoint"
                                options=vec![
                                    ("unix".to_owned(), "A unix socket on this server's host".to_owned()),
                                    ("tcp".to_owned(), "TCP with mutual TLS".to_owned()),
                                ]
                                selected="unix".to_owned()
                                error=error
                            />
                            <Field
                                name="socket"
                                id="target-socket"
                                label="Socket path (unix)"
                                hint="Such as /var/run/docker.sock."
                                error=error
                            />
                            <Field
                                name="address"
                                id="target-address"
                                label="Address (TCP)"
                                hint="tcp://host:port"
                                error=error
                            />
                            <TextArea
                                name="ca_pem"
                                id="target-ca-pem"
                                label="CA certificate (TCP, PEM)"
                                hint="Write-only: sealed, never shown again."
                                value=String::new()
                                error=error
                            />
                            <TextArea
                                name="cert_pem"
                                id="target-cert-pem"
                                label="Client certificate (TCP, PEM)"
                                hint="Write-only."
                                value=String::new()
                                error=error
                            />
                            <TextArea
                                name="key_pem"
                                id="target-key-pem"
                                label="Client private key (TCP, PEM)"
                                hint="Write-only."
                                value=String::new()
                                error=error
                            />
                            <PolicyFields policy=TargetPolicy::default() default=false error=error/>
                            <FormError
                                error=error
                                fields=&[
                                    "name",
                                    "kind",
                                    "socket",
                                    "address",
                                    "ca_pem",
                                    "cert_pem",
                                    "key_pem",
                                    "bind_root",
                                    "publish_addresses",
                                    "max_memory",
                                    "max_cpus",
                                ]
                            />
                            <button type="submit" id="create-target">"Register the target"</button>
                        </ActionForm>
                    </section>
                }
                    .into_any()
            }
        />
    }
}

/// One target: its endpoint (TLS shown only as set), whether it answers, its policy, grants
/// and deletion.
#[component]
pub fn TargetPage() -> impl IntoView {
    let params = use_params_map();
    let update = ServerAction::<UpdateTargetPolicy>::new();
    let grant = ServerAction::<GrantTarget>::new();
    let revoke = ServerAction::<RevokeTarget>::new();
    let delete = ServerAction::<DeleteTarget>::new();
    let data = Resource::new(
        move || {
            (
                params.read().get("target").unwrap_or_default(),
                update.version().get() + grant.version().get() + revoke.version().get(),
            )
        },
        |(target, _)| load_target(target),
    );
    view! {
        <Loaded
            data=data
            view=move |data| {
                let t = data.target;
                let name = StoredValue::new(t.name.to_string());
                let update_error = action_error(update);
                let grant_error = action_error(grant);
                let revoke_error = action_error(revoke);
                let grants = data
                    .grants
                    .into_iter()
                    .map(|project| {
                        view! {
                            <li>
                                {project.clone()}
                                <ActionForm action=revoke>
                                    <Csrf/>
                                    <input type="hidden" name="target" value=name.get_value()/>
                                    <input type="hidden" name="project" value=project.clone()/>
                                    <button type="submit" class="link">{format!("Revoke {project}")}</button>
                                </ActionForm>
                            </li>
                        }
                    })
                    .collect_view();
                view! {
                    <Title text=format!("{} · Targets · Komander", name.get_value())/>
                    <Crumbs trail=vec![("Targets".to_owned(), "/admin/targets".to_owned())] here=name.get_value()/>
                    <h1>{name.get_value()}</h1>
                    <p id="target-endpoint">{endpoint_text(&t.endpoint)}</p>
                    <p>
                        "Answers: " <Health name=name.get_value() id="target-health".to_owned()/>
                    </p>
                    <section aria-labelledby="policy">
                        <h2 id="policy">"Policy"</h2>
                        <ActionForm action=update>
                            <Csrf/>
                            <input type="hidden" name="target" value=name.get_value()/>
                            <PolicyFields policy=t.policy.clone() default=t.default error=update_error/>
                            <FormError
                                error=update_error
                                fields=&["bind_root", "publish_addresses", "max_memory", "max_cpus"]
                            />
                            <button type="submit" id="save-policy">"Save the policy"</button>
                        </ActionForm>
                    </section>
                    <section aria-labelledby="grants">
                        <h2 id="grants">"Granted to"</h2>
                        <ul id="target-grants">{grants}</ul>
                        <FormError error=revoke_error/>
                        <ActionForm action=grant>
                            <Csrf/>
                            <input type="hidden" name="target" value=name.get_value()/>
                            <Field name="project" id="grant-project" label="Project" error=grant_error required=true/>
                            <FormError error=grant_error fields=&["project"]/>
                            <button type="submit" id="grant-target">"Grant"</button>
                        </ActionForm>
                    </section>
                    <section aria-labelledby="delete-target" class="danger">
                        <h2 id="delete-target">"Delete the target"</h2>
                        <ActionForm action=delete>
                            <Csrf/>
                            <input type="hidden" name="target" value=name.get_value()/>
                            <ConfirmDelete
                                what="target"
                                name=name.get_value()
                                consequence="Its grants go with it; a target environments still name is kept."
                                error=action_error(delete)
                            />
                        </ActionForm>
                    </section>
                }
                    .into_any()
            }
        />
    }
}
