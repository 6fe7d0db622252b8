//! Configuration: built-in defaults (the embedded mode: SQLite in `./ferry-data`, the
//! demo project), then an optional TOML file, then `FERRY_*` variables and flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use clap::{Args, Parser};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::auth::providers::settings::ProviderSettings;

/// Ferry: self-hosted deployments with a live environment matrix.
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version = crate::VERSION,
    about = "Ferry: self-hosted deployments with a live environment matrix.",
    after_help = "Every setting is also a FERRY_<NAME> variable (FERRY_BIND, FERRY_SESSION_IDLE_MINUTES, …) and a \
                  key of the --config file; flags win over variables, variables over the file. \
                  `ferry config` prints what they add up to.",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// TOML configuration file (keys as below, e.g. `bind = "0.0.0.0:8080"`).
    #[arg(long, short, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Flags,
    /// Without a command, `ferry` runs the server.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,
}

/// The settings as flags; those given override the variables and the file.
#[derive(Debug, Default, Args, Serialize)]
pub struct Flags {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// Directory for the SQLite database, repositories and deployment targets [default: ferry-data].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:...` or `postgres://...`; DATABASE_URL is read too [default: SQLite in the data dir].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Serve the web interface from this directory (Trunk's `dist`) instead of the copy
    /// built into the binary: for working on the interface.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_dir: Option<PathBuf>,
    /// Create the demo project on first start [default: true].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo: Option<bool>,
    /// The example app the demo project is made from [default: examples/hello-web].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo_source: Option<PathBuf>,
    /// The address people use to reach Ferry, e.g. `https://ferry.example.com`; sign-in
    /// redirects are built from it, and `https` makes the session cookie Secure.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Password of the local `admin` account; without it, a first start prints a random one.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
    /// A session ends after this long without a request [default: 480].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_idle_minutes: Option<i64>,
    /// A session ends this long after sign-in, however active [default: 168].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_max_hours: Option<i64>,
    /// Offer the local password form [default: true].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_sign_in: Option<bool>,
    /// Failed password sign-ins to one login per 15 minutes before it is throttled [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_max_failures: Option<i64>,
    /// With several replicas: a replica silent this long is taken for dead [default: 15].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<u64>,
    /// On SIGTERM, how long running deployments may take to finish [default: 60].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_seconds: Option<u64>,
    /// An agent away this long loses its running step [default: 30].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_grace_seconds: Option<u64>,
    /// Days kept of finished deployments' logs, events and finished deliveries; 0 keeps them [default: 90].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// The key that seals secrets [default: <data_dir>/secret.key; FERRY_SECRET_KEY holds one itself].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_file: Option<PathBuf>,
    /// The mail server for people's own email notifications, e.g.
    /// `smtp://user:password@mail.example.com:587?tls=required` (or `smtps://…`).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_smtp_url: Option<String>,
    /// The sender of those emails, e.g. `Ferry <ferry@example.com>`.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<String>,
    /// GitHub's REST API, e.g. `https://github.example.com/api/v3` for GitHub Enterprise
    /// Server [default: https://api.github.com].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_api_url: Option<String>,
    /// The GitLab instance, e.g. `https://gitlab.example.com` [default: https://gitlab.com].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitlab_url: Option<String>,
    /// When Ferry may switch users, the unprivileged user that build and deploy steps run
    /// as (one uid per project from its /etc/subuid range); empty runs them as Ferry
    /// [default: ferry-build].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_user: Option<String>,
    /// How long connecting to an SSH host and signing in may take [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_connect_timeout_seconds: Option<u64>,
    /// Deployments that run on one SSH host at once [default: 4].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_sessions_per_host: Option<usize>,
    /// `text` for people, `json` (one object per line) for log shippers [default: text].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// How the server writes its log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// How many days the log lines of finished deployments, the event log, and finished
    /// deliveries (notifications, forge reports and webhooks, done jobs) are kept; a
    /// project may set its own (`PUT /api/v1/projects/{slug}/retention`). 0 keeps them.
    pub retention_days: u32,
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
    /// How the log is written: `text` or `json`.
    pub log_format: LogFormat,
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
            retention_days: 90,
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
            log_format: LogFormat::Text,
        }
    }
}

impl Config {
    /// Defaults, overlaid by the file, by `FERRY_*` variables, then by flags.
    pub fn load(cli: &Cli) -> Result<Self, String> {
        Self::layered(cli.config.as_deref(), std::env::vars(), &cli.settings)
    }

    /// The layers from their sources: a file, the variables (`FERRY_<KEY>`, and
    /// `DATABASE_URL` under `FERRY_DATABASE_URL`), the flags.
    pub fn layered(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        flags: &Flags,
    ) -> Result<Self, String> {
        let mut layers = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            // figment skips a missing file; a file named but missing is a mistake.
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            layers = layers.merge(Toml::file_exact(path));
        }
        let config: Config = layers
            .merge(Variables::read(vars))
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| e.to_string().trim_end().to_string())?;
        config.check()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, String> {
        Self::layered(Some(path), std::iter::empty(), &Flags::default())
    }

    /// The configuration as TOML for `ferry config`, with passwords and client secrets
    /// replaced: it is for reading and pasting into issues.
    pub fn redacted_toml(&self) -> String {
        let mut value = toml::Value::try_from(self).expect("the configuration is TOML");
        let table = value.as_table_mut().expect("the configuration is a table");
        if table.contains_key("admin_password") {
            table.insert("admin_password".into(), REDACTED.into());
        }
        for key in ["database_url", "mail_smtp_url"] {
            if let Some(toml::Value::String(url)) = table.get_mut(key) {
                *url = without_password(url);
            }
        }
        if let Some(toml::Value::Array(providers)) = table.get_mut("sign_in") {
            for provider in providers.iter_mut().filter_map(toml::Value::as_table_mut) {
                if provider.contains_key("client_secret") {
                    provider.insert("client_secret".into(), REDACTED.into());
                }
            }
        }
        toml::to_string_pretty(&value).expect("a TOML table prints")
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

const REDACTED: &str = "(redacted)";

/// A URL with its password, if any, replaced.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some(REDACTED));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => REDACTED.to_string(),
    }
}

/// The `FERRY_<KEY>` variables of the configuration's keys. Each is read as its key's
/// type: a number or true/false where the default is one, text everywhere else (a
/// password of digits stays text). Other `FERRY_*` variables (`FERRY_SECRET_KEY`,
/// `FERRY_LOG`, a step's `FERRY_DEPLOYMENT_ID`) are not settings and are left alone.
struct Variables(Dict);

impl Variables {
    fn read(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        let defaults = serde_json::to_value(Config::default()).expect("the configuration serializes");
        let mut found = Dict::new();
        for (key, default) in defaults.as_object().expect("the configuration is an object") {
            let name = format!("FERRY_{}", key.to_uppercase());
            let raw = match (vars.get(&name), key.as_str()) {
                (Some(raw), _) => raw,
                (None, "database_url") => match vars.get("DATABASE_URL") {
                    Some(raw) => raw,
                    None => continue,
                },
                (None, _) => continue,
            };
            // What does not parse as its type stays text, for extract to refuse by name.
            let value = match default {
                serde_json::Value::Bool(_) => {
                    raw.parse::<bool>().map_or_else(|_| Value::from(raw.clone()), Value::from)
                }
                serde_json::Value::Number(_) => match (raw.parse::<u64>(), raw.parse::<i64>()) {
                    (Ok(n), _) => Value::from(n),
                    (_, Ok(n)) => Value::from(n),
                    _ => Value::from(raw.clone()),
                },
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => continue,
                _ => Value::from(raw.clone()),
            };
            found.insert(key.clone(), value);
        }
        Variables(found)
    }
}

impl Provider for Variables {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable(s)")
            .interpolater(|_, keys| format!("FERRY_{}", keys.join("_").to_uppercase()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
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

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn flags_win_over_variables_and_variables_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ferry.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:1111\"\nsession_idle_minutes = 5\nlease_seconds = 20\n").unwrap();
        let env = vars(&[("FERRY_BIND", "127.0.0.1:2222"), ("FERRY_SESSION_IDLE_MINUTES", "6")]);
        let flags = Flags { bind: Some("127.0.0.1:3333".parse().unwrap()), ..Flags::default() };
        let config = Config::layered(Some(&file), env, &flags).unwrap();
        assert_eq!(config.bind.port(), 3333, "the flag");
        assert_eq!(config.session_idle_minutes, 6, "the variable");
        assert_eq!(config.lease_seconds, 20, "the file");
        assert_eq!(config.shutdown_grace_seconds, 60, "the default");
    }

    #[test]
    fn variables_are_read_as_their_settings_type_and_others_are_left_alone() {
        let env = vars(&[
            ("FERRY_ADMIN_PASSWORD", "123456"),
            ("FERRY_PASSWORD_SIGN_IN", "false"),
            ("FERRY_AGENT_GRACE_SECONDS", "45"),
            ("FERRY_LOG_FORMAT", "json"),
            ("FERRY_SECRET_KEY", "not a setting"),
            ("FERRY_DEPLOYMENT_ID", "7"),
            ("DATABASE_URL", "postgres://db/ferry"),
        ]);
        let config = Config::layered(None, env, &Flags::default()).unwrap();
        assert_eq!(config.admin_password.as_deref(), Some("123456"), "digits stay a password");
        assert!(!config.password_sign_in);
        assert_eq!(config.agent_grace_seconds, 45);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.database_url.as_deref(), Some("postgres://db/ferry"));
        let both = vars(&[("DATABASE_URL", "postgres://a/x"), ("FERRY_DATABASE_URL", "postgres://b/y")]);
        let config = Config::layered(None, both, &Flags::default()).unwrap();
        assert_eq!(config.database_url.as_deref(), Some("postgres://b/y"), "FERRY_DATABASE_URL first");

        let error = Config::layered(None, vars(&[("FERRY_DEMO", "maybe")]), &Flags::default()).unwrap_err();
        assert!(error.contains("FERRY_DEMO") && error.contains("boolean"), "{error}");
        let missing = Config::layered(Some(Path::new("/nonexistent/ferry.toml")), vars(&[]), &Flags::default());
        assert!(missing.unwrap_err().contains("/nonexistent/ferry.toml"));
    }

    #[test]
    fn the_printed_configuration_hides_passwords_and_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ferry.toml");
        std::fs::write(
            &file,
            "public_url = \"https://ferry.example.com\"\nadmin_password = \"hunter2\"\n\
             database_url = \"postgres://ferry:s3cret@db/ferry\"\n\
             mail_smtp_url = \"smtp://u:m41l@mail.example.com:587\"\nmail_from = \"Ferry <f@example.com>\"\n\
             [[sign_in]]\nid = \"gh\"\nkind = \"github\"\nclient_id = \"abc\"\nclient_secret = \"cl13nt\"\n",
        )
        .unwrap();
        let printed = Config::from_file(&file).unwrap().redacted_toml();
        for secret in ["hunter2", "s3cret", "m41l", "cl13nt"] {
            assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
        }
        assert!(printed.contains("postgres://ferry:(redacted)@db/ferry"), "{printed}");
        assert!(printed.contains("client_id = \"abc\""), "{printed}");
        let again: toml::Value = toml::from_str(&printed).expect("the output is TOML");
        assert_eq!(again["public_url"].as_str(), Some("https://ferry.example.com"));
    }

    #[test]
    fn sqlite_in_the_data_dir_is_the_default_database() {
        let config = Config { data_dir: "/tmp/x".into(), ..Config::default() };
        assert_eq!(config.database_url(), "sqlite:///tmp/x/ferry.db?mode=rwc");
    }
}
