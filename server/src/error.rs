//! How the shared `AppError` leaves the server: as JSON `{error, message}` with the
//! matching HTTP status. Internal failures are logged here and never sent.

use std::fmt::Display;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferry_app::error::AppError;

/// An `AppError` as an HTTP response.
#[derive(Debug)]
pub struct HttpError(pub AppError);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(&self.0)).into_response();
        if let Some(seconds) = self.0.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<AppError> for HttpError {
    fn from(e: AppError) -> Self {
        HttpError(e)
    }
}

impl From<JsonRejection> for HttpError {
    fn from(r: JsonRejection) -> Self {
        let error = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(ferry_app::error::ErrorCode::PayloadTooLarge, "request body too large")
        } else {
            AppError::bad_request(r.body_text())
        };
        HttpError(error)
    }
}

impl From<PathRejection> for HttpError {
    fn from(r: PathRejection) -> Self {
        HttpError(AppError::bad_request(r.body_text()))
    }
}

impl From<QueryRejection> for HttpError {
    fn from(r: QueryRejection) -> Self {
        HttpError(AppError::bad_request(r.body_text()))
    }
}

/// Logs an internal failure and turns it into the generic client-facing error.
pub fn internal(context: &str, error: impl Display) -> AppError {
    tracing::error!(%error, "{context}");
    AppError::internal()
}

/// `result.or_internal("what was being done")?` for store and I/O errors.
pub trait OrInternal<T> {
    fn or_internal(self, context: &str) -> Result<T, AppError>;
}

impl<T, E: Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self, context: &str) -> Result<T, AppError> {
        self.map_err(|e| internal(context, e))
    }
}
