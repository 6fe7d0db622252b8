//! Importing a project from its repository (admins, as for any new project): list the
//! repositories a GitHub or GitLab token reaches, then clone the chosen one (or a git
//! URL) as Ferry's own mirror under the data directory, read `ferry.yml` at the
//! default branch, and create the project, its environments, the link for statuses
//! and the webhook in one step. A dry run shows what was found, or a starter file
//! when there is none, and keeps nothing.

use std::path::{Path, PathBuf};

use ferry_app::error::AppError;
use ferry_app::model::{
    DeployKey, ForgeKind, ImportPreview, ImportProject, Imported, LinkForge, ListRepositories, PipelineSummary,
    ProjectView, RepositoryView, Role,
};
use ferry_engine::pipeline::{Pipeline, TriggerOn, PIPELINE_FILE};
use serde_json::json;

use super::{audit, catalog, forges, starters, Handles};
use crate::auth::secrets::random_text;
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::forge::{git_authorization, link_authorization};
use crate::git;
use crate::store::Store;
use crate::vault::Vault;

/// The most repositories one listing returns.
const LISTED: usize = 200;

pub async fn repositories(s: &Handles, c: &Caller, wanted: &ListRepositories) -> Result<Vec<RepositoryView>, AppError> {
    c.require_global(Role::Admin, "listing repositories to import")?;
    let from_sign_in = c.sign_in_token(&s.vault, wanted.forge, s.notifier.forges().api_url(wanted.forge));
    let token = match checked_token(Some(&wanted.token))? {
        Some(token) => token,
        None => from_sign_in.as_deref().ok_or_else(|| no_token(wanted.forge))?,
    };
    let search = wanted.search.as_deref().unwrap_or("").trim();
    if search.len() > 100 {
        return Err(AppError::bad_request("search: up to 100 characters"));
    }
    let forges = s.notifier.forges();
    forges.repositories(wanted.forge, token, search, LISTED).await.map_err(|why| {
        AppError::unprocessable(format!("token: {} refused to list repositories: {why}", wanted.forge.title()))
    })
}

/// Importing from a forge without a token.
fn no_token(forge: ForgeKind) -> AppError {
    AppError::bad_request(format!(
        "token: importing from {0} needs a token that can read the repository: paste one, or sign in with {0} \
         (with imports enabled for the sign-in)",
        forge.title()
    ))
}

pub async fn import(s: &Handles, c: &Caller, wanted: &ImportProject) -> Result<Imported, AppError> {
    c.require_global(Role::Admin, "importing a project")?;
    catalog::check_new_project(&wanted.slug, &wanted.name)?;
    wanted.source.check().map_err(AppError::bad_request)?;
    let pasted = checked_token(wanted.token.as_deref())?;
    let forges = s.notifier.forges();
    let from_sign_in = wanted
        .source
        .forge()
        .filter(|_| pasted.is_none())
        .and_then(|f| c.sign_in_token(&s.vault, f, forges.api_url(f)));
    let token = pasted.or(from_sign_in.as_deref());
    let (url, authorization) = match (wanted.source.forge(), token) {
        (Some(forge), Some(token)) => {
            let repo = wanted.source.name();
            let found = s.notifier.forges().repository(forge, repo, token).await.map_err(|why| {
                AppError::unprocessable(format!("token: {} refused it for `{repo}`: {why}", forge.title()))
            })?;
            (found.clone_url, Some(git_authorization(forge, token)))
        }
        (Some(forge), None) => return Err(no_token(forge)),
        (None, Some(_)) => {
            return Err(AppError::bad_request("token: a git URL is cloned without credentials; leave the token out"))
        }
        (None, None) => (wanted.source.name().to_string(), None),
    };
    let deploy_key = deploy_key_for(s, &url, wanted.deploy_key).await?;
    if !wanted.dry_run && s.store.project_by_slug(&wanted.slug).await.or_internal("reading a project")?.is_some() {
        return Err(AppError::conflict(format!("project `{}` already exists", wanted.slug)));
    }
    tokio::fs::create_dir_all(&s.repos_dir).await.or_internal("making the repositories directory")?;
    // A name of its own each time: two imports, or one retried after a crash, never
    // meet in one directory.
    let dest = s.repos_dir.join(format!("{}-{}.git", wanted.slug, random_text(8).to_lowercase()));
    let made = Mirror(dest);
    let ssh = match &deploy_key {
        Some((_, private)) => {
            Some(git::SshAccess::write(&made.ssh_dir(), private, None).await.or_internal("writing the deploy key")?)
        }
        None => None,
    };
    git::clone_mirror(&url, made.path(), authorization.as_deref(), ssh.as_ref()).await.map_err(|why| {
        let hint = match ssh {
            Some(_) => " (is the deploy key added to the repository?)",
            None => "",
        };
        AppError::unprocessable(format!("source: cannot clone {url}{hint}: {}", first_lines(&why)))
    })?;
    let preview = inspect(made.path()).await?;
    if wanted.dry_run {
        return Ok(Imported {
            preview,
            project: None,
            link: None,
            hook_created: false,
            hook_secret: None,
            warning: None,
        });
    }
    if let Some(problem) = &preview.problem {
        return Err(AppError::unprocessable(problem.clone()));
    }
    if preview.pipeline.is_none() {
        return Err(AppError::unprocessable(format!(
            "{PIPELINE_FILE}: not found at `{}`; a dry run shows a starter file for this repository",
            preview.default_branch
        )));
    }
    // The host key seen at this clone is the one every later fetch requires.
    let pinned = match deploy_key {
        Some(_) => {
            let pinned = tokio::fs::read_to_string(made.ssh_dir().join("known_hosts")).await.unwrap_or_default();
            if pinned.trim().is_empty() {
                return Err(AppError::unprocessable("source: the SSH host showed no host key to pin"));
            }
            Some(pinned)
        }
        None => None,
    };
    let project = catalog::create_project(&s.store, &wanted.slug, &wanted.name, made.path_text(), Some(&url)).await?;
    if let (Some((id, _)), Some(pinned)) = (deploy_key, pinned) {
        if !s.store.attach_deploy_key(id, project.id, &pinned).await.or_internal("keeping the deploy key")? {
            // Another import took the key meanwhile: this project must not go without one.
            tracing::error!(project = wanted.slug, key = id, "a deploy key was taken by two imports at once");
            return Err(AppError::conflict(format!("deploy_key: key {id} was used by another import just now")));
        }
    }
    let mirror = made.keep();
    let detail = json!({"source": wanted.source, "repo_url": mirror, "origin": url});
    audit::record(&s.store, c, "project.import", &wanted.slug, detail).await;
    let mut imported =
        Imported { preview, project: Some(project), link: None, hook_created: false, hook_secret: None, warning: None };
    if let Some(forge) = wanted.source.forge() {
        let mut link = LinkForge {
            forge,
            repo: wanted.source.name().to_string(),
            secret: None,
            token: token.map(str::to_string),
            create_hook: wanted.create_hook,
        };
        let linked = match forges::link(s, c, &wanted.slug, &link).await {
            Err(refused) if link.create_hook => {
                // The project stands; the webhook is then added by hand with the secret.
                imported.warning = Some(refused.message);
                link.create_hook = false;
                forges::link(s, c, &wanted.slug, &link).await?
            }
            linked => linked?,
        };
        imported.hook_created = link.create_hook;
        imported.hook_secret = (!link.create_hook).then_some(linked.secret);
        imported.link = Some(linked.link);
    }
    Ok(imported)
}

/// Brings an imported project's mirror up to date with its origin (on each webhook
/// and before a release is cut by hand), with the link's token. A failure is logged:
/// what follows then works with the mirror as it is, and says so when a commit is
/// missing.
pub async fn refresh(s: &Handles, project: &ProjectView) {
    if let Err(error) = sync_mirror(&s.store, &s.vault, project, true).await {
        tracing::warn!(project = project.slug, error, "fetching the repository from its origin");
    }
}

/// Makes sure an imported project's mirror is on this machine: a replica whose disk
/// lacks it (another machine, a restored data directory) clones it again from its
/// origin at the same place. With `fetch`, one that is there is brought up to date.
pub async fn sync_mirror(store: &Store, vault: &Vault, project: &ProjectView, fetch: bool) -> Result<(), String> {
    let Some(origin) = &project.repo_origin else { return Ok(()) };
    let there = Path::new(&project.repo_url).exists();
    if there && !fetch {
        return Ok(());
    }
    let link = store.forge_link(project.id).await.map_err(|e| format!("reading the forge link: {e}"))?;
    let authorization = link.as_ref().and_then(|link| link_authorization(vault, link));
    if there {
        return git::refresh_mirror(&project.repo_url, authorization.as_deref()).await;
    }
    tracing::info!(project = project.slug, origin, "cloning the repository again: it is not on this machine");
    let dest = Path::new(&project.repo_url);
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| format!("cannot make {}: {e}", parent.display()))?;
    }
    // An SSH origin is reached with the project's deploy key and its pinned host key.
    let key = store.project_deploy_key(project.id).await.map_err(|e| format!("reading the deploy key: {e}"))?;
    let ssh = match key {
        // Never the machine's own SSH set-up, nor an unpinned host.
        None if ferry_app::model::is_ssh_url(origin) => {
            return Err(format!("{origin} is reached over SSH, and the project has no deploy key"))
        }
        Some(key) if key.known_hosts.as_deref().is_none_or(|k| k.trim().is_empty()) => {
            return Err(format!("the deploy key of {origin} has no pinned host key"))
        }
        Some(key) => {
            let private = vault.open_value(DEPLOY_KEY, &key.sealed_private)?;
            let dir = ssh_dir_of(dest);
            let access = git::SshAccess::write(&dir, &private, key.known_hosts.as_deref()).await;
            Some(access.map_err(|e| format!("cannot write the deploy key: {e}"))?)
        }
        None => None,
    };
    git::clone_mirror(origin, dest, authorization.as_deref(), ssh.as_ref())
        .await
        .map_err(|why| format!("cannot clone {origin} again: {}", first_lines(&why)))
}

/// What a deploy key's private half is sealed to.
const DEPLOY_KEY: &str = "deploy-key";

/// Makes a deploy key to import a repository over SSH (admins): its public half goes
/// to the repository's deploy keys, read-only.
pub async fn new_deploy_key(s: &Handles, c: &Caller) -> Result<DeployKey, AppError> {
    c.require_global(Role::Admin, "making a deploy key")?;
    let (public_key, private) = crate::ssh::keys::generate("ferry deploy key").map_err(|e| {
        tracing::error!(error = e, "making a key pair");
        AppError::internal()
    })?;
    let sealed = s.vault.seal(DEPLOY_KEY, &private).or_internal("sealing a deploy key")?;
    let id = s.store.add_deploy_key(&public_key, &sealed).await.or_internal("keeping a deploy key")?;
    audit::record(&s.store, c, "deploy_key.create", &id.to_string(), json!({"public_key": public_key})).await;
    Ok(DeployKey { id, public_key })
}

/// The deploy key an SSH URL is cloned with (its id and private half): one Ferry made
/// and no project uses yet. Other URLs take none.
async fn deploy_key_for(s: &Handles, url: &str, id: Option<i64>) -> Result<Option<(i64, String)>, AppError> {
    match (ferry_app::model::is_ssh_url(url), id) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(AppError::bad_request("deploy_key: only an SSH git URL is cloned with a deploy key")),
        (true, None) => Err(AppError::bad_request(
            "deploy_key: an SSH URL is cloned with a deploy key Ferry makes (POST /api/v1/imports/deploy-keys): \
             add its public key to the repository, read-only, and give its id",
        )),
        (true, Some(id)) => {
            let key = s.store.deploy_key(id).await.or_internal("reading a deploy key")?;
            let key = key
                .filter(|k| k.project_id.is_none())
                .ok_or_else(|| AppError::bad_request(format!("deploy_key: no unused deploy key {id}")))?;
            let private = s.vault.open_value(DEPLOY_KEY, &key.sealed_private).or_internal("opening a deploy key")?;
            Ok(Some((id, private)))
        }
    }
}

/// Where a mirror's SSH key and pinned host keys are: beside it.
fn ssh_dir_of(mirror: &Path) -> PathBuf {
    let mut name = mirror.as_os_str().to_owned();
    name.push(".ssh");
    PathBuf::from(name)
}

/// What the repository holds at its default branch.
async fn inspect(repo: &Path) -> Result<ImportPreview, AppError> {
    let repo = repo.to_str().ok_or_else(AppError::internal)?;
    let commit = git::resolve_commit(repo, "HEAD")
        .await
        .ok_or_else(|| AppError::unprocessable("source: the repository has no commits"))?;
    let default_branch = git::default_branch(repo).await.unwrap_or_else(|| "main".into());
    let mut preview = ImportPreview { default_branch, commit, pipeline: None, problem: None, starter: None };
    match git::file_at(repo, &preview.commit, PIPELINE_FILE).await {
        Some(text) => match catalog::read_pipeline(&text) {
            Ok(pipeline) => preview.pipeline = Some(summary(&pipeline)),
            Err(problem) => preview.problem = Some(problem),
        },
        None => {
            let root = git::root_names(repo, &preview.commit).await.unwrap_or_default();
            let cargo = match root.iter().any(|n| n == "Cargo.toml") {
                true => git::file_at(repo, &preview.commit, "Cargo.toml").await,
                false => None,
            };
            let name = cargo.as_deref().and_then(starters::cargo_package_name);
            preview.starter = Some(starters::starter(&root, &preview.default_branch, name.as_deref()));
        }
    }
    Ok(preview)
}

fn summary(pipeline: &Pipeline) -> PipelineSummary {
    let steps = |steps: &[ferry_engine::pipeline::StepSpec]| {
        steps.iter().map(|s| format!("{}: {}", s.name, s.run)).collect::<Vec<_>>()
    };
    PipelineSummary {
        environments: pipeline.environments.iter().map(|e| e.name.to_string()).collect(),
        build: steps(&pipeline.build),
        deploy: steps(&pipeline.deploy),
        health_check: pipeline
            .health_check
            .as_ref()
            .and_then(|h| h.url.as_ref().map(|u| u.to_string()).or_else(|| h.command.as_ref().map(|c| c.to_string()))),
        triggers: pipeline
            .triggers
            .iter()
            .map(|t| {
                let what = match t.on {
                    TriggerOn::Push => format!("push to {}", t.branch.as_deref().unwrap_or_default()),
                    TriggerOn::Tag => format!("tag {}", t.tag.as_deref().unwrap_or_default()),
                };
                let ci = if t.wait_for_ci { " once CI passes" } else { "" };
                match &t.deploy {
                    Some(env) => format!("{what}{ci} → release, deploy to {env}"),
                    None => format!("{what}{ci} → release"),
                }
            })
            .collect(),
    }
}

/// A cloned mirror, removed when dropped unless kept (an import that fails half-way
/// leaves nothing behind).
struct Mirror(PathBuf);

impl Mirror {
    fn path(&self) -> &Path {
        &self.0
    }

    fn ssh_dir(&self) -> PathBuf {
        ssh_dir_of(&self.0)
    }

    fn path_text(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    fn keep(self) -> String {
        let path = self.path_text().to_string();
        std::mem::forget(self);
        path
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_dir_all(self.ssh_dir());
    }
}

/// A token as given: trimmed; empty is none; refused when it cannot be one.
fn checked_token(token: Option<&str>) -> Result<Option<&str>, AppError> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    match token {
        Some(t) if t.len() > 500 || t.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Err(AppError::bad_request("token: not an API token (up to 500 characters, no spaces)"))
        }
        token => Ok(token),
    }
}

/// git's error without its noise: the first few lines.
fn first_lines(text: &str) -> String {
    text.lines().take(3).collect::<Vec<_>>().join(" ")
}
