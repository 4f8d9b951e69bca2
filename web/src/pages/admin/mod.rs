//! The instance admin pages: plugins, targets, users and their tokens. Every read and write
//! of them is refused by the application for anyone else, whose page shows that refusal.

pub mod plugins;
pub mod targets;
pub mod users;

use leptos::prelude::*;

/// A button that copies `text` to the clipboard (once hydrated) and says so.
#[component]
pub fn CopyButton(
    /// What to copy.
    text: String,
    /// The element id.
    id: &'static str,
) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        let Some(clipboard) = web_sys::window().map(|w| w.navigator().clipboard()) else {
            return;
        };
        let promise = clipboard.write_text(&text);
        leptos::task::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(promise).await.is_ok() {
                set_copied.set(true);
            }
        });
    };
    view! {
        <button type="button" id=id on:click=copy>
            "Copy"
        </button>
        <span role="status">{move || copied.get().then_some(" Copied.")}</span>
    }
}
