//! The executor's lifecycle: admission, the drain, shutdown and join.
//!
//! Only this crate drives it: users reach it through [`Executor`](crate::Executor)
//! (shutdown, join, metrics), backends through the
//! [`ShutdownDriver`](crate::backend::ShutdownDriver) the core is created
//! with, which alone runs the shutdown sequence.
//!
//! # Invariants
//!
//! 1. `jobs` holds `(live jobs << 1) | CLOSED`. A job is live from a
//!    successful admission until its job ends, exactly once, by completing
//!    or by being dropped. Every count is held by an [`Admission`] and then
//!    by the job that takes it ([`Job::new`](crate::job::future::Job::new)),
//!    at once, with nothing in between that runs user code.
//! 2. Admission is a compare-and-swap that fails once `CLOSED` is set, so a
//!    submission racing a shutdown is either counted before the close (and
//!    drained) or rejected: never lost, never run after the drain ended.
//! 3. `CLOSED` is set once and never cleared. The thread that brings the
//!    count to zero while `CLOSED` is set, or that sets `CLOSED` while the
//!    count is zero, notifies `changed` under the `state` lock, so a waiter
//!    that checked the count under that lock cannot miss it.
//! 4. `aborted` goes from `false` to `true` once, only after `CLOSED`.
//! 5. `parked` holds the waker of every job that returned `Pending` at least
//!    once and has not ended. Jobs add themselves with the abort flag checked
//!    under the `parked` lock; the abort sets the flag before it takes that
//!    lock and drains it, so every parked job is woken once and polled
//!    again, and ends cancelled.
//! 6. The phase only moves forward: `Running → Closed → Terminated → Joined`.
//!    `Terminated` is reached only after every counted job has ended and
//!    every thread but the driver's own has been joined. Join wakers are
//!    woken when the phase reaches `Terminated` and again at `Joined`; each
//!    is woken contained, so one that panics never leaves the others
//!    unwoken.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::config::settings::ValidPoolConfig;
use crate::contain::{drop_contained, wake_all_contained};
use crate::error::JobError;
use crate::metrics::{ClassMetrics, Ending, Metrics};
use crate::sched::classes::{ClassIndex, ClassTable};
use crate::sched::group::JobGroup;
use crate::sched::queues::ClassQueues;
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, CachePadded, Condvar, Mutex, lock};

use slab::Slab;

const CLOSED: usize = 1;
const ONE_JOB: usize = 2;

/// The lifecycle phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Accepting jobs.
    Running,
    /// Shutdown requested: no new jobs; draining or aborting.
    Closed,
    /// Every job has ended and every thread but the driver's has exited.
    Terminated,
    /// The driver's thread has been joined too.
    Joined,
}

struct State {
    phase: Phase,
    /// When the graceful drain gives up and aborts, if a deadline was set.
    deadline: Option<Instant>,
    /// Joiners waiting for `Joined`.
    joiners: Vec<Waker>,
    /// Joins the driver's thread; taken by the first joiner that sees
    /// `Terminated`.
    threads: Vec<Box<dyn FnOnce() + Send>>,
    /// A joiner is joining the threads right now.
    joining: bool,
}

pub(crate) struct Shared {
    name: String,
    /// How many threads poll jobs (the builder's `worker_threads`).
    workers: usize,
    /// Whether jobs run inside spans (the builder's setting).
    job_spans: bool,
    /// See invariant 1. Written by submitters and workers for every job:
    /// on a line of its own.
    jobs: CachePadded<AtomicUsize>,
    /// Set by an immediate shutdown or an expired deadline: jobs stop at
    /// their next poll, closures see it through their `CancelToken`. Read by
    /// every poll: kept off the line that `jobs` bounces.
    aborted: Arc<CachePadded<AtomicBool>>,
    /// The workload classes: admission, accounting and the job counters.
    /// Shared with the backend's [`ClassQueues`].
    classes: Arc<ClassTable>,
    /// How long a poll runs before `yield_if_needed` yields.
    time_slice: Duration,
    /// Submissions rejected by a shutdown.
    rejected: AtomicU64,
    /// Polls the watchdog reported.
    stalled_polls: AtomicU64,
    state: Mutex<State>,
    /// Jobs waiting for a wake-up (invariant 5), woken by an abort.
    parked: Mutex<Slab<Waker>>,
    /// Notified on every change a blocking waiter may wait for: close,
    /// drained, abort.
    changed: Condvar,
}

/// One admitted job's count (invariant 1): what
/// [`ExecutorCore::admit`] returns and the job takes, with its class and
/// when it was submitted.
#[must_use = "an admission holds a job's count: hand it to the job at once"]
pub(crate) struct Admission {
    /// The lifecycle state the count is held in.
    pub(crate) core: Arc<Shared>,
    /// The class the job was admitted to.
    pub(crate) class: ClassIndex,
    /// When it was admitted, in nanoseconds since its class table's epoch.
    pub(crate) submitted: u64,
}

/// How the drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// Every job ended on its own.
    Drained,
    /// An immediate shutdown was requested, or the deadline passed: the
    /// driver must now cancel whatever is left.
    Aborted,
}

/// The lifecycle state of one executor, shared by every backend.
///
/// A backend creates it with [`ShutdownDriver::new`](crate::backend::ShutdownDriver::new),
/// returns it from [`ExecutorBackend::core`](crate::backend::ExecutorBackend::core),
/// and runs the jobs that reach its
/// [`ExecutorBackend::schedule`](crate::backend::ExecutorBackend::schedule).
/// Everything else (counting, rejecting, draining, cancelling, waking
/// joiners) is done here and by the driver, once, for every backend. Its
/// public methods are the ones [`Executor`](crate::Executor) offers users:
/// nothing here can break the lifecycle.
///
/// Cloning is cheap: clones share the same state.
#[derive(Clone)]
pub struct ExecutorCore {
    shared: Arc<Shared>,
}

impl<T> ClassQueues<T> {
    /// Empty queues for `core`'s classes, for a backend's workers to pop
    /// jobs from. They share `core`'s class table (the policy's state) and
    /// its abort flag (an immediate shutdown lifts the caps, so that jobs
    /// waiting for a budget start, and end cancelled).
    pub fn new(core: &ExecutorCore) -> Self {
        ClassQueues::for_table(core.shared.classes.clone(), core.shared.aborted.clone())
    }
}

impl fmt::Debug for ExecutorCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorCore")
            .field("name", &self.shared.name)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl ExecutorCore {
    /// A new core in the running phase, with the default settings: one
    /// class, job spans on.
    #[cfg(all(test, not(executor_loom)))]
    pub(crate) fn new(name: &str) -> Self {
        let config = crate::config::settings::PoolConfig::new(name)
            .validate()
            .expect("the default settings are valid");
        ExecutorCore::from_config(&config)
    }

    /// A new core in the running phase, for `config`'s name, classes, time
    /// slice and job spans.
    pub(crate) fn from_config(config: &ValidPoolConfig) -> Self {
        ExecutorCore {
            shared: Arc::new(Shared {
                job_spans: config.job_spans(),
                name: config.name().to_owned(),
                workers: config.workers(),
                jobs: CachePadded(AtomicUsize::new(0)),
                aborted: Arc::new(CachePadded(AtomicBool::new(false))),
                classes: Arc::new(ClassTable::new(config.classes())),
                time_slice: config.time_slice(),
                rejected: AtomicU64::new(0),
                stalled_polls: AtomicU64::new(0),
                state: Mutex::new(State {
                    phase: Phase::Running,
                    deadline: None,
                    joiners: Vec::new(),
                    threads: Vec::new(),
                    joining: false,
                }),
                parked: Mutex::new(Slab::new()),
                changed: Condvar::new(),
            }),
        }
    }

    /// The executor's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// How many threads poll the executor's jobs.
    pub fn worker_threads(&self) -> usize {
        self.shared.workers
    }

    /// A snapshot of the job counters, over every class.
    pub fn metrics(&self) -> Metrics {
        self.shared.classes.totals().into_metrics(
            self.shared.rejected.load(Relaxed),
            self.shared.stalled_polls.load(Relaxed),
        )
    }

    /// A snapshot of each class's figures, the default class first.
    pub fn class_metrics(&self) -> Vec<ClassMetrics> {
        self.shared.classes.metrics()
    }

    /// The class named `name`.
    pub(crate) fn class_named(&self, name: &str) -> Option<ClassIndex> {
        self.shared.classes.lookup(name)
    }

    /// The name of class `class`.
    pub(crate) fn class_name(&self, class: ClassIndex) -> String {
        self.shared.classes.class(class).name().to_string()
    }

    /// A new job group of class `class`.
    pub(crate) fn group(&self, class: ClassIndex) -> JobGroup {
        JobGroup::new(self.shared.classes.clone(), class)
    }

    /// The executor's classes, shared: a group's identity.
    pub(crate) fn class_table(&self) -> &Arc<ClassTable> {
        &self.shared.classes
    }

    /// The class table, for tests that look at a class's state.
    #[cfg(test)]
    pub(crate) fn classes(&self) -> &ClassTable {
        &self.shared.classes
    }

    /// Whether a shutdown (of any kind) has been requested.
    pub fn is_shutdown(&self) -> bool {
        self.shared.jobs.load(Acquire) & CLOSED != 0
    }

    /// Whether an immediate shutdown was requested or a deadline expired.
    pub fn is_aborted(&self) -> bool {
        self.shared.aborted.load(Acquire)
    }

    /// Whether jobs run inside spans (the builder's setting).
    pub(crate) fn job_spans(&self) -> bool {
        self.shared.job_spans
    }

    /// Admits a job to `class_index`: counts it and returns the count, for
    /// the job to take at once, with what `prepare` made. Refuses it with
    /// [`JobError::ShutDown`](crate::JobError::ShutDown) (counting a
    /// rejection) once a shutdown began, or with
    /// [`JobError::Overloaded`](crate::JobError::Overloaded) when the
    /// class's queue is full (a shutdown takes precedence), returning what
    /// `prepare` made if it ran.
    ///
    /// `prepare` runs once the class has room and before the job is
    /// counted: the job's side makes its span there (user code: the
    /// subscriber's), because nothing may come between counting a job and
    /// handing the count to it (invariant 1), and a refused job should cost
    /// no span.
    pub(crate) fn admit<T>(
        &self,
        class_index: ClassIndex,
        prepare: impl FnOnce() -> T,
    ) -> Result<(Admission, T), (JobError, Option<T>)> {
        let class = self.shared.classes.class(class_index);
        if self.is_shutdown() {
            return Err((self.reject(), None));
        }
        if let Err(reason) = class.reserve() {
            return Err((
                JobError::Overloaded {
                    class: class.name().to_string(),
                    reason,
                },
                None,
            ));
        }
        // `prepare` must not unwind: the slot just reserved would leak
        // (the job side's contains the subscriber's panics).
        let prepared = prepare();
        let mut current = self.shared.jobs.load(Relaxed);
        loop {
            if current & CLOSED != 0 {
                class.release();
                return Err((self.reject(), Some(prepared)));
            }
            // Acquire/Release: orders the admission with the close (invariant 2).
            match self.shared.jobs.compare_exchange_weak(
                current,
                current + ONE_JOB,
                AcqRel,
                Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        class.submitted();
        let admission = Admission {
            core: self.shared.clone(),
            class: class_index,
            submitted: self.shared.classes.nanos(Instant::now()),
        };
        Ok((admission, prepared))
    }

    /// Counts a submission made after a shutdown began, and says why it was
    /// refused.
    fn reject(&self) -> JobError {
        self.shared.rejected.fetch_add(1, Relaxed);
        JobError::ShutDown
    }

    /// Graceful shutdown: reject new jobs, let every admitted job finish.
    /// Harmless if a shutdown was already requested.
    pub fn shutdown(&self) {
        self.close(None);
    }

    /// Graceful shutdown that turns immediate after `timeout`. An earlier
    /// deadline already set is kept.
    pub fn shutdown_timeout(&self, timeout: Duration) {
        // A timeout too large for `Instant` means no deadline.
        self.close(Instant::now().checked_add(timeout));
    }

    /// Immediate shutdown: reject new jobs and cancel every admitted job.
    pub fn shutdown_now(&self) {
        self.close(None);
        self.abort();
    }

    fn close(&self, deadline: Option<Instant>) {
        // Release: a job admitted before the close happens-before the drain
        // that sees the close (invariant 2).
        self.shared.jobs.fetch_or(CLOSED, AcqRel);
        let mut state = lock(&self.shared.state);
        if state.phase == Phase::Running {
            state.phase = Phase::Closed;
        }
        if let Some(deadline) = deadline {
            state.deadline = Some(match state.deadline {
                Some(earlier) => earlier.min(deadline),
                None => deadline,
            });
        }
        // Under the lock: invariant 3.
        self.shared.changed.notify_all();
    }

    fn abort(&self) {
        {
            let _state = lock(&self.shared.state);
            // Release pairs with the Acquire in `CancelToken::is_cancelled`,
            // `Job::poll` and `Shared::park`.
            self.shared.aborted.store(true, Release);
            self.shared.changed.notify_all();
        }
        // Invariant 5: wake every parked job so that it ends at its next
        // poll. Wakers run outside the lock.
        let parked: Vec<Waker> = lock(&self.shared.parked).drain().collect();
        wake_all_contained(parked);
    }

    /// Blocks until a shutdown has been requested and every admitted job has
    /// ended ([`Drain::Drained`]), or until an immediate shutdown is
    /// requested or the deadline passes ([`Drain::Aborted`]; the abort flag
    /// is then set, so running jobs stop at their next poll and closures see
    /// the cancel).
    ///
    /// For the backend's shutdown thread only: it blocks, so never call it
    /// from async code.
    pub(crate) fn drain(&self) -> Drain {
        self.wait_until(|jobs| jobs == CLOSED)
    }

    /// Blocks until every admitted job has ended, whether the shutdown is
    /// graceful or aborted. After an abort, every job still alive has been
    /// woken and ends at its next poll, so this waits only for jobs that
    /// are running right now.
    ///
    /// Call it after [`drain`](Self::drain); for the backend's shutdown
    /// thread only.
    pub(crate) fn wait_for_jobs(&self) {
        let mut state = lock(&self.shared.state);
        while self.shared.jobs.load(Acquire) != CLOSED {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Blocks for at most `timeout`; returns `true` early if the shutdown
    /// turns immediate meanwhile (setting the abort flag if the deadline
    /// passed), `false` once `timeout` has elapsed.
    ///
    /// For backends that must also wait for work outside the job count (the
    /// Tokio backend waits for tasks that jobs spawned) and can only poll for
    /// it.
    pub(crate) fn pause(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        self.wait_until_or(|_| false, Some(until)) == Drain::Aborted
    }

    fn wait_until(&self, done: impl Fn(usize) -> bool) -> Drain {
        self.wait_until_or(done, None)
    }

    /// Waits until `done(jobs)`, an abort, the shutdown deadline, or
    /// `until`, whichever comes first. Reaching `until` counts as
    /// `Drained` (nothing aborted).
    fn wait_until_or(&self, done: impl Fn(usize) -> bool, until: Option<Instant>) -> Drain {
        let mut state = lock(&self.shared.state);
        loop {
            if self.shared.aborted.load(Acquire) {
                return Drain::Aborted;
            }
            if done(self.shared.jobs.load(Acquire)) {
                return Drain::Drained;
            }
            let now = Instant::now();
            if let Some(deadline) = state.deadline
                && now >= deadline
            {
                drop(state);
                self.abort();
                return Drain::Aborted;
            }
            if let Some(until) = until
                && now >= until
            {
                return Drain::Drained;
            }
            let wake_at = match (state.deadline, until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            state = match wake_at {
                None => self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(at) => {
                    self.shared
                        .changed
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
    }

    /// Registers the driver's thread, which the first joiner joins after
    /// [`terminate`](Self::terminate): by then it has finished every step
    /// of the shutdown and only returns.
    pub(crate) fn register_thread(&self, join_thread: impl FnOnce() + Send + 'static) {
        lock(&self.shared.state).threads.push(Box::new(join_thread));
    }

    /// Marks the executor terminated: every job has ended and every thread
    /// but the driver's has exited. Joiners are woken; they resolve once
    /// the driver's thread is joined.
    ///
    /// The driver's last act: whatever its thread does after this call
    /// races the joiners.
    pub(crate) fn terminate(&self) {
        let mut state = lock(&self.shared.state);
        if state.phase < Phase::Terminated {
            state.phase = if state.threads.is_empty() {
                Phase::Joined
            } else {
                Phase::Terminated
            };
        }
        // Wake every joiner: the first to run joins the driver's thread,
        // the others register again and are woken when it is done.
        let joiners = std::mem::take(&mut state.joiners);
        self.shared.changed.notify_all();
        drop(state);
        wake_all_contained(joiners);
    }

    /// Counts a poll that ran past the watchdog's threshold.
    pub(crate) fn count_stalled_poll(&self) {
        self.shared.stalled_polls.fetch_add(1, Relaxed);
    }

    /// Jobs that have waited for a wake-up at least once and not ended: the
    /// jobs an immediate shutdown has to wake. For diagnostics and tests.
    pub fn parked_jobs(&self) -> usize {
        lock(&self.shared.parked).len()
    }

    /// Whether [`join`](Self::join) would resolve now.
    pub fn is_joined(&self) -> bool {
        lock(&self.shared.state).phase == Phase::Joined
    }

    /// A future that resolves once the executor has terminated and its
    /// threads are joined. It does not request a shutdown.
    pub fn join(&self) -> Join {
        Join {
            shared: self.shared.clone(),
        }
    }
}

impl Shared {
    pub(crate) fn aborted_flag(&self) -> &AtomicBool {
        &self.aborted
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Acquire)
    }

    /// Registers a job's waker for the abort wake-up (invariant 5). Returns
    /// `Some(key)` to pass to [`unpark`](Self::unpark) when the job ends, or
    /// `None` if the executor is already aborting: the caller must then
    /// wake itself.
    pub(crate) fn park(&self, waker: &Waker) -> Option<usize> {
        let mut parked = lock(&self.parked);
        if self.aborted.load(Acquire) {
            return None;
        }
        Some(parked.insert(waker.clone()))
    }

    /// Removes a parked job's waker; it may already be gone (the abort
    /// drained it).
    pub(crate) fn unpark(&self, key: usize) {
        let waker = lock(&self.parked).try_remove(key);
        drop_contained(waker);
    }

    pub(crate) fn classes(&self) -> &ClassTable {
        &self.classes
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn time_slice(&self) -> Duration {
        self.time_slice
    }

    /// Counts how a job ended. Called before its outcome is delivered, so
    /// that the metrics already show the ending when the handle resolves.
    pub(crate) fn count_ending(&self, class: ClassIndex, started: bool, ending: Ending) {
        self.classes.class(class).ended(started, ending);
    }

    /// A job ended (invariant 1): release its count and wake the drain if it
    /// was the last one after the close. Called after its outcome is
    /// delivered, so that a handle awaited after `join` resolves at once.
    pub(crate) fn job_ended(&self) {
        // AcqRel: everything the job did happens-before the drain that sees
        // the count reach zero.
        let previous = self.jobs.fetch_sub(ONE_JOB, AcqRel);
        if previous == CLOSED | ONE_JOB {
            let _state = lock(&self.state);
            self.changed.notify_all();
        }
    }
}

/// Resolves once the executor has terminated and its threads are joined.
///
/// Returned by [`Executor::join`](crate::Executor::join) and
/// [`ExecutorCore::join`].
///
/// Polling it never waits for the executor's work: the shutdown driver
/// waits for every job, stops the backend's threads and joins them (and
/// the watchdog's) on a thread of its own, then wakes the joiners. The
/// first `Join` polled after that joins the driver's thread, which has
/// finished every step and only returns, so that no thread of the
/// executor is left when any `Join` resolves. A joiner's waker that panics
/// is contained: the others are woken all the same.
///
/// # Cancel safety
///
/// Dropping a `Join` before it resolves has no effect on the executor;
/// another `join` can be awaited later.
#[must_use = "a join does nothing unless awaited"]
pub struct Join {
    shared: Arc<Shared>,
}

impl fmt::Debug for Join {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("executor", &self.shared.name)
            .finish()
    }
}

impl Future for Join {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &self.shared;
        let mut state = lock(&shared.state);
        match state.phase {
            Phase::Joined => Poll::Ready(()),
            Phase::Terminated if !state.joining => {
                state.joining = true;
                let threads = std::mem::take(&mut state.threads);
                drop(state);
                // Only the driver's thread is left, and it called
                // `terminate` as its last act: this waits for nothing but
                // its return.
                threads.into_iter().for_each(|join_thread| join_thread());
                let mut state = lock(&shared.state);
                state.phase = Phase::Joined;
                state.joining = false;
                let joiners = std::mem::take(&mut state.joiners);
                drop(state);
                wake_all_contained(joiners);
                Poll::Ready(())
            }
            _ => {
                if !state.joiners.iter().any(|w| w.will_wake(cx.waker())) {
                    state.joiners.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    //! The lifecycle core driven directly, with plain threads standing in for a
    //! backend: the cases the backends' suites cannot order deterministically.
    //! Unit tests, since the lifecycle's plumbing is private to this crate.

    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use crate::error::JobError;
    use crate::job::future::{FutureBody, Job, JobBody};
    use crate::job::handle::JobHandle;
    use crate::lifecycle::core::{Drain, ExecutorCore};
    use crate::sched::classes::ClassIndex;
    use futures::task::{ArcWake, waker};

    /// Submits `body` to `core` in the default class, unnamed.
    fn admit<B: JobBody>(core: &ExecutorCore, body: B) -> (Option<Job<B>>, JobHandle<B::Output>) {
        Job::admit(core, body, None, ClassIndex::DEFAULT, None)
    }

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl ArcWake for Counter {
        fn wake_by_ref(counter: &Arc<Self>) {
            counter.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        (counter.clone(), waker(counter))
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    fn poll_job<B: JobBody>(job: &mut Pin<Box<Job<B>>>, waker: &Waker) -> Poll<()> {
        job.as_mut().poll(&mut Context::from_waker(waker))
    }

    /// A body that stays pending until `rx` fires.
    fn pending_until(
        rx: futures::channel::oneshot::Receiver<u32>,
    ) -> FutureBody<impl Future<Output = u32>> {
        FutureBody::new(async move { rx.await.unwrap_or(0) })
    }

    /// The state queries say where the lifecycle is.
    #[test]
    fn state_queries_follow_the_lifecycle() {
        let core = ExecutorCore::new("states");
        assert!(!core.is_shutdown() && !core.is_aborted() && !core.is_joined());
        core.shutdown();
        assert!(core.is_shutdown() && !core.is_aborted());
        core.shutdown_now();
        assert!(core.is_shutdown() && core.is_aborted());
        assert_eq!(core.drain(), Drain::Aborted);
        assert!(!core.is_joined());
        core.terminate();
        assert!(
            core.is_joined(),
            "no threads registered: terminated is joined"
        );
        assert_eq!(core.name(), "states");
    }

    /// Debug output names the executor and the handle's state.
    #[test]
    fn debug_output_is_informative() {
        let core = ExecutorCore::new("debugged");
        assert!(format!("{core:?}").contains("debugged"));
        assert!(format!("{:?}", core.join()).contains("debugged"));
        let (job, handle) = admit(&core, FutureBody::new(async { 1 }));
        assert!(format!("{handle:?}").contains("finished: false"));
        drop(job);
        assert!(format!("{handle:?}").contains("finished: true"));
    }

    /// A handle polled again from another task wakes that task, not the first.
    #[test]
    fn handle_wakes_its_latest_waker() {
        let core = ExecutorCore::new("wakers");
        let (tx, rx) = futures::channel::oneshot::channel();
        let (job, mut handle) = admit(&core, pending_until(rx));
        let mut job = Box::pin(job.expect("admitted"));
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        assert!(poll(&mut handle, &first_waker).is_pending());
        assert!(poll(&mut handle, &second_waker).is_pending());
        assert!(poll_job(&mut job, Waker::noop()).is_pending());
        tx.send(5).unwrap();
        assert!(poll_job(&mut job, Waker::noop()).is_ready());
        assert_eq!(
            second.0.load(Ordering::SeqCst),
            1,
            "the latest waker was not woken"
        );
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(poll(&mut handle, &second_waker), Poll::Ready(Ok(5)));
    }

    /// A job polled again with another waker is woken through that one when
    /// cancelled.
    #[test]
    fn cancel_wakes_the_jobs_latest_waker() {
        let core = ExecutorCore::new("task-wakers");
        let (_tx, rx) = futures::channel::oneshot::channel();
        let (job, handle) = admit(&core, pending_until(rx));
        let mut job = Box::pin(job.expect("admitted"));
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        assert!(poll_job(&mut job, &first_waker).is_pending());
        assert!(poll_job(&mut job, &second_waker).is_pending());
        handle.cancel();
        assert_eq!(
            second.0.load(Ordering::SeqCst),
            1,
            "the latest waker was not woken"
        );
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert!(poll_job(&mut job, &second_waker).is_ready());
        assert_eq!(
            futures::executor::block_on(handle),
            Err(JobError::Cancelled)
        );
    }

    /// A cancel that lands while the body is being polled makes the job wake
    /// itself, so that it ends instead of waiting for a wake-up that never
    /// comes.
    #[test]
    fn cancel_during_a_poll_is_not_lost() {
        let core = ExecutorCore::new("mid-poll");
        let slot: Arc<Mutex<Option<JobHandle<()>>>> = Arc::default();
        let cancel_from_body = slot.clone();
        let (job, handle) = admit(
            &core,
            FutureBody::new(std::future::poll_fn(move |_| {
                if let Some(handle) = cancel_from_body.lock().unwrap().as_ref() {
                    handle.cancel();
                }
                Poll::<()>::Pending
            })),
        );
        *slot.lock().unwrap() = Some(handle);
        let mut job = Box::pin(job.expect("admitted"));
        let (woken, waker) = counting_waker();
        assert!(poll_job(&mut job, &waker).is_pending());
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            1,
            "the job must wake itself"
        );
        assert!(poll_job(&mut job, &waker).is_ready());
        let handle = slot.lock().unwrap().take().unwrap();
        assert_eq!(
            futures::executor::block_on(handle),
            Err(JobError::Cancelled)
        );
    }

    /// Parked jobs leave the parked set when they end, and an abort wakes the
    /// ones still parked.
    #[test]
    fn parked_jobs_are_tracked_and_woken_by_an_abort() {
        let core = ExecutorCore::new("parked");
        let (tx, rx) = futures::channel::oneshot::channel();
        let (job, _handle) = admit(&core, pending_until(rx));
        let mut finishing = Box::pin(job.expect("admitted"));
        let (_rx_tx, rx2) = futures::channel::oneshot::channel();
        let (job, stuck_handle) = admit(&core, pending_until(rx2));
        let mut stuck = Box::pin(job.expect("admitted"));
        assert_eq!(core.parked_jobs(), 0);
        assert!(poll_job(&mut finishing, Waker::noop()).is_pending());
        let (woken, waker) = counting_waker();
        assert!(poll_job(&mut stuck, &waker).is_pending());
        assert_eq!(core.parked_jobs(), 2);
        tx.send(1).unwrap();
        assert!(poll_job(&mut finishing, Waker::noop()).is_ready());
        assert_eq!(core.parked_jobs(), 1, "an ended job left its waker behind");
        core.shutdown_now();
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            1,
            "the abort did not wake the parked job"
        );
        assert_eq!(core.parked_jobs(), 0);
        assert!(poll_job(&mut stuck, Waker::noop()).is_ready());
        assert_eq!(
            futures::executor::block_on(stuck_handle),
            Err(JobError::Cancelled)
        );
    }

    /// After an abort, `wait_for_jobs` returns only once the jobs have ended.
    #[test]
    fn wait_for_jobs_waits_for_the_running_jobs() {
        let core = ExecutorCore::new("wait");
        let (_tx, rx) = futures::channel::oneshot::channel();
        let (job, handle) = admit(&core, pending_until(rx));
        let mut job = Box::pin(job.expect("admitted"));
        assert!(poll_job(&mut job, Waker::noop()).is_pending());
        core.shutdown_now();
        assert_eq!(core.drain(), Drain::Aborted);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let waiter = {
            let core = core.clone();
            std::thread::spawn(move || {
                core.wait_for_jobs();
                done_tx.send(core.metrics().in_flight()).unwrap();
            })
        };
        // Bounded observation: the waiter must still be waiting.
        assert!(done_rx.recv_timeout(Duration::from_millis(100)).is_err());
        assert!(poll_job(&mut job, Waker::noop()).is_ready());
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(60)), Ok(0));
        waiter.join().unwrap();
        assert_eq!(
            futures::executor::block_on(handle),
            Err(JobError::Cancelled)
        );
    }

    /// `join` joins each registered thread once, and a second joiner waits
    /// until the first has finished joining them.
    #[test]
    fn join_joins_registered_threads_once() {
        let core = ExecutorCore::new("threads");
        let joins = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (joining_tx, joining_rx) = std::sync::mpsc::channel::<()>();
        {
            let joins = joins.clone();
            core.register_thread(move || {
                joining_tx.send(()).unwrap();
                // Stands in for a thread that takes a moment to exit.
                release_rx.recv().unwrap();
                joins.fetch_add(1, Ordering::SeqCst);
            });
        }
        core.shutdown();
        assert_eq!(core.drain(), Drain::Drained);
        core.terminate();
        let first = {
            let core = core.clone();
            std::thread::spawn(move || futures::executor::block_on(core.join()))
        };
        joining_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        let mut second = core.join();
        let (woken, waker) = counting_waker();
        assert!(
            poll(&mut second, &waker).is_pending(),
            "joined before the threads were"
        );
        release_tx.send(()).unwrap();
        first.join().unwrap();
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            1,
            "the second joiner was not woken"
        );
        assert!(poll(&mut second, &waker).is_ready());
        futures::executor::block_on(core.join());
        assert_eq!(joins.load(Ordering::SeqCst), 1);
    }
}
