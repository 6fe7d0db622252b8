//! The routes whose page code the browser fetches only when one of their pages first opens.
//!
//! The pages are cut out of the main wasm in three pieces (the build splits the module
//! at these points, see scripts/split-wasm.mjs), grouped by how people move between
//! them: a deployment's timeline, opened from the matrix; history, insights and
//! releases, browsed together; and settings, people, agents and the rest. So the first
//! load carries only the shell and the environment matrix, and each group arrives once,
//! in few files. On the server the same routes simply call the page.

use leptos::prelude::*;
use leptos::wasm_split::{wasm_split, SplitLoaderError};
use leptos_router::LazyRoute;

use super::sign_in::reload;
use super::{
    account::AccountPage, agents::AgentsPage, audit::AuditPage, deployment::DeploymentPage, history::HistoryPage,
    insights::InsightsPage, new_project::NewProjectPage, notifications::NotificationsPage, release::ReleasePage,
    settings::SettingsPage, users::UsersPage,
};
use crate::model::{Role, UserView};

/// A page's piece could not be fetched. The usual cause: Ferry was upgraded since this
/// tab loaded, and the server no longer has the old pieces.
struct PieceMissing;

impl From<SplitLoaderError> for PieceMissing {
    fn from(_: SplitLoaderError) -> Self {
        PieceMissing
    }
}

/// Instead of the page whose piece is missing: a reload fetches the current build.
fn piece_missing() -> AnyView {
    view! {
        <p class="error" role="alert">
            "This page could not be loaded; Ferry may have been updated since this tab opened. "
            <button class="link" on:click=|_| reload()>"Reload"</button>
        </p>
    }
    .into_any()
}

/// Declares `$route`, whose view `$page` lives in the wasm piece `$piece`; `$view` and
/// `$preload` name the functions that load it (each needs a name of its own).
macro_rules! lazy_page {
    ($piece:ident: $route:ident, $view:ident, $preload:ident => $page:expr) => {
        pub struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            async fn view(_this: Self) -> AnyView {
                $view().await.unwrap_or_else(|PieceMissing| piece_missing())
            }

            async fn preload() {
                // A failure shows when the page opens.
                let _ = $preload().await;
            }
        }

        // `fallible`: a failed fetch returns an error instead of aborting the app.
        #[wasm_split($piece, wasm_split_path = ::leptos::wasm_split, fallible, preload(#[doc(hidden)] $preload))]
        fn $view() -> Result<AnyView, PieceMissing> {
            Ok($page.into_any())
        }
    };
}

lazy_page!(timeline: DeploymentRoute, deployment_view, deployment_preload => view! { <DeploymentPage /> });

lazy_page!(browse: HistoryRoute, history_view, history_preload => view! { <HistoryPage /> });
lazy_page!(browse: InsightsRoute, insights_view, insights_preload => view! { <InsightsPage /> });
lazy_page!(browse: ReleaseRoute, release_view, release_preload => view! { <ReleasePage /> });

lazy_page!(manage: SettingsRoute, settings_view, settings_preload => view! { <SettingsPage /> });
lazy_page!(manage: NewProjectRoute, new_project_view, new_project_preload => view! { <NewProjectPage /> });
lazy_page!(manage: UsersRoute, users_view, users_preload => view! { <UsersPage /> });
lazy_page!(manage: AuditRoute, audit_view, audit_preload => view! { <AuditPage /> });
lazy_page!(manage: NotificationsRoute, notifications_view, notifications_preload => view! { <NotificationsPage /> });
lazy_page!(manage: AgentsRoute, agents_view, agents_preload => view! {
    <AgentsPage admin={expect_context::<UserView>().role == Role::Admin} />
});
lazy_page!(manage: AccountRoute, account_view, account_preload => view! { <AccountPage user={expect_context::<UserView>()} /> });
