//! What each CLI command does, printing for people and exiting for CI: 0 when it
//! worked (and, with `--wait`, the deployment succeeded), 1 when not.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use ferry_app::model::{DeploymentDetail, DeploymentState, DeploymentView, Matrix, ReleaseView, StepState};
use serde_json::json;

use super::client::{save, Client, Saved};
use super::Command;

pub async fn run(command: Command, mut cli: clap::Command) -> ExitCode {
    match dispatch(command, &mut cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("ferry: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, cli: &mut clap::Command) -> Result<ExitCode, String> {
    match command {
        Command::Login { url, token } => {
            let client = Client::new(&url, &token)?;
            let me: serde_json::Value = client.get("/auth/me").await?;
            let login = me["user"]["login"].as_str().ok_or("the server did not accept the token")?.to_string();
            let path = save(&Saved { url, token })?;
            println!("Logged in as {login}; saved to {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Deploy { project, environment, git_ref, release, version, wait, remote } => {
            let client = Client::from(&remote)?;
            let release = match (git_ref, release) {
                (Some(git_ref), _) => release_from_ref(&client, &project, &git_ref, version).await?,
                (None, Some(version)) => find_release(&client, &project, &version).await?,
                (None, None) => return Err("give --ref or --release".into()),
            };
            start(&client, "/api/v1/deployments", &project, &release, &environment, wait).await
        }
        Command::Promote { project, release, to, wait, remote } => {
            let client = Client::from(&remote)?;
            let release = find_release(&client, &project, &release).await?;
            start(&client, "/api/v1/deployments", &project, &release, &to, wait).await
        }
        Command::Rollback { project, environment, to, wait, remote } => {
            let client = Client::from(&remote)?;
            let release = find_release(&client, &project, &to).await?;
            start(&client, "/api/v1/rollbacks", &project, &release, &environment, wait).await
        }
        Command::Status { project, remote } => status(&Client::from(&remote)?, project.as_deref()).await,
        Command::Logs { id, follow, remote } => follow_deployment(&Client::from(&remote)?, id, follow, true).await,
        Command::Releases { project, remote } => {
            let client = Client::from(&remote)?;
            let releases: Vec<ReleaseView> = client.get(&format!("/api/v1/projects/{project}/releases")).await?;
            for r in releases {
                let bad = r.bad.as_ref().map(|b| format!("  (bad: {})", b.reason)).unwrap_or_default();
                println!(
                    "{:<24} {}  {}  {}{bad}",
                    r.version,
                    &r.git_commit[..r.git_commit.len().min(12)],
                    r.created_at.format("%Y-%m-%d %H:%M"),
                    r.source
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ssh { command } => super::ssh::run(command).await,
        Command::Repos { forge, search, forge_token, remote } => {
            super::imports::repositories(forge, search, forge_token, remote).await
        }
        Command::Import { source, slug, name, forge_token, no_hook, deploy_key, dry_run, remote } => {
            let wanted =
                super::imports::Import { source, slug, name, token: forge_token, no_hook, deploy_key, dry_run };
            super::imports::import(wanted, remote).await
        }
        Command::DeployKey { remote } => super::imports::deploy_key(remote).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, cli, "ferry", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        // main.rs answers it: it reads the server's settings, not a server.
        Command::Config { .. } => Err("`ferry config` is answered by the server binary's main".into()),
    }
}

/// The release made from a commit: created, or found when that version exists.
async fn release_from_ref(
    client: &Client,
    project: &str,
    git_ref: &str,
    version: Option<String>,
) -> Result<ReleaseView, String> {
    let version = version.unwrap_or_else(|| git_ref.chars().take(12).collect());
    let body = json!({"version": version, "git_commit": git_ref});
    match client.post::<ReleaseView>(&format!("/api/v1/projects/{project}/releases"), &body).await {
        Ok(release) => Ok(release),
        Err(e) if e.ends_with("(409 Conflict)") => find_release(client, project, &version).await,
        Err(e) => Err(e),
    }
}

async fn find_release(client: &Client, project: &str, version: &str) -> Result<ReleaseView, String> {
    let releases: Vec<ReleaseView> = client.get(&format!("/api/v1/projects/{project}/releases")).await?;
    releases
        .into_iter()
        .find(|r| r.version == version)
        .ok_or_else(|| format!("project `{project}` has no release `{version}`"))
}

async fn start(
    client: &Client,
    path: &str,
    project: &str,
    release: &ReleaseView,
    environment: &str,
    wait: bool,
) -> Result<ExitCode, String> {
    let body = json!({"project": project, "release_id": release.id, "environment": environment});
    let d: DeploymentView = client.post(path, &body).await?;
    println!("deployment #{}: {} {} → {} ({})", d.id, d.project, d.release_version, d.environment, d.state);
    if wait {
        follow_deployment(client, d.id, true, false).await
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// Prints a deployment's steps and log lines as they come, until it ends (or at once
/// without `follow`); exit 1 unless it succeeded, when following.
async fn follow_deployment(client: &Client, id: i64, follow: bool, logs_only: bool) -> Result<ExitCode, String> {
    let mut printed_seq = 0;
    let mut step_states: HashMap<(i32, Option<i32>), StepState> = HashMap::new();
    loop {
        let detail: DeploymentDetail = client.get(&format!("/api/v1/deployments/{id}")).await?;
        let names: HashMap<i32, &str> = detail.steps.iter().map(|s| (s.position, s.name.as_str())).collect();
        let fresh: Vec<_> = detail.logs.iter().filter(|l| l.seq > printed_seq).collect();
        for line in fresh {
            println!("[{}] {}", names.get(&line.step).copied().unwrap_or("?"), line.text);
            printed_seq = line.seq;
        }
        if !logs_only {
            for step in &detail.steps {
                let key = (step.position, step.target);
                if step_states.get(&key) != Some(&step.state) && step.state != StepState::Queued {
                    step_states.insert(key, step.state);
                    println!("  {:<9} {}", step.state.to_string(), step.name);
                }
            }
        }
        let d = &detail.deployment;
        if d.state.is_terminal() || !follow {
            if !follow {
                return Ok(ExitCode::SUCCESS);
            }
            let reason = d.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            println!("deployment #{} {}{reason}", d.id, d.state);
            return Ok(if d.state == DeploymentState::Succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn status(client: &Client, project: Option<&str>) -> Result<ExitCode, String> {
    let matrix: Matrix = client.get("/api/v1/matrix").await?;
    let rows: Vec<_> = matrix.rows.iter().filter(|r| project.is_none_or(|p| r.project.slug == p)).collect();
    if rows.is_empty() {
        return Err(match project {
            Some(p) => format!("no project `{p}` you can see"),
            None => "no projects".into(),
        });
    }
    for row in rows {
        println!("{}", row.project.slug);
        for cell in &row.cells {
            let live = cell.current.as_ref().map(|d| d.release_version.as_str()).unwrap_or("—");
            let latest = match &cell.latest {
                Some(d) if cell.current.as_ref().map(|c| c.id) != Some(d.id) => {
                    format!("  (latest: #{} {} {})", d.id, d.release_version, d.state)
                }
                _ => String::new(),
            };
            println!("  {:<14} {live}{latest}", cell.environment.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
