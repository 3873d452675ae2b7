//! [`JobScope`]: the job a poll belongs to, so that work a job hands to
//! other tasks (a library's `tokio::spawn`) is charged as the job's.
//!
//! While a worker polls a job, a scoped thread-local points at the job's
//! scope (its executor's class table, its class, its group); `current`
//! clones it. A future wrapped with [`JobScope::attribute`] polls inside
//! the same scope, so what it spawns in turn inherits it, and each of its
//! polls is charged to the class and group as a job's poll is (see
//! `sched::cpu_time`). The pointer is set for the length of one poll and
//! restored after it, also when the poll unwinds: nothing outlives the job
//! it points at.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use crate::lifecycle::core::Shared;
use crate::sched::classes::ClassIndex;
use crate::sched::group::GroupShared;
use crate::sync::Arc;

// The scope of the poll running on this thread, in two halves: the
// executor's state, which a job reaches through the cell it shares with its
// handle, and the job's class and group, which it holds itself. Two keys,
// so that a job holds no second reference to its executor's state (a job's
// size and its submission's cost are the hot path).
scoped_tls::scoped_thread_local!(static CORE: Arc<Shared>);
scoped_tls::scoped_thread_local!(static PARTS: ScopeParts);

/// A job's class and group: what it holds of its scope.
#[derive(Clone)]
pub(crate) struct ScopeParts {
    class: ClassIndex,
    group: Option<std::sync::Arc<GroupShared>>,
}

impl ScopeParts {
    pub(crate) fn new(class: ClassIndex, group: Option<std::sync::Arc<GroupShared>>) -> Self {
        ScopeParts { class, group }
    }

    pub(crate) fn class_index(&self) -> ClassIndex {
        self.class
    }

    pub(crate) fn group(&self) -> Option<&std::sync::Arc<GroupShared>> {
        self.group.as_ref()
    }

    /// Takes the group out: the job has ended.
    pub(crate) fn take_group(&mut self) -> Option<std::sync::Arc<GroupShared>> {
        self.group.take()
    }

    /// Runs `f` with the scope of `core` and these parts as the calling
    /// thread's current one.
    pub(crate) fn enter<R>(&self, core: &Arc<Shared>, f: impl FnOnce() -> R) -> R {
        // Under loom, models interleave "threads" on one OS thread, so a
        // thread-local scope would leak between them; no model reads it.
        #[cfg(not(executor_loom))]
        {
            CORE.set(core, || PARTS.set(self, f))
        }
        #[cfg(executor_loom)]
        {
            let _ = core;
            f()
        }
    }

    /// Charges the class and group for a poll from `start` to `end` on
    /// `core`'s executor; `picked`: a job's poll, chosen from the group's
    /// queue (whose estimate this replaces).
    pub(crate) fn charge(&self, core: &Arc<Shared>, start: Instant, end: Instant, picked: bool) {
        // About the CPU time the poll ran, not the wall time it took: a poll
        // the kernel preempted is not charged for the time it did not run.
        let ran = crate::sched::cpu_time::charge(start, end);
        let ran = u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX);
        let classes = core.classes();
        classes.charge(self.class, ran, classes.nanos(end));
        match &self.group {
            Some(group) => group.charge(ran, picked),
            None => classes.class(self.class).levels().charge_ungrouped(ran),
        }
    }
}

/// The job whose code runs on the calling thread: its executor, its
/// [workload class](crate::WorkloadClass) and its [group](crate::JobGroup).
/// Take it with [`JobScope::current`] inside a job, and hand it to the work
/// the job starts elsewhere with [`attribute`](JobScope::attribute), so that
/// this work counts as the job's.
///
/// Tasks a job spawns with `tokio::spawn` run on the executor's runtime,
/// but Tokio polls them, not the executor: without a scope, their CPU time
/// is charged to no class and no group, so a query whose work happens in
/// such tasks would escape its class's weight and cap and its group's
/// place. A task wrapped with `attribute`:
///
/// - is charged for each poll, to the job's class (its worker time, share
///   and cap) and group (its CPU time and level), as the job's own polls
///   are;
/// - counts in its class's [`ClassMetrics::tasks`](crate::ClassMetrics::tasks)
///   until it is dropped;
/// - polls inside the scope: what it spawns and wraps in turn belongs to
///   the same job.
///
/// `executor-datafusion` does this for every task DataFusion spawns.
///
/// - **Nested polls are charged once.** An attributed future polled where
///   a scope is already current (awaited inside the job itself, or polled
///   inline by another attributed task) runs in its own scope but is not
///   charged again: the poll around it is charged for that time.
/// - **The group lives on.** A scope (an attributed task, or a clone) keeps
///   the job's group alive, as a job of the group would: the group counts
///   in [`ClassMetrics::groups`](crate::ClassMetrics::groups) until its
///   last task is gone too.
/// - **Shutdown is unchanged.** A scope does not delay the executor's
///   shutdown: a graceful one waits for the jobs and for the tasks alive on
///   the executor's runtime, attributed or not.
/// - **Where the task runs is the spawner's choice.** A scope charges the
///   job's executor whichever runtime polls the task: a job that spawns an
///   attributed task onto another runtime (`Handle::spawn`) charges that
///   work to its own class, and that executor's shutdown does not wait for
///   it.
///
/// # Examples
///
/// ```
/// use executor_api::{Executor, JobScope};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let executor = executor_tokio::DedicatedExecutor::builder().build()?;
/// let query = executor.group();
/// let total = executor
///     .job()
///     .group(&query)
///     .spawn(async {
///         let scope = JobScope::current().expect("inside a job");
///         // A task of the job's: charged to its class and group.
///         let task = tokio::spawn(scope.attribute(async { (1..=100u64).sum::<u64>() }));
///         task.await.expect("the task ran")
///     })
///     .await?;
/// assert_eq!(total, 5050);
/// assert!(JobScope::current().is_none(), "outside a job");
/// # executor.shutdown();
/// # executor.join().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JobScope {
    core: Arc<Shared>,
    parts: ScopeParts,
}

impl JobScope {
    /// The scope of the job being polled on the calling thread, or of the
    /// [attributed](Self::attribute) task being polled there; `None`
    /// anywhere else (another runtime, a plain thread, a task that was not
    /// attributed).
    pub fn current() -> Option<JobScope> {
        if in_scope() {
            Some(JobScope {
                core: CORE.with(Arc::clone),
                parts: PARTS.with(ScopeParts::clone),
            })
        } else {
            None
        }
    }

    /// Wraps `future` so that each of its polls runs inside this scope and
    /// is charged to the job's class and group (see the type's docs).
    ///
    /// # Panics
    ///
    /// Never panics itself; a panic of `future`'s poll passes through
    /// (Tokio turns it into the task's `JoinError`), after the poll is
    /// charged.
    pub fn attribute<F: Future>(self, future: F) -> Attributed<F> {
        self.core.classes().class(self.parts.class).task_started();
        Attributed {
            future: Some(future),
            scope: self,
        }
    }

    /// Runs `work` (a closure handed to a blocking thread, say) inside this
    /// scope, and charges the time it runs to the job's class and group
    /// (as one poll; not again where a scope is already current). It does
    /// not count in [`ClassMetrics::tasks`](crate::ClassMetrics::tasks).
    ///
    /// # Panics
    ///
    /// A panic of `work` passes through, after the time it ran is charged.
    pub fn run<R>(&self, work: impl FnOnce() -> R) -> R {
        let _charge = ChargeOnDrop::unless_nested(self);
        self.enter(work)
    }

    /// The executor's name.
    pub fn executor(&self) -> &str {
        self.core.name()
    }

    /// The name of the job's class.
    pub fn class(&self) -> &str {
        self.core.classes().class(self.parts.class).name()
    }

    /// Runs `f` with this scope as the calling thread's current one.
    fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        self.parts.enter(&self.core, f)
    }

    fn charge(&self, start: Instant, end: Instant) {
        self.parts.charge(&self.core, start, end, false);
    }
}

impl std::fmt::Debug for JobScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobScope")
            .field("executor", &self.executor())
            .field("class", &self.class())
            .field("grouped", &self.parts.group.is_some())
            .finish()
    }
}

/// Charges a scope for the time from its start until it is dropped: after
/// the poll, or as it unwinds.
struct ChargeOnDrop<'a> {
    scope: &'a JobScope,
    start: Instant,
}

impl<'a> ChargeOnDrop<'a> {
    /// A charge for `scope` from now, unless the calling thread is already
    /// in a scope (an attributed future awaited inside a job, or polled
    /// inline by another attributed task): that poll is charged for this
    /// time already, and charging it again would count it twice.
    fn unless_nested(scope: &'a JobScope) -> Option<Self> {
        if in_scope() {
            return None;
        }
        Some(ChargeOnDrop {
            scope,
            start: Instant::now(),
        })
    }
}

impl Drop for ChargeOnDrop<'_> {
    fn drop(&mut self) {
        self.scope.charge(self.start, Instant::now());
    }
}

/// Whether the calling thread is polling inside a scope.
fn in_scope() -> bool {
    #[cfg(not(executor_loom))]
    {
        CORE.is_set()
    }
    #[cfg(executor_loom)]
    {
        false
    }
}

/// Counts a task's end in its class when dropped, also as its future's
/// destructor unwinds.
struct TaskEndOnDrop<'a>(&'a JobScope);

impl Drop for TaskEndOnDrop<'_> {
    fn drop(&mut self) {
        self.0.core.classes().class(self.0.parts.class).task_ended();
    }
}

pin_project! {
    /// A future whose polls run inside a [`JobScope`] and are charged to
    /// its job's class and group: made by [`JobScope::attribute`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Attributed<F> {
        // `None` once dropped: the future goes first, inside the scope,
        // and the task stops counting after it.
        #[pin]
        future: Option<F>,
        scope: JobScope,
    }

    impl<F> PinnedDrop for Attributed<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let scope: &JobScope = this.scope;
            let _ended = TaskEndOnDrop(scope);
            let mut future = this.future;
            scope.enter(|| future.set(None));
        }
    }
}

impl<F> Attributed<F> {
    /// The scope its polls run in.
    pub fn scope(&self) -> &JobScope {
        &self.scope
    }
}

impl<F: Future> Future for Attributed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let scope: &JobScope = this.scope;
        let _charge = ChargeOnDrop::unless_nested(scope);
        let future = this
            .future
            .as_pin_mut()
            .expect("the future is present until the wrapper is dropped");
        scope.enter(|| future.poll(cx))
    }
}

impl<F> std::fmt::Debug for Attributed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attributed")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}
