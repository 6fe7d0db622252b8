//! What the benchmarks share: an API token of the local administrator, issued
//! straight from the store of a server running in the benchmark's process.

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
