//! Runs one shell command as its own process group, streaming each output line as it
//! is produced, with a timeout and cancellation that kill the whole group.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::states::LogStream;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal we did not send (the code is the signal number).
    Signal(i32),
    TimedOut,
    Cancelled,
    /// The process could not be started at all.
    SpawnFailed(String),
}

impl Exit {
    pub fn success(&self) -> bool {
        matches!(self, Exit::Code(0))
    }

    pub fn code(&self) -> Option<i32> {
        match self {
            Exit::Code(c) => Some(*c),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Exit::Code(c) => format!("exited with code {c}"),
            Exit::Signal(s) => format!("killed by signal {s}"),
            Exit::TimedOut => "timed out and was killed".to_string(),
            Exit::Cancelled => "was cancelled and killed".to_string(),
            Exit::SpawnFailed(why) => format!("could not start: {why}"),
        }
    }
}

/// Runs `sh -c script` in `cwd` with `env`, sending every output line to `lines`.
pub async fn run_shell(
    script: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> Exit {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Exit::SpawnFailed(e.to_string()),
    };
    let group = child.id().map(|pid| pid as i32);
    let out = Reader::spawn(child.stdout.take(), LogStream::Stdout, lines);
    let err = Reader::spawn(child.stderr.take(), LogStream::Stderr, lines);

    let exit = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(sig)) => Exit::Signal(sig),
                (None, None) => Exit::Code(-1),
            },
            Err(e) => Exit::SpawnFailed(e.to_string()),
        },
        _ = tokio::time::sleep(timeout) => Exit::TimedOut,
        _ = cancel.cancelled() => Exit::Cancelled,
    };
    if matches!(exit, Exit::TimedOut | Exit::Cancelled) {
        kill_group(group);
        let _ = child.wait().await;
    }
    for reader in [out, err] {
        reader.drain().await;
    }
    exit
}

/// Forwards one pipe's lines, and knows whether it is waiting for the pipe or for the
/// receiver of its lines.
struct Reader {
    task: tokio::task::JoinHandle<()>,
    delivering: Arc<AtomicBool>,
}

impl Reader {
    fn spawn(
        pipe: Option<impl AsyncRead + Unpin + Send + 'static>,
        stream: LogStream,
        lines: &mpsc::Sender<(LogStream, String)>,
    ) -> Self {
        let delivering = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(forward(pipe, stream, lines.clone(), delivering.clone()));
        Reader { task, delivering }
    }

    /// After the command exited: every line it wrote must arrive, however slow the
    /// receiver (a busy step leaves thousands queued). But a step may leave a daemon
    /// running that holds the pipe (a restarted app server); once the pipe has been
    /// empty for half a second, what is left is the daemon's, and it is not waited for.
    async fn drain(mut self) {
        loop {
            if tokio::time::timeout(Duration::from_millis(500), &mut self.task).await.is_ok() {
                return;
            }
            if !self.delivering.load(Ordering::Acquire) {
                self.task.abort();
                return;
            }
        }
    }
}

async fn forward(
    pipe: Option<impl AsyncRead + Unpin>,
    stream: LogStream,
    lines: mpsc::Sender<(LogStream, String)>,
    delivering: Arc<AtomicBool>,
) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let text = text.trim_end_matches(['\n', '\r']).to_string();
                delivering.store(true, Ordering::Release);
                let sent = lines.send((stream, text)).await;
                delivering.store(false, Ordering::Release);
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

fn kill_group(group: Option<i32>) {
    if let Some(pgid) = group.filter(|p| *p > 0) {
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}
