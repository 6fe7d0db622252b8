//! The `rollout:` section of an environment: which strategy spreads a release over the
//! environment's hosts, its batch size or verification window, and what a failure does.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::values::Seconds;
use crate::rollout::{BatchSize, FailurePolicy, Strategy};

/// How an environment rolls a release out; all-at-once with rollback when omitted.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RolloutSpec {
    pub strategy: Strategy,
    pub on_failure: FailurePolicy,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum StrategyName {
    AllAtOnce,
    Rolling,
    Canary,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
}

impl<'de> Deserialize<'de> for RolloutSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawRollout::deserialize(d)?;
        let strategy = match (raw.strategy.unwrap_or(StrategyName::AllAtOnce), raw.batch, raw.verify) {
            (StrategyName::AllAtOnce, None, None) => Strategy::AllAtOnce,
            (StrategyName::Rolling, batch, None) => Strategy::Rolling(batch.unwrap_or(BatchSize::Count(1))),
            (StrategyName::Canary, None, verify) => {
                Strategy::Canary { verify: verify.unwrap_or(Seconds(60)).duration() }
            }
            (_, Some(_), _) => return Err(de::Error::custom("rollout: `batch` applies only to strategy: rolling")),
            (_, _, Some(_)) => return Err(de::Error::custom("rollout: `verify` applies only to strategy: canary")),
        };
        Ok(RolloutSpec { strategy, on_failure: raw.on_failure.unwrap_or_default() })
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
