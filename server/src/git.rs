//! Reading an app's repository with the `git` command: resolving commits, reading
//! files as they were at a commit, fetching from the forge (`origin`) with a timeout.
//! Arguments never pass through a shell.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_app::model::CommitView;
use tokio::process::Command;

/// A `git` command that holds none of Ferry's capabilities (the package's service
/// has some, for step users): git and the ssh it may start need none.
fn git_command() -> Command {
    let mut command = Command::new("git");
    // SAFETY: drop_capabilities makes one system call, safe between fork and exec.
    unsafe { command.pre_exec(ferry_engine::process::drop_capabilities) };
    command
}

async fn git(repo: &str, args: &[&str]) -> Result<String, String> {
    let out =
        git_command().arg("-C").arg(repo).args(args).output().await.map_err(|e| format!("cannot run git: {e}"))?;
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

/// How long a `git fetch` from `origin` may take before it is stopped: a forge that
/// accepts the connection and never answers must not hold a webhook's work forever.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `git fetch <args>` in `repo` with the link's credentials, stopped (the process
/// killed) after `timeout`. `authorization` is an HTTP `Authorization` value for a
/// private repository; it goes to git through its environment, so it shows in no
/// process list and no config file.
async fn fetch_with(repo: &str, args: &[&str], authorization: Option<&str>, timeout: Duration) -> Result<(), String> {
    let mut command = git_command();
    command.arg("-C").arg(repo).arg("fetch").args(args);
    run_remote(command, authorization, timeout, "git fetch").await
}

/// How long cloning a repository for a new project may take.
pub const CLONE_TIMEOUT: Duration = Duration::from_secs(600);

/// The transports a repository Ferry clones for a project may use: a URL (or a
/// submodule, or a redirect) naming `file://`, `ext::` or a local path would read this
/// machine or run a command. SSH goes only where an SSH URL was given (a redirect never
/// leads from HTTP to it), with Ferry's deploy key.
const CLONE_PROTOCOLS: &str = "http:https:ssh";

/// How git reaches a repository over SSH: with the deploy key Ferry made for it and
/// the host keys it pinned, both in `dir` (private to Ferry's user).
pub struct SshAccess {
    pub dir: std::path::PathBuf,
}

impl SshAccess {
    /// Writes the private key, and the host keys pinned so far (none before the first
    /// clone), into `dir`.
    pub async fn write(dir: &Path, private_key: &str, known_hosts: Option<&str>) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).await?;
        let access = SshAccess { dir: dir.to_path_buf() };
        tokio::fs::write(access.key(), private_key).await?;
        tokio::fs::set_permissions(access.key(), std::fs::Permissions::from_mode(0o600)).await?;
        tokio::fs::write(access.known_hosts(), known_hosts.unwrap_or_default()).await?;
        Ok(access)
    }

    fn key(&self) -> std::path::PathBuf {
        self.dir.join("id_ed25519")
    }

    pub fn known_hosts(&self) -> std::path::PathBuf {
        self.dir.join("known_hosts")
    }

    /// The ssh command git runs: this key only, no configuration of the machine's, no
    /// questions; a host key is taken on first sight (`first`) and required after.
    fn command(&self, first: bool) -> String {
        let quote = |p: std::path::PathBuf| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        format!(
            "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={} \
             -o StrictHostKeyChecking={}",
            quote(self.key()),
            quote(self.known_hosts()),
            if first { "accept-new" } else { "yes" }
        )
    }
}

/// Clones `url` into `dest` as a mirror (bare; every branch and tag, as on the forge;
/// nothing checked out, so nothing in it runs). `authorization` is as for `fetch_with`;
/// `ssh` reaches an SSH URL, and the mirror keeps using it (with the host key pinned)
/// for its fetches. A clone that fails or times out leaves nothing at `dest`.
pub async fn clone_mirror(
    url: &str,
    dest: &Path,
    authorization: Option<&str>,
    ssh: Option<&SshAccess>,
) -> Result<(), String> {
    let mut command = git_command();
    command.args(["clone", "--mirror", "--quiet", "--"]).arg(url).arg(dest);
    command.env("GIT_ALLOW_PROTOCOL", CLONE_PROTOCOLS);
    if let Some(ssh) = ssh {
        let first = tokio::fs::metadata(ssh.known_hosts()).await.map(|m| m.len() == 0).unwrap_or(true);
        command.env("GIT_SSH_COMMAND", ssh.command(first));
    }
    let mut cloned = run_remote(command, authorization, CLONE_TIMEOUT, "git clone").await;
    if let (Ok(()), Some(ssh), Some(repo)) = (&cloned, ssh, dest.to_str()) {
        cloned = git(repo, &["config", "core.sshCommand", &ssh.command(false)]).await.map(drop);
    }
    if cloned.is_err() {
        let _ = tokio::fs::remove_dir_all(dest).await;
    }
    cloned
}

/// Brings a mirror Ferry made up to date with its origin: every branch and tag, and
/// those gone there removed here.
pub async fn refresh_mirror(repo: &str, authorization: Option<&str>) -> Result<(), String> {
    let mut command = git_command();
    command.arg("-C").arg(repo).args(["fetch", "--prune", "--quiet", "origin"]);
    command.env("GIT_ALLOW_PROTOCOL", CLONE_PROTOCOLS);
    run_remote(command, authorization, FETCH_TIMEOUT, "git fetch").await
}

/// The branch `HEAD` names (a mirror's: the origin's default branch).
pub async fn default_branch(repo: &str) -> Option<String> {
    let out = git(repo, &["symbolic-ref", "--quiet", "--short", "HEAD"]).await.ok()?;
    Some(out.trim().to_string()).filter(|b| !b.is_empty())
}

/// The names at the root of the tree at `commit` (files and directories).
pub async fn root_names(repo: &str, commit: &str) -> Result<Vec<String>, String> {
    let out = git(repo, &["ls-tree", "--name-only", "--end-of-options", commit]).await?;
    Ok(out.lines().map(str::to_string).collect())
}

/// Runs a git command that talks to a remote: never asking a terminal, credentials in
/// its environment only, stopped (killed) after `timeout`.
async fn run_remote(
    mut command: Command,
    authorization: Option<&str>,
    timeout: Duration,
    what: &str,
) -> Result<(), String> {
    command.env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null()).kill_on_drop(true);
    if let Some(value) = authorization {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", format!("Authorization: {value}"));
    }
    // On timeout the future, and with it the child, is dropped: `kill_on_drop` kills it.
    match tokio::time::timeout(timeout, command.output()).await {
        Err(_) => Err(format!("{what} did not finish within {} s and was stopped", timeout.as_secs())),
        Ok(Err(e)) => Err(format!("cannot run git: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

/// Brings a commit in from the repository's `origin` (a mirror of the forge's
/// repository) when it lacks it. A failure is logged and left to the commit lookup
/// that follows. `authorization` is as for [`fetch_branch`].
pub async fn fetch(repo: &str, commit: &str, authorization: Option<&str>) {
    if resolve_commit(repo, commit).await.is_some() || git(repo, &["remote", "get-url", "origin"]).await.is_err() {
        return;
    }
    let args = ["--quiet", "origin", "--end-of-options", commit];
    if let Err(error) = fetch_with(repo, &args, authorization, FETCH_TIMEOUT).await {
        tracing::error!(repo, commit, error, "fetching a commit from origin");
    }
}

/// Keeps one fetched branch apart from another fetched at the same time.
static FETCHES: AtomicU64 = AtomicU64::new(0);

/// The commit `branch` points at on `origin` (the forge's repository), fetched into
/// `repo` with the same credentials as [`fetch`]; the repository's own branches are
/// left as they are. A repository without `origin` is the forge's copy itself: its
/// own `branch` is the answer.
pub async fn fetch_branch(repo: &str, branch: &str, authorization: Option<&str>) -> Result<String, String> {
    let reference = format!("refs/heads/{branch}");
    if branch.starts_with('-') || git(repo, &["check-ref-format", &reference]).await.is_err() {
        return Err(format!("`{branch}` is not a branch name"));
    }
    fetch_ref(repo, &reference, authorization, false).await
}

/// The commit at the head of a pull request (`refs/pull/<n>/head` on GitHub) or merge
/// request (`refs/merge-requests/<n>/head` on GitLab), fetched into the same ref here:
/// a fork's commits reach the repository only this way, and a build clones what refs
/// reach (a mirror's `fetch --prune` keeps the ref while the forge has it).
pub async fn fetch_request(repo: &str, reference: &str, authorization: Option<&str>) -> Result<String, String> {
    fetch_ref(repo, reference, authorization, true).await
}

async fn fetch_ref(repo: &str, reference: &str, authorization: Option<&str>, keep: bool) -> Result<String, String> {
    if git(repo, &["remote", "get-url", "origin"]).await.is_err() {
        return resolve_commit(repo, reference)
            .await
            .ok_or_else(|| format!("the repository has no origin and no `{reference}`"));
    }
    // Fetched into a ref of its own (no other fetch writes it), read, then dropped;
    // `--refmap=` keeps a mirror's configured refspecs from updating anything else.
    if keep && (reference.starts_with('-') || git(repo, &["check-ref-format", reference]).await.is_err()) {
        return Err(format!("`{reference}` is not a ref"));
    }
    let n = FETCHES.fetch_add(1, Ordering::Relaxed);
    let scratch = match keep {
        true => reference.to_string(),
        false => format!("refs/ferry/fetched/{}-{n}", std::process::id()),
    };
    let refspec = format!("+{reference}:{scratch}");
    let args = ["--quiet", "--no-write-fetch-head", "--no-tags", "--refmap=", "origin", "--end-of-options", &refspec];
    let fetched = fetch_with(repo, &args, authorization, FETCH_TIMEOUT).await;
    let commit = match fetched {
        Ok(()) => {
            resolve_commit(repo, &scratch).await.ok_or_else(|| format!("origin sent no commit for `{reference}`"))
        }
        Err(error) => {
            tracing::error!(repo, reference, error, "fetching a ref from origin");
            Err(format!("cannot fetch `{reference}` from origin: {error}"))
        }
    };
    if !keep {
        let _ = git(repo, &["update-ref", "-d", &scratch]).await;
    }
    commit
}

/// The newest commit of `tip`'s first-parent line that does not contain `commit`: the
/// branch as it was before `commit` arrived on it (`tip` itself when `commit` is not
/// in its history). `None` when there is none (`commit` is where the line starts).
pub async fn before_arrival(repo: &str, tip: &str, commit: &str) -> Option<String> {
    // Commits that contain `commit` and are in `tip`'s history: `commit` itself and
    // those on a path from it to `tip`. On the first-parent line they come first.
    let path =
        git(repo, &["rev-list", "--ancestry-path", "--end-of-options", &format!("{commit}..{tip}")]).await.ok()?;
    let mut containing: HashSet<&str> = path.lines().collect();
    containing.insert(commit);
    let max = format!("--max-count={}", containing.len() + 1);
    let line = git(repo, &["rev-list", "--first-parent", &max, "--end-of-options", tip]).await.ok()?;
    line.lines().find(|c| !containing.contains(c)).map(str::to_string)
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn repository_with_origin(origin: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().to_str().unwrap();
        init(repo).await.unwrap();
        git(repo, &["remote", "add", "origin", origin]).await.unwrap();
        dir
    }

    #[tokio::test]
    async fn a_forge_that_never_answers_stops_the_fetch_at_the_timeout() {
        let (addr, held) = crate::test_support::silent_server().await;
        let origin = format!("http://{addr}/octo-org/hello.git");
        let dir = repository_with_origin(&origin).await;
        let repo = dir.path().to_str().unwrap();
        let args = ["--quiet", "origin", "--end-of-options", "+refs/heads/main:refs/ferry/test"];
        let fetched =
            tokio::time::timeout(Duration::from_secs(30), fetch_with(repo, &args, None, Duration::from_secs(1))).await;
        let error = fetched.expect("the fetch was stopped, not left hanging").unwrap_err();
        assert!(error.contains("did not finish within 1 s"), "{error}");
        held.abort();
    }

    #[tokio::test]
    async fn forge_branches_are_fetched_from_origin_into_a_ref_of_their_own() {
        let forge = tempfile::tempdir().unwrap();
        let upstream = forge.path().to_str().unwrap();
        init(upstream).await.unwrap();
        std::fs::write(forge.path().join("a"), "a").unwrap();
        let first = commit_all(upstream, "a").await.unwrap();
        std::fs::write(forge.path().join("a"), "b").unwrap();
        let second = commit_all(upstream, "b").await.unwrap();

        let dir = repository_with_origin(upstream).await;
        let repo = dir.path().to_str().unwrap();
        assert_eq!(fetch_branch(repo, "main", None).await.unwrap(), second);
        assert!(git(repo, &["for-each-ref", "refs/ferry"]).await.unwrap().is_empty(), "the scratch ref is gone");
        assert!(fetch_branch(repo, "nope", None).await.unwrap_err().contains("cannot fetch `refs/heads/nope`"));
        for bad in ["-x", "a..b", "a:b", "a b"] {
            assert!(fetch_branch(repo, bad, None).await.unwrap_err().contains("not a branch name"), "{bad}");
        }
        // The branch before a commit arrived on it.
        assert_eq!(before_arrival(repo, &second, &second).await, Some(first.clone()));
        assert_eq!(before_arrival(repo, &second, &first).await, None);
        assert_eq!(before_arrival(repo, &first, &second).await, Some(first.clone()), "not on the line: the tip");
        // Without origin, the repository's own branch.
        assert_eq!(fetch_branch(upstream, "main", None).await.unwrap(), second);
    }
}
