//! Writing the audit log. An entry that cannot be written is logged as an error
//! rather than undoing the change it describes, which has already happened.

use serde_json::Value;

use crate::auth::Caller;
use crate::store::{NewAudit, Store};

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
