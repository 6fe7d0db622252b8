//! The `ferry-agent` binary: reads its settings and runs the agent until Ctrl-C.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferry_agent::{run, AgentConfig};
use ferry_engine::protocol::parse_selector;
use tokio_util::sync::CancellationToken;

/// Ferry's agent: runs deployments on this host for a Ferry server.
#[derive(Debug, Parser)]
#[command(name = "ferry-agent", version)]
struct Cli {
    /// The Ferry server, e.g. https://ferry.example.com.
    #[arg(long, env = "FERRY_AGENT_SERVER")]
    server: String,
    /// This agent's name in Ferry [default: the host name].
    #[arg(long, env = "FERRY_AGENT_NAME")]
    name: Option<String>,
    /// Labels environments select agents by, e.g. `env=staging,role=web`.
    #[arg(long, env = "FERRY_AGENT_LABELS", default_value = "")]
    labels: String,
    /// Where releases live: `<workdir>/<project>/releases/…` and the credential.
    #[arg(long, env = "FERRY_AGENT_WORKDIR", default_value = "/var/lib/ferry-agent")]
    workdir: PathBuf,
    /// A one-time registration token from Ferry (Agents page); needed on first start.
    #[arg(long, env = "FERRY_AGENT_TOKEN", hide_env_values = true)]
    registration_token: Option<String>,
    /// A variable of this host for every step, `NAME=value` (repeat for more); it
    /// overrides the environment's value of the same name, e.g. `--var PORT=9001`.
    #[arg(long = "var", value_name = "NAME=value")]
    vars: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let labels: BTreeMap<String, String> = match parse_selector(&cli.labels) {
        Ok(pairs) => pairs.into_iter().collect(),
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
    let name = cli.name.or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()));
    let config = AgentConfig {
        server: cli.server,
        name: name.filter(|n| !n.is_empty()).unwrap_or_else(|| "agent".into()),
        labels,
        workdir: cli.workdir,
        registration_token: cli.registration_token,
        vars,
    };
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
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
