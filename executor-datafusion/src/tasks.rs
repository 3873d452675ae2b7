//! [`TaskAttribution`]: the tasks DataFusion spawns, charged to the job
//! that spawned them.
//!
//! DataFusion spawns tasks of its own (`SpawnedTask`, `JoinSet`: a
//! `RepartitionExec`'s inputs, a sort's spills, a join's build side). From
//! inside a job they run on the executor's runtime, at its priority, but
//! Tokio polls them, not the executor: they would be charged to no class
//! and no group. DataFusion hands every such task to a process-wide
//! [`JoinSetTracer`] before spawning it; this one wraps it in the spawning
//! job's [`JobScope`], which charges each poll to the job's class and group
//! and counts the task in [`ClassMetrics::tasks`](executor_api::ClassMetrics::tasks)
//! (a blocking closure is charged, as one poll, but not counted).

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::sync::Once;

use datafusion::common::runtime::{JoinSetTracer, set_join_set_tracer, trace_block};
use executor_api::JobScope;
use futures::future::BoxFuture;

/// DataFusion's [`JoinSetTracer`] that attributes every task DataFusion
/// spawns from inside a job (or from inside such a task) to that job's
/// class and group (see [`JobScope`]). Tasks spawned anywhere else are left
/// as they are.
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
    /// Wraps the task in the scope of the job being polled on this thread,
    /// if any (DataFusion calls this where it spawns).
    fn trace_future(
        &self,
        fut: BoxFuture<'static, Box<dyn Any + Send>>,
    ) -> BoxFuture<'static, Box<dyn Any + Send>> {
        let fut = match self.inner {
            Some(inner) => inner.trace_future(fut),
            None => fut,
        };
        match JobScope::current() {
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
