//! Running the `ferry` binary as a command-line user would: a clean environment with
//! its own HOME, and an API token of the local administrator.

use std::path::Path;

use ferry_app::model::TokenScope;

use super::TestApp;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub async fn ferry(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", home)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into(),
        stderr: String::from_utf8_lossy(&output.stderr).into(),
    }
}

pub async fn admin_token(app: &TestApp) -> String {
    let store = &app.running.state.store;
    let admin = store.local_user("admin").await.unwrap().unwrap();
    super::issue_token(store, admin.id, &TokenScope::ALL, None).await
}
