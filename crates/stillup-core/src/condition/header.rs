//! Header conditions: `Name` (must be present) or `Name: REGEX` (some value must match).
//!
//! Owns parsing and checking one header condition against a response's headers. The name is
//! validated as an HTTP header name; the regex is built by `body::compile_regex` so the size
//! cap lives in one place.

use std::fmt;
use std::str::FromStr;

use http::{HeaderMap, HeaderName};
use regex::Regex;

use super::body::compile_regex;
use super::{shorten, ConditionParseError, Unmet};

/// A condition on one response header, e.g. `Content-Type: json` or `X-Ready`.
///
/// With a regex, the condition holds when any of the header's values (a header may appear
/// more than once) matches it somewhere; without one, the header only has to be present.
/// Whitespace around the name and the regex is ignored.
#[derive(Debug, Clone)]
pub struct HeaderCondition {
    /// The user's expression, trimmed, for messages.
    source: String,
    /// The name as the user spelled it: `HeaderName` lower-cases it.
    display_name: String,
    name: HeaderName,
    pattern: Option<Regex>,
}

impl HeaderCondition {
    /// Parse `Name: REGEX` or `Name`.
    pub fn parse(text: &str) -> Result<Self, ConditionParseError> {
        let text = text.trim();
        // Header names cannot contain ':', so the first one separates name from regex.
        let (name_text, pattern_text) = match text.split_once(':') {
            Some((name, pattern)) => (name.trim(), Some(pattern.trim())),
            None => (text, None),
        };
        if name_text.is_empty() {
            return Err(ConditionParseError::EmptyHeaderName);
        }
        let name = HeaderName::from_bytes(name_text.as_bytes()).map_err(|_| {
            ConditionParseError::InvalidHeaderName {
                name: name_text.to_string(),
            }
        })?;
        let pattern = match pattern_text {
            Some("") => {
                return Err(ConditionParseError::EmptyHeaderPattern {
                    name: name_text.to_string(),
                })
            }
            Some(p) => Some(compile_regex(p)?),
            None => None,
        };
        Ok(HeaderCondition {
            source: text.to_string(),
            display_name: name_text.to_string(),
            name,
            pattern,
        })
    }

    /// The header name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The value regex as written, or `None` when presence is enough.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_ref().map(Regex::as_str)
    }

    /// `Ok` when the header is present and, with a regex, some value matches it.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Unmet> {
        let expected = match &self.pattern {
            Some(re) => format!("/{}/", re.as_str()),
            None => "present".to_string(),
        };
        // Non-UTF-8 header bytes are matched lossily, as the body is.
        let values: Vec<String> = headers
            .get_all(&self.name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if values.is_empty() {
            let wanted = match &self.pattern {
                Some(_) => expected.clone(),
                None => "it to be present".to_string(),
            };
            return Err(Unmet::condition(
                &self.source,
                expected,
                "missing",
                format!("header {} is missing, expected {wanted}", self.display_name),
            ));
        }
        let Some(re) = &self.pattern else {
            return Ok(());
        };
        if values.iter().any(|v| re.is_match(v)) {
            return Ok(());
        }
        // A `Set-Cookie` or token header is a credential: judged, never shown.
        let shown = if crate::redact::is_sensitive_header(self.name.as_str()) {
            crate::redact::REDACTED.to_string()
        } else {
            shorten(
                &values
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        Err(Unmet::condition(
            &self.source,
            expected.clone(),
            shown.clone(),
            format!(
                "header {} is {shown}, expected {expected}",
                self.display_name
            ),
        ))
    }
}

impl FromStr for HeaderCondition {
    type Err = ConditionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HeaderCondition::parse(s)
    }
}

impl fmt::Display for HeaderCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn name_and_regex_match_case_insensitively_by_name() {
        let c = HeaderCondition::parse("Content-Type: json").unwrap();
        assert_eq!(c.name().as_str(), "content-type");
        assert_eq!(c.pattern(), Some("json"));
        assert_eq!(
            c.check(&headers(&[("content-type", "application/json")])),
            Ok(())
        );
    }

    #[test]
    fn mismatch_reads_well() {
        let c = HeaderCondition::parse("Content-Type: json").unwrap();
        let u = c
            .check(&headers(&[("content-type", "text/html")]))
            .unwrap_err();
        assert_eq!(
            u.to_string(),
            r#"header Content-Type is "text/html", expected /json/"#
        );
        assert_eq!(
            u,
            Unmet::condition(
                "Content-Type: json",
                "/json/",
                r#""text/html""#,
                u.to_string()
            )
        );
    }

    #[test]
    fn missing_header_reads_well() {
        let c = HeaderCondition::parse("Content-Type: json").unwrap();
        let u = c.check(&HeaderMap::new()).unwrap_err();
        assert_eq!(
            u.to_string(),
            "header Content-Type is missing, expected /json/"
        );
    }

    #[test]
    fn any_of_several_values_may_match() {
        let c = HeaderCondition::parse("X-Role: ^primary$").unwrap();
        let h = headers(&[("x-role", "replica"), ("x-role", "primary")]);
        assert_eq!(c.check(&h), Ok(()));
        let h = headers(&[("x-role", "replica"), ("x-role", "standby")]);
        assert_eq!(
            c.check(&h).unwrap_err().to_string(),
            r#"header X-Role is "replica", "standby", expected /^primary$/"#
        );
    }

    #[test]
    fn name_alone_means_present() {
        let c = HeaderCondition::parse("X-Ready").unwrap();
        assert_eq!(c.pattern(), None);
        assert_eq!(c.check(&headers(&[("x-ready", "")])), Ok(()));
        let u = c.check(&HeaderMap::new()).unwrap_err();
        assert_eq!(
            u.to_string(),
            "header X-Ready is missing, expected it to be present"
        );
        assert_eq!(
            u,
            Unmet::condition("X-Ready", "present", "missing", u.to_string())
        );
    }

    #[test]
    fn regex_may_contain_colons_and_whitespace_is_trimmed() {
        let c = HeaderCondition::parse("  Location :  ^https://  ").unwrap();
        assert_eq!(c.pattern(), Some("^https://"));
        assert_eq!(c.to_string(), "Location :  ^https://");
        assert_eq!(c.check(&headers(&[("location", "https://x/")])), Ok(()));
    }

    #[test]
    fn long_values_are_capped() {
        let long = "v".repeat(500);
        let c = HeaderCondition::parse("X-Long: ^nope$").unwrap();
        let Unmet::Condition { actual, .. } = c.check(&headers(&[("x-long", &long)])).unwrap_err()
        else {
            panic!("expected a condition");
        };
        assert_eq!(actual.chars().count(), 80);
    }

    #[test]
    fn parse_errors_name_the_fix() {
        for text in ["", "  ", ": json"] {
            assert_eq!(
                HeaderCondition::parse(text).unwrap_err(),
                ConditionParseError::EmptyHeaderName
            );
        }
        let err = HeaderCondition::parse("Content Type: json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"Content Type\" is not a valid HTTP header name; use letters, digits and '-', e.g. 'Content-Type: json'"
        );
        let err = HeaderCondition::parse("X-Ready:").unwrap_err();
        assert_eq!(
            err.to_string(),
            "nothing after the colon; write 'X-Ready' alone to require the header, or 'X-Ready: REGEX' to match its value"
        );
        assert!(matches!(
            HeaderCondition::parse("X-Ready: (a"),
            Err(ConditionParseError::InvalidRegex { .. })
        ));
    }
}
