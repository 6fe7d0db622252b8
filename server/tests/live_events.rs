//! The websocket: live events arrive in order, and a client that reconnects with the
//! last sequence number it saw gets every event it missed, without gaps.

mod common;

use std::time::Duration;

use common::live::Messages;
use serde_json::json;

#[tokio::test]
async fn reconnecting_with_the_last_seq_delivers_missed_events() {
    let app = common::spawn_app().await;
    let (release, _) = app.hello_project("live").await;
    let mut socket = Messages::connect(app.ws_request("/ws").await).await;
    let hello = socket.next().await;
    assert_eq!(hello["type"], "hello");
    let head = hello["head_seq"].as_i64().unwrap();

    let (_, started) = app
        .post("/api/v1/deployments", json!({"project": "live", "release_id": release, "environment": "development"}))
        .await;
    let id = started["id"].as_i64().unwrap();

    // Read a few live events, then drop the connection mid-deployment.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let m = socket.next().await;
        assert_eq!(m["type"], "event");
        seen.push(m);
    }
    let seqs: Vec<i64> = seen.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (head + 1..=head + 3).collect::<Vec<_>>(), "live events in order");
    assert_eq!(seen[0]["payload"]["event"], "deployment");
    assert_eq!(seen[0]["payload"]["state"], "queued");
    drop(socket);
    let last = *seqs.last().unwrap();

    // Everything after that happens while disconnected.
    let detail = app.wait_finished(id).await;
    assert_eq!(detail["deployment"]["state"], "succeeded");
    // The outcome's notification is a job of its own, run just after.
    let stored = common::wait_until("the outcome's notification", Duration::from_secs(10), || async {
        let (_, stored) = app.get(&format!("/api/v1/events?after={last}")).await;
        stored.as_array().unwrap().iter().any(|e| e["payload"]["event"] == "notification").then_some(stored)
    })
    .await;
    let missed = stored.as_array().unwrap().len();
    assert!(missed > 5, "the deployment produced events while disconnected");

    let mut socket = Messages::connect(app.ws_request(&format!("/ws?after={last}")).await).await;
    assert_eq!(socket.next().await["type"], "hello");
    let mut replayed = Vec::new();
    for _ in 0..missed {
        replayed.push(socket.next().await);
    }
    assert!(socket.frames < missed, "replayed events share frames: {} frames for {missed}", socket.frames);
    let seqs: Vec<i64> = replayed.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (last + 1..=last + missed as i64).collect::<Vec<_>>(), "no gaps, no repeats");
    let finale = replayed.iter().rev().find(|m| m["payload"]["event"] == "deployment").unwrap();
    assert_eq!(finale["payload"]["state"], "succeeded");
    let last = replayed.last().unwrap();
    assert_eq!(last["payload"]["event"], "notification", "the notification follows the outcome");
    assert_eq!(last["payload"]["title"], "✓ live 1.0.0 deployed to development");
    assert!(replayed.iter().any(|m| m["payload"]["event"] == "log"), "log lines are events too");
}

#[tokio::test]
async fn a_bad_resume_point_is_a_client_error() {
    let app = common::spawn_app().await;
    let response = app.client.get(format!("{}/ws?after=soon", app.base)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let anonymous = reqwest::get(format!("{}/ws", app.base)).await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "only signed-in callers get events");
}

#[tokio::test]
async fn the_live_stream_carries_only_projects_the_caller_may_view() {
    let app = common::spawn_app().await;
    let (open, _) = app.hello_project("open").await;
    let (closed, _) = app.hello_project("closed").await;
    let outsider = app.user("outsider", ferry_app::model::Role::None).await;
    let membership = json!({"user_id": outsider, "role": "viewer"});
    let set =
        app.client.put(format!("{}/api/v1/projects/open/members", app.base)).json(&membership).send().await.unwrap();
    assert_eq!(set.status().as_u16(), 204);
    let token = common::issue_token(&app.running.state.store, outsider, &ferry_app::model::TokenScope::ALL, None).await;
    let mut request = app.ws_request("/ws").await;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut socket = Messages::connect(request).await;
    assert_eq!(socket.next().await["type"], "hello");

    let hidden = common::deploy(&app, "closed", closed, "development").await;
    app.wait_finished(hidden).await;
    let shown = common::deploy(&app, "open", open, "development").await;
    app.wait_finished(shown).await;
    // Everything up to the open project's outcome arrives, and nothing of the other.
    loop {
        let message = socket.next().await;
        let payload = &message["payload"];
        let deployment =
            payload["deployment_id"].as_i64().or(payload["id"].as_i64().filter(|_| payload["event"] == "deployment"));
        assert_ne!(deployment, Some(hidden), "an event of the hidden project: {message}");
        if payload["event"] == "deployment" && payload["id"] == shown && payload["state"] == "succeeded" {
            break;
        }
    }
}
