//! An environment's SSH hosts, on the project's settings page: Ferry's public key to
//! paste into `authorized_keys`, the hosts with the host key Ferry trusts, a check of
//! each connection that shows the key to trust, and a form to add one.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{SshCheckView, SshHostRequest, SshHostView, SshKeyView, TrustHostKey};
use crate::server_fns::{
    add_ssh_host, check_ssh_host, load_ssh_hosts, load_ssh_key, remove_ssh_host, trust_ssh_host_key,
};

/// `NAME=value` lines into variables; a line without `=` is an error naming it.
fn parse_vars(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once('=').ok_or_else(|| format!("vars: `{line}` is not NAME=value"))?;
        vars.insert(name.trim().to_string(), value.to_string());
    }
    Ok(vars)
}

#[component]
pub fn SshHostsEditor(project: String, environments: Vec<String>) -> impl IntoView {
    let key = RwSignal::new(None::<SshKeyView>);
    let hosts = RwSignal::new(Vec::<SshHostView>::new());
    let error = RwSignal::new(None::<String>);
    let environment = RwSignal::new(environments.first().cloned().unwrap_or_default());
    let checks = RwSignal::new(BTreeMap::<i64, SshCheckView>::new());
    let fields: [RwSignal<String>; 9] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let [name, address, port, user, deploy_dir, jump, vars, known_hosts, private_key] = fields;

    let load_key = move |rotate: bool| {
        spawn_local(async move {
            match load_ssh_key(rotate).await {
                Ok(k) => key.set(Some(k)),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    load_key(false);
    let refresh = {
        let project = project.clone();
        move || {
            let project = project.clone();
            spawn_local(async move {
                match load_ssh_hosts(project, environment.get_untracked()).await {
                    Ok(list) => hosts.set(list),
                    Err(e) => error.set(Some(e.message)),
                }
            })
        }
    };
    refresh();

    let add = {
        let (project, refresh) = (project.clone(), refresh.clone());
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let vars = match parse_vars(&vars.get_untracked()) {
                Ok(v) => v,
                Err(e) => return error.set(Some(e)),
            };
            let text = |s: RwSignal<String>| Some(s.get_untracked()).filter(|v| !v.trim().is_empty());
            let port = match port.get_untracked().trim() {
                "" => None,
                p => match p.parse::<u16>() {
                    Ok(p) => Some(p),
                    Err(_) => return error.set(Some("port: give a port from 1 to 65535".into())),
                },
            };
            let request = SshHostRequest {
                name: name.get_untracked(),
                address: address.get_untracked(),
                port,
                user: user.get_untracked(),
                deploy_dir: text(deploy_dir),
                jump: text(jump),
                vars,
                private_key: text(private_key),
                known_hosts: text(known_hosts),
            };
            let (project, refresh) = (project.clone(), refresh.clone());
            spawn_local(async move {
                match add_ssh_host(project, environment.get_untracked(), request).await {
                    Ok(_) => {
                        error.set(None);
                        for field in fields {
                            field.set(String::new());
                        }
                        refresh();
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let check = {
        let project = project.clone();
        move |id: i64| {
            let project = project.clone();
            spawn_local(async move {
                match check_ssh_host(project, environment.get_untracked(), id).await {
                    Ok(seen) => checks.update(|c| {
                        c.insert(id, seen);
                    }),
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let trust = {
        let (project, refresh, check) = (project.clone(), refresh.clone(), check.clone());
        move |id: i64, seen: SshCheckView| {
            let Some(host_key) = seen.presented_key else { return };
            let (project, refresh, check) = (project.clone(), refresh.clone(), check.clone());
            spawn_local(async move {
                let request = TrustHostKey { host_key, jump: seen.jump };
                match trust_ssh_host_key(project, environment.get_untracked(), id, request).await {
                    Ok(_) => {
                        refresh();
                        check(id);
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let remove = {
        let (project, refresh) = (project.clone(), refresh.clone());
        move |id: i64| {
            let (project, refresh) = (project.clone(), refresh.clone());
            spawn_local(async move {
                match remove_ssh_host(project, environment.get_untracked(), id).await {
                    Ok(()) => refresh(),
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let rows = move || {
        let (check, trust, remove) = (check.clone(), trust.clone(), remove.clone());
        hosts
            .get()
            .into_iter()
            .map(|host| {
                let (check, trust, remove) = (check.clone(), trust.clone(), remove.clone());
                let id = host.id;
                let seen = move || checks.get().get(&id).cloned();
                let jump = host.jump.clone().map(|j| format!(" via {j}")).unwrap_or_default();
                view! {
                    <tr data-ssh-host=host.name.clone()>
                        <th scope="row">{host.name.clone()}</th>
                        <td>{format!("{}@{}:{}{jump}", host.user, host.address, host.port)}</td>
                        <td><code>{host.deploy_dir.clone()}</code></td>
                        <td class="host-key">{host.host_key.clone().unwrap_or_else(|| "not trusted yet".into())}</td>
                        <td>
                            <button class="action" on:click=move |_| check(id)>"Check connection"</button>
                            " "
                            <button class="action danger" on:click=move |_| remove(id)>"Remove"</button>
                            {move || seen().map(|seen| {
                                let offer = (!seen.trusted && seen.presented_key.is_some()).then(|| {
                                    let (trust, seen) = (trust.clone(), seen.clone());
                                    let whose = if seen.jump { "Trust the jump host's key" } else { "Trust this host key" };
                                    view! { <button class="action" on:click=move |_| trust(id, seen.clone())>{whose}</button> }
                                });
                                view! {
                                    <div class="ssh-check" role="status" data-ok=seen.ok.to_string()>
                                        <p>{seen.message.clone()}</p>
                                        {seen.presented_fingerprint.clone().map(|f| view! { <p>"Host key: " <code>{f}</code></p> })}
                                        {offer}
                                    </div>
                                }
                            })}
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    let change_environment = {
        let refresh = refresh.clone();
        move |ev| {
            environment.set(event_target_value(&ev));
            checks.set(BTreeMap::new());
            refresh();
        }
    };
    view! {
        <section class="ssh-hosts">
            <h2>"SSH hosts"</h2>
            <p class="muted">"Hosts an environment deploys to over SSH, with nothing of Ferry installed on them. Add Ferry's public key to each host's "
                <code>"~/.ssh/authorized_keys"</code> " (or give a host a private key of its own), then check the connection and trust the host key it shows: from then on another key is refused."</p>
            {move || key.get().map(|k| view! {
                <div class="ssh-key">
                    <label for="ferry-ssh-key">"Ferry's public key"</label>
                    <textarea id="ferry-ssh-key" readonly rows="2">{k.public_key.clone()}</textarea>
                    <p class="muted">{format!("{} · ", k.fingerprint)}
                        <button class="action" on:click=move |_| load_key(true)>"Rotate"</button>
                        {k.previous.is_some().then_some(" The previous key still signs in until the next rotation.")}
                    </p>
                </div>
            })}
            <p>
                <label>"Environment " <select aria-label="SSH hosts of environment" on:change=change_environment>
                    {environments.iter().map(|e| view! { <option value=e.clone()>{e.clone()}</option> }).collect_view()}
                </select></label>
            </p>
            <table class="settings ssh-host-list">
                <thead><tr><th>"Name"</th><th>"Connects to"</th><th>"Releases in"</th><th>"Trusted host key"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <form class="ssh-host-form" on:submit=add>
                <h3>"Add an SSH host"</h3>
                <label>"Name " <input required prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                <label>"Address " <input required prop:value=address on:input=move |ev| address.set(event_target_value(&ev)) /></label>
                <label>"Port " <input inputmode="numeric" placeholder="22" prop:value=port on:input=move |ev| port.set(event_target_value(&ev)) /></label>
                <label>"User " <input required prop:value=user on:input=move |ev| user.set(event_target_value(&ev)) /></label>
                <label>"Deploy directory " <input placeholder="/srv/ferry" prop:value=deploy_dir on:input=move |ev| deploy_dir.set(event_target_value(&ev)) /></label>
                <label>"Jump host " <input placeholder="user@bastion:22" prop:value=jump on:input=move |ev| jump.set(event_target_value(&ev)) /></label>
                <label>"Variables (NAME=value, one per line) " <textarea rows="2" prop:value=vars on:input=move |ev| vars.set(event_target_value(&ev))></textarea></label>
                <label>"known_hosts line (optional: trusted at once) " <textarea rows="2" prop:value=known_hosts on:input=move |ev| known_hosts.set(event_target_value(&ev))></textarea></label>
                <label>"Private key of its own (optional, kept sealed) " <textarea rows="2" prop:value=private_key on:input=move |ev| private_key.set(event_target_value(&ev))></textarea></label>
                <button class="action" type="submit">"Add host"</button>
            </form>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_read_one_per_line() {
        let vars = parse_vars("PORT=8080\n\n  GREETING=a=b \n").unwrap();
        assert_eq!(vars.get("PORT").map(String::as_str), Some("8080"));
        assert_eq!(vars.get("GREETING").map(String::as_str), Some("a=b"));
        assert!(parse_vars("nonsense").unwrap_err().contains("nonsense"));
    }
}
