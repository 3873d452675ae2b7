//! [`WorkloadClass`]: a kind of work that shares the executor's CPU with
//! the others by weight, optionally capped and with bounded admission.

use std::sync::Arc;
use std::time::Duration;

/// The name of the class that jobs without a class go to.
///
/// Every executor has it. Configure it like any other class by passing
/// [`WorkloadClass::new(DEFAULT_CLASS)`](WorkloadClass::new) to
/// [`Builder::class`](crate::Builder::class); otherwise it has weight 1, no
/// cap and no admission bound.
pub const DEFAULT_CLASS: &str = "default";

/// How long a capped class's budget accumulates unless
/// [`WorkloadClass::cap_window`] says otherwise.
pub const DEFAULT_CAP_WINDOW: Duration = Duration::from_millis(100);

/// A kind of work (interactive queries, compaction, ingest, one tenant):
/// its share of the executor's worker time, an optional hard cap, and how
/// much of it may wait.
///
/// Add classes with [`Builder::class`](crate::Builder::class); submit to one
/// with [`JobBuilder::class`](crate::JobBuilder::class).
///
/// # Sharing
///
/// When several classes have runnable jobs, each gets worker time in
/// proportion to its [`weight`](Self::weight), measured in the time its
/// jobs' polls take (a class of long chunks cannot crowd out a class of
/// short ones). The sharing is work-conserving: a class alone uses the
/// whole pool, and a class that was idle does not bank the time it did
/// not use. Within a class, jobs start in the order they were submitted.
///
/// The executor chooses the next job when a worker finishes a poll: a
/// poll that never yields keeps its worker for as long as it runs, and
/// its class is charged for all of it afterwards (it then waits until the
/// others have caught up). Long jobs take part by yielding, for example
/// with [`yield_if_needed`](crate::yield_if_needed) between chunks.
///
/// A poll's time is about the CPU time its worker thread ran during it,
/// not its wall-clock length: a worker the OS preempted mid-poll (the
/// workers run at low priority, on a host that may be busy) does not
/// charge its class for the whole wait. Each poll is charged its wall time
/// times the share of its thread's polling time that the thread ran in
/// the last 10 ms window (its CPU clock is read once a window: reading it
/// at every poll cost the I/O runtime's tail latency), at least a quarter;
/// so a charge is off by the host's drift in load over a window. Work a
/// job hands to other threads (the pieces of a `par_iter` that other pool
/// threads steal, `tokio::spawn`) is charged to no class, unless the job
/// attributes it to itself ([`JobScope::attribute`](crate::JobScope::attribute):
/// `executor-datafusion` does for DataFusion's tasks): weights and caps
/// govern what jobs' polls, and their attributed tasks' polls, run.
///
/// Past 64 classes, the next class is chosen from ordered sets instead of
/// a scan of every class, so a job costs about the same whatever the number
/// of classes; a class is found by name through a map.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use executor_api::{Executor, JobError, WorkloadClass};
/// use executor_tokio::DedicatedExecutor;
///
/// let executor = DedicatedExecutor::builder()
///     .class(WorkloadClass::new("query").weight(8).max_queued(1_000))
///     .class(
///         WorkloadClass::new("compaction")
///             .weight(1)
///             .cap(0.5) // at most half a core, even when the pool is idle
///             .max_queue_wait(Duration::from_secs(60)),
///     )
///     .build()?;
///
/// let answer = executor.job().class("query").spawn(async { 42 });
/// let merged = executor.job().class("compaction").spawn_cpu(|_| "merged");
/// assert_eq!(futures::executor::block_on(answer), Ok(42));
/// assert_eq!(futures::executor::block_on(merged), Ok("merged"));
///
/// // A class that does not exist is an error, never a panic.
/// let lost = executor.job().class("ingest").spawn(async { 1 });
/// assert!(matches!(futures::executor::block_on(lost), Err(JobError::UnknownClass { .. })));
/// # executor.shutdown();
/// # Ok::<(), executor_api::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadClass {
    pub(crate) name: Arc<str>,
    pub(crate) weight: u32,
    pub(crate) cap: Option<f64>,
    pub(crate) cap_window: Duration,
    pub(crate) max_queued: Option<usize>,
    pub(crate) max_queue_wait: Option<Duration>,
}

impl WorkloadClass {
    /// A class named `name`, with weight 1, no cap and no admission bound.
    ///
    /// # Errors
    ///
    /// [`Builder::build`](crate::Builder::build) returns
    /// [`BuildError::InvalidClass`](crate::BuildError::InvalidClass) for an
    /// empty name, one with control characters, or a name that two classes
    /// share.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        WorkloadClass {
            name: name.into(),
            weight: 1,
            cap: None,
            cap_window: DEFAULT_CAP_WINDOW,
            max_queued: None,
            max_queue_wait: None,
        }
    }

    /// The class's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the class's weight: with other classes busy, it gets
    /// `weight / (sum of the busy classes' weights)` of the worker time.
    ///
    /// # Default
    ///
    /// 1.
    ///
    /// # Errors
    ///
    /// [`Builder::build`](crate::Builder::build) rejects a weight of 0 (the
    /// class would never run) or above 10 000.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Caps the class at `cores` cores' worth of worker time, even when the
    /// rest of the pool is idle: over any span of time `t`, its jobs' polls
    /// take at most `cores × (t + window)` of worker time (see
    /// [`cap_window`](Self::cap_window)), plus the poll each worker is in
    /// when the budget runs out. A capped class's jobs wait; they are never
    /// cancelled for it.
    ///
    /// A graceful shutdown keeps the cap (the class drains at its pace, or
    /// until [`shutdown_timeout`](crate::Executor::shutdown_timeout)'s
    /// deadline); an immediate one cancels its queued jobs at once.
    ///
    /// # Errors
    ///
    /// [`Builder::build`](crate::Builder::build) rejects a cap that is not a
    /// number from 0.001 (a thousandth of a core) to the executor's worker
    /// count.
    pub fn cap(mut self, cores: f64) -> Self {
        self.cap = Some(cores);
        self
    }

    /// How long a capped class's unused budget accumulates: after a quiet
    /// spell it may burst at up to the whole pool until it has used
    /// `cores × window`.
    ///
    /// # Default
    ///
    /// [`DEFAULT_CAP_WINDOW`] (100 ms).
    ///
    /// # Errors
    ///
    /// [`Builder::build`](crate::Builder::build) rejects a zero window.
    pub fn cap_window(mut self, window: Duration) -> Self {
        self.cap_window = window;
        self
    }

    /// Bounds the jobs that wait in this class for their first poll. Past
    /// the bound, a submission resolves at once to
    /// [`JobError::Overloaded`](crate::JobError::Overloaded) naming the class
    /// ([`Overload::QueueFull`](crate::Overload::QueueFull)); jobs that
    /// already started are never refused.
    ///
    /// # Default
    ///
    /// No bound: memory grows with what is queued.
    ///
    /// # Errors
    ///
    /// [`Builder::build`](crate::Builder::build) rejects 0.
    pub fn max_queued(mut self, jobs: usize) -> Self {
        self.max_queued = Some(jobs);
        self
    }

    /// The longest a job of this class may wait for its first poll. A job
    /// that reaches a worker later resolves to
    /// [`JobError::Overloaded`](crate::JobError::Overloaded)
    /// ([`Overload::WaitedTooLong`](crate::Overload::WaitedTooLong)) without
    /// having run. The wait is checked when the job reaches a worker.
    ///
    /// # Default
    ///
    /// None: jobs wait as long as it takes.
    ///
    /// # Errors
    ///
    /// [`Builder::build`](crate::Builder::build) rejects zero.
    pub fn max_queue_wait(mut self, wait: Duration) -> Self {
        self.max_queue_wait = Some(wait);
        self
    }
}
