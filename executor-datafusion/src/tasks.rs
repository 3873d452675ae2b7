//! [`TaskAttribution`]: the tasks DataFusion spawns from a plan's jobs run
//! as jobs of the same executor, in the plan's group and class.
//!
//! DataFusion spawns tasks of its own (`SpawnedTask`, `JoinSet`: a
//! `RepartitionExec`'s inputs, a join's build side) with `tokio::spawn`.
//! From inside a job that lands on the executor's Tokio runtime, whose
//! workers the executor's scheduler does not see: the query's heaviest work
//! would escape its class's weight and cap and its group's place, and run
//! on threads beside the pool's, not on them. DataFusion hands every such
//! task to a process-wide [`JoinSetTracer`] before spawning it; this one,
//! when the task comes from a job of a plan that this crate runs (its
//! *home*: the executor and the plan's group), submits the task to
//! the executor as a job of the plan's group, and hands DataFusion a small
//! proxy that awaits the job's handle:
//!
//! - the task runs on the pool's threads, at the pool's priority, in the
//!   plan's class and group, scheduled with its other jobs, and counts in
//!   the executor's metrics as a job (and in `in_flight`, like the proxy,
//!   a task alive on the executor's runtime);
//! - dropping the proxy (DataFusion aborts its tasks when the query is
//!   dropped) drops the job's handle, which cancels the job;
//! - a panic in the task resolves the job to [`JobError::Panicked`], which
//!   the proxy raises again as a panic with the same message (a `String`
//!   payload), so that
//!   DataFusion reports it as it reports a task's panic (and
//!   [`job_error_of`](crate::job_error_of) finds it);
//! - a job the executor refuses (a graceful shutdown has begun, the
//!   class's queue is full) or that expires in the queue runs in the proxy
//!   instead, on the executor's Tokio runtime as before, charged to the
//!   spawning job, so that a query that the drain lets finish does finish
//!   (such a refusal counts in the class's `overloaded` or the executor's
//!   `rejected` like any);
//! - a job cancelled by an abort (an immediate shutdown) does not run in
//!   the proxy: the abort cancels the query's jobs too, and DataFusion
//!   drops the proxy with them.
//!
//! A task spawned onto a named runtime (`JoinSet::spawn_on`) from a plan's
//! job becomes a job all the same: only its proxy runs on that runtime.
//!
//! A task spawned from a job that is not a plan's (an application's own
//! job that runs DataFusion) has no home: it runs on the runtime, wrapped
//! in the spawning job's [`JobScope`], which charges each of its polls to
//! the job's class and group and counts it in
//! [`ClassMetrics::tasks`](executor_api::ClassMetrics::tasks) (a blocking
//! closure is charged, as one poll, but not counted).

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::task::{Context, Poll};

use datafusion::common::runtime::{JoinSetTracer, set_join_set_tracer, trace_block};
use executor_api::{AnyExecutor, Executor, JobError, JobGroup, JobScope};
use futures::Stream;
use futures::future::BoxFuture;
use pin_project_lite::pin_project;

/// Where the tasks DataFusion spawns from a plan's jobs go: the executor
/// the plan runs on, in the plan's group. (A plan without a group is one
/// whose class the executor lacks: its jobs are refused, and spawn
/// nothing.)
#[derive(Clone)]
pub(crate) struct TaskHome {
    executor: AnyExecutor,
    group: Option<JobGroup>,
}

scoped_tls::scoped_thread_local!(static HOME: TaskHome);

impl TaskHome {
    pub(crate) fn new(executor: AnyExecutor, group: Option<JobGroup>) -> Self {
        TaskHome { executor, group }
    }

    /// `inner` (a partition's stream, a task), with this home current on
    /// the thread while it is polled.
    pub(crate) fn around<S>(self, inner: S) -> AtHome<S> {
        AtHome { inner, home: self }
    }

    /// Submits `task` as a job of this home, at once (from the spawning
    /// job's poll, so that the submission is ordered before whatever that
    /// job does next: an immediate shutdown after it cancels the job, and
    /// a graceful one refuses it only if it began before), and returns the
    /// proxy that resolves to its output (see the module docs). `scope`:
    /// the spawning job's, for a task run in the proxy instead.
    fn submit(
        self,
        task: BoxFuture<'static, Box<dyn Any + Send>>,
        scope: Option<JobScope>,
    ) -> BoxFuture<'static, Box<dyn Any + Send>> {
        // The task waits here until the job takes it: if the job ends
        // without running, it is still here to run in the proxy.
        let slot = Arc::new(Mutex::new(Some(task)));
        let mut job = self.executor.job().name("datafusion:task");
        if let Some(group) = &self.group {
            job = job.group(group);
        }
        let body = {
            let (slot, home) = (slot.clone(), self.clone());
            async move {
                let task = take(&slot)?;
                Some(home.around(task).await)
            }
        };
        let handle = job.spawn(body);
        Box::pin(async move {
            match handle.await {
                Ok(Some(output)) => output,
                Err(JobError::Panicked { message }) => std::panic::resume_unwind(Box::new(message)),
                // Refused (a graceful shutdown began before the spawning poll,
                // the class's queue is full) or expired in the queue: the task
                // never left its slot. It runs here, on the runtime, as a task
                // not taken over would, charged to the spawning job.
                Err(JobError::ShutDown | JobError::Overloaded { .. }) => match take(&slot) {
                    Some(task) => {
                        let task = self.around(task);
                        match scope {
                            Some(scope) => scope.attribute(task).await,
                            None => task.await,
                        }
                    }
                    None => std::future::pending().await,
                },
                // Cancelled: the executor is aborting (an immediate shutdown,
                // or a drain's deadline), which cancels the query's jobs too,
                // and DataFusion drops this proxy with them. A task cancelled
                // before it started must not start here.
                Ok(None) | Err(_) => std::future::pending().await,
            }
        })
    }
}

/// Takes the task out of its slot.
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

pin_project! {
    /// A stream or future polled with its [`TaskHome`] current.
    pub(crate) struct AtHome<S> {
        #[pin]
        inner: S,
        home: TaskHome,
    }
}

impl<S: Stream> Stream for AtHome<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let inner = this.inner;
        HOME.set(this.home, || inner.poll_next(cx))
    }
}

impl<F: Future> Future for AtHome<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        HOME.set(this.home, || inner.poll(cx))
    }
}

/// DataFusion's [`JoinSetTracer`] that runs every task DataFusion spawns
/// from a plan's job as a job of the plan's executor and group, and
/// attributes a task spawned from any other job to that job's class and
/// group (see [`JobScope`] and the module docs). Tasks spawned anywhere
/// else are left as they are.
///
/// This crate installs it the first time it runs a plan or builds a
/// session ([`attribute_spawned_tasks`]). DataFusion takes one tracer per
/// process, set once: an application with a tracer of its own (for
/// tracing spans, say) installs this one wrapped around its own, before
/// it first runs a plan through this crate or calls
/// [`session_for`](crate::session_for).
///
/// A task is charged to the job that spawned it whichever runtime polls
/// it: DataFusion spawns on the current runtime (the executor's, from a
/// job), unless an operator names another (`JoinSet::spawn_on`).
///
/// # Examples
///
/// ```
/// use datafusion::common::runtime::{JoinSetTracer, set_join_set_tracer};
/// use executor_datafusion::TaskAttribution;
/// # use futures::future::BoxFuture;
/// # use std::any::Any;
///
/// /// The application's own tracer.
/// struct Spans;
/// # impl JoinSetTracer for Spans {
/// #     fn trace_future(&self, fut: BoxFuture<'static, Box<dyn Any + Send>>) -> BoxFuture<'static, Box<dyn Any + Send>> { fut }
/// #     fn trace_block(&self, f: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>) -> Box<dyn FnOnce() -> Box<dyn Any + Send> + Send> { f }
/// # }
///
/// static TRACER: TaskAttribution = TaskAttribution::wrapping(&Spans);
///
/// set_join_set_tracer(&TRACER).expect("the first tracer");
/// assert!(executor_datafusion::spawned_tasks_attributed());
/// ```
pub struct TaskAttribution {
    inner: Option<&'static dyn JoinSetTracer>,
}

impl TaskAttribution {
    /// Attribution alone.
    pub const fn new() -> Self {
        TaskAttribution { inner: None }
    }

    /// Attribution around `inner`: each task goes through `inner` first,
    /// then is wrapped in its job's scope (so `inner`'s own work in a poll
    /// is charged too).
    pub const fn wrapping(inner: &'static dyn JoinSetTracer) -> Self {
        TaskAttribution { inner: Some(inner) }
    }
}

impl Default for TaskAttribution {
    fn default() -> Self {
        TaskAttribution::new()
    }
}

impl fmt::Debug for TaskAttribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskAttribution")
            .field("wraps_another", &self.inner.is_some())
            .finish()
    }
}

thread_local! {
    /// Set while a closure that went through a [`TaskAttribution`] runs:
    /// how [`spawned_tasks_attributed`] finds out, whatever tracer wraps it.
    static THROUGH_ATTRIBUTION: Cell<bool> = const { Cell::new(false) };
}

/// Sets [`THROUGH_ATTRIBUTION`] until dropped, restoring what was there.
struct Through(bool);

impl Through {
    fn enter() -> Self {
        Through(THROUGH_ATTRIBUTION.with(|through| through.replace(true)))
    }
}

impl Drop for Through {
    fn drop(&mut self) {
        THROUGH_ATTRIBUTION.with(|through| through.set(self.0));
    }
}

impl JoinSetTracer for TaskAttribution {
    /// From a plan's job, the task becomes a job of the plan's executor
    /// and group, behind a proxy; from any other job, it is wrapped in
    /// that job's scope; elsewhere it is left as it is (DataFusion calls
    /// this where it spawns).
    fn trace_future(
        &self,
        fut: BoxFuture<'static, Box<dyn Any + Send>>,
    ) -> BoxFuture<'static, Box<dyn Any + Send>> {
        let fut = match self.inner {
            Some(inner) => inner.trace_future(fut),
            None => fut,
        };
        let scope = JobScope::current();
        if HOME.is_set() {
            // The task is a job; the proxy only waits for it (and runs it,
            // in the scope, if the executor refuses it).
            return HOME.with(TaskHome::clone).submit(fut, scope);
        }
        match scope {
            Some(scope) => Box::pin(scope.attribute(fut)),
            None => fut,
        }
    }

    /// Runs the closure (on a blocking thread) in the scope of the job that
    /// handed it over, if any.
    fn trace_block(
        &self,
        f: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>,
    ) -> Box<dyn FnOnce() -> Box<dyn Any + Send> + Send> {
        let f = match self.inner {
            Some(inner) => inner.trace_block(f),
            None => f,
        };
        let scope = JobScope::current();
        Box::new(move || {
            let _through = Through::enter();
            match scope {
                Some(scope) => scope.run(f),
                None => f(),
            }
        })
    }
}

/// The tracer this crate installs.
static ATTRIBUTION: TaskAttribution = TaskAttribution::new();

/// Installs [`TaskAttribution`] as DataFusion's tracer, once per process,
/// if no tracer is set yet. The crate's functions that run plans or build
/// sessions call it; call it yourself to install it earlier.
///
/// # Errors
///
/// [`AttributionError::OtherTracer`] if DataFusion's tracer was already set
/// to one that does not go through a `TaskAttribution`: DataFusion's tasks
/// then run on the executor, at its priority, but are charged to no class
/// or group. Install [`TaskAttribution::wrapping`] your tracer instead,
/// before the first plan or session.
pub fn attribute_spawned_tasks() -> Result<(), AttributionError> {
    install();
    if spawned_tasks_attributed() {
        Ok(())
    } else {
        Err(AttributionError::OtherTracer)
    }
}

/// Installs this crate's tracer unless one is set (see
/// [`attribute_spawned_tasks`]).
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Already set (by the application, or by a test): that one stays.
        let _ = set_join_set_tracer(&ATTRIBUTION);
    });
}

/// Whether DataFusion's tracer goes through a [`TaskAttribution`] (this
/// crate's, or one the application installed around its own).
///
/// It finds out by running an empty closure through DataFusion's
/// `trace_block` on the calling thread: an application's own tracer, if
/// wrapped, sees that closure too.
pub fn spawned_tasks_attributed() -> bool {
    trace_block(|| THROUGH_ATTRIBUTION.with(Cell::get))()
}

/// Why DataFusion's spawned tasks cannot be attributed to jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttributionError {
    /// DataFusion's tracer, a process-wide setting that is set once, was
    /// already set to one that does not attribute tasks.
    OtherTracer,
}

impl fmt::Display for AttributionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributionError::OtherTracer => f.write_str(
                "DataFusion's task tracer was already set to one that does not attribute \
                 tasks to jobs, so the tasks DataFusion spawns are charged to no class or \
                 group; install `executor_datafusion::TaskAttribution::wrapping(&your_tracer)` \
                 with `set_join_set_tracer` instead, before the first query",
            ),
        }
    }
}

impl std::error::Error for AttributionError {}
