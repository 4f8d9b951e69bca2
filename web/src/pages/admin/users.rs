//! Users and service users' API tokens. A token just created shows once, in the answer of the
//! form that created it, with a copy button; no page shows it again.

use komander_domain::api::UserKind;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    api::users::{CreateServiceUser, CreateToken, RevokeToken, load_tokens, load_users},
    components::{CopyButton, Crumbs, Csrf, Field, FormError, Loaded, NextPage, action_error},
};

/// Every user, and the form that creates a service user.
#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateServiceUser>::new();
    let list = Resource::new(move || query.read().get("cursor"), load_users);
    let error = action_error(create);
    view! {
        <Title text="Users · Komander"/>
        <Loaded
            data=list
            view=move |page| {
                let rows = page
                    .items
                    .into_iter()
                    .map(|u| {
                        let handle = u.handle.to_string();
                        let service = u.kind == UserKind::Service;
                        view! {
                            <tr>
                                <td>
                                    {if service {
                                        view! { <A href=format!("/admin/users/{handle}")>{handle.clone()}</A> }
                                            .into_any()
                                    } else {
                                        handle.clone().into_any()
                                    }}
                                </td>
                                <td>{u.display_name}</td>
                                <td>{if service { "service" } else { "human" }}</td>
                                <td>{if u.instance_admin { "yes" } else { "no" }}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <Crumbs trail=Vec::new() here="Users"/>
                    <h1>"Users"</h1>
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Handle"</th>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Kind"</th>
                                <th scope="col">"Instance admin"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                    <NextPage cursor=page.next_cursor path="/admin/users".to_owned()/>
                    <section aria-labelledby="new-user">
                        <h2 id="new-user">"New service user"</h2>
                        <p class="hint">"For automation: it signs in with API tokens only."</p>
                        <ActionForm action=create>
                            <Csrf/>
                            <Field name="handle" id="user-handle" label="Handle" error=error required=true/>
                            <Field name="display_name" id="user-display-name" label="Display name" error=error/>
                            <div class="field check">
                                <input type="checkbox" id="user-instance-admin" name="instance_admin" value="true"/>
                                <label for="user-instance-admin">"Instance admin"</label>
                            </div>
                            <FormError error=error fields=&["handle", "display_name"]/>
                            <button type="submit" id="create-user">"Create the service user"</button>
                        </ActionForm>
                    </section>
                }
                    .into_any()
            }
        />
    }
}

/// A service user's API tokens: the list (never the tokens), creating one (shown once) and
/// revoking one.
#[component]
pub fn UserTokensPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let data = Resource::new(
        move || {
            (
                params.read().get("user").unwrap_or_default(),
                query.read().get("cursor"),
                create.version().get() + revoke.version().get(),
            )
        },
        |(user, cursor, _)| load_tokens(user, cursor),
    );
    let create_error = Signal::derive(move || create.value().get().and_then(Result::err));
    let created = move || {
        create.value().get().and_then(Result::ok).map(|token| {
            view! {
                <section class="notice" role="status" aria-labelledby="new-token-title">
                    <h2 id="new-token-title">"New API token"</h2>
                    <p>
                        "Send it as " <code>"Authorization: Bearer …"</code>
                        ". Copy it now: it is shown this once."
                    </p>
                    <p>
                        <code id="new-token">{token.token.clone()}</code>
                    </p>
                    <CopyButton text=token.token id="copy-token"/>
                </section>
            }
        })
    };
    view! {
        <Loaded
            data=data
            view=move |page| {
                let user = StoredValue::new(params.read_untracked().get("user").unwrap_or_default());
                let revoke_error = action_error(revoke);
                let rows = page
                    .items
                    .into_iter()
                    .map(|t| {
                        let id = t.id.to_string();
                        view! {
                            <tr>
                                <td>{t.name.clone()}</td>
                                <td>
                                    {t
                                        .created_at
                                        .format(&time::format_description::well_known::Rfc3339)
                                        .unwrap_or_default()}
                                </td>
                                <td>
                                    <ActionForm action=revoke>
                                        <Csrf/>
                                        <input type="hidden" name="user" value=user.get_value()/>
                                        <input type="hidden" name="id" value=id/>
                                        <button type="submit" class="link">{format!("Revoke {}", t.name)}</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <Title text=format!("Tokens of {} · Komander", user.get_value())/>
                    <Crumbs trail=vec![("Users".to_owned(), "/admin/users".to_owned())] here=user.get_value()/>
                    <h1>{format!("API tokens of {}", user.get_value())}</h1>
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Created"</th>
                                <th scope="col">"Revoke"</th>
                            </tr>
                        </thead>
                        <tbody id="tokens">{rows}</tbody>
                    </table>
                    <NextPage cursor=page.next_cursor path=format!("/admin/users/{}", user.get_value())/>
                    <FormError error=revoke_error/>
                    <section aria-labelledby="new-token-form">
                        <h2 id="new-token-form">"New API token"</h2>
                        <ActionForm action=create>
                            <Csrf/>
                            <input type="hidden" name="user" value=user.get_value()/>
                            <Field
                                name="name"
                                id="token-name"
                                label="What it is for"
                                error=create_error
                                required=true
                            />
                            <FormError error=create_error fields=&["name"]/>
                            <p class="hint">"Showing the new token needs JavaScript."</p>
                            <button type="submit" id="create-token">"Create a token"</button>
                        </ActionForm>
                    </section>
                }
                    .into_any()
            }
        />
        {created}
    }
}
