//! Insights: the four DORA keys, deployments per day as an SVG chart drawn here, and
//! success rates per environment and per project, over a chosen window.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{DailyCount, Insights, SuccessRate};
use crate::server_fns::load_insights;

fn hours(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(h) if h < 1.0 => format!("{:.0} min", h * 60.0),
        Some(h) if h < 48.0 => format!("{h:.1} h"),
        Some(h) => format!("{:.1} days", h / 24.0),
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0))
}

#[component]
fn Tile(label: &'static str, value: String, hint: &'static str) -> impl IntoView {
    view! {
        <div class="tile" data-testid=label>
            <div class="tile-value">{value}</div>
            <div class="tile-label">{label}</div>
            <div class="muted">{hint}</div>
        </div>
    }
}

/// Stacked bars per day: successes below, failures above, scaled to the busiest day.
fn daily_chart(days: &[DailyCount]) -> impl IntoView {
    const W: f64 = 720.0;
    const H: f64 = 160.0;
    let max = days.iter().map(|d| d.succeeded + d.failed).max().unwrap_or(0).max(1) as f64;
    let slot = W / days.len().max(1) as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = i as f64 * slot + slot * 0.15;
            let width = slot * 0.7;
            let ok = d.succeeded as f64 / max * (H - 20.0);
            let bad = d.failed as f64 / max * (H - 20.0);
            let title = format!("{}: {} succeeded, {} failed", d.day, d.succeeded, d.failed);
            view! {
                <g>
                    <title>{title}</title>
                    <rect class="ok" x=x y=H - ok width=width height=ok />
                    <rect class="bad" x=x y=H - ok - bad width=width height=bad />
                </g>
            }
        })
        .collect_view();
    let label = format!("Deployments per day over the last {} days", days.len());
    view! {
        <svg class="chart" viewBox=format!("0 0 {W} {H}") role="img" aria-label=label preserveAspectRatio="none">
            <line x1="0" y1=H x2=W y2=H class="axis" />
            {bars}
        </svg>
        <div class="chart-axis muted">
            <span>{days.first().map(|d| d.day.clone())}</span>
            <span>{days.last().map(|d| d.day.clone())}</span>
        </div>
    }
}

fn rate_table(title: &'static str, rows: Vec<SuccessRate>) -> impl IntoView {
    let body = rows
        .into_iter()
        .map(|r| {
            let width = r.rate.map_or(0.0, |v| v * 100.0);
            view! {
                <tr data-name=r.name.clone()>
                    <td>{r.name.clone()}</td>
                    <td>{r.succeeded}</td><td>{r.failed}</td><td>{r.cancelled}</td>
                    <td class="rate">
                        <span class="rate-bar" aria-hidden="true"><span style=format!("width:{width:.0}%")></span></span>
                        {percent(r.rate)}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="rates">
            <caption>{title}</caption>
            <thead><tr><th scope="col">"Name"</th><th scope="col">"✓ succeeded"</th><th scope="col">"✗ failed"</th>
                <th scope="col">"– cancelled"</th><th scope="col">"Success rate"</th></tr></thead>
            <tbody>{body}</tbody>
        </table>
    }
}

#[component]
pub fn InsightsPage() -> impl IntoView {
    let days = RwSignal::new(30i64);
    let data = RwSignal::new(None::<Insights>);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let window = days.get();
        spawn_local(async move {
            match load_insights(None, window).await {
                Ok(i) => data.set(Some(i)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    });
    view! {
        <h1>"Insights"</h1>
        <label class="muted">"Window "
            <select aria-label="Window" on:change=move |ev| days.set(event_target_value(&ev).parse().unwrap_or(30))>
                <option value="7">"7 days"</option>
                <option value="30" selected>"30 days"</option>
                <option value="90">"90 days"</option>
            </select>
        </label>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || data.get().map(|i| view! {
            <section class="tiles" aria-label="DORA metrics">
                <Tile label="Deployment frequency" value=format!("{:.2}/day", i.dora.deployments_per_day)
                    hint="successful production deployments" />
                <Tile label="Lead time for changes" value=hours(i.dora.lead_time_hours) hint="commit to production, median" />
                <Tile label="Change failure rate" value=percent(i.dora.change_failure_rate) hint="failed production deployments" />
                <Tile label="Time to restore" value=hours(i.dora.time_to_restore_hours) hint="failure to next success, median" />
            </section>
            <h2>"Deployments per day"</h2>
            {daily_chart(&i.daily)}
            <div class="rate-tables">
                {rate_table("By environment", i.environments)}
                {rate_table("By project", i.projects)}
            </div>
        })}
    }
}
