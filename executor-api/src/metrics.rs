//! Job counters and their snapshot.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::sync::{AtomicU64, CachePadded as Padded};

/// A snapshot of an executor's job counters.
///
/// Each field is read separately, so a snapshot taken while jobs run may be a
/// few events apart across fields. Once the executor is quiet (for example
/// after [`join`](crate::Executor::join)) every job that was accepted has
/// ended, and
/// `submitted == completed + cancelled + panicked + queued + running` holds
/// with `queued == running == 0`.
///
/// # Examples
///
/// ```
/// let metrics = executor_api::Metrics::default();
/// assert_eq!(metrics.in_flight(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Jobs accepted since the executor was built.
    pub submitted: u64,
    /// Accepted jobs that have not started yet.
    pub queued: u64,
    /// Jobs that have started and not yet ended.
    pub running: u64,
    /// Jobs that finished and produced a value.
    pub completed: u64,
    /// Jobs that ended cancelled (handle dropped or cancelled, or immediate
    /// shutdown), whether they had started or not.
    pub cancelled: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Submissions rejected because the executor was shutting down. They are
    /// not counted in `submitted`.
    pub rejected: u64,
    /// Polls that the watchdog saw run longer than its threshold without
    /// yielding (each long poll counts once). See the backend builder's
    /// `watchdog` setting.
    pub stalled_polls: u64,
}

impl Metrics {
    /// Jobs accepted and not yet ended: `queued + running`.
    pub fn in_flight(&self) -> u64 {
        self.queued + self.running
    }
}

/// How a job ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Completed,
    Cancelled,
    Panicked,
}

/// The live counters behind [`Metrics`].
///
/// Only monotonic counters are stored, each written by one side: submitters
/// write `submitted` and `rejected`, workers `started` and the endings. The
/// gauges are derived (`queued = submitted - started`, `running = started -
/// ended`), which saves two contended writes per job. No decision is taken
/// on these counters (the drain uses `Shared::jobs`); increments are
/// `Release` and the snapshot reads endings, then `started`, then
/// `submitted` with `Acquire`, so that a job's later counter is never seen
/// without its earlier ones and the gauges never go negative.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submitted: Padded<AtomicU64>,
    rejected: AtomicU64,
    started: Padded<AtomicU64>,
    endings: Padded<[AtomicU64; 3]>,
    stalled_polls: AtomicU64,
}

impl Counters {
    pub(crate) fn submitted(&self) {
        self.submitted.0.fetch_add(1, Release);
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
    }

    pub(crate) fn stalled_poll(&self) {
        self.stalled_polls.fetch_add(1, Relaxed);
    }

    pub(crate) fn started(&self) {
        self.started.0.fetch_add(1, Release);
    }

    pub(crate) fn ended(&self, started: bool, ending: Ending) {
        if !started {
            // A job that ends unstarted counts as started and ended at once,
            // so that it leaves `queued` without entering `running`.
            self.started.0.fetch_add(1, Release);
        }
        self.endings.0[ending as usize].fetch_add(1, Release);
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        let completed = self.endings.0[Ending::Completed as usize].load(Acquire);
        let cancelled = self.endings.0[Ending::Cancelled as usize].load(Acquire);
        let panicked = self.endings.0[Ending::Panicked as usize].load(Acquire);
        let started = self.started.0.load(Acquire);
        let submitted = self.submitted.0.load(Acquire);
        let ended = completed + cancelled + panicked;
        Metrics {
            submitted,
            queued: submitted.saturating_sub(started),
            running: started.saturating_sub(ended),
            completed,
            cancelled,
            panicked,
            rejected: self.rejected.load(Relaxed),
            stalled_polls: self.stalled_polls.load(Relaxed),
        }
    }
}
