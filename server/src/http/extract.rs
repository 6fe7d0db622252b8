//! Extractors whose rejections speak the shared error vocabulary instead of axum's
//! plain-text messages.

use axum::extract::{FromRequest, FromRequestParts};

use crate::error::HttpError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(HttpError))]
pub struct Json<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(HttpError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
pub struct Query<T>(pub T);
