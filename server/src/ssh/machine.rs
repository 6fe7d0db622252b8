//! A host reached over SSH, as the executor's `Machine`: every step is a channel on
//! the deployment's one connection to it. Nothing of Ferry is installed there; what
//! runs is POSIX `sh` with coreutils (`sha256sum`, `tar`, `mv -T`), as on any Linux.
//!
//! A step's variables travel on the channel's stdin, never on a command line, so no
//! `ps` on the host shows them. The step runs in its own session (`setsid`), and a
//! watcher on the same stdin kills that whole process group when Ferry says stop or
//! the channel goes away: a cancel, a timeout or a dropped connection leaves no child
//! behind.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_engine::machine::{HttpAnswer, HttpFailure, Lines, Machine, Placing, Shell, CANCELLED, FETCH_TIMEOUT};
use ferry_engine::plan::ArtifactSource;
use ferry_engine::process::{Exit, Reader};
use ferry_engine::release_dir::ReleasePaths;
use ferry_engine::LogStream;
use russh::ChannelMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::scripts::{quote, LAYOUT, STEP, UPLOAD};
use super::session::Session;

/// How long a layout change (switch, prune, …) may take.
const LAYOUT_TIMEOUT: Duration = Duration::from_secs(120);

/// After a step exits, output that still trickles in for this long is kept; a daemon
/// it started may hold its output open forever, and is not waited for.
const AFTER_EXIT: Duration = Duration::from_millis(500);

/// The most of an HTTP answer a health check reads.
const MAX_ANSWER: u64 = 1 << 20;

/// The most a layout operation may print: its answer is a few `key=value` lines (one
/// per pruned release at most). A host that says more is not believed, and not read on.
const MAX_LAYOUT_ANSWER: usize = 64 * 1024;

/// The most of a command's stderr kept as its reason; a command of Ferry's that says more
/// has failed (it is not waited for).
const MAX_REASON: usize = 4 * 1024;

/// Bytes from the host, kept up to a bound: the host is not trusted to say little.
#[derive(Debug)]
struct Capped {
    kept: Vec<u8>,
    limit: usize,
    over: bool,
}

impl Capped {
    fn new(limit: usize) -> Self {
        Capped { kept: Vec::new(), limit, over: false }
    }

    fn push(&mut self, data: &[u8]) {
        let room = self.limit - self.kept.len();
        if data.len() > room {
            self.over = true;
        }
        self.kept.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// The text kept, saying when some was left out.
    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.over {
            format!("{text}… (cut at {} bytes)", self.limit)
        } else {
            text
        }
    }
}

pub struct SshMachine {
    session: Arc<Session>,
    paths: ReleasePaths,
    /// Where `current` and the live slot were after the last layout operation: every
    /// operation says, so asking costs no extra round trip (each channel is a session
    /// on the host, a new process of the user's login shell).
    seen: Mutex<Option<Layout>>,
    /// Whether this deployment's `HOME` is made: the first look makes it, as the run
    /// that follows needs it anyway.
    home_made: AtomicBool,
}

/// Where `current` points and which slot is live, as a layout operation saw them.
#[derive(Debug, Clone, Default, PartialEq)]
struct Layout {
    current: Option<i64>,
    live_slot: Option<String>,
}

impl Layout {
    /// The `current=…` and `slot=…` lines the layout script ends with.
    fn read(out: &str) -> Option<Layout> {
        let mut layout = None::<Layout>;
        for line in out.lines() {
            if let Some(target) = line.strip_prefix("current=") {
                layout.get_or_insert_with(Layout::default).current = target.rsplit('/').next()?.parse().ok();
            } else if let Some(slot) = line.strip_prefix("slot=") {
                layout.get_or_insert_with(Layout::default).live_slot =
                    Some(slot.trim().to_string()).filter(|s| !s.is_empty());
            }
        }
        layout
    }
}

impl SshMachine {
    /// `paths` are the host's: its deploy directory for this project and environment.
    pub fn new(session: Arc<Session>, paths: ReleasePaths) -> Self {
        SshMachine { session, paths, seen: Mutex::new(None), home_made: AtomicBool::new(false) }
    }

    /// What the last operation saw, or what a look sees now.
    async fn layout_now(&self) -> Option<Layout> {
        if let Some(seen) = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Some(seen);
        }
        match self.home_made.load(Ordering::SeqCst) {
            true => self.layout("look", "", 0).await.ok()?,
            false => {
                let out = self.layout("home", "", 0).await.ok()?;
                self.home_made.store(true, Ordering::SeqCst);
                out
            }
        };
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn dir(&self) -> String {
        self.paths.target_dir.display().to_string()
    }

    /// Runs one operation of the release layout script; its stdout, or why it failed.
    async fn layout(&self, op: &str, slot: &str, keep: u32) -> io::Result<String> {
        let args = [
            op.to_string(),
            self.dir(),
            self.paths.release_id.to_string(),
            self.paths.deployment_id.to_string(),
            slot.to_string(),
            keep.to_string(),
        ];
        let command = script_command(LAYOUT, &args);
        let (code, out, err) =
            tokio::time::timeout(LAYOUT_TIMEOUT, self.collect(&command, None)).await.map_err(|_| {
                io::Error::other(format!(
                    "{} did not answer within {}s",
                    self.session.endpoint,
                    LAYOUT_TIMEOUT.as_secs()
                ))
            })??;
        match code {
            Some(0) => {
                *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Layout::read(&out);
                Ok(out)
            }
            _ => {
                let why = err.trim();
                let why =
                    if why.is_empty() { format!("`{op}` failed on {}", self.session.endpoint) } else { why.into() };
                Err(io::Error::other(why))
            }
        }
    }

    /// Runs `command`, feeding it `input`, and collects its exit code and output. An
    /// answer longer than a layout operation's can be, or more than `MAX_REASON` on
    /// stderr, is refused at once (the channel is dropped, which closes it).
    async fn collect(&self, command: &str, input: Option<&[u8]>) -> io::Result<(Option<u32>, String, String)> {
        let mut channel = self.session.exec(command).await.map_err(io::Error::other)?;
        if let Some(input) = input {
            channel.data_bytes(input.to_vec()).await.map_err(|e| io::Error::other(e.to_string()))?;
        }
        channel.eof().await.map_err(|e| io::Error::other(e.to_string()))?;
        let (mut code, mut out, mut err) = (None, Capped::new(MAX_LAYOUT_ANSWER), Capped::new(MAX_REASON));
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    out.push(&data);
                    if out.over {
                        return Err(io::Error::other(format!(
                            "{} answered with more than {MAX_LAYOUT_ANSWER} bytes, more than Ferry's command prints",
                            self.session.endpoint
                        )));
                    }
                }
                ChannelMsg::ExtendedData { data, .. } => {
                    err.push(&data);
                    if err.over {
                        return Err(io::Error::other(err.text()));
                    }
                }
                ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                _ => {}
            }
        }
        if code.is_none() && self.session.is_closed() {
            return Err(io::Error::other(format!("lost the connection to {}", self.session.endpoint)));
        }
        Ok((code, out.text(), err.text()))
    }
}

impl Machine for SshMachine {
    fn paths(&self) -> &ReleasePaths {
        &self.paths
    }

    fn builds_here(&self) -> bool {
        false
    }

    async fn make_home(&self) -> io::Result<PathBuf> {
        if !self.home_made.swap(true, Ordering::SeqCst) {
            if let Err(e) = self.layout("home", "", 0).await {
                self.home_made.store(false, Ordering::SeqCst);
                return Err(e);
            }
        }
        Ok(self.paths.home())
    }

    /// Nothing to do apart: what follows on an SSH host is `put_artifact` (it never
    /// builds), which makes the releases directory and clears an earlier attempt.
    async fn prepare(&self) -> io::Result<()> {
        Ok(())
    }

    async fn put_artifact(
        &self,
        source: &ArtifactSource,
        cancel: &CancellationToken,
        lines: &Lines,
    ) -> Result<u64, String> {
        let file = tokio::fs::File::open(&source.location)
            .await
            .map_err(|e| format!("cannot read the artifact {}: {e}", source.location))?;
        let size = file.metadata().await.map_err(|e| e.to_string())?.len();
        let _ = lines
            .send((LogStream::System, format!("sending sha256:{} to {}", source.sha256, self.session.endpoint)))
            .await;
        let releases = self.paths.releases();
        let args = [
            releases.display().to_string(),
            releases.join(format!(".artifact-{}.tar.gz", self.paths.deployment_id)).display().to_string(),
            self.paths.incoming().display().to_string(),
            source.sha256.clone(),
        ];
        let command = script_command(UPLOAD, &args);
        let mut channel = self.session.exec(&command).await?;
        let sending = async {
            let mut file = file;
            let mut chunk = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut chunk).await.map_err(|e| format!("reading the artifact: {e}"))?;
                if n == 0 {
                    break;
                }
                channel.data_bytes(chunk[..n].to_vec()).await.map_err(|e| format!("sending the artifact: {e}"))?;
            }
            channel.eof().await.map_err(|e| format!("sending the artifact: {e}"))?;
            let (mut code, mut err) = (None, Capped::new(MAX_REASON));
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::ExtendedData { data, .. } => {
                        err.push(&data);
                        if err.over {
                            // Ferry's upload says little; a host that says more is not waited for.
                            return Err(err.text().trim().to_string());
                        }
                    }
                    ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                    _ => {}
                }
            }
            match code {
                Some(0) => Ok(size),
                Some(_) => Err(err.text().trim().to_string()),
                None => Err(format!("lost the connection to {} while sending the artifact", self.session.endpoint)),
            }
        };
        tokio::select! {
            sent = tokio::time::timeout(FETCH_TIMEOUT, sending) => {
                sent.unwrap_or_else(|_| Err(format!("sending the artifact took over {}s", FETCH_TIMEOUT.as_secs())))
            }
            _ = cancel.cancelled() => Err(CANCELLED.into()),
        }
    }

    async fn run(&self, shell: Shell<'_>, cancel: &CancellationToken, lines: &Lines) -> Exit {
        let end = end_marker();
        let command = script_command(STEP, &[shell.cwd.display().to_string(), end.clone()]);
        let mut channel = match self.session.exec(&command).await {
            Ok(channel) => channel,
            Err(why) => return Exit::Lost(why),
        };
        let mut input = environment_block(shell.env, shell.script);
        input.push_str(&end);
        input.push('\n');
        if let Err(e) = channel.data_bytes(input.into_bytes()).await {
            return Exit::Lost(format!("sending the step to {}: {e}", self.session.endpoint));
        }
        let (mut out_in, out) = tokio::io::duplex(64 * 1024);
        let (mut err_in, err) = tokio::io::duplex(64 * 1024);
        let readers =
            [Reader::spawn(Some(out), LogStream::Stdout, lines), Reader::spawn(Some(err), LogStream::Stderr, lines)];
        let deadline = tokio::time::sleep(shell.timeout);
        tokio::pin!(deadline);
        let (mut stopped, mut ended): (Option<Exit>, Option<Exit>) = (None, None);
        loop {
            let wait = async {
                match ended {
                    // Once it exited, only what follows at once is its output.
                    Some(_) => tokio::time::timeout(AFTER_EXIT, channel.wait()).await.unwrap_or(None),
                    None => channel.wait().await,
                }
            };
            tokio::select! {
                msg = wait => match msg {
                    Some(ChannelMsg::Data { data }) => { let _ = out_in.write_all(&data).await; }
                    Some(ChannelMsg::ExtendedData { data, .. }) => { let _ = err_in.write_all(&data).await; }
                    Some(ChannelMsg::ExitStatus { exit_status }) => ended = Some(Exit::Code(exit_status as i32)),
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        ended = Some(Exit::Signal(signal_number(&format!("{signal_name:?}"))));
                    }
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => {}
                },
                _ = &mut deadline, if stopped.is_none() && ended.is_none() => {
                    stopped = Some(Exit::TimedOut);
                    let _ = channel.data_bytes(&b"stop\n"[..]).await;
                }
                _ = cancel.cancelled(), if stopped.is_none() && ended.is_none() => {
                    stopped = Some(Exit::Cancelled);
                    let _ = channel.data_bytes(&b"stop\n"[..]).await;
                }
            }
        }
        drop((out_in, err_in));
        for reader in readers {
            reader.drain().await;
        }
        let _ = channel.close().await;
        match (stopped, ended) {
            (Some(stopped), _) => stopped,
            (None, Some(ended)) => ended,
            (None, None) => Exit::Lost(format!("lost the connection to {}", self.session.endpoint)),
        }
    }

    async fn place(&self, how: Placing<'_>) -> io::Result<PathBuf> {
        let (op, slot) = match how {
            Placing::Switch => ("switch", ""),
            Placing::Activate => ("activate", ""),
            Placing::Stage(slot) => ("stage", slot),
            Placing::Restage(slot) => ("restage", slot),
            Placing::GoLive(slot) => ("go-live", slot),
            Placing::Retire => {
                self.layout("retire", "", 0).await?;
                return Ok(self.paths.target_dir.clone());
            }
        };
        self.layout(op, slot, 0).await?;
        Ok(self.paths.release())
    }

    async fn prune(&self, keep: u32) -> io::Result<Vec<i64>> {
        let out = self.layout("prune", "", keep.max(1)).await?;
        Ok(out.lines().filter_map(|l| l.strip_prefix("removed=")?.parse().ok()).collect())
    }

    async fn live_slot(&self) -> Option<String> {
        self.layout_now().await?.live_slot
    }

    async fn current_release(&self) -> Option<i64> {
        self.layout_now().await?.current
    }

    async fn clean_up(&self, went_live: bool) {
        let op = if went_live { "clean-home" } else { "clean" };
        if let Err(e) = self.layout(op, "", 0).await {
            tracing::warn!(host = %self.session.endpoint, error = %e, "cleaning up after a deployment");
        }
    }

    async fn http_get(&self, url: &str, timeout: Duration) -> Result<HttpAnswer, HttpFailure> {
        let parsed = url::Url::parse(url).map_err(|e| HttpFailure::Other(format!("not a URL: {e}")))?;
        if parsed.scheme() != "http" {
            return Err(HttpFailure::Other(
                "an SSH host's HTTP check asks the host itself over the SSH connection, which speaks plain http; \
                 use an http:// URL or a command check"
                    .into(),
            ));
        }
        let host = parsed.host_str().unwrap_or("localhost").trim_matches(['[', ']']).to_string();
        let port = parsed.port_or_known_default().unwrap_or(80);
        let mut path = parsed.path().to_string();
        if let Some(query) = parsed.query() {
            path = format!("{path}?{query}");
        }
        let asking = async {
            let mut stream = self.session.connect_from_host(&host, port).await.map_err(|e| match e {
                russh::Error::ChannelOpenFailure(_) => HttpFailure::Refused,
                other => HttpFailure::Other(format!("over SSH: {other}")),
            })?;
            let request = format!(
                "GET {path} HTTP/1.0\r\nHost: {}\r\nUser-Agent: ferry-health-check\r\nConnection: close\r\n\r\n",
                parsed.host_str().map(|h| format!("{h}:{port}")).unwrap_or_default()
            );
            stream.write_all(request.as_bytes()).await.map_err(|e| HttpFailure::Other(e.to_string()))?;
            let mut answer = Vec::new();
            (&mut stream)
                .take(MAX_ANSWER)
                .read_to_end(&mut answer)
                .await
                .map_err(|e| HttpFailure::Other(e.to_string()))?;
            parse_answer(&answer).ok_or_else(|| HttpFailure::Other("the answer is not HTTP".into()))
        };
        tokio::time::timeout(timeout, asking).await.unwrap_or(Err(HttpFailure::TimedOut))
    }
}

/// `sh -c '<script>' ferry <args…>`, every part quoted: paths and ids only, never a secret.
fn script_command(script: &str, args: &[String]) -> String {
    let mut command = format!("exec /bin/sh -c {} ferry", quote(script));
    for arg in args {
        command.push(' ');
        command.push_str(&quote(arg));
    }
    command
}

/// The step's variables and script as shell assignments, for the step script to read
/// from stdin. Names that are not shell names are left out (they could not be set).
fn environment_block(env: &BTreeMap<String, String>, script: &str) -> String {
    let mut block = String::new();
    // The host's own PATH and locale stay; the plan's variables (and `HOME`) win.
    for (name, value) in env {
        if is_shell_name(name) {
            block.push_str(&format!("export {name}={}\n", quote(value)));
        }
    }
    block.push_str(&format!("__ferry_script={}\n", quote(script)));
    block
}

fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A line no value can forge: the block's end.
fn end_marker() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("__ferry_end_{}", hex::encode(bytes))
}

fn signal_number(name: &str) -> i32 {
    match name.to_ascii_uppercase().as_str() {
        n if n.contains("HUP") => 1,
        n if n.contains("INT") => 2,
        n if n.contains("QUIT") => 3,
        n if n.contains("ABRT") => 6,
        n if n.contains("KILL") => 9,
        n if n.contains("SEGV") => 11,
        n if n.contains("PIPE") => 13,
        n if n.contains("TERM") => 15,
        _ => -1,
    }
}

/// The status and body of an HTTP/1.x answer.
fn parse_answer(answer: &[u8]) -> Option<HttpAnswer> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_gives_its_status_and_body() {
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nhello 1.2"), Some((200, "hello 1.2".into())));
        assert_eq!(parse_answer(b"HTTP/1.0 503 Unavailable\r\n\r\n"), Some((503, String::new())));
        assert_eq!(parse_answer(b"SSH-2.0-OpenSSH"), None);
    }

    #[test]
    fn a_layout_operation_says_where_current_and_the_live_slot_are() {
        let seen = Layout::read("removed=3\ncurrent=releases/12\nslot=blue\n").unwrap();
        assert_eq!(seen, Layout { current: Some(12), live_slot: Some("blue".into()) });
        assert_eq!(Layout::read("current=\nslot=\n").unwrap(), Layout::default());
        assert_eq!(Layout::read("nothing"), None);
    }

    #[test]
    fn variables_become_quoted_assignments_and_odd_names_are_left_out() {
        let env = BTreeMap::from([
            ("TOKEN".to_string(), "it's $HOME `x`\nline".to_string()),
            ("NOT-A-NAME".to_string(), "x".to_string()),
        ]);
        let block = environment_block(&env, "echo hi");
        assert!(block.contains("export TOKEN='it'\\''s $HOME `x`\nline'\n"), "{block}");
        assert!(!block.contains("NOT-A-NAME"));
        assert!(block.ends_with("__ferry_script='echo hi'\n"));
    }
}
