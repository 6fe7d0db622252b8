//! A client of the live event stream (`/ws`): a text frame holds one message per line.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads the event stream: a text frame holds one message per line.
pub struct Messages {
    socket: Socket,
    pending: VecDeque<Value>,
    /// Text frames read so far.
    pub frames: usize,
}

impl Messages {
    pub async fn connect(request: tokio_tungstenite::tungstenite::handshake::client::Request) -> Self {
        let (socket, _) = connect_async(request).await.unwrap();
        Messages { socket, pending: VecDeque::new(), frames: 0 }
    }

    pub async fn next(&mut self) -> Value {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return message;
            }
            let message = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .expect("a message in time")
                .expect("socket open")
                .expect("no socket error");
            if let Message::Text(text) = message {
                self.frames += 1;
                self.pending.extend(text.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()));
            }
        }
    }
}
