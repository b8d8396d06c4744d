//! JSON conditions: `PATH OP VALUE`, `PATH exists` and `PATH !exists` on a JSON body.
//!
//! Owns splitting the user's expression into an RFC 9535 JSONPath (via serde_json_path, used
//! only here), an operator and a JSON value, and evaluating that against a parsed body. The
//! body is parsed once per response by [`super::Conditions::check`], not once per condition.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::{Number, Value};
use serde_json_path::JsonPath;

use super::{shorten, ConditionParseError, Unmet};

/// Deepest bracket nesting accepted in a path. Real paths nest a few levels; the cap keeps a
/// pathological input from recursing deep inside the JSONPath parser.
const MAX_PATH_NESTING: usize = 32;

/// The operator of a [`JsonCondition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonOp {
    /// `==`: JSON equality, with numbers compared by value (`1 == 1.0`).
    Eq,
    /// `!=`: the negation of `==`.
    Ne,
    /// `<`: numbers by value, strings lexicographically.
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `exists`: the path selects at least one node.
    Exists,
    /// `!exists`: the path selects nothing.
    NotExists,
}

impl JsonOp {
    /// The operator as written in a condition.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonOp::Eq => "==",
            JsonOp::Ne => "!=",
            JsonOp::Lt => "<",
            JsonOp::Le => "<=",
            JsonOp::Gt => ">",
            JsonOp::Ge => ">=",
            JsonOp::Exists => "exists",
            JsonOp::NotExists => "!exists",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, JsonOp::Lt | JsonOp::Le | JsonOp::Gt | JsonOp::Ge)
    }

    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            JsonOp::Lt => ordering.is_lt(),
            JsonOp::Le => ordering.is_le(),
            JsonOp::Gt => ordering.is_gt(),
            JsonOp::Ge => ordering.is_ge(),
            _ => false,
        }
    }
}

impl fmt::Display for JsonOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition on a JSON body, e.g. `$.status == "healthy"`, `$.queue.depth < 100`,
/// `$.db exists` or `$.maintenance !exists`.
///
/// - PATH is an RFC 9535 JSONPath starting with `$`. It may contain spaces and operators
///   inside brackets, filters and quoted names (`$.items[?@.name == 'a b'].ok == true`): the
///   first operator outside brackets and quotes splits the expression.
/// - VALUE is a JSON literal: `"healthy"`, `5`, `1.5`, `true`, `null`, or an array/object
///   (for `==`/`!=`). As a convenience a bare word that is not JSON — starting with a letter
///   or `_`, without spaces, quotes or brackets — is taken as a string, so
///   `$.status == healthy` means `$.status == "healthy"`. Ordering operators need a number or
///   a string.
/// - When the path selects several nodes, every one must satisfy the comparison; when it
///   selects none the condition fails (except `!exists`).
#[derive(Debug, Clone)]
pub struct JsonCondition {
    /// The whole expression, trimmed, for messages.
    source: String,
    path_text: String,
    path: JsonPath,
    op: JsonOp,
    /// `None` for `exists` / `!exists`.
    value: Option<Value>,
}

impl JsonCondition {
    /// Parse `PATH OP VALUE`, `PATH exists` or `PATH !exists`.
    pub fn parse(text: &str) -> Result<Self, ConditionParseError> {
        let source = text.trim();
        let (path_text, op, rest) = split(source)?;
        if path_text.is_empty() {
            return Err(ConditionParseError::EmptyPath { op: op.to_string() });
        }
        if !path_text.starts_with('$') {
            let bare = path_text.trim_start_matches(['@', '.']);
            let suggestion = if bare.starts_with('[') {
                format!("${bare}")
            } else {
                format!("$.{bare}")
            };
            return Err(ConditionParseError::PathNotRooted {
                path: path_text.to_string(),
                suggestion,
            });
        }
        let path =
            JsonPath::parse(path_text).map_err(|err| ConditionParseError::InvalidJsonPath {
                path: path_text.to_string(),
                message: err.to_string(),
            })?;
        let value = match op {
            JsonOp::Exists | JsonOp::NotExists => {
                if !rest.is_empty() {
                    return Err(ConditionParseError::TrailingAfterExists {
                        op: op.to_string(),
                        extra: rest.to_string(),
                    });
                }
                None
            }
            _ => {
                if rest.is_empty() {
                    return Err(ConditionParseError::EmptyValue { op: op.to_string() });
                }
                let value = parse_value(rest)?;
                if op.is_ordering() && !matches!(value, Value::Number(_) | Value::String(_)) {
                    return Err(ConditionParseError::UnorderedValue {
                        op: op.to_string(),
                        value: rest.to_string(),
                    });
                }
                Some(value)
            }
        };
        Ok(JsonCondition {
            source: source.to_string(),
            path_text: path_text.to_string(),
            path,
            op,
            value,
        })
    }

    /// The expression as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The JSONPath part as written.
    pub fn path(&self) -> &str {
        &self.path_text
    }

    /// The operator.
    pub fn op(&self) -> JsonOp {
        self.op
    }

    /// The value compared with; `None` for `exists` / `!exists`.
    pub fn value(&self) -> Option<&Value> {
        self.value.as_ref()
    }

    /// Parse `body` as JSON and check this condition against it.
    ///
    /// To check several conditions, [`super::Conditions::check`] parses the body once.
    pub fn check_body(&self, body: &[u8]) -> Result<(), Unmet> {
        self.check_value(&self.parse_body(body)?)
    }

    /// Parse the body as JSON, or say why it is not, naming this condition as the one that
    /// needed it.
    pub(crate) fn parse_body(&self, body: &[u8]) -> Result<Value, Unmet> {
        // A UTF-8 byte-order mark is legal in practice but rejected by serde_json.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Unmet::condition(
                &self.source,
                "a JSON body",
                "empty body",
                format!("body is empty, expected JSON — needed for {}", self.source),
            ));
        }
        serde_json::from_slice(body).map_err(|err| {
            Unmet::condition(
                &self.source,
                "a JSON body",
                "not JSON",
                format!("body is not JSON ({err}) — needed for {}", self.source),
            )
        })
    }

    /// Check this condition against an already-parsed JSON document.
    pub fn check_value(&self, root: &Value) -> Result<(), Unmet> {
        let nodes = self.path.query_located(root);
        let several = nodes.len() > 1;
        // With several nodes, say which one failed; the user's path alone would not tell.
        let subject = |location: &dyn fmt::Display| {
            if several {
                format!("{} at {location}", self.path_text)
            } else {
                self.path_text.clone()
            }
        };
        let Some(first) = nodes.first() else {
            if self.op == JsonOp::NotExists {
                return Ok(());
            }
            return Err(Unmet::condition(
                &self.source,
                self.expected(None),
                "missing",
                format!("{} is missing from the JSON body", self.path_text),
            ));
        };
        let value = match (self.op, &self.value) {
            (JsonOp::Exists, _) => return Ok(()),
            (JsonOp::NotExists, _) => {
                let shown = show(first.node());
                return Err(Unmet::condition(
                    &self.source,
                    "absent",
                    shown.clone(),
                    format!(
                        "{} is present ({shown}), expected it to be absent",
                        subject(first.location())
                    ),
                ));
            }
            (_, Some(value)) => value,
            // Parsing guarantees a value for every comparison.
            (_, None) => return Ok(()),
        };
        for node in nodes.iter() {
            let actual = node.node();
            let (holds, mismatch) = match self.op {
                JsonOp::Eq => (json_eq(actual, value), false),
                JsonOp::Ne => (!json_eq(actual, value), false),
                _ => match order(actual, value) {
                    Some(ordering) => (self.op.accepts(ordering), false),
                    None => (false, true),
                },
            };
            if holds {
                continue;
            }
            let (expected, shown) = if mismatch {
                let shown = match actual {
                    Value::Null => "null".to_string(),
                    other => format!("{} ({})", show(other), kind(other)),
                };
                (self.expected(Some(kind(value))), shown)
            } else {
                (self.expected(None), show(actual))
            };
            return Err(Unmet::condition(
                &self.source,
                expected.clone(),
                shown.clone(),
                format!(
                    "{} is {shown}, expected {expected}",
                    subject(node.location())
                ),
            ));
        }
        Ok(())
    }

    /// What would satisfy the condition, as the words after "expected"; `kind` names the
    /// value's type when the actual one had another.
    fn expected(&self, kind: Option<&str>) -> String {
        let value = self.value.as_ref().map(show).unwrap_or_default();
        let phrase = match self.op {
            JsonOp::Eq => value,
            JsonOp::Ne => format!("anything but {value}"),
            JsonOp::Exists => "present".to_string(),
            JsonOp::NotExists => "absent".to_string(),
            op => format!("{op} {value}"),
        };
        match kind {
            Some(kind) => format!("{kind} {phrase}"),
            None => phrase,
        }
    }
}

impl FromStr for JsonCondition {
    type Err = ConditionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JsonCondition::parse(s)
    }
}

impl fmt::Display for JsonCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Split at the first operator outside brackets and quotes, left to right:
/// `(path, op, rest)`, both sides trimmed.
fn split(source: &str) -> Result<(&str, JsonOp, &str), ConditionParseError> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in source.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' | '(' => {
                depth += 1;
                if depth > MAX_PATH_NESTING {
                    return Err(ConditionParseError::InvalidJsonPath {
                        path: shorten(source),
                        message: format!("nested more than {MAX_PATH_NESTING} levels deep"),
                    });
                }
            }
            ']' | ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            c if c.is_whitespace() => {
                // `exists` / `!exists` are words, so they need a space before them and
                // nothing glued after them.
                let after = source[i..].trim_start();
                for op in [JsonOp::Exists, JsonOp::NotExists] {
                    if let Some(rest) = after.strip_prefix(op.as_str()) {
                        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                            return Ok((source[..i].trim(), op, rest.trim()));
                        }
                    }
                }
            }
            '=' | '!' | '<' | '>' => {
                let tail = &source[i..];
                let (op, len) = if tail.starts_with("==") {
                    (JsonOp::Eq, 2)
                } else if tail.starts_with("!=") {
                    (JsonOp::Ne, 2)
                } else if tail.starts_with("<=") {
                    (JsonOp::Le, 2)
                } else if tail.starts_with(">=") {
                    (JsonOp::Ge, 2)
                } else if c == '<' {
                    (JsonOp::Lt, 1)
                } else if c == '>' {
                    (JsonOp::Gt, 1)
                } else if c == '=' {
                    return Err(ConditionParseError::SingleEquals);
                } else {
                    // A lone '!' is not an operator; let the path parser complain.
                    continue;
                };
                return Ok((source[..i].trim(), op, tail[len..].trim()));
            }
            _ => {}
        }
    }
    // An unclosed bracket or quote hides any operator after it; say that, not "no operator".
    let unclosed = match (quote, depth) {
        (Some(q), _) => Some(format!("a {q} quote is never closed")),
        (None, 1..) => Some("a '[' or '(' is never closed".to_string()),
        (None, 0) => None,
    };
    match unclosed {
        Some(message) => Err(ConditionParseError::InvalidJsonPath {
            path: shorten(source),
            message,
        }),
        None => Err(ConditionParseError::MissingOperator),
    }
}

/// A JSON literal, or a bare word taken as a string (see [`JsonCondition`]).
fn parse_value(text: &str) -> Result<Value, ConditionParseError> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(_) if is_bare_word(text) => Ok(Value::String(text.to_string())),
        Err(err) => Err(ConditionParseError::InvalidJsonValue {
            value: text.to_string(),
            message: err.to_string(),
        }),
    }
}

/// Starts with a letter or `_` (so a malformed number like `01` is an error, not a string)
/// and has no whitespace, quotes or brackets (so broken JSON is an error too).
fn is_bare_word(text: &str) -> bool {
    text.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && !text.contains(|c: char| c.is_whitespace() || "\"'[]{}".contains(c))
}

/// JSON equality, except that numbers compare by value (`1 == 1.0`), at any depth.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Order of two numbers or two strings; `None` for any other pair.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Numbers compare exactly, by their decimal text (serde_json's `arbitrary_precision` keeps
/// it): an f64 would blur large ids (`18446744073709551617 == 18446744073709551616`) and
/// long fractions alike.
fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    match (
        Decimal::parse(&a.to_string()),
        Decimal::parse(&b.to_string()),
    ) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// A JSON number as sign, significant digits and the power of ten of the last digit:
/// `-12.50e3` is negative, `125`, exponent 1. Zero has no digits (and no sign).
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i128,
}

impl Decimal {
    /// JSON number grammar only: `-? int (. frac)? ([eE] [+-]? digits)?`.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, "0"),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let exp_digits = exponent.trim_start_matches(['+', '-']);
        if !all_digits(int) || !all_digits(frac) || !all_digits(exp_digits) {
            return None;
        }
        // An exponent too large for i128 is far beyond any digits string: saturate.
        let magnitude: i128 = exp_digits.parse().unwrap_or(i128::MAX / 4);
        let exponent = if exponent.starts_with('-') {
            -magnitude
        } else {
            magnitude
        };
        let joined = format!("{int}{frac}");
        let digits = joined.trim_start_matches('0');
        let trimmed = digits.trim_end_matches('0');
        let exponent = exponent - frac.len() as i128 + (digits.len() - trimmed.len()) as i128;
        if trimmed.is_empty() {
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        Some(Decimal {
            negative,
            digits: trimmed.to_string(),
            exponent,
        })
    }

    /// The order of the absolute values.
    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // The power of ten of the leading digit decides, then the digits themselves.
        let lead = |d: &Decimal| d.exponent + d.digits.len() as i128;
        lead(self).cmp(&lead(other)).then_with(|| {
            let (a, b) = (self.digits.as_bytes(), other.digits.as_bytes());
            a.cmp(b)
        })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A value as compact JSON, capped for one message line.
fn show(value: &Value) -> String {
    shorten(&value.to_string())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn cond(text: &str) -> JsonCondition {
        JsonCondition::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn holds(text: &str, doc: Value) -> bool {
        cond(text).check_value(&doc).is_ok()
    }

    fn message(text: &str, doc: Value) -> String {
        cond(text).check_value(&doc).unwrap_err().to_string()
    }

    #[test]
    fn parses_parts() {
        let c = cond(r#"  $.status == "healthy"  "#);
        assert_eq!(c.as_str(), r#"$.status == "healthy""#);
        assert_eq!(c.path(), "$.status");
        assert_eq!(c.op(), JsonOp::Eq);
        assert_eq!(c.value(), Some(&json!("healthy")));
        assert_eq!(c.to_string(), r#"$.status == "healthy""#);
        let c = cond("$.count<=5");
        assert_eq!(
            (c.path(), c.op(), c.value()),
            ("$.count", JsonOp::Le, Some(&json!(5)))
        );
        let c = cond("$.db exists");
        assert_eq!(
            (c.path(), c.op(), c.value()),
            ("$.db", JsonOp::Exists, None)
        );
        let c = cond("$.maintenance   !exists ");
        assert_eq!((c.path(), c.op()), ("$.maintenance", JsonOp::NotExists));
    }

    #[test]
    fn eq_true_and_false() {
        let doc = json!({"status": "healthy"});
        assert!(holds(r#"$.status == "healthy""#, doc.clone()));
        assert!(!holds(r#"$.status == "degraded""#, doc));
    }

    #[test]
    fn ne_true_and_false() {
        let doc = json!({"status": "healthy"});
        assert!(holds(r#"$.status != "down""#, doc.clone()));
        assert!(!holds(r#"$.status != "healthy""#, doc.clone()));
        assert_eq!(
            message(r#"$.status != "healthy""#, doc),
            r#"$.status is "healthy", expected anything but "healthy""#
        );
    }

    #[test]
    fn ordering_operators_true_and_false() {
        let doc = json!({"n": 5, "name": "beta"});
        let cases = [
            ("$.n < 6", true),
            ("$.n < 5", false),
            ("$.n <= 5", true),
            ("$.n <= 4.9", false),
            ("$.n > 4.5", true),
            ("$.n > 5", false),
            ("$.n >= 5", true),
            ("$.n >= 6", false),
            (r#"$.name > "alpha""#, true),
            (r#"$.name < "alpha""#, false),
            (r#"$.name >= "beta""#, true),
            (r#"$.name <= "b""#, false),
        ];
        for (text, expected) in cases {
            assert_eq!(holds(text, doc.clone()), expected, "{text}");
        }
        assert_eq!(message("$.n < 5", doc), "$.n is 5, expected < 5");
    }

    #[test]
    fn exists_and_not_exists() {
        let doc = json!({"db": {"ok": true}, "flag": null});
        assert!(holds("$.db exists", doc.clone()));
        assert!(holds("$.flag exists", doc.clone()), "null is present");
        assert!(!holds("$.cache exists", doc.clone()));
        assert!(holds("$.cache !exists", doc.clone()));
        assert!(!holds("$.db !exists", doc.clone()));
        assert_eq!(
            message("$.db !exists", doc),
            r#"$.db is present ({"ok":true}), expected it to be absent"#
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(holds("$.n == 1.0", json!({"n": 1})));
        assert!(holds("$.n == 1", json!({"n": 1.0})));
        assert!(!holds("$.n != 1", json!({"n": 1.0})));
        assert!(holds(
            "$.a == [1, {\"b\": 2.0}]",
            json!({"a": [1.0, {"b": 2}]})
        ));
        assert!(holds("$.n == -3", json!({"n": -3})));
        // Large integers are not blurred through f64.
        assert!(!holds(
            "$.id == 9007199254740993",
            json!({"id": 9007199254740992u64})
        ));
        assert!(holds(
            "$.id > 9007199254740992",
            json!({"id": 18446744073709551615u64})
        ));
    }

    /// Beyond 2^64 and in long fractions too: no number is blurred through f64.
    #[test]
    fn numbers_beyond_u64_and_f64_compare_exactly() {
        let body = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
        let doc = body(r#"{"n": 18446744073709551617, "f": 0.10000000000000000001, "m": -1e400}"#);
        assert!(!holds("$.n == 18446744073709551616", doc.clone()));
        assert!(holds("$.n == 18446744073709551617", doc.clone()));
        assert!(holds("$.n > 18446744073709551616", doc.clone()));
        assert!(holds("$.n == 1.8446744073709551617e19", doc.clone()));
        assert!(!holds("$.f == 0.1", doc.clone()));
        assert!(holds("$.f > 0.1", doc.clone()));
        assert!(holds("$.m < -1e399", doc.clone()));
        assert!(holds("$.m == -10e399", doc));
        assert_eq!(
            message(
                "$.n == 18446744073709551616",
                body(r#"{"n": 18446744073709551617}"#)
            ),
            "$.n is 18446744073709551617, expected 18446744073709551616"
        );
    }

    #[test]
    fn decimals_order_by_value() {
        let d = |t: &str| Decimal::parse(t).unwrap();
        assert_eq!(d("0"), d("-0.000e5"));
        assert_eq!(d("1.50"), d("15e-1"));
        assert!(d("-2") < d("-1.5"));
        assert!(d("0.001") < d("0.01"));
        assert!(d("99") < d("100"));
        assert!(d("-1") < d("0"));
        assert!(Decimal::parse("1.").is_none());
        assert!(Decimal::parse("e5").is_none());
    }

    #[test]
    fn mismatch_message_reads_well() {
        assert_eq!(
            message(r#"$.status == "healthy""#, json!({"status": "degraded"})),
            r#"$.status is "degraded", expected "healthy""#
        );
        let err = cond(r#"$.status == "healthy""#)
            .check_value(&json!({"status": "degraded"}))
            .unwrap_err();
        assert_eq!(
            err,
            Unmet::condition(
                r#"$.status == "healthy""#,
                r#""healthy""#,
                r#""degraded""#,
                r#"$.status is "degraded", expected "healthy""#
            )
        );
    }

    #[test]
    fn missing_field_fails_every_op_but_not_exists() {
        let doc = json!({"other": 1});
        for text in [
            "$.status == 1",
            "$.status != 1",
            "$.status < 1",
            "$.status <= 1",
            "$.status > 1",
            "$.status >= 1",
            "$.status exists",
        ] {
            assert_eq!(
                message(text, doc.clone()),
                "$.status is missing from the JSON body",
                "{text}"
            );
        }
        assert!(holds("$.status !exists", doc));
        let err = cond("$.status == 1").check_value(&json!({})).unwrap_err();
        let Unmet::Condition {
            actual, expected, ..
        } = err
        else {
            panic!()
        };
        assert_eq!((actual.as_str(), expected.as_str()), ("missing", "1"));
    }

    #[test]
    fn type_mismatch_for_ordering() {
        assert_eq!(
            message("$.count < 5", json!({"count": "abc"})),
            r#"$.count is "abc" (a string), expected a number < 5"#
        );
        assert_eq!(
            message(r#"$.v >= "m""#, json!({"v": 7})),
            r#"$.v is 7 (a number), expected a string >= "m""#
        );
        assert_eq!(
            message("$.count < 5", json!({"count": null})),
            "$.count is null, expected a number < 5"
        );
        // Equality across types is simply unequal, not a mismatch.
        assert_eq!(
            message("$.n == 1", json!({"n": "1"})),
            r#"$.n is "1", expected 1"#
        );
    }

    #[test]
    fn non_json_body() {
        let c = cond(r#"$.status == "healthy""#);
        assert_eq!(
            c.check_body(b"<html>").unwrap_err().to_string(),
            r#"body is not JSON (expected value at line 1 column 1) — needed for $.status == "healthy""#
        );
        let Unmet::Condition { actual, .. } = c.check_body(b"oops").unwrap_err() else {
            panic!()
        };
        assert_eq!(actual, "not JSON");
        assert_eq!(
            c.check_body(b"  \n").unwrap_err().to_string(),
            r#"body is empty, expected JSON — needed for $.status == "healthy""#
        );
        assert_eq!(
            c.check_body(b"\xEF\xBB\xBF{\"status\":\"healthy\"}"),
            Ok(())
        );
    }

    #[test]
    fn every_node_must_hold_and_the_first_failure_is_named() {
        let doc = json!({"checks": [{"ok": true}, {"ok": false}, {"ok": false}]});
        assert!(!holds("$.checks[*].ok == true", doc.clone()));
        assert!(holds("$.checks[0].ok == true", doc.clone()));
        assert_eq!(
            message("$.checks[*].ok == true", doc),
            "$.checks[*].ok at $['checks'][1]['ok'] is false, expected true"
        );
        assert!(holds(
            "$.checks[*].ok == true",
            json!({"checks": [{"ok": true}, {"ok": true}]})
        ));
        assert!(holds("$..n >= 1", json!({"a": {"n": 1}, "b": [{"n": 2}]})));
    }

    #[test]
    fn paths_may_hold_spaces_and_operators_in_filters_and_quotes() {
        let doc = json!({"items": [{"name": "a b", "ok": true}, {"name": "c", "ok": false}],
                         "odd key == x": 3, "a<b": "y"});
        let c = cond("$.items[?@.name == 'a b'].ok == true");
        assert_eq!(c.path(), "$.items[?@.name == 'a b'].ok");
        assert_eq!(c.op(), JsonOp::Eq);
        assert!(c.check_value(&doc).is_ok());
        assert!(holds(
            "$.items[?(@.ok != true && @.name >= 'c')].name == \"c\"",
            doc.clone()
        ));
        assert!(holds("$['odd key == x'] > 2", doc.clone()));
        assert!(holds(r#"$["a<b"] == "y""#, doc.clone()));
        assert!(holds(r#"$['it\'s'] !exists"#, doc.clone()));
        assert!(holds("$.items[?@.name == 'exists'] !exists", doc));
    }

    #[test]
    fn value_may_contain_operators() {
        let c = cond(r#"$.cmp == "a <= b""#);
        assert_eq!(c.value(), Some(&json!("a <= b")));
        assert!(c.check_value(&json!({"cmp": "a <= b"})).is_ok());
    }

    #[test]
    fn bare_word_is_a_string() {
        let c = cond("$.status == healthy");
        assert_eq!(c.value(), Some(&json!("healthy")));
        assert!(c.check_value(&json!({"status": "healthy"})).is_ok());
        assert_eq!(cond("$.v >= v1.2").value(), Some(&json!("v1.2")));
        // JSON literals keep their meaning.
        assert_eq!(cond("$.ok == true").value(), Some(&json!(true)));
        assert_eq!(cond("$.x == null").value(), Some(&Value::Null));
        assert!(holds("$.x == null", json!({"x": null})));
        assert_eq!(
            cond(r#"$.o == {"a": [1]}"#).value(),
            Some(&json!({"a": [1]}))
        );
    }

    #[test]
    fn parse_error_no_operator() {
        for text in ["$.status", "$.status healthy", "", "   ", "$.a existsx"] {
            assert_eq!(
                JsonCondition::parse(text).unwrap_err(),
                ConditionParseError::MissingOperator,
                "{text:?}"
            );
        }
        assert_eq!(
            ConditionParseError::MissingOperator.to_string(),
            r#"no operator found; expected PATH OP VALUE, e.g. '$.status == "healthy"' or '$.db exists' (OP is one of == != < <= > >=)"#
        );
    }

    #[test]
    fn parse_error_single_equals() {
        assert_eq!(
            JsonCondition::parse("$.status = ok").unwrap_err(),
            ConditionParseError::SingleEquals
        );
    }

    #[test]
    fn parse_error_empty_path_or_value() {
        assert_eq!(
            JsonCondition::parse(r#"== "x""#).unwrap_err().to_string(),
            "the JSON path before == is empty; start it with $, e.g. '$.status == ...'"
        );
        assert_eq!(
            JsonCondition::parse("exists").unwrap_err(),
            ConditionParseError::MissingOperator,
            "no space before the keyword"
        );
        assert_eq!(
            JsonCondition::parse("$.status ==  ")
                .unwrap_err()
                .to_string(),
            r#"nothing to compare with after ==; give a JSON value, e.g. '$.status == "healthy"' or '$.count == 5'"#
        );
    }

    #[test]
    fn parse_error_trailing_after_exists() {
        assert_eq!(
            JsonCondition::parse("$.db exists true")
                .unwrap_err()
                .to_string(),
            r#"unexpected "true" after exists; write just 'PATH exists'"#
        );
    }

    #[test]
    fn parse_error_path_not_rooted() {
        assert_eq!(
            JsonCondition::parse(r#"status == "ok""#)
                .unwrap_err()
                .to_string(),
            r#"JSON path "status" must start with $, e.g. '$.status'"#
        );
        assert_eq!(
            JsonCondition::parse(".status == 1").unwrap_err(),
            ConditionParseError::PathNotRooted {
                path: ".status".into(),
                suggestion: "$.status".into()
            }
        );
        assert_eq!(
            JsonCondition::parse("[0] == 1").unwrap_err(),
            ConditionParseError::PathNotRooted {
                path: "[0]".into(),
                suggestion: "$[0]".into()
            }
        );
    }

    #[test]
    fn parse_error_invalid_json_path_includes_parser_message() {
        let err = JsonCondition::parse("$.items[ == 1").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid JSON path "$.items[ == 1": a '[' or '(' is never closed; see RFC 9535, e.g. '$.items[0].name' or "$['my key']""#
        );
        let err = JsonCondition::parse("$['a == 1").unwrap_err();
        assert!(
            err.to_string().contains("a ' quote is never closed"),
            "{err}"
        );
        let err = JsonCondition::parse("$..  == 1").unwrap_err();
        assert!(
            matches!(err, ConditionParseError::InvalidJsonPath { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(r#"invalid JSON path "$..": at position"#),
            "{err}"
        );
    }

    #[test]
    fn parse_error_deep_nesting_is_refused_before_the_path_parser() {
        let text = format!("$[?{}@.a{}] exists", "(".repeat(10_000), ")".repeat(10_000));
        let err = JsonCondition::parse(&text).unwrap_err();
        assert!(
            err.to_string().contains("nested more than 32 levels"),
            "{err}"
        );
    }

    #[test]
    fn parse_error_invalid_value() {
        let err = JsonCondition::parse("$.status == 'healthy'").unwrap_err();
        assert!(
            matches!(err, ConditionParseError::InvalidJsonValue { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(r#"quote strings with double quotes, e.g. "healthy""#),
            "{err}"
        );
        for text in [
            "$.s == not healthy",
            "$.n == 01",
            r#"$.s == "open"#,
            "$.a == [1,",
        ] {
            assert!(
                matches!(
                    JsonCondition::parse(text),
                    Err(ConditionParseError::InvalidJsonValue { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn parse_error_ordering_needs_number_or_string() {
        for text in [
            "$.a < true",
            "$.a >= null",
            "$.a > [1]",
            r#"$.a <= {"b":1}"#,
        ] {
            assert!(
                matches!(
                    JsonCondition::parse(text),
                    Err(ConditionParseError::UnorderedValue { .. })
                ),
                "{text}"
            );
        }
        assert_eq!(
            JsonCondition::parse("$.a < true").unwrap_err().to_string(),
            "< needs a number or a string to compare with, not true; e.g. '$.count < 5'"
        );
    }

    #[test]
    fn long_values_are_capped_in_messages() {
        let long = "x".repeat(500);
        let err = cond(r#"$.s == "ok""#)
            .check_value(&json!({"s": long}))
            .unwrap_err();
        let Unmet::Condition { actual, reason, .. } = err else {
            panic!()
        };
        assert_eq!(actual.chars().count(), 80);
        assert!(actual.ends_with('…'));
        assert!(reason.len() < 200);
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_strings(text in any::<String>()) {
            let _ = JsonCondition::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_condition_like_strings(
            text in r#"[$@.a-z0-9 '"\\\[\]()?*=!<>,:{}-]{0,40}"#
        ) {
            if let Ok(c) = JsonCondition::parse(&text) {
                let _ = c.check_value(&serde_json::json!({"a": [1, "b", null, {"c": true}]}));
            }
        }
    }
}
