//! ANSI colour codes in log lines: splits a line into styled segments, so the log
//! viewer shows what a terminal would, and never shows raw escape sequences.

/// A run of text with one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    /// Foreground colour 0–15 (8–15 are the bright variants).
    pub colour: Option<u8>,
    pub bold: bool,
}

#[derive(Default, Clone, Copy)]
struct Style {
    colour: Option<u8>,
    bold: bool,
}

impl Style {
    /// Applies the parameters of one SGR sequence (`ESC [ … m`).
    fn apply(&mut self, params: &str) {
        let codes: Vec<u16> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
        let mut codes = codes.into_iter();
        while let Some(code) = codes.next() {
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                22 => self.bold = false,
                30..=37 => self.colour = Some((code - 30) as u8),
                39 => self.colour = None,
                90..=97 => self.colour = Some((code - 90 + 8) as u8),
                // 256-colour and RGB forms: skip their arguments, keep the text readable.
                38 | 48 => match codes.next() {
                    Some(5) => {
                        codes.next();
                    }
                    Some(2) => {
                        codes.nth(2);
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
}

/// Splits `line` at its escape sequences. Sequences other than colours are dropped.
pub fn segments(line: &str) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    let push = |out: &mut Vec<Segment>, text: &mut String, style: Style| {
        if !text.is_empty() {
            out.push(Segment { text: std::mem::take(text), colour: style.colour, bold: style.bold });
        }
    };
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            text.push(c);
            continue;
        }
        if chars.peek() != Some(&'[') {
            continue;
        }
        chars.next();
        let mut params = String::new();
        let mut end = None;
        for c in chars.by_ref() {
            if c.is_ascii_alphabetic() {
                end = Some(c);
                break;
            }
            params.push(c);
        }
        if end == Some('m') {
            push(&mut out, &mut text, style);
            style.apply(&params);
        }
    }
    push(&mut out, &mut text, style);
    out
}

/// The text without escape sequences (for search and download).
pub fn plain(line: &str) -> String {
    segments(line).into_iter().map(|s| s.text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_resets_split_the_line() {
        let s = segments("ok \u{1b}[31;1mFAILED\u{1b}[0m done");
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].text.as_str(), s[0].colour), ("ok ", None));
        assert_eq!((s[1].text.as_str(), s[1].colour, s[1].bold), ("FAILED", Some(1), true));
        assert_eq!((s[2].text.as_str(), s[2].colour, s[2].bold), (" done", None, false));
    }

    #[test]
    fn bright_extended_and_unknown_sequences_are_handled() {
        assert_eq!(segments("\u{1b}[92mgreen")[0].colour, Some(10));
        assert_eq!(plain("\u{1b}[38;5;208morange\u{1b}[m"), "orange");
        assert_eq!(plain("\u{1b}[2Kcleared"), "cleared");
        assert_eq!(plain("broken \u{1b}[31"), "broken ");
        assert_eq!(plain("plain"), "plain");
    }
}
