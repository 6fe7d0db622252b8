//! Configuration: built-in defaults (the embedded mode: SQLite in `./ferry-data`, the
//! demo project), then an optional TOML file, then `FERRY_*` variables and flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use crate::auth::providers::settings::ProviderSettings;

/// Ferry: self-hosted deployments with a live environment matrix.
#[derive(Debug, Parser)]
#[command(name = "ferry", version = crate::VERSION, about = "Ferry: self-hosted deployments with a live environment matrix.", long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// TOML configuration file (keys as below, e.g. `bind = "0.0.0.0:8080"`).
    #[arg(long, short, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "FERRY_BIND")]
    pub bind: Option<SocketAddr>,
    /// Directory for the SQLite database, repositories and deployment targets [default: ferry-data].
    #[arg(long, env = "FERRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:...` or `postgres://...`; DATABASE_URL is read too [default: SQLite in the data dir].
    #[arg(long, env = "FERRY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Serve the web interface from this directory (Trunk's `dist`) instead of the copy
    /// built into the binary: for working on the interface.
    #[arg(long, env = "FERRY_SITE_DIR")]
    pub site_dir: Option<PathBuf>,
    /// Create the demo project on first start [default: true].
    #[arg(long, env = "FERRY_DEMO")]
    pub demo: Option<bool>,
    /// The example app the demo project is made from [default: examples/hello-web].
    #[arg(long, env = "FERRY_DEMO_SOURCE")]
    pub demo_source: Option<PathBuf>,
    /// The address people use to reach Ferry, e.g. `https://ferry.example.com`; sign-in
    /// redirects are built from it, and `https` makes the session cookie Secure.
    #[arg(long, env = "FERRY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Password of the local `admin` account; without it, a first start prints a random one.
    #[arg(long, env = "FERRY_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// The mail server for people's own email notifications, e.g.
    /// `smtp://user:password@mail.example.com:587?tls=required` (or `smtps://…`).
    #[arg(long, env = "FERRY_MAIL_SMTP_URL", hide_env_values = true)]
    pub mail_smtp_url: Option<String>,
    /// The sender of those emails, e.g. `Ferry <ferry@example.com>`.
    #[arg(long, env = "FERRY_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// GitHub's REST API, e.g. `https://github.example.com/api/v3` for GitHub Enterprise
    /// Server [default: https://api.github.com].
    #[arg(long, env = "FERRY_GITHUB_API_URL")]
    pub github_api_url: Option<String>,
    /// The GitLab instance, e.g. `https://gitlab.example.com` [default: https://gitlab.com].
    #[arg(long, env = "FERRY_GITLAB_URL")]
    pub gitlab_url: Option<String>,
    /// When Ferry runs as root, the unprivileged user that build and deploy steps run
    /// as (one uid per project from its /etc/subuid range); empty runs them as root
    /// [default: ferry-build].
    #[arg(long, env = "FERRY_STEP_USER")]
    pub step_user: Option<String>,
    /// Without a command, `ferry` runs the server.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// The web interface from a directory instead of the binary's own copy.
    pub site_dir: Option<PathBuf>,
    pub demo: bool,
    pub demo_source: PathBuf,
    pub public_url: Option<String>,
    pub admin_password: Option<String>,
    /// A session ends after this long without a request.
    pub session_idle_minutes: i64,
    /// A session ends this long after sign-in, however active.
    pub session_max_hours: i64,
    /// Whether the local password form is offered.
    pub password_sign_in: bool,
    /// Failed password sign-ins to one login within 15 minutes before more are refused
    /// (429) until the window ends; a client address gets five times as many.
    pub sign_in_max_failures: i64,
    /// Sign-in providers (`[[sign_in]]` tables): GitHub, GitLab or any OIDC provider.
    pub sign_in: Vec<ProviderSettings>,
    /// With several replicas on PostgreSQL: a replica that has not renewed its hold on
    /// an environment for this long is taken for dead, and another ends its deployment.
    pub lease_seconds: u64,
    /// On SIGTERM or Ctrl-C, how long running deployments may take to finish before
    /// they are stopped; queued ones wait for the next start either way.
    pub shutdown_grace_seconds: u64,
    /// A job fails, its running step marked `agent_lost`, when its agent stays away this
    /// long (default 30 s: three missed heartbeats).
    pub agent_grace_seconds: u64,
    /// The key that seals secrets [default: `<data_dir>/secret.key`, created on first
    /// start]; `FERRY_SECRET_KEY` (base64 of 32 bytes) takes precedence.
    pub secret_key_file: Option<PathBuf>,
    /// The mail server for people's own email notifications (see `mail_from`); without
    /// it, people can choose in-app notifications only.
    pub mail_smtp_url: Option<String>,
    pub mail_from: Option<String>,
    /// Where linked GitHub repositories' REST API is (GitHub Enterprise: `…/api/v3`).
    pub github_api_url: String,
    /// Where linked GitLab projects' instance is (its API is under `/api/v4`).
    pub gitlab_url: String,
    /// When Ferry runs as root, steps run as this user (see `services::step_users`);
    /// empty runs them as root.
    pub step_user: String,
    /// How long connecting to an SSH host (and signing in) may take.
    pub ssh_connect_timeout_seconds: u64,
    /// Deployments that may run on one SSH host at once; the others wait their turn.
    pub ssh_sessions_per_host: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("ferry-data"),
            database_url: None,
            site_dir: None,
            demo: true,
            demo_source: PathBuf::from("examples/hello-web"),
            public_url: None,
            admin_password: None,
            session_idle_minutes: 8 * 60,
            session_max_hours: 7 * 24,
            password_sign_in: true,
            sign_in_max_failures: 10,
            sign_in: Vec::new(),
            agent_grace_seconds: 30,
            shutdown_grace_seconds: 60,
            lease_seconds: 15,
            secret_key_file: None,
            mail_smtp_url: None,
            mail_from: None,
            github_api_url: "https://api.github.com".into(),
            gitlab_url: "https://gitlab.com".into(),
            step_user: "ferry-build".into(),
            ssh_connect_timeout_seconds: 10,
            ssh_sessions_per_host: 4,
        }
    }
}

impl Config {
    /// Defaults, overlaid by the file, overlaid by flags and environment variables.
    pub fn load(cli: &Cli) -> Result<Self, String> {
        let mut config = match &cli.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        if let Some(v) = cli.bind {
            config.bind = v;
        }
        if let Some(v) = &cli.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = cli.database_url.clone().or_else(|| std::env::var("DATABASE_URL").ok()) {
            config.database_url = Some(v);
        }
        if let Some(v) = &cli.site_dir {
            config.site_dir = Some(v.clone());
        }
        if let Some(v) = cli.demo {
            config.demo = v;
        }
        if let Some(v) = &cli.demo_source {
            config.demo_source = v.clone();
        }
        if let Some(v) = &cli.public_url {
            config.public_url = Some(v.clone());
        }
        if let Some(v) = &cli.admin_password {
            config.admin_password = Some(v.clone());
        }
        if let Some(v) = &cli.mail_smtp_url {
            config.mail_smtp_url = Some(v.clone());
        }
        if let Some(v) = &cli.mail_from {
            config.mail_from = Some(v.clone());
        }
        if let Some(v) = &cli.github_api_url {
            config.github_api_url = v.clone();
        }
        if let Some(v) = &cli.gitlab_url {
            config.gitlab_url = v.clone();
        }
        if let Some(v) = &cli.step_user {
            config.step_user = v.clone();
        }
        config.check()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))
    }

    /// Values that parse but make no sense, refused with the key's name.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.public_url {
            public_origin(url)?;
        }
        let mut ids = std::collections::HashSet::new();
        for provider in &self.sign_in {
            provider.check()?;
            if !ids.insert(&provider.id) {
                return Err(format!("sign_in `{}`: two providers have this id", provider.id));
            }
        }
        if !self.sign_in.is_empty() && self.public_url.is_none() {
            return Err("public_url is required with sign-in providers: their redirect URI is built from it".into());
        }
        if let Some((smtp_url, from)) = self.personal_mail() {
            let probe =
                ferry_app::model::ChannelSettings::Email { smtp_url, from, to: vec!["probe@example.com".into()] };
            probe.check().map_err(|e| format!("mail_{e}"))?;
        } else if self.mail_smtp_url.is_some() != self.mail_from.is_some() {
            return Err("mail_smtp_url and mail_from go together: set both, or neither".into());
        }
        for (key, url) in [("github_api_url", &self.github_api_url), ("gitlab_url", &self.gitlab_url)] {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => return Err(format!("{key}: `{url}` is not an http(s) URL")),
            }
        }
        if self.session_idle_minutes < 1 || self.session_max_hours < 1 {
            return Err("session_idle_minutes and session_max_hours must be at least 1".into());
        }
        if self.lease_seconds < 3 {
            return Err("lease_seconds must be at least 3".into());
        }
        if self.sign_in_max_failures < 1 {
            return Err("sign_in_max_failures must be at least 1".into());
        }
        if self.ssh_connect_timeout_seconds < 1 || self.ssh_sessions_per_host < 1 {
            return Err("ssh_connect_timeout_seconds and ssh_sessions_per_host must be at least 1".into());
        }
        Ok(())
    }

    /// The origin (scheme, host, port) of `public_url`, if set.
    pub fn public_origin(&self) -> Option<String> {
        self.public_url.as_deref().and_then(|u| public_origin(u).ok())
    }

    /// The mail server and sender for people's own email, when both are set.
    pub fn personal_mail(&self) -> Option<(String, String)> {
        self.mail_smtp_url.clone().zip(self.mail_from.clone())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("ferry.db").display()),
        }
    }
}

fn public_origin(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("public_url `{url}`: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("public_url `{url}`: must be an http:// or https:// address"));
    }
    Ok(parsed.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_apply_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "bind = \"127.0.0.1:9999\"\ndemo = false\n").unwrap();
        let config = Config::from_file(&good).unwrap();
        assert_eq!(config.bind.port(), 9999);
        assert!(!config.demo);
        assert_eq!(config.site_dir, None, "defaults fill the rest: the built-in web interface");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "bnid = \"x\"\n").unwrap();
        let error = Config::from_file(&bad).unwrap_err();
        assert!(error.contains("bad.toml") && error.contains("bnid"), "{error}");
    }

    #[test]
    fn sqlite_in_the_data_dir_is_the_default_database() {
        let config = Config { data_dir: "/tmp/x".into(), ..Config::default() };
        assert_eq!(config.database_url(), "sqlite:///tmp/x/ferry.db?mode=rwc");
    }
}
