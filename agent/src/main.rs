//! The `ferry-agent` binary: reads its settings and runs the agent until SIGTERM or
//! Ctrl-C, then finishes (or, past its grace, stops) the jobs it runs before exiting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferry_agent::{run, AgentConfig};
use ferry_engine::protocol::parse_selector;
use tokio_util::sync::CancellationToken;

/// Ferry's agent: runs deployments on this host for a Ferry server.
#[derive(Debug, Parser)]
#[command(name = "ferry-agent", version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("FERRY_GIT_COMMIT"), ")"))]
struct Cli {
    /// The Ferry server, e.g. https://ferry.example.com; or several replicas' addresses,
    /// comma separated (a lost connection is made again to the next one), when they
    /// are not behind one load-balanced address.
    #[arg(long, env = "FERRY_AGENT_SERVER")]
    server: String,
    /// The name this agent expects to have in Ferry. Its registration token (or an
    /// administrator, later) decides it; an agent that presents another is refused.
    #[arg(long, env = "FERRY_AGENT_NAME")]
    name: Option<String>,
    /// The labels this agent expects, e.g. `env=staging,role=web`. As with the name,
    /// Ferry decides them and refuses an agent that presents others.
    #[arg(long, env = "FERRY_AGENT_LABELS")]
    labels: Option<String>,
    /// Where releases live: `<workdir>/<project>/<environment>/releases/…` and the
    /// credential.
    #[arg(long, env = "FERRY_AGENT_WORKDIR", default_value = "/var/lib/ferry-agent")]
    workdir: PathBuf,
    /// A one-time registration token from Ferry (Agents page); needed on first start.
    #[arg(long, env = "FERRY_AGENT_TOKEN", hide_env_values = true)]
    registration_token: Option<String>,
    /// A variable of this host for every step, `NAME=value` (repeat for more); it
    /// overrides the environment's value of the same name, e.g. `--var PORT=9001`.
    #[arg(long = "var", value_name = "NAME=value")]
    vars: Vec<String>,
    /// On SIGTERM or Ctrl-C, how long running jobs may take to finish and report
    /// before their steps are killed.
    #[arg(long, env = "FERRY_AGENT_SHUTDOWN_GRACE_SECONDS", default_value_t = 60)]
    shutdown_grace_seconds: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let labels: Option<BTreeMap<String, String>> = match cli.labels.as_deref().map(parse_selector).transpose() {
        Ok(pairs) => pairs.map(|p| p.into_iter().collect()),
        Err(e) => {
            eprintln!("ferry-agent: --labels: {e}");
            return ExitCode::from(2);
        }
    };
    let mut vars = BTreeMap::new();
    for pair in &cli.vars {
        match pair.split_once('=') {
            Some((key, value)) if ferry_engine::pipeline::VarName::parse(key).is_ok() => {
                vars.insert(key.to_string(), value.to_string());
            }
            _ => {
                eprintln!("ferry-agent: --var {pair}: expected NAME=value with a variable name such as PORT");
                return ExitCode::from(2);
            }
        }
    }
    let config = AgentConfig {
        server: cli.server,
        name: cli.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        labels,
        workdir: cli.workdir,
        registration_token: cli.registration_token,
        vars,
        shutdown_grace: std::time::Duration::from_secs(cli.shutdown_grace_seconds),
    };
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        on_signal.cancel();
    });
    match run(config, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
