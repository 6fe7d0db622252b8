//! Writing and reading the audit log. An entry that cannot be written is logged as an error
//! rather than undoing the change it describes, which has already happened.

use ferry_app::error::AppError;
use ferry_app::model::{AuditEntry, AuditQuery, Role};
use serde_json::Value;

use super::Handles;
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::store::{AuditFilter, NewAudit, Store};

/// Records that `caller` did `action` to `target`.
pub async fn record(store: &Store, caller: &Caller, action: &str, target: &str, detail: Value) {
    let actor = match &caller.token {
        Some(t) => format!("{} (token {})", caller.login, t.id),
        None => caller.login.clone(),
    };
    let entry = NewAudit {
        actor_id: Some(caller.user_id),
        actor: &actor,
        action,
        target,
        detail,
        address: caller.address.clone(),
    };
    write(store, entry).await;
}

/// Records something done before anyone is known, such as a failed sign-in.
pub async fn record_anonymous(store: &Store, actor: &str, action: &str, address: Option<String>, detail: Value) {
    let entry = NewAudit { actor_id: None, actor, action, target: "ferry", detail, address };
    write(store, entry).await;
}

async fn write(store: &Store, entry: NewAudit<'_>) {
    let action = entry.action.to_string();
    if let Err(error) = store.append_audit(entry).await {
        tracing::error!(%error, action, "cannot write the audit log");
    }
}

fn filter(query: &AuditQuery) -> Result<AuditFilter, AppError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request("limit: must be between 1 and 1000"));
    }
    Ok(AuditFilter {
        actor: query.actor.clone().filter(|a| !a.is_empty()),
        action: query.action.clone().filter(|a| !a.is_empty()),
        since: query.since.map(|t| t.timestamp_millis()),
        until: query.until.map(|t| t.timestamp_millis()),
        before: query.before,
        limit,
    })
}

/// One page of the audit log, for administrators.
pub async fn list(s: &Handles, c: &Caller, query: &AuditQuery) -> Result<Vec<AuditEntry>, AppError> {
    c.require_global(Role::Admin, "reading the audit log")?;
    s.store.audit(&filter(query)?).await.or_internal("reading the audit log")
}

/// Every entry that matches, for export.
pub async fn export(s: &Handles, c: &Caller, query: &AuditQuery) -> Result<Vec<AuditEntry>, AppError> {
    c.require_global(Role::Admin, "reading the audit log")?;
    let mut filter = AuditFilter { limit: EXPORT_PAGE, ..filter(query)? };
    let mut all = Vec::new();
    loop {
        let page = s.store.audit(&filter).await.or_internal("reading the audit log")?;
        let full = page.len() as i64 == EXPORT_PAGE;
        filter.before = page.last().map(|e| e.id);
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

const EXPORT_PAGE: i64 = 1000;
