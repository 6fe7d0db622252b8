//! The REST API under `/api/v1`, one module per resource. Every handler answers
//! errors as `{error, message}` with a 4xx or 5xx status.

mod agents;
mod audit;
mod deployments;
mod feeds;
mod forges;
mod freezes;
mod imports;
mod logs;
mod notify;
mod people;
mod projects;
mod retention;
mod ssh;
mod tokens;
mod variables;

use ferry_app::error::AppError;

use crate::error::HttpError;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

pub use agents::*;
pub use audit::*;
pub use deployments::*;
pub use feeds::*;
pub use forges::*;
pub use freezes::*;
pub use imports::*;
pub use logs::*;
pub use notify::*;
pub use people::*;
pub use projects::*;
pub use retention::*;
pub use ssh::*;
pub use tokens::*;
pub use variables::*;

type ApiResult<T> = Result<axum::Json<T>, HttpError>;

/// Every route with its OpenAPI description, declared once by `#[utoipa::path]` on its
/// handler: the router is made from those declarations (`routes!`), and so is the
/// document (`super::openapi`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(projects::router())
        .merge(deployments::router())
        .merge(logs::router())
        .merge(feeds::router())
        .merge(tokens::router())
        .merge(people::router())
        .merge(audit::router())
        .merge(agents::router())
        .merge(variables::router())
        .merge(freezes::router())
        .merge(retention::router())
        .merge(notify::router())
        .merge(forges::router())
        .merge(imports::router())
        .merge(ssh::router())
        .fallback(|| async { HttpError(AppError::not_found("no such API endpoint")) })
}
