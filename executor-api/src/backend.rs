//! For backend authors: what a backend implements, and the lifecycle
//! engine every backend shares.
//!
//! A backend supplies only threads and how jobs reach them:
//!
//! - [`ExecutorBackend`]: its executor type returns the [`ExecutorCore`]
//!   and runs the jobs that reach [`schedule`](ExecutorBackend::schedule);
//!   [`Executor`](crate::Executor), the contract users call, is then
//!   implemented for it;
//! - [`Launch`]: how [`Builder::build`](crate::Builder::build) starts its
//!   threads from the validated settings;
//! - [`BackendThreads`]: how the [`ShutdownDriver`] stops them.
//!
//! Job counting, rejection after shutdown, the drain, the
//! completion/cancellation handshake, panic capture, the shutdown sequence
//! and the join wake-ups are written here, once, so that every backend
//! (and the loom models beside this code) runs the same code. None of it is
//! reachable by users: [`ExecutorCore`]'s public methods are the ones
//! [`Executor`](crate::Executor) offers, and jobs exist only once admitted.
//!
//! # Launching an executor
//!
//! In [`Launch::launch`], a backend:
//!
//! 1. calls [`ShutdownDriver::new`], which creates the core, the driver
//!    and the [`WorkerContext`] each worker thread enters;
//! 2. starts its worker threads (each applies the configured priority and
//!    enters the context);
//! 3. hands the threads to [`ShutdownDriver::spawn`], which runs the
//!    shutdown sequence on a thread of its own (see [`ShutdownDriver`]).

pub use crate::config::priority::{
    DEFAULT_NICE, ParsePriorityError, Priority, current_thread_is_idle_scheduled,
    current_thread_nice, lower_current_thread, use_idle_scheduling,
};
pub use crate::config::settings::{
    DEFAULT_TIME_SLICE, DEFAULT_WATCHDOG_THRESHOLD, ValidPoolConfig,
};
pub use crate::job::future::{BoxedJob, ClosureBody, FutureBody, Job, JobBody, RunnableJob};
pub use crate::lifecycle::core::{ExecutorCore, Join};
pub use crate::lifecycle::driver::{BackendThreads, ShutdownDriver};
pub use crate::lifecycle::watchdog::Watchdog;
pub use crate::lifecycle::worker::WorkerContext;
pub use crate::sched::classes::ClassIndex;
pub use crate::sched::queues::{ClassQueues, Placement, Pop, SPIN_BEFORE_PARK};

use crate::error::BuildError;

/// What a backend's executor type implements: where jobs run.
/// [`Executor`](crate::Executor) is implemented for every type that
/// implements this, with the whole contract.
///
/// Users never need it: [`core`](Self::core) exposes only what
/// [`Executor`](crate::Executor) already offers, and
/// [`schedule`](Self::schedule) only accepts jobs that the executor's own
/// submission path admitted.
pub trait ExecutorBackend: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The lifecycle state shared by this executor's clones, created by
    /// [`ShutdownDriver::new`].
    fn core(&self) -> &ExecutorCore;

    /// How many tasks that jobs handed to the executor's own Tokio runtime
    /// (`tokio::spawn` inside a job) are alive: counted in
    /// [`Metrics::spawned_tasks`](crate::Metrics::spawned_tasks) and
    /// [`in_flight`](crate::Metrics::in_flight). A backend without such a
    /// runtime keeps the default, 0.
    fn spawned_tasks(&self) -> usize {
        0
    }

    /// Runs an admitted job on this executor's threads, polling it until it
    /// returns `Ready` and waking it like any future.
    ///
    /// A backend that cannot run the job (its threads are gone) drops it,
    /// which resolves its handle as cancelled.
    ///
    /// `#[track_caller]`: [`Location::caller`](std::panic::Location::caller)
    /// is the user's submission (`spawn`, `spawn_cpu`, `spawn_stream`), for
    /// the backend to record where the job came from (tokio-console shows
    /// it).
    #[track_caller]
    fn schedule<J: RunnableJob>(&self, job: J);
}

/// Turns an admitted job into an [`async_task`] task and schedules it:
/// `push` receives its runnable, with the job's [`Placement`] (class and
/// group) for [`ClassQueues::push`], now and at every wake-up, to queue it where the backend's threads poll it (running a
/// runnable polls the job once). What a backend whose threads pop a run
/// queue does in [`ExecutorBackend::schedule`], written once.
///
/// In builds with `--cfg tokio_unstable` the job runs inside its
/// tokio-console span (`console_task_span`), so `#[track_caller]`: call
/// it from `schedule`, whose caller is the user's `spawn`.
///
/// `push` may run on any thread that wakes the job, inside the waker: it
/// must not block. If it drops the runnable (the backend is stopping), the
/// job is dropped, which resolves its handle as cancelled.
#[track_caller]
pub fn schedule_task<J: RunnableJob>(
    job: J,
    push: impl Fn(&Placement, async_task::Runnable) + Send + Sync + 'static,
) {
    let placement = job.placement();
    // tokio-console shows the job under its name and where it was
    // submitted.
    #[cfg(tokio_unstable)]
    let job = {
        let span = console_task_span(job.name());
        tracing::Instrument::instrument(job, span)
    };
    // A job without a group keeps only its class in its task: the task is
    // one allocation, freed by a worker, and a larger one crossed out of
    // the allocator's cheapest size class (measured: 6 to 10 % more per
    // job on the Rayon backend with the whole placement kept).
    let (runnable, task) = match placement {
        Placement { class, group: None } => {
            async_task::spawn(job, move |runnable: async_task::Runnable| {
                push(&Placement::ungrouped(class), runnable)
            })
        }
        grouped => async_task::spawn(job, move |runnable: async_task::Runnable| {
            push(&grouped, runnable)
        }),
    };
    // The job reports to its `JobHandle`; the task handle is not needed.
    task.detach();
    runnable.schedule();
}

/// Drops a panic payload caught with `catch_unwind`, containing a panic of
/// its destructor (and of the payloads that panic carries, up to a depth;
/// deeper ones are leaked). For a backend's own safety nets: this never
/// panics.
pub fn drop_panic_payload(payload: Box<dyn std::any::Any + Send>) {
    crate::contain::drop_payload(payload);
}

/// The span Tokio gives each of its tasks, for a backend that runs jobs
/// outside Tokio's task system: tokio-console knows tasks by this span, so
/// it shows the job under its name, with its polls (each poll enters the
/// span) and with the location of the user's submission.
///
/// `#[track_caller]`: call it from [`ExecutorBackend::schedule`], whose
/// caller is the user's `spawn`. Only in builds with `--cfg tokio_unstable`,
/// like Tokio's own task spans.
#[cfg(tokio_unstable)]
#[track_caller]
pub fn console_task_span(job_name: Option<&str>) -> tracing::Span {
    let location = std::panic::Location::caller();
    tracing::trace_span!(
        target: "tokio::task",
        parent: None,
        "runtime.spawn",
        kind = %"task",
        task.name = %job_name.unwrap_or(""),
        loc.file = location.file(),
        loc.line = location.line(),
        loc.col = location.column(),
    )
}

/// How a backend starts: what [`Builder::build`](crate::Builder::build)
/// calls with the validated settings.
pub trait Launch: ExecutorBackend + Sized {
    /// The executor's name unless the builder sets one.
    const DEFAULT_NAME: &'static str;

    /// Starts the executor's threads (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`BuildError::Io`] when the OS refuses to start a thread.
    fn launch(config: ValidPoolConfig) -> Result<Self, BuildError>;
}
