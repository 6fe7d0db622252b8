//! The `ferry` binary: the server, or with a subcommand the CLI.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ferry_server::cli::Command;
use ferry_server::config::{Cli, Config, LogFormat};

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli = Cli::parse();
    match cli.command.take() {
        Some(Command::Config { file }) => {
            cli.config = file.or(cli.config);
            return match Config::load(&cli) {
                Ok(config) => {
                    print!("{}", config.redacted_toml());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ferry: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(command) => return ferry_server::cli::run(command, Cli::command()).await,
        None => {}
    }
    let config = match Config::load(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let log = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match config.log_format {
        // One JSON object per line, with the fields of the spans it happened in
        // (a deployment's id, project and environment).
        LogFormat::Json => log.json().flatten_event(true).with_current_span(false).with_span_list(true).init(),
        LogFormat::Text => log.init(),
    }
    let mut running = match ferry_server::start(&config).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::FAILURE;
        }
    };
    match &config.public_url {
        Some(url) => {
            println!("Ferry {} is running at http://{} (public address {url})", ferry_server::VERSION, running.addr)
        }
        None => println!("Ferry {} is running at http://{}", ferry_server::VERSION, running.addr),
    }
    if running.state.providers.is_empty() && config.password_sign_in {
        println!(
            "Local mode: sign in as `admin`. Forgot its password? Restart with FERRY_ADMIN_PASSWORD=… to set one."
        );
    }
    let stop = stop_signal();
    tokio::select! {
        result = &mut running.server => {
            eprintln!("ferry: the server stopped: {result:?}");
            return ExitCode::FAILURE;
        }
        _ = stop => {}
    }
    match running.shut_down().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: stopping: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (systemd, container runtimes) or Ctrl-C.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
