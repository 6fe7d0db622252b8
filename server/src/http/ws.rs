//! The live event stream. A client connects to `/ws` (optionally `?after=<seq>`), gets
//! a hello with the newest sequence number, then every later event in order. With
//! `after`, the events it missed are replayed from the store first, so a reconnect
//! loses nothing; a client too slow for the live channel is caught up the same way.
//! Only signed-in callers connect, from Ferry's own origin, and they receive only
//! events of projects they may view.
//!
//! A text frame carries one or more messages, one JSON document per line: events
//! already waiting are sent together, because at thousands of log lines a second
//! the browser's cost is per frame, not per byte.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use ferry_app::error::AppError;
use ferry_app::model::LiveMessage;
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tower_sessions::Session;

use super::extract::Query;
use crate::auth::authenticate::{still_valid, Credential};
use crate::auth::csrf::websocket_allowed;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::events::LiveEvent;
use crate::services::gate;
use crate::services::visibility::Visibility;
use crate::state::AppState;

const REPLAY_PAGE: i64 = 1000;
/// How often an open websocket checks that its caller may still see what it sees.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// The close code when the caller's access changed (the private-use range).
const CLOSE_SIGN_IN_AGAIN: u16 = 4001;
/// The close code when the server stops (RFC 6455's "service restart").
const CLOSE_SERVER_RESTARTING: u16 = 1012;
/// Most live events sent in one frame.
const FRAME_EVENTS: usize = 500;

#[derive(Debug, Deserialize)]
pub struct Resume {
    after: Option<i64>,
}

pub async fn upgrade(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<Resume>,
    headers: HeaderMap,
    session: Option<Extension<Session>>,
    ws: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    if !websocket_allowed(&headers, s.auth.public_origin.as_deref()) {
        let why =
            "refused a websocket from another origin (cross-site websocket hijacking): use Ferry from its own address";
        return Err(HttpError(AppError::forbidden(why)));
    }
    let credential = Credential::of(&headers, session.as_deref())
        .ok_or_else(|| HttpError(AppError::unauthenticated("sign in to use Ferry")))?;
    Ok(ws.on_upgrade(move |socket| async move {
        s.metrics.websocket_opened();
        let mut viewer = Visibility::new(c.clone());
        let caller = Authenticated { caller: &c, credential: &credential };
        if let Err(why) = stream(socket, &s, caller, &mut viewer, q.after).await {
            tracing::debug!(%why, "websocket closed");
        }
        s.metrics.websocket_closed();
    }))
}

async fn send(socket: &mut WebSocket, message: &LiveMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    send_lines(socket, text).await
}

/// Sends one frame of newline-separated messages; an empty one is not sent.
async fn send_lines(socket: &mut WebSocket, lines: String) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    socket.send(Message::Text(lines.into())).await.map_err(|e| e.to_string())
}

fn push_line(frame: &mut String, json: &str) {
    if !frame.is_empty() {
        frame.push('\n');
    }
    frame.push_str(json);
}

/// Sends stored events after `last` until caught up; returns the last one sent.
async fn replay(socket: &mut WebSocket, s: &AppState, c: &Caller, mut last: i64) -> Result<i64, String> {
    loop {
        let page = s.store.events_after(last, REPLAY_PAGE).await.map_err(|e| e.to_string())?;
        let done = (page.len() as i64) < REPLAY_PAGE;
        let Some(newest) = page.last().map(|e| e.seq) else { return Ok(last) };
        // The same filter as the events endpoint, over the page just read.
        let mut frame = String::new();
        for event in gate::events(s, c, last, newest - last).await.map_err(|e| e.message)? {
            push_line(&mut frame, &serde_json::to_string(&LiveMessage::Event(event)).map_err(|e| e.to_string())?);
        }
        send_lines(socket, frame).await?;
        last = newest;
        if done {
            return Ok(last);
        }
    }
}

/// Who is connected, and what they authenticated with (checked again while open).
#[derive(Clone, Copy)]
struct Authenticated<'a> {
    caller: &'a Caller,
    credential: &'a Credential,
}

async fn stream(
    mut socket: WebSocket,
    s: &AppState,
    who: Authenticated<'_>,
    viewer: &mut Visibility,
    after: Option<i64>,
) -> Result<(), String> {
    let c = who.caller;
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.tick().await;
    // Subscribe before reading the head, so nothing published in between is missed.
    let mut live = s.bus.subscribe();
    let head = s.store.head_seq().await.map_err(|e| e.to_string())?;
    send(&mut socket, &LiveMessage::Hello { head_seq: head }).await?;
    let mut last = match after {
        Some(after) => replay(&mut socket, s, c, after.max(0)).await?,
        None => head,
    };
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(event) => {
                    let (waiting, lagged) = take_waiting(&mut live, event);
                    last = forward(&mut socket, s, viewer, waiting, last).await?;
                    if lagged {
                        last = replay(&mut socket, s, c, last).await?;
                    }
                }
                Err(RecvError::Lagged(_)) => last = replay(&mut socket, s, c, last).await?,
                Err(RecvError::Closed) => return Ok(()),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
            _ = s.closing.cancelled() => {
                let close = CloseFrame { code: CLOSE_SERVER_RESTARTING, reason: "Ferry is restarting".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                return Ok(());
            }
            _ = recheck.tick() => {
                if !still_valid(s, who.credential, c).await {
                    // Signed out, revoked, or no longer allowed what it was: the browser
                    // reconnects (or signs in) and gets what it may see now.
                    let close = CloseFrame { code: CLOSE_SIGN_IN_AGAIN, reason: "your access changed".into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    return Ok(());
                }
            }
        }
    }
}

/// `first` and the events already queued behind it, up to a frame's worth; and
/// whether the channel reported this receiver had fallen behind.
fn take_waiting(live: &mut Receiver<LiveEvent>, first: LiveEvent) -> (Vec<LiveEvent>, bool) {
    let mut waiting = vec![first];
    while waiting.len() < FRAME_EVENTS {
        match live.try_recv() {
            Ok(event) => waiting.push(event),
            Err(TryRecvError::Lagged(_)) => return (waiting, true),
            Err(_) => break,
        }
    }
    (waiting, false)
}

/// Sends the events this viewer may see, as one frame; returns the last sequence handled.
async fn forward(
    socket: &mut WebSocket,
    s: &AppState,
    viewer: &mut Visibility,
    events: Vec<LiveEvent>,
    mut last: i64,
) -> Result<i64, String> {
    let mut frame = String::new();
    for event in events {
        if event.seq <= last {
            continue;
        }
        last = event.seq;
        if !viewer.sees_everything() {
            let message: LiveMessage = serde_json::from_str(&event.json).map_err(|e| e.to_string())?;
            if let LiveMessage::Event(e) = message {
                if !viewer.allows(s, &e.payload).await.map_err(|e| e.message)? {
                    continue;
                }
            }
        }
        push_line(&mut frame, &event.json);
    }
    send_lines(socket, frame).await?;
    Ok(last)
}
