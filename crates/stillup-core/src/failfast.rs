//! `--fail-fast`: failure classes that will not heal by waiting (a certificate that is not
//! trusted, HTTP 401), so a run gives up at once instead of burning its whole deadline.

use std::fmt;

use thiserror::Error;

use crate::condition::StatusSet;
use crate::failure::{Failure, FailureClass};

/// One rule: a failure class, optionally narrowed to some HTTP status codes.
#[derive(Debug, Clone, PartialEq)]
pub struct FailFastRule {
    class: FailureClass,
    statuses: Option<StatusSet>,
}

/// A set of rules; an attempt failing with any of them ends the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailFast {
    rules: Vec<FailFastRule>,
}

/// Why a `--fail-fast` list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FailFastError {
    /// A name that is no failure class.
    #[error("unknown failure class {class:?}; known classes: {known}")]
    UnknownClass {
        /// The name given.
        class: String,
        /// Every class name, comma-separated.
        known: String,
    },
    /// Status codes after a class other than `http_status`.
    #[error("only http_status can be narrowed by codes (e.g. http_status:401), not {class:?}")]
    NotNarrowable {
        /// The class that was given codes.
        class: String,
    },
    /// Status codes after `http_status:` that do not parse.
    #[error("bad status codes {codes:?} after http_status: ({reason}); e.g. http_status:401 or http_status:4xx")]
    BadStatus {
        /// The codes as written.
        codes: String,
        /// What was wrong with them.
        reason: String,
    },
    /// An empty rule (`tls_verify,,dns`, or nothing at all).
    #[error("empty rule; write a failure class like tls_verify or http_status:401")]
    Empty,
}

impl FailFast {
    /// Parse `CLASS[:CODES],…`, e.g. `tls_verify,http_status:401`, `dns,http_status:4xx`.
    /// Codes after `http_status:` are joined with `+` to list several: `http_status:401+403`.
    pub fn parse(input: &str) -> Result<FailFast, FailFastError> {
        let mut rules = Vec::new();
        for item in input.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(FailFastError::Empty);
            }
            let (class, codes) = match item.split_once(':') {
                Some((class, codes)) => (class.trim(), Some(codes.trim())),
                None => (item, None),
            };
            let Ok(known) = class.parse::<FailureClass>() else {
                let known: Vec<&str> = FailureClass::ALL.iter().map(|c| c.as_str()).collect();
                return Err(FailFastError::UnknownClass {
                    class: class.to_string(),
                    known: known.join(", "),
                });
            };
            let statuses = match codes {
                None => None,
                Some(_) if known != FailureClass::HttpStatus => {
                    return Err(FailFastError::NotNarrowable {
                        class: class.to_string(),
                    })
                }
                Some(codes) => Some(StatusSet::parse(&codes.replace('+', ",")).map_err(|e| {
                    FailFastError::BadStatus {
                        codes: codes.to_string(),
                        reason: e.to_string(),
                    }
                })?),
            };
            rules.push(FailFastRule {
                class: known,
                statuses,
            });
        }
        Ok(FailFast { rules })
    }

    /// Add the rules of `other`.
    pub fn extend(&mut self, other: FailFast) {
        self.rules.extend(other.rules);
    }

    /// Whether there is no rule (nothing fails fast).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether this failure should end the run at once.
    pub fn matches(&self, failure: &Failure) -> bool {
        self.rules.iter().any(|rule| {
            rule.class == failure.class()
                && match (&rule.statuses, failure.status()) {
                    (None, _) => true,
                    (Some(set), Some(status)) => set.contains(status),
                    (Some(_), None) => false,
                }
        })
    }
}

impl fmt::Display for FailFast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| match &r.statuses {
                Some(set) => format!("{}:{set}", r.class),
                None => r.class.to_string(),
            })
            .collect();
        f.write_str(&rules.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_statuses_match() {
        let ff = FailFast::parse("tls_verify, http_status:401+403").unwrap();
        let unauthorized = Failure::HttpStatus {
            status: 401,
            expected: "2xx".into(),
        };
        let unavailable = Failure::HttpStatus {
            status: 503,
            expected: "2xx".into(),
        };
        assert!(ff.matches(&unauthorized));
        assert!(!ff.matches(&unavailable));
        assert!(!ff.matches(&Failure::Refused { addr: "x".into() }));
        let ff = FailFast::parse("http_status:4xx").unwrap();
        assert!(ff.matches(&unauthorized));
    }

    #[test]
    fn bad_rules_say_why() {
        assert!(matches!(
            FailFast::parse("tls"),
            Err(FailFastError::UnknownClass { .. })
        ));
        assert!(matches!(
            FailFast::parse("refused:401"),
            Err(FailFastError::NotNarrowable { .. })
        ));
        assert!(matches!(
            FailFast::parse("http_status:abc"),
            Err(FailFastError::BadStatus { .. })
        ));
        assert!(matches!(FailFast::parse("dns,"), Err(FailFastError::Empty)));
    }
}
