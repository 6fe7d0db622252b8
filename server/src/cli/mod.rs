//! The `ferry` command line for people and CI jobs: `ferry login`, `deploy`,
//! `promote`, `rollback`, `status`, `logs`, `releases`, `repos`, `import`, `ssh` and
//! `completions`. Each talks to
//! a Ferry server's REST API with an API token; `--wait` follows a deployment and
//! exits non-zero when it fails, so it can gate a CI job. Without a subcommand, `ferry`
//! runs the server.

mod client;
mod commands;
mod imports;
mod ssh;

use clap::{Args, Subcommand};

pub use commands::run;

/// Where the server is and who asks: flags, else `FERRY_URL`/`FERRY_TOKEN`, else what
/// `ferry login` saved.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The Ferry server, e.g. `https://ferry.example.com`.
    #[arg(long, env = "FERRY_URL")]
    pub url: Option<String>,
    /// An API token (create one on the Account page).
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Checks a server address and API token and saves them for the other commands.
    Login {
        #[arg(long)]
        url: String,
        #[arg(long, env = "FERRY_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Deploys a commit (made into a release first) or an existing release.
    Deploy {
        /// The project's slug.
        #[arg(long)]
        project: String,
        /// The environment.
        #[arg(long = "env")]
        environment: String,
        /// A commit (or branch or tag) of the project's repository.
        #[arg(long = "ref", conflicts_with = "release", required_unless_present = "release")]
        git_ref: Option<String>,
        /// A release's version.
        #[arg(long)]
        release: Option<String>,
        /// The version of the release made from `--ref` [default: its short commit].
        #[arg(long, requires = "git_ref")]
        version: Option<String>,
        /// Follow the deployment; exit 1 unless it succeeds.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Promotes a release to the next environment (a deployment of it there).
    Promote {
        /// The project's slug.
        #[arg(long)]
        project: String,
        #[arg(long)]
        release: String,
        /// The environment it goes to.
        #[arg(long)]
        to: String,
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Rolls an environment back to a release that once succeeded there.
    Rollback {
        /// The project's slug.
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        /// The release's version.
        #[arg(long)]
        to: String,
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// What runs where: each environment's live release and latest deployment.
    Status {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// A deployment's log; with `--follow`, until it ends.
    Logs {
        /// The deployment's number.
        id: i64,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// A project's releases, newest first.
    Releases {
        /// The project's slug.
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Lists the repositories a GitHub or GitLab token reaches, to import one.
    Repos {
        #[arg(long, value_enum)]
        forge: imports::Forge,
        /// Only those whose path contains this.
        #[arg(long)]
        search: Option<String>,
        /// The forge's API token.
        #[arg(long, env = "FERRY_FORGE_TOKEN", hide_env_values = true)]
        forge_token: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Makes a project from a repository: clones it, reads its ferry.yml, creates the
    /// environments, links the forge and creates the webhook.
    Import {
        #[command(flatten)]
        source: imports::Source,
        /// The new project's slug.
        #[arg(long)]
        slug: String,
        /// Its name [default: the slug].
        #[arg(long)]
        name: Option<String>,
        /// The forge's API token (GitHub and GitLab repositories).
        #[arg(long, env = "FERRY_FORGE_TOKEN", hide_env_values = true)]
        forge_token: Option<String>,
        /// Do not create the webhook (the secret to add it by hand is printed).
        #[arg(long)]
        no_hook: bool,
        /// For an SSH git URL: the deploy key to clone it with (`ferry deploy-key`).
        #[arg(long)]
        deploy_key: Option<i64>,
        /// Only show what Ferry finds (or a starter ferry.yml); create nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Makes a deploy key to import a repository over SSH: add the public key it prints
    /// to the repository (read-only), then `ferry import --git ssh://… --deploy-key ID`.
    DeployKey {
        #[command(flatten)]
        remote: Remote,
    },
    /// Ferry's SSH key and an environment's SSH hosts.
    Ssh {
        #[command(subcommand)]
        command: ssh::SshCommand,
    },
    /// Prints a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Prints the configuration the server would run with (defaults, the file, FERRY_*
    /// variables), as TOML, with passwords and client secrets redacted.
    Config {
        /// The TOML configuration file [default: FERRY_CONFIG's].
        #[arg(long, short)]
        file: Option<std::path::PathBuf>,
    },
}
