//! `AppError`: every failure a request can meet, mapped once to a status code and rendered as
//! the JSON error envelope (`{"error":{"code","message"}}`) for the API, or as a page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use store::StoreError;

/// An error that ends a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Unprocessable { field: String, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    OutOfScope(#[from] domain::account::OutOfScope),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// One uploaded file is over its limit (413, naming the field).
    #[error("{message}")]
    FileTooLarge { field: String, message: String },
    #[error("too many attempts, try again in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `not_found`, `out_of_scope`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl AppError {
    pub fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        AppError::Unprocessable {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::OutOfScope(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge | AppError::FileTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Store(e) if e.is_unique_violation() => StatusCode::CONFLICT,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unprocessable { .. } => "invalid_field",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::OutOfScope(_) => "out_of_scope",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::PayloadTooLarge | AppError::FileTooLarge { .. } => "payload_too_large",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Store(e) if e.is_unique_violation() => "conflict",
            AppError::Store(_) | AppError::Internal(_) => "internal",
        }
    }

    /// The message shown to the client: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Store(e) if e.is_unique_violation() => "already exists".into(),
            AppError::Store(_) | AppError::Internal(_) => {
                "internal error; it has been logged".into()
            }
            other => other.to_string(),
        }
    }

    fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let code = self.code();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.public_message(),
                field: match &self {
                    AppError::Unprocessable { field, .. }
                    | AppError::FileTooLarge { field, .. } => Some(field.clone()),
                    _ => None,
                },
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after_s } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Result type of handlers and actions.
pub type AppResult<T> = Result<T, AppError>;
