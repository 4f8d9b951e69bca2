//! Signing in with an API token.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::session::SignIn,
    components::{Csrf, Field, FormError, action_error},
};

/// The sign-in page: an API token (the local admin's, from the file the server printed, or a
/// service user's) opens a session. Shown tokens never leave the form.
#[component]
pub fn SignInPage() -> impl IntoView {
    let session = Resource::new(|| (), |_| crate::api::session::session());
    provide_context(session);
    let sign_in = ServerAction::<SignIn>::new();
    let error = action_error(sign_in);
    let (shown, set_shown) = signal(false);
    let token = NodeRef::new();
    let query = use_query_map();
    let link_refused = move || query.read().get("link").is_some();
    view! {
        <Title text="Sign in · Komander"/>
        <main id="main" class="narrow">
            <h1>"Sign in to Komander"</h1>
            <p>
                "Paste an API token: the local admin's, from the file "
                <code>"komander serve"</code> " printed at start, or a service user's. "
                "In local mode, the sign-in link the server printed signs you in at once."
            </p>
            {move || {
                link_refused()
                    .then(|| {
                        view! {
                            <p class="error" role="alert">
                                "Error: that sign-in link is used, expired or unknown. Restart "
                                <code>"komander serve"</code>
                                " for a new one, or sign in with the token."
                            </p>
                        }
                    })
            }}
            <ActionForm action=sign_in>
                <Csrf/>
                <input type="hidden" name="next" value=move || query.read().get("next")/>
                <Field
                    name="token"
                    id="token"
                    label="API token"
                    kind="password"
                    error=error
                    required=true
                    node_ref=token
                />
                <button
                    type="button"
                    class="link"
                    id="show-token"
                    aria-pressed=move || shown.get().to_string()
                    on:click=move |_| {
                        set_shown.update(|s| *s = !*s);
                        if let Some(input) = token.get() {
                            input.set_type(if shown.get_untracked() { "text" } else { "password" });
                        }
                    }
                >
                    {move || if shown.get() { "Hide the token" } else { "Show the token" }}
                </button>
                <FormError error=error fields=&["token"]/>
                <button type="submit" id="sign-in">"Sign in"</button>
            </ActionForm>
        </main>
    }
}
