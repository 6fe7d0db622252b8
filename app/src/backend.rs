//! The contract between the server functions and the server: the app states what it
//! needs, the server crate implements it over the store and the engine. Server
//! function bodies find the implementation in the Leptos context.

use std::sync::Arc;

use async_trait::async_trait;
use leptos::prelude::use_context;

use crate::error::AppError;
use crate::model::{
    AgentIdentityRequest, AgentRegistration, AgentView, AuditEntry, AuditQuery, ChannelView, CreateToken, CreatedToken,
    DeployRequest, DeploymentDetail, DeploymentView, EnvironmentView, FreezeView, HistoryFilter, Insights, Matrix, Me,
    NewChannel, NewFreeze, NewRule, NotificationList, NotifySettings, PasswordSignIn, PromotionPreview, Protection,
    ReleaseDetail, ReleaseView, Role, RuleView, SetVariable, TokenView, UserView, VariableView,
};
use crate::model::{DeployKey, ImportProject, Imported, ListRepositories, RepositoryView};
use crate::model::{ForgeLinkView, ForgeLinked, LinkForge, LogLineView, NotifyPreferences, ProjectView};
use crate::model::{Retention, SshCheckView, SshHostRequest, SshHostView, SshKeyView, TrustHostKey};

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Who is signed in (no error when nobody is) and how one can sign in.
    async fn me(&self) -> Result<Me, AppError>;
    async fn sign_in(&self, form: PasswordSignIn) -> Result<Me, AppError>;
    async fn sign_out(&self) -> Result<(), AppError>;
    async fn sign_out_everywhere(&self) -> Result<(), AppError>;
    async fn tokens(&self) -> Result<Vec<TokenView>, AppError>;
    async fn create_token(&self, request: CreateToken) -> Result<CreatedToken, AppError>;
    async fn revoke_token(&self, id: i64) -> Result<(), AppError>;
    async fn matrix(&self) -> Result<Matrix, AppError>;
    async fn deployment(&self, id: i64) -> Result<DeploymentDetail, AppError>;
    /// The next `LOG_PAGE_LINES` log lines of a deployment after sequence number `after`.
    async fn log_page(&self, id: i64, after: i64) -> Result<Vec<LogLineView>, AppError>;
    async fn deploy(&self, request: DeployRequest) -> Result<DeploymentView, AppError>;
    async fn notifications(&self) -> Result<NotificationList, AppError>;
    /// Marks the given notifications read, or all of them when `ids` is `None`.
    async fn mark_read(&self, ids: Option<Vec<i64>>) -> Result<NotificationList, AppError>;
    async fn insights(&self, project: Option<String>, days: i64) -> Result<Insights, AppError>;
    async fn release(&self, id: i64) -> Result<ReleaseDetail, AppError>;
    async fn preview(&self, request: DeployRequest, rollback: bool) -> Result<PromotionPreview, AppError>;
    async fn rollback(&self, request: DeployRequest) -> Result<DeploymentView, AppError>;
    async fn cancel(&self, id: i64) -> Result<DeploymentView, AppError>;
    async fn history(&self, filter: HistoryFilter) -> Result<Vec<DeploymentView>, AppError>;
    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, AppError>;
    async fn users(&self) -> Result<Vec<UserView>, AppError>;
    async fn set_role(&self, id: i64, role: Role) -> Result<UserView, AppError>;
    async fn agents(&self) -> Result<Vec<AgentView>, AppError>;
    async fn register_agent(&self, identity: AgentIdentityRequest) -> Result<AgentRegistration, AppError>;
    async fn set_agent_identity(&self, id: i64, identity: AgentIdentityRequest) -> Result<AgentView, AppError>;
    async fn revoke_agent(&self, id: i64) -> Result<(), AppError>;
    async fn select_agents(
        &self,
        project: String,
        environment: String,
        selector: String,
    ) -> Result<EnvironmentView, AppError>;
    async fn select_builders(&self, project: String, selector: String) -> Result<ProjectView, AppError>;
    async fn repositories(&self, wanted: ListRepositories) -> Result<Vec<RepositoryView>, AppError>;
    async fn import_project(&self, wanted: ImportProject) -> Result<Imported, AppError>;
    async fn new_deploy_key(&self) -> Result<DeployKey, AppError>;
    async fn ssh_key(&self, rotate: bool) -> Result<SshKeyView, AppError>;
    async fn ssh_hosts(&self, project: String, environment: String) -> Result<Vec<SshHostView>, AppError>;
    async fn add_ssh_host(
        &self,
        project: String,
        environment: String,
        host: SshHostRequest,
    ) -> Result<SshHostView, AppError>;
    async fn remove_ssh_host(&self, project: String, environment: String, id: i64) -> Result<(), AppError>;
    async fn check_ssh_host(&self, project: String, environment: String, id: i64) -> Result<SshCheckView, AppError>;
    async fn trust_ssh_host_key(
        &self,
        project: String,
        environment: String,
        id: i64,
        trust: TrustHostKey,
    ) -> Result<SshHostView, AppError>;
    async fn mark_release(&self, id: i64, bad_reason: Option<String>) -> Result<ReleaseView, AppError>;
    async fn variables(&self, project: String) -> Result<Vec<VariableView>, AppError>;
    async fn set_variable(&self, project: String, change: SetVariable) -> Result<(), AppError>;
    async fn delete_variable(&self, project: String, environment: Option<String>, name: String)
        -> Result<(), AppError>;
    async fn freezes(&self, project: String) -> Result<Vec<FreezeView>, AppError>;
    async fn add_freeze(&self, project: String, freeze: NewFreeze) -> Result<FreezeView, AppError>;
    async fn remove_freeze(&self, project: String, id: i64) -> Result<(), AppError>;
    async fn retention(&self, project: String) -> Result<Retention, AppError>;
    async fn set_retention(&self, project: String, days: Option<i64>) -> Result<Retention, AppError>;
    async fn forge_link(&self, project: String) -> Result<Option<ForgeLinkView>, AppError>;
    async fn link_forge(&self, project: String, wanted: LinkForge) -> Result<ForgeLinked, AppError>;
    async fn unlink_forge(&self, project: String) -> Result<(), AppError>;
    async fn notify_preferences(&self) -> Result<NotifyPreferences, AppError>;
    async fn set_notify_preferences(&self, wanted: NotifyPreferences) -> Result<NotifyPreferences, AppError>;
    async fn notify_settings(&self) -> Result<NotifySettings, AppError>;
    async fn add_channel(&self, channel: NewChannel) -> Result<ChannelView, AppError>;
    async fn remove_channel(&self, id: i64) -> Result<(), AppError>;
    async fn test_channel(&self, id: i64) -> Result<(), AppError>;
    async fn add_rule(&self, rule: NewRule) -> Result<RuleView, AppError>;
    async fn remove_rule(&self, id: i64) -> Result<(), AppError>;
    async fn decide(&self, id: i64, approve: bool, comment: Option<String>) -> Result<DeploymentView, AppError>;
    async fn protect(
        &self,
        project: String,
        environment: String,
        protection: Protection,
    ) -> Result<EnvironmentView, AppError>;
}

/// How the server hands its backend to server functions (via `provide_context`).
pub type SharedBackend = Arc<dyn Backend>;

/// The backend of the request being served. Only server function bodies call this,
/// and those exist only in the server build.
#[allow(dead_code)]
pub(crate) fn backend() -> Result<SharedBackend, AppError> {
    use_context::<SharedBackend>().ok_or_else(AppError::internal)
}
