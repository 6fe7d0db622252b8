//! Notification channels and routing (admins): the channels with a "send test" button,
//! the rules that route events to them, and the outbox's newest deliveries with their
//! state and last error, refreshed while the page is open.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::channel_form::{ChannelForm, RuleForm};
use crate::components::format_time;
use crate::model::{ChannelView, DeliveryView, NotifySettings, RuleView};
use crate::server_fns::{load_notify_settings, remove_channel, remove_rule, test_channel};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let settings = RwSignal::new(None::<NotifySettings>);
    let error = RwSignal::new(None::<String>);
    let refresh = move || {
        spawn_local(async move {
            match load_notify_settings().await {
                Ok(s) => settings.set(Some(s)),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    refresh();
    if let Ok(handle) = set_interval_with_handle(refresh, std::time::Duration::from_secs(3)) {
        on_cleanup(move || handle.clear());
    }
    let act = move |call: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::error::AppError>>>>| {
        spawn_local(async move {
            match call.await {
                Ok(()) => {
                    error.set(None);
                    refresh();
                }
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    let channels = move || settings.with(|s| s.as_ref().map(|s| s.channels.clone()).unwrap_or_default());
    view! {
        <h1>"Notifications"</h1>
        <p class="muted">"Channels send deployment and agent events to Slack, email or any webhook; rules choose which events of which project and environment go where. Everyone also sees the in-app notifications under the bell."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="notify-error">{e}</p> })}
        <h2>"Channels"</h2>
        <table class="settings channels">
            <thead><tr><th>"Name"</th><th>"Sends"</th><th>"Added by"</th><th></th></tr></thead>
            <tbody>
                {move || channels().into_iter().map(|c: ChannelView| {
                    let id = c.id;
                    view! {
                        <tr data-channel=c.name.clone()>
                            <td>{c.name.clone()}</td>
                            <td><span class="badge">{c.kind.as_str()}</span>" "{c.summary.clone()}</td>
                            <td class="muted">{c.created_by.clone()}</td>
                            <td>
                                <button class="action" on:click=move |_| act(Box::pin(test_channel(id)))>"Send test"</button>
                                <button class="action danger" on:click=move |_| act(Box::pin(remove_channel(id)))>"Remove"</button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <ChannelForm on_added=Callback::new(move |_| refresh()) />
        <h2>"Rules"</h2>
        <table class="settings rules">
            <thead><tr><th>"Project"</th><th>"Environment"</th><th>"Events"</th><th>"Channel"</th><th></th></tr></thead>
            <tbody>
                {move || settings.with(|s| s.as_ref().map(|s| s.rules.clone()).unwrap_or_default()).into_iter().map(|r: RuleView| {
                    let id = r.id;
                    let events: Vec<&str> = r.events.iter().map(|e| e.label()).collect();
                    view! {
                        <tr data-rule=r.id>
                            <td>{r.project.clone().unwrap_or_else(|| "any".into())}</td>
                            <td>{r.environment.clone().unwrap_or_else(|| "any".into())}</td>
                            <td>{events.join(", ")}</td>
                            <td>{r.channel.clone()}</td>
                            <td><button class="action danger" on:click=move |_| act(Box::pin(remove_rule(id)))>"Remove"</button></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <RuleForm channels=Signal::derive(channels) on_added=Callback::new(move |_| refresh()) />
        <h2>"Deliveries"</h2>
        <table class="settings deliveries">
            <thead><tr><th>"When"</th><th>"Channel"</th><th>"Message"</th><th>"State"</th><th>"Attempts"</th><th>"Last error"</th></tr></thead>
            <tbody>
                {move || settings.with(|s| s.as_ref().map(|s| s.deliveries.clone()).unwrap_or_default()).into_iter().map(|d: DeliveryView| {
                    let retry = d.next_attempt_at.map(|at| format!(" (retry {})", format_time(at))).unwrap_or_default();
                    view! {
                        <tr data-delivery=d.id data-state=d.state.as_str()>
                            <td class="muted">{format_time(d.created_at)}</td>
                            <td>{d.channel.clone()}</td>
                            <td>{d.title.clone()}</td>
                            <td><span class="badge" data-state=d.state.as_str()>{d.state.as_str()}</span>{retry}</td>
                            <td>{d.attempts}</td>
                            <td class="muted">{d.last_error.clone().unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
