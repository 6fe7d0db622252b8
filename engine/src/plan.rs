//! Turns a pipeline and a deployment request into the ordered lists of steps to run.
//! A release is built once, by the build plan on the build agent: fetch, the build
//! steps, pack (the artifact). Each target's plan then unpacks that artifact,
//! switches, runs the deploy steps and the health check.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::pipeline::Pipeline;

/// What a step does when it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StepAction {
    /// Clone the repository and check out the release's commit into the incoming dir.
    Fetch,
    /// Pack the built incoming dir into the artifact file `to` (the build plan's end).
    Pack { to: String },
    /// Get the plan's artifact, check its checksum and unpack it into the incoming dir.
    Unpack,
    /// A shell command from the pipeline; build steps run in the incoming dir, deploy
    /// steps in the live release dir (or `working_directory` inside it), with the
    /// plan's variables and then the step's own `env`.
    Command {
        run: String,
        timeout: Duration,
        phase: Phase,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        working_directory: Option<String>,
    },
    /// A step whose `if:` was false for this deployment: reported skipped, with why.
    Skip { reason: String },
    /// Move the release into place and switch `current`.
    Switch,
    /// Point `current` at a release already on the target (a rollback: no rebuild).
    Activate,
    /// Blue-green: move the built release into place for the idle slot.
    Stage,
    /// Blue-green: give the idle slot a release already on the target (a rollback).
    Restage,
    /// Blue-green, after the traffic moved: `current` and the live slot follow.
    GoLive,
    /// Take the environment off the target: remove `current`, the slots and every
    /// release (a preview's teardown).
    Retire,
    /// Probe until healthy, every `interval`, for at most `timeout`.
    HealthCheck { probe: Probe, timeout: Duration, interval: Duration },
    /// A canary's verification: probe every `interval` for `window`; it must stay healthy.
    Watch { probe: Probe, window: Duration, interval: Duration },
}

/// What a health check asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Probe {
    Http {
        /// May hold `${NAME}`, replaced on the host by the step's environment (so a
        /// host's own variables, such as its port, count).
        url: String,
        expect_status: u16,
        /// May hold `${NAME}` too, e.g. `${FERRY_RELEASE}` to be sure the new
        /// version answers rather than an old process still holding the port.
        body_contains: Option<String>,
    },
    /// A shell command in the live release; healthy when it exits with 0.
    Command { run: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Build,
    Deploy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub name: String,
    pub action: StepAction,
}

/// Everything the executor needs besides the paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentPlan {
    pub repo_url: String,
    pub commit: String,
    pub steps: Vec<PlannedStep>,
    /// Environment variables for every command: the environment's vars and FERRY_*.
    pub env: BTreeMap<String, String>,
    /// Releases the target keeps; older ones are removed once the switch is done.
    #[serde(default = "default_keep")]
    pub keep_releases: u32,
    /// Blue-green: each slot's variables; the host picks the idle slot when it runs.
    #[serde(default)]
    pub slots: Option<SlotVars>,
    /// The release's artifact, which the `Unpack` step gets.
    #[serde(default)]
    pub artifact: Option<ArtifactSource>,
}

/// Where a target gets a release's artifact: a file on this machine (the built-in
/// agent), or a URL of the server (an agent; a path is taken from the agent's server,
/// and `bearer` is its credential).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactSource {
    pub sha256: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<String>,
}

/// The variables of the two blue-green slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotVars {
    pub blue: BTreeMap<String, String>,
    pub green: BTreeMap<String, String>,
}

fn default_keep() -> u32 {
    crate::pipeline::KeepReleases::default().0
}

/// Facts about the deployment that become `FERRY_*` variables.
#[derive(Debug, Clone)]
pub struct DeploymentFacts {
    pub project: String,
    pub environment: String,
    pub release_version: String,
    pub release_id: i64,
    pub deployment_id: i64,
    pub repo_url: String,
    pub commit: String,
    pub target_dir: String,
}

/// Builds the plan; fails when the environment is not in the pipeline or the health
/// check URL is malformed.
pub fn plan(pipeline: &Pipeline, facts: &DeploymentFacts) -> Result<DeploymentPlan, String> {
    let env_spec = pipeline
        .environment(&facts.environment)
        .ok_or_else(|| format!("environment `{}` is not declared in ferry.yml", facts.environment))?;
    let mut env: BTreeMap<String, String> =
        env_spec.vars.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect();
    for (key, value) in [
        ("FERRY_PROJECT", facts.project.clone()),
        ("FERRY_ENVIRONMENT", facts.environment.clone()),
        ("FERRY_RELEASE", facts.release_version.clone()),
        ("FERRY_RELEASE_ID", facts.release_id.to_string()),
        ("FERRY_DEPLOYMENT_ID", facts.deployment_id.to_string()),
        ("FERRY_COMMIT", facts.commit.clone()),
        ("FERRY_TARGET_DIR", facts.target_dir.clone()),
    ] {
        env.insert(key.to_string(), value);
    }

    let mut steps = vec![PlannedStep { name: "unpack".into(), action: StepAction::Unpack }];
    let blue_green = env_spec.rollout.blue_green.as_ref();
    match blue_green {
        Some(_) => steps.push(PlannedStep { name: "stage".into(), action: StepAction::Stage }),
        None => steps.push(PlannedStep { name: "switch".into(), action: StepAction::Switch }),
    }
    steps.extend(going_live(pipeline, &facts.environment, &env)?);
    if let Some(spec) = blue_green {
        steps.extend(switching_traffic(spec));
    }
    Ok(DeploymentPlan {
        repo_url: facts.repo_url.clone(),
        commit: facts.commit.clone(),
        steps,
        env,
        keep_releases: pipeline.keep_releases.0,
        slots: blue_green.map(|s| SlotVars { blue: s.blue.clone(), green: s.green.clone() }),
        artifact: None,
    })
}

/// The plan that builds a release once: fetch its commit, run the build steps with
/// the deployment's variables, and pack the result into `pack_to`.
pub fn build_plan(pipeline: &Pipeline, facts: &DeploymentFacts, pack_to: &str) -> Result<DeploymentPlan, String> {
    let mut plan = plan(pipeline, facts)?;
    let mut steps = vec![PlannedStep { name: "fetch".into(), action: StepAction::Fetch }];
    steps.extend(commands(&pipeline.build, Phase::Build, &facts.environment, &plan.env));
    steps.push(PlannedStep { name: "pack".into(), action: StepAction::Pack { to: pack_to.to_string() } });
    plan.steps = steps;
    plan.slots = None;
    Ok(plan)
}

/// Blue-green's last steps: move the traffic, then mark the slot live.
fn switching_traffic(spec: &crate::pipeline::BlueGreenSpec) -> Vec<PlannedStep> {
    let run = spec.switch_traffic.clone();
    vec![
        PlannedStep {
            name: "switch-traffic".into(),
            action: StepAction::Command {
                run,
                timeout: Duration::from_secs(120),
                phase: Phase::Deploy,
                env: BTreeMap::new(),
                working_directory: None,
            },
        },
        PlannedStep { name: "go-live".into(), action: StepAction::GoLive },
    ]
}

/// Builds the plan of a rollback: the release is already on the target, so it is
/// only activated, restarted by the deploy steps and health-checked.
pub fn plan_rollback(pipeline: &Pipeline, facts: &DeploymentFacts) -> Result<DeploymentPlan, String> {
    let mut plan = plan(pipeline, facts)?;
    let blue_green = pipeline.environment(&facts.environment).and_then(|e| e.rollout.blue_green.as_ref());
    let first = match blue_green {
        // Blue-green goes back the same way it goes forward: in the idle slot, checked, then switched.
        Some(_) => PlannedStep { name: "restage".into(), action: StepAction::Restage },
        None => PlannedStep { name: "activate".into(), action: StepAction::Activate },
    };
    let mut steps = vec![first];
    steps.extend(going_live(pipeline, &facts.environment, &plan.env)?);
    if let Some(spec) = blue_green {
        steps.extend(switching_traffic(spec));
    }
    plan.steps = steps;
    Ok(plan)
}

/// Builds the plan that takes a preview off its hosts: its `teardown` steps in the
/// live release (the release's own, as with deploy steps), then the release
/// directories go. A release without a `previews` section only retires.
pub fn plan_teardown(pipeline: &Pipeline, facts: &DeploymentFacts) -> Result<DeploymentPlan, String> {
    let mut plan = plan(pipeline, facts)?;
    let teardown = pipeline.previews.as_ref().map(|p| p.teardown.as_slice()).unwrap_or_default();
    let mut steps = commands(teardown, Phase::Deploy, &facts.environment, &plan.env);
    steps.push(PlannedStep { name: "retire".into(), action: StepAction::Retire });
    plan.steps = steps;
    plan.slots = None;
    Ok(plan)
}

/// Adds the canary's verification window after the health check (the canary host's
/// plan only). Without a health check there is nothing to watch, and the plan is kept.
pub fn with_canary_watch(mut plan: DeploymentPlan, window: Duration) -> DeploymentPlan {
    let watch = plan.steps.iter().find_map(|s| match &s.action {
        StepAction::HealthCheck { probe, interval, .. } => {
            Some(StepAction::Watch { probe: probe.clone(), window, interval: *interval })
        }
        _ => None,
    });
    if let Some(action) = watch {
        plan.steps.push(PlannedStep { name: "canary-verify".into(), action });
    }
    plan
}

/// The pipeline's steps of one list, each as a command, or skipped where its `if:`
/// does not hold for `environment` and its variables `env`.
fn commands(
    list: &[crate::pipeline::StepSpec],
    phase: Phase,
    environment: &str,
    env: &BTreeMap<String, String>,
) -> Vec<PlannedStep> {
    list.iter()
        .map(|s| {
            let action = match &s.condition {
                Some(condition) if !condition.holds(environment, env) => {
                    StepAction::Skip { reason: format!("skipped: `if: {condition}` is false for {environment}") }
                }
                _ => StepAction::Command {
                    run: s.run.to_string(),
                    timeout: s.timeout.duration(),
                    phase,
                    env: s.env.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect(),
                    working_directory: s.working_directory.as_ref().map(|d| d.as_str().to_string()),
                },
            };
            PlannedStep { name: s.name.to_string(), action }
        })
        .collect()
}

/// What follows the switch in every plan: the deploy steps, then the health check.
fn going_live(
    pipeline: &Pipeline,
    environment: &str,
    env: &BTreeMap<String, String>,
) -> Result<Vec<PlannedStep>, String> {
    let mut steps = commands(&pipeline.deploy, Phase::Deploy, environment, env);
    if let Some(check) = &pipeline.health_check {
        steps.push(PlannedStep {
            name: "health-check".into(),
            action: StepAction::HealthCheck {
                probe: match (&check.url, &check.command) {
                    (Some(url), _) => Probe::Http {
                        url: checked_template(url.as_str(), env)?,
                        expect_status: check.expect_status.0,
                        body_contains: check.body_contains.as_deref().map(|b| checked_template(b, env)).transpose()?,
                    },
                    (None, Some(command)) => Probe::Command { run: command.as_str().to_string() },
                    (None, None) => return Err("health_check: set exactly one of url and command".into()),
                },
                timeout: check.timeout.duration(),
                interval: check.interval.duration(),
            },
        });
    }
    Ok(steps)
}

/// Checks a template's syntax now; the values are filled in on the host.
fn checked_template(template: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut probe = env.clone();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed `${{` in `{template}`"))?;
        probe.entry(after[..end].to_string()).or_default();
        rest = &after[end + 1..];
    }
    expand(template, &probe).map(|_| template.to_string())
}

/// Replaces `${NAME}` with the variable's value.
pub fn expand(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed `${{` in `{template}`"))?;
        let name = &after[..end];
        let value = vars.get(name).ok_or_else(|| {
            format!("`{template}` uses ${{{name}}}, which neither the environment nor this host defines")
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
