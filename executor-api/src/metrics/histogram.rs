//! [`DurationHistogram`]: a distribution of durations, recorded without
//! locks on the workers and read as a snapshot.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::sync::AtomicU64;

/// Buckets: up to 1 µs, then doubling to 2^25 µs (about 33.5 s), then one
/// for everything longer.
const BUCKETS: usize = 27;

/// The upper bound of bucket `index`, in nanoseconds (`u64::MAX` for the
/// last).
fn upper_bound_ns(index: usize) -> u64 {
    if index + 1 == BUCKETS {
        u64::MAX
    } else {
        1_000 << index
    }
}

/// The bucket a duration of `ns` nanoseconds falls in: the first whose
/// upper bound is at least `ns`.
fn bucket_of(ns: u64) -> usize {
    let micros = ns.div_ceil(1_000).max(1);
    // ceil(log2(micros)): 1 -> 0, 2 -> 1, 3 and 4 -> 2, ...
    let index = (u64::BITS - (micros - 1).leading_zeros()) as usize;
    index.min(BUCKETS - 1)
}

/// The live histogram: one counter per bucket, and the sum.
#[derive(Debug, Default)]
pub(crate) struct AtomicHistogram {
    counts: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    /// Records one duration of `ns` nanoseconds.
    pub(crate) fn record(&self, ns: u64) {
        self.counts[bucket_of(ns)].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Adds what this histogram recorded to `total`.
    pub(crate) fn add_to(&self, total: &mut DurationHistogram) {
        if total.counts.is_empty() {
            total.counts = vec![0; BUCKETS];
        }
        for (sum, count) in total.counts.iter_mut().zip(&self.counts) {
            *sum += count.load(Relaxed);
        }
        total.sum += Duration::from_nanos(self.sum_ns.load(Relaxed));
    }

    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> DurationHistogram {
        let mut snapshot = DurationHistogram::default();
        self.add_to(&mut snapshot);
        snapshot
    }
}

/// A snapshot of a distribution of durations, in buckets that double from
/// 1 µs to about 33.5 s (and one for longer): a job class's queue waits or
/// poll times ([`ClassMetrics`](crate::ClassMetrics)).
///
/// Each bucket is read separately while jobs run, so a snapshot may be a
/// few events apart across buckets.
///
/// # Examples
///
/// ```
/// let histogram = executor_api::DurationHistogram::default();
/// assert_eq!(histogram.count(), 0);
/// assert_eq!(histogram.quantile(0.99), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationHistogram {
    counts: Vec<u64>,
    sum: Duration,
}

impl DurationHistogram {
    /// Every bucket, shortest first: its upper bound (inclusive;
    /// [`Duration::MAX`] for the last) and how many durations fell in it
    /// (not cumulative).
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.counts.iter().enumerate().map(|(index, &count)| {
            let bound = match upper_bound_ns(index) {
                u64::MAX => Duration::MAX,
                ns => Duration::from_nanos(ns),
            };
            (bound, count)
        })
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of every duration recorded.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// An upper bound for quantile `q` (`0.0..=1.0`): the upper bound of the
    /// bucket it falls in, so at most twice the true value. `None` when
    /// nothing was recorded or `q` is outside `0.0..=1.0`.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The rank of the q-quantile, 1-based.
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        self.buckets().find_map(|(bound, bucket)| {
            seen += bucket;
            (seen >= rank).then_some(bound)
        })
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_in_the_first_bucket_that_holds_them() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1_000), 0);
        assert_eq!(bucket_of(1_001), 1);
        assert_eq!(bucket_of(2_000), 1);
        assert_eq!(bucket_of(3_000), 2);
        assert_eq!(bucket_of(4_000), 2);
        assert_eq!(bucket_of(1_000 << 25), 25);
        assert_eq!(bucket_of((1_000 << 25) + 1), 26);
        assert_eq!(bucket_of(u64::MAX), 26);
        for index in 0..BUCKETS - 1 {
            assert_eq!(bucket_of(upper_bound_ns(index)), index);
            assert_eq!(bucket_of(upper_bound_ns(index) + 1), index + 1);
        }
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let live = AtomicHistogram::default();
        for _ in 0..99 {
            live.record(1_500);
        }
        live.record(1_000_000);
        let histogram = live.snapshot();
        assert_eq!(histogram.count(), 100);
        assert_eq!(
            histogram.sum(),
            Duration::from_nanos(99 * 1_500 + 1_000_000)
        );
        assert_eq!(histogram.quantile(0.5), Some(Duration::from_micros(2)));
        assert_eq!(histogram.quantile(0.99), Some(Duration::from_micros(2)));
        assert_eq!(histogram.quantile(1.0), Some(Duration::from_micros(1_024)));
        assert_eq!(histogram.quantile(1.5), None);
        assert_eq!(histogram.buckets().count(), BUCKETS);
        assert_eq!(
            histogram.buckets().last().map(|(bound, _)| bound),
            Some(Duration::MAX)
        );
    }
}
