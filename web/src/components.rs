//! The pieces every page is made of: the layout with its navigation, form fields that show
//! their error next to them, the CSRF field, error and pager blocks.

use komander_domain::api::ErrorCode;
use leptos::{html, prelude::*};
use leptos_router::{
    components::{A, Outlet, Redirect},
    hooks::use_location,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    api::{
        CSRF_FIELD,
        session::{SessionView, SignOut, session},
    },
    error::UiError,
};

/// The browser's session, loaded once per page by [`Layout`].
pub type SessionResource = Resource<Result<SessionView, UiError>>;

/// The layout of every signed-in page: the header with the navigation and the signed-in user,
/// then the page. An anonymous browser is sent to the sign-in page.
#[component]
pub fn Layout() -> impl IntoView {
    let session = Resource::new(|| (), |_| session());
    provide_context(session);
    let sign_out = ServerAction::<SignOut>::new();
    let location = use_location();
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="top">
            <nav aria-label="Main">
                <A href="/">
                    <span class="brand">"Komander"</span>
                </A>
            </nav>
            <Suspense>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(SessionView { me: Some(me), .. }) => {
                            let admin = me
                                .instance_admin
                                .then(|| {
                                    view! {
                                        <nav aria-label="Admin" class="admin-nav">
                                            <span class="muted">"Admin:"</span>
                                            <A href="/admin/plugins">"Plugins"</A>
                                            <A href="/admin/targets">"Targets"</A>
                                            <A href="/admin/users">"Users"</A>
                                        </nav>
                                    }
                                });
                            view! {
                                {admin}
                                <div class="me">
                                    <span>
                                        "Signed in as " <strong>{me.display_name}</strong> " ("
                                        {me.handle} ")"
                                    </span>
                                    <ActionForm action=sign_out>
                                        <Csrf/>
                                        <button type="submit" class="link">
                                            "Sign out"
                                        </button>
                                    </ActionForm>
                                </div>
                            }
                                .into_any()
                        }
                        Ok(SessionView { me: None, .. }) => {
                            let here = location.pathname.get_untracked();
                            let path = format!("/sign-in?next={}", escape_query(&here));
                            view! { <Redirect path=path/> }.into_any()
                        }
                        Err(e) => view! { <ErrorBlock error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </header>
        <main id="main">
            <Outlet/>
        </main>
    }
}

/// `text` with the characters that end or change a query value escaped.
fn escape_query(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '%' | '&' | '#' | '+' | '?' | ' ' | '=' => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// The hidden field with the session's CSRF token, which every form carries.
#[component]
pub fn Csrf() -> impl IntoView {
    let session = use_context::<SessionResource>();
    view! {
        <Suspense>
            {move || {
                session
                    .and_then(|s| s.get())
                    .and_then(Result::ok)
                    .map(|s| view! { <input type="hidden" name=CSRF_FIELD value=s.csrf/> })
            }}
        </Suspense>
    }
}

/// A page's data, once loaded: `view` renders it, and a failed load shows its error (with
/// the status that goes with it).
#[component]
pub fn Loaded<T, F>(
    /// The data, loaded by a server function.
    data: Resource<Result<T, UiError>>,
    /// What to show of it.
    view: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    F: Fn(T) -> AnyView + Clone + Send + Sync + 'static,
{
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let view = view.clone();
                Suspend::new(async move {
                    match data.await {
                        Ok(data) => view(data),
                        Err(e) => view! { <ErrorBlock error=e/> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// A moment as people read it: `2026-12-02 14:03:07 UTC`.
pub fn when(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A duration in milliseconds as people read it: `850 ms`, `4.2 s`, `3 min 12 s`.
pub fn duration_text(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// The error of an action's last run, if it failed.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<UiError>>
where
    S: leptos::server_fn::ServerFn<Error = UiError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(Result::err))
}

/// A labelled text input whose error, when the last submission's error is about its field,
/// shows right under it.
#[component]
pub fn Field(
    /// The form field's name: the server function's argument.
    name: &'static str,
    /// The visible label.
    label: &'static str,
    /// The last submission's error.
    error: Signal<Option<UiError>>,
    /// The element id, unique on the page.
    id: &'static str,
    /// The input's type.
    #[prop(default = "text")]
    kind: &'static str,
    /// The initial value.
    #[prop(optional, into)]
    value: String,
    /// A hint under the label.
    #[prop(optional)]
    hint: &'static str,
    /// The browser refuses to submit the form while it is empty.
    #[prop(optional)]
    required: bool,
    /// Its node, for pages that reach it in the browser.
    #[prop(optional)]
    node_ref: NodeRef<html::Input>,
) -> impl IntoView {
    let message = move || error.get().filter(|e| e.field() == Some(name));
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = if hint.is_empty() {
        error_id.clone()
    } else {
        format!("{hint_id} {error_id}")
    };
    let input = view! {
        <input
            id=id
            name=name
            type=kind
            value=value
            required=required
            aria-describedby=described
            aria-invalid=move || if message().is_some() { "true" } else { "false" }
            node_ref=node_ref
        />
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {(!hint.is_empty()).then(|| view! { <p class="hint" id=hint_id>{hint}</p> })}
            {input}
            <p class="error" id=error_id role="alert">
                {move || message().map(|e| format!("Error: {e}"))}
            </p>
        </div>
    }
}

/// The error of a form that is about no field of it.
#[component]
pub fn FormError(
    /// The last submission's error.
    error: Signal<Option<UiError>>,
    /// The fields the form shows: an error about one of them shows there instead.
    #[prop(optional)]
    fields: &'static [&'static str],
) -> impl IntoView {
    let message = move || {
        error
            .get()
            .filter(|e| e.field().is_none_or(|f| !fields.contains(&f)))
    };
    view! {
        <p class="error" role="alert">
            {move || message().map(|e| format!("Error: {e}"))}
        </p>
    }
}

/// A failed load, as a page shows it: what went wrong and where to go.
#[component]
pub fn ErrorBlock(
    /// What failed.
    error: UiError,
) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        use axum::http::StatusCode;
        let status = match error.code() {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }
    let title = match error.code() {
        ErrorCode::NotFound => "Not found",
        ErrorCode::Forbidden => "Not allowed",
        ErrorCode::Unauthenticated => "Signed out",
        _ => "Something went wrong",
    };
    let signed_out = error.code() == ErrorCode::Unauthenticated;
    view! {
        <section class="problem" role="alert">
            <h1>{title}</h1>
            <p>{error.to_string()}</p>
            {if signed_out {
                view! { <A href="/sign-in">"Sign in"</A> }.into_any()
            } else {
                view! { <A href="/">"Back to your projects"</A> }.into_any()
            }}
        </section>
    }
}

/// The breadcrumb trail from the projects to the page: each level above it a link, the page
/// itself last.
#[component]
pub fn Crumbs(
    /// The levels between the projects and the page: label and path.
    trail: Vec<(String, String)>,
    /// The page's own label.
    #[prop(into)]
    here: String,
) -> impl IntoView {
    view! {
        <nav class="crumbs" aria-label="Breadcrumb">
            <A href="/">"Projects"</A>
            {trail
                .into_iter()
                .map(|(label, href)| view! { " / " <A href=href>{label}</A> })
                .collect_view()}
            " / "
            <span aria-current="page">{here}</span>
        </nav>
    }
}

/// A link to the next page of a list, when there is one.
#[component]
pub fn NextPage(
    /// The cursor of the next page.
    cursor: Option<String>,
    /// The list's path.
    path: String,
) -> impl IntoView {
    cursor.map(|cursor| {
        view! {
            <nav class="pager" aria-label="Pages">
                <A href=format!("{path}?cursor={cursor}")>"Next page"</A>
            </nav>
        }
    })
}

/// A labelled select whose error shows right under it.
#[component]
pub fn Select(
    /// The form field's name.
    name: &'static str,
    /// The element id, unique on the page.
    id: &'static str,
    /// The visible label.
    label: &'static str,
    /// The choices: value and label.
    options: Vec<(String, String)>,
    /// The value chosen at first.
    selected: String,
    /// The last submission's error.
    error: Signal<Option<UiError>>,
) -> impl IntoView {
    let message = move || error.get().filter(|e| e.field() == Some(name));
    let error_id = format!("{id}-error");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select
                id=id
                name=name
                aria-describedby=error_id.clone()
                aria-invalid=move || if message().is_some() { "true" } else { "false" }
            >
                {options
                    .into_iter()
                    .map(|(value, text)| {
                        let chosen = value == selected;
                        view! {
                            <option value=value selected=chosen>
                                {text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <p class="error" id=error_id role="alert">
                {move || message().map(|e| format!("Error: {e}"))}
            </p>
        </div>
    }
}

/// A labelled text area whose error shows right under it.
#[component]
pub fn TextArea(
    /// The form field's name.
    name: &'static str,
    /// The element id, unique on the page.
    id: &'static str,
    /// The visible label.
    label: &'static str,
    /// A hint under the label.
    #[prop(optional)]
    hint: &'static str,
    /// The initial text.
    value: String,
    /// The last submission's error.
    error: Signal<Option<UiError>>,
    /// Its node, for pages that reach it in the browser.
    #[prop(optional)]
    node_ref: NodeRef<html::Textarea>,
) -> impl IntoView {
    let message = move || error.get().filter(|e| e.field() == Some(name));
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {(!hint.is_empty()).then(|| view! { <p class="hint" id=hint_id.clone()>{hint}</p> })}
            <textarea
                id=id
                name=name
                rows="5"
                aria-describedby=format!("{hint_id} {error_id}")
                aria-invalid=move || if message().is_some() { "true" } else { "false" }
                node_ref=node_ref
            >
                {value}
            </textarea>
            <p class="error" id=error_id role="alert">
                {move || message().map(|e| format!("Error: {e}"))}
            </p>
        </div>
    }
}

/// The fields of a form that deletes something once its name is typed (the form itself, with
/// its action and hidden fields, is the caller's). Once hydrated, the button stays disabled
/// until the name matches; without JavaScript the server checks it.
#[component]
pub fn ConfirmDelete(
    /// What is deleted: `project`, `environment`, `deployment`…
    what: &'static str,
    /// Its name, to type.
    name: String,
    /// What else goes with it.
    consequence: &'static str,
    /// The last submission's error.
    error: Signal<Option<UiError>>,
    /// Offer to force the deletion (`force=true`), with this label.
    #[prop(default = None)]
    force: Option<&'static str>,
    /// What the button does to it (`Delete`, `Destroy`); element ids start with it.
    #[prop(default = "Delete")]
    verb: &'static str,
) -> impl IntoView {
    let prefix = format!("{}-{what}", verb.to_lowercase());
    let (typed, set_typed) = signal(String::new());
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    let expected = name.clone();
    let disabled = move || hydrated.get() && typed.get().trim() != expected;
    let field_error = move || {
        error
            .get()
            .filter(|e| e.field() == Some("confirm"))
            .map(|e| format!("Error: {e}"))
    };
    view! {
        <p>
            {consequence} " Type " <code>{name.clone()}</code> " to confirm."
        </p>
        <div class="field">
            <label for=format!("{prefix}-confirm")>{format!("The {what}'s name")}</label>
            <input
                id=format!("{prefix}-confirm")
                name="confirm"
                autocomplete="off"
                aria-describedby=format!("{prefix}-confirm-error")
                on:input=move |ev| set_typed.set(event_target_value(&ev))
            />
            <p class="error" id=format!("{prefix}-confirm-error") role="alert">
                {field_error}
            </p>
        </div>
        {force
            .map(|label| {
                view! {
                    <div class="field check">
                        <input type="checkbox" id=format!("{prefix}-force") name="force" value="true"/>
                        <label for=format!("{prefix}-force")>{label}</label>
                    </div>
                }
            })}
        <FormError error=error fields=&["confirm"]/>
        <button type="submit" class="danger" id=format!("{prefix}-button") disabled=disabled>
            {format!("{verb} the {what}")}
        </button>
    }
}

/// A button that copies `text` to the clipboard (once hydrated) and says so.
#[component]
pub fn CopyButton(
    /// What to copy.
    text: String,
    /// The element id.
    id: &'static str,
    /// The button's label.
    #[prop(default = "Copy")]
    label: &'static str,
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
            {label}
        </button>
        <span role="status">{move || copied.get().then_some(" Copied.")}</span>
    }
}
