//! The OpenAPI document of the REST API, generated from the handlers and types.

use axum::http::header;
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::{api, sign_in};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry API",
        description = "Self-hosted deployments: projects, releases, deployments, logs and events."
    ),
    modifiers(&BearerToken),
    security(("api_token" = []))
)]
pub struct ApiDoc;

/// Every endpoint takes an API token (`Authorization: Bearer ferry_…`) or the
/// browser's session cookie.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("ferry API token").build();
        components.add_security_scheme("api_token", SecurityScheme::Http(scheme));
    }
}

/// The answers every operation can give besides its own: 401 without a valid token or
/// session (but where anyone may call it), 403 when the caller's role, scope or project does not allow it; 400 for a
/// malformed path, query or body; 413 for a body over the limit (2 MiB). Added here
/// once instead of on each handler, so no operation can leave them out.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let answer = |description: &str| {
            let error = ContentBuilder::new().schema(Some(Ref::from_schema_name("AppError"))).build();
            ResponseBuilder::new().description(description).content("application/json", error).build()
        };
        for item in openapi.paths.paths.values_mut() {
            let shared_parameters = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                // `security(())`: open to anyone (signing in, say), so never "not signed in".
                let open = operation.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == Default::default()));
                let parameters = shared_parameters || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses.entry(status.to_string()).or_insert_with(|| answer(description).into());
                };
                if !open {
                    add("401", "Not signed in: no valid API token or session.");
                }
                add("403", "The caller's role, token scope or project membership does not allow this.");
                if parameters || body {
                    add("400", "A malformed path or query parameter, or request body.");
                }
                if body {
                    add("413", "The request body is over the size limit.");
                }
            }
        }
    }
}

/// The REST API's router (`/api/v1` and sign-in's `/auth`) and its OpenAPI document,
/// both made from the handlers' declarations, so that neither can list a route the
/// other lacks.
pub fn rest_api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api::router())
        .merge(sign_in::router())
        .split_for_parts();
    CommonAnswers.modify(&mut document);
    (router, document)
}

/// Serves the document, rendered once.
pub fn document_handler(document: &utoipa::openapi::OpenApi) -> MethodRouter<AppState> {
    let body = serde_json::to_string(document).expect("the OpenAPI document renders as JSON");
    get(move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], body.clone())))
}

/// The JSON Schema of `ferry.yml`, for editors (`# yaml-language-server: $schema=…`).
pub async fn pipeline_schema() -> Json<serde_json::Value> {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(ferry_engine::pipeline::pipeline_schema);
    Json(SCHEMA.clone())
}
