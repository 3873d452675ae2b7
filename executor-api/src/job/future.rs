//! [`Job`]: the future a backend runs for each submitted job.

use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use crate::contain::{drop_contained, drop_payload};
use crate::error::JobError;
use crate::job::cancel::CancelToken;
use crate::job::cell::{Delivery, JobCell, Start};
use crate::job::handle::JobHandle;
use crate::job::scope::ScopeParts;
use crate::job::slice::Slice;
use crate::job::trace::{JobTrace, drop_trace};
use crate::lifecycle::core::{Admission, ExecutorCore, Shared};
use crate::lifecycle::worker::WatchedPoll;
use crate::metrics::Ending;
use crate::sched::classes::ClassIndex;
use crate::sched::group::GroupShared;
use crate::sched::queues::Placement;
use crate::sync::Arc;

mod sealed {
    pub trait Sealed {}
}

/// What a job runs: a future ([`FutureBody`]) or a CPU closure
/// ([`ClosureBody`]). Sealed: only this crate provides bodies.
pub trait JobBody: sealed::Sealed + Send + 'static {
    /// The job's value.
    type Output: Send + 'static;

    /// Whether a cancellation seen when the body returns turns its value
    /// into [`JobError::Cancelled`]. True for closures: a cooperative
    /// closure that noticed the cancel returns early with a partial value.
    const CANCEL_DISCARDS_VALUE: bool;

    /// Makes progress on the body.
    fn poll_body(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        cancel: &CancelToken<'_>,
    ) -> Poll<Self::Output>;
}

pin_project! {
    /// The body of a job submitted with [`Executor::spawn`](crate::Executor::spawn).
    #[derive(Debug)]
    pub struct FutureBody<F> {
        #[pin]
        future: F,
    }
}

impl<F> FutureBody<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> Self {
        FutureBody { future }
    }
}

impl<F> sealed::Sealed for FutureBody<F> {}

impl<F> JobBody for FutureBody<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;
    const CANCEL_DISCARDS_VALUE: bool = false;

    fn poll_body(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _cancel: &CancelToken<'_>,
    ) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// The body of a job submitted with
/// [`Executor::spawn_cpu`](crate::Executor::spawn_cpu): a closure run once,
/// on its first poll.
#[derive(Debug)]
pub struct ClosureBody<F> {
    closure: Option<F>,
}

impl<F> ClosureBody<F> {
    /// Wraps `closure`.
    pub fn new(closure: F) -> Self {
        ClosureBody {
            closure: Some(closure),
        }
    }
}

// The closure is moved out, never pinned in place.
impl<F> Unpin for ClosureBody<F> {}

impl<F> sealed::Sealed for ClosureBody<F> {}

impl<F, T> JobBody for ClosureBody<F>
where
    F: FnOnce(&CancelToken<'_>) -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
    const CANCEL_DISCARDS_VALUE: bool = true;

    fn poll_body(self: Pin<&mut Self>, _cx: &mut Context<'_>, cancel: &CancelToken<'_>) -> Poll<T> {
        let closure = self
            .get_mut()
            .closure
            .take()
            .expect("a closure job is polled once: `Job` ends it on its first poll");
        Poll::Ready(closure(cancel))
    }
}

pin_project! {
    /// One admitted job, as a `Future<Output = ()>` for a backend to run.
    ///
    /// Made by the executor's submission path when it admits a job.
    /// The job ends exactly once, and its handle resolves then:
    ///
    /// - when the body finishes or panics (the panic is caught here; it never
    ///   reaches the backend's thread);
    /// - when it is polled after cancellation was requested (handle dropped
    ///   or cancelled, or immediate shutdown): the body is dropped unpolled;
    /// - when the backend drops it unfinished: it resolves as cancelled.
    ///
    /// The body is dropped before the handle resolves, so whatever the job
    /// captured is gone by the time its handle reports the outcome.
    ///
    /// Until its first poll, the body waits in the cell the job shares with
    /// its handle, where a cancellation can take it and end the job at
    /// once, without waiting for a worker (see `job::cell`).
    #[must_use = "a job does nothing unless polled, and is cancelled when dropped"]
    pub struct Job<B: JobBody> {
        // `None` until the first poll takes it from the cell, and again
        // once the job has ended.
        #[pin]
        body: Option<B>,
        cell: std::sync::Arc<JobCell<B::Output, Start<B>>>,
        // The key of this job's waker in the core's parked set (plus one,
        // so that the option costs no space), once it has returned
        // `Pending`.
        parked: Option<NonZeroUsize>,
        started: bool,
        ended: bool,
        // Its executor, workload class and group (if it has one): charged
        // for its polls, and current on the thread while it is polled, for
        // the tasks it spawns (see `job::scope`).
        scope: ScopeParts,
        // When it was admitted, in nanoseconds since its class table's
        // epoch.
        submitted: u64,
        // The spans its polls enter (see `job::trace`), if any.
        trace: Option<Box<JobTrace>>,
    }

    impl<B: JobBody> PinnedDrop for Job<B> {
        fn drop(mut this: Pin<&mut Self>) {
            if !this.ended {
                // Dropped unfinished: the ending still runs in its span.
                let _entered = this.as_mut().project().trace.as_mut().map(|trace| trace.enter());
                this.as_mut().end(Err(JobError::Cancelled), false);
            }
            drop_trace(this.project().trace.take());
        }
    }
}

impl<B: JobBody> Job<B> {
    /// Submits `body` to `core`'s executor, in `class` (and `group`, which
    /// must be of that class and executor), named `name`: the job to
    /// schedule and its handle, or, when the core refuses it (a shutdown
    /// began, the class's queue is full), no job and a handle that resolves
    /// to the refusal. A refused body is dropped here, contained.
    pub(crate) fn admit(
        core: &ExecutorCore,
        body: B,
        name: Option<std::sync::Arc<str>>,
        class: ClassIndex,
        group: Option<std::sync::Arc<GroupShared>>,
    ) -> (Option<Self>, JobHandle<B::Output>) {
        // The span is made once the class has room and before the job is
        // counted: it runs the subscriber's code, and nothing may come
        // between counting a job and handing it over (the core's invariant
        // 1). A subscriber that panics gets the job no span.
        let make_trace = || {
            if core.job_spans() {
                JobTrace::new(core.name(), name.as_deref())
            } else {
                None
            }
        };
        match core.admit(class, make_trace) {
            Ok((admission, trace)) => {
                let (job, handle) = Job::new(admission, body, name, trace, group);
                (Some(job), handle)
            }
            Err((refusal, trace)) => {
                drop_trace(trace.flatten());
                // The body is user code: its destructor may panic.
                drop_contained(body);
                (None, JobHandle::refused(refusal))
            }
        }
    }

    /// A job and its handle. The name (shown by the watchdog and by
    /// tokio-console) lives in the cell they share: the job's own
    /// allocation stays small, which keeps it in the allocator's
    /// lock-free size class when a worker frees it.
    /// Takes `admission`'s count: the job holds it until it ends.
    pub(crate) fn new(
        admission: Admission,
        body: B,
        name: Option<std::sync::Arc<str>>,
        trace: Option<Box<JobTrace>>,
        group: Option<std::sync::Arc<GroupShared>>,
    ) -> (Self, JobHandle<B::Output>) {
        if let Some(group) = &group {
            group.admitted();
        }
        let Admission {
            core,
            class,
            submitted,
        } = admission;
        let cell = std::sync::Arc::new(JobCell::new(name, Start::new(body, core, class)));
        let handle = JobHandle::new(cell.clone());
        let job = Job {
            body: None,
            cell,
            parked: None,
            started: false,
            ended: false,
            scope: ScopeParts::new(class, group),
            submitted,
            trace,
        };
        (job, handle)
    }

    fn core(&self) -> &Arc<Shared> {
        self.cell.start().core()
    }

    fn cancel_requested(&self) -> bool {
        self.cell.is_cancelled() || self.core().is_aborted()
    }

    /// Whether the job has its body: taken from the cell by its first poll
    /// (or by its ending), and not yet dropped by its ending.
    fn has_body(&self) -> bool {
        self.body.is_some()
    }

    /// Takes the body from the cell, where it waited for the job to start.
    /// Returns `false` if a cancellation took it first: that cancellation
    /// ended the job, and this one is marked ended without a word.
    fn claim_body(mut self: Pin<&mut Self>) -> bool {
        match self.cell.start().take() {
            Some(body) => {
                self.as_mut().project().body.set(Some(body));
                true
            }
            None => {
                *self.project().ended = true;
                false
            }
        }
    }

    /// The job leaves its group (if it has one), having `started` or not:
    /// last, before its handle resolves. `polled`: a worker took it to
    /// poll it, and ends it without a charge (see `sched::time_sharing` on
    /// what a choice costs a group until its poll is charged).
    fn leave_group(self: Pin<&mut Self>, started: bool, polled: bool) {
        if let Some(group) = self.project().scope.take_group() {
            if polled {
                group.charge(0, true);
            }
            group.ended(started);
        }
    }

    /// The error a job that reaches a worker at `now` (nanoseconds since
    /// its class table's epoch) ends with unrun, if it waited longer than
    /// its class allows.
    fn expired(&self, now: u64) -> Option<JobError> {
        let class = self.core().classes().class(self.scope.class_index());
        class
            .expired(self.submitted, now)
            .map(|reason| JobError::Overloaded {
                class: class.name().to_string(),
                reason,
            })
    }

    /// Drops the body, delivers the outcome, and releases the job's count.
    ///
    /// Every step that runs user code (the body's destructor, the
    /// awaiter's waker, the destructor of an outcome nobody will read) is
    /// contained, and the count is released by a guard, so the job's ending
    /// is counted exactly once on every path.
    ///
    /// A job that never started takes its body from the cell first; if a
    /// cancellation took it, that cancellation ended the job, and this does
    /// nothing.
    ///
    /// `polled`: a worker took the job to poll it and ends it uncharged.
    fn end(mut self: Pin<&mut Self>, outcome: Result<B::Output, JobError>, polled: bool) {
        if !self.started && !self.has_body() && !self.as_mut().claim_body() {
            // The cancellation that took the body counted the job's
            // ending; its group learns of it here.
            self.leave_group(false, polled);
            drop_contained(outcome);
            return;
        }
        let started = self.started;
        self.as_mut().leave_group(started, polled);
        let this = self.project();
        *this.ended = true;
        let core = this.cell.start().core();
        let _release = ReleaseOnDrop {
            core,
            parked: this.parked.take().map(|key| key.get() - 1),
        };
        // Drop what the job captured before the handle can observe the
        // outcome. A panicking destructor is reported like a panicking job.
        let mut body = this.body;
        let dropped = catch_unwind(AssertUnwindSafe(|| body.set(None)));
        let outcome = match (outcome, dropped) {
            (outcome, Ok(())) => outcome,
            (Ok(value), Err(payload)) => {
                drop_contained(value);
                Err(JobError::from_panic(payload))
            }
            (outcome @ Err(_), Err(payload)) => {
                drop_payload(payload);
                outcome
            }
        };
        let ending = match &outcome {
            Ok(_) => Ending::Completed,
            Err(JobError::Panicked { .. }) => Ending::Panicked,
            Err(JobError::Overloaded { .. }) => Ending::Expired,
            Err(_) => Ending::Cancelled,
        };
        core.count_ending(this.scope.class_index(), *this.started, ending);
        if let Delivery::Discarded(outcome) = this.cell.complete(outcome) {
            // Nobody will read it: drop it here, still counted as live so
            // that the drain waits for the destructor.
            drop_contained(outcome);
        }
    }
}

/// Releases an ended job's count (invariant 1 of the core) when dropped:
/// last, and even if a step of the ending panicked.
struct ReleaseOnDrop<'a> {
    core: &'a Arc<Shared>,
    parked: Option<usize>,
}

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.parked.take() {
            self.core.unpark(key);
        }
        self.core.job_ended();
    }
}

impl<B: JobBody> Future for Job<B> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended {
            return Poll::Ready(());
        }
        // Everything the poll does, a cancelled job's ending included, is
        // inside the job's span. (The guard holds a clone of the span: it
        // must not borrow the job, which `end` takes.)
        let _entered = self
            .as_mut()
            .project()
            .trace
            .as_mut()
            .map(|trace| trace.enter());
        if !self.started && !self.has_body() && !self.as_mut().claim_body() {
            // A cancellation ended it before it could start.
            self.leave_group(false, true);
            return Poll::Ready(());
        }
        if self.cancel_requested() {
            self.end(Err(JobError::Cancelled), true);
            return Poll::Ready(());
        }
        let start = Instant::now();
        let start_ns = self.core().classes().nanos(start);
        if !self.started
            && let Some(expired) = self.expired(start_ns)
        {
            self.end(Err(expired), true);
            return Poll::Ready(());
        }
        let this = self.as_mut().project();
        let scope: &ScopeParts = this.scope;
        let core = this.cell.start().core();
        if !*this.started {
            *this.started = true;
            core.classes()
                .class(scope.class_index())
                .started(start_ns.saturating_sub(*this.submitted));
            if let Some(group) = scope.group() {
                group.started();
            }
        }
        let cancel = CancelToken::new(this.cell.cancel_flag(), core.aborted_flag());
        let body = this
            .body
            .as_pin_mut()
            .expect("the body is present until the job ends");
        let watched = WatchedPoll::begin(this.cell.name(), start);
        // A slice too long for the clock never ends: the job never yields.
        let slice = Slice::begin(start.checked_add(core.time_slice()));
        let polled = catch_unwind(AssertUnwindSafe(|| {
            scope.enter(core, || body.poll_body(cx, &cancel))
        }));
        drop(slice);
        drop(watched);
        scope.charge(core, start, Instant::now(), true);
        let outcome = match polled {
            Ok(Poll::Pending) => {
                let cancelled = this.cell.register_task_waker(cx.waker());
                // Register for the abort wake-up once: every clone of a
                // task's waker wakes the same task.
                let aborting = this.parked.is_none() && {
                    *this.parked = core
                        .park(cx.waker())
                        .map(|key| NonZeroUsize::MIN.saturating_add(key));
                    this.parked.is_none()
                };
                if cancelled || aborting {
                    // Cancelled while we polled: come back to end the job.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(value)) => {
                if B::CANCEL_DISCARDS_VALUE && cancel.is_cancelled() {
                    drop_contained(value);
                    Err(JobError::Cancelled)
                } else {
                    Ok(value)
                }
            }
            Err(payload) => Err(JobError::from_panic(payload)),
        };
        self.end(outcome, false);
        Poll::Ready(())
    }
}

/// A type-erased [`Job`], for backends behind
/// [`AnyExecutor`](crate::AnyExecutor).
#[must_use = "a job does nothing unless polled, and is cancelled when dropped"]
pub struct BoxedJob {
    job: Pin<Box<dyn Future<Output = ()> + Send>>,
    name: Option<std::sync::Arc<str>>,
    placement: Placement,
}

impl BoxedJob {
    pub(crate) fn new<J: RunnableJob>(job: J) -> Self {
        let name = job.name().map(std::sync::Arc::from);
        let placement = job.placement();
        BoxedJob {
            job: Box::pin(job),
            name,
            placement,
        }
    }
}

impl Future for BoxedJob {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.job.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for BoxedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxedJob")
    }
}

/// A job ready to run: [`Job`] or [`BoxedJob`]. A backend's
/// [`ExecutorBackend::schedule`](crate::backend::ExecutorBackend::schedule) runs it as a plain
/// `Future<Output = ()>` on its threads. Sealed: jobs only come from
/// the executor's submission path, once admitted.
pub trait RunnableJob: sealed::Sealed + Future<Output = ()> + Send + 'static {
    /// The job's name, if it was given one: a backend names its task after
    /// it.
    fn name(&self) -> Option<&str>;

    /// The job's workload class.
    fn class(&self) -> ClassIndex;

    /// Where the job is queued: its class and group, for
    /// [`ClassQueues::push`](crate::backend::ClassQueues::push).
    fn placement(&self) -> Placement;
}

impl<B: JobBody> sealed::Sealed for Job<B> {}
impl<B: JobBody> RunnableJob for Job<B> {
    fn name(&self) -> Option<&str> {
        self.cell.name().map(|name| &**name)
    }

    fn class(&self) -> ClassIndex {
        self.scope.class_index()
    }

    fn placement(&self) -> Placement {
        Placement {
            class: self.scope.class_index(),
            group: self.scope.group().map(std::sync::Arc::downgrade),
        }
    }
}
impl sealed::Sealed for BoxedJob {}
impl RunnableJob for BoxedJob {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn class(&self) -> ClassIndex {
        self.placement.class
    }

    fn placement(&self) -> Placement {
        self.placement.clone()
    }
}
