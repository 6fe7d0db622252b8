//! Promotion and rollback: dragging a live release onto the next environment, or
//! choosing "Promote to…" or "Roll back to…", opens a dialog that shows what would
//! change and whether it is allowed, and starts the deployment on confirmation.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use super::short_commit;
use crate::model::{CommitView, DeployRequest, PromotionPreview, Role, UserView};
use crate::server_fns::{preview_promotion, start_deployment, start_rollback};

/// A live release being dragged: which project it belongs to and where it is live.
#[derive(Debug, Clone, PartialEq)]
pub struct DragSource {
    pub project: String,
    pub release_id: i64,
    pub environment_position: i32,
}

/// A change waiting for confirmation: a deployment (promotion) or a rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingChange {
    pub request: DeployRequest,
    pub rollback: bool,
}

/// Shared by the matrix cells and the dialog.
#[derive(Clone, Copy)]
pub struct Promotion {
    pub dragging: RwSignal<Option<DragSource>>,
    /// `Some` opens the dialog.
    pub pending: RwSignal<Option<PendingChange>>,
}

impl Promotion {
    pub fn new() -> Self {
        Self { dragging: RwSignal::new(None), pending: RwSignal::new(None) }
    }

    /// A drop is allowed from an environment onto the one right after it.
    pub fn accepts(&self, project: &str, environment_position: i32) -> bool {
        self.dragging.with(|d| {
            d.as_ref().is_some_and(|d| d.project == project && d.environment_position + 1 == environment_position)
        })
    }
}

impl Default for Promotion {
    fn default() -> Self {
        Self::new()
    }
}

fn commit_list(title: &'static str, commits: Vec<CommitView>) -> impl IntoView {
    (!commits.is_empty()).then(|| {
        let items = commits
            .into_iter()
            .map(|c| view! { <li><code>{short_commit(&c.sha)}</code> " " {c.subject} <span class="muted">" — " {c.author}</span></li> })
            .collect_view();
        view! { <h3>{title}</h3><ul class="commits">{items}</ul> }
    })
}

#[component]
pub fn PromoteDialog(promotion: Promotion, error: RwSignal<Option<String>>) -> impl IntoView {
    let preview = RwSignal::new(None::<Result<PromotionPreview, String>>);
    let busy = RwSignal::new(false);
    // During a freeze, only an admin can deploy, giving the reason.
    let admin = use_context::<UserView>().is_some_and(|u| u.role == Role::Admin);
    let override_reason = RwSignal::new(String::new());
    let navigate = use_navigate();
    Effect::new(move |_| {
        preview.set(None);
        override_reason.set(String::new());
        if let Some(PendingChange { request, rollback }) = promotion.pending.get() {
            spawn_local(async move {
                let result =
                    preview_promotion(request.project, request.release_id, request.environment, rollback).await;
                preview.set(Some(result.map_err(|e| e.message)));
            });
        }
    });
    let close = move || promotion.pending.set(None);
    let confirm = move |_| {
        let Some(PendingChange { request, rollback }) = promotion.pending.get_untracked() else { return };
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            let DeployRequest { project, release_id, environment, .. } = request;
            // The dialog showed that the release is older; confirming is the consent.
            let older = preview.with_untracked(|p| matches!(p, Some(Ok(p)) if p.older_than_live));
            let frozen = preview.with_untracked(|p| matches!(p, Some(Ok(p)) if p.frozen.is_some()));
            let freeze_override = frozen.then(|| override_reason.get_untracked());
            let started = match rollback {
                true => start_rollback(project, release_id, environment).await,
                false => start_deployment(project, release_id, environment, older, freeze_override).await,
            };
            match started {
                Ok(d) => {
                    promotion.pending.set(None);
                    navigate(&format!("/deployments/{}", d.id), Default::default());
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let body = move || match preview.get() {
        None => view! { <p class="muted">"Checking what changes…"</p> }.into_any(),
        Some(Err(message)) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Some(Ok(p)) => {
            let replaces = match p.replaces {
                Some(v) => format!("Replaces {v}, live in {} now.", p.environment),
                None => format!("Nothing is deployed in {} yet.", p.environment),
            };
            let guard = &p.protection;
            let protected = (guard.required_approvals > 0 || guard.wait_minutes > 0).then(|| {
                let mut rules = Vec::new();
                if guard.required_approvals > 0 {
                    rules.push(format!("{} approval(s) from someone else", guard.required_approvals));
                }
                if guard.wait_minutes > 0 {
                    rules.push(format!("a {} min wait", guard.wait_minutes));
                }
                let text = format!("🔒 {} is protected: it starts after {}.", p.environment, rules.join(" and "));
                view! { <p class="protected-note" data-testid="protected">{text}</p> }
            });
            let older = (p.older_than_live && !rollback_pending(promotion)).then(|| {
                let text = format!(
                    "⚠ {} is older than the release live in {}: deploying it takes the newer one back.",
                    p.release.version, p.environment
                );
                view! { <p class="protected-note" data-testid="older">{text}</p> }
            });
            let frozen =
                p.frozen.clone().filter(|_| !rollback_pending(promotion)).map(|why| {
                    let offer = admin.then(|| view! {
                    <label class="field">"Reason for deploying during the freeze"
                        <input type="text" data-testid="freeze-override" prop:value=move || override_reason.get()
                            on:input=move |ev| override_reason.set(event_target_value(&ev)) />
                    </label>
                });
                    view! { <p class="protected-note" data-testid="frozen">{format!("❄ {why}")}</p> {offer} }
                });
            view! {
                <p>{replaces}</p>
                {frozen}
                {older}
                {protected}
                {p.blocked.map(|why| view! { <p class="error" role="alert" data-testid="blocked">{why}</p> })}
                {commit_list("Commits it brings", p.added)}
                {commit_list("Commits it takes back", p.removed)}
            }
            .into_any()
        }
    };
    // Keyboard users land on the dialog: on Confirm once the preview allows it, else
    // on Cancel (Escape closes it either way).
    let confirm_button = NodeRef::<leptos::html::Button>::new();
    let cancel_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        let ready = preview.with(|p| p.is_some());
        if !ready || promotion.pending.with(Option::is_none) {
            return;
        }
        // Only a new preview moves the focus (not typing a reason); after the
        // buttons have been updated, so Confirm is no longer disabled.
        let allowed = untrack(|| allowed_now(preview, promotion, admin, override_reason));
        let target = if allowed { confirm_button } else { cancel_button };
        request_animation_frame(move || {
            if let Some(button) = target.get_untracked() {
                let _ = button.focus();
            }
        });
    });
    let allowed = move || allowed_now(preview, promotion, admin, override_reason);
    view! {
        <Show when=move || promotion.pending.with(Option::is_some)>
            <div class="backdrop" on:click=move |_| close()></div>
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="promote-title"
                on:keydown=move |ev| if ev.key() == "Escape" { close() }>
                <h2 id="promote-title">
                    {move || {
                        let rollback = promotion.pending.with(|p| p.as_ref().is_some_and(|p| p.rollback));
                        preview.with(|p| match (p, rollback) {
                            (Some(Ok(p)), false) if p.older_than_live => {
                                format!("Deploy the older {} to {}", p.release.version, p.environment)
                            }
                            (Some(Ok(p)), false) => format!("Promote {} to {}", p.release.version, p.environment),
                            (Some(Ok(p)), true) => format!("Roll {} back to {}", p.environment, p.release.version),
                            _ => "Checking…".to_string(),
                        })
                    }}
                </h2>
                {body}
                <div class="dialog-actions">
                    <button class="action" node_ref=confirm_button disabled=move || !allowed() || busy.get() on:click=confirm.clone()>
                        {move || {
                            let older = preview.with(|p| matches!(p, Some(Ok(p)) if p.older_than_live));
                            match (rollback_pending(promotion), older) {
                                (true, _) => "Confirm rollback",
                                (false, true) => "Deploy the older release",
                                (false, false) => "Confirm promotion",
                            }
                        }}
                    </button>
                    <button class="secondary" node_ref=cancel_button on:click=move |_| close()>"Cancel"</button>
                </div>
            </div>
        </Show>
    }
}

fn rollback_pending(promotion: Promotion) -> bool {
    promotion.pending.with(|p| p.as_ref().is_some_and(|p| p.rollback))
}

/// Whether the change may be confirmed now: allowed by the rules, and during a freeze
/// only by an admin who gave a reason.
fn allowed_now(
    preview: RwSignal<Option<Result<PromotionPreview, String>>>,
    promotion: Promotion,
    admin: bool,
    override_reason: RwSignal<String>,
) -> bool {
    let rollback = rollback_pending(promotion);
    preview.with(|p| match p {
        Some(Ok(p)) if p.blocked.is_some() => false,
        Some(Ok(p)) if p.frozen.is_some() && !rollback => admin && !override_reason.with(|r| r.trim().is_empty()),
        Some(Ok(_)) => true,
        _ => false,
    })
}
