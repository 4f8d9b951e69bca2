//! A deployment's history: each operation with its outcome and duration, the spec each apply
//! ran, and rolling back to one of them after a confirmation that says what will change.

use leptos::prelude::*;

use super::DeploymentFields;
use crate::{
    api::runs::{HistoryEntry, RollbackDeployment},
    components::{Csrf, FormError, action_error, duration_text, when},
};

/// The history, newest first; `slugs` name the deployment for the rollback forms.
#[component]
pub fn History(
    entries: Vec<HistoryEntry>,
    slugs: (String, String, String),
    rollback: ServerAction<RollbackDeployment>,
) -> impl IntoView {
    if entries.is_empty() {
        return view! {
            <section aria-labelledby="history-title" id="history">
                <h2 id="history-title">"History"</h2>
                <p>"Nothing ran yet."</p>
            </section>
        }
        .into_any();
    }
    let error = action_error(rollback);
    let slugs = StoredValue::new(slugs);
    let rows = entries
        .into_iter()
        .map(|entry| {
            let op = entry.operation;
            let id = op.id.to_string();
            let spec = op.spec.map(|spec| {
                let services = spec
                    .services
                    .into_iter()
                    .map(|s| {
                        let image = match s.pinned {
                            Some(pinned) => format!("{} ({pinned})", s.image),
                            None => s.image,
                        };
                        view! { <li><strong>{s.name.to_string()}</strong> " " <code>{image}</code></li> }
                    })
                    .collect_view();
                view! {
                    <details>
                        <summary>"Spec"</summary>
                        <ul>{services}</ul>
                    </details>
                }
                .into_any()
            });
            let restore = entry.rollback.map(|changes| {
                let (project, environment, deployment) = slugs.get_value();
                let changes = changes
                    .into_iter()
                    .map(|c| view! { <li>{c}</li> })
                    .collect_view();
                let operation = id.clone();
                view! {
                    <details class="rollback">
                        <summary id=format!("rollback-{id}")>"Roll back to this"</summary>
                        <p>"Rolling back writes this spec back, then applies it:"</p>
                        <ul>{changes}</ul>
                        <ActionForm action=rollback>
                            <Csrf/>
                            <DeploymentFields project environment deployment/>
                            <input type="hidden" name="operation" value=operation/>
                            <FormError error=error/>
                            <button type="submit" class="confirm-rollback">"Confirm the rollback"</button>
                        </ActionForm>
                    </details>
                }
                .into_any()
            });
            view! {
                <tr data-operation=id.clone()>
                    <td>{when(op.started_at)}</td>
                    <td>{op.kind.as_str()}</td>
                    <td>{op.started_by.to_string()}</td>
                    <td class="state">{op.state.as_str()}</td>
                    <td>{op.duration_ms.map(duration_text)}</td>
                    <td>{op.message}{spec}{restore}</td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <section aria-labelledby="history-title" id="history">
            <h2 id="history-title">"History"</h2>
            <table>
                <caption class="visually-hidden">"Operations, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Started"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"By"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Took"</th>
                        <th scope="col">"Details"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
    .into_any()
}
