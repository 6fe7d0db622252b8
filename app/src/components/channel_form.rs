//! The forms of the notifications page: add a channel (its fields follow the kind
//! chosen) and add a routing rule (project, environment, events, channel). Settings are
//! checked here for an immediate message, and again by the server.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{ChannelKind, ChannelSettings, ChannelView, NewChannel, NewRule, NotifyEvent};
use crate::server_fns::{add_channel, add_rule, load_matrix};

/// Addresses typed as `a@x.com, b@y.com` (commas or spaces).
fn address_list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n']).map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect()
}

#[component]
pub fn ChannelForm(on_added: Callback<()>) -> impl IntoView {
    let kind = RwSignal::new(ChannelKind::Slack);
    let field = || RwSignal::new(String::new());
    let (name, url, secret, smtp_url, from, to) = (field(), field(), field(), field(), field(), field());
    let problem = RwSignal::new(None::<String>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let settings = match kind.get_untracked() {
            ChannelKind::Slack => ChannelSettings::Slack { webhook_url: url.get_untracked().trim().into() },
            ChannelKind::Webhook => {
                ChannelSettings::Webhook { url: url.get_untracked().trim().into(), secret: secret.get_untracked() }
            }
            ChannelKind::Email => ChannelSettings::Email {
                smtp_url: smtp_url.get_untracked().trim().into(),
                from: from.get_untracked().trim().into(),
                to: address_list(&to.get_untracked()),
            },
        };
        if let Err(e) = settings.check() {
            return problem.set(Some(e));
        }
        let channel = NewChannel { name: name.get_untracked(), settings };
        spawn_local(async move {
            match add_channel(channel).await {
                Ok(_) => {
                    problem.set(None);
                    for f in [name, url, secret, smtp_url, to] {
                        f.set(String::new());
                    }
                    on_added.run(());
                }
                Err(e) => problem.set(Some(e.message)),
            }
        });
    };
    let input = move |label: &'static str,
                      signal: RwSignal<String>,
                      kind_shown: &'static [ChannelKind],
                      placeholder: &'static str| {
        view! {
            <Show when=move || kind_shown.contains(&kind.get())>
                <label>{label}
                    <input required prop:value=signal placeholder=placeholder
                        prop:type=if label == "Secret" || label == "SMTP URL" { "password" } else { "text" }
                        on:input=move |ev| signal.set(event_target_value(&ev)) />
                </label>
            </Show>
        }
    };
    view! {
        {move || problem.get().map(|e| view! { <p class="error" role="alert" data-testid="channel-error">{e}</p> })}
        <form class="filters channel-form" on:submit=save>
            <label>"Name" <input required prop:value=name placeholder="ops-slack" on:input=move |ev| name.set(event_target_value(&ev)) /></label>
            <label>"Kind"
                <select on:change=move |ev| kind.set(ChannelKind::parse(&event_target_value(&ev)).unwrap_or(ChannelKind::Slack))>
                    <option value="slack">"Slack"</option>
                    <option value="email">"Email"</option>
                    <option value="webhook">"Webhook"</option>
                </select>
            </label>
            {input("URL", url, &[ChannelKind::Slack, ChannelKind::Webhook], "https://hooks.slack.com/services/…")}
            {input("Secret", secret, &[ChannelKind::Webhook], "16+ characters")}
            {input("SMTP URL", smtp_url, &[ChannelKind::Email], "smtp://user:pass@mail.example.com:587?tls=required")}
            {input("From", from, &[ChannelKind::Email], "Ferry <ferry@example.com>")}
            {input("To", to, &[ChannelKind::Email], "oncall@example.com, lead@example.com")}
            <button class="action" type="submit">"Add channel"</button>
        </form>
    }
}

#[component]
pub fn RuleForm(channels: Signal<Vec<ChannelView>>, on_added: Callback<()>) -> impl IntoView {
    let projects = RwSignal::new(Vec::<(String, Vec<String>)>::new());
    spawn_local(async move {
        if let Ok(matrix) = load_matrix().await {
            let listed = matrix.rows.into_iter().map(|r| {
                let mut names: Vec<String> = r.project.lifecycle().map(|e| e.name.clone()).collect();
                // Every preview is routed by one name.
                names.push(crate::model::PREVIEWS_RULE.to_string());
                (r.project.slug, names)
            });
            projects.set(listed.collect());
        }
    });
    let (project, environment, channel) =
        (RwSignal::new(String::new()), RwSignal::new(String::new()), RwSignal::new(String::new()));
    let chosen = RwSignal::new(vec![NotifyEvent::Failed]);
    let problem = RwSignal::new(None::<String>);
    let environments = move || {
        let mut names: Vec<String> = projects.with(|p| {
            p.iter()
                .filter(|(slug, _)| project.with(|c| c.is_empty() || c == slug))
                .flat_map(|(_, envs)| envs.clone())
                .collect()
        });
        names.sort();
        names.dedup();
        names
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let channel_id =
            channel.get_untracked().parse::<i64>().ok().or_else(|| channels.get_untracked().first().map(|c| c.id));
        let Some(channel_id) = channel_id else { return problem.set(Some("add a channel first".into())) };
        let optional = |s: String| (!s.is_empty()).then_some(s);
        let rule = NewRule {
            channel_id,
            project: optional(project.get_untracked()),
            environment: optional(environment.get_untracked()),
            events: chosen.get_untracked(),
        };
        spawn_local(async move {
            match add_rule(rule).await {
                Ok(_) => {
                    problem.set(None);
                    on_added.run(());
                }
                Err(e) => problem.set(Some(e.message)),
            }
        });
    };
    view! {
        {move || problem.get().map(|e| view! { <p class="error" role="alert" data-testid="rule-error">{e}</p> })}
        <form class="filters rule-form" on:submit=save>
            <label>"Project"
                <select on:change=move |ev| project.set(event_target_value(&ev))>
                    <option value="">"any"</option>
                    {move || projects.get().into_iter().map(|(slug, _)| view! { <option value=slug.clone()>{slug.clone()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Environment"
                <select on:change=move |ev| environment.set(event_target_value(&ev))>
                    <option value="">"any"</option>
                    {move || environments().into_iter().map(|e| view! { <option value=e.clone()>{e.clone()}</option> }).collect_view()}
                </select>
            </label>
            <fieldset class="events"><legend>"Events"</legend>
                {NotifyEvent::ALL.into_iter().map(|event| view! {
                    <label class="check">
                        <input type="checkbox" prop:checked=move || chosen.with(|c| c.contains(&event))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                chosen.update(|c| { c.retain(|e| *e != event); if on { c.push(event) } });
                            } />
                        {event.label()}
                    </label>
                }).collect_view()}
            </fieldset>
            <label>"Channel"
                <select on:change=move |ev| channel.set(event_target_value(&ev))>
                    {move || channels.get().into_iter().map(|c| view! { <option value=c.id.to_string()>{c.name.clone()}</option> }).collect_view()}
                </select>
            </label>
            <button class="action" type="submit">"Add rule"</button>
        </form>
    }
}
