//! Notifications to the outside: routing rules pick the channels; Slack and signed
//! webhooks go to local receivers that check what arrives, email to a real SMTP server
//! (aiosmtpd). Retries honour `Retry-After` and deliver once; pending messages survive
//! a restart of the real binary; secrets never come back out of the API.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::process::{start, Reaped};
use common::receiver::Receiver;
use common::{assert_error, deploy, free_port, spawn_app, wait_until, TestApp};
use ferry_app::model::Role;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

async fn add_channel(app: &TestApp, name: &str, settings: Value) -> i64 {
    let (status, body) = app.post("/api/v1/notifications/channels", json!({"name": name, "settings": settings})).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn add_rule(app: &TestApp, rule: Value) {
    let (status, body) = app.post("/api/v1/notifications/rules", rule).await;
    assert_eq!(status, 201, "{body}");
}

/// The outbox's deliveries (newest first) to `channel` (a channel's name, or
/// `email to <address>` for personal email).
async fn deliveries_to(app: &TestApp, channel: &str) -> Vec<Value> {
    let (_, settings) = app.get("/api/v1/notifications/settings").await;
    settings["deliveries"].as_array().unwrap().iter().filter(|d| d["channel"] == channel).cloned().collect()
}

/// Waits until the channel's deliveries are all delivered (at least `count`).
async fn delivered(app: &TestApp, channel: &str, count: usize) -> Vec<Value> {
    wait_until(&format!("{count} deliveries to {channel}"), Duration::from_secs(30), || async move {
        let mine = deliveries_to(app, channel).await;
        assert!(mine.iter().all(|d| d["state"] != "failed"), "{mine:?}");
        (mine.len() >= count && mine.iter().all(|d| d["state"] == "delivered")).then_some(mine)
    })
    .await
}

/// A release of project `slug` whose build prints a line and fails.
async fn failing_release(app: &TestApp, slug: &str) -> i64 {
    let repo = app.data_dir.join(format!("src-{slug}"));
    let yml = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("run: sh build.sh", "run: \"echo compiling; echo boom-the-compiler-is-sad >&2; exit 3\"");
    std::fs::write(repo.join("ferry.yml"), yml).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "broken build"]);
    common::release_at_head(app, slug, "2.0").await
}

#[tokio::test]
async fn a_failure_reaches_slack_once_after_a_429_and_a_500_and_only_where_a_rule_sends_it() {
    let app = spawn_app().await;
    app.hello_project("api").await;
    let release = failing_release(&app, "api").await;
    let slack = Receiver::start(0, vec![(429, Some(1)), (500, None)]).await;
    let elsewhere = Receiver::start(0, vec![]).await;
    let ops = add_channel(&app, "ops", json!({"kind": "slack", "webhook_url": slack.url})).await;
    let prod = add_channel(&app, "prod", json!({"kind": "slack", "webhook_url": elsewhere.url})).await;
    add_rule(&app, json!({"channel_id": ops, "project": "api", "environment": "development", "events": ["failed"]}))
        .await;
    add_rule(&app, json!({"channel_id": prod, "environment": "production", "events": ["failed", "succeeded"]})).await;

    let id = deploy(&app, "api", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "failed");
    let deliveries = delivered(&app, "ops", 1).await;
    assert_eq!((deliveries.len(), &deliveries[0]["attempts"]), (1, &json!(3)), "{deliveries:?}");

    let got = slack.received();
    assert_eq!(got.len(), 3, "429, 500, then delivered");
    assert!(got[1].at - got[0].at >= Duration::from_millis(950), "Retry-After: 1 was not honoured");
    assert!(got.iter().all(|r| r.body == got[0].body), "a retry sends the same message");
    assert_eq!(got[2].headers["content-type"], "application/json");
    let message: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(message["text"], "✗ api failed in development: 2.0");
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    let fields: Vec<&str> =
        blocks[1]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert!(fields.contains(&"*Project*\napi") && fields.contains(&"*By*\nadmin"), "{fields:?}");
    let failure = blocks[2]["text"]["text"].as_str().unwrap();
    assert!(failure.contains("`build`") && failure.contains("boom-the-compiler-is-sad"), "{failure}");
    let button = &blocks[3]["elements"][0];
    assert_eq!(button["type"], "button");
    assert_eq!(button["url"], format!("{}/deployments/{id}", app.base));

    // The failure was routed in one pass over the rules, which enqueued its message to
    // `ops`: a message to `prod` would be in the outbox too.
    assert_eq!(deliveries_to(&app, "prod").await, Vec::<Value>::new(), "no rule sends development failures to `prod`");
    assert!(elsewhere.received().is_empty(), "no rule sends development failures to `prod`");
    let (_, settings) = app.get("/api/v1/notifications/settings").await;
    assert!(!settings.to_string().contains("secret-token"), "the webhook URL came back out: {settings}");
    // Sealed at rest: the database files never hold the URL's secret part.
    for file in std::fs::read_dir(&app.data_dir).unwrap().flatten() {
        if file.file_name().to_string_lossy().starts_with("ferry.db") {
            let bytes = std::fs::read(file.path()).unwrap();
            assert!(!bytes.windows(12).any(|w| w == b"secret-token"), "{:?} holds the secret", file.path());
        }
    }
    let host = slack.url.split('/').nth(2).unwrap();
    assert_eq!(settings["channels"][0]["summary"], format!("Slack webhook at {host}"));
}

fn verify(secret: &str, timestamp: &str, body: &str, signature: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    signature == format!("sha256={expected}")
}

#[tokio::test]
async fn signed_webhooks_announce_start_and_success_and_verify_with_the_secret() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("web").await;
    let hook = Receiver::start(0, vec![]).await;
    let secret = "a-signing-secret-of-some-length";
    let channel = add_channel(&app, "audit-hook", json!({"kind": "webhook", "url": hook.url, "secret": secret})).await;
    add_rule(&app, json!({"channel_id": channel, "events": ["started", "succeeded"]})).await;

    let id = deploy(&app, "web", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    delivered(&app, "audit-hook", 2).await;
    let got = hook.received();
    assert_eq!(got.len(), 2);
    let mut delivery_ids = Vec::new();
    for (request, event) in got.iter().zip(["started", "succeeded"]) {
        let header = |name: &str| request.headers[name].to_str().unwrap().to_string();
        let timestamp = header("x-ferry-timestamp");
        assert!((chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap()).abs() < 60);
        assert!(verify(secret, &timestamp, &request.body, &header("x-ferry-signature")), "bad signature");
        assert!(!verify(secret, &timestamp, &format!("{} ", request.body), &header("x-ferry-signature")));
        assert_eq!(header("x-ferry-event"), event);
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!((body["event"].as_str(), body["deployment_id"].as_i64()), (Some(event), Some(id)), "{body}");
        assert_eq!(body["delivery_id"].to_string(), header("x-ferry-delivery"));
        delivery_ids.push(body["delivery_id"].clone());
    }
    assert_ne!(delivery_ids[0], delivery_ids[1]);
}

/// Starts aiosmtpd on a free port; it refuses the first `temporary_failures` messages
/// with 451.
fn smtp_server(maildir: &std::path::Path, temporary_failures: u32) -> (Reaped, u16) {
    smtp_server_replying(maildir, temporary_failures, "451 4.3.0 Busy, try again later")
}

fn smtp_server_replying(maildir: &std::path::Path, failures: u32, reply: &str) -> (Reaped, u16) {
    let port = free_port();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut child = Command::new("python3")
        .arg(format!("{root}/server/tests/fixtures/smtp_sink.py"))
        .args([port.to_string(), maildir.display().to_string(), failures.to_string(), reply.to_string()])
        .env("PYTHONPATH", format!("{root}/.tools/python"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "ready", "aiosmtpd did not start (scripts/setup.sh --test installs it)");
    (Reaped(child), port)
}

#[tokio::test]
async fn email_arrives_once_with_both_parts_after_a_temporary_refusal() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("shop").await;
    let maildir = tempfile::tempdir().unwrap();
    let (_smtp, port) = smtp_server(maildir.path(), 1);
    let settings = json!({"kind": "email", "smtp_url": format!("smtp://127.0.0.1:{port}"),
        "from": "Ferry <ferry@example.com>", "to": ["oncall@example.com", "lead@example.com"]});
    let channel = add_channel(&app, "oncall-mail", settings).await;
    add_rule(&app, json!({"channel_id": channel, "project": "shop", "events": ["succeeded"]})).await;

    let id = deploy(&app, "shop", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let deliveries = delivered(&app, "oncall-mail", 1).await;
    assert_eq!(deliveries[0]["attempts"], 2, "451 first, then accepted: {deliveries:?}");

    let files: Vec<_> = std::fs::read_dir(maildir.path()).unwrap().collect();
    assert_eq!(files.len(), 2, "one message (and its envelope)");
    let mail: Value = serde_json::from_str(&std::fs::read_to_string(maildir.path().join("1.json")).unwrap()).unwrap();
    assert_eq!(mail["from"], "ferry@example.com");
    assert_eq!(mail["to"], json!(["oncall@example.com", "lead@example.com"]));
    assert_eq!(mail["subject"], "✓ shop deployed to development: 1.0.0");
    assert_eq!(mail["parts"], json!(["multipart/alternative", "text/plain", "text/html"]));
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("Environment: development") && text.contains(&format!("/deployments/{id}")), "{text}");
    assert!(mail["html"].as_str().unwrap().contains("<th align=\"left\" style=\"padding-right:1em\">Release</th>"));
}

#[tokio::test]
async fn a_permanent_refusal_by_the_mail_server_fails_the_message_at_once() {
    let app = spawn_app().await;
    let maildir = tempfile::tempdir().unwrap();
    let (_smtp, port) = smtp_server_replying(maildir.path(), 5, "550 5.1.1 No such mailbox");
    let settings = json!({"kind": "email", "smtp_url": format!("smtp://127.0.0.1:{port}"),
        "from": "ferry@example.com", "to": ["gone@example.com"]});
    let channel = add_channel(&app, "gone", settings).await;
    let (status, _) = app.post(&format!("/api/v1/notifications/channels/{channel}/test"), json!(null)).await;
    assert_eq!(status, 202);
    let app = &app;
    let delivery = wait_until("the refused message to be marked failed", Duration::from_secs(30), || async move {
        let [delivery] = <[Value; 1]>::try_from(deliveries_to(app, "gone").await).expect("one delivery");
        if delivery["state"] == "failed" {
            return Some(delivery);
        }
        assert_eq!(delivery["state"], "pending", "{delivery}");
        None
    })
    .await;
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    assert!(delivery["last_error"].as_str().unwrap().contains("No such mailbox"), "{delivery}");
}

/// The deliveries the real binary lists, newest first.
async fn outbox(server: &common::process::Server) -> Vec<Value> {
    let (_, settings) = server.call(reqwest::Method::GET, "/api/v1/notifications/settings", None).await;
    settings["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn pending_notifications_are_delivered_once_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let hook_port = free_port(); // nothing listens there yet
    let mut server = start(data.path(), port).await;
    let post = reqwest::Method::POST;
    let settings =
        json!({"kind": "webhook", "url": format!("http://127.0.0.1:{hook_port}/in"), "secret": "s".repeat(20)});
    let (s, channel) = server
        .call(post.clone(), "/api/v1/notifications/channels", Some(json!({"name": "later", "settings": settings})))
        .await;
    assert_eq!(s, 201, "{channel}");
    for _ in 0..3 {
        let path = format!("/api/v1/notifications/channels/{}/test", channel["id"]);
        assert_eq!(server.call(post.clone(), &path, None).await.0, 202);
    }
    // Every message has failed once (connection refused) and waits for a retry.
    let running = &server;
    let deliveries = wait_until("the 3 messages to be attempted", Duration::from_secs(30), || async move {
        let deliveries = outbox(running).await;
        (deliveries.len() == 3 && deliveries.iter().all(|d| d["attempts"].as_i64() >= Some(1))).then_some(deliveries)
    })
    .await;
    assert!(deliveries.iter().all(|d| d["state"] == "pending"), "{deliveries:?}");
    assert!(deliveries[0]["last_error"].as_str().unwrap().contains("cannot connect"), "{deliveries:?}");
    server.kill_hard();

    let receiver = Receiver::start(hook_port, vec![]).await;
    let server = start(data.path(), port).await;
    let running = &server;
    let all_delivered = move |count: usize| {
        move || async move {
            let deliveries = outbox(running).await;
            (deliveries.len() == count && deliveries.iter().all(|d| d["state"] == "delivered")).then_some(())
        }
    };
    wait_until("the 3 pending messages to be delivered", Duration::from_secs(30), all_delivered(3)).await;
    // A fourth message, sent after: the channel sends its messages one at a time, oldest
    // first, so a second sending of any of the three would have come before it.
    let path = format!("/api/v1/notifications/channels/{}/test", channel["id"]);
    assert_eq!(server.call(post.clone(), &path, None).await.0, 202);
    wait_until("the fourth message to be delivered", Duration::from_secs(30), all_delivered(4)).await;
    let mut ids: Vec<String> =
        receiver.received().iter().map(|r| r.headers["x-ferry-delivery"].to_str().unwrap().to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((receiver.received().len(), ids.len()), (4, 4), "each pending message delivered once");
}

#[tokio::test]
async fn bad_channels_and_rules_are_refused_and_only_admins_manage_them() {
    let app = spawn_app().await;
    let maintainer = app.client_as("mia", Role::Maintainer).await;
    let url = format!("{}/api/v1/notifications/settings", app.base);
    let response = maintainer.get(&url).send().await.unwrap();
    let status = response.status().as_u16();
    assert_error(status, &response.json().await.unwrap(), 403, "forbidden");

    for (body, names) in [
        (json!({"name": "x", "settings": {"kind": "slack", "webhook_url": "not a url"}}), "webhook_url"),
        (json!({"name": "x", "settings": {"kind": "pager"}}), "pager"),
        (json!({"name": "", "settings": {"kind": "slack", "webhook_url": "https://hooks.example.com/x"}}), "name"),
        (
            json!({"name": "x", "settings": {"kind": "webhook", "url": "https://h.example.com", "secret": "short"}}),
            "secret",
        ),
    ] {
        let (status, answer) = app.post("/api/v1/notifications/channels", body).await;
        assert_error(status, &answer, 400, "bad_request");
        assert!(answer["message"].as_str().unwrap().contains(names), "{answer}");
    }
    let channel =
        add_channel(&app, "ops", json!({"kind": "slack", "webhook_url": "https://hooks.example.com/x"})).await;
    let (status, answer) = app
        .post(
            "/api/v1/notifications/channels",
            json!({"name": "ops", "settings": {"kind": "slack", "webhook_url": "https://hooks.example.com/y"}}),
        )
        .await;
    assert_error(status, &answer, 409, "conflict");
    for rule in [
        json!({"channel_id": 999, "events": ["failed"]}),
        json!({"channel_id": channel, "events": []}),
        json!({"channel_id": channel, "events": ["exploded"]}),
        json!({"channel_id": channel, "project": "nope", "events": ["failed"]}),
    ] {
        let (status, answer) = app.post("/api/v1/notifications/rules", rule).await;
        assert_error(status, &answer, 400, "bad_request");
    }
    let gone = app.client.delete(format!("{}/api/v1/notifications/rules/4242", app.base)).send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    let (status, _) = app.post(&format!("/api/v1/notifications/channels/{channel}/test"), json!(null)).await;
    assert_eq!(status, 202);
    let removed =
        app.client.delete(format!("{}/api/v1/notifications/channels/{channel}", app.base)).send().await.unwrap();
    assert_eq!(removed.status().as_u16(), 204);
    let (_, settings) = app.get("/api/v1/notifications/settings").await;
    assert_eq!(settings, json!({"channels": [], "rules": [], "deliveries": []}));
}

#[tokio::test]
async fn people_get_the_events_they_chose_by_email_and_keep_their_own_read_marks() {
    let maildir = tempfile::tempdir().unwrap();
    let (_smtp, port) = smtp_server(maildir.path(), 0);
    let data = tempfile::tempdir().unwrap();
    let config = ferry_server::config::Config {
        mail_smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
        mail_from: Some("Ferry <ferry@example.com>".into()),
        ..common::test_config(data.path())
    };
    let app = common::spawn_with(config).await;
    app.hello_project("api").await;
    let release = failing_release(&app, "api").await;
    // A viewer with an address, and an outsider (no role on `api`) with one too.
    let store = &app.running.state.store;
    let person = |login: &'static str| ferry_server::store::Identity {
        provider: "gitlab",
        subject: login,
        login,
        name: login,
        email: Some(if login == "vera" { "vera@example.com" } else { "otto@example.com" }),
    };
    let vera = store.upsert_user(&person("vera"), Role::Viewer).await.unwrap().id;
    let otto = store.upsert_user(&person("otto"), Role::None).await.unwrap().id;
    let token = |id| async move {
        common::client_with_token(&common::issue_token(store, id, &ferry_app::model::TokenScope::ALL, None).await)
    };
    let (vera_client, otto_client) = (token(vera).await, token(otto).await);
    let prefs = json!({"in_app": ["failed"], "email": ["failed"]});
    let url = format!("{}/api/v1/notifications/preferences", app.base);
    for client in [&vera_client, &otto_client] {
        let saved: Value = client.put(&url).json(&prefs).send().await.unwrap().json().await.unwrap();
        assert_eq!(saved["email"], json!(["failed"]), "{saved}");
    }
    let vera_saved: Value = vera_client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (&vera_saved["email_address"], &vera_saved["email_available"]),
        (&json!("vera@example.com"), &json!(true))
    );
    // The administrator has no address on their profile.
    let refused = app.client.put(&url).json(&prefs).send().await.unwrap();
    let status = refused.status().as_u16();
    assert_error(status, &refused.json().await.unwrap(), 400, "bad_request");

    let id = deploy(&app, "api", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "failed");
    delivered(&app, "email to vera@example.com", 1).await;
    // People are emailed in one pass over the subscribers, which enqueued vera's mail:
    // a mail to otto would be in the outbox too.
    assert_eq!(deliveries_to(&app, "email to otto@example.com").await, Vec::<Value>::new());
    let mail: Value = serde_json::from_str(&std::fs::read_to_string(maildir.path().join("1.json")).unwrap()).unwrap();
    assert_eq!(
        (&mail["to"], &mail["subject"]),
        (&json!(["vera@example.com"]), &json!("✗ api failed in development: 2.0"))
    );
    assert!(!maildir.path().join("2.json").exists(), "otto cannot see `api`: no mail for him");

    // Vera reads hers; the administrator's stays unread. Vera never sees successes.
    let list = format!("{}/api/v1/notifications", app.base);
    let hers: Value = vera_client.get(&list).send().await.unwrap().json().await.unwrap();
    assert_eq!((hers["unread"].as_i64(), hers["kinds"].clone()), (Some(1), json!(["deployment_failed"])), "{hers}");
    let read = format!("{}/api/v1/notifications/read", app.base);
    let after: Value = vera_client.post(&read).json(&json!({"ids": null})).send().await.unwrap().json().await.unwrap();
    assert_eq!(after["unread"], 0);
    let (_, admins) = app.get("/api/v1/notifications").await;
    assert_eq!(admins["unread"], 1, "{admins}");
    let repo = app.data_dir.join("src-api");
    let fixed = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("run: \"echo compiling; echo boom-the-compiler-is-sad >&2; exit 3\"", "run: sh build.sh");
    std::fs::write(repo.join("ferry.yml"), fixed).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "fixed build"]);
    let good = common::release_at_head(&app, "api", "3.0").await;
    let id = deploy(&app, "api", good, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let hers: Value = vera_client.get(&list).send().await.unwrap().json().await.unwrap();
    assert!(hers["items"].as_array().unwrap().iter().all(|n| n["kind"] == "deployment_failed"), "{hers}");
    let (_, admins) = app.get("/api/v1/notifications").await;
    assert_eq!(admins["items"][0]["kind"], "deployment_succeeded");
    let outsiders: Value = otto_client.get(&list).send().await.unwrap().json().await.unwrap();
    assert_eq!(outsiders["items"], json!([]), "nothing about a project otto cannot see: {outsiders}");
}

#[tokio::test]
async fn a_slack_webhook_gets_at_most_about_one_message_a_second() {
    let app = spawn_app().await;
    let slack = Receiver::start(0, vec![]).await;
    let channel = add_channel(&app, "busy", json!({"kind": "slack", "webhook_url": slack.url})).await;
    for _ in 0..3 {
        let (status, _) = app.post(&format!("/api/v1/notifications/channels/{channel}/test"), json!(null)).await;
        assert_eq!(status, 202);
    }
    delivered(&app, "busy", 3).await;
    let got = slack.received();
    assert_eq!(got.len(), 3);
    for pair in got.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(950), "sent faster than one a second");
    }
}
