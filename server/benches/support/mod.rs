//! What the benchmarks share: a server started in the benchmark's process on a fresh
//! data directory, and an API token of its local administrator, issued straight from
//! its store.

#![allow(dead_code)] // each benchmark uses what it needs

use ferry_app::model::TokenScope;
use ferry_server::state::AppState;

pub async fn admin_token(state: &AppState, scopes: &[TokenScope]) -> String {
    let admin = state.store.local_user("admin").await.unwrap().unwrap();
    let secret = ferry_server::auth::secrets::new_api_token();
    let new = ferry_server::store::NewToken {
        user_id: admin.id,
        name: "bench",
        token_hash: &secret.hash,
        prefix: &secret.prefix,
        scopes,
        project_id: None,
        expires_at: ferry_server::store::now_millis() + 3_600_000,
    };
    state.store.create_token(&new).await.unwrap();
    secret.token
}

/// A server on a free port with its data in `data_dir`: SQLite, or the database
/// `FERRY_BENCH_DATABASE_URL` names; no demo project.
pub async fn start_server(data_dir: &std::path::Path) -> ferry_server::Running {
    let config = ferry_server::config::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.into(),
        database_url: std::env::var("FERRY_BENCH_DATABASE_URL").ok(),
        site_dir: data_dir.join("none"),
        demo: false,
        demo_source: data_dir.join("none"),
        admin_password: Some("bench-password".into()),
        // The benchmarks' repositories are in private temporary directories.
        step_user: String::new(),
        ..ferry_server::config::Config::default()
    };
    ferry_server::start(&config).await.expect("server starts")
}
