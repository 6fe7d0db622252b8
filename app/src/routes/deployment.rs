//! The deployment timeline: each step as a bar on a time axis with its state and
//! duration, and the log lines as they are produced. Starts from a snapshot and then
//! follows the live feed; both merge without duplicates or going backwards.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

use crate::components::approval::ApprovalPanel;
use crate::components::log_view::LogView;
use crate::components::{deployment_state_text, format_duration, format_time, step_state_text, StateBadge};
use crate::live::{deployment_supersedes, on_live_event, step_supersedes, target_supersedes};
use crate::model::{
    DeploymentDetail, DeploymentKind, Event, EventPayload, LogLineView, TargetKind, TargetView, LOG_PAGE_LINES,
};

/// Applies one event to a deployment's detail; events of other deployments are ignored.
pub fn apply_event(detail: &mut DeploymentDetail, event: &Event) {
    match &event.payload {
        EventPayload::Deployment(d) if d.id == detail.deployment.id && deployment_supersedes(d, &detail.deployment) => {
            detail.deployment = d.clone();
        }
        EventPayload::Step(s) if s.deployment_id == detail.deployment.id => {
            match detail.steps.iter_mut().find(|x| x.position == s.position) {
                Some(existing) if step_supersedes(s, existing) => *existing = s.clone(),
                Some(_) => {}
                None => {
                    detail.steps.push(s.clone());
                    detail.steps.sort_by_key(|x| x.position);
                }
            }
        }
        EventPayload::Target(t) if t.deployment_id == detail.deployment.id => {
            match detail.targets.iter_mut().find(|x| x.position == t.position) {
                Some(existing) if target_supersedes(t, existing) => *existing = t.clone(),
                Some(_) => {}
                None => {
                    detail.targets.push(t.clone());
                    detail.targets.sort_by_key(|x| x.position);
                }
            }
        }
        EventPayload::Log(line) if line.deployment_id == detail.deployment.id => {
            insert_line(&mut detail.logs, line.clone());
        }
        _ => {}
    }
}

/// Adds a page of older lines to those already shown (live lines may have come first),
/// keeping them sorted by sequence number, each once.
fn merge_lines(lines: &mut Vec<LogLineView>, page: Vec<LogLineView>) {
    lines.extend(page);
    lines.sort_by_key(|l| l.seq);
    lines.dedup_by_key(|l| l.seq);
}

/// A snapshot carries the first `LOG_PAGE_LINES` lines of a log; a longer log's other
/// lines are fetched a page at a time and merged in.
async fn load_remaining_lines(
    id: i64,
    detail: RwSignal<Option<DeploymentDetail>>,
    mut after: i64,
) -> Result<(), String> {
    loop {
        let page = load_log_page(id, after).await.map_err(|e| e.message)?;
        let full = page.len() as i64 >= LOG_PAGE_LINES;
        let Some(last) = page.last().map(|l| l.seq) else { return Ok(()) };
        // The page was left meanwhile: stop.
        if detail.try_update(|d| d.as_mut().map(|d| merge_lines(&mut d.logs, page))).flatten().is_none() {
            return Ok(());
        }
        if !full {
            return Ok(());
        }
        after = last;
    }
}

/// Keeps lines sorted by their sequence number, each once.
fn insert_line(lines: &mut Vec<LogLineView>, line: LogLineView) {
    match lines.last() {
        None => lines.push(line),
        Some(last) if last.seq < line.seq => lines.push(line),
        Some(_) => {
            if let Err(at) = lines.binary_search_by_key(&line.seq, |l| l.seq) {
                lines.insert(at, line);
            }
        }
    }
}

/// The shortest time between two applications of live events (see DeploymentPage).
const FLUSH_SPACING_MS: i64 = 50;
/// After a flush of more events than this (a log racing at thousands of lines a
/// second), the next waits `BUSY_FLUSH_SPACING_MS`: the page redraws less often while
/// the lines pour in, and a line at an ordinary rate still shows within 50 ms.
const BUSY_FLUSH_EVENTS: usize = 200;
const BUSY_FLUSH_SPACING_MS: i64 = 200;

#[component]
pub fn DeploymentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<i64>().ok());
    let detail = RwSignal::new(None::<DeploymentDetail>);
    let early = RwSignal::new(Vec::<Event>::new());
    let error = RwSignal::new(None::<String>);
    let selected = RwSignal::new(None::<i32>);
    let now = RwSignal::new(Utc::now());
    if let Ok(handle) = set_interval_with_handle(move || now.set(Utc::now()), std::time::Duration::from_millis(250)) {
        on_cleanup(move || handle.clear());
    }

    // A busy step prints thousands of lines a second, each its own event. They are
    // applied together on the next animation frame, at most every FLUSH_SPACING_MS
    // (BUSY_FLUSH_SPACING_MS after a large flush), so the page re-renders a bounded
    // number of times however fast the log grows (and not at all while the tab is
    // hidden); a lone line still shows on the next frame.
    let pending = StoredValue::new(Vec::<Event>::new());
    let last_flush = StoredValue::new(0_i64);
    let spacing = StoredValue::new(FLUSH_SPACING_MS);
    let flush = move || {
        // Gone when the page was left before the frame came.
        let Some(events) = pending.try_update_value(std::mem::take) else { return };
        last_flush.set_value(Utc::now().timestamp_millis());
        spacing.set_value(if events.len() > BUSY_FLUSH_EVENTS { BUSY_FLUSH_SPACING_MS } else { FLUSH_SPACING_MS });
        if detail.with_untracked(Option::is_some) {
            detail.update(|d| {
                let d = d.as_mut().expect("checked");
                events.iter().for_each(|event| apply_event(d, event));
            });
        } else {
            early.update(|e| e.extend(events));
        }
    };
    on_live_event(move |event| {
        let first = pending
            .try_update_value(|p| {
                p.push(event.clone());
                p.len() == 1
            })
            .unwrap_or(false);
        if first {
            let wait = last_flush.get_value() + spacing.get_value() - Utc::now().timestamp_millis();
            if wait > 0 {
                set_timeout(move || request_animation_frame(flush), std::time::Duration::from_millis(wait as u64));
            } else {
                request_animation_frame(flush);
            }
        }
    });
    Effect::new(move |_| {
        let Some(id) = id() else {
            error.set(Some("not a deployment number".into()));
            return;
        };
        detail.set(None);
        spawn_local(async move {
            match load_deployment(id).await {
                Ok(mut d) => {
                    for event in early.get_untracked() {
                        apply_event(&mut d, &event);
                    }
                    early.set(Vec::new());
                    // The snapshot's own lines come first in its list (live ones follow).
                    let more_after = (d.logs.len() as i64 >= LOG_PAGE_LINES)
                        .then(|| d.logs.get(LOG_PAGE_LINES as usize - 1).map(|l| l.seq))
                        .flatten();
                    detail.set(Some(d));
                    if let Some(after) = more_after {
                        if let Err(message) = load_remaining_lines(id, detail, after).await {
                            error.set(Some(message));
                        }
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    });

    view! {
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || detail.with(|d| d.as_ref().map(header))}
        <ApprovalPanel detail />
        <div class="timeline-grid">
            <ol class="timeline" role="list" aria-label="Steps">
                {move || detail.with(|d| d.as_ref().map(|d| steps(d, now.get(), selected)))}
            </ol>
            <LogView detail selected />
        </div>
    }
}

use crate::server_fns::{cancel_deployment, load_deployment, load_log_page};

fn header(d: &DeploymentDetail) -> impl IntoView {
    let dep = &d.deployment;
    let id = dep.id;
    let cancel = (!dep.state.is_terminal()).then(|| {
        let on_click = move |_| {
            spawn_local(async move {
                // The outcome arrives as a live event; a refusal (already finished) needs no message.
                let _ = cancel_deployment(id).await;
            });
        };
        view! { <button class="action danger" on:click=on_click>"Cancel"</button> }
    });
    view! {
        <h1>
            {match dep.kind {
                DeploymentKind::Deploy => format!("#{} {} → {}", dep.id, dep.release_version, dep.environment),
                DeploymentKind::Rollback => format!("#{} rollback of {} to {}", dep.id, dep.environment, dep.release_version),
                DeploymentKind::Teardown => format!("#{} teardown of {} ({})", dep.id, dep.environment, dep.release_version),
            }}
            " "
            <StateBadge state=deployment_state_text(dep.state) />
            " "
            {cancel}
        </h1>
        <p class="muted" data-testid="deployment-state" data-state=deployment_state_text(dep.state)>
            {format!("{} · queued {}", dep.project, format_time(dep.created_at))}
            {dep.requested_by.clone().map(|who| format!(" by {who}"))}
            {dep.not_before.filter(|_| !dep.state.is_terminal()).map(|at| format!(" · starts {}", format_time(at)))}
            {dep.reason.clone().map(|r| format!(" · {r}"))}
        </p>
    }
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds().max(0)
}

fn steps(d: &DeploymentDetail, now: DateTime<Utc>, selected: RwSignal<Option<i32>>) -> impl IntoView {
    let start = d.deployment.started_at;
    let end = d.deployment.finished_at.unwrap_or(now);
    let total = start.map(|s| millis_between(s, end)).unwrap_or(0).max(1000) as f64;
    // With several hosts, or one that is not Ferry's own machine, each host's steps
    // follow a header row with its name, state and own bar.
    let several = d.targets.len() > 1 || d.targets.first().is_some_and(|t| t.kind() != TargetKind::BuiltIn);
    let bar_of = move |begun: Option<DateTime<Utc>>, ended: Option<DateTime<Utc>>| match (start, begun) {
        (Some(s), Some(begun)) => {
            let left = millis_between(s, begun) as f64 / total * 100.0;
            let width = millis_between(begun, ended.unwrap_or(now)) as f64 / total * 100.0;
            format!("left:{left:.2}%;width:{:.2}%", width.max(0.5))
        }
        _ => "display:none".to_string(),
    };
    d.steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let starts_host = several && (i == 0 || d.steps[i - 1].target != step.target);
            let host = step
                .target
                .and_then(|t| d.targets.iter().find(|h| h.position == t))
                .filter(|_| starts_host)
                .map(|h| host_row(h, bar_of(h.started_at, h.finished_at)));
            // The release's build runs once, before any host, on the build agent.
            let build = (i == 0 && step.target.is_none() && !d.targets.is_empty()).then(|| {
                view! {
                    <li class="host build-stage" data-host="build">
                        <div class="step-head">
                            <span class="step-name">"release build"</span>
                            <span class="muted">"once, for every environment"</span>
                        </div>
                    </li>
                }
            });
            let on_host = several && step.target.is_some();
            let bar = bar_of(step.started_at, step.finished_at);
            let duration = step
                .started_at
                .map(|b| format_duration(millis_between(b, step.finished_at.unwrap_or(now))))
                .unwrap_or_default();
            let position = step.position;
            let exit = step.exit_code.map(|c| format!("exit {c}"));
            view! {
                {build}
                {host}
                <li class="step" class:on-host=on_host data-step=step.name.clone() data-state=step_state_text(step.state)
                    class:selected=move || selected.get() == Some(position)>
                    <button class="step-head" on:click=move |_| selected.update(|s| {
                        *s = if *s == Some(position) { None } else { Some(position) }
                    })>
                        <StateBadge state=step_state_text(step.state) />
                        <span class="step-name">{step.name.clone()}</span>
                        <span class="muted">{duration}</span>
                        <span class="muted">{exit}</span>
                    </button>
                    <div class="track" aria-hidden="true"><div class="bar" style=bar></div></div>
                </li>
            }
        })
        .collect_view()
}

/// A host's header in the timeline: its name, batch and state, and its span as a bar.
fn host_row(host: &TargetView, bar: String) -> impl IntoView {
    let state = host.state.as_str();
    let title = match &host.reason {
        Some(reason) => format!("{} · batch {} · {reason}", host.name, host.batch + 1),
        None => format!("{} · batch {}", host.name, host.batch + 1),
    };
    view! {
        <li class="host" data-host=host.name.clone() data-state=state title=title>
            <div class="step-head">
                <StateBadge state=state.to_string() />
                <span class="step-name">{host.name.clone()}</span>
                <span class="muted">{format!("batch {}", host.batch + 1)}</span>
            </div>
            <div class="track" aria-hidden="true"><div class="bar host-bar" style=bar></div></div>
        </li>
    }
}
