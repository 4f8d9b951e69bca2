//! The latest operation of a deployment, live: its steps with their timings and its progress
//! lines as the server records them. The page renders what was recorded when it loaded; once
//! hydrated, a running operation's event stream adds the rest, and a stream the network
//! dropped resumes where it stopped (see `crate::events`).

use komander_domain::api::{
    EVENT_END, EVENT_PROGRESS, EVENT_STEP, OperationEnded, OperationState, ProgressLine, StepEvent,
    StepTiming,
};
use leptos::prelude::*;

use crate::{
    api::runs::OperationLog,
    components::{duration_text, when},
    events::{Flow, listen},
};

/// One operation as far as it went, followed live while it runs. `events` is the address of
/// the deployment's event streams (`/ui/events/projects/…/deployments/…`); `on_end` runs when
/// the operation ends while the page watches.
#[component]
pub fn OperationPanel(log: OperationLog, events: String, on_end: Callback<()>) -> impl IntoView {
    let operation = log.operation;
    let steps = RwSignal::new(log.steps);
    let lines = RwSignal::new(log.lines);
    let state = RwSignal::new(operation.state);
    let message = RwSignal::new(operation.message.clone());
    let lost = RwSignal::new(false);
    if operation.state == OperationState::Running {
        let url = format!("{events}/operations/{}", operation.id);
        Effect::new(move |_| {
            let after = lines.with_untracked(|l| l.last().map_or(0, |l| l.sequence));
            let known = steps.with_untracked(Vec::len);
            listen(
                &format!("{url}?after={after}&steps={known}"),
                &[EVENT_PROGRESS, EVENT_STEP, EVENT_END],
                move |name, data| on_event(name, &data, lines, steps, state, message, on_end),
                move || lost.set(true),
            );
        });
    }
    let title = format!(
        "Latest operation: {} by {}",
        operation.kind.as_str(),
        operation.started_by
    );
    let started = when(operation.started_at);
    let target = operation.target.map(|t| format!(" on target {t}"));
    let duration = operation.duration_ms.map(duration_text);
    view! {
        <section aria-labelledby="operation-title" id="operation">
            <h2 id="operation-title">{title}</h2>
            <p>
                "Started " {started} {target} ": "
                <strong class="state" id="operation-state">{move || state.get().as_str()}</strong>
                {duration.map(|d| format!(", in {d}"))}
                {move || message.get().map(|m| format!(" ({m})"))}
            </p>
            {move || {
                lost.get()
                    .then(|| {
                        view! {
                            <p class="error" role="alert">
                                "The live view stopped: reload the page to see the rest."
                            </p>
                        }
                    })
            }}
            <h3>"Steps"</h3>
            <ol id="steps">
                <For
                    each=move || steps.get()
                    key=|step| (step.name.clone(), step.started_at)
                    children=|step| {
                        let took = (step.finished_at - step.started_at).whole_milliseconds();
                        view! {
                            <li class="step">
                                {step.name} " " <span class="muted">{duration_text(took.max(0) as u64)}</span>
                            </li>
                        }
                    }
                />
            </ol>
            <h3>"Output"</h3>
            <pre id="progress" aria-live="polite" tabindex="0">
                <For
                    each=move || lines.get()
                    key=|line| line.sequence
                    children=|line| {
                        view! {
                            <span class="line" data-sequence=line.sequence>{format!("{}\n", line.text)}</span>
                        }
                    }
                />
            </pre>
        </section>
    }
}

/// Adds one event of an operation's stream to what the panel shows; what the panel already
/// has (a stream that resumed sends the steps again) is skipped.
fn on_event(
    name: &str,
    data: &str,
    lines: RwSignal<Vec<ProgressLine>>,
    steps: RwSignal<Vec<StepTiming>>,
    state: RwSignal<OperationState>,
    message: RwSignal<Option<String>>,
    on_end: Callback<()>,
) -> Flow {
    match name {
        EVENT_PROGRESS => {
            if let Ok(line) = serde_json::from_str::<ProgressLine>(data) {
                lines.update(|lines| {
                    if lines
                        .last()
                        .is_none_or(|last| line.sequence > last.sequence)
                    {
                        lines.push(line);
                    }
                });
            }
            Flow::Continue
        }
        EVENT_STEP => {
            if let Ok(step) = serde_json::from_str::<StepEvent>(data) {
                steps.update(|steps| {
                    if step.position as usize > steps.len() {
                        steps.push(StepTiming {
                            name: step.name,
                            started_at: step.started_at,
                            finished_at: step.finished_at,
                        });
                    }
                });
            }
            Flow::Continue
        }
        EVENT_END => {
            if let Ok(end) = serde_json::from_str::<OperationEnded>(data) {
                state.set(end.state);
                message.set(end.message);
            }
            on_end.run(());
            Flow::Stop
        }
        _ => Flow::Continue,
    }
}
