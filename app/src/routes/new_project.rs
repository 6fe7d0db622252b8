//! New project (administrators): pick a repository from the ones a GitHub or GitLab
//! token reaches (or give a git URL), see what Ferry finds in it (the pipeline of
//! `ferry.yml`, its error, or a starter file to commit), and import it: one step makes
//! the project, its environments, the link for statuses and the webhook.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{
    is_ssh_url, DeployKey, ForgeKind, ImportPreview, ImportProject, Imported, ListRepositories, RepositorySource,
    RepositoryView,
};
use crate::server_fns::{load_repositories, make_deploy_key, run_import};

/// Where the repository comes from, as the page's first choice.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Origin {
    Forge(ForgeKind),
    GitUrl,
}

#[component]
pub fn NewProjectPage() -> impl IntoView {
    let from = RwSignal::new(Origin::Forge(ForgeKind::Github));
    let token = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    let listed = RwSignal::new(None::<Vec<RepositoryView>>);
    let chosen = RwSignal::new(String::new());
    let (slug, name) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let preview = RwSignal::new(None::<ImportPreview>);
    let imported = RwSignal::new(None::<Imported>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // An SSH URL is cloned with a deploy key Ferry makes for it.
    let deploy_key = RwSignal::new(None::<DeployKey>);
    let over_ssh = move || from.get() == Origin::GitUrl && is_ssh_url(chosen.get().trim());
    let make_key = move |_| {
        spawn_local(async move {
            match make_deploy_key().await {
                Ok(key) => deploy_key.set(Some(key)),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    let sign_in = use_context::<crate::app::SignInForge>().and_then(|f| f.0);
    // The session's own token for this forge makes pasting one optional.
    let kept = move || matches!(from.get(), Origin::Forge(forge) if Some(forge) == sign_in);

    let list = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Origin::Forge(forge) = from.get_untracked() else { return };
        let search = Some(search.get_untracked().trim().to_string()).filter(|s| !s.is_empty());
        let wanted = ListRepositories { forge, token: token.get_untracked().trim().into(), search };
        busy.set(true);
        spawn_local(async move {
            match load_repositories(wanted).await {
                Ok(found) => {
                    error.set(None);
                    listed.set(Some(found));
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let pick = move |path: String| {
        let last = path.rsplit('/').next().unwrap_or_default().to_lowercase();
        let suggested: String =
            last.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>();
        slug.set(suggested.trim_matches('-').to_string());
        name.set(path.rsplit('/').next().unwrap_or_default().to_string());
        chosen.set(path);
        preview.set(None);
    };
    let request = move |dry_run: bool| {
        let source = match from.get_untracked() {
            Origin::Forge(ForgeKind::Github) => RepositorySource::Github { repo: chosen.get_untracked() },
            Origin::Forge(ForgeKind::Gitlab) => RepositorySource::Gitlab { repo: chosen.get_untracked() },
            Origin::GitUrl => RepositorySource::Git { url: chosen.get_untracked().trim().into() },
        };
        let token = match from.get_untracked() {
            Origin::Forge(_) => Some(token.get_untracked().trim().to_string()).filter(|t| !t.is_empty()),
            Origin::GitUrl => None,
        };
        ImportProject {
            slug: slug.get_untracked().trim().into(),
            name: name.get_untracked().trim().into(),
            source,
            token,
            deploy_key: match from.get_untracked() {
                Origin::GitUrl => deploy_key.get_untracked().map(|k| k.id),
                Origin::Forge(_) => None,
            },
            create_hook: true,
            dry_run,
        }
    };
    let send = move |dry_run: bool| {
        let wanted = request(dry_run);
        if let Err(e) = wanted.source.check() {
            return error.set(Some(e));
        }
        busy.set(true);
        spawn_local(async move {
            match run_import(wanted).await {
                Ok(answer) => {
                    error.set(None);
                    preview.set(Some(answer.preview.clone()));
                    if answer.project.is_some() {
                        imported.set(Some(answer));
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let look = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send(true);
    };
    let choose_from = move |ev: leptos::ev::Event| {
        from.set(match event_target_value(&ev).as_str() {
            "gitlab" => Origin::Forge(ForgeKind::Gitlab),
            "git" => Origin::GitUrl,
            _ => Origin::Forge(ForgeKind::Github),
        });
        listed.set(None);
        chosen.set(String::new());
        preview.set(None);
    };

    view! {
        <h1>"New project"</h1>
        <p class="muted">"Ferry clones the repository, reads " <code>"ferry.yml"</code>
            " at its default branch, and creates the project with its environments, the webhook and the link that reports deployments back."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="import-error">{e}</p> })}
        {move || match imported.get() {
            Some(done) => view! { <ImportDone done /> }.into_any(),
            None => view! {
                <form class="filters import-source" on:submit=list>
                    <label>"From"
                        <select data-testid="import-from" on:change=choose_from>
                            <option value="github">"GitHub"</option>
                            <option value="gitlab">"GitLab"</option>
                            <option value="git">"A git URL"</option>
                        </select>
                    </label>
                    <Show when=move || from.get() != Origin::GitUrl>
                        <label>"API token"
                            <input type="password" autocomplete="off" prop:required=move || !kept()
                                data-testid="import-token"
                                placeholder=move || if kept() { "empty: your sign-in's" } else { "ghp_… or glpat-…" }
                                prop:value=token
                                on:input=move |ev| token.set(event_target_value(&ev)) /></label>
                        <label>"Search" <input prop:value=search placeholder="name"
                            on:input=move |ev| search.set(event_target_value(&ev)) /></label>
                        <button class="action" type="submit" prop:disabled=busy>"List repositories"</button>
                    </Show>
                    <Show when=move || from.get() == Origin::GitUrl>
                        <label>"URL" <input data-testid="import-url" placeholder="https://git.example.com/team/app.git"
                            prop:value=chosen on:input=move |ev| {
                                let url = event_target_value(&ev);
                                let last = url.trim_end_matches(".git").rsplit('/').next().unwrap_or_default().to_string();
                                pick(last);
                                chosen.set(url);
                            } /></label>
                    </Show>
                </form>
                <Show when=over_ssh>
                    <div class="deploy-key" data-testid="deploy-key">
                        {move || match deploy_key.get() {
                            None => view! {
                                <p>"An SSH URL is read with a deploy key Ferry makes; its private half never leaves Ferry."</p>
                                <button class="action" on:click=make_key>"Make a deploy key"</button>
                            }.into_any(),
                            Some(key) => view! {
                                <p>"Add this key to the repository's deploy keys (read-only), then look inside:"</p>
                                <pre data-testid="deploy-key-public">{key.public_key}</pre>
                            }.into_any(),
                        }}
                    </div>
                </Show>
                {move || listed.get().map(|found| view! { <RepositoryList found chosen pick /> })}
                <Show when=move || !chosen.with(String::is_empty)>
                    <form class="filters import-project" on:submit=look>
                        <label>"Slug" <input required data-testid="import-slug" prop:value=slug
                            on:input=move |ev| slug.set(event_target_value(&ev)) /></label>
                        <label>"Name" <input required prop:value=name
                            on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                        <button class="action" type="submit" prop:disabled=busy>"Look inside"</button>
                    </form>
                </Show>
                {move || preview.get().map(|found| {
                    let ready = found.pipeline.is_some();
                    view! {
                        <Preview found />
                        <Show when=move || ready>
                            <button class="action primary" data-testid="import-go" prop:disabled=busy
                                on:click=move |_| send(false)>"Import"</button>
                        </Show>
                    }
                })}
            }.into_any(),
        }}
    }
}

/// The repositories the token reaches; choosing one fills in the project's slug and name.
#[component]
fn RepositoryList(
    found: Vec<RepositoryView>,
    chosen: RwSignal<String>,
    pick: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if found.is_empty() {
        return view! { <p class="empty">"The token reaches no repository by that name."</p> }.into_any();
    }
    let rows = found
        .into_iter()
        .map(|repo| {
            let path = repo.path.clone();
            let is_chosen = {
                let path = path.clone();
                Signal::derive(move || chosen.with(|c| *c == path))
            };
            view! {
                <li class="repository" class:chosen=is_chosen data-repo=repo.path.clone()>
                    <button class="link" type="button" aria-pressed=move || is_chosen.get().to_string()
                        on:click=move |_| pick(path.clone())>{repo.path.clone()}</button>
                    <span class="badge">{if repo.private { "private" } else { "public" }}</span>
                    <span class="muted">{repo.description.unwrap_or_default()}</span>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="repositories" aria-label="Repositories">{rows}</ul> }.into_any()
}

/// What is in the repository: its pipeline, why its `ferry.yml` was refused, or a starter.
#[component]
fn Preview(found: ImportPreview) -> impl IntoView {
    let at = format!("{} at {}", found.default_branch, &found.commit[..found.commit.len().min(7)]);
    let pipeline = found.pipeline.map(|p| {
        let steps = |steps: Vec<String>| steps.into_iter().map(|s| view! { <li><code>{s}</code></li> }).collect_view();
        view! {
            <dl class="import-found" data-testid="import-pipeline">
                <dt>"Environments"</dt><dd>{p.environments.join(" → ")}</dd>
                <dt>"Build"</dt><dd><ul>{steps(p.build)}</ul></dd>
                <dt>"Deploy"</dt><dd><ul>{steps(p.deploy)}</ul></dd>
                <dt>"Health check"</dt><dd>{p.health_check.unwrap_or_else(|| "none".into())}</dd>
                <dt>"Triggers"</dt>
                <dd>{if p.triggers.is_empty() {
                    view! { <span class="muted">"none: releases are made by hand or by the CLI"</span> }.into_any()
                } else {
                    view! { <ul>{p.triggers.into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}</ul> }.into_any()
                }}</dd>
            </dl>
        }
    });
    let problem = found.problem.map(|p| {
        view! { <p class="error" data-testid="import-problem">"ferry.yml cannot be used: " <code>{p}</code></p> }
    });
    let starter = found.starter.map(|s| {
        let because = s.because.map(|b| format!(" (Ferry saw {b})")).unwrap_or_default();
        let detected = s.detected.clone();
        view! {
            <section class="starter" data-testid="import-starter" data-detected=s.detected.clone()>
                <h2>"No ferry.yml yet"</h2>
                <p>"This looks like a " <strong>{detected}</strong> " project" {because}
                    ". Commit this as " <code>"ferry.yml"</code> " at the repository's root, then look again."</p>
                <pre class="starter-file">{s.file}</pre>
                <p class="muted">{s.explanation}</p>
            </section>
        }
    });
    view! {
        <h2>"Found at " {at}</h2>
        {pipeline}
        {problem}
        {starter}
    }
}

#[component]
fn ImportDone(done: Imported) -> impl IntoView {
    let project = done.project.clone().expect("an import made a project");
    let hook = match (&done.link, done.hook_created, done.hook_secret.clone()) {
        (Some(_), true, _) => {
            Some(view! { <p>"The repository's webhook was created: pushes now reach Ferry."</p> }.into_any())
        }
        (Some(link), false, Some(secret)) => Some(
            view! {
                <p>"Add the webhook in the repository's settings: " <code>{link.hook_url.clone()}</code>
                    " with the secret, shown only now: " <code data-testid="hook-secret">{secret}</code></p>
            }
            .into_any(),
        ),
        _ => None,
    };
    view! {
        <section class="imported" role="status" data-testid="import-done">
            <p>"Created " <strong>{project.name.clone()}</strong> " with "
                {project.environments.iter().map(|e| e.name.clone()).collect::<Vec<_>>().join(", ")} "."</p>
            {hook}
            {done.warning.map(|w| view! { <p class="error">{w}</p> })}
            <p><a href="/">"To the environments"</a> " · "
                <a href=format!("/projects/{}/settings", project.slug)>"Settings"</a></p>
        </section>
    }
}
