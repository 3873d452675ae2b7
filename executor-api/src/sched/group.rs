//! [`JobGroup`]: the unit of fairness inside a class (a query, a request,
//! a compaction), and what a group shares with its jobs.

use std::any::Any;
use std::sync::OnceLock;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::Duration;

use crate::sched::classes::{ClassIndex, ClassTable};
use crate::sched::time_sharing::Account;
use std::sync::{Arc as StdArc, Weak};

use crate::sync::{Arc, AtomicUsize, CachePadded};

/// A group of jobs that share their class's CPU time as one: a query whose
/// partitions are jobs, a request, a compaction.
///
/// Inside a [class](crate::WorkloadClass), the executor runs next a job of
/// the group that has used the least CPU time, in levels: a group that has
/// used less than 2 ms of CPU runs before one that has used seconds, and
/// groups that have used about as much share equally, however many jobs
/// each has queued. So a short query submitted behind long ones does not
/// wait for them, and a long one still gets a guaranteed share (see
/// [`GROUP_LEVELS`](crate::GROUP_LEVELS) for the levels and the guarantee).
/// Across classes, weights and caps hold as without groups.
///
/// Make one with [`Executor::group`](crate::Executor::group) (or
/// [`group_in`](crate::Executor::group_in) for a class), and submit to it
/// with [`JobBuilder::group`](crate::JobBuilder::group). A group is cheap:
/// one allocation, no thread, no registration; make one per query. It ends
/// when its last `JobGroup` clone, its last job and its jobs' last
/// [attributed](crate::JobScope) task are gone; dropping it
/// does not cancel its jobs.
///
/// Jobs submitted without a group count, while their class has groups, as
/// one group of their own (so a long stream of ungrouped work falls to the
/// last level like any long group, and stays there once the class has
/// had groups); in a class without groups they run first come, first
/// served, exactly as before.
///
/// # Examples
///
/// ```
/// use executor_api::Executor;
/// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
/// // One group per query: its partitions share the query's turn.
/// let query = executor.group();
/// let partitions: Vec<_> = (0..4u64)
///     .map(|partition| executor.job().group(&query).spawn_cpu(move |_| partition * 10))
///     .collect();
/// let sums: Vec<u64> = partitions
///     .into_iter()
///     .map(|handle| futures::executor::block_on(handle).unwrap())
///     .collect();
/// assert_eq!(sums, [0, 10, 20, 30]);
/// let metrics = query.metrics();
/// assert_eq!((metrics.queued, metrics.running), (0, 0));
/// assert_eq!(metrics.level, 0, "a few microseconds of CPU: still a new group");
/// # executor.shutdown();
/// ```
#[derive(Debug, Clone)]
pub struct JobGroup {
    pub(crate) shared: StdArc<GroupShared>,
}

/// A [`JobGroup`]'s figures, read while it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupMetrics {
    /// The CPU time its jobs' polls were charged (see
    /// [`WorkloadClass`](crate::WorkloadClass) on what a poll is charged).
    pub cpu_time: Duration,
    /// Its jobs admitted and not yet started (a job cancelled while queued
    /// counts until a worker takes it out of the queue).
    pub queued: usize,
    /// Its jobs started and not yet ended.
    pub running: usize,
    /// Its level now: 0 for a new group, up to 4 (see
    /// [`GROUP_LEVELS`](crate::GROUP_LEVELS)).
    pub level: usize,
}

impl JobGroup {
    pub(crate) fn new(table: Arc<ClassTable>, class: ClassIndex) -> Self {
        table.class(class).levels().group_created();
        JobGroup {
            shared: StdArc::new(GroupShared {
                table,
                class,
                lane: OnceLock::new(),
                admitted: CachePadded(AtomicUsize::new(0)),
                worker_side: CachePadded(WorkerSide::default()),
            }),
        }
    }

    /// The name of the class its jobs run in.
    pub fn class(&self) -> &str {
        self.shared.table.class(self.shared.class).name()
    }

    /// Its figures now.
    pub fn metrics(&self) -> GroupMetrics {
        let shared = &*self.shared;
        let worker = &*shared.worker_side;
        // Endings first, then starts, then admissions: a later counter is
        // never seen without its earlier ones, so neither gauge is negative.
        let ended_started = worker.ended_started.load(Acquire);
        let ended_unstarted = worker.ended_unstarted.load(Acquire);
        let started = worker.started.load(Acquire);
        let admitted = shared.admitted.load(Acquire);
        GroupMetrics {
            cpu_time: Duration::from_nanos(worker.account.cpu_ns()),
            queued: admitted.saturating_sub(started + ended_unstarted),
            running: started.saturating_sub(ended_started),
            level: worker.account.level(),
        }
    }
}

/// A group as the waker of one of its jobs knows it: weakly, so that a
/// job's group ends when its jobs have ended, whoever still holds one of
/// their wakers.
pub(crate) type GroupRef = Weak<GroupShared>;

/// What a group's handles and jobs share (a `std` `Arc`, not the sync
/// facade's: it is counted, never raced on, and loom's has no `Weak`).
pub(crate) struct GroupShared {
    /// The executor's classes: the group's identity (a group belongs to
    /// one executor) and where its class's levels are.
    table: Arc<ClassTable>,
    class: ClassIndex,
    /// The backend's queue of this group's runnable jobs, made by the
    /// first push (`sched::group_queue`): its type is the backend's.
    lane: OnceLock<Box<dyn Any + Send + Sync>>,
    /// Jobs admitted: written by submitters, on a cache line of its own
    /// (measured: with every counter on one line, a job in a group cost
    /// about 1.4 times one without, the line bouncing between the
    /// submitter and the workers).
    admitted: CachePadded<AtomicUsize>,
    /// What workers write.
    worker_side: CachePadded<WorkerSide>,
}

/// The counters a group's workers write. Monotonic, each written by one
/// side: the gauges are derived (see [`JobGroup::metrics`]).
#[derive(Debug, Default)]
struct WorkerSide {
    account: Account,
    started: AtomicUsize,
    ended_started: AtomicUsize,
    ended_unstarted: AtomicUsize,
}

impl std::fmt::Debug for GroupShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobGroup")
            .field("class", &self.table.class(self.class).name())
            .field("cpu_ns", &self.worker_side.account.cpu_ns())
            .finish_non_exhaustive()
    }
}

impl GroupShared {
    pub(crate) fn class(&self) -> ClassIndex {
        self.class
    }

    pub(crate) fn account(&self) -> &Account {
        &self.worker_side.account
    }

    /// Whether the group belongs to the executor whose classes are `table`.
    pub(crate) fn belongs_to(&self, table: &Arc<ClassTable>) -> bool {
        Arc::ptr_eq(&self.table, table)
    }

    /// The group's queue of type `L`, made by the first call.
    ///
    /// # Panics
    ///
    /// If an earlier call made it with another type: a group belongs to
    /// one executor, whose backend queues one type of job.
    pub(crate) fn lane<L: Default + Send + Sync + 'static>(&self) -> &L {
        self.lane
            .get_or_init(|| Box::new(L::default()))
            .downcast_ref()
            .expect("a group's jobs are all queued by its executor's backend, as one type")
    }

    /// A job of the group was admitted.
    pub(crate) fn admitted(&self) {
        self.admitted.fetch_add(1, Release);
    }

    /// A job of the group started.
    pub(crate) fn started(&self) {
        self.worker_side.started.fetch_add(1, Release);
    }

    /// A job of the group ended, having started or not.
    pub(crate) fn ended(&self, started: bool) {
        let side = &*self.worker_side;
        if started {
            side.ended_started.fetch_add(1, Release);
        } else {
            side.ended_unstarted.fetch_add(1, Release);
        }
    }

    /// Charges the group for a poll that ran `ns`: of one of its jobs
    /// (`picked`; 0: a job taken to be polled that ended unpolled),
    /// replacing the estimate its choice added, or of a task one of its
    /// jobs spawned (see `job::scope`).
    pub(crate) fn charge(&self, ns: u64, picked: bool) {
        let levels = self.table.class(self.class).levels();
        let (from, to) = levels.charge(&self.worker_side.account, ns, picked);
        levels.group_moved(from, to);
    }
}

impl Drop for GroupShared {
    fn drop(&mut self) {
        self.table
            .class(self.class)
            .levels()
            .group_ended(self.worker_side.account.level());
    }
}
