//! The `ferry.yml` pipeline file: what an app's repository declares about its
//! environments, build steps, deploy steps and health check. Every rule is checked
//! while parsing, so an error names the file, the line and the field.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// The file name Ferry reads from the root of an app's repository.
pub const PIPELINE_FILE: &str = "ferry.yml";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    #[serde(deserialize_with = "environments")]
    pub environments: Vec<EnvironmentSpec>,
    #[serde(default, deserialize_with = "steps")]
    pub build: Vec<StepSpec>,
    #[serde(default, deserialize_with = "steps")]
    pub deploy: Vec<StepSpec>,
    pub health_check: Option<HealthCheckSpec>,
}

/// One environment in lifecycle order (the order in the file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    pub name: Name,
    /// Variables passed to every step of a deployment to this environment.
    #[serde(default)]
    pub vars: BTreeMap<VarName, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub name: Name,
    /// A shell command, run with `sh -c` in the release directory.
    pub run: Command,
    #[serde(default = "default_step_timeout")]
    pub timeout: Seconds,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// `http://` or `https://` URL; `${VAR}` is replaced by the environment's variables.
    pub url: HttpUrl,
    #[serde(default = "default_status")]
    pub expect_status: Status,
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
        serde_yaml::from_str::<Pipeline>(text).map_err(|e| {
            let location = e.location();
            let message = e.to_string();
            // serde_yaml appends " at line L column C"; the position is reported separately.
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

    pub fn environment(&self, name: &str) -> Option<&EnvironmentSpec> {
        self.environments.iter().find(|e| e.name.as_str() == name)
    }
}

fn environments<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvironmentSpec>, D::Error> {
    let list = d.deserialize_seq(UniqueNames::<EnvironmentSpec>::new("environment"))?;
    if list.is_empty() {
        return Err(de::Error::custom("at least one environment is required"));
    }
    Ok(list)
}

fn steps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StepSpec>, D::Error> {
    d.deserialize_seq(UniqueNames::<StepSpec>::new("step"))
}

/// Things in a list whose names must be unique.
trait Named {
    fn name(&self) -> &Name;
}

impl Named for EnvironmentSpec {
    fn name(&self) -> &Name {
        &self.name
    }
}

impl Named for StepSpec {
    fn name(&self) -> &Name {
        &self.name
    }
}

/// Reads a list, rejecting a repeated name while the list is being read (so the
/// parser reports the list's position).
struct UniqueNames<T> {
    what: &'static str,
    _item: std::marker::PhantomData<T>,
}

impl<T> UniqueNames<T> {
    fn new(what: &'static str) -> Self {
        Self { what, _item: std::marker::PhantomData }
    }
}

impl<'de, T: Named + Deserialize<'de>> de::Visitor<'de> for UniqueNames<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of {}s", self.what)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items: Vec<T> = Vec::new();
        while let Some(item) = seq.next_element::<T>()? {
            if items.iter().any(|i| i.name() == item.name()) {
                return Err(de::Error::custom(format!("{} name `{}` is used twice", self.what, item.name())));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// Checks a scalar inside the deserializer's visit, so that the parser attributes an
/// error to the value's own line and field rather than to the enclosing mapping.
struct CheckedVisitor<T>(fn(&str) -> Result<T, String>);

impl<T> de::Visitor<'_> for CheckedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

/// Defines a string newtype whose `Deserialize` runs a check, so a bad value is
/// reported at its own line.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);
        impl $name {
            pub fn parse(value: &str) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(value).map(|()| Self(value.to_string()))
            }
            pub fn as_str(&self) -> &str { &self.0 }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.0) }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(CheckedVisitor($name::parse))
            }
        }
    };
}

checked_string!(
    /// Environment and step names: 1–40 of `a-z`, `0-9`, `-`, starting with a letter.
    Name,
    |v| {
        let ok = (1..=40).contains(&v.len())
            && v.starts_with(|c: char| c.is_ascii_lowercase())
            && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok { Ok(()) } else {
            Err(format!("`{v}` is not a valid name (use 1-40 of a-z, 0-9 and -, starting with a letter)"))
        }
    }
);

checked_string!(
    /// Variable names as a shell accepts them; `FERRY_` is reserved for Ferry's own.
    VarName,
    |v| {
        let ok = !v.is_empty()
            && v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            Err(format!("`{v}` is not a valid variable name"))
        } else if v.starts_with("FERRY_") {
            Err(format!("`{v}`: variables starting with FERRY_ are reserved"))
        } else { Ok(()) }
    }
);

checked_string!(Command, |v| {
    if v.trim().is_empty() {
        Err("the command is empty".to_string())
    } else {
        Ok(())
    }
});

checked_string!(HttpUrl, |v| {
    if v.starts_with("http://") || v.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("`{v}` is not an http:// or https:// URL"))
    }
});

/// A duration written as whole seconds (`30`) or with a unit (`30s`, `5m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl Seconds {
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

const DURATION_HINT: &str = "expected a duration between 1s and 24h, such as 30s or 5m";

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_HINT)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                in_range(Some(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                in_range(u64::try_from(v).ok())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                in_range(parse_duration(v))
            }
        }
        fn in_range<E: de::Error>(secs: Option<u64>) -> Result<Seconds, E> {
            match secs {
                Some(s) if (1..=86_400).contains(&s) => Ok(Seconds(s)),
                _ => Err(E::custom(DURATION_HINT)),
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, factor) = match text.chars().last()? {
        's' => (&text[..text.len() - 1], 1),
        'm' => (&text[..text.len() - 1], 60),
        'h' => (&text[..text.len() - 1], 3600),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

/// An HTTP status code a health check expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u16);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code (100-599)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Status, E> {
                match u16::try_from(v) {
                    Ok(code) if (100..=599).contains(&code) => Ok(Status(code)),
                    _ => Err(E::custom(format!("{v} is not an HTTP status code"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Status, E> {
                Err(E::custom(format!("{v} is not an HTTP status code")))
            }
        }
        d.deserialize_u64(Visitor)
    }
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
