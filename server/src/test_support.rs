//! Helpers for the server's unit tests.

use std::net::SocketAddr;

/// A server that accepts connections and never says a word, for timeouts; it stops
/// when the returned handle is aborted or dropped with the test's runtime.
pub async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            connections.push(connection);
        }
    });
    (addr, held)
}
