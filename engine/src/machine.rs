//! Where one host's steps act: the seam between the executor (which knows what a plan
//! means: fetch, unpack, commands, switch, health checks) and the machine it changes.
//! `LocalMachine` is this machine, as the built-in agent and every `ferry-agent` see
//! it; the server implements the same trait for hosts it reaches over SSH. A new kind
//! of target (a container runtime, say) is one more implementation.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::plan::ArtifactSource;
use crate::process::{run_shell, Exit};
use crate::release_dir::{as_owner, ReleasePaths};
use crate::states::LogStream;

/// Where a step's output lines go.
pub type Lines = mpsc::Sender<(LogStream, String)>;

/// A shell command to run on the machine.
#[derive(Debug, Clone, Copy)]
pub struct Shell<'a> {
    pub script: &'a str,
    pub cwd: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub timeout: Duration,
}

/// What `place` points at the release being deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placing<'a> {
    /// Move the incoming release into place and switch `current` to it.
    Switch,
    /// Switch `current` to a release already there (a rollback).
    Activate,
    /// Blue-green: move the incoming release into place for this idle slot.
    Stage(&'a str),
    /// Blue-green: point this idle slot at a release already there.
    Restage(&'a str),
    /// Blue-green: `current` and the live slot follow this slot.
    GoLive(&'a str),
    /// Remove `current`, the slots and every release; answers the directory emptied.
    Retire,
}

/// Why an HTTP probe got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    Refused,
    TimedOut,
    Other(String),
}

/// An HTTP answer: its status and body.
pub type HttpAnswer = (u16, String);

/// One host's machine, as the executor drives it. Paths are the machine's own.
pub trait Machine: Send + Sync {
    /// The layout of this deployment's releases on the machine.
    fn paths(&self) -> &ReleasePaths;

    /// Whether a build (clone, pack) can run here: it needs Ferry's own file system.
    fn builds_here(&self) -> bool;

    /// Creates the deployment's `HOME`; where it cannot, the first step fails saying why.
    fn make_home(&self) -> impl Future<Output = io::Result<PathBuf>> + Send;

    /// Creates the releases directory and removes what an earlier attempt left incoming.
    fn prepare(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Puts the artifact into the incoming directory, its checksum verified on the
    /// machine before anything is unpacked; returns its size.
    fn put_artifact(
        &self,
        source: &ArtifactSource,
        cancel: &CancellationToken,
        lines: &Lines,
    ) -> impl Future<Output = Result<u64, String>> + Send;

    /// Runs a shell command as its own process group, every line of its output to
    /// `lines`; a timeout or cancel kills the whole group.
    fn run(&self, shell: Shell<'_>, cancel: &CancellationToken, lines: &Lines) -> impl Future<Output = Exit> + Send;

    /// Points `current` (or a slot) at the release; returns the release's directory.
    fn place(&self, how: Placing<'_>) -> impl Future<Output = io::Result<PathBuf>> + Send;

    /// Removes the oldest releases beyond `keep`, never the live one; returns their ids.
    fn prune(&self, keep: u32) -> impl Future<Output = io::Result<Vec<i64>>> + Send;

    /// Blue-green: the slot serving traffic, if any.
    fn live_slot(&self) -> impl Future<Output = Option<String>> + Send;

    /// The release `current` points at, if any.
    fn current_release(&self) -> impl Future<Output = Option<i64>> + Send;

    /// Removes the deployment's `HOME`, and its incoming directory unless it went live.
    fn clean_up(&self, went_live: bool) -> impl Future<Output = ()> + Send;

    /// `GET url` as the machine itself would (so `localhost` is the machine).
    fn http_get(&self, url: &str, timeout: Duration) -> impl Future<Output = Result<HttpAnswer, HttpFailure>> + Send;
}

/// This machine: steps are processes here, as the target directory's owner.
pub struct LocalMachine {
    paths: ReleasePaths,
    http: OnceLock<reqwest::Client>,
}

impl LocalMachine {
    pub fn new(paths: ReleasePaths) -> Self {
        LocalMachine { paths, http: OnceLock::new() }
    }

    fn http(&self) -> Result<&reqwest::Client, HttpFailure> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpFailure::Other(format!("cannot create HTTP client: {e}")))?;
        Ok(self.http.get_or_init(|| client))
    }
}

impl Machine for LocalMachine {
    fn paths(&self) -> &ReleasePaths {
        &self.paths
    }

    fn builds_here(&self) -> bool {
        true
    }

    async fn make_home(&self) -> io::Result<PathBuf> {
        self.paths.make_home()
    }

    async fn prepare(&self) -> io::Result<()> {
        self.paths.prepare()
    }

    async fn put_artifact(
        &self,
        source: &ArtifactSource,
        cancel: &CancellationToken,
        lines: &Lines,
    ) -> Result<u64, String> {
        let paths = &self.paths;
        let remote = source.location.starts_with("http://") || source.location.starts_with("https://");
        let archive = match remote {
            true => {
                let _ = lines.send((LogStream::System, format!("downloading sha256:{}", source.sha256))).await;
                let path = paths.releases().join(format!(".artifact-{}.tar.gz", paths.deployment_id));
                let file = paths
                    .as_owner(|| {
                        std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path)
                    })
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                // The name goes at once: the open file is what is unpacked.
                let _ = paths.as_owner(|| std::fs::remove_file(&path));
                tokio::select! {
                    got = download(&source.location, source.bearer.as_deref(), file) => got?,
                    _ = cancel.cancelled() => return Err(CANCELLED.into()),
                }
            }
            // Ferry's own artifact, opened as Ferry's user; its entries are written as
            // the step's.
            false => std::fs::File::open(&source.location)
                .map_err(|e| format!("cannot read the artifact {}: {e}", source.location))?,
        };
        let (incoming, sha, owner) = (paths.incoming(), source.sha256.clone(), paths.owner);
        let unpacked = tokio::task::spawn_blocking(move || {
            as_owner(owner, || {
                crate::artifact::unpack_from(archive, &sha, &incoming, &crate::artifact::Limits::default())
                    .map_err(|e| io::Error::other(e.to_string()))
            })
        })
        .await;
        match unpacked {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("unpacking stopped: {e}")),
        }
    }

    async fn run(&self, shell: Shell<'_>, cancel: &CancellationToken, lines: &Lines) -> Exit {
        run_shell(shell.script, shell.cwd, shell.env, self.paths.owner, shell.timeout, cancel, lines).await
    }

    async fn place(&self, how: Placing<'_>) -> io::Result<PathBuf> {
        match how {
            Placing::Switch => self.paths.switch(),
            Placing::Activate => self.paths.activate(),
            Placing::Stage(slot) => self.paths.stage(slot),
            Placing::Restage(slot) => self.paths.restage(slot),
            Placing::GoLive(slot) => self.paths.go_live(slot),
            Placing::Retire => self.paths.retire(),
        }
    }

    async fn prune(&self, keep: u32) -> io::Result<Vec<i64>> {
        self.paths.prune(keep)
    }

    async fn live_slot(&self) -> Option<String> {
        self.paths.live_slot()
    }

    async fn current_release(&self) -> Option<i64> {
        self.paths.current_release()
    }

    async fn clean_up(&self, went_live: bool) {
        self.paths.clean_up(went_live)
    }

    async fn http_get(&self, url: &str, timeout: Duration) -> Result<HttpAnswer, HttpFailure> {
        let response = self.http()?.get(url).timeout(timeout).send().await.map_err(|e| {
            if e.is_connect() {
                HttpFailure::Refused
            } else if e.is_timeout() {
                HttpFailure::TimedOut
            } else {
                HttpFailure::Other(e.to_string())
            }
        })?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.unwrap_or_default()))
    }
}

/// What `put_artifact` says when it was cancelled.
pub const CANCELLED: &str = "cancelled";

/// How long getting an artifact may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// Streams the artifact at `url` into `file`, and hands it back rewound.
async fn download(url: &str, bearer: Option<&str>, file: std::fs::File) -> Result<std::fs::File, String> {
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let client =
        reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    let mut request = client.get(url).timeout(FETCH_TIMEOUT);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let mut response = request.send().await.map_err(|e| format!("cannot download the artifact: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("cannot download the artifact: the server answered {}", response.status()));
    }
    let mut file = tokio::fs::File::from_std(file);
    let writing = |e: io::Error| format!("cannot keep the downloaded artifact: {e}");
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("downloading the artifact: {e}"))? {
        file.write_all(&chunk).await.map_err(writing)?;
    }
    file.flush().await.map_err(writing)?;
    file.rewind().await.map_err(writing)?;
    Ok(file.into_std().await)
}
