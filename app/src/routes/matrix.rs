//! The environment matrix (home page): projects × environments, what is live in each
//! cell, releases ready to deploy, and promotion to the next environment. Cells update
//! live from deployment events.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::components::promote::{DragSource, PendingChange, PromoteDialog, Promotion};
use crate::components::{deployment_state_text, format_time, short_commit, StateBadge};
use crate::error::ErrorCode;
use crate::live::{deployment_supersedes, on_live_event};
use crate::model::{
    DeployRequest, DeploymentKind, DeploymentState, DeploymentView, EventPayload, Matrix, MatrixCell, MatrixRow, Role,
    UserView,
};
use crate::server_fns::{load_matrix, start_deployment};

/// Applies a deployment event to a project's row, never moving a cell backwards.
pub fn apply_deployment(row: &mut MatrixRow, deployment: &DeploymentView) {
    if row.project.id != deployment.project_id {
        return;
    }
    if deployment.kind == DeploymentKind::Teardown && deployment.state == DeploymentState::Succeeded {
        // A preview taken down leaves the matrix.
        row.cells.retain(|c| c.environment.id != deployment.environment_id);
        return;
    }
    for cell in row.cells.iter_mut().filter(|c| c.environment.id == deployment.environment_id) {
        if cell.latest.as_ref().is_none_or(|l| deployment_supersedes(deployment, l)) {
            cell.latest = Some(deployment.clone());
        }
        if deployment.state == DeploymentState::Succeeded && cell.current.as_ref().is_none_or(|c| deployment.id > c.id)
        {
            cell.current = Some(deployment.clone());
        }
    }
}

#[component]
pub fn MatrixPage() -> impl IntoView {
    // One signal per project: an event re-renders only its project's row, so a busy
    // matrix of many services stays cheap and keeps keyboard focus elsewhere.
    let rows = RwSignal::new(None::<Vec<RwSignal<MatrixRow>>>);
    let error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(Vec::<DeploymentView>::new());
    on_live_event(move |event| {
        let EventPayload::Deployment(d) = &event.payload else { return };
        let row = rows.with_untracked(|rows| {
            rows.as_ref().map(|rows| rows.iter().find(|r| r.with_untracked(|r| r.project.id == d.project_id)).copied())
        });
        let known = |row: &MatrixRow| row.cells.iter().any(|c| c.environment.id == d.environment_id);
        match row {
            Some(Some(row)) if row.with_untracked(known) => row.update(|r| apply_deployment(r, d)),
            // A preview opened after the page loaded: its environment is new here.
            Some(Some(_)) => spawn_local(load(rows, pending, error)),
            Some(None) => {} // a project created after the page loaded
            None => pending.update(|p| p.push(d.clone())),
        }
    });
    spawn_local(load(rows, pending, error));

    let promotion = Promotion::new();
    provide_context(promotion);
    view! {
        <h1>"Environments"</h1>
        <p class="muted">"Drag a live release onto the next environment, or use its Promote button, to promote it."</p>
        {use_context::<UserView>().filter(|u| u.role == Role::Admin).map(|_| view! {
            <p><a class="action" href="/projects/new" data-testid="new-project">"+ New project"</a></p>
        })}
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <PromoteDialog promotion error />
        {move || match rows.get() {
            None => view! { <p class="empty">"Loading…"</p> }.into_any(),
            Some(rows) if rows.is_empty() => view! { <p class="empty">"No projects yet."</p> }.into_any(),
            Some(rows) => rows.into_iter().map(|row| move || view! { <ProjectMatrix row=row.get() error /> }).collect_view().into_any(),
        }}
    }
}

/// Loads the matrix, with the events that came while it loaded.
async fn load(
    rows: RwSignal<Option<Vec<RwSignal<MatrixRow>>>>,
    pending: RwSignal<Vec<DeploymentView>>,
    error: RwSignal<Option<String>>,
) {
    match load_matrix().await {
        Ok(Matrix { rows: mut loaded }) => {
            for d in pending.get_untracked() {
                loaded.iter_mut().for_each(|row| apply_deployment(row, &d));
            }
            pending.set(Vec::new());
            rows.set(Some(loaded.into_iter().map(RwSignal::new).collect()));
        }
        Err(e) => error.set(Some(e.message)),
    }
}

#[component]
fn ProjectMatrix(row: MatrixRow, error: RwSignal<Option<String>>) -> impl IntoView {
    let mut row = row;
    let (previews, lifecycle): (Vec<MatrixCell>, Vec<MatrixCell>) =
        std::mem::take(&mut row.cells).into_iter().partition(|c| c.environment.is_preview());
    row.cells = lifecycle;
    row.releases.retain(|r| !r.is_preview());
    let slug = row.project.slug.clone();
    let first_env = row.project.lifecycle().next().map(|e| e.name.clone()).unwrap_or_default();
    // A release older than the one live in the first environment asks for confirmation.
    let live_first = row.cells.first().and_then(|c| c.current.as_ref()).map(|d| d.release_id);
    let next_env: Vec<Option<String>> =
        (0..row.cells.len()).map(|i| row.cells.get(i + 1).map(|c| c.environment.name.clone())).collect();
    // What is live one environment earlier: a cell is behind when that differs.
    let upstream: Vec<Option<(String, String)>> = (0..row.cells.len())
        .map(|i| {
            let previous = i.checked_sub(1).and_then(|p| row.cells.get(p))?;
            let live = previous.current.as_ref()?;
            Some((previous.environment.name.clone(), live.release_version.clone()))
        })
        .collect();
    let header = row.cells.iter().map(|c| view! { <th scope="col">{c.environment.name.clone()}</th> }).collect_view();
    let cells = row
        .cells
        .into_iter()
        .zip(next_env)
        .zip(upstream)
        .map(|((cell, next), upstream)| view! { <Cell project=slug.clone() cell next upstream /> })
        .collect_view();
    let releases = row
        .releases
        .into_iter()
        .map(|r| {
            let label = format!("Deploy to {first_env}");
            let older = live_first.is_some_and(|live| r.id < live);
            let deploy = view! {
                <DeployButton project=slug.clone() release_id=r.id environment=first_env.clone() label older error />
            };
            view! {
                <li class="release" data-version=r.version.clone()>
                    <a class="version" href=format!("/releases/{}", r.id)>{r.version.clone()}</a>
                    <code>{short_commit(&r.git_commit)}</code>
                    {r.bad.as_ref().map(|b| view! { <span class="bad-tag" title=b.reason.clone()>"⚠ bad"</span> })}
                    <span class="muted">{format_time(r.created_at)}</span>
                    {deploy}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="project" data-project=row.project.slug.clone()>
            <h2>
                {row.project.name.clone()}
                " "
                <a class="settings-link" href=format!("/projects/{}/settings", row.project.slug)
                    aria-label=format!("Settings of {}", row.project.name)>"⚙ settings"</a>
            </h2>
            <table class="matrix" role="grid" aria-label=format!("{} environments", row.project.name)>
                <thead><tr>{header}</tr></thead>
                <tbody><tr>{cells}</tr></tbody>
            </table>
            {(!previews.is_empty()).then(|| view! { <Previews cells=previews /> })}
            <h3>"Releases"</h3>
            <ul class="releases">{releases}</ul>
        </section>
    }
}

/// The project's open previews, one line per pull or merge request, folded away on
/// demand.
#[component]
fn Previews(cells: Vec<MatrixCell>) -> impl IntoView {
    let count = cells.len();
    let lines = cells
        .into_iter()
        .filter_map(|cell| {
            let preview = cell.environment.preview.clone()?;
            let state = cell.latest.as_ref().map(|l| deployment_state_text(l.state)).unwrap_or_else(|| "empty".into());
            let live = cell.current.as_ref().map(|c| c.release_version.clone());
            let latest = cell.latest.clone().map(|l| {
                view! {
                    <a class="latest" href=format!("/deployments/{}", l.id)>
                        <StateBadge state=deployment_state_text(l.state) />
                        " #" {l.id}
                    </a>
                }
            });
            let request = match preview.request_url.is_empty() {
                true => view! { <span>{format!("#{}", preview.number)}</span> }.into_any(),
                false => view! { <a href=preview.request_url.clone()>{format!("#{}", preview.number)}</a> }.into_any(),
            };
            Some(view! {
                <tr class="preview" data-env=cell.environment.name.clone() data-state=state>
                    <th scope="row">{cell.environment.name.clone()}</th>
                    <td>{request} " " {preview.title.clone()}
                        <div class="muted">{format!("{} by {}", preview.branch, preview.author)}
                            {preview.from_fork.then(|| view! { " " <span class="fork-tag">"from a fork"</span> })}
                        </div>
                    </td>
                    <td>{match (live, preview.url.clone()) {
                        (Some(version), Some(url)) => view! { <a href=url>{version}</a> }.into_any(),
                        (Some(version), None) => view! { <span>{version}</span> }.into_any(),
                        (None, _) => view! { <span class="muted">"not live yet"</span> }.into_any(),
                    }}</td>
                    <td>{latest}</td>
                    <td class="muted">{format!("borrows {}", preview.from)}
                        {preview.port.map(|p| format!(", port {p}"))}
                        {match preview.state.as_str() {
                            "waiting" => " · waiting for a place",
                            "closing" => " · closing",
                            _ => "",
                        }}
                    </td>
                </tr>
            })
        })
        .collect_view();
    view! {
        <details class="previews" open=true data-testid="previews">
            <summary>{format!("Previews ({count})")}</summary>
            <table class="history">
                <thead><tr>
                    <th scope="col">"Environment"</th><th scope="col">"Request"</th><th scope="col">"Live"</th>
                    <th scope="col">"Latest"</th><th scope="col">"Settings"</th>
                </tr></thead>
                <tbody>{lines}</tbody>
            </table>
        </details>
    }
}

#[component]
fn Cell(project: String, cell: MatrixCell, next: Option<String>, upstream: Option<(String, String)>) -> impl IntoView {
    let promotion = expect_context::<Promotion>();
    let env = cell.environment.name.clone();
    let position = cell.environment.position;
    let live = match cell.current.clone() {
        Some(c) => {
            let source =
                DragSource { project: project.clone(), release_id: c.release_id, environment_position: position };
            let on_drag_start = move |ev: leptos::ev::DragEvent| {
                if let Some(transfer) = ev.data_transfer() {
                    // Some browsers only start a drag that carries data.
                    let _ = transfer.set_data("text/plain", &source.release_id.to_string());
                }
                promotion.dragging.set(Some(source.clone()));
            };
            view! {
                <div class="live-release" draggable=next.is_some().to_string()
                    on:dragstart=on_drag_start on:dragend=move |_| promotion.dragging.set(None)
                    title="Drag onto the next environment to promote">
                    <span class="version" data-testid="live-version">{c.release_version.clone()}</span>
                    <span class="muted">{c.finished_at.map(format_time)}</span>
                </div>
            }
            .into_any()
        }
        None => view! { <div class="live-release muted">"nothing deployed"</div> }.into_any(),
    };
    let live_version = cell.current.as_ref().map(|c| c.release_version.clone());
    let drift = upstream.filter(|(_, v)| Some(v) != live_version.as_ref()).map(|(from, version)| {
        view! { <span class="drift" data-testid="drift" title=format!("{from} runs {version}")>{format!("↧ behind {from} ({version})")}</span> }
    });
    let latest = cell.latest.clone().map(|l| {
        let state = deployment_state_text(l.state);
        view! {
            <a class="latest" href=format!("/deployments/{}", l.id)>
                <StateBadge state=state />
                " #" {l.id} " " {l.release_version.clone()}
            </a>
        }
    });
    let promote = match (cell.current.clone(), next) {
        (Some(current), Some(next)) => {
            let request = DeployRequest {
                project: project.clone(),
                release_id: current.release_id,
                environment: next.clone(),
                allow_older: false,
                freeze_override: None,
            };
            let label = format!("Promote {} to {next}…", current.release_version);
            Some(view! {
                <button class="action" on:click=move |_| {
                    promotion.pending.set(Some(PendingChange { request: request.clone(), rollback: false }))
                }>{label}</button>
            })
        }
        _ => None,
    };
    let rollback = cell.previous.clone().map(|previous| {
        let request = DeployRequest {
            project: project.clone(),
            release_id: previous.release_id,
            environment: env.clone(),
            allow_older: false,
            freeze_override: None,
        };
        let label = format!("Roll back to {}…", previous.release_version);
        view! {
            <button class="secondary" on:click=move |_| {
                promotion.pending.set(Some(PendingChange { request: request.clone(), rollback: true }))
            }>{label}</button>
        }
    });
    let state = cell.latest.as_ref().map(|l| deployment_state_text(l.state)).unwrap_or_else(|| "empty".into());
    let drop_project = project.clone();
    let accepts = move || promotion.accepts(&drop_project, position);
    let on_drop = {
        let accepts = accepts.clone();
        let (project, env) = (project.clone(), env.clone());
        move |ev: leptos::ev::DragEvent| {
            ev.prevent_default();
            if accepts() {
                if let Some(source) = promotion.dragging.get_untracked() {
                    let request = DeployRequest {
                        project: project.clone(),
                        release_id: source.release_id,
                        environment: env.clone(),
                        allow_older: false,
                        freeze_override: None,
                    };
                    promotion.pending.set(Some(PendingChange { request, rollback: false }));
                }
            }
            promotion.dragging.set(None);
        }
    };
    let on_drag_over = {
        let accepts = accepts.clone();
        move |ev: leptos::ev::DragEvent| {
            if accepts() {
                ev.prevent_default();
            }
        }
    };
    view! {
        <td class="cell" data-env=env data-state=state role="gridcell"
            class:drop-target=accepts on:dragover=on_drag_over on:drop=on_drop>
            {live}
            {drift}
            {latest}
            {promote}
            " "
            {rollback}
        </td>
    }
}

/// Starts a deployment and opens its timeline.
#[component]
fn DeployButton(
    project: String,
    release_id: i64,
    environment: String,
    label: String,
    /// Older than the release live there: the dialog shows what it takes back first.
    older: bool,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let promotion = expect_context::<Promotion>();
    let on_click = move |_| {
        let (project, environment, navigate) = (project.clone(), environment.clone(), navigate.clone());
        if older {
            let request = DeployRequest { project, release_id, environment, allow_older: false, freeze_override: None };
            promotion.pending.set(Some(PendingChange { request, rollback: false }));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match start_deployment(project.clone(), release_id, environment.clone(), false, None).await {
                Ok(d) => navigate(&format!("/deployments/{}", d.id), Default::default()),
                // A rule refused it (a freeze, say): the dialog explains, and offers what is possible.
                Err(e) if e.error == ErrorCode::Conflict => {
                    let request =
                        DeployRequest { project, release_id, environment, allow_older: false, freeze_override: None };
                    promotion.pending.set(Some(PendingChange { request, rollback: false }));
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <button class="action" on:click=on_click disabled=move || busy.get()>{label}</button>
    }
}
