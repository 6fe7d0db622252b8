//! `triggers:` in `ferry.yml`: which forge events make a release, and where it then
//! deploys. A push to a branch, or a tag, matched by a glob (`main`, `release/*`,
//! `v*`); with `wait_for_ci`, the forge's own CI passing on that commit is the trigger
//! instead of the push itself.

use schemars::JsonSchema;
use serde::Deserialize;

use super::values::Name;

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    pub on: TriggerOn,
    /// For `on: push`: the branches, as a glob.
    #[serde(default)]
    pub branch: Option<String>,
    /// For `on: tag`: the tags, as a glob.
    #[serde(default)]
    pub tag: Option<String>,
    /// The environment the release deploys to; none: the release is only made.
    #[serde(default)]
    pub deploy: Option<Name>,
    /// Wait until the forge's CI (GitHub workflow run or check suite, GitLab
    /// pipeline) passes on the commit.
    #[serde(default)]
    pub wait_for_ci: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerOn {
    Push,
    Tag,
}

/// What happened on the forge, as the triggers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgeEvent {
    Push {
        branch: String,
    },
    Tag {
        name: String,
    },
    /// The forge's CI passed on a commit of this branch (or tag).
    CiPassed {
        branch: String,
        tag: bool,
    },
}

impl TriggerSpec {
    /// Refuses a trigger that could never fire, naming what is missing.
    pub fn check(&self, index: usize) -> Result<(), String> {
        let at = format!("triggers[{index}]");
        match (self.on, &self.branch, &self.tag) {
            (TriggerOn::Push, None, _) => Err(format!("{at}: `on: push` needs `branch` (a name or a glob)")),
            (TriggerOn::Tag, _, None) => Err(format!("{at}: `on: tag` needs `tag` (a name or a glob)")),
            (TriggerOn::Push, _, Some(_)) => Err(format!("{at}: `tag` belongs to `on: tag`")),
            (TriggerOn::Tag, Some(_), _) => Err(format!("{at}: `branch` belongs to `on: push`")),
            (TriggerOn::Push, Some(pattern), None) => glob(pattern).map(drop).map_err(|e| format!("{at}.branch: {e}")),
            (TriggerOn::Tag, None, Some(pattern)) => glob(pattern).map(drop).map_err(|e| format!("{at}.tag: {e}")),
        }
    }

    /// Whether the event fires this trigger.
    pub fn fires_on(&self, event: &ForgeEvent) -> bool {
        let pattern = |p: &Option<String>, name: &str| p.as_deref().is_some_and(|p| glob_matches(p, name));
        match (self.on, self.wait_for_ci, event) {
            (TriggerOn::Push, false, ForgeEvent::Push { branch }) => pattern(&self.branch, branch),
            (TriggerOn::Tag, false, ForgeEvent::Tag { name }) => pattern(&self.tag, name),
            (TriggerOn::Push, true, ForgeEvent::CiPassed { branch, tag: false }) => pattern(&self.branch, branch),
            (TriggerOn::Tag, true, ForgeEvent::CiPassed { branch, tag: true }) => pattern(&self.tag, branch),
            _ => false,
        }
    }
}

/// A branch or tag pattern as the forges write them (GitHub Actions' `branches:`,
/// GitLab's protected branches): `*` matches within one `/`-separated part, `**` any
/// number of parts, `?` one character but `/`, `[…]` a character class; the rest is
/// literal. `release/*` matches `release/1.0` but not `release/1.0/hotfix`;
/// `release/**` matches both.
pub fn glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|e| format!("`{pattern}` is not a pattern: {}", e.kind()))
}

/// Whether `text` matches `pattern` (see [`glob`]); a pattern that is not one matches nothing.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    glob(pattern).is_ok_and(|glob| glob.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names() {
        assert!(glob_matches("main", "main") && !glob_matches("main", "mainline"));
        assert!(glob_matches("v*", "v1.4.2") && !glob_matches("v*", "release-1"));
        assert!(glob_matches("release/*", "release/2026-11") && glob_matches("*", ""));
        assert!(glob_matches("v?.*", "v1.0") && !glob_matches("v?.*", "v10.0"));
        // As on the forges: `*` stays within one part of the name, `**` crosses parts.
        assert!(!glob_matches("release/*", "release/1.0/hotfix") && !glob_matches("*", "feature/x"));
        assert!(glob_matches("release/**", "release/1.0/hotfix") && glob_matches("**", "feature/x/y"));
        assert!(glob_matches("**/prod", "team/a/prod") && glob_matches("v[12].*", "v2.0"));
        assert!(!glob_matches("v[12].*", "v3.0") && glob_matches(r"fix\*", "fix*") && !glob_matches(r"fix\*", "fixes"));
        // Many stars against a near miss: answered at once, not by exponential search.
        assert!(!glob_matches(&"*a".repeat(20), &"a".repeat(19)));
    }

    fn trigger(yaml: &str) -> TriggerSpec {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn a_push_trigger_waits_for_ci_when_asked() {
        let direct = trigger("{on: push, branch: main, deploy: development}");
        let gated = trigger("{on: push, branch: main, deploy: development, wait_for_ci: true}");
        let push = ForgeEvent::Push { branch: "main".into() };
        let passed = ForgeEvent::CiPassed { branch: "main".into(), tag: false };
        assert!(direct.fires_on(&push) && !direct.fires_on(&passed));
        assert!(!gated.fires_on(&push) && gated.fires_on(&passed));
        assert!(!direct.fires_on(&ForgeEvent::Push { branch: "feature".into() }));
        let tags = trigger("{on: tag, tag: 'v*'}");
        assert!(tags.fires_on(&ForgeEvent::Tag { name: "v2.0".into() }));
        assert!(!tags.fires_on(&ForgeEvent::Push { branch: "v2.0".into() }));
    }

    #[test]
    fn a_pattern_that_is_not_one_is_refused_with_its_field() {
        let text = "environments:\n  - name: development\ntriggers:\n  - on: push\n    branch: 'release/[abc'\n";
        let error = super::super::Pipeline::parse("ferry.yml", text).unwrap_err();
        assert!(
            error.to_string().starts_with("ferry.yml: triggers[0].branch: `release/[abc` is not a pattern"),
            "{error}"
        );
    }

    #[test]
    fn a_trigger_deploying_to_an_unknown_environment_is_refused() {
        let text =
            "environments:\n  - name: development\ntriggers:\n  - on: push\n    branch: main\n    deploy: prod\n";
        let error = super::super::Pipeline::parse("ferry.yml", text).unwrap_err();
        assert_eq!(error.to_string(), "ferry.yml: triggers[0].deploy: there is no environment `prod`");
        let fine = text.replace("deploy: prod", "deploy: development");
        assert_eq!(super::super::Pipeline::parse("ferry.yml", &fine).unwrap().triggers.len(), 1);
    }

    #[test]
    fn triggers_that_cannot_fire_are_refused() {
        assert!(trigger("{on: push}").check(0).unwrap_err().contains("needs `branch`"));
        assert!(trigger("{on: tag, branch: main}").check(1).unwrap_err().starts_with("triggers[1]"));
    }
}
