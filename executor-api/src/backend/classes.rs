//! Workload classes at run time: admission, accounting, and the choice of
//! the next job ([`ClassQueues`], which every backend's run queue uses).
//!
//! # Sharing by weight
//!
//! Each class has a *virtual time*: the worker time its jobs' polls took,
//! divided by its weight. A worker that looks for a job takes the oldest
//! job of the runnable class whose virtual time is smallest, so a class of
//! weight 4 runs four times as long as one of weight 1 before it falls
//! behind it: start-time fair queueing, charged in measured time after each
//! poll.
//!
//! A class that was idle must not come back with a virtual time far behind
//! the others (it would then have the pool to itself until it caught up).
//! The table keeps a *floor*, the virtual time of the last class chosen,
//! which only grows, and a class never counts as further behind than the
//! floor. Only workers write the virtual times and the floor, and no
//! decision depends on them being exact: workers racing to choose may both
//! take the same class, and the charge after their polls evens it out.
//!
//! # Caps
//!
//! A capped class has a *theoretical arrival time* (`tat`, the generic cell
//! rate algorithm): each poll pushes it forward by its length divided by
//! the cap in cores, starting from no earlier than `now - window`. The
//! class may start a job while `tat <= now`, so it uses `cores` on
//! average and at most `cores × window` in a burst, plus the polls that
//! workers started while it still had budget (each worker may start one);
//! a job that arrives while it is over its budget waits until `tat`. An immediate
//! shutdown lifts the caps, so that queued jobs reach a worker and end
//! cancelled at once.
//!
//! # Admission
//!
//! A bounded class counts its *waiting* jobs (admitted, not yet started or
//! ended) and admits a job only while the count is below the bound.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use crate::backend::core::ExecutorCore;
use crate::backend::ordered::{Choice, Ordered, SCAN_LIMIT};
use crate::class::WorkloadClass;
use crate::error::Overload;
use crate::histogram::{AtomicHistogram, DurationHistogram};
use crate::metrics::{ClassMetrics, CounterSnapshot, Counters, Ending};
use crate::sync::{AtomicU64, AtomicUsize, CachePadded, Queue};

/// Virtual time is worker nanoseconds × this / weight: room for weights up
/// to 10 000 without rounding short polls to nothing.
const VIRTUAL_SCALE: u64 = 1 << 10;

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

/// How far virtual time `time` is ahead of `floor` (0 if behind it), on a
/// clock that wraps: differences below 2^63 are ahead, others behind.
fn ahead_of(time: u64, floor: u64) -> u64 {
    let ahead = time.wrapping_sub(floor);
    if ahead > u64::MAX / 2 { 0 } else { ahead }
}

/// A cap, in the units the scheduler uses.
#[derive(Debug)]
struct Cap {
    cores: f64,
    window_ns: u64,
}

/// One class's settings and live state.
#[derive(Debug)]
pub(crate) struct ClassState {
    name: std::sync::Arc<str>,
    weight: u32,
    cap: Option<Cap>,
    max_queued: Option<usize>,
    max_queue_wait: Option<Duration>,
    /// Written by workers after every poll.
    virtual_time: CachePadded<AtomicU64>,
    /// The cap's theoretical arrival time, in nanoseconds since the epoch.
    tat: AtomicU64,
    /// Admitted jobs not yet started or ended, for `max_queued`.
    waiting: CachePadded<AtomicUsize>,
    counters: Counters,
    /// Written by every poll: striped, each worker thread writing a stripe
    /// of its own (see [`stripe`]), so that workers do not bounce one
    /// cache line between cores.
    stats: Box<[CachePadded<PollStats>]>,
}

/// What each poll of a class's jobs records. The worker time is the
/// poll-time histogram's sum.
#[derive(Debug, Default)]
struct PollStats {
    queue_wait: AtomicHistogram,
    poll_time: AtomicHistogram,
}

/// How many stripes a class's poll statistics have.
const STRIPES: usize = 16;

/// The stripe of the calling thread: threads take stripes in turn, once.
fn stripe() -> usize {
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
    classes: Box<[ClassState]>,
    /// Each class's index by name: a lookup costs the same however many
    /// classes there are.
    by_name: std::collections::HashMap<std::sync::Arc<str>, ClassIndex>,
    /// Timestamps are nanoseconds since this instant.
    epoch: Instant,
    /// See the module docs.
    floor: CachePadded<AtomicU64>,
    capped: bool,
}

/// What the scheduler chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Class(usize),
    /// No class has a runnable job.
    Empty,
    /// Only capped classes have jobs, and none may start one before this
    /// time (nanoseconds since the epoch).
    Throttled(u64),
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

    /// Class `index`'s virtual time, no further behind than the floor.
    pub(crate) fn effective_virtual_time(&self, index: usize) -> u64 {
        let floor = self.floor.load(Relaxed);
        floor.wrapping_add(ahead_of(
            self.classes[index].virtual_time.load(Relaxed),
            floor,
        ))
    }

    /// Class `index` was chosen: raise the floor to its virtual time, unless
    /// another worker raised it further meanwhile.
    pub(crate) fn raise_floor(&self, index: usize) {
        let chosen = self.effective_virtual_time(index);
        let _ = self.floor.fetch_update(Relaxed, Relaxed, |current| {
            (ahead_of(chosen, current) > 0).then_some(chosen)
        });
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
                    queue_wait,
                    poll_time,
                }
            })
            .collect()
    }

    /// Chooses the class whose oldest job runs next (see the module docs):
    /// `has_jobs(index)` tells whether class `index` has a job queued.
    fn pick(&self, has_jobs: impl Fn(usize) -> bool, caps_lifted: bool) -> Pick {
        self.choose(has_jobs, caps_lifted, true)
    }

    /// What [`pick`](Self::pick) would choose, without raising the floor.
    fn pick_without_choosing(&self, has_jobs: impl Fn(usize) -> bool, caps_lifted: bool) -> Pick {
        self.choose(has_jobs, caps_lifted, false)
    }

    fn choose(&self, has_jobs: impl Fn(usize) -> bool, caps_lifted: bool, commit: bool) -> Pick {
        let now = if self.capped && !caps_lifted {
            self.nanos(Instant::now())
        } else {
            0
        };
        let floor = self.floor.load(Relaxed);
        // Virtual times only grow, and wrap: compared as distances from the
        // floor, which stay far below 2^63.
        let mut best: Option<(usize, u64)> = None;
        let mut throttled_until: Option<u64> = None;
        for (index, class) in self.classes.iter().enumerate() {
            if !has_jobs(index) {
                continue;
            }
            if class.cap.is_some() && !caps_lifted {
                let tat = class.tat.load(Acquire);
                if tat > now {
                    throttled_until = Some(throttled_until.map_or(tat, |until| until.min(tat)));
                    continue;
                }
            }
            let ahead = ahead_of(class.virtual_time.load(Relaxed), floor);
            if best.is_none_or(|(_, least)| ahead < least) {
                best = Some((index, ahead));
            }
        }
        match (best, throttled_until) {
            (Some((index, ahead)), _) => {
                if commit && ahead > 0 {
                    // Raise the floor to the chosen class's virtual time,
                    // unless another worker raised it further meanwhile.
                    let chosen = floor.wrapping_add(ahead);
                    let _ = self.floor.fetch_update(Relaxed, Relaxed, |current| {
                        (ahead_of(chosen, current) > 0).then_some(chosen)
                    });
                }
                Pick::Class(index)
            }
            (None, Some(until)) => Pick::Throttled(until),
            (None, None) => Pick::Empty,
        }
    }

    /// Charges class `index` for a poll that ended at `end` (nanoseconds
    /// since the epoch) and ran `ns` (see `backend::cpu_time`): its worker
    /// time, its poll-time histogram, its virtual time and its cap.
    pub(crate) fn charge(&self, index: ClassIndex, ns: u64, end: u64) {
        let class = self.class(index);
        class.stats[stripe()].poll_time.record(ns);
        if self.classes.len() > 1 {
            let floor = self.floor.load(Relaxed);
            let advance = ns.saturating_mul(VIRTUAL_SCALE) / u64::from(class.weight);
            let _ = class
                .virtual_time
                .fetch_update(Relaxed, Relaxed, |virtual_time| {
                    let from = floor.wrapping_add(ahead_of(virtual_time, floor));
                    Some(from.wrapping_add(advance))
                });
        }
        if let Some(cap) = &class.cap {
            let cost = (ns as f64 / cap.cores) as u64;
            let _ = class.tat.fetch_update(AcqRel, Acquire, |tat| {
                Some(
                    tat.max(end.saturating_sub(cap.window_ns))
                        .saturating_add(cost),
                )
            });
        }
    }
}

impl ClassState {
    pub(crate) fn name(&self) -> &std::sync::Arc<str> {
        &self.name
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

/// What [`ClassQueues::pop`] found.
#[derive(Debug)]
pub enum Pop<T> {
    /// The job to run next.
    Job(T),
    /// No job is queued.
    Empty,
    /// Jobs are queued, but only in capped classes that are over their
    /// budget: none may start before this instant. Look again then, or when
    /// a job is pushed.
    Throttled(Instant),
}

/// The run queues of an executor's classes: one FIFO per class, and the
/// choice of the next job by weight, cap and age. A backend pushes each
/// runnable job to its class
/// ([`RunnableJob::class`](crate::backend::RunnableJob::class)) and pops
/// from its workers.
///
/// [`pop`](Self::pop) takes the oldest job of the class whose *virtual
/// time* (the poll time its jobs used, divided by its weight, never
/// further behind than the last class chosen) is smallest, among the
/// classes that have jobs and are not over their cap's budget. A capped
/// class's budget is a rate (its cap in cores) with a burst of
/// `cores × window`; an immediate shutdown lifts the caps, so that queued
/// jobs reach a worker and end cancelled.
///
/// Pushing never takes a lock (a submitter on the I/O runtime never waits
/// for a low-priority worker); popping reads each class's state without
/// one.
///
/// A worker that finds nothing to pop may sleep until a push, and one that
/// is told [`Pop::Throttled`] until that instant or a push that brings a
/// job that may start earlier ([`next_start`](Self::next_start)).
pub struct ClassQueues<T> {
    core: ExecutorCore,
    queues: Box<[Queue<T>]>,
    /// Jobs pushed and not yet popped: counted after the push and before
    /// the pop returns, so that a pop that looked at the queues one after
    /// another while jobs moved (and saw each empty) knows to look again
    /// rather than report them empty.
    queued: CachePadded<AtomicUsize>,
    /// Past [`SCAN_LIMIT`] classes: the ordered sets the next class is
    /// chosen from (see `backend::ordered`).
    ordered: Option<Ordered>,
}

impl<T> std::fmt::Debug for ClassQueues<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassQueues")
            .field("classes", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl<T> ClassQueues<T> {
    /// Empty queues for the classes of `core`'s executor.
    pub fn new(core: &ExecutorCore) -> Self {
        let classes = core.classes().len();
        let queues = (0..classes).map(|_| Queue::new()).collect();
        ClassQueues {
            core: core.clone(),
            queues,
            queued: CachePadded(AtomicUsize::new(0)),
            ordered: (classes > SCAN_LIMIT).then(|| Ordered::new(classes)),
        }
    }

    /// Queues `job` at the back of its class.
    pub fn push(&self, class: ClassIndex, job: T) {
        self.queues[class.get()].push(job);
        if let Some(ordered) = &self.ordered {
            ordered.pushed(class);
        }
        self.queued.fetch_add(1, Release);
    }

    /// Takes the job to run next, if one may start now.
    pub fn pop(&self) -> Pop<T> {
        let table = self.core.classes();
        if let Some(ordered) = &self.ordered {
            let popped = ordered.pop_with(table, self.core.is_aborted(), |index| {
                self.queues[index].pop()
            });
            return match popped {
                Ok(job) => {
                    self.queued.fetch_sub(1, AcqRel);
                    Pop::Job(job)
                }
                Err(Choice::Throttled(until)) => {
                    Pop::Throttled(table.epoch + Duration::from_nanos(until))
                }
                Err(Choice::Empty | Choice::Class(_)) => Pop::Empty,
            };
        }
        if let [only] = &*self.queues
            && !self.core.classes().capped
        {
            return match only.pop() {
                Some(job) => {
                    self.queued.fetch_sub(1, AcqRel);
                    Pop::Job(job)
                }
                None => Pop::Empty,
            };
        }
        loop {
            let caps_lifted = self.core.is_aborted();
            match table.pick(|index| !self.queues[index].is_empty(), caps_lifted) {
                Pick::Class(index) => {
                    if let Some(job) = self.queues[index].pop() {
                        self.queued.fetch_sub(1, AcqRel);
                        return Pop::Job(job);
                    }
                    // Another worker took it: choose again.
                }
                // The queues were looked at one after another: a job may
                // have moved past the look (pushed to a class already seen,
                // while another worker took the last of a class not yet
                // seen). Only a count of zero is empty.
                Pick::Empty if self.queued.load(Acquire) > 0 => crate::sync::spin_wait(),
                Pick::Empty => return Pop::Empty,
                Pick::Throttled(until) => {
                    return Pop::Throttled(table.epoch + Duration::from_nanos(until));
                }
            }
        }
    }

    /// Whether [`pop`](Self::pop) would find a job that may start now.
    pub fn has_runnable(&self) -> bool {
        self.next_start()
            .is_some_and(|start| start <= Instant::now())
    }

    /// How many jobs are queued, in every class (a job being pushed or
    /// popped at this moment may or may not be counted).
    pub fn len(&self) -> usize {
        self.queued.load(Acquire)
    }

    /// Whether no job is queued in any class.
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(Queue::is_empty)
    }

    /// When the first queued job may start: now if one may, the earliest
    /// end of a cap's wait if only capped classes over their budget have
    /// jobs, `None` if no job is queued. For a worker that sleeps until a
    /// job may start: a push that makes this earlier should wake it.
    pub fn next_start(&self) -> Option<Instant> {
        let table = self.core.classes();
        let caps_lifted = self.core.is_aborted();
        if let Some(ordered) = &self.ordered {
            return match ordered.peek(table, caps_lifted) {
                Choice::Class(_) => Some(Instant::now()),
                Choice::Throttled(until) => Some(table.epoch + Duration::from_nanos(until)),
                Choice::Empty => None,
            };
        }
        match table.pick_without_choosing(|index| !self.queues[index].is_empty(), caps_lifted) {
            Pick::Class(_) => Some(Instant::now()),
            Pick::Throttled(until) => Some(table.epoch + Duration::from_nanos(until)),
            Pick::Empty => None,
        }
    }

    /// Takes every queued job, whatever its class and cap, oldest first per
    /// class: for a backend whose threads are gone, to drop them.
    pub fn drain(&self) -> impl Iterator<Item = T> + '_ {
        self.queues
            .iter()
            .enumerate()
            .flat_map(move |(index, queue)| {
                std::iter::from_fn(move || {
                    let job = queue.pop();
                    if job.is_some() {
                        self.queued.fetch_sub(1, AcqRel);
                        if let Some(ordered) = &self.ordered {
                            ordered.drained(index);
                        }
                    }
                    job
                })
            })
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use super::*;

    fn table(classes: &[WorkloadClass]) -> ClassTable {
        ClassTable::new(classes)
    }

    /// With two classes always runnable, charging what each choice ran
    /// for gives each class time in proportion to its weight, in time,
    /// not in job counts.
    #[test]
    fn busy_classes_share_time_by_weight() {
        let table = table(&[
            WorkloadClass::new("default").weight(4),
            WorkloadClass::new("background").weight(1),
        ]);
        // The background class's jobs are ten times longer.
        let lengths = [100_u64, 1_000];
        let mut used = [0_u64; 2];
        let mut clock = 0;
        for _ in 0..10_000 {
            let Pick::Class(index) = table.pick(|_| true, false) else {
                panic!("both classes are runnable");
            };
            table.charge(
                ClassIndex(index as u32),
                lengths[index],
                clock + lengths[index],
            );
            clock += lengths[index];
            used[index] += lengths[index];
        }
        let share = used[0] as f64 / (used[0] + used[1]) as f64;
        assert!((share - 0.8).abs() < 0.01, "share {share}");
    }

    /// A class that was idle does not come back with credit for the time it
    /// did not use: it shares from then on.
    #[test]
    fn an_idle_class_banks_no_time() {
        let table = table(&[WorkloadClass::new("a"), WorkloadClass::new("b")]);
        let mut clock = 0;
        for _ in 0..1_000 {
            assert_eq!(table.pick(|index| index == 0, false), Pick::Class(0));
            table.charge(ClassIndex(0), 1_000, clock + 1_000);
            clock += 1_000;
        }
        let mut picks = [0; 2];
        for _ in 0..100 {
            let Pick::Class(index) = table.pick(|_| true, false) else {
                panic!("both classes are runnable");
            };
            picks[index] += 1;
            table.charge(ClassIndex(index as u32), 1_000, clock + 1_000);
            clock += 1_000;
        }
        assert!(picks[0] >= 49 && picks[1] >= 49, "{picks:?}");
    }

    /// A capped class alone is throttled after its burst, until its budget
    /// allows the next poll; an immediate shutdown lifts the cap.
    #[test]
    fn a_capped_class_waits_for_its_budget() {
        let table = table(&[WorkloadClass::new("capped")
            .cap(0.5)
            .cap_window(Duration::from_millis(1))]);
        let now = table.nanos(Instant::now());
        // A burst of 0.5 × 1 ms, then 2 ms of poll: 4 ms of debt at half a
        // core.
        table.charge(ClassIndex(0), 2_000_000, now + 2_000_000);
        match table.pick(|_| true, false) {
            Pick::Throttled(until) => assert!(until > now + 3_000_000, "{until} vs {now}"),
            other => panic!("not throttled: {other:?}"),
        }
        assert_eq!(table.pick(|_| true, true), Pick::Class(0));
        assert_eq!(table.pick(|_| false, false), Pick::Empty);
    }

    /// Virtual times wrap: shares hold across the wrap of the clock.
    #[test]
    fn shares_hold_when_virtual_time_wraps() {
        let table = table(&[
            WorkloadClass::new("default").weight(4),
            WorkloadClass::new("background").weight(1),
        ]);
        let start = u64::MAX - 1_000_000;
        table.floor.store(start, Relaxed);
        for class in &*table.classes {
            class.virtual_time.store(start, Relaxed);
        }
        let mut used = [0_u64; 2];
        let mut clock = 0;
        for _ in 0..10_000 {
            let Pick::Class(index) = table.pick(|_| true, false) else {
                panic!("both classes are runnable");
            };
            table.charge(ClassIndex(index as u32), 100, clock + 100);
            clock += 100;
            used[index] += 100;
        }
        assert!(table.floor.load(Relaxed) < start, "the clock did not wrap");
        let share = used[0] as f64 / (used[0] + used[1]) as f64;
        assert!((share - 0.8).abs() < 0.01, "share {share}");
    }

    #[test]
    fn a_bounded_class_admits_up_to_its_bound() {
        let table = table(&[WorkloadClass::new("bounded").max_queued(2)]);
        let class = table.class(ClassIndex(0));
        assert_eq!(class.reserve(), Ok(()));
        assert_eq!(class.reserve(), Ok(()));
        assert_eq!(class.reserve(), Err(Overload::QueueFull { max_queued: 2 }));
        assert_eq!(class.waiting(), 2);
        class.started(10);
        assert_eq!(class.reserve(), Ok(()));
        assert_eq!(table.metrics()[0].overloaded, 1);
    }
}
