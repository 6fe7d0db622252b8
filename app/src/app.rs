//! The application shell: top bar, live connection indicator and the routes.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::components::notifications::NotificationBell;
use crate::live::LiveFeed;
use crate::routes::{
    deployment::DeploymentPage, history::HistoryPage, insights::InsightsPage, matrix::MatrixPage, release::ReleasePage,
};

#[component]
pub fn App(feed: LiveFeed) -> impl IntoView {
    let connected = feed.connected;
    provide_context(feed);
    view! {
        <Router>
            <header class="topbar">
                <a class="brand" href="/"><img src="/public/favicon.svg" alt="" width="20" height="20" />" Ferry"</a>
                <nav aria-label="Main">
                    <a href="/">"Environments"</a>
                    <a href="/history">"History"</a>
                    <a href="/insights">"Insights"</a>
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
            </header>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=MatrixPage />
                    <Route path=path!("/deployments/:id") view=DeploymentPage />
                    <Route path=path!("/history") view=HistoryPage />
                    <Route path=path!("/insights") view=InsightsPage />
                    <Route path=path!("/releases/:id") view=ReleasePage />
                </Routes>
            </main>
        </Router>
    }
}
