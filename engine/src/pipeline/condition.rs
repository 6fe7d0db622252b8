//! A step's `if:`: when it runs, decided when the deployment is planned. Comparisons
//! of the deployment's environment or one of its variables, joined by `&&` and `||`
//! (`&&` binds tighter):
//!
//! ```yaml
//! if: environment == production
//! if: environment in [staging, production] && $REGION != eu
//! ```
//!
//! A variable the environment does not define compares as empty text.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Deserializer;
use serde::Deserialize;

use super::values::CheckedVisitor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    text: String,
    /// Alternatives (`||`), each a conjunction (`&&`) of comparisons.
    any_of: Vec<Vec<Comparison>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Environment,
    Variable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparison {
    subject: Subject,
    /// `==` and `in`: one of `values`; `!=`: none of them.
    equal: bool,
    values: Vec<String>,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let mut any_of = Vec::new();
        for alternative in tokens.split(|t| *t == Token::Or) {
            let mut all_of = Vec::new();
            for comparison in alternative.split(|t| *t == Token::And) {
                all_of.push(comparison_of(comparison).map_err(|why| format!("`{text}`: {why}"))?);
            }
            any_of.push(all_of);
        }
        Ok(Self { text: text.trim().to_string(), any_of })
    }

    /// Whether the step runs in `environment`, whose variables are `vars`.
    pub fn holds(&self, environment: &str, vars: &BTreeMap<String, String>) -> bool {
        self.any_of.iter().any(|all_of| {
            all_of.iter().all(|c| {
                let value = match &c.subject {
                    Subject::Environment => environment,
                    Subject::Variable(name) => vars.get(name).map_or("", String::as_str),
                };
                c.values.iter().any(|v| v == value) == c.equal
            })
        })
    }

    /// The environment names it compares with, to check they exist.
    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.any_of
            .iter()
            .flatten()
            .filter(|c| c.subject == Subject::Environment)
            .flat_map(|c| c.values.iter().map(String::as_str))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CheckedVisitor(Condition::parse))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Variable(String),
    Equal,
    NotEqual,
    In,
    Open,
    Close,
    Comma,
    And,
    Or,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        let two = |chars: &mut std::iter::Peekable<std::str::Chars>, second: char, token: Token| {
            chars.next();
            match chars.next() {
                Some(c) if c == second => Ok(token),
                _ => Err(format!("`{text}`: expected `{c}{second}`")),
            }
        };
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '=' => tokens.push(two(&mut chars, '=', Token::Equal)?),
            '!' => tokens.push(two(&mut chars, '=', Token::NotEqual)?),
            '&' => tokens.push(two(&mut chars, '&', Token::And)?),
            '|' => tokens.push(two(&mut chars, '|', Token::Or)?),
            '[' | ']' | ',' => {
                chars.next();
                tokens.push(match c {
                    '[' => Token::Open,
                    ']' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '\'' | '"' => {
                chars.next();
                let (mut quoted, mut closed) = (String::new(), false);
                for q in chars.by_ref() {
                    if q == c {
                        closed = true;
                        break;
                    }
                    quoted.push(q);
                }
                if !closed {
                    return Err(format!("`{text}`: a quote is not closed"));
                }
                tokens.push(Token::Word(quoted));
            }
            '$' => {
                chars.next();
                let name = take_word(&mut chars);
                let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
                if !valid {
                    return Err(format!("`{text}`: `$` must be followed by a variable's name"));
                }
                tokens.push(Token::Variable(name));
            }
            _ if is_word_char(c) => {
                let word = take_word(&mut chars);
                tokens.push(if word == "in" { Token::In } else { Token::Word(word) });
            }
            _ => return Err(format!("`{text}`: unexpected `{c}`")),
        }
    }
    if tokens.is_empty() {
        return Err("the condition is empty".into());
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':')
}

fn take_word(chars: &mut std::iter::Peekable<std::str::Chars>) -> String {
    let mut word = String::new();
    while let Some(&c) = chars.peek().filter(|c| is_word_char(**c)) {
        word.push(c);
        chars.next();
    }
    word
}

const EXPECTED: &str = "expected `environment` or `$NAME`, then `==`, `!=` or `in [a, b]`";

fn comparison_of(tokens: &[Token]) -> Result<Comparison, String> {
    let subject = match tokens.first() {
        Some(Token::Word(w)) if w == "environment" => Subject::Environment,
        Some(Token::Variable(name)) => Subject::Variable(name.clone()),
        _ => return Err(EXPECTED.into()),
    };
    match &tokens[1..] {
        [Token::Equal, Token::Word(v)] => Ok(Comparison { subject, equal: true, values: vec![v.clone()] }),
        [Token::NotEqual, Token::Word(v)] => Ok(Comparison { subject, equal: false, values: vec![v.clone()] }),
        [Token::In, Token::Open, list @ .., Token::Close] => {
            let mut values = Vec::new();
            for (i, token) in list.iter().enumerate() {
                match (i % 2, token) {
                    (0, Token::Word(v)) => values.push(v.clone()),
                    (1, Token::Comma) => {}
                    _ => return Err("expected a list such as [staging, production]".into()),
                }
            }
            if values.is_empty() || list.len() % 2 == 0 {
                return Err("expected a list such as [staging, production]".into());
            }
            Ok(Comparison { subject, equal: true, values })
        }
        _ => Err(EXPECTED.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn comparisons_of_the_environment_and_variables() {
        let production = Condition::parse("environment == production").unwrap();
        assert!(production.holds("production", &vars(&[])));
        assert!(!production.holds("staging", &vars(&[])));
        let not_dev = Condition::parse("environment != 'development'").unwrap();
        assert!(not_dev.holds("staging", &vars(&[])) && !not_dev.holds("development", &vars(&[])));
        let listed = Condition::parse("environment in [staging, production] && $REGION != eu").unwrap();
        assert!(listed.holds("staging", &vars(&[("REGION", "us")])));
        assert!(listed.holds("staging", &vars(&[])), "an undefined variable is empty");
        assert!(!listed.holds("staging", &vars(&[("REGION", "eu")])));
        assert!(!listed.holds("development", &vars(&[("REGION", "us")])));
        let either = Condition::parse("$A == 1 && $B == 2 || environment == dev").unwrap();
        assert!(either.holds("dev", &vars(&[])));
        assert!(either.holds("prod", &vars(&[("A", "1"), ("B", "2")])));
        assert!(!either.holds("prod", &vars(&[("A", "1")])));
        assert_eq!(listed.environments().collect::<Vec<_>>(), ["staging", "production"]);
    }

    #[test]
    fn malformed_conditions_say_what_is_wrong() {
        for (text, says) in [
            ("", "the condition is empty"),
            ("environment = production", "expected `==`"),
            ("branch == main", "expected `environment` or `$NAME`"),
            ("environment == production &&", "expected `environment` or `$NAME`"),
            ("environment in [a,, b]", "expected a list"),
            ("environment in []", "expected a list"),
            ("environment == a b", "expected `environment` or `$NAME`"),
            ("$ == x", "variable's name"),
            ("environment == 'prod", "a quote is not closed"),
            ("environment == prod; rm -rf /", "unexpected `;`"),
        ] {
            let error = Condition::parse(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }
}
