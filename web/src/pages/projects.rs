//! The signed-in user's projects, and creating one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    api::projects::{CreateProject, projects},
    components::{Csrf, Field, FormError, Loaded, NextPage, action_error},
};

/// The projects the signed-in user is a member of, a page at a time, and the form that creates
/// one (anyone signed in may).
#[component]
pub fn ProjectsPage() -> impl IntoView {
    let query = use_query_map();
    let list = Resource::new(move || query.read().get("cursor"), projects);
    let create = ServerAction::<CreateProject>::new();
    let error = action_error(create);
    view! {
        <Title text="Projects · Komander"/>
        <h1>"Projects"</h1>
        <Loaded
            data=list
            view=move |page| {
                if page.items.is_empty() {
                    view! { <p>"You are not a member of any project yet: create one."</p> }
                        .into_any()
                } else {
                    {
                        view! {
                            <ul class="cards">
                                {page
                                    .items
                                    .into_iter()
                                    .map(|p| {
                                        view! {
                                            <li>
                                                <A href=format!("/projects/{}", p.name)>
                                                    <strong>{p.display_name}</strong>
                                                </A>
                                                <span class="muted">" " {p.name.to_string()}</span>
                                                <p>{p.description}</p>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                            <NextPage cursor=page.next_cursor path="/".to_owned()/>
                        }
                            .into_any()
                    }
                }
            }
        />
        <section aria-labelledby="new-project">
            <h2 id="new-project">"New project"</h2>
            <ActionForm action=create>
                <Csrf/>
                <Field
                    name="name"
                    id="project-name"
                    label="Name"
                    hint="Lower-case letters, digits and dashes; used in addresses, never changes."
                    error=error
                    required=true
                />
                <Field name="display_name" id="project-display-name" label="Display name" error=error/>
                <Field name="description" id="project-description" label="Description" error=error/>
                <FormError error=error fields=&["name", "display_name", "description"]/>
                <button type="submit" id="create-project">
                    "Create the project"
                </button>
            </ActionForm>
        </section>
    }
}
