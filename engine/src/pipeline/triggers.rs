//! `triggers:` in `ferry.yml`: which forge events make a release, and where it then
//! deploys. A push to a branch, or a tag, matched by a glob (`main`, `release/*`,
//! `v*`); with `wait_for_ci`, the forge's own CI passing on that commit is the trigger
//! instead of the push itself.

use serde::Deserialize;

use super::values::Name;

#[derive(Debug, Clone, PartialEq, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
            _ => Ok(()),
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

/// `*` matches any run of characters (`/` included), `?` one character; the rest is
/// literal.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
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
        // Many stars against a near miss: answered at once, not by exponential search.
        assert!(!glob_matches(&"*a".repeat(20), &"a".repeat(19)));
    }

    fn trigger(yaml: &str) -> TriggerSpec {
        serde_yaml::from_str(yaml).unwrap()
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
