//! Job counters and their snapshot.

use std::sync::atomic::Ordering::Relaxed;

use crate::sync::{AtomicU64, AtomicUsize};

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
/// They are statistics only: no decision is taken on them, so every access is
/// `Relaxed`. The drain is decided by `Core::jobs`, not by these.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submitted: AtomicU64,
    queued: AtomicUsize,
    running: AtomicUsize,
    completed: AtomicU64,
    cancelled: AtomicU64,
    panicked: AtomicU64,
    rejected: AtomicU64,
}

impl Counters {
    pub(crate) fn submitted(&self) {
        self.submitted.fetch_add(1, Relaxed);
        self.queued.fetch_add(1, Relaxed);
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
    }

    pub(crate) fn started(&self) {
        self.queued.fetch_sub(1, Relaxed);
        self.running.fetch_add(1, Relaxed);
    }

    pub(crate) fn ended(&self, started: bool, ending: Ending) {
        if started {
            self.running.fetch_sub(1, Relaxed);
        } else {
            self.queued.fetch_sub(1, Relaxed);
        }
        let counter = match ending {
            Ending::Completed => &self.completed,
            Ending::Cancelled => &self.cancelled,
            Ending::Panicked => &self.panicked,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        Metrics {
            submitted: self.submitted.load(Relaxed),
            queued: self.queued.load(Relaxed) as u64,
            running: self.running.load(Relaxed) as u64,
            completed: self.completed.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
        }
    }
}
