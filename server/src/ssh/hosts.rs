//! What administrators do with SSH hosts: see Ferry's public key and rotate it; add,
//! change and remove an environment's hosts; check a connection and trust the host
//! key it showed. Which hosts an environment deploys to decides where the project's
//! code runs and where its secrets go, so changing them is for administrators only.

use std::collections::BTreeMap;

use ferry_app::error::AppError;
use ferry_app::model::{EnvironmentView, Role, SshCheckView, SshHostRequest, SshHostView, SshKeyView, TrustHostKey};
use serde_json::json;

use super::keys::{ferry_keys, host_key_context, parse_private, public_of, rotate};
use super::session::{fingerprint, parse_public_key, trusted_fingerprint, ConnectError};
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::services::{audit, gate, Handles};
use crate::store::{is_unique_violation, SshHostFields, SshHostRow};

/// Where releases go when the request names no directory.
pub const DEFAULT_DEPLOY_DIR: &str = "/srv/ferry";

pub async fn ferry_key(s: &Handles, c: &Caller) -> Result<SshKeyView, AppError> {
    c.require_global(Role::Admin, "reading Ferry's SSH key")?;
    key_view(s).await
}

pub async fn rotate_key(s: &Handles, c: &Caller) -> Result<SshKeyView, AppError> {
    c.require_global(Role::Admin, "rotating Ferry's SSH key")?;
    let before = key_view(s).await?;
    rotate(&s.store, &s.vault).await.or_internal("rotating Ferry's SSH key")?;
    let after = key_view(s).await?;
    let detail = json!({"before": before.fingerprint, "after": after.fingerprint});
    audit::record(&s.store, c, "ssh.key_rotated", &after.fingerprint, detail).await;
    Ok(after)
}

async fn key_view(s: &Handles) -> Result<SshKeyView, AppError> {
    let keys = ferry_keys(&s.store, &s.vault).await.or_internal("reading Ferry's SSH key")?;
    let (newest, _) = keys.first().ok_or("Ferry has no SSH key").or_internal("reading Ferry's SSH key")?;
    let fingerprint = public_of(&newest.public_key).map(|k| fingerprint(&k)).unwrap_or_default();
    Ok(SshKeyView {
        public_key: newest.public_key.clone(),
        fingerprint,
        created_at: crate::store::to_time(newest.created_at),
        previous: keys.get(1).map(|(row, _)| row.public_key.clone()),
    })
}

/// The environment, for someone with `needed` on its project.
async fn environment(
    s: &Handles,
    c: &Caller,
    slug: &str,
    name: &str,
    needed: Role,
    what: &str,
) -> Result<EnvironmentView, AppError> {
    let project = gate::project(s, c, slug, needed, what).await?;
    // A preview runs on the hosts of the environment it borrows: it has none of its own.
    let found = project.lifecycle().find(|e| e.name == name).cloned();
    found.ok_or_else(|| AppError::not_found(format!("project `{slug}` has no environment `{name}`")))
}

pub async fn list(s: &Handles, c: &Caller, slug: &str, env: &str) -> Result<Vec<SshHostView>, AppError> {
    let environment = environment(s, c, slug, env, Role::Maintainer, "listing SSH hosts").await?;
    let rows = s.store.ssh_hosts(environment.id).await.or_internal("listing SSH hosts")?;
    Ok(rows.into_iter().map(view).collect())
}

pub async fn add(
    s: &Handles,
    c: &Caller,
    slug: &str,
    env: &str,
    request: &SshHostRequest,
) -> Result<SshHostView, AppError> {
    c.require_global(Role::Admin, "adding an SSH host")?;
    let environment = environment(s, c, slug, env, Role::Admin, "adding an SSH host").await?;
    let checked = Checked::of(request)?;
    let added = s
        .store
        .add_ssh_host(environment.id, &checked.fields(request), checked.host_key.as_deref(), None)
        .await
        .map_err(|e| duplicate_or_internal(e, &request.name))?;
    let added = seal_own_key(s, added, checked.private_key.as_deref()).await?;
    let detail = json!({"address": added.address, "port": added.port, "user": added.login, "jump": added.jump});
    audit::record(&s.store, c, "ssh_host.add", &format!("{slug}/{env}/{}", added.name), detail).await;
    Ok(view(added))
}

pub async fn update(
    s: &Handles,
    c: &Caller,
    slug: &str,
    env: &str,
    id: i64,
    request: &SshHostRequest,
) -> Result<SshHostView, AppError> {
    c.require_global(Role::Admin, "changing an SSH host")?;
    let environment = environment(s, c, slug, env, Role::Admin, "changing an SSH host").await?;
    let before = host_of(s, environment.id, id).await?;
    let checked = Checked::of(request)?;
    let updated = s
        .store
        .update_ssh_host(before.id, &checked.fields(request), checked.host_key.as_deref(), None)
        .await
        .map_err(|e| duplicate_or_internal(e, &request.name))?
        .ok_or_else(|| AppError::not_found(format!("no SSH host {id}")))?;
    let updated = seal_own_key(s, updated, checked.private_key.as_deref()).await?;
    let detail = json!({
        "before": {"address": before.address, "port": before.port, "user": before.login, "jump": before.jump},
        "after": {"address": updated.address, "port": updated.port, "user": updated.login, "jump": updated.jump},
    });
    audit::record(&s.store, c, "ssh_host.update", &format!("{slug}/{env}/{}", updated.name), detail).await;
    Ok(view(updated))
}

pub async fn remove(s: &Handles, c: &Caller, slug: &str, env: &str, id: i64) -> Result<(), AppError> {
    c.require_global(Role::Admin, "removing an SSH host")?;
    let environment = environment(s, c, slug, env, Role::Admin, "removing an SSH host").await?;
    let host = host_of(s, environment.id, id).await?;
    s.store.remove_ssh_host(host.id).await.or_internal("removing an SSH host")?;
    let detail = json!({"address": host.address, "port": host.port});
    audit::record(&s.store, c, "ssh_host.remove", &format!("{slug}/{env}/{}", host.name), detail).await;
    Ok(())
}

/// Connects, and runs a command there when the host key is trusted: what it saw, and
/// the key to trust when it is not trusted yet (or changed).
pub async fn check(s: &Handles, c: &Caller, slug: &str, env: &str, id: i64) -> Result<SshCheckView, AppError> {
    c.require_global(Role::Admin, "checking an SSH host")?;
    let environment = environment(s, c, slug, env, Role::Admin, "checking an SSH host").await?;
    let host = host_of(s, environment.id, id).await?;
    let jump_label = super::connector::route(&host).ok().and_then(|r| r.jump).map(|j| j.label());
    let outcome = s.deployer.ssh.try_connect(&host).await;
    let for_jump = |endpoint: &str| jump_label.as_deref() == Some(endpoint);
    let view = match outcome {
        Ok(session) => {
            let ran = session.exec("true").await.is_ok();
            session.close().await;
            SshCheckView {
                ok: ran,
                presented_key: host.host_key.clone(),
                presented_fingerprint: host.host_key.as_deref().map(trusted_fingerprint),
                trusted: true,
                jump: false,
                message: if ran {
                    format!("Signed in to {} as {} and ran a command.", host.address, host.login)
                } else {
                    format!("Signed in to {}, but could not run a command there.", host.address)
                },
            }
        }
        Err(error) => {
            let message = error.to_string();
            match error {
                ConnectError::Untrusted { endpoint, presented } | ConnectError::Changed { endpoint, presented, .. } => {
                    SshCheckView {
                        ok: false,
                        presented_key: presented.to_openssh().ok(),
                        presented_fingerprint: Some(fingerprint(&presented)),
                        trusted: false,
                        jump: for_jump(&endpoint),
                        message,
                    }
                }
                ConnectError::Refused { endpoint } => SshCheckView {
                    ok: false,
                    presented_key: None,
                    presented_fingerprint: None,
                    trusted: true,
                    jump: for_jump(&endpoint),
                    message,
                },
                ConnectError::Unreachable { endpoint, .. } | ConnectError::Other { endpoint, .. } => SshCheckView {
                    ok: false,
                    presented_key: None,
                    presented_fingerprint: None,
                    trusted: false,
                    jump: for_jump(&endpoint),
                    message,
                },
            }
        }
    };
    Ok(view)
}

/// Trusts the host key a check showed (or one given by hand).
pub async fn trust(
    s: &Handles,
    c: &Caller,
    slug: &str,
    env: &str,
    id: i64,
    request: &TrustHostKey,
) -> Result<SshHostView, AppError> {
    c.require_global(Role::Admin, "trusting an SSH host key")?;
    let environment = environment(s, c, slug, env, Role::Admin, "trusting an SSH host key").await?;
    let host = host_of(s, environment.id, id).await?;
    let key = parse_public_key(&request.host_key).map_err(|e| AppError::bad_request(format!("host_key: {e}")))?;
    let line = key.to_openssh().map_err(|e| AppError::bad_request(format!("host_key: {e}")))?;
    let trusted = s
        .store
        .trust_ssh_host_key(host.id, request.jump, &line)
        .await
        .or_internal("trusting a host key")?
        .ok_or_else(|| AppError::not_found(format!("no SSH host {id}")))?;
    let detail = json!({"fingerprint": fingerprint(&key), "jump": request.jump});
    audit::record(&s.store, c, "ssh_host.trust", &format!("{slug}/{env}/{}", host.name), detail).await;
    Ok(view(trusted))
}

async fn host_of(s: &Handles, environment_id: i64, id: i64) -> Result<SshHostRow, AppError> {
    match s.store.ssh_host(id).await.or_internal("reading an SSH host")? {
        Some(host) if host.environment_id == environment_id => Ok(host),
        _ => Err(AppError::not_found(format!("this environment has no SSH host {id}"))),
    }
}

async fn seal_own_key(s: &Handles, host: SshHostRow, private_key: Option<&str>) -> Result<SshHostRow, AppError> {
    let Some(private_key) = private_key else { return Ok(host) };
    // Sealed to the host's row: it opens for this host only.
    let sealed = s.vault.seal(&host_key_context(host.id), private_key).or_internal("sealing a host's key")?;
    let fields = SshHostFields {
        name: &host.name,
        address: &host.address,
        port: host.port as u16,
        login: &host.login,
        deploy_dir: &host.deploy_dir,
        jump: host.jump.as_deref(),
        vars: &host.vars(),
    };
    s.store
        .update_ssh_host(host.id, &fields, None, Some(&sealed))
        .await
        .or_internal("keeping the host's key")?
        .ok_or_else(|| AppError::not_found("the SSH host is gone"))
}

fn duplicate_or_internal(e: sqlx::Error, name: &str) -> AppError {
    if is_unique_violation(&e) {
        return AppError::conflict(format!("this environment already has an SSH host named `{name}`"));
    }
    crate::error::internal("writing an SSH host", e)
}

pub fn view(row: SshHostRow) -> SshHostView {
    SshHostView {
        vars: row.vars(),
        id: row.id,
        environment_id: row.environment_id,
        name: row.name,
        address: row.address,
        port: row.port as u16,
        user: row.login,
        deploy_dir: row.deploy_dir,
        jump: row.jump,
        host_key: row.host_key.as_deref().map(trusted_fingerprint),
        jump_host_key: row.jump_host_key.as_deref().map(trusted_fingerprint),
        own_key: row.sealed_private_key.is_some(),
    }
}

/// A request's values, checked; an error names the field.
struct Checked {
    port: u16,
    deploy_dir: String,
    jump: Option<String>,
    host_key: Option<String>,
    private_key: Option<String>,
}

impl Checked {
    fn of(request: &SshHostRequest) -> Result<Self, AppError> {
        let bad = |field: &str, why: &str| AppError::bad_request(format!("{field}: {why}"));
        let name = request.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(bad("name", "give 1 to 64 characters"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            return Err(bad("name", "use letters, digits, `.`, `-` and `_`"));
        }
        let address = request.address.trim();
        if address.is_empty()
            || address.len() > 253
            || address.chars().any(|c| c.is_whitespace() || c == '@' || c == '/')
        {
            return Err(bad("address", "give a host name or an IP address"));
        }
        let user = request.user.trim();
        if user.is_empty() || user.len() > 32 || user.chars().any(|c| c.is_whitespace() || matches!(c, '@' | ':' | '/'))
        {
            return Err(bad("user", "give the user name Ferry signs in as"));
        }
        let port = request.port.unwrap_or(22);
        if port == 0 {
            return Err(bad("port", "give a port from 1 to 65535"));
        }
        let deploy_dir = request.deploy_dir.as_deref().map(str::trim).filter(|d| !d.is_empty());
        let deploy_dir = deploy_dir.unwrap_or(DEFAULT_DEPLOY_DIR).trim_end_matches('/').to_string();
        let path = std::path::Path::new(&deploy_dir);
        if !path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(bad("deploy_dir", "give an absolute path without `..`"));
        }
        if deploy_dir.is_empty() || deploy_dir.contains('\n') {
            return Err(bad("deploy_dir", "give an absolute path other than /"));
        }
        let jump = request.jump.as_deref().map(str::trim).filter(|j| !j.is_empty()).map(str::to_string);
        if let Some(jump) = &jump {
            super::connector::parse_jump(jump, user).map_err(|e| bad("jump", &e))?;
        }
        check_vars(&request.vars).map_err(|e| bad("vars", &e))?;
        let host_key = match request.known_hosts.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            None => None,
            Some(text) => Some(known_host_line(text, address).map_err(|e| bad("known_hosts", &e))?),
        };
        let private_key = match request.private_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            None => None,
            Some(text) => {
                parse_private(text).map_err(|e| bad("private_key", &e))?;
                Some(format!("{text}\n"))
            }
        };
        Ok(Checked { port, deploy_dir, jump, host_key, private_key })
    }

    fn fields<'a>(&'a self, request: &'a SshHostRequest) -> SshHostFields<'a> {
        SshHostFields {
            name: request.name.trim(),
            address: request.address.trim(),
            port: self.port,
            login: request.user.trim(),
            deploy_dir: &self.deploy_dir,
            jump: self.jump.as_deref(),
            vars: &request.vars,
        }
    }
}

fn check_vars(vars: &BTreeMap<String, String>) -> Result<(), String> {
    for name in vars.keys() {
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!("`{name}` is not a variable name (letters, digits and _, not first a digit)"));
        }
    }
    Ok(())
}

/// The host key for `address` out of pasted `known_hosts` lines (or one public key
/// line): the line naming the address, else the only line. Hashed host names cannot
/// be matched, so a file of several lines must name it in clear.
fn known_host_line(text: &str, address: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let naming = lines.iter().find(|l| {
        l.split_whitespace().next().is_some_and(|hosts| {
            hosts.split(',').any(|h| h == address || h.trim_start_matches('[').starts_with(&format!("{address}]:")))
        })
    });
    let line = match (naming, lines.as_slice()) {
        (Some(line), _) => *line,
        (None, [only]) => *only,
        (None, []) => return Err("no key in it".into()),
        (None, _) => return Err(format!("no line names {address}")),
    };
    let key = parse_public_key(line)?;
    key.to_openssh().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGf5lVn2p8lFA3qX6QzNXRdC0gL4yk5yXbH1hWcXn0rG";

    #[test]
    fn a_known_hosts_paste_gives_the_addresss_key() {
        let text = format!("# comment\nother.example {KEY}x\n10.0.0.5,web {KEY}\n");
        assert_eq!(known_host_line(&text, "10.0.0.5").unwrap().split(' ').nth(1), KEY.split(' ').nth(1));
        assert_eq!(known_host_line(KEY, "anything").unwrap().split(' ').nth(1), KEY.split(' ').nth(1));
        assert!(known_host_line("a b\nc d", "x").unwrap_err().contains("no line names x"));
        let port = format!("[10.0.0.5]:2222 {KEY}\nz {KEY}");
        assert!(known_host_line(&port, "10.0.0.5").is_ok());
    }

    #[test]
    fn bad_requests_name_their_field() {
        let good = SshHostRequest {
            name: "web-1".into(),
            address: "10.0.0.5".into(),
            user: "deploy".into(),
            ..Default::default()
        };
        assert!(Checked::of(&good).is_ok());
        for (request, field) in [
            (SshHostRequest { name: "a b".into(), ..good.clone() }, "name"),
            (SshHostRequest { address: "".into(), ..good.clone() }, "address"),
            (SshHostRequest { user: "a@b".into(), ..good.clone() }, "user"),
            (SshHostRequest { port: Some(0), ..good.clone() }, "port"),
            (SshHostRequest { deploy_dir: Some("srv".into()), ..good.clone() }, "deploy_dir"),
            (SshHostRequest { deploy_dir: Some("/srv/../etc".into()), ..good.clone() }, "deploy_dir"),
            (SshHostRequest { jump: Some("x:y".into()), ..good.clone() }, "jump"),
            (SshHostRequest { vars: BTreeMap::from([("1X".into(), "v".into())]), ..good.clone() }, "vars"),
            (SshHostRequest { known_hosts: Some("nonsense".into()), ..good.clone() }, "known_hosts"),
            (SshHostRequest { private_key: Some("nonsense".into()), ..good.clone() }, "private_key"),
        ] {
            let err = Checked::of(&request).err().unwrap_or_else(|| panic!("{field} accepted"));
            assert!(err.message.starts_with(field), "{field}: {}", err.message);
        }
    }
}
