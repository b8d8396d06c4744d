//! Latency percentiles of a watch, failures included (a sample that timed out after 3 s is a
//! 3 s sample, not a missing one). An HDR histogram keeps memory flat whatever the count.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Recorded latencies, microsecond resolution, three significant figures.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
}

/// The percentiles a report shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Latencies recorded; all the others are zero when this is.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The largest recorded.
    pub max: Duration,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            histogram: Histogram::new(3).expect("3 significant figures is a valid precision"),
        }
    }
}

impl LatencyRecorder {
    /// Add one latency (kept to 3 significant figures, at microsecond resolution).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // An auto-resizing histogram accepts any value; saturate rather than fail.
        let _ = self.histogram.record(micros);
    }

    /// The percentiles of what was recorded so far (all zero when nothing was).
    pub fn summary(&self) -> LatencySummary {
        if self.histogram.is_empty() {
            return LatencySummary::default();
        }
        let at = |q: f64| Duration::from_micros(self.histogram.value_at_quantile(q));
        LatencySummary {
            count: self.histogram.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: Duration::from_micros(self.histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_order() {
        let mut r = LatencyRecorder::default();
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms));
        }
        let s = r.summary();
        assert_eq!(s.count, 100);
        assert!(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
        let near = |d: Duration, ms: u64| (d.as_millis() as i64 - ms as i64).abs() <= 1;
        assert!(
            near(s.p50, 50) && near(s.p99, 99) && near(s.max, 100),
            "{s:?}"
        );
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(
            LatencyRecorder::default().summary(),
            LatencySummary::default()
        );
    }
}
