//! The server functions: one per thing a page reads or a form does, each a thin adapter over
//! one use case of the application, under the UI's own prefix [`PREFIX`] (never `/api`).
//! Reads are `GET`s; everything that changes something is a `POST`, whose Origin and CSRF
//! token the server checks before it runs (docs/web.md).
//!
//! Arguments arrive as text from forms and are parsed here into the domain's types: a value
//! that does not parse is refused naming its field, as the REST API would.

// A server function takes one argument per field of its form; the struct `#[server]` makes of
// its arguments has a field per argument, and arguments cannot carry doc comments (each
// function's doc says what they are).
#![allow(clippy::too_many_arguments, missing_docs)]

pub mod deployments;
pub mod environments;
pub mod members;
pub mod plugins;
pub mod projects;
pub mod runs;
pub mod services;
pub mod session;
pub mod settings_form;
pub mod targets;
pub mod users;

/// Where the server functions live.
pub const PREFIX: &str = "/ui/fn";

/// The name of the form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The header that carries the CSRF token of a request the page sends itself, which has no
/// form: an upload under [`UPLOADS`].
pub const CSRF_HEADER: &str = "x-komander-csrf";

/// Where the pages upload files (a body too large for a server function's form).
pub const UPLOADS: &str = "/ui/upload";

#[cfg(feature = "ssr")]
use crate::error::UiError;

/// Parses `value` of the form field `field` into a domain type, refusing it naming the field.
#[cfg(feature = "ssr")]
pub(crate) fn parse_field<T>(field: &str, value: &str) -> Result<T, UiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| komander_app::AppError::invalid(field, e.to_string()).into())
}

/// Refuses a deletion whose confirmation is not the name of the `what` deleted.
#[cfg(feature = "ssr")]
pub(crate) fn confirm_name(what: &str, name: &str, confirm: &str) -> Result<(), UiError> {
    if confirm.trim() == name {
        Ok(())
    } else {
        Err(komander_app::AppError::invalid(
            "confirm",
            format!("type the {what}'s name, {name}, to delete it"),
        )
        .into())
    }
}

/// `Some(value)` when the form field holds more than blanks.
#[cfg(feature = "ssr")]
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}
