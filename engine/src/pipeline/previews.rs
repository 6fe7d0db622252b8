//! `previews:` in `ferry.yml`: a running copy of the app per pull request (GitHub) or
//! merge request (GitLab), in an ephemeral environment `pr-<number>`. A preview
//! borrows an environment's hosts and variables (`from`), gets a port of its own from a
//! range and a URL from a template, may add variables and `teardown` steps, and is torn
//! down when its request closes or after `ttl` without a push; at most `max` at once.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::values::{HttpUrl, Name, VarName};
use super::{EnvironmentSpec, StepSpec};

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewSpec {
    /// The environment whose hosts (agents, SSH hosts) and variables a preview uses.
    pub from: Name,
    /// Ports handed out one per preview (`9100-9199`), given to its steps as `port_var`.
    #[serde(default)]
    pub ports: Option<PortRange>,
    /// The variable a preview's port is given as [default: `PORT`].
    #[serde(default = "default_port_var")]
    pub port_var: VarName,
    /// Where a preview is reached: `{number}` is the request's number and `${VAR}` a
    /// variable (`https://pr-{number}.preview.example.com`, `http://127.0.0.1:${PORT}/`).
    #[serde(default)]
    pub url: Option<UrlTemplate>,
    /// Variables of previews, over `from`'s.
    #[serde(default)]
    pub vars: BTreeMap<VarName, String>,
    /// Steps run in the preview's live release when it is torn down.
    #[serde(default, deserialize_with = "super::steps")]
    #[schemars(with = "Vec<StepSpec>")]
    pub teardown: Vec<StepSpec>,
    /// A preview without a push for this long is torn down [default: 3d].
    #[serde(default = "default_ttl")]
    pub ttl: Lifetime,
    /// Previews at once; a request beyond them waits for a place [default: 10].
    #[serde(default = "default_max")]
    pub max: u32,
}

impl PreviewSpec {
    /// Rules that span fields, reported against `previews`.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.max) {
            return Err(format!("previews.max: {} is not between 1 and 100", self.max));
        }
        if let Some(ports) = &self.ports {
            if ports.len() < self.max {
                return Err(format!(
                    "previews.ports: {ports} holds {} ports for max {} previews",
                    ports.len(),
                    self.max
                ));
            }
        }
        if self.vars.contains_key(&self.port_var) && self.ports.is_some() {
            return Err(format!("previews.vars: `{}` is the preview's port; it is set from `ports`", self.port_var));
        }
        Ok(())
    }

    /// The port of the `index`th place (0-based), when ports are handed out.
    pub fn port(&self, index: u32) -> Option<u16> {
        let ports = self.ports.as_ref()?;
        (index < ports.len()).then(|| ports.first + index as u16)
    }
}

/// The name of request `number`'s preview environment.
pub fn preview_environment(number: u64) -> String {
    format!("pr-{number}")
}

/// The request number a preview environment's name holds (`pr-42` → 42).
pub fn preview_number(environment: &str) -> Option<u64> {
    let digits = environment.strip_prefix("pr-")?;
    let plain = !digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| digits.parse().ok()).flatten().filter(|n| *n > 0)
}

/// What a preview runs with, fixed when it opens: the variables of `from`, then the
/// previews' own, then its port; and its URL with them filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewSettings {
    pub vars: BTreeMap<String, String>,
    pub url: Option<String>,
}

impl PreviewSpec {
    /// Request `number`'s settings, on `port` when ports are handed out.
    pub fn settings(&self, from: &EnvironmentSpec, number: u64, port: Option<u16>) -> PreviewSettings {
        let mut vars: BTreeMap<String, String> =
            from.vars.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect();
        vars.extend(self.vars.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())));
        if let Some(port) = port {
            vars.insert(self.port_var.as_str().to_string(), port.to_string());
        }
        let url = self.url.as_ref().map(|template| template.fill(number, &vars));
        PreviewSettings { vars, url }
    }
}

impl PreviewSettings {
    /// The environment `name` a pipeline gains for a preview: these variables and URL,
    /// one host at a time, and only the newest push deploys.
    pub fn environment(&self, name: &str) -> Result<EnvironmentSpec, String> {
        let mut vars = BTreeMap::new();
        for (key, value) in &self.vars {
            vars.insert(VarName::parse(key)?, value.clone());
        }
        Ok(EnvironmentSpec {
            name: Name::parse(name)?,
            vars,
            rollout: Default::default(),
            queue: Default::default(),
            url: self.url.as_deref().map(HttpUrl::parse).transpose().ok().flatten(),
        })
    }
}

/// `first-last`, both within 1024–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn parse(text: &str) -> Result<Self, String> {
        let wrong = || format!("`{text}` is not a port range such as 9100-9199 (ports 1024 to 65535)");
        let (first, last) = text.trim().split_once('-').ok_or_else(wrong)?;
        let (first, last): (u16, u16) =
            (first.trim().parse().map_err(|_| wrong())?, last.trim().parse().map_err(|_| wrong())?);
        if first < 1024 || first > last {
            return Err(wrong());
        }
        Ok(PortRange { first, last })
    }

    pub fn len(&self) -> u32 {
        u32::from(self.last - self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PortRange::parse(&text).map_err(de::Error::custom)
    }
}

/// An `http(s)://` URL with `{number}` and `${VAR}` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(String);

impl UrlTemplate {
    pub fn parse(text: &str) -> Result<Self, String> {
        if !(text.starts_with("http://") || text.starts_with("https://")) {
            return Err(format!("`{text}` is not an http:// or https:// URL"));
        }
        let braces = text.replace("{number}", "").replace("${", "");
        if braces.contains('{') || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{text}`: only {{number}} and ${{VAR}} may be filled in, and no spaces"));
        }
        Ok(UrlTemplate(text.to_string()))
    }

    /// The URL of request `number`'s preview, with `vars` filled in (others stay as written).
    pub fn fill(&self, number: u64, vars: &BTreeMap<String, String>) -> String {
        let mut url = self.0.replace("{number}", &number.to_string());
        for (name, value) in vars {
            url = url.replace(&format!("${{{name}}}"), value);
        }
        url
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for UrlTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        UrlTemplate::parse(&text).map_err(de::Error::custom)
    }
}

/// How long an idle preview lives: `12h`, `3d` (1 hour to 90 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime(pub u64);

impl<'de> Deserialize<'de> for Lifetime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let text = text.trim();
        let hours = match text.chars().last() {
            Some('h') => text[..text.len() - 1].parse::<u64>().ok(),
            Some('d') => text[..text.len() - 1].parse::<u64>().ok().and_then(|d| d.checked_mul(24)),
            _ => None,
        };
        match hours {
            Some(h) if (1..=90 * 24).contains(&h) => Ok(Lifetime(h * 3600)),
            _ => Err(de::Error::custom(format!("`{text}` is not a time to live such as 12h or 3d (1h to 90d)"))),
        }
    }
}

fn default_port_var() -> VarName {
    VarName::parse("PORT").expect("a valid name")
}

fn default_ttl() -> Lifetime {
    Lifetime(3 * 24 * 3600)
}

fn default_max() -> u32 {
    10
}

#[cfg(test)]
mod tests {
    use super::super::Pipeline;

    const ENVIRONMENTS: &str = "environments:\n  - name: staging\n    vars: { PORT: \"3000\" }\n";

    fn parse(previews: &str) -> Result<Pipeline, String> {
        Pipeline::parse("ferry.yml", &format!("{ENVIRONMENTS}previews:\n{previews}")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_preview_section_is_read_with_its_defaults() {
        let pipeline = parse(
            "  from: staging\n  ports: 9100-9109\n  url: https://pr-{number}.preview.example.com\n  \
             vars: { MODE: preview }\n  teardown:\n    - name: stop\n      run: sh stop.sh\n",
        )
        .unwrap();
        let previews = pipeline.previews.unwrap();
        assert_eq!((previews.max, previews.ttl.0, previews.port_var.as_str()), (10, 3 * 86_400, "PORT"));
        assert_eq!((previews.port(0), previews.port(9), previews.port(10)), (Some(9100), Some(9109), None));
        let url = previews.url.unwrap().fill(42, &Default::default());
        assert_eq!(url, "https://pr-42.preview.example.com");
        assert_eq!(previews.teardown[0].name.as_str(), "stop");
        assert_eq!(super::preview_environment(42), "pr-42");
        let local = parse("  from: staging\n  url: http://127.0.0.1:${PORT}/\n  ttl: 12h\n  max: 2\n").unwrap();
        let local = local.previews.unwrap();
        let vars = [("PORT".to_string(), "9100".to_string())].into();
        assert_eq!(local.url.unwrap().fill(7, &vars), "http://127.0.0.1:9100/");
        assert_eq!(local.ttl.0, 12 * 3600);
    }

    #[test]
    fn bad_preview_sections_are_refused_naming_the_field() {
        let cases = [
            ("  from: production\n", "previews.from: there is no environment `production`"),
            ("  from: staging\n  ports: 80-90\n", "is not a port range"),
            ("  from: staging\n  ports: 9100-9101\n", "previews.ports: 9100-9101 holds 2 ports for max 10 previews"),
            ("  from: staging\n  max: 0\n", "previews.max: 0 is not between 1 and 100"),
            ("  from: staging\n  url: ftp://x/{number}\n", "is not an http:// or https:// URL"),
            ("  from: staging\n  url: https://{branch}.example.com\n", "only {number} and ${VAR}"),
            ("  from: staging\n  ttl: 2y\n", "is not a time to live"),
            ("  from: staging\n  ports: 9100-9199\n  vars: { PORT: \"1\" }\n", "is the preview's port"),
            ("  from: staging\n  domain: x\n", "unknown field `domain`"),
        ];
        for (section, expected) in cases {
            let error = parse(section).unwrap_err();
            assert!(error.contains(expected), "{section:?}: {error}");
        }
    }

    #[test]
    fn a_preview_plans_with_its_settings_and_tears_down_with_its_steps() {
        use crate::plan::{plan, plan_teardown, DeploymentFacts, StepAction};
        let pipeline = parse(
            "  from: staging\n  ports: 9100-9109\n  url: http://127.0.0.1:${PORT}/pr-{number}\n  \
             vars: { MODE: preview }\n  teardown:\n    - name: stop\n      run: sh stop.sh\n",
        )
        .unwrap();
        let spec = pipeline.previews.clone().unwrap();
        let settings = spec.settings(pipeline.environment("staging").unwrap(), 7, spec.port(3));
        assert_eq!(settings.url.as_deref(), Some("http://127.0.0.1:9103/pr-7"));
        assert_eq!(settings.vars["PORT"], "9103", "its own port, over staging's");
        assert_eq!(settings.vars["MODE"], "preview");
        let with = pipeline.clone().with_preview("pr-7", &settings).unwrap();
        let facts = DeploymentFacts {
            project: "shop".into(),
            environment: "pr-7".into(),
            release_version: "pr-7-abc".into(),
            release_id: 1,
            deployment_id: 2,
            repo_url: "/repo".into(),
            commit: "abc".into(),
            target_dir: "/t".into(),
        };
        assert_eq!(plan(&with, &facts).unwrap().env["PORT"], "9103");
        let teardown = plan_teardown(&with, &facts).unwrap();
        let names: Vec<&str> = teardown.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["stop", "retire"]);
        assert!(matches!(teardown.steps[1].action, StepAction::Retire));
        assert!(plan(&pipeline, &facts).is_err(), "pr-7 exists only once added");
    }

    #[test]
    fn preview_names_are_read_back_and_declared_ones_may_not_take_them() {
        assert_eq!(super::preview_number("pr-42"), Some(42));
        for name in ["pr-", "pr-0", "pr-x", "staging", "pr-1-2"] {
            assert_eq!(super::preview_number(name), None, "{name}");
        }
        let text = "environments:\n  - name: pr-1\npreviews:\n  from: pr-1\n";
        let error = Pipeline::parse("ferry.yml", text).unwrap_err().to_string();
        assert!(error.contains("`pr-1` is the name of a preview's environment"), "{error}");
    }
}
