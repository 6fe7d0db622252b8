//! The OpenAPI document of the REST API, generated from the handlers and types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry API",
        description = "Self-hosted deployments: projects, releases, deployments, logs and events."
    ),
    paths(
        api::list_projects,
        api::create_project,
        api::list_releases,
        api::create_release,
        api::get_release,
        api::matrix,
        api::get_insights,
        api::list_notifications,
        api::mark_notifications_read,
        api::get_notify_preferences,
        api::set_notify_preferences,
        api::create_deployment,
        api::preview_deployment,
        api::cancel_deployment,
        api::create_rollback,
        api::preview_rollback,
        api::list_deployments,
        api::get_deployment,
        api::get_logs,
        api::download_log,
        api::list_events,
        api::list_tokens,
        api::create_token,
        api::revoke_token,
        api::list_users,
        api::set_role,
        api::list_members,
        api::set_member,
        api::list_audit,
        api::approve_deployment,
        api::reject_deployment,
        api::protect_environment,
        api::list_agents,
        api::create_agent_registration,
        api::revoke_agent,
        api::set_agent_identity,
        api::select_agents,
        api::get_ssh_key,
        api::rotate_ssh_key,
        api::list_ssh_hosts,
        api::add_ssh_host,
        api::update_ssh_host,
        api::remove_ssh_host,
        api::check_ssh_host,
        api::trust_ssh_host_key,
        api::select_builders,
        api::mark_release_bad,
        api::clear_release_bad,
        api::list_variables,
        api::set_variable,
        api::delete_variable,
        api::list_freezes,
        api::get_retention,
        api::set_retention,
        api::add_freeze,
        api::remove_freeze,
        api::notification_settings,
        api::add_channel,
        api::remove_channel,
        api::test_channel,
        api::add_rule,
        api::remove_rule,
        api::get_forge_link,
        api::link_forge,
        api::unlink_forge,
        api::list_repositories,
        api::import_project,
        api::new_deploy_key
    ),
    modifiers(&BearerToken, &CommonAnswers),
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
/// session, 403 when the caller's role, scope or project does not allow it; 400 for a
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
                let parameters = shared_parameters || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses.entry(status.to_string()).or_insert_with(|| answer(description).into());
                };
                add("401", "Not signed in: no valid API token or session.");
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

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The JSON Schema of `ferry.yml`, for editors (`# yaml-language-server: $schema=…`).
pub async fn pipeline_schema() -> Json<serde_json::Value> {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(ferry_engine::pipeline::pipeline_schema);
    Json(SCHEMA.clone())
}
