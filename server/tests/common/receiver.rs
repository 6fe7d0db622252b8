//! A local HTTP receiver standing in for Slack or a webhook consumer: it records every
//! request (headers and body) and answers each from a script of responses, then 200.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

/// An answer: status and an optional `Retry-After`.
pub type Answer = (u16, Option<u64>);

#[derive(Clone, Default)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    pub url: String,
}

impl Receiver {
    /// Listens on `port` (0: any) and answers `script` in order, then 200 `ok`.
    pub async fn start(port: u16, script: Vec<Answer>) -> Self {
        Self::start_answering_after(port, script, std::time::Duration::ZERO).await
    }

    /// The same, taking `delay` to answer each request (a slow consumer).
    pub async fn start_answering_after(port: u16, script: Vec<Answer>, delay: std::time::Duration) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://{}/hook/T000/B000/secret-token", listener.local_addr().unwrap());
        let receiver = Receiver { url, script: Arc::new(Mutex::new(script.into())), ..Default::default() };
        let handler = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let handler = handler.clone();
            async move {
                let body = String::from_utf8_lossy(&body).to_string();
                handler.received.lock().unwrap().push(Received { headers, body, at: Instant::now() });
                tokio::time::sleep(delay).await;
                let (status, retry_after) = handler.script.lock().unwrap().pop_front().unwrap_or((200, None));
                let mut response = (StatusCode::from_u16(status).unwrap(), "ok").into_response();
                if let Some(seconds) = retry_after {
                    response.headers_mut().insert("retry-after", seconds.into());
                }
                response
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
