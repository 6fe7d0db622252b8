//! `ferry repos` and `ferry import`: list the repositories a GitHub or GitLab token
//! reaches, and make a project from one (or from a git URL), as the New project page
//! does. The forge token comes from `FERRY_FORGE_TOKEN`, so it stays out of shell
//! history.

use std::process::ExitCode;

use clap::Args;
use ferry_app::model::{DeployKey, Imported, RepositoryView};
use serde_json::{json, Value};

use super::client::Client;
use super::Remote;

/// Which repository: exactly one of the three.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// A GitHub repository, `owner/name` (with `--forge-token`).
    #[arg(long)]
    pub github: Option<String>,
    /// A GitLab project, `group/project` (with `--forge-token`).
    #[arg(long)]
    pub gitlab: Option<String>,
    /// Any public repository git clones over https, or one over SSH
    /// (`ssh://git@host/team/app.git`, with `--deploy-key`).
    #[arg(long)]
    pub git: Option<String>,
}

impl Source {
    fn json(&self) -> Value {
        match (&self.github, &self.gitlab, &self.git) {
            (Some(repo), _, _) => json!({"kind": "github", "repo": repo}),
            (_, Some(repo), _) => json!({"kind": "gitlab", "repo": repo}),
            (_, _, url) => json!({"kind": "git", "url": url}),
        }
    }
}

/// Which forge to list: GitHub or GitLab.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Forge {
    Github,
    Gitlab,
}

pub async fn repositories(
    forge: Forge,
    search: Option<String>,
    token: String,
    remote: Remote,
) -> Result<ExitCode, String> {
    let client = Client::from(&remote)?;
    let forge = match forge {
        Forge::Github => "github",
        Forge::Gitlab => "gitlab",
    };
    let body = json!({"forge": forge, "token": token, "search": search});
    let found: Vec<RepositoryView> = client.post("/api/v1/imports/repositories", &body).await?;
    for repo in &found {
        let private = if repo.private { "private" } else { "public" };
        let branch = repo.default_branch.as_deref().unwrap_or("-");
        println!("{:<40} {private:<8} {branch:<12} {}", repo.path, repo.description.as_deref().unwrap_or(""));
    }
    if found.is_empty() {
        eprintln!("the token reaches no repository{}", if body["search"].is_null() { "" } else { " by that name" });
    }
    Ok(ExitCode::SUCCESS)
}

pub struct Import {
    pub source: Source,
    pub slug: String,
    pub name: Option<String>,
    pub token: Option<String>,
    pub no_hook: bool,
    pub deploy_key: Option<i64>,
    pub dry_run: bool,
}

pub async fn deploy_key(remote: Remote) -> Result<ExitCode, String> {
    let client = Client::from(&remote)?;
    let key: DeployKey = client.post("/api/v1/imports/deploy-keys", &json!({})).await?;
    println!("deploy key {}: add it to the repository (read-only), then import with --deploy-key {}", key.id, key.id);
    println!("{}", key.public_key);
    Ok(ExitCode::SUCCESS)
}

pub async fn import(wanted: Import, remote: Remote) -> Result<ExitCode, String> {
    let client = Client::from(&remote)?;
    let body = json!({
        "slug": wanted.slug, "name": wanted.name.clone().unwrap_or_else(|| wanted.slug.clone()),
        "source": wanted.source.json(), "token": wanted.token, "create_hook": !wanted.no_hook,
        "dry_run": wanted.dry_run, "deploy_key": wanted.deploy_key,
    });
    let imported: Imported = client.post("/api/v1/imports", &body).await?;
    let preview = &imported.preview;
    println!("{} at {}", preview.default_branch, &preview.commit[..preview.commit.len().min(12)]);
    if let Some(pipeline) = &preview.pipeline {
        println!("environments: {}", pipeline.environments.join(" → "));
        for step in &pipeline.build {
            println!("build   {step}");
        }
        for step in &pipeline.deploy {
            println!("deploy  {step}");
        }
        for trigger in &pipeline.triggers {
            println!("trigger {trigger}");
        }
    }
    if let Some(problem) = &preview.problem {
        println!("ferry.yml is not valid: {problem}");
    }
    if let Some(starter) = &preview.starter {
        println!(
            "no ferry.yml; a starter for a {} project:\n\n{}\n{}",
            starter.detected, starter.file, starter.explanation
        );
    }
    if let Some(project) = &imported.project {
        println!("created project {} ({} environments)", project.slug, project.environments.len());
    }
    if imported.hook_created {
        println!("the repository's webhook was created");
    }
    if let (Some(secret), Some(link)) = (&imported.hook_secret, &imported.link) {
        println!("add the webhook by hand: {} with secret {secret} (shown only now)", link.hook_url);
    }
    if let Some(warning) = &imported.warning {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
