//! The notification center in the top bar: a bell with the unread count and a panel
//! of the person's newest notifications, each linking to its deployment. New
//! notifications and their own read marks arrive live, so all their browsers agree.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::format_time;
use crate::live::on_live_event;
use crate::model::{EventPayload, NotificationKind, NotificationList, NotificationView};
use crate::server_fns::{load_notifications, mark_notifications_read};

/// How many the panel keeps.
const KEPT: usize = 50;

fn apply(list: &mut NotificationList, payload: &EventPayload) {
    match payload {
        EventPayload::Notification(n) if list.kinds.contains(&n.kind) && !list.items.iter().any(|i| i.id == n.id) => {
            list.items.insert(0, n.clone());
            list.items.truncate(KEPT);
            if !n.read {
                list.unread += 1;
            }
        }
        EventPayload::NotificationsRead { user_id, ids } if *user_id == list.user_id => {
            for item in list.items.iter_mut().filter(|i| ids.contains(&i.id)) {
                item.read = true;
            }
            // `ids` are exactly the ones that turned read, listed here or not.
            list.unread = (list.unread - ids.len() as i64).max(0);
        }
        _ => {}
    }
}

#[component]
pub fn NotificationBell() -> impl IntoView {
    // Until the list loads, live events are left out: the list will include them.
    let list = RwSignal::new(NotificationList::default());
    let open = RwSignal::new(false);
    let loaded = RwSignal::new(false);
    on_live_event(move |event| list.update(|l| apply(l, &event.payload)));
    spawn_local(async move {
        if let Ok(fetched) = load_notifications().await {
            list.set(fetched);
        }
        loaded.set(true);
    });
    // The server's answer is the truth; the live event brings the same to other tabs.
    let mark = move |ids: Option<Vec<i64>>| {
        spawn_local(async move {
            if let Ok(fresh) = mark_notifications_read(ids).await {
                list.set(fresh);
            }
        });
    };
    let unread = move || list.with(|l| l.unread);
    let item = move |n: NotificationView| {
        let id = n.id;
        let href = match (n.deployment_id, n.kind) {
            (Some(d), _) => format!("/deployments/{d}"),
            (None, NotificationKind::AgentOffline) => "/agents".into(),
            (None, _) => "/history".into(),
        };
        view! {
            <li class:unread=!n.read data-kind=n.kind.as_str()>
                <a href=href on:click=move |_| {
                    open.set(false);
                    mark(Some(vec![id]));
                }>{n.title.clone()}</a>
                <span class="muted">{format_time(n.created_at)}</span>
            </li>
        }
    };
    view! {
        <div class="bell-wrap">
            <button class="bell" aria-haspopup="true" aria-expanded=move || open.get().to_string()
                aria-label=move || format!("{} unread notifications", unread())
                aria-busy=move || (!loaded.get()).to_string()
                on:click=move |_| open.update(|o| *o = !*o)>
                <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                    <path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"
                        fill="currentColor" />
                </svg>
                <span class="count" data-testid="unread" aria-hidden="true" class:none=move || unread() == 0>{unread}</span>
            </button>
            <Show when=move || open.get()>
                <div class="notifications" role="dialog" aria-label="Notifications">
                    <div class="notifications-head">
                        <strong>"Notifications"</strong>
                        <button class="link" on:click=move |_| mark(None)>"Mark all read"</button>
                    </div>
                    <ul>
                        {move || list.with(|l| l.items.iter().cloned().map(item).collect_view())}
                    </ul>
                    {move || list.with(|l| l.items.is_empty()).then(|| view! { <p class="muted">"Nothing yet."</p> })}
                </div>
            </Show>
        </div>
    }
}
