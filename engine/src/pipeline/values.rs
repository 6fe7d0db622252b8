//! The values a pipeline file holds, each checked while it is read so that an error
//! points at the value's own line: names, commands, URLs, durations, status codes,
//! and lists whose names must be unique.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::{EnvironmentSpec, StepSpec};

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
pub(super) struct UniqueNames<T> {
    what: &'static str,
    _item: std::marker::PhantomData<T>,
}

impl<T> UniqueNames<T> {
    pub(super) fn new(what: &'static str) -> Self {
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

thread_local! {
    /// What the pipeline being parsed on this thread does that still works but should
    /// change (`Pipeline::parse` takes them into `Pipeline::warnings`).
    static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) fn warn(text: String) {
    WARNINGS.with(|w| w.borrow_mut().push(text));
}

/// The warnings of the parse that just ended, leaving none.
pub(super) fn take_warnings() -> Vec<String> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// One of `names`, the spellings of a choice: words joined by `-` (`blue-green`). The
/// same words joined by `_`, as earlier versions spelled some, still count, with a
/// warning.
pub(super) fn choice<'a>(value: &str, names: &[&'a str]) -> Result<&'a str, String> {
    if let Some(name) = names.iter().find(|n| **n == value) {
        return Ok(name);
    }
    if let Some(name) = names.iter().find(|n| n.contains('-') && n.replace('-', "_") == value) {
        warn(format!("`{value}` is an old spelling of `{name}`: it still works, but write `{name}`"));
        return Ok(name);
    }
    let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    Err(format!("unknown value `{value}`, expected one of {}", listed.join(", ")))
}

/// Checks a scalar inside the deserializer's visit, so that the parser attributes an
/// error to the value's own line and field rather than to the enclosing mapping.
pub(super) struct CheckedVisitor<T>(pub(super) fn(&str) -> Result<T, String>);

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

checked_string!(
    /// A directory inside the release: relative, and never above it.
    RelativeDir,
    |v| {
        let path = std::path::Path::new(v);
        let inside = path.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if v.trim().is_empty() || v.contains('\0') {
            Err("the directory is empty".to_string())
        } else if !inside {
            Err(format!("`{v}` must be a directory inside the release (relative, without `..`)"))
        } else {
            Ok(())
        }
    }
);

checked_string!(HttpUrl, |v| {
    if v.starts_with("http://") || v.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("`{v}` is not an http:// or https:// URL"))
    }
});

/// A duration written as whole seconds (`30`) or with units (`30s`, `5m`, `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl Seconds {
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

const DURATION_HINT: &str = "expected a duration between 1s and 24h, such as 30s, 5m or 1m30s";

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

/// Whole seconds (`90`), or amounts with units from hours down, each unit once:
/// `30s`, `5m`, `1m30s`, `2h`, `1h30m`, `1h0m5s`.
fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut rest = text;
    // Units in the order they may come; each taken at most once.
    let mut units = [('h', 3600u64), ('m', 60), ('s', 1)].into_iter();
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let amount: u64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let (_, factor) = units.by_ref().find(|(name, _)| *name == unit)?;
        total = total.checked_add(amount.checked_mul(factor)?)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(total)
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

/// How many releases a target keeps: the live one, rollback candidates, at most 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepReleases(pub u32);

impl Default for KeepReleases {
    fn default() -> Self {
        KeepReleases(5)
    }
}

impl<'de> Deserialize<'de> for KeepReleases {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        const HINT: &str = "a number from 2 to 100 (the live release and at least one to roll back to)";
        impl de::Visitor<'_> for Visitor {
            type Value = KeepReleases;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(HINT)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeepReleases, E> {
                match u32::try_from(v) {
                    Ok(n) if (2..=100).contains(&n) => Ok(KeepReleases(n)),
                    _ => Err(E::custom(format!("{v}: expected {HINT}"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeepReleases, E> {
                Err(E::custom(format!("{v}: expected {HINT}")))
            }
        }
        d.deserialize_u64(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_take_units_from_hours_down() {
        for (text, seconds) in
            [("90", 90), ("30s", 30), ("5m", 300), ("1m30s", 90), ("2h", 7200), ("1h30m", 5400), ("1h0m5s", 3605)]
        {
            assert_eq!(parse_duration(text), Some(seconds), "{text}");
        }
        for text in ["", "m", "1m30", "30s1m", "1m1m", "1.5m", "-5s", "5 m", "1d", "99999999999999999999h"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }
}
