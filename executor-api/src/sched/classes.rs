//! Workload classes at run time: each class's settings and live state
//! (admission, counters, poll statistics), and the table of an executor's
//! classes. Which class runs next, and what a poll is charged, is the
//! policy's (`sched::policy`); the run queues are `sched::queues`.
//!
//! # Admission
//!
//! A bounded class counts its *waiting* jobs (admitted, not yet started or
//! ended) and admits a job only while the count is below the bound.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::{Duration, Instant};

use crate::error::Overload;
use crate::metrics::histogram::{AtomicHistogram, DurationHistogram};
use crate::metrics::{ClassMetrics, CounterSnapshot, Counters, Ending};
use crate::sched::class::WorkloadClass;
use crate::sched::time_sharing::Levels;
use crate::sync::{AtomicU64, AtomicUsize, CachePadded};

/// A class of an executor, as a backend sees it: which of its queues a job
/// goes to ([`RunnableJob::class`](crate::backend::RunnableJob::class)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassIndex(pub(crate) u32);

impl ClassIndex {
    /// The default class (index 0).
    pub(crate) const DEFAULT: ClassIndex = ClassIndex(0);

    /// The position of the class, from 0, in the order the builder was
    /// given the classes (the default class first).
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// A cap, in the units the scheduler uses.
#[derive(Debug)]
pub(super) struct Cap {
    pub(super) cores: f64,
    pub(super) window_ns: u64,
}

/// One class's settings and live state.
#[derive(Debug)]
pub(crate) struct ClassState {
    pub(super) name: std::sync::Arc<str>,
    pub(super) weight: u32,
    pub(super) cap: Option<Cap>,
    pub(super) max_queued: Option<usize>,
    pub(super) max_queue_wait: Option<Duration>,
    /// Written by workers after every poll.
    pub(super) virtual_time: CachePadded<AtomicU64>,
    /// The cap's theoretical arrival time, in nanoseconds since the epoch.
    pub(super) tat: AtomicU64,
    /// Admitted jobs not yet started or ended, for `max_queued`.
    pub(super) waiting: CachePadded<AtomicUsize>,
    pub(super) counters: Counters,
    /// Tasks alive that the class's jobs spawned and attributed to their
    /// scope (`job::scope`).
    tasks: CachePadded<AtomicUsize>,
    /// Time-sharing between the class's job groups.
    levels: Levels,
    /// Written by every poll: striped, each worker thread writing a stripe
    /// of its own (see [`stripe`]), so that workers do not bounce one
    /// cache line between cores.
    pub(super) stats: Box<[CachePadded<PollStats>]>,
}

/// What each poll of a class's jobs records. The worker time is the
/// poll-time histogram's sum.
#[derive(Debug, Default)]
pub(super) struct PollStats {
    pub(super) queue_wait: AtomicHistogram,
    pub(super) poll_time: AtomicHistogram,
}

/// How many stripes a class's poll statistics have.
const STRIPES: usize = 16;

/// The stripe of the calling thread: threads take stripes in turn, once.
pub(super) fn stripe() -> usize {
    #[cfg(executor_loom)]
    {
        // Loom's threads share the OS thread's thread-locals; one stripe
        // is as correct as any.
        0
    }
    #[cfg(not(executor_loom))]
    {
        use std::cell::Cell;
        use std::sync::atomic::AtomicUsize as StdAtomicUsize;
        static NEXT: StdAtomicUsize = StdAtomicUsize::new(0);
        thread_local! {
            static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        STRIPE
            .try_with(|stripe| {
                if stripe.get() == usize::MAX {
                    stripe.set(NEXT.fetch_add(1, Relaxed) % STRIPES);
                }
                stripe.get()
            })
            .unwrap_or(0)
    }
}

/// The classes of one executor.
#[derive(Debug)]
pub(crate) struct ClassTable {
    pub(super) classes: Box<[ClassState]>,
    /// Each class's index by name: a lookup costs the same however many
    /// classes there are.
    pub(super) by_name: std::collections::HashMap<std::sync::Arc<str>, ClassIndex>,
    /// Timestamps are nanoseconds since this instant.
    pub(super) epoch: Instant,
    /// See the module docs.
    pub(super) floor: CachePadded<AtomicU64>,
    pub(super) capped: bool,
}

impl ClassTable {
    /// The table for validated classes, the default class first.
    pub(crate) fn new(classes: &[WorkloadClass]) -> Self {
        let classes: Box<[ClassState]> = classes
            .iter()
            .map(|class| ClassState {
                name: class.name.clone(),
                weight: class.weight,
                cap: class.cap.map(|cores| Cap {
                    cores,
                    window_ns: u64::try_from(class.cap_window.as_nanos()).unwrap_or(u64::MAX),
                }),
                max_queued: class.max_queued,
                max_queue_wait: class.max_queue_wait,
                virtual_time: CachePadded(AtomicU64::new(0)),
                tat: AtomicU64::new(0),
                waiting: CachePadded(AtomicUsize::new(0)),
                counters: Counters::default(),
                tasks: CachePadded(AtomicUsize::new(0)),
                levels: Levels::default(),
                stats: (0..STRIPES)
                    .map(|_| CachePadded(PollStats::default()))
                    .collect(),
            })
            .collect();
        let capped = classes.iter().any(|class| class.cap.is_some());
        let by_name = classes
            .iter()
            .enumerate()
            .map(|(index, class)| (class.name.clone(), ClassIndex(index as u32)))
            .collect();
        ClassTable {
            classes,
            by_name,
            epoch: Instant::now(),
            floor: CachePadded(AtomicU64::new(0)),
            capped,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.classes.len()
    }

    /// The class named `name`.
    pub(crate) fn lookup(&self, name: &str) -> Option<ClassIndex> {
        self.by_name.get(name).copied()
    }

    /// Whether any class is capped.
    pub(crate) fn is_capped(&self) -> bool {
        self.capped
    }

    /// Whether class `index` is capped.
    pub(crate) fn is_class_capped(&self, index: usize) -> bool {
        self.classes[index].cap.is_some()
    }

    /// Class `index`'s cap's theoretical arrival time (0 if uncapped).
    pub(crate) fn tat(&self, index: usize) -> u64 {
        self.classes[index].tat.load(Acquire)
    }

    /// The floor (see the module docs).
    pub(crate) fn floor(&self) -> u64 {
        self.floor.load(Relaxed)
    }

    pub(crate) fn class(&self, index: ClassIndex) -> &ClassState {
        &self.classes[index.get()]
    }

    /// Nanoseconds from the epoch to `instant`.
    pub(crate) fn nanos(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The executor-wide counters: every class's, summed.
    pub(crate) fn totals(&self) -> CounterSnapshot {
        let mut totals = CounterSnapshot::default();
        for class in &*self.classes {
            totals += class.counters.snapshot();
        }
        totals
    }

    pub(crate) fn metrics(&self) -> Vec<ClassMetrics> {
        self.classes
            .iter()
            .map(|class| {
                let counts = class.counters.snapshot();
                let mut queue_wait = DurationHistogram::default();
                let mut poll_time = DurationHistogram::default();
                for stats in &*class.stats {
                    stats.queue_wait.add_to(&mut queue_wait);
                    stats.poll_time.add_to(&mut poll_time);
                }
                ClassMetrics {
                    name: class.name.to_string(),
                    weight: class.weight,
                    cap: class.cap.as_ref().map(|cap| cap.cores),
                    submitted: counts.submitted,
                    queued: counts.queued,
                    running: counts.running,
                    completed: counts.completed,
                    cancelled: counts.cancelled,
                    panicked: counts.panicked,
                    expired: counts.expired,
                    overloaded: counts.overloaded,
                    worker_time: poll_time.sum(),
                    groups: class.levels.live().to_vec(),
                    tasks: class.tasks.load(Relaxed) as u64,
                    queue_wait,
                    poll_time,
                }
            })
            .collect()
    }
}

impl ClassState {
    pub(crate) fn name(&self) -> &std::sync::Arc<str> {
        &self.name
    }

    /// Time-sharing between the class's job groups.
    pub(crate) fn levels(&self) -> &Levels {
        &self.levels
    }

    /// A task of one of the class's jobs was attributed to its scope.
    pub(crate) fn task_started(&self) {
        self.tasks.fetch_add(1, Relaxed);
    }

    /// An attributed task was dropped.
    pub(crate) fn task_ended(&self) {
        self.tasks.fetch_sub(1, Relaxed);
    }

    /// Reserves a waiting slot for a new job, if the class is bounded.
    ///
    /// # Errors
    ///
    /// The class's bound, when it is full (counted as overloaded).
    pub(crate) fn reserve(&self) -> Result<(), Overload> {
        let Some(max_queued) = self.max_queued else {
            return Ok(());
        };
        match self.waiting.fetch_update(AcqRel, Acquire, |waiting| {
            (waiting < max_queued).then_some(waiting + 1)
        }) {
            Ok(_) => Ok(()),
            Err(_) => {
                self.counters.overloaded();
                Err(Overload::QueueFull { max_queued })
            }
        }
    }

    /// Gives back a slot taken by [`reserve`](Self::reserve): the job
    /// started, ended unstarted, or was never admitted.
    pub(crate) fn release(&self) {
        if self.max_queued.is_some() {
            self.waiting.fetch_sub(1, AcqRel);
        }
    }

    /// The class's limit, if a job submitted at `submitted` and reaching a
    /// worker at `now` (nanoseconds since the epoch) waited too long.
    pub(crate) fn expired(&self, submitted: u64, now: u64) -> Option<Overload> {
        let max_queue_wait = self.max_queue_wait?;
        (Duration::from_nanos(now.saturating_sub(submitted)) > max_queue_wait)
            .then_some(Overload::WaitedTooLong { max_queue_wait })
    }

    pub(crate) fn submitted(&self) {
        self.counters.submitted();
    }

    /// Jobs holding a slot of the bound (0 for an unbounded class).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Acquire)
    }

    /// A job of this class starts, after waiting `waited_ns`.
    pub(crate) fn started(&self, waited_ns: u64) {
        self.release();
        self.counters.started();
        self.stats[stripe()].queue_wait.record(waited_ns);
    }

    pub(crate) fn ended(&self, started: bool, ending: Ending) {
        if !started {
            self.release();
        }
        self.counters.ended(started, ending);
    }
}
