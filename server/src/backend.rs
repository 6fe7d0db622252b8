//! The server's side of the app's `Backend` contract: what server functions call.
//! Each request's backend carries its caller (or why there is none), and every call
//! goes through `services::gate`. Errors also set the HTTP status of the response.

use async_trait::async_trait;
use ferry_app::backend::Backend;
use ferry_app::error::AppError;
use ferry_app::model::{
    AgentIdentityRequest, AgentRegistration, AgentView, AuditEntry, AuditQuery, ChannelView, CreateToken, CreatedToken,
    DeployRequest, DeploymentDetail, DeploymentView, EnvironmentView, FreezeView, HistoryFilter, Insights, Matrix, Me,
    NewChannel, NewFreeze, NewRule, NotificationList, NotifySettings, PasswordSignIn, PromotionPreview, Protection,
    ReleaseDetail, ReleaseView, Role, RuleView, SetVariable, TokenView, UserView, VariableView,
};
use ferry_app::model::{DeployKey, ImportProject, Imported, ListRepositories, RepositoryView, Retention};
use ferry_app::model::{
    ForgeLinkView, ForgeLinked, LinkForge, LogLineView, NotifyPreferences, ProjectView, LOG_PAGE_LINES,
};
use ferry_app::model::{SshCheckView, SshHostRequest, SshHostView, SshKeyView, TrustHostKey};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::agents;
use crate::auth::{flows, Caller};
use crate::services::{
    approvals, audit, bad_releases, channels, forges, freezes, gate, imports, people, retention, tokens, variables,
};
use crate::ssh::hosts as ssh_hosts;
use crate::state::AppState;

pub struct ServerBackend {
    pub state: AppState,
    pub caller: Result<Caller, AppError>,
    pub session: Option<tower_sessions::Session>,
    pub address: Option<String>,
}

fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        if let (Some(options), Ok(status)) = (use_context::<ResponseOptions>(), e.error.http_status().try_into()) {
            options.set_status(status);
            if let Some(seconds) = e.retry_after {
                options.insert_header(axum::http::header::RETRY_AFTER, seconds.into());
            }
        }
    }
    result
}

impl ServerBackend {
    fn session(&self) -> Result<&tower_sessions::Session, AppError> {
        self.session.as_ref().ok_or_else(AppError::internal)
    }

    fn caller(&self) -> Result<&Caller, AppError> {
        self.caller.as_ref().map_err(Clone::clone)
    }

    /// Runs service `f` with its handles and the caller, answering 401 when nobody is
    /// signed in.
    async fn run<'a, T, F, Fut>(&'a self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&'a crate::services::Handles, &'a Caller) -> Fut,
        Fut: std::future::Future<Output = Result<T, AppError>>,
    {
        let result = match self.caller() {
            Ok(caller) => f(&self.state.services, caller).await,
            Err(e) => Err(e),
        };
        with_status(result)
    }
}

#[async_trait]
impl Backend for ServerBackend {
    async fn me(&self) -> Result<Me, AppError> {
        with_status(flows::me(&self.state, &self.caller).await)
    }

    async fn sign_in(&self, form: PasswordSignIn) -> Result<Me, AppError> {
        let session = self.session()?;
        with_status(flows::password_sign_in(&self.state, session, self.address.clone(), &form).await)
    }

    async fn sign_out(&self) -> Result<(), AppError> {
        with_status(flows::sign_out(&self.state, self.session()?, &self.caller).await)
    }

    async fn sign_out_everywhere(&self) -> Result<(), AppError> {
        let session = self.session()?;
        let caller = self.caller()?;
        with_status(flows::sign_out_everywhere(&self.state, session, caller).await)
    }

    async fn tokens(&self) -> Result<Vec<TokenView>, AppError> {
        self.run(tokens::list).await
    }

    async fn create_token(&self, request: CreateToken) -> Result<CreatedToken, AppError> {
        self.run(|s, c| async move { tokens::create(s, c, &request).await }).await
    }

    async fn revoke_token(&self, id: i64) -> Result<(), AppError> {
        self.run(|s, c| tokens::revoke(s, c, id)).await
    }

    async fn agents(&self) -> Result<Vec<AgentView>, AppError> {
        self.run(agents::list).await
    }

    async fn register_agent(&self, identity: AgentIdentityRequest) -> Result<AgentRegistration, AppError> {
        self.run(|s, c| agents::create_registration(s, c, &identity)).await
    }

    async fn set_agent_identity(&self, id: i64, identity: AgentIdentityRequest) -> Result<AgentView, AppError> {
        self.run(|s, c| agents::set_identity(s, c, id, &identity)).await
    }

    async fn revoke_agent(&self, id: i64) -> Result<(), AppError> {
        self.run(|s, c| agents::revoke(s, c, id)).await
    }

    async fn select_agents(
        &self,
        project: String,
        environment: String,
        selector: String,
    ) -> Result<EnvironmentView, AppError> {
        self.run(|s, c| async move { agents::select(s, c, &project, &environment, &selector).await }).await
    }

    async fn select_builders(&self, project: String, selector: String) -> Result<ProjectView, AppError> {
        self.run(|s, c| async move { agents::select_builders(s, c, &project, &selector).await }).await
    }

    async fn repositories(&self, wanted: ListRepositories) -> Result<Vec<RepositoryView>, AppError> {
        self.run(|s, c| async move { imports::repositories(s, c, &wanted).await }).await
    }

    async fn import_project(&self, wanted: ImportProject) -> Result<Imported, AppError> {
        self.run(|s, c| async move { imports::import(s, c, &wanted).await }).await
    }

    async fn new_deploy_key(&self) -> Result<DeployKey, AppError> {
        self.run(|s, c| async move { imports::new_deploy_key(s, c).await }).await
    }

    async fn ssh_key(&self, rotate: bool) -> Result<SshKeyView, AppError> {
        self.run(|s, c| async move {
            match rotate {
                true => ssh_hosts::rotate_key(s, c).await,
                false => ssh_hosts::ferry_key(s, c).await,
            }
        })
        .await
    }

    async fn ssh_hosts(&self, project: String, environment: String) -> Result<Vec<SshHostView>, AppError> {
        self.run(|s, c| async move { ssh_hosts::list(s, c, &project, &environment).await }).await
    }

    async fn add_ssh_host(
        &self,
        project: String,
        environment: String,
        host: SshHostRequest,
    ) -> Result<SshHostView, AppError> {
        self.run(|s, c| async move { ssh_hosts::add(s, c, &project, &environment, &host).await }).await
    }

    async fn remove_ssh_host(&self, project: String, environment: String, id: i64) -> Result<(), AppError> {
        self.run(|s, c| async move { ssh_hosts::remove(s, c, &project, &environment, id).await }).await
    }

    async fn check_ssh_host(&self, project: String, environment: String, id: i64) -> Result<SshCheckView, AppError> {
        self.run(|s, c| async move { ssh_hosts::check(s, c, &project, &environment, id).await }).await
    }

    async fn trust_ssh_host_key(
        &self,
        project: String,
        environment: String,
        id: i64,
        trust: TrustHostKey,
    ) -> Result<SshHostView, AppError> {
        self.run(|s, c| async move { ssh_hosts::trust(s, c, &project, &environment, id, &trust).await }).await
    }

    async fn mark_release(&self, id: i64, bad_reason: Option<String>) -> Result<ReleaseView, AppError> {
        self.run(|s, c| async move { bad_releases::mark(s, c, id, bad_reason.as_deref()).await }).await
    }

    async fn variables(&self, project: String) -> Result<Vec<VariableView>, AppError> {
        self.run(|s, c| async move { variables::list(s, c, &project).await }).await
    }

    async fn set_variable(&self, project: String, change: SetVariable) -> Result<(), AppError> {
        self.run(|s, c| async move { variables::set(s, c, &project, &change).await }).await
    }

    async fn delete_variable(
        &self,
        project: String,
        environment: Option<String>,
        name: String,
    ) -> Result<(), AppError> {
        self.run(|s, c| async move { variables::delete(s, c, &project, environment.as_deref(), &name).await }).await
    }

    async fn freezes(&self, project: String) -> Result<Vec<FreezeView>, AppError> {
        self.run(|s, c| async move { freezes::list(s, c, &project).await }).await
    }

    async fn add_freeze(&self, project: String, freeze: NewFreeze) -> Result<FreezeView, AppError> {
        self.run(|s, c| async move { freezes::add(s, c, &project, &freeze).await }).await
    }

    async fn remove_freeze(&self, project: String, id: i64) -> Result<(), AppError> {
        self.run(|s, c| async move { freezes::remove(s, c, &project, id).await }).await
    }

    async fn retention(&self, project: String) -> Result<Retention, AppError> {
        self.run(|s, c| async move { retention::get(s, c, &project).await }).await
    }

    async fn set_retention(&self, project: String, days: Option<i64>) -> Result<Retention, AppError> {
        self.run(|s, c| async move { retention::set(s, c, &project, days).await }).await
    }

    async fn forge_link(&self, project: String) -> Result<Option<ForgeLinkView>, AppError> {
        self.run(|s, c| async move { forges::get(s, c, &project).await }).await
    }

    async fn link_forge(&self, project: String, wanted: LinkForge) -> Result<ForgeLinked, AppError> {
        self.run(|s, c| async move { forges::link(s, c, &project, &wanted).await }).await
    }

    async fn unlink_forge(&self, project: String) -> Result<(), AppError> {
        self.run(|s, c| async move { forges::unlink(s, c, &project).await }).await
    }

    async fn notify_preferences(&self) -> Result<NotifyPreferences, AppError> {
        self.run(|s, c| async move { gate::notify_preferences(s, c).await }).await
    }

    async fn set_notify_preferences(&self, wanted: NotifyPreferences) -> Result<NotifyPreferences, AppError> {
        self.run(|s, c| async move { gate::set_notify_preferences(s, c, &wanted).await }).await
    }

    async fn notify_settings(&self) -> Result<NotifySettings, AppError> {
        self.run(|s, c| async move { channels::settings(s, c).await }).await
    }

    async fn add_channel(&self, channel: NewChannel) -> Result<ChannelView, AppError> {
        self.run(|s, c| async move { channels::add_channel(s, c, &channel).await }).await
    }

    async fn remove_channel(&self, id: i64) -> Result<(), AppError> {
        self.run(|s, c| async move { channels::remove_channel(s, c, id).await }).await
    }

    async fn test_channel(&self, id: i64) -> Result<(), AppError> {
        self.run(|s, c| async move { channels::test_channel(s, c, id).await }).await
    }

    async fn add_rule(&self, rule: NewRule) -> Result<RuleView, AppError> {
        self.run(|s, c| async move { channels::add_rule(s, c, &rule).await }).await
    }

    async fn remove_rule(&self, id: i64) -> Result<(), AppError> {
        self.run(|s, c| async move { channels::remove_rule(s, c, id).await }).await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, AppError> {
        self.run(|s, c| async move { audit::list(s, c, &query).await }).await
    }

    async fn users(&self) -> Result<Vec<UserView>, AppError> {
        self.run(people::users).await
    }

    async fn set_role(&self, id: i64, role: Role) -> Result<UserView, AppError> {
        self.run(|s, c| people::set_role(s, c, id, role)).await
    }

    async fn decide(&self, id: i64, approve: bool, comment: Option<String>) -> Result<DeploymentView, AppError> {
        self.run(|s, c| async move { approvals::decide(s, c, id, approve, comment.as_deref()).await }).await
    }

    async fn protect(
        &self,
        project: String,
        environment: String,
        protection: Protection,
    ) -> Result<EnvironmentView, AppError> {
        self.run(|s, c| async move { approvals::protect(s, c, &project, &environment, protection).await }).await
    }

    async fn matrix(&self) -> Result<Matrix, AppError> {
        self.run(gate::matrix).await
    }

    async fn deployment(&self, id: i64) -> Result<DeploymentDetail, AppError> {
        self.run(|s, c| gate::deployment_detail(s, c, id)).await
    }

    async fn log_page(&self, id: i64, after: i64) -> Result<Vec<LogLineView>, AppError> {
        self.run(|s, c| gate::log_page(s, c, id, after, LOG_PAGE_LINES)).await
    }

    async fn deploy(&self, request: DeployRequest) -> Result<DeploymentView, AppError> {
        self.run(|s, c| gate::deploy(s, c, request)).await
    }

    async fn notifications(&self) -> Result<NotificationList, AppError> {
        self.run(gate::notifications).await
    }

    async fn mark_read(&self, ids: Option<Vec<i64>>) -> Result<NotificationList, AppError> {
        self.run(|s, c| gate::mark_read(s, c, ids)).await
    }

    async fn insights(&self, project: Option<String>, days: i64) -> Result<Insights, AppError> {
        self.run(|s, c| async move { gate::insights(s, c, project.as_deref(), days).await }).await
    }

    async fn release(&self, id: i64) -> Result<ReleaseDetail, AppError> {
        self.run(|s, c| gate::release(s, c, id)).await
    }

    async fn preview(&self, request: DeployRequest, rollback: bool) -> Result<PromotionPreview, AppError> {
        self.run(|s, c| async move { gate::preview(s, c, &request, rollback).await }).await
    }

    async fn rollback(&self, request: DeployRequest) -> Result<DeploymentView, AppError> {
        self.run(|s, c| gate::rollback(s, c, request)).await
    }

    async fn cancel(&self, id: i64) -> Result<DeploymentView, AppError> {
        self.run(|s, c| gate::cancel(s, c, id)).await
    }

    async fn history(&self, filter: HistoryFilter) -> Result<Vec<DeploymentView>, AppError> {
        self.run(|s, c| async move { gate::history(s, c, &filter).await }).await
    }
}
