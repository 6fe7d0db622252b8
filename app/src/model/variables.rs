//! Variables and secrets of a project, as the API shows them: a secret's value is
//! never shown again once set.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VariableView {
    pub name: String,
    /// `None`: every environment of the project.
    pub environment: Option<String>,
    /// `None` for a secret.
    pub value: Option<String>,
    pub secret: bool,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// Creates or replaces a variable (or secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetVariable {
    pub name: String,
    pub environment: Option<String>,
    pub value: String,
    #[serde(default)]
    pub secret: bool,
}
