//! A project's audit log.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    api::members::load_audit,
    components::{Crumbs, Loaded, NextPage},
};

/// The audit log, newest first, a page at a time.
#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let page = Resource::new(
        move || {
            (
                params.read().get("project").unwrap_or_default(),
                query.read().get("cursor"),
            )
        },
        |(project, cursor)| load_audit(project, cursor),
    );
    view! {
        <Loaded
            data=page
            view=move |page| {
                let project = params.read_untracked().get("project").unwrap_or_default();
                let title = format!("Audit log of {project} · Komander");
                let project_link = format!("/projects/{project}");
                let list_path = format!("/projects/{project}/audit");
                view! {
                    <Title text=title/>
                    <Crumbs trail=vec![(project.clone(), project_link)] here="Audit log"/>
                    <h1>"Audit log"</h1>
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"When"</th>
                                <th scope="col">"Who"</th>
                                <th scope="col">"What"</th>
                                <th scope="col">"On"</th>
                                <th scope="col">"Fields"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {page
                                .items
                                .into_iter()
                                .map(|e| {
                                    view! {
                                        <tr>
                                            <td>
                                                {e
                                                    .at
                                                    .format(&time::format_description::well_known::Rfc3339)
                                                    .unwrap_or_default()}
                                            </td>
                                            <td>{e.actor}</td>
                                            <td><code>{e.action}</code></td>
                                            <td>{e.target}</td>
                                            <td>{e.fields.join(", ")}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                    <NextPage cursor=page.next_cursor path=list_path/>
                }
                    .into_any()
            }
        />
    }
}
