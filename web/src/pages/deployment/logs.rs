//! The services' logs on a deployment's page: the last lines of each service rendered with the
//! page; once hydrated, the chosen service's log follows live, pauses (new lines are held, not
//! lost), and is searched within the lines loaded (up to [`LOG_KEPT_LINES`]); a link downloads
//! it.

use komander_domain::api::{EVENT_LOG_LINE, EVENT_LOG_TAIL, ServiceLogLine};
use leptos::prelude::*;

use crate::{
    api::runs::{LOG_KEPT_LINES, LogTail},
    components::when,
    events::{Flow, listen},
};

/// A log line as the page keeps it: numbered in the order it arrived.
type Numbered = (u64, ServiceLogLine);

/// Every service's log, one shown at a time. `events` and `downloads` are the addresses of
/// the deployment's event streams and downloads.
#[component]
pub fn LogsPanel(tails: Vec<LogTail>, events: String, downloads: String) -> impl IntoView {
    let names: Vec<String> = tails.iter().map(|t| t.service.clone()).collect();
    let shown = RwSignal::new(names.first().cloned().unwrap_or_default());
    let tails = StoredValue::new(tails);
    let events = StoredValue::new(events);
    let downloads = StoredValue::new(downloads);
    let tabs = names
        .into_iter()
        .map(|name| {
            let id = format!("log-tab-{name}");
            let label = name.clone();
            let pick = name.clone();
            let is_shown = move || shown.get() == name;
            view! {
                <button
                    type="button"
                    id=id
                    class="tab"
                    aria-pressed=move || is_shown().to_string()
                    on:click=move |_| shown.set(pick.clone())
                >
                    {label}
                </button>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="logs-title" id="logs">
            <h2 id="logs-title">"Logs"</h2>
            <div role="group" aria-label="Service">{tabs}</div>
            {move || {
                let name = shown.get();
                tails
                    .with_value(|tails| tails.iter().find(|t| t.service == name).cloned())
                    .map(|tail| {
                        let stream = format!(
                            "{}/services/{}/logs",
                            events.get_value(),
                            tail.service
                        );
                        let download = format!(
                            "{}/services/{}/logs",
                            downloads.get_value(),
                            tail.service
                        );
                        view! { <ServiceLog tail stream download/> }
                    })
            }}
        </section>
    }
}

/// One service's log: follows `stream` once hydrated, unless paused.
#[component]
fn ServiceLog(tail: LogTail, stream: String, download: String) -> impl IntoView {
    let count = tail.lines.len() as u64;
    let lines: RwSignal<Vec<Numbered>> = RwSignal::new((0..count).zip(tail.lines).collect());
    let next = StoredValue::new(count);
    let held: RwSignal<Vec<ServiceLogLine>> = RwSignal::new(Vec::new());
    let paused = RwSignal::new(false);
    let search = RwSignal::new(String::new());
    let following = RwSignal::new(false);
    let lost = RwSignal::new(false);
    let add = move |new: Vec<ServiceLogLine>| {
        lines.update(|lines| {
            for line in new {
                let n = next.get_value();
                next.set_value(n + 1);
                lines.push((n, line));
            }
            let excess = lines.len().saturating_sub(LOG_KEPT_LINES);
            lines.drain(..excess);
        });
    };
    if let Some(resume) = tail.resume.clone() {
        let url = format!("{stream}?last={resume}");
        Effect::new(move |_| {
            following.set(true);
            listen(
                &url,
                &[EVENT_LOG_TAIL, EVENT_LOG_LINE],
                move |name, data| {
                    let new = match name {
                        EVENT_LOG_TAIL => serde_json::from_str::<Vec<ServiceLogLine>>(&data).ok(),
                        _ => serde_json::from_str::<ServiceLogLine>(&data)
                            .ok()
                            .map(|l| vec![l]),
                    };
                    if let Some(new) = new {
                        if paused.get_untracked() {
                            held.update(|held| held.extend(new));
                        } else {
                            add(new);
                        }
                    }
                    Flow::Continue
                },
                move || {
                    following.set(false);
                    lost.set(true);
                },
            );
        });
    }
    let toggle = move |_| {
        if paused.get_untracked() {
            let waiting = held.try_update(std::mem::take).unwrap_or_default();
            add(waiting);
            paused.set(false);
        } else {
            paused.set(true);
        }
    };
    let matching = Memo::new(move |_| {
        let needle = search.get().to_lowercase();
        lines.with(|lines| {
            lines
                .iter()
                .filter(|(_, l)| needle.is_empty() || l.line.to_lowercase().contains(&needle))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let summary = move || {
        let total = lines.with(Vec::len);
        let shown = matching.with(Vec::len);
        let mut text = if search.with(String::is_empty) {
            format!("{total} lines")
        } else {
            format!("{shown} of {total} lines match")
        };
        if paused.get() {
            text.push_str(&format!(", paused ({} new held)", held.with(Vec::len)));
        } else if following.get() {
            text.push_str(", following");
        }
        text
    };
    view! {
        <div class="log-tools">
            <button
                type="button"
                id="log-pause"
                aria-pressed=move || paused.get().to_string()
                on:click=toggle
            >
                {move || if paused.get() { "Resume" } else { "Pause" }}
            </button>
            <label for="log-search">"Search the loaded lines"</label>
            <input
                type="search"
                id="log-search"
                on:input=move |ev| search.set(event_target_value(&ev))
            />
            <a href=download download="" id="log-download">"Download"</a>
        </div>
        {tail.error.map(|e| view! { <p class="error">"Error: " {e}</p> })}
        {move || lost.get().then(|| view! {
            <p class="error" role="alert">"The log stopped following: reload the page to follow it again."</p>
        })}
        <p class="muted" id="log-summary" aria-live="polite">{summary}</p>
        <pre id="log-lines" tabindex="0">
            <For
                each=move || matching.get()
                key=|(n, _)| *n
                children=|(_, line)| {
                    view! {
                        <span class="log-line" data-stream=line.stream.clone()>
                            {format!("{} {}\n", when(line.at), line.line)}
                        </span>
                    }
                }
            />
        </pre>
    }
}
