//! `previews:` in `ferry.yml`: a running copy of the app per pull request (GitHub) or
//! merge request (GitLab), in an ephemeral environment `pr-<number>`. A preview
//! borrows an environment's hosts and variables (`from`), gets a port of its own from a
//! range and a URL from a template, may add variables and `teardown` steps, and is torn
//! down when its request closes or after `ttl` without a push; at most `max` at once.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::values::{Name, VarName};
use super::StepSpec;

#[derive(Debug, Clone, PartialEq, Deserialize)]
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
}
