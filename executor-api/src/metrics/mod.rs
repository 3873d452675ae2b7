//! Job counters, executor-wide and per class, and their snapshots.

pub(crate) mod histogram;
#[cfg(feature = "prometheus")]
pub mod prometheus;

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

use crate::metrics::histogram::DurationHistogram;
use crate::sync::{AtomicU64, CachePadded as Padded};

/// A snapshot of an executor's job counters, over every class.
///
/// Each field is read separately, so a snapshot taken while jobs run may be a
/// few events apart across fields. Once the executor is quiet (for example
/// after [`join`](crate::Executor::join)) every job that was accepted has
/// ended, and
/// `submitted == completed + cancelled + panicked + expired + queued + running`
/// holds with `queued == running == 0`.
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
    /// Accepted jobs that waited longer than their class allows and ended
    /// without running ([`Overload::WaitedTooLong`](crate::Overload::WaitedTooLong)).
    pub expired: u64,
    /// Submissions refused because their class's queue was full
    /// ([`Overload::QueueFull`](crate::Overload::QueueFull)). They are not
    /// counted in `submitted`.
    pub overloaded: u64,
    /// Submissions rejected because the executor was shutting down. They are
    /// not counted in `submitted`.
    pub rejected: u64,
    /// Polls that the watchdog saw run longer than its threshold without
    /// yielding (each long poll counts once). See the backend builder's
    /// `watchdog` setting.
    pub stalled_polls: u64,
    /// Tasks that jobs handed to the executor's own Tokio runtime
    /// (`tokio::spawn` inside a job: DataFusion's repartitioning, for one)
    /// and that have not ended. They are not jobs (no handle; a class only
    /// when [attributed](crate::JobScope::attribute) to their job, see
    /// [`ClassMetrics::tasks`]), but they are the executor's work: a
    /// graceful shutdown waits for them.
    pub spawned_tasks: u64,
}

impl Metrics {
    /// The executor's work not yet ended: jobs accepted and not ended
    /// (`queued + running`), and the tasks they spawned that are still
    /// alive (`spawned_tasks`). Zero means idle.
    pub fn in_flight(&self) -> u64 {
        self.queued + self.running + self.spawned_tasks
    }
}

/// A snapshot of one [workload class](crate::WorkloadClass)'s figures:
/// its settings, its jobs by outcome, the worker time its jobs used, and
/// how long they waited and ran ([`Executor::class_metrics`](crate::Executor::class_metrics)).
///
/// The counters follow the rules of [`Metrics`], per class.
///
/// # Examples
///
/// ```
/// use executor_api::Executor;
/// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
/// futures::executor::block_on(executor.spawn(async {})).unwrap();
/// let default = &executor.class_metrics()[0];
/// assert_eq!(default.name, executor_api::DEFAULT_CLASS);
/// assert_eq!(default.completed, 1);
/// assert_eq!(default.queue_wait.count(), 1);
/// # executor.shutdown();
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClassMetrics {
    /// The class's name.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// Its cap, in cores, if it has one.
    pub cap: Option<f64>,
    /// Jobs accepted into the class.
    pub submitted: u64,
    /// Accepted jobs that have not started yet.
    pub queued: u64,
    /// Jobs that have started and not yet ended.
    pub running: u64,
    /// Jobs that finished and produced a value.
    pub completed: u64,
    /// Jobs that ended cancelled.
    pub cancelled: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs that waited longer than the class allows and ended unrun.
    pub expired: u64,
    /// Submissions refused because the class's queue was full.
    pub overloaded: u64,
    /// Worker time the class's jobs used: the sum of their polls (and of
    /// their attributed tasks' polls, see `tasks`).
    pub worker_time: Duration,
    /// From submission to first poll, per started job.
    pub queue_wait: DurationHistogram,
    /// The length of each poll of the class's jobs and of their attributed
    /// tasks (a closure run with [`JobScope::run`](crate::JobScope::run)
    /// counts as one poll).
    pub poll_time: DurationHistogram,
    /// The class's live [job groups](crate::JobGroup) at each level, from
    /// level 0 (new groups) to the last
    /// ([`GROUP_LEVELS`](crate::GROUP_LEVELS)). A group moving between
    /// levels as this is read may be counted at both or neither.
    pub groups: Vec<usize>,
    /// Tasks alive that the class's jobs spawned and attributed to
    /// themselves with [`JobScope::attribute`](crate::JobScope::attribute)
    /// (`executor-datafusion` does, for DataFusion's tasks). Their polls
    /// count in `worker_time` and `poll_time`.
    pub tasks: u64,
}

/// How a job ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Completed,
    Cancelled,
    Panicked,
    Expired,
}

/// The live job counters of one class, behind [`Metrics`] and
/// [`ClassMetrics`].
///
/// Only monotonic counters are stored, each written by one side: submitters
/// write `submitted` and `overloaded`, workers `started` and the endings.
/// The gauges are derived (`queued = submitted - started`, `running =
/// started - ended`), which saves two contended writes per job. No decision
/// is taken on these counters (the drain uses `Shared::jobs`, admission its
/// class's `waiting`); increments are `Release` and the snapshot reads
/// endings, then `started`, then `submitted` with `Acquire`, so that a job's
/// later counter is never seen without its earlier ones and the gauges
/// never go negative.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submitted: Padded<AtomicU64>,
    overloaded: AtomicU64,
    started: Padded<AtomicU64>,
    endings: Padded<[AtomicU64; 4]>,
}

/// What one class's [`Counters`] hold, read once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CounterSnapshot {
    pub(crate) submitted: u64,
    pub(crate) queued: u64,
    pub(crate) running: u64,
    pub(crate) completed: u64,
    pub(crate) cancelled: u64,
    pub(crate) panicked: u64,
    pub(crate) expired: u64,
    pub(crate) overloaded: u64,
}

impl Counters {
    pub(crate) fn submitted(&self) {
        self.submitted.0.fetch_add(1, Release);
    }

    pub(crate) fn overloaded(&self) {
        self.overloaded.fetch_add(1, Relaxed);
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

    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        let ending = |ending: Ending| self.endings.0[ending as usize].load(Acquire);
        let completed = ending(Ending::Completed);
        let cancelled = ending(Ending::Cancelled);
        let panicked = ending(Ending::Panicked);
        let expired = ending(Ending::Expired);
        let started = self.started.0.load(Acquire);
        let submitted = self.submitted.0.load(Acquire);
        let ended = completed + cancelled + panicked + expired;
        CounterSnapshot {
            submitted,
            queued: submitted.saturating_sub(started),
            running: started.saturating_sub(ended),
            completed,
            cancelled,
            panicked,
            expired,
            overloaded: self.overloaded.load(Relaxed),
        }
    }
}

impl std::ops::AddAssign for CounterSnapshot {
    fn add_assign(&mut self, other: Self) {
        self.submitted += other.submitted;
        self.queued += other.queued;
        self.running += other.running;
        self.completed += other.completed;
        self.cancelled += other.cancelled;
        self.panicked += other.panicked;
        self.expired += other.expired;
        self.overloaded += other.overloaded;
    }
}

impl CounterSnapshot {
    /// The executor's [`Metrics`]: these counters summed over every class,
    /// with the executor-wide ones.
    pub(crate) fn into_metrics(self, rejected: u64, stalled_polls: u64) -> Metrics {
        Metrics {
            submitted: self.submitted,
            queued: self.queued,
            running: self.running,
            completed: self.completed,
            cancelled: self.cancelled,
            panicked: self.panicked,
            expired: self.expired,
            overloaded: self.overloaded,
            rejected,
            stalled_polls,
            // Only the executor knows its runtime: `Executor::metrics`
            // fills it in.
            spawned_tasks: 0,
        }
    }
}
