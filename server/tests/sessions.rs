//! Signing in and staying safe: the password form, the session cookie, CSRF, expiry,
//! sign-out everywhere, throttled password guessing, open websockets closed when their
//! caller's access changes, and the audit trail of it all.

mod common;

use common::browser::{json_of, set_cookie};
use common::{assert_error, spawn_app, spawn_with, test_config, ADMIN_PASSWORD};
use ferry_app::model::Role;
use serde_json::{json, Value};

#[tokio::test]
async fn nobody_gets_in_without_signing_in() {
    let app = spawn_app().await;
    let anonymous = reqwest::Client::new();
    for path in ["/api/v1/matrix", "/api/v1/deployments", "/api/v1/events", "/api/v1/tokens"] {
        let (s, b) = json_of(anonymous.get(format!("{}{path}", app.base)).send().await.unwrap()).await;
        assert_error(s, &b, 401, "unauthenticated");
    }
    let rpc = anonymous.post(format!("{}/rpc/load_matrix", app.base)).send().await.unwrap();
    assert_eq!(rpc.status().as_u16(), 401);
    let ws = anonymous.get(format!("{}/ws", app.base)).send().await.unwrap();
    assert_eq!(ws.status().as_u16(), 401);
    let (s, b) = json_of(anonymous.get(format!("{}/auth/me", app.base)).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b["user"], Value::Null);
    assert_eq!(b["local_mode"], true);
    assert_eq!(b["password_sign_in"], true);
    let forged = common::client_with_token("ferry_not-a-real-token");
    let (s, b) = json_of(forged.get(format!("{}/api/v1/matrix", app.base)).send().await.unwrap()).await;
    assert_error(s, &b, 401, "unauthenticated");
}

#[tokio::test]
async fn signing_in_rotates_the_session_and_sets_a_hardened_cookie() {
    let app = spawn_app().await;
    let wrong = app.password_form("admin", "guess", None).await;
    let (s, b) = json_of(wrong).await;
    assert_error(s, &b, 401, "unauthenticated");
    let unknown = app.password_form("nobody", "guess", None).await;
    assert_eq!(unknown.status().as_u16(), 401);

    // A session id planted before sign-in (fixation) is not the one after it.
    let planted = "ferry_session=AAAAAAAAAAAAAAAAAAAAAA";
    let response = app.password_form("admin", ADMIN_PASSWORD, Some(planted)).await;
    assert_eq!(response.status().as_u16(), 200);
    let header = set_cookie(&response).unwrap();
    assert!(header.starts_with("ferry_session=") && !header.starts_with(planted), "{header}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert!(!header.contains("Secure"), "plain http on loopback cannot keep a Secure cookie: {header}");

    let browser = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, me) = browser.get("/auth/me").await;
    assert_eq!(s, 200);
    assert_eq!(me["user"]["login"], "admin");
    assert_eq!(me["user"]["role"], "admin");
    let (s, _) = browser.get("/api/v1/matrix").await;
    assert_eq!(s, 200);

    let (_, log) = app.get("/api/v1/audit?action=sign_in.failed").await;
    let failed: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(failed, ["nobody", "admin"]);
    assert_eq!(log[0]["address"], "127.0.0.1");
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_secure() {
    let tmp = tempfile::tempdir().unwrap();
    let config = ferry_server::config::Config {
        public_url: Some("https://ferry.example.test".into()),
        ..test_config(tmp.path())
    };
    let app = spawn_with(config).await;
    let response = app.password_form("admin", ADMIN_PASSWORD, None).await;
    let header = set_cookie(&response).unwrap();
    assert!(header.starts_with("__Host-ferry_session=") && header.contains("Secure"), "{header}");
    assert!(!header.contains("Domain="), "__Host- cookies have no domain: {header}");
}

#[tokio::test]
async fn cross_site_requests_are_refused_but_the_own_origin_passes() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("csrf").await;
    let browser = app.sign_in("admin", ADMIN_PASSWORD).await;
    let form = [("project", "csrf"), ("release_id", &release.to_string()), ("environment", "development")];
    let attack = reqwest::Client::new()
        .post(format!("{}/rpc/start_deployment", app.base))
        .header("cookie", &browser.cookie)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    let (s, b) = json_of(attack).await;
    assert_error(s, &b, 403, "forbidden");
    assert!(b["message"].as_str().unwrap().contains("CSRF"));
    // An older browser that sends only Origin.
    let attack = reqwest::Client::new()
        .post(format!("{}/api/v1/deployments", app.base))
        .header("cookie", &browser.cookie)
        .header("origin", "https://evil.example")
        .json(&json!({"project": "csrf", "release_id": release, "environment": "development"}))
        .send()
        .await
        .unwrap();
    assert_eq!(attack.status().as_u16(), 403);
    let (_, history) = app.get("/api/v1/deployments?project=csrf").await;
    assert_eq!(history.as_array().unwrap().len(), 0, "nothing was started");

    let (s, started) = browser.server_fn("start_deployment", &form).await;
    assert_eq!(s, 200, "{started}");
    assert_eq!(started["requested_by"], "admin");
    app.wait_finished(started["id"].as_i64().unwrap()).await;
}

#[tokio::test]
async fn tampered_expired_and_signed_out_sessions_are_refused() {
    let app = spawn_app().await;
    let first = app.sign_in("admin", ADMIN_PASSWORD).await;
    let second = app.sign_in("admin", ADMIN_PASSWORD).await;
    let third = app.sign_in("admin", ADMIN_PASSWORD).await;
    assert_ne!(first.cookie, second.cookie);

    let mut tampered = first.cookie.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (s, b) = first.with_cookie(&tampered).get("/api/v1/matrix").await;
    assert_error(s, &b, 401, "unauthenticated");

    // The idle timeout passed for the third session (its expiry moved into the past).
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/ferry.db", app.data_dir.display())).await.unwrap();
    let (s, _) = third.get("/api/v1/matrix").await;
    assert_eq!(s, 200);
    sqlx::query("UPDATE sessions SET expires_at = 1 WHERE id_hash IN (SELECT id_hash FROM sessions ORDER BY rowid DESC LIMIT 1)")
        .execute(&db)
        .await
        .unwrap();
    let (s, _) = third.get("/api/v1/matrix").await;
    assert_eq!(s, 401);

    // The absolute timeout: signed in long ago, however active since.
    let fourth = app.sign_in("admin", ADMIN_PASSWORD).await;
    let seen = chrono::Utc::now().timestamp_millis();
    let old = format!(r#"{{"signed_in":{{"user_id":1,"since":1,"seen":{seen}}}}}"#);
    sqlx::query(
        "UPDATE sessions SET data = $1 WHERE id_hash IN (SELECT id_hash FROM sessions ORDER BY rowid DESC LIMIT 1)",
    )
    .bind(old)
    .execute(&db)
    .await
    .unwrap();
    let (s, b) = fourth.get("/api/v1/matrix").await;
    assert_error(s, &b, 401, "unauthenticated");
    assert!(b["message"].as_str().unwrap().contains("expired"), "{b}");

    let (s, _) = first.post("/auth/logout-everywhere", json!({})).await;
    assert_eq!(s, 204);
    let (s, b) = second.get("/api/v1/matrix").await;
    assert_error(s, &b, 401, "unauthenticated");
    let (_, log) = app.get("/api/v1/audit?action=sign_out.everywhere").await;
    assert_eq!(log[0]["actor"], "admin");
}

#[tokio::test]
async fn a_viewer_calling_the_deploy_server_function_directly_is_refused() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("direct").await;
    app.local_user("vera", "vera-password", Role::Viewer).await;
    let vera = app.sign_in("vera", "vera-password").await;
    let id = release.to_string();
    let form = [("project", "direct"), ("release_id", id.as_str()), ("environment", "development")];
    let (s, b) = vera.server_fn("start_deployment", &form).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["error"], "forbidden");
    let (s, _) = vera.server_fn("load_matrix", &[]).await;
    assert_eq!(s, 200, "viewing is what a viewer does");
    let (_, history) = app.get("/api/v1/deployments?project=direct").await;
    assert!(history.as_array().unwrap().is_empty());
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `/ws` as a page of Ferry opens it: with the session cookie and Ferry's own Origin,
/// or with an API token. Returns once the hello arrived.
async fn live_socket(app: &common::TestApp, cookie: Option<&str>, token: Option<&str>) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/ws", app.addr).into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("origin", app.base.parse().unwrap());
    if let Some(cookie) = cookie {
        headers.insert("cookie", cookie.parse().unwrap());
    }
    if let Some(token) = token {
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the websocket opens");
    let hello = tokio::time::timeout(std::time::Duration::from_secs(10), futures::StreamExt::next(&mut socket)).await;
    assert!(hello.expect("a hello within 10 s").unwrap().unwrap().to_text().unwrap().contains("hello"));
    socket
}

/// Waits (at most 10 s, loudly) for the server to close the socket; its close code.
async fn closed_by_server(socket: &mut Socket, what: &str) -> u16 {
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, futures::StreamExt::next(socket)).await;
        match next.unwrap_or_else(|_| panic!("the websocket stayed open after {what}")) {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)).unwrap_or(0),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("the websocket broke instead of closing after {what}: {e}"),
            None => panic!("the websocket ended without a close frame after {what}"),
        }
    }
}

#[tokio::test]
async fn open_websockets_close_when_their_callers_access_changes() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("shop").await;
    let otto = app.local_user("otto", "otto-password", Role::Deployer).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;

    // A role change closes every socket of the user.
    let (a, b) = (app.sign_in("otto", "otto-password").await, app.sign_in("otto", "otto-password").await);
    let (mut on_a, mut on_b) =
        (live_socket(&app, Some(&a.cookie), None).await, live_socket(&app, Some(&b.cookie), None).await);
    let response =
        admin.request(reqwest::Method::PUT, &format!("/api/v1/users/{otto}/role")).json(&json!({"role": "viewer"}));
    assert_eq!(response.send().await.unwrap().status(), 200);
    assert_eq!(closed_by_server(&mut on_a, "a role change").await, 4001);
    assert_eq!(closed_by_server(&mut on_b, "a role change").await, 4001);

    // Signing out closes that session's socket; signing out everywhere, the others'.
    let mut on_a = live_socket(&app, Some(&a.cookie), None).await;
    let (s, _) = a.post("/auth/logout", json!({})).await;
    assert_eq!(s, 204);
    assert_eq!(closed_by_server(&mut on_a, "signing out").await, 4001);
    let mut on_b = live_socket(&app, Some(&b.cookie), None).await;
    let c = app.sign_in("otto", "otto-password").await;
    let (s, _) = c.post("/auth/logout-everywhere", json!({})).await;
    assert_eq!(s, 204);
    assert_eq!(closed_by_server(&mut on_b, "signing out everywhere").await, 4001);

    // Losing a membership closes it too.
    let d = app.sign_in("otto", "otto-password").await;
    let raise = json!({"user_id": otto, "role": "deployer"});
    let response = admin.request(reqwest::Method::PUT, "/api/v1/projects/shop/members").json(&raise);
    assert!(response.send().await.unwrap().status().is_success());
    let mut on_d = live_socket(&app, Some(&d.cookie), None).await;
    let remove = json!({"user_id": otto, "role": "none"});
    let response = admin.request(reqwest::Method::PUT, "/api/v1/projects/shop/members").json(&remove);
    assert!(response.send().await.unwrap().status().is_success());
    assert_eq!(closed_by_server(&mut on_d, "a membership removal").await, 4001);

    // A revoked API token's socket closes.
    let (s, created) = d.post("/api/v1/tokens", json!({"name": "ci", "scopes": ["read"]})).await;
    assert_eq!(s, 201, "{created}");
    let mut by_token = live_socket(&app, None, created["token"].as_str()).await;
    let id = created["details"]["id"].as_i64().unwrap();
    let revoked = d.request(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}")).send().await.unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(closed_by_server(&mut by_token, "revoking the token").await, 4001);

    // A socket whose access did not change stays, and still gets events.
    let mut steady = live_socket(&app, Some(&admin.cookie), None).await;
    common::deploy(&app, "shop", release, "development").await;
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), futures::StreamExt::next(&mut steady)).await;
    assert!(event.unwrap().unwrap().unwrap().to_text().unwrap().contains("deployment"));
}

#[tokio::test]
async fn password_guessing_is_throttled_per_login_and_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = ferry_server::config::Config { sign_in_max_failures: 3, ..test_config(dir.path()) };
    let app = spawn_with(config).await;
    app.local_user("gus", "gus-password", Role::Viewer).await;
    app.local_user("hal", "hal-password", Role::Viewer).await;

    for _ in 0..3 {
        assert_eq!(app.password_form("gus", "guess", None).await.status(), 401);
    }
    // The right password is not even checked now: the login waits out its window.
    let refused = app.password_form("GUS", "gus-password", None).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let (_, body) = json_of(refused).await;
    assert_eq!(body["error"], "too_many_requests");
    assert!(body["message"].as_str().unwrap().contains("this login"), "{body}");
    // Another login from the same address is fine…
    assert_eq!(app.password_form("hal", "hal-password", None).await.status(), 200);
    // …until the address has failed five times the login limit (gus's three count too).
    for n in 0..12 {
        let status = app.password_form(&format!("nobody-{n}"), "guess", None).await.status();
        assert_eq!(status, 401, "attempt {n}");
    }
    let refused = app.password_form("hal", "hal-password", None).await;
    assert_eq!(refused.status(), 429);
    let (_, body) = json_of(refused).await;
    assert!(body["message"].as_str().unwrap().contains("this address"), "{body}");
}
