//! Server functions the SPA calls. Each body runs on the server and delegates to the
//! `Backend`, which checks its input and answers in the shared error vocabulary.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{
    AgentIdentityRequest, AgentRegistration, AgentView, AuditEntry, AuditQuery, ChannelView, CreateToken, CreatedToken,
    DeploymentDetail, DeploymentView, EnvironmentView, FreezeView, HistoryFilter, Insights, LogLineView, Matrix, Me,
    NewChannel, NewFreeze, NewRule, NotificationList, NotifySettings, PromotionPreview, Protection, ReleaseDetail,
    ReleaseView, Role, RuleView, SetVariable, TokenView, UserView, VariableView,
};
use crate::model::{DeployKey, ImportProject, Imported, ListRepositories, RepositoryView};
use crate::model::{ForgeLinkView, ForgeLinked, LinkForge, NotifyPreferences, ProjectView};
use crate::model::{Retention, SshCheckView, SshHostRequest, SshHostView, SshKeyView, TrustHostKey};

/// Who is signed in, and how one can sign in.
#[server(prefix = "/rpc", endpoint = "load_me")]
pub async fn load_me() -> Result<Me, AppError> {
    crate::backend::backend()?.me().await
}

/// Signs in with the local password form; the session cookie comes with the answer.
#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(login: String, password: String) -> Result<Me, AppError> {
    crate::backend::backend()?.sign_in(crate::model::PasswordSignIn { login, password }).await
}

#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    crate::backend::backend()?.sign_out().await
}

/// Ends every session of the signed-in user, in every browser.
#[server(prefix = "/rpc", endpoint = "sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    crate::backend::backend()?.sign_out_everywhere().await
}

#[server(prefix = "/rpc", endpoint = "load_matrix")]
pub async fn load_matrix() -> Result<Matrix, AppError> {
    crate::backend::backend()?.matrix().await
}

#[server(prefix = "/rpc", endpoint = "load_deployment")]
pub async fn load_deployment(id: i64) -> Result<DeploymentDetail, AppError> {
    crate::backend::backend()?.deployment(id).await
}

/// The log lines of a deployment after `after`, a page at a time (a snapshot carries the first page).
#[server(prefix = "/rpc", endpoint = "load_log_page")]
pub async fn load_log_page(id: i64, after: i64) -> Result<Vec<LogLineView>, AppError> {
    crate::backend::backend()?.log_page(id, after).await
}

#[server(prefix = "/rpc", endpoint = "load_history")]
pub async fn load_history(filter: HistoryFilter) -> Result<Vec<DeploymentView>, AppError> {
    crate::backend::backend()?.history(filter).await
}

/// Starts a deployment of a release to an environment (also used to promote).
#[server(prefix = "/rpc", endpoint = "start_deployment")]
pub async fn start_deployment(
    project: String,
    release_id: i64,
    environment: String,
    // Optional in the form: false and none when absent.
    #[server(default)] allow_older: bool,
    #[server(default)] freeze_override: Option<String>,
) -> Result<DeploymentView, AppError> {
    let request = crate::model::DeployRequest { project, release_id, environment, allow_older, freeze_override };
    crate::backend::backend()?.deploy(request).await
}

/// Cancels a queued or running deployment.
#[server(prefix = "/rpc", endpoint = "cancel_deployment")]
pub async fn cancel_deployment(id: i64) -> Result<DeploymentView, AppError> {
    crate::backend::backend()?.cancel(id).await
}

/// What deploying (or rolling back to) `release_id` in `environment` would change,
/// and whether it is allowed.
#[server(prefix = "/rpc", endpoint = "preview_promotion")]
pub async fn preview_promotion(
    project: String,
    release_id: i64,
    environment: String,
    rollback: bool,
) -> Result<PromotionPreview, AppError> {
    crate::backend::backend()?
        .preview(
            crate::model::DeployRequest { project, release_id, environment, allow_older: false, freeze_override: None },
            rollback,
        )
        .await
}

/// Rolls an environment back to a release that once ran there.
#[server(prefix = "/rpc", endpoint = "start_rollback")]
pub async fn start_rollback(project: String, release_id: i64, environment: String) -> Result<DeploymentView, AppError> {
    crate::backend::backend()?
        .rollback(crate::model::DeployRequest {
            project,
            release_id,
            environment,
            allow_older: false,
            freeze_override: None,
        })
        .await
}

#[server(prefix = "/rpc", endpoint = "load_release")]
pub async fn load_release(id: i64) -> Result<ReleaseDetail, AppError> {
    crate::backend::backend()?.release(id).await
}

#[server(prefix = "/rpc", endpoint = "load_insights")]
pub async fn load_insights(project: Option<String>, days: i64) -> Result<Insights, AppError> {
    crate::backend::backend()?.insights(project, days).await
}

#[server(prefix = "/rpc", endpoint = "load_notifications")]
pub async fn load_notifications() -> Result<NotificationList, AppError> {
    crate::backend::backend()?.notifications().await
}

/// Marks the given notifications read, or all of them when `ids` is `None`.
#[server(prefix = "/rpc", endpoint = "mark_notifications_read")]
pub async fn mark_notifications_read(ids: Option<Vec<i64>>) -> Result<NotificationList, AppError> {
    crate::backend::backend()?.mark_read(ids).await
}

#[server(prefix = "/rpc", endpoint = "load_tokens")]
pub async fn load_tokens() -> Result<Vec<TokenView>, AppError> {
    crate::backend::backend()?.tokens().await
}

/// Creates an API token of the signed-in user; its secret is in this answer only.
#[server(prefix = "/rpc", endpoint = "create_token")]
pub async fn issue_token(request: CreateToken) -> Result<CreatedToken, AppError> {
    crate::backend::backend()?.create_token(request).await
}

#[server(prefix = "/rpc", endpoint = "revoke_token")]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    crate::backend::backend()?.revoke_token(id).await
}

/// Approves (or rejects) a deployment waiting for approvals.
#[server(prefix = "/rpc", endpoint = "decide_deployment")]
pub async fn decide_deployment(id: i64, approve: bool, comment: Option<String>) -> Result<DeploymentView, AppError> {
    crate::backend::backend()?.decide(id, approve, comment).await
}

/// Changes how an environment is protected.
#[server(prefix = "/rpc", endpoint = "protect_environment")]
pub async fn protect_environment(
    project: String,
    environment: String,
    protection: Protection,
) -> Result<EnvironmentView, AppError> {
    crate::backend::backend()?.protect(project, environment, protection).await
}

/// A page of the audit log (administrators).
#[server(prefix = "/rpc", endpoint = "load_audit")]
pub async fn load_audit(query: AuditQuery) -> Result<Vec<AuditEntry>, AppError> {
    crate::backend::backend()?.audit(query).await
}

#[server(prefix = "/rpc", endpoint = "load_users")]
pub async fn load_users() -> Result<Vec<UserView>, AppError> {
    crate::backend::backend()?.users().await
}

/// Sets a user's global role (administrators).
#[server(prefix = "/rpc", endpoint = "set_user_role")]
pub async fn set_user_role(id: i64, role: Role) -> Result<UserView, AppError> {
    crate::backend::backend()?.set_role(id, role).await
}

#[server(prefix = "/rpc", endpoint = "load_agents")]
pub async fn load_agents() -> Result<Vec<AgentView>, AppError> {
    crate::backend::backend()?.agents().await
}

/// A one-time token to register a new agent with (administrators).
#[server(prefix = "/rpc", endpoint = "register_agent")]
pub async fn register_agent(identity: AgentIdentityRequest) -> Result<AgentRegistration, AppError> {
    crate::backend::backend()?.register_agent(identity).await
}

/// Renames or relabels an agent (administrators).
#[server(prefix = "/rpc", endpoint = "set_agent_identity")]
pub async fn set_agent_identity(id: i64, identity: AgentIdentityRequest) -> Result<AgentView, AppError> {
    crate::backend::backend()?.set_agent_identity(id, identity).await
}

#[server(prefix = "/rpc", endpoint = "revoke_agent")]
pub async fn revoke_agent(id: i64) -> Result<(), AppError> {
    crate::backend::backend()?.revoke_agent(id).await
}

/// Chooses the agents an environment deploys to, by label.
#[server(prefix = "/rpc", endpoint = "select_agents")]
pub async fn select_agents(
    project: String,
    environment: String,
    selector: String,
) -> Result<EnvironmentView, AppError> {
    crate::backend::backend()?.select_agents(project, environment, selector).await
}

/// The repositories a GitHub or GitLab token reaches (administrators).
#[server(prefix = "/rpc", endpoint = "load_repositories")]
pub async fn load_repositories(wanted: ListRepositories) -> Result<Vec<RepositoryView>, AppError> {
    crate::backend::backend()?.repositories(wanted).await
}

/// Imports a project from its repository, or with `dry_run` says what it would import.
#[server(prefix = "/rpc", endpoint = "run_import")]
pub async fn run_import(wanted: ImportProject) -> Result<Imported, AppError> {
    crate::backend::backend()?.import_project(wanted).await
}

/// A new deploy key to import a repository over SSH (administrators).
#[server(prefix = "/rpc", endpoint = "make_deploy_key")]
pub async fn make_deploy_key() -> Result<DeployKey, AppError> {
    crate::backend::backend()?.new_deploy_key().await
}

/// Ferry's public SSH key; with `rotate`, a new key pair first (administrators).
#[server(prefix = "/rpc", endpoint = "load_ssh_key")]
pub async fn load_ssh_key(rotate: bool) -> Result<SshKeyView, AppError> {
    crate::backend::backend()?.ssh_key(rotate).await
}

#[server(prefix = "/rpc", endpoint = "load_ssh_hosts")]
pub async fn load_ssh_hosts(project: String, environment: String) -> Result<Vec<SshHostView>, AppError> {
    crate::backend::backend()?.ssh_hosts(project, environment).await
}

/// Adds an SSH host to an environment (administrators).
#[server(prefix = "/rpc", endpoint = "add_ssh_host")]
pub async fn add_ssh_host(project: String, environment: String, host: SshHostRequest) -> Result<SshHostView, AppError> {
    crate::backend::backend()?.add_ssh_host(project, environment, host).await
}

#[server(prefix = "/rpc", endpoint = "remove_ssh_host")]
pub async fn remove_ssh_host(project: String, environment: String, id: i64) -> Result<(), AppError> {
    crate::backend::backend()?.remove_ssh_host(project, environment, id).await
}

/// Connects to an SSH host: whether Ferry signs in, and the host key it presents.
#[server(prefix = "/rpc", endpoint = "check_ssh_host")]
pub async fn check_ssh_host(project: String, environment: String, id: i64) -> Result<SshCheckView, AppError> {
    crate::backend::backend()?.check_ssh_host(project, environment, id).await
}

#[server(prefix = "/rpc", endpoint = "trust_ssh_host_key")]
pub async fn trust_ssh_host_key(
    project: String,
    environment: String,
    id: i64,
    trust: TrustHostKey,
) -> Result<SshHostView, AppError> {
    crate::backend::backend()?.trust_ssh_host_key(project, environment, id, trust).await
}

/// Chooses the agents that build a project's releases, by label.
#[server(prefix = "/rpc", endpoint = "select_builders")]
pub async fn select_builders(project: String, selector: String) -> Result<ProjectView, AppError> {
    crate::backend::backend()?.select_builders(project, selector).await
}

/// Marks a release bad (with a reason), or clears the mark (without one).
#[server(prefix = "/rpc", endpoint = "mark_release")]
pub async fn mark_release(id: i64, bad_reason: Option<String>) -> Result<ReleaseView, AppError> {
    crate::backend::backend()?.mark_release(id, bad_reason).await
}

#[server(prefix = "/rpc", endpoint = "load_variables")]
pub async fn load_variables(project: String) -> Result<Vec<VariableView>, AppError> {
    crate::backend::backend()?.variables(project).await
}

/// Creates or replaces a variable or secret of a project.
#[server(prefix = "/rpc", endpoint = "save_variable")]
pub async fn save_variable(project: String, change: SetVariable) -> Result<(), AppError> {
    crate::backend::backend()?.set_variable(project, change).await
}

#[server(prefix = "/rpc", endpoint = "remove_variable")]
pub async fn remove_variable(project: String, environment: Option<String>, name: String) -> Result<(), AppError> {
    crate::backend::backend()?.delete_variable(project, environment, name).await
}

#[server(prefix = "/rpc", endpoint = "load_freezes")]
pub async fn load_freezes(project: String) -> Result<Vec<FreezeView>, AppError> {
    crate::backend::backend()?.freezes(project).await
}

/// Adds a deploy freeze window to an environment of a project.
#[server(prefix = "/rpc", endpoint = "add_freeze")]
pub async fn add_freeze(project: String, freeze: NewFreeze) -> Result<FreezeView, AppError> {
    crate::backend::backend()?.add_freeze(project, freeze).await
}

#[server(prefix = "/rpc", endpoint = "load_retention")]
pub async fn load_retention(project: String) -> Result<Retention, AppError> {
    crate::backend::backend()?.retention(project).await
}

/// Sets how many days the project keeps its logs (`None`: the server's; 0: forever).
#[server(prefix = "/rpc", endpoint = "set_retention")]
pub async fn set_retention(project: String, days: Option<i64>) -> Result<Retention, AppError> {
    crate::backend::backend()?.set_retention(project, days).await
}

#[server(prefix = "/rpc", endpoint = "remove_freeze")]
pub async fn remove_freeze(project: String, id: i64) -> Result<(), AppError> {
    crate::backend::backend()?.remove_freeze(project, id).await
}

/// Notification channels (without secrets), routing rules and the newest deliveries.
#[server(prefix = "/rpc", endpoint = "load_notify_settings")]
pub async fn load_notify_settings() -> Result<NotifySettings, AppError> {
    crate::backend::backend()?.notify_settings().await
}

#[server(prefix = "/rpc", endpoint = "add_channel")]
pub async fn add_channel(channel: NewChannel) -> Result<ChannelView, AppError> {
    crate::backend::backend()?.add_channel(channel).await
}

#[server(prefix = "/rpc", endpoint = "remove_channel")]
pub async fn remove_channel(id: i64) -> Result<(), AppError> {
    crate::backend::backend()?.remove_channel(id).await
}

/// Sends a test message through a channel.
#[server(prefix = "/rpc", endpoint = "test_channel")]
pub async fn test_channel(id: i64) -> Result<(), AppError> {
    crate::backend::backend()?.test_channel(id).await
}

#[server(prefix = "/rpc", endpoint = "add_rule")]
pub async fn add_rule(rule: NewRule) -> Result<RuleView, AppError> {
    crate::backend::backend()?.add_rule(rule).await
}

#[server(prefix = "/rpc", endpoint = "remove_rule")]
pub async fn remove_rule(id: i64) -> Result<(), AppError> {
    crate::backend::backend()?.remove_rule(id).await
}

/// What the signed-in person hears of, in the app and by email.
#[server(prefix = "/rpc", endpoint = "load_notify_preferences")]
pub async fn load_notify_preferences() -> Result<NotifyPreferences, AppError> {
    crate::backend::backend()?.notify_preferences().await
}

#[server(prefix = "/rpc", endpoint = "save_notify_preferences")]
pub async fn save_notify_preferences(wanted: NotifyPreferences) -> Result<NotifyPreferences, AppError> {
    crate::backend::backend()?.set_notify_preferences(wanted).await
}

/// The project's linked GitHub or GitLab repository, if any.
#[server(prefix = "/rpc", endpoint = "load_forge_link")]
pub async fn load_forge_link(project: String) -> Result<Option<ForgeLinkView>, AppError> {
    crate::backend::backend()?.forge_link(project).await
}

/// Links the project to its repository; the answer holds the webhook secret, once.
#[server(prefix = "/rpc", endpoint = "save_forge_link")]
pub async fn save_forge_link(project: String, wanted: LinkForge) -> Result<ForgeLinked, AppError> {
    crate::backend::backend()?.link_forge(project, wanted).await
}

#[server(prefix = "/rpc", endpoint = "remove_forge_link")]
pub async fn remove_forge_link(project: String) -> Result<(), AppError> {
    crate::backend::backend()?.unlink_forge(project).await
}
