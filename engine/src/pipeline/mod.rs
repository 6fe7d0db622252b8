//! The `ferry.yml` pipeline file: what an app's repository declares about its
//! environments, build steps, deploy steps and health check. Every rule is checked
//! while parsing, so an error names the file, the line and the field.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::Deserialize;

mod condition;
mod previews;
mod rollout;
mod schema;
mod triggers;
mod values;

pub use condition::Condition;
pub use previews::{
    preview_environment, preview_number, Lifetime, PortRange, PreviewSettings, PreviewSpec, UrlTemplate,
};
pub use rollout::{BlueGreenSpec, RolloutSpec};
pub use schema::pipeline_schema;
pub use triggers::{glob_matches, ForgeEvent, TriggerOn, TriggerSpec};
use values::UniqueNames;
pub use values::{Command, HttpUrl, KeepReleases, Name, RelativeDir, Seconds, Status, VarName};

/// The file name Ferry reads from the root of an app's repository.
pub const PIPELINE_FILE: &str = "ferry.yml";

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The environments, in lifecycle order (development, staging, production…).
    #[serde(deserialize_with = "environments")]
    #[schemars(with = "Vec<EnvironmentSpec>", length(min = 1))]
    pub environments: Vec<EnvironmentSpec>,
    /// Run once per release, by its first deployment; the result is packed as its artifact.
    #[serde(default, deserialize_with = "steps")]
    #[schemars(with = "Vec<StepSpec>")]
    pub build: Vec<StepSpec>,
    /// Run in the live release directory on each host, after the switch.
    #[serde(default, deserialize_with = "steps")]
    #[schemars(with = "Vec<StepSpec>")]
    pub deploy: Vec<StepSpec>,
    /// Retried every `interval` until `timeout`; set `url` or `command`.
    #[serde(default, deserialize_with = "health_check")]
    #[schemars(with = "Option<HealthCheckSpec>")]
    pub health_check: Option<HealthCheckSpec>,
    /// Releases each target keeps (older ones are removed after a deployment).
    #[serde(default)]
    pub keep_releases: KeepReleases,
    /// Forge events (pushes, tags) that make a release, and where it deploys.
    #[serde(default)]
    pub triggers: Vec<TriggerSpec>,
    /// A running copy per pull or merge request.
    #[serde(default)]
    pub previews: Option<PreviewSpec>,
    /// What the file does that still works but should change (old spellings).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// One environment in lifecycle order (the order in the file).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    pub name: Name,
    /// Variables passed to every step of a deployment to this environment.
    #[serde(default)]
    pub vars: BTreeMap<VarName, String>,
    /// How a release spreads over the environment's hosts.
    #[serde(default)]
    pub rollout: RolloutSpec,
    /// What a new deployment does to older ones still queued for the environment.
    #[serde(default)]
    pub queue: QueuePolicy,
    /// Where people reach the environment (reported to the forge with each deployment).
    #[serde(default)]
    pub url: Option<HttpUrl>,
}

/// Queued deployments of one environment: only the newest matters (`supersede`, the
/// default: a new deployment cancels the older ones still waiting), or each runs in
/// turn (`in-order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    #[default]
    Supersede,
    InOrder,
}

impl QueuePolicy {
    pub const NAMES: [&str; 2] = ["supersede", "in-order"];

    fn parse(value: &str) -> Result<Self, String> {
        match values::choice(value, &Self::NAMES)? {
            "supersede" => Ok(Self::Supersede),
            _ => Ok(Self::InOrder),
        }
    }
}

impl<'de> Deserialize<'de> for QueuePolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(values::CheckedVisitor(Self::parse))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub name: Name,
    /// A shell command, run with `sh -c` in the release directory.
    pub run: Command,
    #[serde(default = "default_step_timeout")]
    pub timeout: Seconds,
    /// Variables of this step alone, over the environment's.
    #[serde(default)]
    pub env: BTreeMap<VarName, String>,
    /// When the step runs (deploy and teardown steps): otherwise it is skipped, saying why.
    #[serde(default, rename = "if")]
    pub condition: Option<Condition>,
    /// A directory inside the release to run in, instead of the release's root.
    #[serde(default)]
    pub working_directory: Option<RelativeDir>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// `http://` or `https://` URL; `${VAR}` is replaced by the environment's variables.
    pub url: Option<HttpUrl>,
    /// Or a shell command run in the live release; healthy when it exits with 0.
    pub command: Option<Command>,
    #[serde(default = "default_status")]
    pub expect_status: Status,
    /// The HTTP answer's body must contain this text too.
    pub body_contains: Option<String>,
    #[serde(default = "default_health_timeout")]
    pub timeout: Seconds,
    #[serde(default = "default_interval")]
    pub interval: Seconds,
}

/// Why a pipeline file was rejected, with its position when the parser knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The field path (e.g. `environments[1].name`) and what is wrong with it.
    pub message: String,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for PipelineError {}

impl Pipeline {
    /// Parses and validates `text`, which was read from `file` (used in messages).
    pub fn parse(file: &str, text: &str) -> Result<Self, PipelineError> {
        values::take_warnings();
        let parsed = Self::parse_fields(file, text);
        let warnings = values::take_warnings();
        let mut pipeline = parsed?;
        pipeline.warnings = warnings.into_iter().map(|w| format!("{file}: {w}")).collect();
        let whole_file = |message: String| PipelineError { file: file.to_string(), line: None, column: None, message };
        for (index, trigger) in pipeline.triggers.iter().enumerate() {
            trigger.check(index).map_err(whole_file)?;
            if let Some(env) = trigger.deploy.as_ref().filter(|e| pipeline.environment(e.as_str()).is_none()) {
                return Err(whole_file(format!(
                    "triggers[{index}].deploy: there is no environment `{}`",
                    env.as_str()
                )));
            }
        }
        pipeline.check_conditions().map_err(whole_file)?;
        if let Some(previews) = &pipeline.previews {
            if pipeline.environment(previews.from.as_str()).is_none() {
                let from = previews.from.as_str();
                return Err(whole_file(format!("previews.from: there is no environment `{from}`")));
            }
            previews.check().map_err(whole_file)?;
            if let Some(taken) =
                pipeline.environments.iter().find(|e| previews::preview_number(e.name.as_str()).is_some())
            {
                return Err(whole_file(format!(
                    "environments: `{}` is the name of a preview's environment; rename it, or drop `previews`",
                    taken.name
                )));
            }
        }
        Ok(pipeline)
    }

    /// The fields one by one, each checked where it stands.
    fn parse_fields(file: &str, text: &str) -> Result<Self, PipelineError> {
        serde_norway::from_str::<Pipeline>(text).map_err(|e| {
            let location = e.location();
            let message = e.to_string();
            // The parser appends " at line L column C"; the position is reported separately.
            let message = match message.find(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            PipelineError {
                file: file.to_string(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                message,
            }
        })
    }

    /// Steps' conditions name environments that exist, and only where an environment
    /// is known: a release is built once for all of them.
    fn check_conditions(&self) -> Result<(), String> {
        if let Some(index) = self.build.iter().position(|s| s.condition.is_some()) {
            return Err(format!(
                "build[{index}].if: a release is built once, for every environment; put the condition on a deploy step"
            ));
        }
        let teardown = self.previews.iter().flat_map(|p| p.teardown.iter().enumerate());
        let conditions = self
            .deploy
            .iter()
            .enumerate()
            .map(|(i, s)| ("deploy", i, s))
            .chain(teardown.map(|(i, s)| ("previews.teardown", i, s)));
        for (list, index, step) in conditions {
            let Some(condition) = &step.condition else { continue };
            let previews_too = self.previews.is_some();
            if let Some(missing) = condition.environments().find(|name| {
                self.environment(name).is_none() && !(previews_too && previews::preview_number(name).is_some())
            }) {
                return Err(format!("{list}[{index}].if: there is no environment `{missing}`"));
            }
        }
        Ok(())
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentSpec> {
        self.environments.iter().find(|e| e.name.as_str() == name)
    }

    /// The pipeline with a preview's environment added, so it plans like a declared one.
    pub fn with_preview(mut self, name: &str, settings: &PreviewSettings) -> Result<Self, String> {
        let environment = settings.environment(name)?;
        self.environments.retain(|e| e.name.as_str() != name);
        self.environments.push(environment);
        Ok(self)
    }
}

fn environments<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvironmentSpec>, D::Error> {
    let list = d.deserialize_seq(UniqueNames::<EnvironmentSpec>::new("environment"))?;
    if list.is_empty() {
        return Err(de::Error::custom("at least one environment is required"));
    }
    Ok(list)
}

fn health_check<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HealthCheckSpec>, D::Error> {
    let spec = Option::<HealthCheckSpec>::deserialize(d)?;
    if let Some(check) = &spec {
        match (&check.url, &check.command) {
            (Some(_), None) => {}
            (None, Some(_)) if check.body_contains.is_none() => {}
            (None, Some(_)) => return Err(de::Error::custom("health_check: body_contains needs a url, not a command")),
            _ => return Err(de::Error::custom("health_check: set exactly one of url and command")),
        }
    }
    Ok(spec)
}

fn steps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StepSpec>, D::Error> {
    d.deserialize_seq(UniqueNames::<StepSpec>::new("step"))
}

fn default_step_timeout() -> Seconds {
    Seconds(600)
}
fn default_health_timeout() -> Seconds {
    Seconds(30)
}
fn default_interval() -> Seconds {
    Seconds(1)
}
fn default_status() -> Status {
    Status(200)
}
