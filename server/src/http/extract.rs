//! Extractors whose rejections speak the shared error vocabulary instead of axum's
//! plain-text messages.

use axum::extract::{FromRequest, FromRequestParts, Request};
use ferry_app::error::AppError;
use serde::de::DeserializeOwned;

use crate::error::HttpError;

/// A JSON body: always an object. (serde would read a struct from an array by
/// position, so `["hello", 3, "production"]` would deploy; that is refused here.)
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let axum::Json(body) = axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !body.is_object() {
            return Err(HttpError(AppError::bad_request("the request body must be a JSON object")));
        }
        // The field's path leads the message (`deploy_role: unknown variant …`), as in
        // axum's own Json.
        serde_path_to_error::deserialize(body).map(Json).map_err(|e| {
            let path = e.path().to_string();
            HttpError(AppError::bad_request(format!("request body: {path}: {}", e.into_inner())))
        })
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(HttpError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
pub struct Query<T>(pub T);
