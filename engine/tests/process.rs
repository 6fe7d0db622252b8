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
        run_shell(script, dir.path(), &BTreeMap::new(), Duration::from_secs(60), &CancellationToken::new(), &tx).await;
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
    assert_eq!(lines.first().map(String::as_str), Some("started"));
    assert!(took < Duration::from_secs(10), "waited {took:?} for the daemon");
}
