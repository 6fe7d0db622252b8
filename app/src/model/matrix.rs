//! The environment matrix: projects × environments and what runs in each cell.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DeploymentView, EnvironmentView, ProjectView, ReleaseView};

/// One cell of the environment matrix: what is live there and what happened last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixCell {
    pub environment: EnvironmentView,
    /// The newest successful deployment: the release that is live.
    pub current: Option<DeploymentView>,
    /// The newest deployment in any state.
    pub latest: Option<DeploymentView>,
    /// The newest successful deployment of a different release: where a rollback goes.
    pub previous: Option<DeploymentView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixRow {
    pub project: ProjectView,
    pub cells: Vec<MatrixCell>,
    /// Newest first.
    pub releases: Vec<ReleaseView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Matrix {
    pub rows: Vec<MatrixRow>,
}
