//! Configuration: built-in defaults (the embedded mode: SQLite in `./ferry-data`, the
//! demo project), then an optional TOML file, then `FERRY_*` variables and flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

/// Ferry: self-hosted deployments with a live environment matrix.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about = "Ferry: self-hosted deployments with a live environment matrix.", long_about = None)]
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
    /// Directory holding the built web interface [default: dist].
    #[arg(long, env = "FERRY_SITE_DIR")]
    pub site_dir: Option<PathBuf>,
    /// Create the demo project on first start [default: true].
    #[arg(long, env = "FERRY_DEMO")]
    pub demo: Option<bool>,
    /// The example app the demo project is made from [default: examples/hello-web].
    #[arg(long, env = "FERRY_DEMO_SOURCE")]
    pub demo_source: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub site_dir: PathBuf,
    pub demo: bool,
    pub demo_source: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("ferry-data"),
            database_url: None,
            site_dir: PathBuf::from("dist"),
            demo: true,
            demo_source: PathBuf::from("examples/hello-web"),
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
            config.site_dir = v.clone();
        }
        if let Some(v) = cli.demo {
            config.demo = v;
        }
        if let Some(v) = &cli.demo_source {
            config.demo_source = v.clone();
        }
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("ferry.db").display()),
        }
    }
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
        assert_eq!(config.site_dir, PathBuf::from("dist"), "defaults fill the rest");

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
