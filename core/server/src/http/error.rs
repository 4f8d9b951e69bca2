//! The one HTTP error: every failure leaves as `{"error": {"code", "message", "field"?}}`, with
//! the status chosen here from the code, never by a handler. 5xx hide their detail and log it,
//! with the chain of its causes, in the request's span.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use komander_app::AppError;
use komander_domain::api::{ErrorBody, ErrorCode, ErrorDetail};
use utoipa::{
    IntoResponses, ToSchema,
    openapi::{RefOr, Response as OpenApiResponse, ResponseBuilder, content::Content},
};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    fn status(&self) -> StatusCode {
        status_of(self.code)
    }
}

/// The HTTP status of an error code.
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    {
        match code {
            ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict | ErrorCode::Busy | ErrorCode::NoTarget => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        let ErrorDetail {
            code,
            message,
            field,
        } = err.detail();
        ApiError {
            code,
            message,
            field,
        }
    }
}

/// Body rejections: too large is 413, not JSON is 415, anything else is invalid input with the
/// parser's message (which names the field and position).
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::InvalidInput,
        };
        ApiError::new(code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(ErrorCode::InvalidInput, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(ErrorCode::InvalidInput, rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let unauthenticated = self.code == ErrorCode::Unauthenticated;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The error answers every operation documents, for the OpenAPI document.
pub struct ErrorResponses;

impl IntoResponses for ErrorResponses {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        let schema = ErrorBody::name();
        [
            ("400", "Invalid input: the message names the field"),
            ("401", "Missing or invalid API token"),
            ("403", "Visible, but the caller's role does not allow it"),
            ("404", "No such object, or not visible to the caller"),
            (
                "409",
                "A name is taken, or the object's state forbids the change",
            ),
            (
                "408",
                "The request took longer than the server's request timeout",
            ),
            ("413", "The body is too large"),
            ("415", "The body is not application/json"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        schema.clone(),
                    )))),
                )
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}
