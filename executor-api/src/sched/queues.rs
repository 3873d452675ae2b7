//! The run queues of an executor's classes ([`ClassQueues`]): one FIFO per
//! class, popped in the order the policy chooses.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::time::{Duration, Instant};

use crate::sched::classes::{ClassIndex, ClassTable};
use crate::sched::group::GroupRef;
use crate::sched::group_queue::GroupedJobs;
use crate::sched::ordered::{Choice, Ordered, SCAN_LIMIT};
use crate::sched::policy::Pick;
use crate::sync::{Arc, AtomicBool, AtomicUsize, CachePadded, Queue};

/// How long a worker that found no job looks again before it parks
/// ([`ClassQueues::job_arrives_soon`]).
///
/// A service submits the next job as soon as the last one's answer is out
/// (request and response): the round trip through the caller's runtime
/// takes some tens of microseconds. A worker that parks meanwhile pays a
/// system call to sleep and its pusher one to wake it; worse, measured on
/// Linux's EEVDF scheduler (the benchmark's `serial` load at nice 10), a
/// worker that sleeps and wakes once per job comes back owed CPU time and
/// keeps the CPU for its whole time slice against the I/O runtime's threads
/// (their p99 rose from about 80 µs to 0.5–1 ms in three runs of five),
/// while a worker that only yielded does not. Yielding costs the other
/// threads nothing: the kernel runs them first. Rayon's own idle workers
/// yield about as long before they sleep.
pub const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

/// Where a runnable job is queued: its class, and its
/// [group](crate::JobGroup) if it has one
/// ([`RunnableJob::placement`](crate::backend::RunnableJob::placement)).
/// A backend passes it to [`ClassQueues::push`] as it is.
#[derive(Debug, Clone)]
pub struct Placement {
    pub(crate) class: ClassIndex,
    pub(crate) group: Option<GroupRef>,
}

impl Placement {
    /// A job of `class` without a group.
    pub(crate) fn ungrouped(class: ClassIndex) -> Self {
        Placement { class, group: None }
    }

    /// The job's class.
    pub fn class(&self) -> ClassIndex {
        self.class
    }

    /// Whether the job belongs to a group.
    pub fn is_grouped(&self) -> bool {
        self.group.is_some()
    }
}

/// One class's queued jobs: the FIFO of its jobs without a group, and its
/// groups' (`sched::group_queue`).
struct ClassLane<T> {
    ungrouped: Queue<T>,
    grouped: GroupedJobs<T>,
}

impl<T> ClassLane<T> {
    fn has_jobs(&self) -> bool {
        !self.ungrouped.is_empty() || self.grouped.has_jobs()
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

/// The run queues of an executor's classes: one FIFO per class (and per
/// [group](crate::JobGroup)), and the choice of the next job by weight, cap
/// and age (and, inside a class, by the CPU time each group has used: see
/// [`JobGroup`](crate::JobGroup)). A backend pushes each
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
///
/// A backend builds them with `ClassQueues::new(&core)` (written beside the
/// core, in `lifecycle::core`, which hands over what the queues share with
/// it: so this folder needs nothing of the lifecycle).
pub struct ClassQueues<T> {
    /// The classes' state: weights, caps, budgets (the policy's input).
    pub(super) table: Arc<ClassTable>,
    /// The executor's abort flag: an immediate shutdown lifts the caps.
    aborted: Arc<CachePadded<AtomicBool>>,
    queues: Box<[ClassLane<T>]>,
    /// Jobs pushed and not yet popped: counted after the push and before
    /// the pop returns, so that a pop that looked at the queues one after
    /// another while jobs moved (and saw each empty) knows to look again
    /// rather than report them empty.
    queued: CachePadded<AtomicUsize>,
    /// Past [`SCAN_LIMIT`] classes: the ordered sets the next class is
    /// chosen from (see `sched::ordered`).
    ordered: Option<Ordered>,
}

impl<T> Drop for ClassQueues<T> {
    fn drop(&mut self) {
        // A group's queued jobs hold the group, which holds its queue: a
        // cycle that only popping or draining breaks. Dropped here, each
        // resolves its handle as cancelled.
        self.drain().for_each(drop);
    }
}

impl<T> std::fmt::Debug for ClassQueues<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassQueues")
            .field("classes", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> ClassQueues<T> {
    /// Queues `job` at the back of its class, or of its group.
    pub fn push(&self, place: &Placement, job: T) {
        let class = place.class;
        let lane = &self.queues[class.get()];
        // A group that ended is one whose jobs all ended: a push for one
        // of them (none should come) is queued without it, to end there.
        match place.group.as_ref().and_then(std::sync::Weak::upgrade) {
            None => lane.ungrouped.push(job),
            Some(group) => lane.grouped.push(&group, job),
        }
        if let Some(ordered) = &self.ordered {
            ordered.pushed(class);
        }
        self.queued.fetch_add(1, Release);
    }
}

impl<T> ClassQueues<T> {
    /// Empty queues for `table`'s classes, whose caps `aborted` lifts.
    pub(crate) fn for_table(table: Arc<ClassTable>, aborted: Arc<CachePadded<AtomicBool>>) -> Self {
        let classes = table.len();
        let queues = (0..classes)
            .map(|_| ClassLane {
                ungrouped: Queue::new(),
                grouped: GroupedJobs::default(),
            })
            .collect();
        ClassQueues {
            table,
            aborted,
            queues,
            queued: CachePadded(AtomicUsize::new(0)),
            ordered: (classes > SCAN_LIMIT).then(|| Ordered::new(classes)),
        }
    }

    /// Takes the next job of class `index` (the next of its groups' whose
    /// turn it is, or its FIFO's first), if it has one.
    fn pop_class(&self, index: usize) -> Option<T> {
        let lane = &self.queues[index];
        lane.grouped
            .pop(self.table.classes[index].levels(), &lane.ungrouped)
    }

    /// Takes the job to run next, if one may start now.
    pub fn pop(&self) -> Pop<T> {
        let table = &*self.table;
        if let Some(ordered) = &self.ordered {
            let popped = ordered.pop_with(table, self.aborted.load(Acquire), |index| {
                self.pop_class(index)
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
        if let [_] = &*self.queues
            && !self.table.capped
        {
            loop {
                match self.pop_class(0) {
                    Some(job) => {
                        self.queued.fetch_sub(1, AcqRel);
                        return Pop::Job(job);
                    }
                    // A push between its halves (a group's first job
                    // counted, not yet announced; see `sched::group_queue`):
                    // it lands in a moment.
                    None if self.queued.load(Acquire) > 0 => crate::sync::spin_wait(),
                    None => return Pop::Empty,
                }
            }
        }
        loop {
            let caps_lifted = self.aborted.load(Acquire);
            match table.pick(|index| self.queues[index].has_jobs(), caps_lifted) {
                Pick::Class(index) => {
                    if let Some(job) = self.pop_class(index) {
                        self.queued.fetch_sub(1, AcqRel);
                        return Pop::Job(job);
                    }
                    // Another worker took it, or a push is between its
                    // halves: choose again.
                    crate::sync::spin_wait();
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
    /// popped at this moment may or may not be counted): one counter, where
    /// [`is_empty`](Self::is_empty) looks at every class's queue.
    pub fn queued(&self) -> usize {
        self.queued.load(Acquire)
    }

    /// For a worker that found no job, before it parks: whether a job is
    /// pushed, or `stop` turns true, within [`SPIN_BEFORE_PARK`], while the
    /// caller yields its thread to any other that is ready to run. It reads
    /// one counter, not every class's queue; a push it misses is the sleep
    /// handshake's to catch.
    pub fn job_arrives_soon(&self, stop: impl Fn() -> bool) -> bool {
        let started = Instant::now();
        loop {
            if stop() || self.queued() > 0 {
                return true;
            }
            if started.elapsed() >= SPIN_BEFORE_PARK {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Whether no job is queued in any class.
    pub fn is_empty(&self) -> bool {
        !self.queues.iter().any(ClassLane::has_jobs)
    }

    /// When the first queued job may start: now if one may, the earliest
    /// end of a cap's wait if only capped classes over their budget have
    /// jobs, `None` if no job is queued. For a worker that sleeps until a
    /// job may start: a push that makes this earlier should wake it.
    pub fn next_start(&self) -> Option<Instant> {
        let table = &*self.table;
        let caps_lifted = self.aborted.load(Acquire);
        if let Some(ordered) = &self.ordered {
            return match ordered.peek(table, caps_lifted) {
                Choice::Class(_) => Some(Instant::now()),
                Choice::Throttled(until) => Some(table.epoch + Duration::from_nanos(until)),
                Choice::Empty => None,
            };
        }
        match table.pick_without_choosing(|index| self.queues[index].has_jobs(), caps_lifted) {
            Pick::Class(_) => Some(Instant::now()),
            Pick::Throttled(until) => Some(table.epoch + Duration::from_nanos(until)),
            Pick::Empty => None,
        }
    }

    /// Takes every queued job, whatever its class, group and cap: for a
    /// backend whose threads are gone, to drop them.
    pub fn drain(&self) -> impl Iterator<Item = T> + '_ {
        self.queues
            .iter()
            .enumerate()
            .flat_map(move |(index, lane)| {
                let grouped = lane.grouped.drain();
                let ungrouped = std::iter::from_fn(move || lane.ungrouped.pop());
                grouped.into_iter().chain(ungrouped).inspect(move |_| {
                    self.queued.fetch_sub(1, AcqRel);
                    if let Some(ordered) = &self.ordered {
                        ordered.drained(index);
                    }
                })
            })
    }
}
