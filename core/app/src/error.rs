//! The use cases' error: what a caller did wrong, or a fault inside.

use std::fmt;

use komander_domain::{Denied, RefError, names::NameError};
use komander_secrets::SecretsError;
use komander_store::StoreError;

/// Why a use case failed. Every variant but [`AppError::Internal`] is the caller's to fix and
/// carries a message meant for them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A value breaks a rule.
    #[error("{message}")]
    InvalidInput {
        /// The field at fault.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No valid credentials.
    #[error("missing or invalid API token")]
    Unauthenticated,
    /// Visible, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Missing, or invisible to the caller.
    #[error("{0} not found")]
    NotFound(String),
    /// A name is taken or the state forbids the change.
    #[error("{message}")]
    Conflict {
        /// The field at fault.
        field: Option<String>,
        /// What conflicts.
        message: String,
    },
    /// A fault inside Komander (database, keys): never shown to callers in detail.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// An invalid value of `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::InvalidInput {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// Maps a refusal of the authorization function; `what` names the object for a 404.
    pub fn denied(denied: Denied, what: impl FnOnce() -> String) -> Self {
        match denied {
            Denied::NotFound => AppError::NotFound(what()),
            Denied::Forbidden(reason) => AppError::Forbidden(reason.to_owned()),
        }
    }

    /// Maps a store error, naming the object for not-found and name conflicts.
    pub fn from_store(err: StoreError, what: &str) -> Self {
        match err {
            StoreError::NotFound(thing) => AppError::NotFound(thing.to_owned()),
            StoreError::Conflict {
                field: Some(field), ..
            } if field == "name" => AppError::Conflict {
                message: format!("a {what} with this name already exists"),
                field: Some(field),
            },
            StoreError::Conflict { field, message } => AppError::Conflict { field, message },
            other => AppError::Internal(other.to_string()),
        }
    }

    /// Maps an invalid name in a request body.
    pub fn name(field: &str, err: NameError) -> Self {
        AppError::invalid(field, err.to_string())
    }
}

/// What a 404 names: the kind of object and the slug the caller gave (`project "shop"`).
pub(crate) fn named(kind: impl fmt::Display, slug: &str) -> String {
    format!("{kind} {slug:?}")
}

/// A slug in a path that is not even valid names nothing: it answers 404 like a missing object,
/// naming its segment and text (`project "Bad_Name" not found`).
impl From<RefError> for AppError {
    fn from(err: RefError) -> Self {
        AppError::NotFound(named(err.segment, err.value()))
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        AppError::from_store(err, "object")
    }
}

impl From<SecretsError> for AppError {
    fn from(err: SecretsError) -> Self {
        AppError::Internal(err.to_string())
    }
}
