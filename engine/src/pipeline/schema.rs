//! The JSON Schema of `ferry.yml`, generated from the parser's own types (schemars)
//! so that editors check a file as Ferry will: served at `/api/ferry.schema.json` and
//! named by the `yaml-language-server` line the README shows. The values that the
//! parser checks by hand (names, durations, ranges) describe themselves here; the
//! rules across fields (an `if:` naming a declared environment, blue-green's slots)
//! stay the parser's, which reports them with the line.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::condition::Condition;
use super::previews::{Lifetime, PortRange, UrlTemplate};
use super::values::{Command, HttpUrl, KeepReleases, Name, RelativeDir, Seconds, Status, VarName};
use super::{Pipeline, QueuePolicy};
use crate::rollout::BatchSize;

/// The schema of the whole file, as JSON.
pub fn pipeline_schema() -> serde_json::Value {
    let mut schema = schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<Pipeline>();
    schema.insert("title".into(), "ferry.yml".into());
    schema.to_value()
}

/// A value the parser checks by hand, described by a fixed schema.
macro_rules! fixed_schema {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

fixed_schema!(Name, "Name", {
    "type": "string",
    "description": "1-40 of a-z, 0-9 and -, starting with a letter",
    "pattern": "^[a-z][a-z0-9-]{0,39}$"
});
fixed_schema!(VarName, "VarName", {
    "type": "string",
    "description": "a variable name as a shell accepts it; FERRY_ is reserved",
    "pattern": "^(?!FERRY_)[A-Za-z_][A-Za-z0-9_]*$"
});
fixed_schema!(Command, "Command", {
    "type": "string",
    "description": "a shell command, run with sh -c",
    "minLength": 1,
    "pattern": "\\S"
});
fixed_schema!(HttpUrl, "HttpUrl", { "type": "string", "pattern": "^https?://" });
fixed_schema!(RelativeDir, "RelativeDir", {
    "type": "string",
    "description": "a directory inside the release: relative, without ..",
    "pattern": "^(?!/)(?!.*(^|/)\\.\\.(/|$)).+$"
});
fixed_schema!(Seconds, "Duration", {
    "description": "1s to 24h: whole seconds (90) or with units from hours down (30s, 5m, 1m30s, 1h30m)",
    "oneOf": [
        { "type": "integer", "minimum": 1, "maximum": 86400 },
        { "type": "string", "pattern": "^\\s*([0-9]+|(?=[0-9])([0-9]+h)?([0-9]+m)?([0-9]+s)?)\\s*$" }
    ]
});
fixed_schema!(Status, "Status", { "type": "integer", "minimum": 100, "maximum": 599 });
fixed_schema!(KeepReleases, "KeepReleases", {
    "type": "integer",
    "description": "releases each target keeps: the live one and those to roll back to",
    "minimum": 2,
    "maximum": 100
});
fixed_schema!(Condition, "Condition", {
    "type": "string",
    "description": "environment or $VAR compared with ==, != or in [a, b], joined by && and ||",
    "examples": ["environment == production", "environment in [staging, production] && $REGION != eu"]
});
fixed_schema!(QueuePolicy, "QueuePolicy", {
    "description": "supersede: a new deployment cancels older ones still queued; in-order: each runs in turn",
    "enum": ["supersede", "in-order"]
});
fixed_schema!(BatchSize, "BatchSize", {
    "description": "hosts per batch: a count (2) or a share (25%)",
    "oneOf": [
        { "type": "integer", "minimum": 1 },
        { "type": "string", "pattern": "^\\s*([0-9]+|([1-9][0-9]?|100)\\s*%)\\s*$" }
    ]
});
fixed_schema!(PortRange, "PortRange", {
    "type": "string",
    "description": "first-last, within 1024-65535",
    "pattern": "^\\s*[0-9]{4,5}\\s*-\\s*[0-9]{4,5}\\s*$"
});
fixed_schema!(UrlTemplate, "UrlTemplate", {
    "type": "string",
    "description": "an http(s) URL where {number} is the request's number and ${VAR} a variable",
    "pattern": "^https?://[^\\s]*$"
});
fixed_schema!(Lifetime, "Lifetime", {
    "type": "string",
    "description": "1h to 90d, in hours (12h) or days (3d)",
    "pattern": "^\\s*[0-9]+[hd]\\s*$"
});
