//! The conditions a response must meet to count as healthy, and why one did not.
//!
//! This module owns parsing the user's conditions (status set, JSON path comparisons, body
//! regexes, header checks, a latency limit) and checking one already-received response
//! against all of them. It never does I/O and never classifies network failures: the prober
//! hands over a [`ResponseView`] and turns an [`Unmet`] into its failure class (`http_status`
//! for [`Unmet::Status`], `condition_failed` for everything else). Each engine lives in its
//! own file so its third-party crate (regex, serde_json_path) is touched in one place.

use std::fmt;
use std::time::Duration;

mod body;
mod header;
mod json;
pub mod latency;
mod status;

pub use body::BodyPattern;
pub use header::HeaderCondition;
pub use json::{JsonCondition, JsonOp};
pub use status::StatusSet;

/// Everything a response must satisfy to count as healthy; all conditions must hold.
#[derive(Debug, Clone)]
pub struct Conditions {
    /// Acceptable status codes (default: `2xx`).
    pub status: StatusSet,
    /// JSON path conditions on the body; the body must be JSON when any is present.
    pub json: Vec<JsonCondition>,
    /// Regexes the body must match, and those it must not ([`BodyPattern::parse_rejected`],
    /// `--reject-body`), checked in order.
    pub body: Vec<BodyPattern>,
    /// Header presence / value conditions.
    pub headers: Vec<HeaderCondition>,
    /// The longest acceptable time to response headers.
    pub max_latency: Option<Duration>,
}

impl Default for Conditions {
    /// Status `2xx`, nothing else.
    fn default() -> Self {
        Conditions {
            status: StatusSet::default(),
            json: Vec::new(),
            body: Vec::new(),
            headers: Vec::new(),
            max_latency: None,
        }
    }
}

impl Conditions {
    /// True when some condition needs the response body (json or body patterns).
    ///
    /// The prober can skip reading the body otherwise.
    pub fn needs_body(&self) -> bool {
        !self.json.is_empty() || !self.body.is_empty()
    }

    /// Check in this order: status, latency, headers, json, body. First unmet wins.
    ///
    /// The cheap checks go first, and the body is parsed as JSON at most once however
    /// many JSON conditions there are.
    pub fn check(&self, response: &ResponseView<'_>) -> Result<(), Unmet> {
        self.status.check(response.status.as_u16())?;
        if let Some(limit) = self.max_latency {
            latency::check("response", response.latency, limit)?;
        }
        for header in &self.headers {
            header.check(response.headers)?;
        }
        if let Some(first) = self.json.first() {
            let value = first.parse_body(response.body)?;
            for condition in &self.json {
                condition.check_value(&value)?;
            }
        }
        for pattern in &self.body {
            pattern.check(response.body)?;
        }
        Ok(())
    }
}

/// What the prober hands over: status, headers, the complete body (read within the body
/// limit; an over-limit body is the prober's `body_too_large`, not a condition), and the
/// time to response headers.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    /// The response status.
    pub status: http::StatusCode,
    /// The response headers.
    pub headers: &'a http::HeaderMap,
    /// The complete response body; empty when no condition needed it.
    pub body: &'a [u8],
    /// Time from sending the request to receiving the response headers.
    pub latency: Duration,
}

/// Why a response was not healthy. `Display` is a short human line written for a tired
/// on-call engineer.
///
/// Serialized with a `kind` tag: `{"kind": "status", ...}` or `{"kind": "condition", ...}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unmet {
    /// Status not in the expected set → the prober classifies this as class `http_status`.
    Status {
        /// The status code received.
        status: u16,
        /// The expected set as [`StatusSet`] displays it, e.g. `2xx` or `200-299,301`.
        expected: String,
    },
    /// Any other condition → class `condition_failed`.
    Condition {
        /// The user's expression as written, e.g. `$.status == "healthy"`.
        condition: String,
        /// What would have satisfied it, e.g. `"healthy"`, `/json/`, `500ms`.
        expected: String,
        /// What was found, kept short, e.g. `"degraded"`, `missing`, `not JSON`, `1.2s`.
        actual: String,
        /// The whole human sentence; this is what `Display` prints.
        reason: String,
    },
}

impl Unmet {
    /// The failure class the prober reports: `http_status` or `condition_failed`.
    pub fn class(&self) -> &'static str {
        match self {
            Unmet::Status { .. } => "http_status",
            Unmet::Condition { .. } => "condition_failed",
        }
    }

    /// Shorthand for the engines: every non-status condition is built the same way.
    pub(crate) fn condition(
        condition: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Unmet::Condition {
            condition: condition.into(),
            expected: expected.into(),
            actual: actual.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmet::Status { status, expected } => {
                match http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                {
                    Some(text) => write!(f, "HTTP {status} {text} (expected {expected})"),
                    None => write!(f, "HTTP {status} (expected {expected})"),
                }
            }
            Unmet::Condition { reason, .. } => f.write_str(reason),
        }
    }
}

/// A condition string that cannot be used. `Display` says what is wrong and how to fix it;
/// the caller prefixes the flag and value (`invalid --expect-json "...": `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConditionParseError {
    /// No status items at all, or an empty item between commas.
    #[error("empty status list or item; use a code like 200, a range like 200-299 or a class like 2xx, separated by commas")]
    EmptyStatus,
    /// A status code outside 100-599.
    #[error("status {code} is outside 100-599; use a code like 200, a range like 200-299 or a class like 2xx")]
    StatusOutOfRange {
        /// The offending code as written.
        code: String,
    },
    /// A range whose start is above its end.
    #[error("range {range} is reversed; write the smaller code first, e.g. {hint}")]
    ReversedRange {
        /// The range as written.
        range: String,
        /// The same range the right way round.
        hint: String,
    },
    /// Something that looks like a class but is not `1xx`..`5xx`.
    #[error("{class} is not a status class; use 1xx, 2xx, 3xx, 4xx or 5xx")]
    BadStatusClass {
        /// The class as written.
        class: String,
    },
    /// Anything else in a status list.
    #[error(
        "{item:?} is not a status; use a code like 200, a range like 200-299 or a class like 2xx"
    )]
    BadStatusItem {
        /// The item as written.
        item: String,
    },
    /// A JSON condition without a comparison operator or `exists`.
    #[error("no operator found; expected PATH OP VALUE, e.g. '$.status == \"healthy\"' or '$.db exists' (OP is one of == != < <= > >=)")]
    MissingOperator,
    /// A single `=` where `==` was meant.
    #[error(
        "a single '=' is not an operator; use '==' to compare, e.g. '$.status == \"healthy\"'"
    )]
    SingleEquals,
    /// Nothing before the operator.
    #[error("the JSON path before {op} is empty; start it with $, e.g. '$.status {op} ...'")]
    EmptyPath {
        /// The operator found.
        op: String,
    },
    /// Nothing after a comparison operator.
    #[error("nothing to compare with after {op}; give a JSON value, e.g. '$.status {op} \"healthy\"' or '$.count {op} 5'")]
    EmptyValue {
        /// The operator found.
        op: String,
    },
    /// Text after `exists` / `!exists`.
    #[error("unexpected {extra:?} after {op}; write just 'PATH {op}'")]
    TrailingAfterExists {
        /// The operator keyword.
        op: String,
        /// What followed it.
        extra: String,
    },
    /// A path that does not start at the root.
    #[error("JSON path {path:?} must start with $, e.g. '{suggestion}'")]
    PathNotRooted {
        /// The path as written.
        path: String,
        /// The path with a `$.` prefix, as a likely fix.
        suggestion: String,
    },
    /// A path the JSONPath parser rejected.
    #[error("invalid JSON path {path:?}: {message}; see RFC 9535, e.g. '$.items[0].name' or \"$['my key']\"")]
    InvalidJsonPath {
        /// The path as written.
        path: String,
        /// The parser's explanation.
        message: String,
    },
    /// A value that is neither JSON nor a bare word.
    #[error("value {value} is not a JSON value ({message}); quote strings with double quotes, e.g. \"healthy\"")]
    InvalidJsonValue {
        /// The value as written.
        value: String,
        /// serde_json's explanation.
        message: String,
    },
    /// An ordering operator with a value that has no order.
    #[error("{op} needs a number or a string to compare with, not {value}; e.g. '$.count {op} 5'")]
    UnorderedValue {
        /// The operator.
        op: String,
        /// The value as written.
        value: String,
    },
    /// An empty regex, which would match every body.
    #[error("the pattern is empty and would match anything; give a regex, e.g. 'ok|ready'")]
    EmptyPattern,
    /// A regex the regex crate rejected.
    #[error("invalid regex /{pattern}/: {message}")]
    InvalidRegex {
        /// The pattern as written.
        pattern: String,
        /// A one-line explanation and, where possible, the fix.
        message: String,
    },
    /// An empty header name.
    #[error("the header name is empty; write 'Name' or 'Name: REGEX', e.g. 'Content-Type: json'")]
    EmptyHeaderName,
    /// A header name that HTTP does not allow.
    #[error("{name:?} is not a valid HTTP header name; use letters, digits and '-', e.g. 'Content-Type: json'")]
    InvalidHeaderName {
        /// The name as written.
        name: String,
    },
    /// `Name:` with nothing after the colon.
    #[error("nothing after the colon; write '{name}' alone to require the header, or '{name}: REGEX' to match its value")]
    EmptyHeaderPattern {
        /// The header name as written.
        name: String,
    },
}

/// Longest shown value in a message, in characters; longer ones end in an ellipsis.
const SHOWN_MAX_CHARS: usize = 80;

/// Cut `text` to [`SHOWN_MAX_CHARS`] characters (never inside a UTF-8 character) so one
/// huge body or header cannot flood a status line.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().nth(SHOWN_MAX_CHARS).is_none() {
        return text.to_string();
    }
    // Counting chars (not bytes) keeps the cut on a character boundary.
    let kept: String = text.chars().take(SHOWN_MAX_CHARS - 1).collect();
    format!("{kept}…")
}

/// A duration the way people say it: `250ms`, `1.2s`, `1.001s`, `60s` (at most millisecond
/// precision past one second).
pub(crate) fn human_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        let ms = d.as_secs_f64() * 1_000.0;
        trim_decimals(format!("{ms:.1}")) + "ms"
    } else {
        trim_decimals(format!("{:.3}", d.as_secs_f64())) + "s"
    }
}

fn trim_decimals(mut s: String) -> String {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};

    fn view<'a>(status: u16, headers: &'a HeaderMap, body: &'a [u8], ms: u64) -> ResponseView<'a> {
        ResponseView {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body,
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn default_accepts_any_2xx_and_needs_no_body() {
        let c = Conditions::default();
        assert!(!c.needs_body());
        let h = HeaderMap::new();
        assert_eq!(c.check(&view(204, &h, b"", 5)), Ok(()));
        let unmet = c.check(&view(503, &h, b"", 5)).unwrap_err();
        assert_eq!(unmet.class(), "http_status");
        assert_eq!(
            unmet.to_string(),
            "HTTP 503 Service Unavailable (expected 2xx)"
        );
    }

    #[test]
    fn unknown_status_has_no_reason_phrase() {
        let u = Unmet::Status {
            status: 599,
            expected: "2xx".into(),
        };
        assert_eq!(u.to_string(), "HTTP 599 (expected 2xx)");
    }

    #[test]
    fn needs_body_when_json_or_body_conditions_exist() {
        let mut c = Conditions::default();
        c.headers.push("Content-Type".parse().unwrap());
        assert!(!c.needs_body());
        c.body.push("ok".parse().unwrap());
        assert!(c.needs_body());
        let mut c = Conditions::default();
        c.json.push("$.ok == true".parse().unwrap());
        assert!(c.needs_body());
        let mut c = Conditions::default();
        c.body.push(BodyPattern::parse_rejected("error").unwrap());
        assert!(c.needs_body());
    }

    #[test]
    fn checks_run_in_order_status_latency_headers_json_body() {
        let c = Conditions {
            status: "200".parse().unwrap(),
            json: vec!["$.status == \"healthy\"".parse().unwrap()],
            body: vec!["never-present".parse().unwrap()],
            headers: vec!["Content-Type: json".parse().unwrap()],
            max_latency: Some(Duration::from_millis(500)),
        };
        let mut json_headers = HeaderMap::new();
        json_headers.insert("content-type", HeaderValue::from_static("application/json"));
        let html_headers = HeaderMap::new();
        let bad_json = br#"{"status":"degraded"}"#;
        let good_json = br#"{"status":"healthy"}"#;

        // Everything wrong: status is reported.
        let u = c.check(&view(500, &html_headers, b"x", 900)).unwrap_err();
        assert!(matches!(u, Unmet::Status { status: 500, .. }));
        // Then latency.
        let u = c.check(&view(200, &html_headers, b"x", 900)).unwrap_err();
        assert_eq!(
            u.to_string(),
            "response took 900ms, more than the limit 500ms"
        );
        // Then headers.
        let u = c.check(&view(200, &html_headers, b"x", 10)).unwrap_err();
        assert_eq!(
            u.to_string(),
            "header Content-Type is missing, expected /json/"
        );
        // Then JSON.
        let u = c
            .check(&view(200, &json_headers, bad_json, 10))
            .unwrap_err();
        assert_eq!(
            u.to_string(),
            r#"$.status is "degraded", expected "healthy""#
        );
        // Then body.
        let u = c
            .check(&view(200, &json_headers, good_json, 10))
            .unwrap_err();
        assert_eq!(u.to_string(), "body does not match /never-present/");
        assert_eq!(u.class(), "condition_failed");
    }

    #[test]
    fn all_conditions_met_is_ok() {
        let c = Conditions {
            status: "2xx,301".parse().unwrap(),
            json: vec![
                "$.status == healthy".parse().unwrap(),
                "$.checks[*].ok == true".parse().unwrap(),
            ],
            body: vec![
                "healthy".parse().unwrap(),
                BodyPattern::parse_rejected("unhealthy|error").unwrap(),
            ],
            headers: vec!["content-type: ^application/json".parse().unwrap()],
            max_latency: Some(Duration::from_secs(1)),
        };
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let body = br#"{"status":"healthy","checks":[{"ok":true},{"ok":true}]}"#;
        assert_eq!(c.check(&view(200, &h, body, 20)), Ok(()));
    }

    #[test]
    fn non_json_body_reported_once_for_first_json_condition() {
        let c = Conditions {
            json: vec![
                "$.status == \"healthy\"".parse().unwrap(),
                "$.db exists".parse().unwrap(),
            ],
            ..Conditions::default()
        };
        let h = HeaderMap::new();
        let u = c.check(&view(200, &h, b"<html>", 1)).unwrap_err();
        assert_eq!(
            u.to_string(),
            "body is not JSON (expected value at line 1 column 1) — needed for $.status == \"healthy\""
        );
    }

    #[test]
    fn unmet_serializes_with_kind_tag() {
        let u = Unmet::Status {
            status: 503,
            expected: "2xx".into(),
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "status", "status": 503, "expected": "2xx"})
        );
        let u = Unmet::condition("c", "e", "a", "r");
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "condition", "condition": "c", "expected": "e", "actual": "a", "reason": "r"})
        );
    }

    #[test]
    fn shorten_keeps_short_text_and_cuts_long_text_on_char_boundaries() {
        assert_eq!(shorten("short"), "short");
        let exact = "a".repeat(SHOWN_MAX_CHARS);
        assert_eq!(shorten(&exact), exact);
        let long = "é".repeat(200);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), SHOWN_MAX_CHARS);
        assert!(cut.ends_with('…'));
        let emoji = "🙂".repeat(SHOWN_MAX_CHARS + 1);
        assert_eq!(shorten(&emoji).chars().count(), SHOWN_MAX_CHARS);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(human_duration(Duration::from_millis(1200)), "1.2s");
        assert_eq!(human_duration(Duration::from_millis(1001)), "1.001s");
        assert_eq!(human_duration(Duration::from_secs(60)), "60s");
        assert_eq!(human_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(human_duration(Duration::from_micros(40)), "40µs");
    }
}
