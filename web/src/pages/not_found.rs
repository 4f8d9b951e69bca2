//! The page of a path that names nothing.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// Answers 404 with a way back.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · Komander"/>
        <main id="main">
            <section class="problem">
                <h1>"Not found"</h1>
                <p>"Nothing lives at this address."</p>
                <A href="/">"Back to your projects"</A>
            </section>
        </main>
    }
}
