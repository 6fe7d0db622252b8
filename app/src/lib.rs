//! Ferry's Leptos application, shared by the wasm client and the axum server: the
//! domain types both sides exchange, the error vocabulary, the server functions and
//! the pages (environment matrix and deployment timeline).

pub mod ansi;
pub mod app;
pub mod backend;
pub mod components;
pub mod error;
pub mod live;
pub mod model;
pub mod routes;
pub mod server_fns;

pub use app::App;
