//! Runs one shell command as its own process group, streaming each output line as it
//! is produced, with a timeout and cancellation that kill the whole group.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
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
    let out = tokio::spawn(forward(child.stdout.take(), LogStream::Stdout, lines.clone()));
    let err = tokio::spawn(forward(child.stderr.take(), LogStream::Stderr, lines.clone()));

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
    // A step may leave a daemon running that still holds the pipes (a restarted
    // app server): read what is buffered, but do not wait for the daemon to exit.
    for reader in [out, err] {
        let abort = reader.abort_handle();
        if tokio::time::timeout(Duration::from_millis(500), reader).await.is_err() {
            abort.abort();
        }
    }
    exit
}

async fn forward(pipe: Option<impl AsyncRead + Unpin>, stream: LogStream, lines: mpsc::Sender<(LogStream, String)>) {
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
                if lines.send((stream, text)).await.is_err() {
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
