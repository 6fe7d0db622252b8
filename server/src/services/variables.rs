//! Variables and secrets per project and environment: listed (secrets without their
//! value), set and removed by maintainers, and resolved into a deployment's
//! environment, where secrets are opened only for the processes that need them.

use std::collections::BTreeMap;

use ferry_app::error::AppError;
use ferry_app::model::{Role, SetVariable, VariableView};
use serde_json::json;

use super::Handles;
use super::{audit, gate};
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::store::{to_time, Store, Stored};
use crate::vault::Vault;

/// Binds a sealed value to its place, so it cannot be moved to another.
fn context(project_id: i64, environment: &str, name: &str) -> String {
    format!("{project_id}/{environment}/{name}")
}

fn check_name(name: &str) -> Result<(), AppError> {
    let valid = name.len() <= 100
        && name.chars().next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(AppError::bad_request(format!("name: `{name}` is not an environment variable name (A-Z, 0-9, _)")));
    }
    if name.starts_with("FERRY_") {
        return Err(AppError::bad_request("name: FERRY_ variables are set by Ferry itself"));
    }
    Ok(())
}

pub async fn list(s: &Handles, c: &Caller, slug: &str) -> Result<Vec<VariableView>, AppError> {
    let project = gate::project(s, c, slug, Role::Viewer, "listing variables").await?;
    let rows = s.store.variables(project.id).await.or_internal("listing variables")?;
    Ok(rows
        .into_iter()
        .map(|row| VariableView {
            secret: row.sealed.is_some(),
            name: row.name,
            environment: Some(row.environment).filter(|e| !e.is_empty()),
            value: row.value,
            updated_at: to_time(row.updated_at),
            updated_by: row.updated_by,
        })
        .collect())
}

pub async fn set(s: &Handles, c: &Caller, slug: &str, change: &SetVariable) -> Result<(), AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "changing variables").await?;
    check_name(&change.name)?;
    let environment = change.environment.clone().unwrap_or_default();
    if !environment.is_empty() && !project.lifecycle().any(|e| e.name == environment) {
        return Err(AppError::not_found(format!("project `{slug}` has no environment `{environment}`")));
    }
    if change.value.len() > 16_384 {
        return Err(AppError::bad_request("value: at most 16 KiB"));
    }
    let sealed;
    // A value pasted from a file ends with its newline, which no one means: kept, it
    // would make the secret a line of its own and leave its text unmasked in logs.
    let trimmed = change.value.trim_end_matches(['\n', '\r']);
    let value = if change.secret {
        let place = context(project.id, &environment, &change.name);
        sealed = s.vault.seal(&place, trimmed).map_err(|e| crate::error::internal("sealing a secret", e))?;
        Stored::Sealed(&sealed)
    } else {
        Stored::Plain(trimmed)
    };
    s.store
        .set_variable(project.id, &environment, &change.name, value, &c.login)
        .await
        .or_internal("setting a variable")?;
    // The audit log names the change, never a secret's value.
    let shown = if change.secret { json!(null) } else { json!(change.value) };
    let detail = json!({"environment": change.environment, "secret": change.secret, "value": shown});
    audit::record(&s.store, c, "variable.set", &format!("{slug}/{}", change.name), detail).await;
    Ok(())
}

pub async fn delete(
    s: &Handles,
    c: &Caller,
    slug: &str,
    environment: Option<&str>,
    name: &str,
) -> Result<(), AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "changing variables").await?;
    if !s.store.delete_variable(project.id, environment.unwrap_or(""), name).await.or_internal("removing a variable")? {
        return Err(AppError::not_found(format!("no variable `{name}` there")));
    }
    let detail = json!({"environment": environment});
    audit::record(&s.store, c, "variable.delete", &format!("{slug}/{name}"), detail).await;
    Ok(())
}

/// A deployment's variables (an environment's own override the project-wide ones),
/// and the values of its secrets, which logs must never show.
pub async fn resolve(
    store: &Store,
    vault: &Vault,
    project_id: i64,
    environment: &str,
) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let rows = store.variables(project_id).await.map_err(|e| e.to_string())?;
    let mut vars = BTreeMap::new();
    let mut secrets = Vec::new();
    // Project-wide rows sort first (''), so an environment's value replaces them.
    for row in rows.into_iter().filter(|r| r.environment.is_empty() || r.environment == environment) {
        let value = match (&row.value, &row.sealed) {
            (Some(value), _) => value.clone(),
            (None, Some(sealed)) => {
                let place = context(project_id, &row.environment, &row.name);
                let opened = vault.open_value(&place, sealed).map_err(|e| format!("secret {}: {e}", row.name))?;
                secrets.push(opened.clone());
                opened
            }
            (None, None) => continue,
        };
        vars.insert(row.name, value);
    }
    Ok((vars, secrets))
}
