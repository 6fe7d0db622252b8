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

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The JSON Schema of `ferry.yml`, for editors (`# yaml-language-server: $schema=…`).
pub async fn pipeline_schema() -> Json<serde_json::Value> {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(ferry_engine::pipeline::pipeline_schema);
    Json(SCHEMA.clone())
}
