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
    openapi::{
        AllOfBuilder, ObjectBuilder, Ref, RefOr, Response as OpenApiResponse, ResponseBuilder,
        Type, content::Content,
    },
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

/// The error answers every operation documents, for the OpenAPI document: each status with the
/// error body narrowed to the codes that status carries (`409`: `conflict`, `busy` or
/// `no_target`).
pub struct ErrorResponses;

/// The statuses every operation may answer with an error, and what each means.
const DOCUMENTED_ERRORS: [(StatusCode, &str); 8] = [
    (
        StatusCode::BAD_REQUEST,
        "Invalid input: the message names the field",
    ),
    (StatusCode::UNAUTHORIZED, "Missing or invalid API token"),
    (
        StatusCode::FORBIDDEN,
        "Visible, but the caller's role does not allow it",
    ),
    (
        StatusCode::NOT_FOUND,
        "No such object, or not visible to the caller",
    ),
    (
        StatusCode::REQUEST_TIMEOUT,
        "The request took longer than the server's request timeout",
    ),
    (
        StatusCode::CONFLICT,
        "A name is taken, the object's state forbids the change, another operation runs, or \
         the environment has no target",
    ),
    (StatusCode::PAYLOAD_TOO_LARGE, "The body is too large"),
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "The body is not application/json",
    ),
];

impl ErrorResponses {
    /// The documented answer of `status`: [`ErrorBody`] whose `code` is one of those the status
    /// carries.
    pub(crate) fn response(status: StatusCode, description: &str) -> OpenApiResponse {
        let codes: Vec<serde_json::Value> = ErrorCode::ALL
            .into_iter()
            .filter(|code| status_of(*code) == status)
            .map(|code| serde_json::to_value(code).unwrap_or_default())
            .collect();
        let narrowed = ObjectBuilder::new().property(
            "error",
            ObjectBuilder::new().property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes)),
            ),
        );
        let schema = AllOfBuilder::new()
            .item(RefOr::Ref(Ref::from_schema_name(ErrorBody::name())))
            .item(narrowed);
        ResponseBuilder::new()
            .description(description)
            .content("application/json", Content::new(Some(schema)))
            .build()
    }
}

impl IntoResponses for ErrorResponses {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        DOCUMENTED_ERRORS
            .into_iter()
            .map(|(status, description)| {
                (
                    status.as_str().to_owned(),
                    RefOr::T(Self::response(status, description)),
                )
            })
            .collect()
    }
}
