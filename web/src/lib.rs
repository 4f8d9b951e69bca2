//! Komander's web UI: a Leptos app rendered on the server and hydrated in the browser, over
//! the same use cases as the REST API (docs/web.md).
//!
//! - `ssr` (the server's build): the pages render to HTML, and the server functions of [`api`]
//!   call the application (`komander-app`); [`ssr`] holds what only the server has.
//! - `hydrate` (the browser's build, wasm32-unknown-unknown, built by `komander-web-bundle`):
//!   [`hydrate`] makes the server's HTML interactive, and server functions become calls.
//!
//! The two features are exclusive: the browser's build never sees the store.
#![deny(missing_docs)]

pub mod api;
mod app;
mod components;
pub mod error;
mod events;
mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use app::App;

/// The browser's entry point: hydrates the page the server rendered.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_body(App);
}

/// The URLs of the assets a page loads: the stylesheet, and the hydrate bundle's script and
/// module when the server has one.
#[derive(Clone, Debug)]
pub struct ShellAssets {
    /// The stylesheet's URL.
    pub stylesheet: String,
    /// The hydrate bundle's script and module URLs.
    pub hydrate: Option<(String, String)>,
}

/// The HTML document of every page: the head with the stylesheet and the hydrate bundle, and
/// the app in the body.
#[cfg(feature = "ssr")]
pub fn shell(assets: ShellAssets) -> impl leptos::IntoView {
    use leptos::prelude::*;
    use leptos_meta::MetaTags;
    let hydrate = assets.hydrate.map(|(script, module)| {
        let start = format!(
            "import init, {{ hydrate }} from {script:?};\n\
             init({{ module_or_path: {module:?} }}).then(() => hydrate());"
        );
        view! {
            <link rel="modulepreload" href=script/>
            <script type="module">{start}</script>
        }
    });
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="stylesheet" href=assets.stylesheet/>
                {hydrate}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}
