//! Runs one shell command as its own process group, streaming each output line as it
//! is produced, with a timeout and cancellation that kill the whole group.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
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
    /// The connection to the host it ran on was lost before it ended.
    Lost(String),
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
            Exit::Lost(why) => format!("did not finish: {why}"),
        }
    }
}

/// The only variables of the running process that a step inherits: where programs
/// are and the locale. Everything else a step sees comes from its plan (`FERRY_*`,
/// the project's and environment's variables, `HOME`); the server's own settings and
/// credentials (`FERRY_SECRET_KEY`, `DATABASE_URL`, …) never reach repository code.
pub const INHERITED: [&str; 3] = ["PATH", "LANG", "LC_ALL"];

/// The environment of a step: the inherited few, then `env` (which wins).
pub fn step_environment(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        INHERITED.iter().filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?))).collect();
    out.entry("PATH".into()).or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
    out.entry("LANG".into()).or_insert_with(|| "C.UTF-8".into());
    out.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The unprivileged user a step runs as when Ferry runs as root: repository code must
/// not read what Ferry's own user can (its key, its database, other projects' files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// Runs `sh -c script` in `cwd` with only `env` and the few inherited variables
/// (`step_environment`), as `run_as` when given (with no supplementary groups),
/// sending every output line to `lines`.
pub async fn run_shell(
    script: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    run_as: Option<RunAs>,
    timeout: Duration,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> Exit {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env_clear()
        .envs(step_environment(env))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(user) = run_as {
        // Setting the uid also drops root's supplementary groups (std calls setgroups).
        command.uid(user.uid).gid(user.gid);
        // Files the step makes are the project's, readable as its release is served.
        // Ferry run as a user of its own with capabilities (the packaged service) keeps
        // them across setuid, and ambient ones across exec: the step must hold none.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0o022);
                drop_capabilities()
            });
        }
    }
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
pub struct Reader {
    task: tokio::task::JoinHandle<()>,
    delivering: Arc<AtomicBool>,
}

impl Reader {
    pub fn spawn(
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
    pub async fn drain(mut self) {
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

/// The longest log line kept. A longer one is cut with a marker, so a command that
/// prints megabytes without a newline neither grows the server's memory nor makes a
/// message too large for the agent's connection.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

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
        let cut = match read_capped_line(&mut reader, &mut buf).await {
            Ok(None) | Err(_) => return,
            Ok(Some(cut)) => cut,
        };
        let text = String::from_utf8_lossy(&buf);
        let mut text = text.trim_end_matches(['\n', '\r']).to_string();
        if cut {
            text.push_str(&format!(" … [line cut at {} KiB]", MAX_LINE_BYTES / 1024));
        }
        delivering.store(true, Ordering::Release);
        let sent = lines.send((stream, text)).await;
        delivering.store(false, Ordering::Release);
        if sent.is_err() {
            return;
        }
    }
}

/// Reads one line into `buf`, keeping at most `MAX_LINE_BYTES` of it and skipping the
/// rest up to its newline. `None` at the end of the pipe; otherwise whether it was cut.
async fn read_capped_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let (mut read_any, mut cut) = (false, false);
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(read_any.then_some(cut));
        }
        read_any = true;
        let (line_part, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(at) => (&chunk[..=at], true),
            None => (chunk, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(buf.len());
        if cut {
            // The rest of a cut line is skipped.
        } else if line_part.len() > room {
            cut = true;
            // Cut on a character boundary, so the kept part stays valid UTF-8.
            let mut keep = room;
            while keep > 0 && (line_part[keep] & 0b1100_0000) == 0b1000_0000 {
                keep -= 1;
            }
            buf.extend_from_slice(&line_part[..keep]);
        } else {
            buf.extend_from_slice(line_part);
        }
        let used = line_part.len();
        reader.consume(used);
        if done {
            return Ok(Some(cut));
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

/// Empties this process's effective, permitted and inheritable capability sets (which
/// empties the ambient set too), so that nothing it executes can switch users again.
/// For a forked child before exec (`Command::pre_exec`): only async-signal-safe calls.
pub fn drop_capabilities() -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let none = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: capset(2) with a valid header and the two data words version 3 takes.
    let result = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, none.as_ptr()) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
