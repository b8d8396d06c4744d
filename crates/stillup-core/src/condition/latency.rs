//! The latency limit (`--max-latency`): how long an attempt took to get its answer — the
//! response for HTTP, the accepted connection for TCP, the health call's answer for gRPC —
//! compared with the limit.
//!
//! Owns only the comparison and its message; measuring the time is the prober's job and
//! parsing the duration is the CLI's.

use std::time::Duration;

use super::{human_duration, Unmet};

/// `Ok` when `latency` is within `limit` (an answer exactly at the limit passes); `what`
/// names the answer in the message ("response", "connection").
pub fn check(what: &str, latency: Duration, limit: Duration) -> Result<(), Unmet> {
    match over(what, latency, limit) {
        None => Ok(()),
        Some(o) => Err(Unmet::condition(
            o.condition,
            o.expected,
            o.actual,
            o.reason,
        )),
    }
}

/// An answer slower than the limit: the parts of its [`Unmet::Condition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    /// The condition, e.g. `latency < 200ms`.
    pub condition: String,
    /// The limit, e.g. `< 200ms`.
    pub expected: String,
    /// The measured latency, e.g. `350ms`.
    pub actual: String,
    /// Why it failed, in words.
    pub reason: String,
}

/// `Some` when `latency` is over `limit`, with the words to say so.
pub fn over(what: &str, latency: Duration, limit: Duration) -> Option<Over> {
    if latency <= limit {
        return None;
    }
    let max = human_duration(limit);
    let mut took = human_duration(latency);
    if took == max {
        // Rounded to the same text, "took 1s, more than 1s" would read as a bug.
        took = format!("{latency:?}");
    }
    Some(Over {
        condition: format!("latency <= {max}"),
        expected: format!("<= {max}"),
        reason: format!("{what} took {took}, more than the limit {max}"),
        actual: took,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_or_at_the_limit_passes() {
        let limit = Duration::from_millis(500);
        assert_eq!(check("response", Duration::from_millis(10), limit), Ok(()));
        assert_eq!(check("response", limit, limit), Ok(()));
    }

    #[test]
    fn over_the_limit_reads_well() {
        let u = check(
            "response",
            Duration::from_millis(1200),
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert_eq!(
            u.to_string(),
            "response took 1.2s, more than the limit 500ms"
        );
        assert_eq!(
            u,
            Unmet::condition("latency <= 500ms", "<= 500ms", "1.2s", u.to_string())
        );
    }

    #[test]
    fn the_message_names_what_was_slow() {
        let u = check(
            "connection",
            Duration::from_millis(30),
            Duration::from_millis(10),
        );
        assert_eq!(
            u.unwrap_err().to_string(),
            "connection took 30ms, more than the limit 10ms"
        );
    }

    #[test]
    fn just_over_the_limit_does_not_print_as_equal() {
        let u = check(
            "response",
            Duration::from_micros(1_000_400),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(
            u.to_string(),
            "response took 1.0004s, more than the limit 1s"
        );
    }
}
