//! `ferry ssh …`: Ferry's public key, and an environment's SSH hosts (list, add,
//! remove, check and trust), for administrators who script their servers.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Subcommand;
use ferry_app::model::{SshCheckView, SshHostView, SshKeyView};
use serde_json::json;

use super::client::Client;
use super::Remote;

#[derive(Debug, Clone, Subcommand)]
pub enum SshCommand {
    /// Prints Ferry's public key, for the hosts' `~/.ssh/authorized_keys`.
    Key {
        /// Makes a new key pair first (the old one still signs in until the next rotation).
        #[arg(long)]
        rotate: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Lists an environment's SSH hosts.
    Hosts {
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Adds an SSH host to an environment.
    Add {
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        /// How the timeline names it.
        #[arg(long)]
        name: String,
        #[arg(long)]
        address: String,
        #[arg(long, default_value_t = 22)]
        port: u16,
        /// The user Ferry signs in as.
        #[arg(long)]
        user: String,
        /// Where releases go [default: /srv/ferry].
        #[arg(long)]
        deploy_dir: Option<String>,
        /// A jump host: `[user@]address[:port]`.
        #[arg(long)]
        jump: Option<String>,
        /// A variable for this host's steps, `NAME=value` (repeat it).
        #[arg(long = "var")]
        vars: Vec<String>,
        /// A file of `known_hosts` lines (or `ssh-keyscan` output): its key is trusted.
        #[arg(long)]
        known_hosts: Option<std::path::PathBuf>,
        /// A private key file to sign in with instead of Ferry's key (kept sealed).
        #[arg(long)]
        private_key: Option<std::path::PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Removes an SSH host from an environment.
    Remove {
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        /// The host's name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Connects to a host; with `--trust`, trusts the host key it presents.
    Check {
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        /// The host's name.
        name: String,
        /// Trust the key the host presents (compare its fingerprint first).
        #[arg(long)]
        trust: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(command: SshCommand) -> Result<ExitCode, String> {
    match command {
        SshCommand::Key { rotate, remote } => {
            let client = Client::from(&remote)?;
            let key: SshKeyView = match rotate {
                true => client.post("/api/v1/ssh-key/rotate", &json!({})).await?,
                false => client.get("/api/v1/ssh-key").await?,
            };
            println!("{}", key.public_key);
            eprintln!("{}", key.fingerprint);
            Ok(ExitCode::SUCCESS)
        }
        SshCommand::Hosts { project, environment, remote } => {
            let client = Client::from(&remote)?;
            for host in list(&client, &project, &environment).await? {
                let trusted = host.host_key.as_deref().unwrap_or("host key not trusted yet");
                let jump = host.jump.as_deref().map(|j| format!(" via {j}")).unwrap_or_default();
                println!(
                    "{:<20} {}@{}:{}{jump}  {}  {trusted}",
                    host.name, host.user, host.address, host.port, host.deploy_dir
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SshCommand::Add {
            project,
            environment,
            name,
            address,
            port,
            user,
            deploy_dir,
            jump,
            vars,
            known_hosts,
            private_key,
            remote,
        } => {
            let client = Client::from(&remote)?;
            let mut variables = BTreeMap::new();
            for var in &vars {
                let (key, value) = var.split_once('=').ok_or_else(|| format!("--var `{var}`: give NAME=value"))?;
                variables.insert(key.to_string(), value.to_string());
            }
            let read = |path: &std::path::Path, flag: &str| {
                std::fs::read_to_string(path).map_err(|e| format!("--{flag} {}: {e}", path.display()))
            };
            let body = json!({
                "name": name, "address": address, "port": port, "user": user, "deploy_dir": deploy_dir,
                "jump": jump, "vars": variables,
                "known_hosts": known_hosts.as_deref().map(|p| read(p, "known-hosts")).transpose()?,
                "private_key": private_key.as_deref().map(|p| read(p, "private-key")).transpose()?,
            });
            let host: SshHostView = client.post(&hosts_path(&project, &environment), &body).await?;
            println!("added {} ({}@{}:{})", host.name, host.user, host.address, host.port);
            if host.host_key.is_none() {
                println!("next: `ferry ssh check --project {project} --env {environment} {} --trust`", host.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        SshCommand::Remove { project, environment, name, remote } => {
            let client = Client::from(&remote)?;
            let host = find(&client, &project, &environment, &name).await?;
            client.delete(&format!("{}/{}", hosts_path(&project, &environment), host.id)).await?;
            println!("removed {name}");
            Ok(ExitCode::SUCCESS)
        }
        SshCommand::Check { project, environment, name, trust, remote } => {
            let client = Client::from(&remote)?;
            let host = find(&client, &project, &environment, &name).await?;
            let path = format!("{}/{}", hosts_path(&project, &environment), host.id);
            let check: SshCheckView = client.post(&format!("{path}/check"), &json!({})).await?;
            println!("{}", check.message);
            if let Some(fingerprint) = &check.presented_fingerprint {
                println!("host key: {fingerprint}{}", if check.trusted { " (trusted)" } else { "" });
            }
            match (trust, check.trusted, check.presented_key) {
                (true, false, Some(key)) => {
                    let body = json!({"host_key": key, "jump": check.jump});
                    let _: SshHostView = client.post(&format!("{path}/trust"), &body).await?;
                    println!("trusted; checking again");
                    let again: SshCheckView = client.post(&format!("{path}/check"), &json!({})).await?;
                    println!("{}", again.message);
                    Ok(if again.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
                }
                _ => Ok(if check.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }),
            }
        }
    }
}

fn hosts_path(project: &str, environment: &str) -> String {
    format!("/api/v1/projects/{project}/environments/{environment}/ssh-hosts")
}

async fn list(client: &Client, project: &str, environment: &str) -> Result<Vec<SshHostView>, String> {
    client.get(&hosts_path(project, environment)).await
}

async fn find(client: &Client, project: &str, environment: &str, name: &str) -> Result<SshHostView, String> {
    list(client, project, environment)
        .await?
        .into_iter()
        .find(|h| h.name == name)
        .ok_or_else(|| format!("{project}/{environment} has no SSH host named `{name}`"))
}
