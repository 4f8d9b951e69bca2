//! The error every server function returns: the use case's error as the REST API shows it (a
//! stable code, a message, the field it is about), so a page can put each message next to its
//! field, or a failure of the call itself.

use komander_domain::api::{ErrorCode, ErrorDetail};
use leptos::{
    prelude::{FromServerFnError, ServerFnErrorErr},
    server_fn::codec::JsonEncoding,
};
use serde::{Deserialize, Serialize};

/// Why a server function failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum UiError {
    /// The use case refused: what the REST API would have answered.
    #[error("{}", .0.message)]
    App(ErrorDetail),
    /// The call itself failed: it did not reach the server, or its arguments were malformed.
    #[error("{0}")]
    Call(String),
}

impl UiError {
    /// An error of the use cases' kind, with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        UiError::App(ErrorDetail {
            code,
            message: message.into(),
            field: None,
        })
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            UiError::App(detail) => detail.field.as_deref(),
            UiError::Call(_) => None,
        }
    }

    /// The error's code; a failed call is `internal`.
    pub fn code(&self) -> ErrorCode {
        match self {
            UiError::App(detail) => detail.code,
            UiError::Call(_) => ErrorCode::Internal,
        }
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        UiError::Call(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<komander_app::AppError> for UiError {
    fn from(err: komander_app::AppError) -> Self {
        UiError::App(err.detail())
    }
}
