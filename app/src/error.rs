//! The one error vocabulary of Ferry: REST responses and server functions both carry
//! `{error, message}`, where `error` is a stable code and `message` is safe to show.

use std::fmt;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    /// Not signed in, or the session or token is no longer valid.
    Unauthenticated,
    /// Signed in, but the role or token scope does not allow it.
    Forbidden,
    NotFound,
    Conflict,
    /// Well-formed but not acceptable, e.g. a pipeline file with an error.
    Unprocessable,
    PayloadTooLarge,
    /// Too many attempts (sign-in throttling); `retry_after` says when to try again.
    TooManyRequests,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Unprocessable => 422,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// An error as the client sees it. Internal details are logged by the server and
/// never put in `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppError {
    pub error: ErrorCode,
    pub message: String,
    /// With `too_many_requests`: seconds until another attempt is taken (also sent as
    /// the `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self { error, message: message.into(), retry_after: None }
    }
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self { retry_after: Some(retry_after_seconds), ..Self::new(ErrorCode::TooManyRequests, message) }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unprocessable, message)
    }
    /// The generic message for failures whose detail must stay in the server log.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error; the server log has the details")
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                AppError::bad_request(format!("invalid arguments: {m}"))
            }
            ServerFnErrorErr::Request(m) => {
                AppError::new(ErrorCode::Unavailable, format!("cannot reach the Ferry server: {m}"))
            }
            ServerFnErrorErr::Deserialization(m) => {
                AppError::new(ErrorCode::Unavailable, format!("unexpected answer from the server: {m}"))
            }
            _ => AppError::internal(),
        }
    }
}
