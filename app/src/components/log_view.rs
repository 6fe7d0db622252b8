//! The log viewer: streaming lines with ANSI colours, follow mode, search, jump to the
//! first error, download, and line links (`#L<seq>`). Only the lines in view are
//! rendered, so a log of 100,000 lines scrolls as easily as a short one.

use leptos::html::Div;
use leptos::prelude::*;

use crate::ansi;
use crate::model::{DeploymentDetail, LogLineView, LogStream, StepState};

/// Every line is this tall (CSS `.log .line`), which makes the visible window a
/// matter of arithmetic.
const LINE_HEIGHT: f64 = 20.0;
/// Lines rendered above and below the visible ones.
const OVERSCAN: usize = 40;

fn colour_class(colour: Option<u8>, bold: bool) -> String {
    let mut class = String::new();
    if let Some(c) = colour {
        class.push_str(&format!("fg{c}"));
    }
    if bold {
        class.push_str(" bold");
    }
    class
}

/// Is this line where things went wrong? The first line a failed step's stderr or
/// Ferry's own failure message printed, or any line that says "error".
fn is_error(line: &LogLineView, failed_steps: &[i32]) -> bool {
    (failed_steps.contains(&line.step) && line.stream != LogStream::Stdout)
        || line.text.to_ascii_lowercase().contains("error")
}

fn line_from_hash() -> Option<i64> {
    let hash = window().location().hash().ok()?;
    hash.strip_prefix("#L")?.parse().ok()
}

#[component]
pub fn LogView(detail: RwSignal<Option<DeploymentDetail>>, selected: RwSignal<Option<i32>>) -> impl IntoView {
    let container = NodeRef::<Div>::new();
    let scroll_top = RwSignal::new(0.0);
    let viewport = RwSignal::new(600.0);
    let follow = RwSignal::new(true);
    let query = RwSignal::new(String::new());
    let highlight = RwSignal::new(line_from_hash());

    // Indexes (into the deployment's lines) of the lines shown, after the step filter and search.
    let shown = Memo::new(move |_| {
        let needle = query.get().to_lowercase();
        let step = selected.get();
        detail.with(|d| {
            d.as_ref().map_or_else(Vec::new, |d| {
                d.logs
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| step.is_none_or(|s| s == l.step))
                    .filter(|(_, l)| needle.is_empty() || ansi::plain(&l.text).to_lowercase().contains(&needle))
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>()
            })
        })
    });
    let scroll_to = move |index: usize| {
        if let Some(el) = container.get_untracked() {
            let top = (index as f64 * LINE_HEIGHT - el.client_height() as f64 / 3.0).max(0.0);
            el.set_scroll_top(top as i32);
        }
    };
    // Follow mode keeps the newest line in view; a shared line link is scrolled to once.
    Effect::new(move |jumped: Option<bool>| {
        let count = shown.with(Vec::len);
        let mut jumped = jumped.unwrap_or(false);
        if !jumped {
            if let Some(seq) = highlight.get_untracked() {
                let position = detail.with_untracked(|d| {
                    let d = d.as_ref()?;
                    shown.with_untracked(|s| s.iter().position(|&i| d.logs[i].seq == seq))
                });
                if let Some(position) = position {
                    follow.set(false);
                    scroll_to(position);
                    jumped = true;
                }
            }
        }
        // On the next frame: the lines' new height is in the page only once they render.
        if follow.get_untracked() && count > 0 {
            request_animation_frame(move || {
                if let Some(el) = container.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
        jumped
    });
    // Only the reader scrolling up stops following: while lines stream in, the log
    // grows between a scroll to the bottom and its event, which is not the reader
    // leaving the bottom. Scrolling back down to the end follows again.
    let on_scroll = move |_| {
        if let Some(el) = container.get_untracked() {
            let top = el.scroll_top() as f64;
            let scrolled_up = top < scroll_top.get_untracked();
            // Set only on change: each set re-renders the visible lines.
            if top != scroll_top.get_untracked() {
                scroll_top.set(top);
            }
            let height = el.client_height() as f64;
            if height != viewport.get_untracked() {
                viewport.set(height);
            }
            let at_bottom = el.scroll_top() + el.client_height() + (LINE_HEIGHT as i32) >= el.scroll_height();
            if at_bottom {
                follow.set(true);
            } else if scrolled_up && follow.get_untracked() {
                follow.set(false);
            }
        }
    };
    let jump_to_error = move |_| {
        let target = detail.with_untracked(|d| {
            let d = d.as_ref()?;
            let failed: Vec<i32> =
                d.steps.iter().filter(|s| s.state == StepState::Failed).map(|s| s.position).collect();
            shown.with_untracked(|s| {
                s.iter().position(|&i| is_error(&d.logs[i], &failed)).map(|p| (p, d.logs[s[p]].seq))
            })
        });
        if let Some((position, seq)) = target {
            follow.set(false);
            highlight.set(Some(seq));
            scroll_to(position);
        }
    };

    // The window of lines in the page. While following, it is the log's end whatever
    // the scroll position says, so a flush of new lines renders once, not once before
    // and once after the scroll that follows it.
    let window_range = Memo::new(move |_| {
        let total = shown.with(Vec::len);
        let visible = (viewport.get() / LINE_HEIGHT) as usize;
        let top_line =
            if follow.get() { total.saturating_sub(visible) } else { (scroll_top.get() / LINE_HEIGHT) as usize };
        let first = top_line.saturating_sub(OVERSCAN).min(total);
        (first, (first + visible + 2 * OVERSCAN).min(total), total)
    });
    // Keyed by sequence number: a line already in the page stays as it is when the
    // window moves, and only the lines entering it are built.
    let visible_lines = move || {
        let (first, last, _) = window_range.get();
        shown.with(|s| {
            detail.with(|d| {
                d.as_ref().map_or_else(Vec::new, |d| s[first..last].iter().map(|&i| (d.logs[i].seq, i)).collect())
            })
        })
    };
    let line_view = move |(seq, index): (i64, usize)| {
        detail.with_untracked(|d| {
            let d = d.as_ref()?;
            let line = d.logs.get(index)?;
            Some(render_line(line, step_tag(d, line.step), seq, highlight))
        })
    };
    let spacer = move || format!("height:{}px;position:relative", window_range.get().2 as f64 * LINE_HEIGHT);
    let offset =
        move || format!("position:absolute;left:0;right:0;top:{}px", window_range.get().0 as f64 * LINE_HEIGHT);
    let download =
        move || detail.with(|d| d.as_ref().map(|d| format!("/api/v1/deployments/{}/log.txt", d.deployment.id)));

    view! {
        <section class="logs" aria-label="Logs">
            <div class="log-tools">
                <h2>"Logs"</h2>
                {move || selected.get().map(|_| view! {
                    <button class="link" on:click=move |_| selected.set(None)>"show all steps"</button>
                })}
                <input type="search" placeholder="Search the log" aria-label="Search the log"
                    prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev)) />
                <span class="muted" data-testid="log-count">{move || format!("{} lines", shown.with(Vec::len))}</span>
                <button class="secondary" on:click=jump_to_error>"First error"</button>
                <label class="muted"><input type="checkbox" prop:checked=move || follow.get()
                    on:change=move |ev| follow.set(event_target_checked(&ev)) />" follow"</label>
                <a class="secondary" href=download download="">"Download"</a>
            </div>
            {move || detail.with(|d| d.as_ref().and_then(|d| d.log_removed_at)).map(|at| view! {
                <p class="muted" data-testid="log-removed">
                    {format!("This log was removed on {} UTC: the project keeps logs for its retention period \
                        (settings).", at.format("%Y-%m-%d"))}
                </p>
            })}
            <div class="log" role="log" aria-live="polite" node_ref=container on:scroll=on_scroll>
                <div style=spacer>
                    <div style=offset>
                        <For each=visible_lines key=|(seq, _)| *seq children=line_view />
                    </div>
                </div>
            </div>
        </section>
    }
}

fn render_line(l: &LogLineView, step: String, seq: i64, highlight: RwSignal<Option<i64>>) -> impl IntoView {
    let class = match l.stream {
        LogStream::Stderr => "line stderr",
        LogStream::System => "line system",
        LogStream::Stdout => "line",
    };
    let segments = ansi::segments(&l.text)
        .into_iter()
        .map(|s| view! { <span class=colour_class(s.colour, s.bold)>{s.text}</span> })
        .collect_view();
    let on_click = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        highlight.set(Some(seq));
        let _ = window().location().set_hash(&format!("L{seq}"));
    };
    view! {
        <div class=class class:lit=move || highlight.get() == Some(seq) id=format!("L{seq}")>
            <a class="ln" href=format!("#L{seq}") on:click=on_click>{seq}</a>
            <span class="step-tag">{step}</span>
            <span class="text">{segments}</span>
        </div>
    }
}

/// The step a line came from; with several hosts, `host/step`.
fn step_tag(d: &DeploymentDetail, position: i32) -> String {
    let Some(step) = d.steps.iter().find(|s| s.position == position) else { return String::new() };
    let host = step.target.filter(|_| d.targets.len() > 1).and_then(|t| d.targets.iter().find(|h| h.position == t));
    match host {
        Some(host) => format!("{}/{}", host.name, step.name),
        None => step.name.clone(),
    }
}
