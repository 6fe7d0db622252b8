//! The wasm entry point: mounts the app and keeps a websocket to the server open,
//! resuming after the last event seen whenever it reconnects.

use std::time::Duration;

use ferry_app::live::LiveFeed;
use ferry_app::model::LiveMessage;
use ferry_app::App;
use futures::StreamExt;
use gloo_net::websocket::{futures::WebSocket, Message};
use leptos::prelude::*;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(|| {
        let feed = LiveFeed::default();
        leptos::task::spawn_local(follow_events(feed.clone()));
        view! { <App feed /> }
    });
}

fn socket_url(after: Option<i64>) -> String {
    let location = web_sys::window().expect("a browser window").location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") { "wss" } else { "ws" };
    let host = location.host().unwrap_or_default();
    match after {
        Some(seq) => format!("{scheme}://{host}/ws?after={seq}"),
        None => format!("{scheme}://{host}/ws"),
    }
}

/// Resumes in a new task, after the browser has had its turn. A message to ourselves,
/// not a timer: Chromium delays timers in pages it considers hidden by up to a second.
async fn yield_to_browser() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Ok(channel) = web_sys::MessageChannel::new() {
            channel.port1().set_onmessage(Some(&resolve));
            if channel.port2().post_message(&wasm_bindgen::JsValue::NULL).is_ok() {
                return;
            }
        }
        let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Connects, dispatches events, and reconnects with backoff (up to 5 s), asking for
/// everything after the last sequence number seen so nothing is missed.
async fn follow_events(feed: LiveFeed) {
    let mut last_seq: Option<i64> = None;
    let mut backoff = Duration::from_millis(250);
    loop {
        if let Ok(socket) = WebSocket::open(&socket_url(last_seq)) {
            let (_write, mut read) = socket.split();
            while let Some(Ok(message)) = read.next().await {
                let Message::Text(text) = message else { continue };
                // A frame carries one message per line: the server sends waiting events together.
                for line in text.lines() {
                    match serde_json::from_str::<LiveMessage>(line) {
                        Ok(LiveMessage::Hello { head_seq }) => {
                            feed.connected.set(true);
                            backoff = Duration::from_millis(250);
                            last_seq.get_or_insert(head_seq);
                        }
                        Ok(LiveMessage::Event(event)) => {
                            if last_seq.is_none_or(|seen| event.seq > seen) {
                                last_seq = Some(event.seq);
                                feed.dispatch(&event);
                            }
                        }
                        Err(e) => leptos::logging::warn!("ignoring an unreadable event: {e}"),
                    }
                }
                // Frames already received would otherwise all be handled in one task;
                // yielding between them lets the page render and take input.
                yield_to_browser().await;
            }
        }
        feed.connected.set(false);
        gloo_timers::future::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
