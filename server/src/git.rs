//! Reading an app's repository with the `git` command: resolving commits and reading
//! files as they were at a commit. Arguments never pass through a shell.

use std::path::Path;

use ferry_app::model::CommitView;
use tokio::process::Command;

async fn git(repo: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Whether `repo` is a git repository on this machine.
pub async fn is_repository(repo: &str) -> bool {
    Path::new(repo).is_dir() && git(repo, &["rev-parse", "--git-dir"]).await.is_ok()
}

/// The full hash of `rev`, or `None` when the repository has no such commit.
pub async fn resolve_commit(repo: &str, rev: &str) -> Option<String> {
    // `--end-of-options` keeps a revision starting with `-` from being read as an option.
    let spec = format!("{rev}^{{commit}}");
    git(repo, &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec])
        .await
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Brings a commit in from the repository's `origin` (a mirror of the forge's
/// repository) when it lacks it. A failure is left to the commit lookup that follows.
/// `authorization` is an HTTP `Authorization` value for a private repository; it goes
/// to git through its environment, so it shows in no process list and no config file.
pub async fn fetch(repo: &str, commit: &str, authorization: Option<&str>) {
    if resolve_commit(repo, commit).await.is_some() || git(repo, &["remote", "get-url", "origin"]).await.is_err() {
        return;
    }
    let mut command = Command::new("git");
    command.arg("-C").arg(repo).args(["fetch", "--quiet", "origin", "--end-of-options", commit]);
    // A repository that wants credentials Ferry lacks fails instead of asking a terminal.
    command.env("GIT_TERMINAL_PROMPT", "0");
    if let Some(value) = authorization {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", format!("Authorization: {value}"));
    }
    match command.output().await {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            tracing::warn!(repo, commit, error = %String::from_utf8_lossy(&out.stderr).trim(), "fetching a commit")
        }
        Err(e) => tracing::warn!(repo, commit, error = %e, "cannot run git"),
    }
}

/// When a commit was made, in Unix milliseconds.
pub async fn commit_time(repo: &str, commit: &str) -> Option<i64> {
    let out = git(repo, &["show", "-s", "--format=%ct", "--end-of-options", commit]).await.ok()?;
    out.trim().parse::<i64>().ok().map(|secs| secs * 1000)
}

/// A file's content at a commit, or `None` when it does not exist there.
pub async fn file_at(repo: &str, commit: &str, path: &str) -> Option<String> {
    git(repo, &["show", &format!("{commit}:{path}")]).await.ok()
}

/// Commits reachable from `to` but not from `from` (all of `to`'s history without
/// `from`), newest first, at most `limit`.
pub async fn commits_between(
    repo: &str,
    from: Option<&str>,
    to: &str,
    limit: usize,
) -> Result<Vec<CommitView>, String> {
    let range = match from {
        Some(from) => format!("{from}..{to}"),
        None => to.to_string(),
    };
    let max = format!("--max-count={limit}");
    let out = git(repo, &["log", "--format=%H%x1f%an%x1f%s", &max, "--end-of-options", &range]).await?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\u{1f}');
            Some(CommitView {
                sha: parts.next()?.to_string(),
                author: parts.next()?.to_string(),
                subject: parts.next().unwrap_or_default().to_string(),
            })
        })
        .collect())
}

/// Runs git with a fixed identity, for creating the demo repository.
pub async fn commit_all(repo: &str, message: &str) -> Result<String, String> {
    git(repo, &["add", "--all"]).await?;
    git(
        repo,
        &["-c", "user.name=Ferry demo", "-c", "user.email=demo@ferry.invalid", "commit", "--quiet", "-m", message],
    )
    .await?;
    git(repo, &["rev-parse", "HEAD"]).await.map(|s| s.trim().to_string())
}

pub async fn init(repo: &str) -> Result<(), String> {
    git(repo, &["init", "--quiet", "--initial-branch=main"]).await.map(|_| ())
}
