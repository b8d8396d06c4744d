//! Body patterns: a regex the response body must match (or must not: `--reject-body`), and
//! the one place regexes are built.
//!
//! Owns compiling user regexes with a size cap (shared with header conditions) and matching
//! them against the body as lossy UTF-8. Reading the body within its limit is the prober's job.

use std::fmt;
use std::str::FromStr;

use regex::{Regex, RegexBuilder};

use super::{shorten, ConditionParseError, Unmet};

/// Most memory a compiled user regex may take, set explicitly rather than trusting the regex
/// crate's default (10 MiB) to stay put. 4 MiB still fits Unicode `\w{50}` (each Unicode `\w`
/// costs tens of KiB) while a hostile pattern such as `(\w{500}){500}` is refused at parse
/// time instead of holding memory for the whole run.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// Compile a user regex with the size cap; errors carry a one-line reason.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, ConditionParseError> {
    if pattern.is_empty() {
        return Err(ConditionParseError::EmptyPattern);
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| ConditionParseError::InvalidRegex {
            pattern: pattern.to_string(),
            message: brief_regex_error(&err),
        })
}

/// The regex crate's syntax errors span several lines (pattern, caret, message); a status
/// line wants only the message.
fn brief_regex_error(err: &regex::Error) -> String {
    match err {
        regex::Error::CompiledTooBig(limit) => format!(
            "too large once compiled (over {limit} bytes); use fewer or smaller repetitions, or ASCII-only classes with (?-u)"
        ),
        other => {
            let text = other.to_string();
            text.lines()
                .find_map(|line| line.trim().strip_prefix("error: "))
                .map(str::to_string)
                .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string())
        }
    }
}

/// A regex the body must match somewhere (use `^…$` to anchor), e.g. `ok|ready`; or, made
/// with [`BodyPattern::parse_rejected`], one it must not match anywhere (`--reject-body`).
///
/// The body is matched as lossy UTF-8: invalid bytes become U+FFFD rather than failing.
#[derive(Debug, Clone)]
pub struct BodyPattern {
    regex: Regex,
    /// The body must not match (one list holds both kinds: a probe is held per target, so
    /// its size counts).
    rejected: bool,
}

impl BodyPattern {
    /// Compile `pattern` (regex crate syntax), refusing empty and oversized patterns.
    pub fn parse(pattern: &str) -> Result<Self, ConditionParseError> {
        Ok(BodyPattern {
            regex: compile_regex(pattern)?,
            rejected: false,
        })
    }

    /// As [`parse`](Self::parse), for a pattern the body must not match.
    pub fn parse_rejected(pattern: &str) -> Result<Self, ConditionParseError> {
        Ok(BodyPattern {
            regex: compile_regex(pattern)?,
            rejected: true,
        })
    }

    /// Whether the body must not match.
    pub fn is_rejected(&self) -> bool {
        self.rejected
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// Whether the body matches.
    pub fn is_match(&self, body: &[u8]) -> bool {
        self.regex.is_match(&String::from_utf8_lossy(body))
    }

    /// `Ok` when the body matches (for a rejected pattern: does not match), else an
    /// [`Unmet`] showing the start of the body (the text that matched).
    pub fn check(&self, body: &[u8]) -> Result<(), Unmet> {
        if self.rejected {
            return self.check_absent(body);
        }
        if self.is_match(body) {
            return Ok(());
        }
        let shown = format!("/{}/", self.as_str());
        if body.is_empty() {
            return Err(Unmet::condition(
                self.as_str(),
                shown.clone(),
                "empty body",
                format!("body is empty, expected {shown}"),
            ));
        }
        Err(Unmet::condition(
            self.as_str(),
            shown.clone(),
            excerpt(body),
            format!("body does not match {shown}"),
        ))
    }
}

impl BodyPattern {
    /// `Ok` when the body does not match (`--reject-body`), else an [`Unmet`] naming the
    /// pattern and showing the text it matched, on one line and cut short.
    fn check_absent(&self, body: &[u8]) -> Result<(), Unmet> {
        let text = String::from_utf8_lossy(body);
        let Some(found) = self.regex.find(&text) else {
            return Ok(());
        };
        let shown = format!("/{}/", self.as_str());
        let matched = excerpt(found.as_str().as_bytes());
        Err(Unmet::condition(
            self.as_str(),
            format!("no match of {shown}"),
            matched.clone(),
            format!("body matches {shown}, which it must not: {matched:?}"),
        ))
    }
}

impl FromStr for BodyPattern {
    type Err = ConditionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BodyPattern::parse(s)
    }
}

impl fmt::Display for BodyPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rejected {
            f.write_str("not ")?;
        }
        write!(f, "/{}/", self.as_str())
    }
}

/// The start of a body on one line: whitespace runs (newlines included) become one space.
fn excerpt(body: &[u8]) -> String {
    // Look at a bounded prefix so a huge body costs nothing extra.
    let head = &body[..body.len().min(1024)];
    let text = String::from_utf8_lossy(head);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    shorten(&one_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_anywhere_in_the_body() {
        let p = BodyPattern::parse("ok|ready").unwrap();
        assert!(p.is_match(b"status: ready"));
        assert!(p.is_match(b"ok"));
        assert!(!p.is_match(b"starting"));
        assert_eq!(p.check(b"all ok"), Ok(()));
    }

    #[test]
    fn invalid_utf8_is_matched_lossily() {
        let p = BodyPattern::parse("^ok").unwrap();
        assert!(p.is_match(b"ok\xff\xfe"));
        let p = BodyPattern::parse("\u{FFFD}").unwrap();
        assert!(p.is_match(b"\xff"));
    }

    #[test]
    fn mismatch_reads_well_and_shows_a_one_line_excerpt() {
        let p = BodyPattern::parse("ok|ready").unwrap();
        let u = p.check(b"starting\n  please   wait").unwrap_err();
        assert_eq!(u.to_string(), "body does not match /ok|ready/");
        assert_eq!(
            u,
            Unmet::condition(
                "ok|ready",
                "/ok|ready/",
                "starting please wait",
                u.to_string()
            )
        );
    }

    #[test]
    fn long_body_excerpt_is_capped() {
        let p = BodyPattern::parse("ok").unwrap();
        let body = "é".repeat(5000);
        let Unmet::Condition { actual, .. } = p.check(body.as_bytes()).unwrap_err() else {
            panic!("expected a condition");
        };
        assert_eq!(actual.chars().count(), 80);
        assert!(actual.ends_with('…'));
    }

    #[test]
    fn empty_body_says_so() {
        let p = BodyPattern::parse("ok").unwrap();
        assert_eq!(
            p.check(b"").unwrap_err().to_string(),
            "body is empty, expected /ok/"
        );
    }

    #[test]
    fn invalid_regex_gives_a_one_line_reason() {
        let err = BodyPattern::parse("(ok").unwrap_err();
        assert_eq!(err.to_string(), "invalid regex /(ok/: unclosed group");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn empty_pattern_is_refused() {
        assert_eq!(
            BodyPattern::parse("").unwrap_err(),
            ConditionParseError::EmptyPattern
        );
    }

    #[test]
    fn oversized_regex_is_refused() {
        let err = BodyPattern::parse(r"(\w{500}){500}").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("too large once compiled"), "{msg}");
        // Ordinary patterns stay well under the cap.
        BodyPattern::parse(r"\w{50}").unwrap();
        BodyPattern::parse(r"(?-u)\w{1000}").unwrap();
        BodyPattern::parse(r#""status"\s*:\s*"(ok|healthy|ready)""#).unwrap();
    }

    #[test]
    fn a_rejected_pattern_fails_only_when_it_matches_and_says_what_matched() {
        let p = BodyPattern::parse_rejected("error|fail(ed|ure)").unwrap();
        assert!(p.is_rejected());
        assert_eq!(p.to_string(), "not /error|fail(ed|ure)/");
        assert_eq!(p.check(b"all ok"), Ok(()));
        assert_eq!(p.check(b""), Ok(()));
        let u = p.check(b"status: degraded\n  failure of db").unwrap_err();
        assert_eq!(
            u.to_string(),
            "body matches /error|fail(ed|ure)/, which it must not: \"failure\""
        );
        assert_eq!(u.class(), "condition_failed");
        // A match spanning lines and pages is shown on one line, cut short.
        let p = BodyPattern::parse_rejected("(?s)begin.*end").unwrap();
        let body = format!("begin\n{}\nend", "x ".repeat(5000));
        let Unmet::Condition { actual, .. } = p.check(body.as_bytes()).unwrap_err() else {
            panic!("expected a condition");
        };
        assert!(!actual.contains('\n'));
        assert_eq!(actual.chars().count(), 80);
    }

    #[test]
    fn display_shows_slashes() {
        assert_eq!(BodyPattern::parse("ready").unwrap().to_string(), "/ready/");
    }
}
