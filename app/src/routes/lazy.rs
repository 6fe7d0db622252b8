//! The routes whose page code the browser fetches only when the page first opens.
//!
//! Each page below becomes its own wasm chunk (the build splits the module at these
//! points, see scripts/split-wasm.mjs), so the first load carries only the shell and
//! the environment matrix. On the server the same routes simply call the page.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

use super::{
    account::AccountPage, agents::AgentsPage, audit::AuditPage, deployment::DeploymentPage, history::HistoryPage,
    insights::InsightsPage, notifications::NotificationsPage, release::ReleasePage, settings::SettingsPage,
    users::UsersPage,
};
use crate::model::{Role, UserView};

/// Declares `$route`, whose view is `$page` loaded from its own chunk.
macro_rules! lazy_page {
    ($route:ident => $page:expr) => {
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                $page.into_any()
            }
        }
    };
}

lazy_page!(DeploymentRoute => view! { <DeploymentPage /> });
lazy_page!(HistoryRoute => view! { <HistoryPage /> });
lazy_page!(InsightsRoute => view! { <InsightsPage /> });
lazy_page!(ReleaseRoute => view! { <ReleasePage /> });
lazy_page!(SettingsRoute => view! { <SettingsPage /> });
lazy_page!(UsersRoute => view! { <UsersPage /> });
lazy_page!(AuditRoute => view! { <AuditPage /> });
lazy_page!(NotificationsRoute => view! { <NotificationsPage /> });
lazy_page!(AgentsRoute => view! { <AgentsPage admin={expect_context::<UserView>().role == Role::Admin} /> });
lazy_page!(AccountRoute => view! { <AccountPage user={expect_context::<UserView>()} /> });
