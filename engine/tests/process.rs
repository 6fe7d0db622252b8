//! Output of a step's command: every line arrives even when its receiver is slower than
//! the command, and a daemon the command leaves holding the pipe does not hold the step.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferry_engine::process::{run_shell, Exit};
use ferry_engine::LogStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn run(script: &str, per_line_delay: Option<Duration>) -> (Exit, Vec<String>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel::<(LogStream, String)>(16);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some((_, text)) = rx.recv().await {
            lines.push(text);
            if let Some(delay) = per_line_delay.filter(|_| lines.len() % 10 == 0) {
                tokio::time::sleep(delay).await;
            }
        }
        lines
    });
    let started = Instant::now();
    let exit =
        run_shell(script, dir.path(), &BTreeMap::new(), None, Duration::from_secs(60), &CancellationToken::new(), &tx)
            .await;
    let took = started.elapsed();
    drop(tx);
    (exit, collector.await.unwrap(), took)
}

#[tokio::test]
async fn a_slow_receiver_still_gets_every_line() {
    // The command is done in milliseconds; delivering its 5,000 lines takes about a
    // second, well past the half second a silent pipe is given.
    let (exit, lines, _) = run("seq 1 5000", Some(Duration::from_millis(2))).await;
    assert_eq!(exit, Exit::Code(0));
    assert_eq!(lines.len(), 5000, "lines lost; last was {:?}", lines.last());
    assert_eq!(lines.first().map(String::as_str), Some("1"));
    assert_eq!(lines.last().map(String::as_str), Some("5000"));
}

#[tokio::test]
async fn a_daemon_holding_the_pipe_does_not_hold_the_step() {
    let (exit, lines, took) = run("(sleep 30 &) ; echo started", None).await;
    assert_eq!(exit, Exit::Code(0));
    assert_eq!(lines, vec!["started".to_string()]);
    assert!(took < Duration::from_secs(5), "waited {took:?} for the daemon");
}

#[tokio::test]
async fn a_chatty_daemon_does_not_hold_the_step() {
    // It prints a line every 100 ms into the pipe it inherited, for a minute.
    let (exit, lines, took) = run("(for i in $(seq 600); do echo tick; sleep 0.1; done &) ; echo started", None).await;
    assert_eq!(exit, Exit::Code(0));
    // The daemon's first tick may come before the step's own line (a busy machine
    // runs them in either order); what matters is that the step ends.
    assert!(lines.iter().any(|l| l == "started"), "{lines:?}");
    assert!(took < Duration::from_secs(10), "waited {took:?} for the daemon");
}

#[tokio::test]
async fn a_step_sees_only_its_own_variables_and_a_few_of_the_servers() {
    // The server's own settings and credentials are in its environment; a step must
    // not see them. (Unique names: other tests of this binary run alongside.)
    std::env::set_var("FERRY_SECRET_KEY", "server-secret-key");
    std::env::set_var("DATABASE_URL", "postgres://ferry:password@db/ferry");
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel::<(LogStream, String)>(256);
    let env = BTreeMap::from([("FERRY_PROJECT".to_string(), "shop".to_string()), ("HOME".into(), "/run-home".into())]);
    let exit = run_shell("env", dir.path(), &env, None, Duration::from_secs(10), &CancellationToken::new(), &tx).await;
    drop(tx);
    assert_eq!(exit, Exit::Code(0));
    let mut seen = Vec::new();
    while let Some((_, line)) = rx.recv().await {
        seen.push(line);
    }
    let names: Vec<&str> = seen.iter().filter_map(|l| l.split_once('=').map(|(n, _)| n)).collect();
    assert!(!seen.iter().any(|l| l.contains("server-secret-key") || l.contains("password@db")), "{seen:?}");
    assert!(seen.contains(&"FERRY_PROJECT=shop".to_string()) && seen.contains(&"HOME=/run-home".to_string()));
    assert!(names.contains(&"PATH") && names.contains(&"LANG"), "{names:?}");
    // What sh itself adds (PWD, SHLVL, `_`) aside, nothing else came through.
    let allowed = ["PATH", "LANG", "LC_ALL", "HOME", "FERRY_PROJECT", "PWD", "SHLVL", "_", "OLDPWD"];
    let extra: Vec<&&str> = names.iter().filter(|n| !allowed.contains(n)).collect();
    assert!(extra.is_empty(), "the step inherited {extra:?}");
}

#[tokio::test]
async fn a_huge_line_is_cut_with_a_marker_and_the_next_line_still_arrives() {
    // 3 MiB without a newline, then a normal line.
    let (exit, lines, _) = run("head -c 3145728 /dev/zero | tr '\\0' x; echo; echo after", None).await;
    assert_eq!(exit, Exit::Code(0));
    assert_eq!(lines.len(), 2, "{:?}", lines.iter().map(|l| l.len()).collect::<Vec<_>>());
    assert!(lines[0].ends_with("… [line cut at 64 KiB]"), "{}", &lines[0][lines[0].len() - 40..]);
    assert_eq!(lines[0].len(), ferry_engine::process::MAX_LINE_BYTES + " … [line cut at 64 KiB]".len());
    assert_eq!(lines[1], "after");
}
