//! The `rollout:` section of an environment: which strategy spreads a release over the
//! environment's hosts, its batch size or verification window, and what a failure does.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use std::collections::BTreeMap;

use super::values::{Command, Seconds, VarName};
use crate::rollout::{BatchSize, FailurePolicy, Strategy};

/// How an environment rolls a release out; all-at-once with rollback when omitted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutSpec {
    pub strategy: Strategy,
    pub on_failure: FailurePolicy,
    /// With `strategy: blue-green`: the two slots and how traffic moves between them.
    pub blue_green: Option<BlueGreenSpec>,
}

/// Blue-green on each host: the new release starts in the idle slot (with that slot's
/// variables, e.g. its port), must pass the health check there, then `switch_traffic`
/// runs (with `FERRY_SLOT` naming the slot) to send the traffic to it. The other slot
/// keeps the previous release running until the next deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreenSpec {
    pub blue: BTreeMap<String, String>,
    pub green: BTreeMap<String, String>,
    pub switch_traffic: String,
}

enum StrategyName {
    AllAtOnce,
    Rolling,
    Canary,
    BlueGreen,
}

impl StrategyName {
    const NAMES: [&str; 4] = ["all-at-once", "rolling", "canary", "blue-green"];

    fn parse(value: &str) -> Result<Self, String> {
        Ok(match super::values::choice(value, &Self::NAMES)? {
            "all-at-once" => Self::AllAtOnce,
            "rolling" => Self::Rolling,
            "canary" => Self::Canary,
            _ => Self::BlueGreen,
        })
    }
}

impl<'de> Deserialize<'de> for StrategyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(super::values::CheckedVisitor(Self::parse))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSlots {
    #[serde(default)]
    blue: BTreeMap<VarName, String>,
    #[serde(default)]
    green: BTreeMap<VarName, String>,
}

/// How a release spreads over the environment's hosts.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rollout")]
struct RawRollout {
    #[serde(default)]
    strategy: Option<StrategyName>,
    /// Rolling only: hosts per batch, as a count (`2`) or a share (`25%`).
    #[serde(default)]
    batch: Option<BatchSize>,
    /// Canary only: how long the canary must stay healthy before the rest follow.
    #[serde(default)]
    verify: Option<Seconds>,
    #[serde(default)]
    on_failure: Option<FailurePolicy>,
    /// Blue-green only: each slot's variables.
    #[serde(default)]
    slots: Option<RawSlots>,
    /// Blue-green only: the command that moves traffic to `$FERRY_SLOT`.
    #[serde(default)]
    switch_traffic: Option<Command>,
}

impl schemars::JsonSchema for RolloutSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        RawRollout::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RawRollout::json_schema(generator)
    }
}

impl schemars::JsonSchema for StrategyName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Strategy".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "all-at-once (default), rolling (batch), canary (verify) or blue-green (slots, switch_traffic)",
            "enum": StrategyName::NAMES
        })
    }
}

impl<'de> Deserialize<'de> for RolloutSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawRollout::deserialize(d)?;
        let blue_green = match (&raw.strategy, raw.slots, raw.switch_traffic) {
            (Some(StrategyName::BlueGreen), Some(slots), Some(switch)) => {
                let vars =
                    |m: BTreeMap<VarName, String>| m.into_iter().map(|(k, v)| (k.as_str().to_string(), v)).collect();
                Some(BlueGreenSpec {
                    blue: vars(slots.blue),
                    green: vars(slots.green),
                    switch_traffic: switch.as_str().to_string(),
                })
            }
            (Some(StrategyName::BlueGreen), _, None) => {
                return Err(de::Error::custom(
                    "rollout: blue-green needs `switch_traffic`, the command that moves traffic to $FERRY_SLOT",
                ))
            }
            (Some(StrategyName::BlueGreen), None, _) => {
                return Err(de::Error::custom(
                    "rollout: blue-green needs `slots` with the variables of `blue` and `green`",
                ))
            }
            (_, Some(_), _) | (_, _, Some(_)) => {
                return Err(de::Error::custom(
                    "rollout: `slots` and `switch_traffic` apply only to strategy: blue-green",
                ))
            }
            _ => None,
        };
        let strategy = match (raw.strategy.unwrap_or(StrategyName::AllAtOnce), raw.batch, raw.verify) {
            (StrategyName::AllAtOnce, None, None) => Strategy::AllAtOnce,
            // Every host at once: each keeps serving from its other slot until it switches.
            (StrategyName::BlueGreen, None, None) => Strategy::AllAtOnce,
            (StrategyName::Rolling, batch, None) => Strategy::Rolling(batch.unwrap_or(BatchSize::Count(1))),
            (StrategyName::Canary, None, verify) => {
                Strategy::Canary { verify: verify.unwrap_or(Seconds(60)).duration() }
            }
            (_, Some(_), _) => return Err(de::Error::custom("rollout: `batch` applies only to strategy: rolling")),
            (_, _, Some(_)) => return Err(de::Error::custom("rollout: `verify` applies only to strategy: canary")),
        };
        Ok(RolloutSpec { strategy, on_failure: raw.on_failure.unwrap_or_default(), blue_green })
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        const HINT: &str = "a number of hosts (such as 2) or a share of them (such as 25%)";
        impl de::Visitor<'_> for Visitor {
            type Value = BatchSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(HINT)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BatchSize, E> {
                match u32::try_from(v) {
                    Ok(n) if n >= 1 => Ok(BatchSize::Count(n)),
                    _ => Err(E::custom(format!("batch {v}: expected {HINT}"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BatchSize, E> {
                Err(E::custom(format!("batch {v}: expected {HINT}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BatchSize, E> {
                let percent = v.trim().strip_suffix('%').and_then(|n| n.trim().parse::<u8>().ok());
                match (percent, v.trim().parse::<u32>()) {
                    (Some(p), _) if (1..=100).contains(&p) => Ok(BatchSize::Percent(p)),
                    (_, Ok(n)) if n >= 1 => Ok(BatchSize::Count(n)),
                    _ => Err(E::custom(format!("batch `{v}`: expected {HINT}"))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}
