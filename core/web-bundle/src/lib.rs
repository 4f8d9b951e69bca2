//! The web UI's static assets, built into the binary by this crate's build script: the
//! stylesheet and the hydrate bundle (the browser half of `komander-web`).
//!
//! Every asset is named by its content, so a server may let browsers cache it for good, and is
//! held as is and compressed with gzip and brotli, so a server sends the smallest form the
//! browser accepts without compressing per request.
//!
//! ```
//! let css = komander_web_bundle::find(komander_web_bundle::STYLESHEET.name).unwrap();
//! assert!(css.name.starts_with("komander.") && css.name.ends_with(".css"));
//! assert!(css.brotli.len() < css.identity.len());
//! ```
#![deny(missing_docs)]

/// One static file.
#[derive(Debug)]
pub struct Asset {
    /// Its file name, `<stem>.<hash>.<extension>`: the hash is its content's.
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub identity: &'static [u8],
    /// Its bytes, gzip-compressed.
    pub gzip: &'static [u8],
    /// Its bytes, brotli-compressed.
    pub brotli: &'static [u8],
}

/// The hydrate bundle: what a page loads to become interactive.
#[derive(Debug)]
pub struct Hydrate {
    /// The ES module that loads the WebAssembly module and exports `hydrate`.
    pub script: Asset,
    /// The WebAssembly module.
    pub module: Asset,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset named `name`; `None` for any other name.
pub fn find(name: &str) -> Option<&'static Asset> {
    std::iter::once(&STYLESHEET)
        .chain(HYDRATE.iter().flat_map(|h| [&h.script, &h.module]))
        .find(|asset| asset.name == name)
}
