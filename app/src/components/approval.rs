//! The approval panel of a deployment to a protected environment: who approved or
//! rejected (with their comments), who still may, and the buttons for them.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::format_time;
use crate::model::{DeploymentDetail, DeploymentState};
use crate::server_fns::{decide_deployment, load_deployment};

#[component]
pub fn ApprovalPanel(detail: RwSignal<Option<DeploymentDetail>>) -> impl IntoView {
    let comment = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let decide = move |approve: bool| {
        let Some(id) = detail.with_untracked(|d| d.as_ref().map(|d| d.deployment.id)) else { return };
        busy.set(true);
        spawn_local(async move {
            let text = comment.get_untracked();
            let comment_arg = (!text.trim().is_empty()).then_some(text);
            match decide_deployment(id, approve, comment_arg).await {
                Ok(_) => {
                    error.set(None);
                    // The decision list is not part of the live events: fetch it again.
                    if let Ok(fresh) = load_deployment(id).await {
                        detail.set(Some(fresh));
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    move || {
        detail.with(|d| {
            let d = d.as_ref()?;
            let approval = d.approval.clone()?;
            let waiting = d.deployment.state == DeploymentState::AwaitingApproval;
            let approved = approval.decisions.iter().filter(|x| x.approved).count();
            let decisions = approval
                .decisions
                .iter()
                .map(|x| {
                    let verdict = if x.approved { "✓ approved" } else { "✗ rejected" };
                    view! {
                        <li data-approved=x.approved.to_string()>
                            <strong>{x.login.clone()}</strong> " " {verdict} " · " {format_time(x.at)}
                            {x.comment.clone().map(|c| view! { <q>{c}</q> })}
                        </li>
                    }
                })
                .collect_view();
            let controls = (waiting && approval.you_may_decide).then(|| {
                view! {
                    <div class="approval-controls">
                        <label>"Comment"
                            <input maxlength="1000" prop:value=comment on:input=move |ev| comment.set(event_target_value(&ev)) />
                        </label>
                        <button class="action" disabled=move || busy.get() on:click=move |_| decide(true)>"Approve"</button>
                        <button class="action danger" disabled=move || busy.get() on:click=move |_| decide(false)>"Reject"</button>
                    </div>
                }
            });
            let who = if approval.approvers.is_empty() {
                "nobody else has the role to approve it".to_string()
            } else {
                format!("can approve: {}", approval.approvers.join(", "))
            };
            let wait = (approval.wait_minutes > 0).then(|| format!(" · then waits {} min", approval.wait_minutes));
            Some(view! {
                <section class="approval" aria-label="Approvals" data-waiting=waiting.to_string()>
                    <h2>{format!("Approvals: {approved} of {}", approval.required)}</h2>
                    <p class="muted">{waiting.then_some(who)}{wait}</p>
                    <ul>{decisions}</ul>
                    {controls}
                    {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                </section>
            })
        })
    }
}
