//! The application shell: who is signed in (or the sign-in page), the top bar with
//! the live connection indicator and the account menu, and the routes.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, Lazy};

use crate::components::notifications::NotificationBell;
use crate::live::LiveFeed;
use crate::model::{Me, Role, UserView};
use crate::routes::lazy::{
    AccountRoute, AgentsRoute, AuditRoute, DeploymentRoute, HistoryRoute, InsightsRoute, NewProjectRoute,
    NotificationsRoute, ReleaseRoute, SettingsRoute, UsersRoute,
};
use crate::routes::matrix::MatrixPage;
use crate::routes::sign_in::{reload, SignInPage};
use crate::server_fns::{load_me, sign_out};

/// The forge whose sign-in token the session keeps (importing needs no pasted token).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignInForge(pub Option<crate::model::ForgeKind>);

#[component]
pub fn App(feed: LiveFeed) -> impl IntoView {
    provide_context(feed);
    let me = RwSignal::new(None::<Result<Me, String>>);
    spawn_local(async move { me.set(Some(load_me().await.map_err(|e| e.message))) });
    move || match me.get() {
        None => view! { <p class="empty loading">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <main><p class="error" role="alert">{e}</p></main> }.into_any(),
        Some(Ok(Me { user: Some(user), local_mode, forge_sign_in, .. })) => {
            view! { <Shell user local_mode forge_sign_in /> }.into_any()
        }
        Some(Ok(me)) => view! { <main><SignInPage me /></main> }.into_any(),
    }
}

#[component]
fn Shell(user: UserView, local_mode: bool, forge_sign_in: Option<crate::model::ForgeKind>) -> impl IntoView {
    let connected = expect_context::<LiveFeed>().connected;
    // Pages adapt what they offer to who is signed in (the server decides regardless).
    provide_context(user.clone());
    provide_context(SignInForge(forge_sign_in));
    let leave = move |_| {
        spawn_local(async move {
            let _ = sign_out().await;
            reload();
        })
    };
    view! {
        <Router>
            <header class="topbar">
                <a class="brand" href="/"><img src="/public/favicon.svg" alt="" width="20" height="20" />" Ferry"</a>
                <nav aria-label="Main">
                    <a href="/">"Environments"</a>
                    <a href="/history">"History"</a>
                    <a href="/insights">"Insights"</a>
                    <a href="/agents">"Agents"</a>
                    {(user.role == Role::Admin).then(|| view! {
                        <a href="/users">"Users"</a>
                        <a href="/audit">"Audit"</a>
                        <a href="/notifications">"Notifications"</a>
                    })}
                </nav>
                <NotificationBell />
                <span
                    class="live"
                    data-connected=move || connected.get().to_string()
                    role="status"
                    title="Live updates"
                >
                    {move || if connected.get() { "● live" } else { "○ reconnecting…" }}
                </span>
                {local_mode.then(|| view! {
                    <span class="mode" title="No sign-in provider is configured: one local administrator">"local mode"</span>
                })}
                <a class="who" href="/account" data-role=user.role.as_str()>{user.login.clone()}</a>
                <button class="link" on:click=leave>"Sign out"</button>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=MatrixPage />
                    <Route path=path!("/deployments/:id") view={Lazy::<DeploymentRoute>::new()} />
                    <Route path=path!("/history") view={Lazy::<HistoryRoute>::new()} />
                    <Route path=path!("/insights") view={Lazy::<InsightsRoute>::new()} />
                    <Route path=path!("/releases/:id") view={Lazy::<ReleaseRoute>::new()} />
                    <Route path=path!("/projects/new") view={Lazy::<NewProjectRoute>::new()} />
                    <Route path=path!("/projects/:slug/settings") view={Lazy::<SettingsRoute>::new()} />
                    <Route path=path!("/users") view={Lazy::<UsersRoute>::new()} />
                    <Route path=path!("/agents") view={Lazy::<AgentsRoute>::new()} />
                    <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()} />
                    <Route path=path!("/notifications") view={Lazy::<NotificationsRoute>::new()} />
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} />
                </Routes>
            </main>
        </Router>
    }
}
