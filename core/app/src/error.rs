//! The use cases' error: what a caller did wrong, or a fault inside, which keeps the error that
//! caused it for the log.

use std::{error::Error, fmt};

use komander_domain::{
    Denied, RefError,
    api::{ErrorCode, ErrorDetail},
    names::NameError,
};
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
    /// A one-time sign-in link that is used, expired, unknown or malformed: not signed in,
    /// like [`AppError::Unauthenticated`] (a 401), with a message saying how to get a new one.
    #[error(
        "this sign-in link is used, expired or unknown: ask the server for a new one \
         (restarting `komander serve` prints one)"
    )]
    InvalidSignInLink,
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
    /// Another operation is running on the object; the message names it.
    #[error("{0}")]
    Busy(String),
    /// No target to run a deployment on; the message says how to add one.
    #[error("{0}")]
    NoTarget(String),
    /// A body larger than the use case accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The caller holds as many of a bounded resource (open event streams) as allowed; the
    /// message names the limit.
    #[error("{0}")]
    TooMany(String),
    /// A fault inside Komander (database, keys, files): never shown to callers in detail. Log
    /// it with [`AppError::report`], which follows the chain of its sources.
    #[error("internal error: {context}")]
    Internal {
        /// What Komander was doing ("writing /x"), or the invariant it found broken.
        context: String,
        /// The error behind the fault, when there is one.
        #[source]
        source: Option<Box<dyn Error + Send + Sync>>,
    },
}

impl AppError {
    /// An invalid value of `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::InvalidInput {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// A fault inside, caused by `source` while doing `context` (such as
    /// `format!("writing {}", path.display())`).
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        AppError::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// A fault inside with no error behind it: a broken invariant, such as a row whose parent
    /// is missing.
    pub fn fault(context: impl Into<String>) -> Self {
        AppError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// The error as every entry point shows it (the REST API's error body, the web UI's
    /// messages): its stable code, its message and the field it is about. An internal fault is
    /// logged here, with its sources, and shows only that it happened.
    pub fn detail(&self) -> ErrorDetail {
        let (code, field) = match self {
            AppError::InvalidInput { field, .. } => (ErrorCode::InvalidInput, field.clone()),
            AppError::Unauthenticated | AppError::InvalidSignInLink => {
                (ErrorCode::Unauthenticated, None)
            }
            AppError::Forbidden(_) => (ErrorCode::Forbidden, None),
            AppError::NotFound(_) => (ErrorCode::NotFound, None),
            AppError::Conflict { field, .. } => (ErrorCode::Conflict, field.clone()),
            AppError::Busy(_) => (ErrorCode::Busy, None),
            AppError::NoTarget(_) => (ErrorCode::NoTarget, Some("target".to_owned())),
            AppError::TooLarge(_) => (ErrorCode::PayloadTooLarge, None),
            AppError::TooMany(_) => (ErrorCode::TooManyRequests, None),
            AppError::Internal { .. } => (ErrorCode::Internal, None),
        };
        if code == ErrorCode::Internal {
            tracing::error!(error = %self.report(), "request failed");
            return ErrorDetail {
                code,
                message: "internal error: see the server's logs".to_owned(),
                field: None,
            };
        }
        ErrorDetail {
            code,
            message: self.to_string(),
            field,
        }
    }

    /// The error and the chain of its sources, `: `-separated, for the log:
    /// `internal error: writing /x: Permission denied (os error 13)`.
    pub fn report(&self) -> ErrorReport<'_> {
        ErrorReport(self)
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
            err @ StoreError::Busy { .. } => AppError::Busy(err.to_string()),
            StoreError::Invalid { field, message } => AppError::InvalidInput {
                field: Some(field),
                message,
            },
            other => AppError::internal("the store failed", other),
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
        AppError::internal("the keyring failed", err)
    }
}

/// An [`AppError`] with the chain of its sources, as [`AppError::report`] displays it. A source
/// whose text already ends the message (an error that prints its source, as in
/// `database error: {0}`) is not repeated.
pub struct ErrorReport<'a>(&'a AppError);

impl fmt::Display for ErrorReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(error) = source {
            let next = error.to_string();
            if !text.ends_with(&next) {
                text.push_str(": ");
                text.push_str(&next);
            }
            source = error.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its source, as `StoreError::Database` does.
    #[derive(Debug, thiserror::Error)]
    #[error("database error: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn internal_errors_keep_their_chain_for_the_log() {
        let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let err = AppError::internal("writing /x", io());
        assert_eq!(err.to_string(), "internal error: writing /x");
        assert_eq!(err.source().unwrap().to_string(), "denied");
        assert_eq!(
            err.report().to_string(),
            "internal error: writing /x: denied"
        );
        let err = AppError::internal("the store failed", Repeats(io()));
        assert_eq!(
            err.report().to_string(),
            "internal error: the store failed: database error: denied"
        );
        let err = AppError::fault("a deployment without its owner");
        assert!(err.source().is_none());
        assert_eq!(
            err.report().to_string(),
            "internal error: a deployment without its owner"
        );
        let err = AppError::invalid("name", "bad name");
        assert_eq!(err.report().to_string(), "bad name");
    }
}
