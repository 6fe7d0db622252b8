//! A project's link to its GitHub or GitLab repository, on its settings page: the
//! webhook URL to paste into the forge, and the secret, shown once when linked.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{ForgeKind, ForgeLinkView, LinkForge};
use crate::server_fns::{load_forge_link, remove_forge_link, save_forge_link};

#[component]
pub fn ForgeLinkEditor(project: String) -> impl IntoView {
    let link = RwSignal::new(None::<ForgeLinkView>);
    let secret = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let (forge, repo) = (RwSignal::new(ForgeKind::Github), RwSignal::new(String::new()));
    {
        let project = project.clone();
        spawn_local(async move {
            match load_forge_link(project).await {
                Ok(found) => link.set(found),
                Err(e) => error.set(Some(e.message)),
            }
        });
    }
    let save = {
        let project = project.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let wanted = LinkForge {
                forge: forge.get_untracked(),
                repo: repo.get_untracked().trim().into(),
                secret: None,
                token: None,
                create_hook: false,
            };
            if let Err(e) = wanted.forge.check_repo(&wanted.repo) {
                return error.set(Some(e));
            }
            let project = project.clone();
            spawn_local(async move {
                match save_forge_link(project, wanted).await {
                    Ok(linked) => {
                        error.set(None);
                        link.set(Some(linked.link));
                        secret.set(Some(linked.secret));
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let unlink = move |_| {
        let project = project.clone();
        spawn_local(async move {
            match remove_forge_link(project).await {
                Ok(()) => {
                    link.set(None);
                    secret.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <h2>"Repository"</h2>
        <p class="muted">"Pushes and tags on GitHub or GitLab make releases and deploy them as the "
            <code>"triggers"</code> " of ferry.yml say."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="forge-error">{e}</p> })}
        {move || link.get().map(|l| view! {
            <p class="forge-link" data-forge=l.forge.as_str()>
                "Linked to " <strong>{l.repo.clone()}</strong> " on " {l.forge.as_str()} ". Webhook URL: "
                <code data-testid="hook-url">{l.hook_url.clone()}</code>
            </p>
        })}
        {move || secret.get().map(|s| view! {
            <p class="fresh-token" role="status">"The webhook secret, shown only now: " <code data-testid="hook-secret">{s}</code></p>
        })}
        <form class="filters forge-form" on:submit=save>
            <label>"Forge"
                <select on:change=move |ev| forge.set(ForgeKind::parse(&event_target_value(&ev)).unwrap_or(ForgeKind::Github))>
                    <option value="github">"GitHub"</option>
                    <option value="gitlab">"GitLab"</option>
                </select>
            </label>
            <label>"Repository" <input required prop:value=repo placeholder="owner/name"
                on:input=move |ev| repo.set(event_target_value(&ev)) /></label>
            <button class="action" type="submit">"Link"</button>
            <Show when=move || link.with(Option::is_some)>
                <button class="action danger" type="button" on:click=unlink.clone()>"Unlink"</button>
            </Show>
        </form>
    }
}
