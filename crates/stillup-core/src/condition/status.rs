//! The set of status codes that count as healthy: exact codes, ranges and classes.
//!
//! Owns parsing `200,301`, `200-299`, `2xx` (with fix hints on bad input), membership, and the
//! normalized form shown in messages. Which status a response had is the prober's business.

use std::fmt;
use std::str::FromStr;

use super::{ConditionParseError, Unmet};

/// One comma-separated item of a status list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusItem {
    Code(u16),
    /// Inclusive on both ends.
    Range(u16, u16),
    /// The first digit, 1..=5.
    Class(u8),
}

impl StatusItem {
    fn contains(self, code: u16) -> bool {
        match self {
            StatusItem::Code(c) => c == code,
            StatusItem::Range(lo, hi) => (lo..=hi).contains(&code),
            StatusItem::Class(d) => code / 100 == u16::from(d),
        }
    }
}

/// The status codes a healthy response may have, e.g. `2xx`, `200-299,301` or `200,204`.
///
/// Parse with [`StatusSet::parse`] or `str::parse`; `Display` gives a normalized form
/// (classes lower-case, no spaces). The default is `2xx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    items: Vec<StatusItem>,
}

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet {
            items: vec![StatusItem::Class(2)],
        }
    }
}

impl StatusSet {
    /// Parse a comma-separated list of codes (`200`), ranges (`200-299`) and classes
    /// (`2xx`, `5XX`); whitespace around items is allowed.
    pub fn parse(text: &str) -> Result<Self, ConditionParseError> {
        let items = text
            .split(',')
            .map(|item| parse_item(item.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StatusSet { items })
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        self.items.iter().any(|item| item.contains(code))
    }

    /// `Ok` when `status` is in the set, else [`Unmet::Status`].
    pub fn check(&self, status: u16) -> Result<(), Unmet> {
        if self.contains(status) {
            Ok(())
        } else {
            Err(Unmet::Status {
                status,
                expected: self.to_string(),
            })
        }
    }
}

impl FromStr for StatusSet {
    type Err = ConditionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StatusSet::parse(s)
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match item {
                StatusItem::Code(c) => write!(f, "{c}")?,
                StatusItem::Range(lo, hi) => write!(f, "{lo}-{hi}")?,
                StatusItem::Class(d) => write!(f, "{d}xx")?,
            }
        }
        Ok(())
    }
}

fn parse_item(item: &str) -> Result<StatusItem, ConditionParseError> {
    if item.is_empty() {
        return Err(ConditionParseError::EmptyStatus);
    }
    if item.contains(['x', 'X']) {
        return parse_class(item);
    }
    if let Some((lo, hi)) = item.split_once('-') {
        let (lo_text, hi_text) = (lo.trim(), hi.trim());
        let lo = parse_code(lo_text, item)?;
        let hi = parse_code(hi_text, item)?;
        if lo > hi {
            return Err(ConditionParseError::ReversedRange {
                range: item.to_string(),
                hint: format!("{hi}-{lo}"),
            });
        }
        return Ok(StatusItem::Range(lo, hi));
    }
    parse_code(item, item).map(StatusItem::Code)
}

/// A class is one digit 1-5 followed by exactly two x's, in either case.
fn parse_class(item: &str) -> Result<StatusItem, ConditionParseError> {
    let bytes = item.as_bytes();
    match bytes {
        [d @ b'1'..=b'5', x1, x2]
            if x1.eq_ignore_ascii_case(&b'x') && x2.eq_ignore_ascii_case(&b'x') =>
        {
            Ok(StatusItem::Class(d - b'0'))
        }
        _ => Err(ConditionParseError::BadStatusClass {
            class: item.to_string(),
        }),
    }
}

/// Digits only: `u16::from_str` would also take `+200`, which no one means.
fn parse_code(text: &str, item: &str) -> Result<u16, ConditionParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConditionParseError::BadStatusItem {
            item: item.to_string(),
        });
    }
    match text.parse::<u16>() {
        Ok(code) if (100..=599).contains(&code) => Ok(code),
        _ => Err(ConditionParseError::StatusOutOfRange {
            code: text.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(s: &str) -> StatusSet {
        StatusSet::parse(s).unwrap()
    }

    #[test]
    fn default_is_2xx() {
        let s = StatusSet::default();
        assert_eq!(s.to_string(), "2xx");
        assert!(s.contains(200) && s.contains(299));
        assert!(!s.contains(199) && !s.contains(300));
    }

    #[test]
    fn exact_codes() {
        let s = set("200,204");
        assert!(s.contains(200) && s.contains(204));
        assert!(!s.contains(201));
        assert_eq!(s.to_string(), "200,204");
    }

    #[test]
    fn ranges_are_inclusive() {
        let s = set("200-299");
        assert!(s.contains(200) && s.contains(250) && s.contains(299));
        assert!(!s.contains(300));
        assert!(set("204-204").contains(204));
    }

    #[test]
    fn classes_in_either_case() {
        assert!(set("5XX").contains(503));
        assert!(set("5xX").contains(599));
        assert!(!set("5xx").contains(404));
        assert_eq!(set("5XX").to_string(), "5xx");
    }

    #[test]
    fn mixed_list_with_whitespace_is_normalized() {
        let s = set(" 2XX , 301 ,400 - 404 ");
        assert_eq!(s.to_string(), "2xx,301,400-404");
        assert!(s.contains(201) && s.contains(301) && s.contains(403));
        assert!(!s.contains(302) && !s.contains(405));
    }

    #[test]
    fn check_reports_expected_set() {
        let s = set("200-299,301");
        assert_eq!(s.check(301), Ok(()));
        assert_eq!(
            s.check(503),
            Err(Unmet::Status {
                status: 503,
                expected: "200-299,301".into()
            })
        );
    }

    #[test]
    fn empty_list_or_item_is_rejected() {
        for s in ["", "  ", "200,", ",200", "200,,204"] {
            assert_eq!(
                StatusSet::parse(s),
                Err(ConditionParseError::EmptyStatus),
                "{s:?}"
            );
        }
        let msg = ConditionParseError::EmptyStatus.to_string();
        assert!(msg.contains("a class like 2xx"), "{msg}");
    }

    #[test]
    fn codes_outside_100_599_are_rejected() {
        for (s, code) in [
            ("99", "99"),
            ("600", "600"),
            ("0", "0"),
            ("70000", "70000"),
            ("200-600", "600"),
        ] {
            assert_eq!(
                StatusSet::parse(s),
                Err(ConditionParseError::StatusOutOfRange { code: code.into() }),
                "{s:?}"
            );
        }
        let msg = StatusSet::parse("600").unwrap_err().to_string();
        assert_eq!(
            msg,
            "status 600 is outside 100-599; use a code like 200, a range like 200-299 or a class like 2xx"
        );
    }

    #[test]
    fn reversed_range_suggests_the_right_order() {
        let err = StatusSet::parse("299-200").unwrap_err();
        assert_eq!(
            err.to_string(),
            "range 299-200 is reversed; write the smaller code first, e.g. 200-299"
        );
    }

    #[test]
    fn bad_classes_are_rejected() {
        for s in ["7xx", "0xx", "2x", "2xxx", "x00", "xx", "2xy"] {
            assert!(
                matches!(
                    StatusSet::parse(s),
                    Err(ConditionParseError::BadStatusClass { .. })
                ),
                "{s:?}"
            );
        }
        assert_eq!(
            StatusSet::parse("7xx").unwrap_err().to_string(),
            "7xx is not a status class; use 1xx, 2xx, 3xx, 4xx or 5xx"
        );
    }

    #[test]
    fn garbage_is_rejected_with_a_hint() {
        for s in [
            "ok",
            "+200",
            "200-",
            "-200",
            "2 00",
            "200-299-300",
            "２００",
        ] {
            assert!(
                matches!(
                    StatusSet::parse(s),
                    Err(ConditionParseError::BadStatusItem { .. })
                ),
                "{s:?} gave {:?}",
                StatusSet::parse(s)
            );
        }
        assert_eq!(
            StatusSet::parse("ok").unwrap_err().to_string(),
            "\"ok\" is not a status; use a code like 200, a range like 200-299 or a class like 2xx"
        );
    }

    proptest! {
        #[test]
        fn class_contains_exactly_codes_with_that_first_digit(code in 100u16..=599, digit in 1u8..=5) {
            let s = StatusSet::parse(&format!("{digit}xx")).unwrap();
            prop_assert_eq!(s.contains(code), code / 100 == u16::from(digit));
        }

        #[test]
        fn parse_never_panics_and_display_round_trips(text in "\\PC{0,30}") {
            if let Ok(s) = StatusSet::parse(&text) {
                prop_assert_eq!(StatusSet::parse(&s.to_string()), Ok(s));
            }
        }
    }
}
