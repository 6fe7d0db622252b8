//! The live event stream. A client connects to `/ws` (optionally `?after=<seq>`), gets
//! a hello with the newest sequence number, then every later event in order. With
//! `after`, the events it missed are replayed from the store first, so a reconnect
//! loses nothing; a client too slow for the live channel is caught up the same way.
//! Only signed-in callers connect, and they receive only events of projects they
//! may view.

use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use ferry_app::model::LiveMessage;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::extract::Query;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::events::LiveEvent;
use crate::services::gate;
use crate::services::visibility::Visibility;
use crate::state::AppState;

const REPLAY_PAGE: i64 = 1000;

#[derive(Debug, Deserialize)]
pub struct Resume {
    after: Option<i64>,
}

pub async fn upgrade(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<Resume>,
    ws: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    Ok(ws.on_upgrade(move |socket| async move {
        s.metrics.websocket_clients.fetch_add(1, Ordering::Relaxed);
        let mut viewer = Visibility::new(c.clone());
        if let Err(why) = stream(socket, &s, &c, &mut viewer, q.after).await {
            tracing::debug!(%why, "websocket closed");
        }
        s.metrics.websocket_clients.fetch_sub(1, Ordering::Relaxed);
    }))
}

async fn send(socket: &mut WebSocket, message: &LiveMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    socket.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
}

/// Sends stored events after `last` until caught up; returns the last one sent.
async fn replay(socket: &mut WebSocket, s: &AppState, c: &Caller, mut last: i64) -> Result<i64, String> {
    loop {
        let page = s.store.events_after(last, REPLAY_PAGE).await.map_err(|e| e.to_string())?;
        let done = (page.len() as i64) < REPLAY_PAGE;
        let Some(newest) = page.last().map(|e| e.seq) else { return Ok(last) };
        // The same filter as the events endpoint, over the page just read.
        for event in gate::events(s, c, last, newest - last).await.map_err(|e| e.message)? {
            send(socket, &LiveMessage::Event(event)).await?;
        }
        last = newest;
        if done {
            return Ok(last);
        }
    }
}

async fn stream(
    mut socket: WebSocket,
    s: &AppState,
    c: &Caller,
    viewer: &mut Visibility,
    after: Option<i64>,
) -> Result<(), String> {
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
                Ok(event) => last = forward(&mut socket, s, viewer, event, last).await?,
                Err(RecvError::Lagged(_)) => last = replay(&mut socket, s, c, last).await?,
                Err(RecvError::Closed) => return Ok(()),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn forward(
    socket: &mut WebSocket,
    s: &AppState,
    viewer: &mut Visibility,
    event: LiveEvent,
    last: i64,
) -> Result<i64, String> {
    if event.seq <= last {
        return Ok(last);
    }
    if !viewer.sees_everything() {
        let message: LiveMessage = serde_json::from_str(&event.json).map_err(|e| e.to_string())?;
        if let LiveMessage::Event(e) = message {
            if !viewer.allows(s, &e.payload).await.map_err(|e| e.message)? {
                return Ok(event.seq);
            }
        }
    }
    socket.send(Message::Text(event.json.as_ref().into())).await.map_err(|e| e.to_string())?;
    Ok(event.seq)
}
