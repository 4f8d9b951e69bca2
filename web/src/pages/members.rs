//! A project's members and invitation links.

use komander_domain::Action;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    api::members::{
        AddMember, CreateInvitation, RemoveMember, RevokeInvitation, SetMemberRole, load_members,
    },
    components::{Crumbs, Csrf, Field, FormError, Loaded, NextPage, Select, action_error},
};

/// The roles, as a select offers them.
fn roles() -> Vec<(String, String)> {
    [
        ("dev", "Dev: runs their own deployments"),
        (
            "devops",
            "DevOps: manages environments and shared deployments",
        ),
        ("admin", "Admin: manages the project and its members"),
    ]
    .into_iter()
    .map(|(v, t)| (v.to_owned(), t.to_owned()))
    .collect()
}

/// The members page. Only who may manage members sees the controls.
#[component]
pub fn MembersPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let add = ServerAction::<AddMember>::new();
    let set_role = ServerAction::<SetMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let invite = ServerAction::<CreateInvitation>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let data = Resource::new(
        move || {
            (
                params.read().get("project").unwrap_or_default(),
                query.read().get("cursor"),
                add.version().get()
                    + set_role.version().get()
                    + remove.version().get()
                    + invite.version().get()
                    + revoke.version().get(),
            )
        },
        |(project, cursor, _)| load_members(project, cursor),
    );
    // The link just created: from the answer (hydrated), or from the address (plain form).
    let created = move || {
        invite
            .value()
            .get()
            .and_then(Result::ok)
            .map(|l| (l.path, l.role))
            .or_else(|| {
                let q = query.read();
                q.get("invitation").map(|token| {
                    (
                        format!("/invitations/{token}"),
                        q.get("role").unwrap_or_default(),
                    )
                })
            })
    };
    view! {
        <Loaded
            data=data
            view=move |data| {
                let project = params.read_untracked().get("project").unwrap_or_default();
                let manage = data.actions.contains(&Action::ManageMembers);
                let slug = StoredValue::new(project.clone());
                let members = data
                    .members
                    .items
                    .into_iter()
                    .map(|m| {
                        let handle = m.user.to_string();
                        let controls = manage
                            .then(|| {
                                let user = StoredValue::new(handle.clone());
                                let role_error = action_error(set_role);
                                let remove_error = action_error(remove);
                                view! {
                                    <ActionForm action=set_role>
                                        <Csrf/>
                                        <input type="hidden" name="project" value=slug.get_value()/>
                                        <input type="hidden" name="user" value=user.get_value()/>
                                        <Select
                                            name="role"
                                            id="member-role"
                                            label="Role"
                                            options=roles()
                                            selected=m.role.as_str().to_owned()
                                            error=role_error
                                        />
                                        <button type="submit">{format!("Change {}'s role", user.get_value())}</button>
                                    </ActionForm>
                                    <ActionForm action=remove>
                                        <Csrf/>
                                        <input type="hidden" name="project" value=slug.get_value()/>
                                        <input type="hidden" name="user" value=user.get_value()/>
                                        <div class="field check">
                                            <input
                                                type="checkbox"
                                                id=format!("remove-{}-force", user.get_value())
                                                name="force"
                                                value="true"
                                            />
                                            <label for=format!("remove-{}-force", user.get_value())>
                                                "Also stop and delete their private deployments"
                                            </label>
                                        </div>
                                        <FormError error=remove_error/>
                                        <button type="submit" class="danger">
                                            {format!("Remove {}", user.get_value())}
                                        </button>
                                    </ActionForm>
                                }
                            });
                        view! {
                            <li>
                                <strong>{m.display_name}</strong>
                                " (" {handle.clone()} "), "
                                <span class="role">{m.role.as_str()}</span>
                                {controls}
                            </li>
                        }
                    })
                    .collect_view();
                let manage_forms = manage
                    .then(|| {
                        let add_error = action_error(add);
                        let invite_error = Signal::derive(move || {
                            invite.value().get().and_then(Result::err)
                        });
                        let invitations = data
                            .invitations
                            .items
                            .into_iter()
                            .map(|i| {
                                let id = i.id.to_string();
                                let state = match &i.accepted_by {
                                    Some(user) => format!("accepted by {user}"),
                                    None => "open".to_owned(),
                                };
                                view! {
                                    <li>
                                        {format!("{}: {state}, by {}", i.role.as_str(), i.created_by)}
                                        {i
                                            .accepted_by
                                            .is_none()
                                            .then(|| {
                                                view! {
                                                    <ActionForm action=revoke>
                                                        <Csrf/>
                                                        <input type="hidden" name="project" value=slug.get_value()/>
                                                        <input type="hidden" name="id" value=id.clone()/>
                                                        <button type="submit" class="link">"Revoke"</button>
                                                    </ActionForm>
                                                }
                                            })}
                                    </li>
                                }
                            })
                            .collect_view();
                        view! {
                            <section aria-labelledby="add-member">
                                <h2 id="add-member">"Add a member"</h2>
                                <ActionForm action=add>
                                    <Csrf/>
                                    <input type="hidden" name="project" value=slug.get_value()/>
                                    <Field name="user" id="member-user" label="Handle" error=add_error required=true/>
                                    <Select
                                        name="role"
                                        id="member-new-role"
                                        label="Role"
                                        options=roles()
                                        selected="dev".to_owned()
                                        error=add_error
                                    />
                                    <FormError error=add_error fields=&["user", "role"]/>
                                    <button type="submit" id="add-member-button">"Add"</button>
                                </ActionForm>
                            </section>
                            <section aria-labelledby="invitations">
                                <h2 id="invitations">"Invitation links"</h2>
                                <ul>{invitations}</ul>
                                <ActionForm action=invite>
                                    <Csrf/>
                                    <input type="hidden" name="project" value=slug.get_value()/>
                                    <Select
                                        name="role"
                                        id="invitation-role"
                                        label="Role it grants"
                                        options=roles()
                                        selected="dev".to_owned()
                                        error=invite_error
                                    />
                                    <Field
                                        name="expires_in_hours"
                                        id="invitation-hours"
                                        label="Valid for (hours)"
                                        hint="Empty: the server's default."
                                        error=invite_error
                                    />
                                    <FormError error=invite_error fields=&["role", "expires_in_hours"]/>
                                    <button type="submit" id="create-invitation">"Create a link"</button>
                                </ActionForm>
                            </section>
                        }
                    });
                let title = format!("Members of {project} · Komander");
                let project_link = format!("/projects/{project}");
                let list_path = format!("/projects/{project}/members");
                view! {
                    <Title text=title/>
                    <Crumbs trail=vec![(project.clone(), project_link)] here="Members"/>
                    <h1>"Members"</h1>
                    <ul class="cards">{members}</ul>
                    <NextPage cursor=data.members.next_cursor path=list_path/>
                    {manage_forms}
                }
                    .into_any()
            }
        />
        {move || {
            created()
                .map(|(path, role)| {
                    view! {
                        <section class="notice" role="status" aria-labelledby="new-link">
                            <h2 id="new-link">"New invitation link"</h2>
                            <p>
                                "It grants the role " <strong>{role}</strong>
                                " to whoever accepts it while signed in. Copy it now: it is shown once."
                            </p>
                            <p>
                                <code id="invitation-link">{path.clone()}</code>
                            </p>
                        </section>
                    }
                })
        }}
    }
}
