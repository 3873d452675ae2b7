//! [`RayonExecutor`]: the executor handle, and how jobs reach the pool.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, OnceLock, Weak};

use executor_api::Executor;
use executor_api::backend::{ExecutorBackend, ExecutorCore, RunnableJob};

use crate::builder::Builder;
use crate::queue::RunQueue;

/// A dedicated Rayon thread pool for CPU-bound work, awaitable from any
/// async runtime.
///
/// Closures run on the pool, and Rayon parallelism inside them (`par_iter`,
/// `rayon::join`, `rayon::scope`) uses the same pool. Futures run on the
/// pool too: polled on pool threads and, when woken, rescheduled on the
/// pool. Jobs run in the order they were scheduled; a future that yields
/// goes to the back of the line, so it never starves the others. Timers
/// and I/O (`tokio::time`, `tokio::net`) work inside them, driven by the
/// executor's reactor, a Tokio runtime with one worker per pool thread
/// (`<name>-rt-<n>`) at the pool's priority. Spawn sub-jobs with
/// [`RayonExecutor::current`]; a `tokio::spawn` inside a job runs on the
/// reactor's workers, not as a job (it is not counted, classed or
/// cancelled with the job), and [`io::spawn`](executor_api::io::spawn)
/// works there too, so that libraries that spawn their own tasks, like
/// DataFusion's operators, run them at the pool's priority and still send
/// their I/O to the I/O runtime.
///
/// Jobs never nest: each pool thread runs one *pump* that polls jobs, and
/// jobs are never handed to Rayon, so a thread that waits inside
/// `rayon::join`, `scope` or a parallel iterator helps with that Rayon work
/// but never starts another job on top of the waiting one (which could
/// deadlock on a lock the waiting job holds). A job submitted meanwhile
/// runs on the next free thread; an idle thread helps the busy jobs'
/// parallel work while it waits for one.
///
/// Unlike the usual Rayon async bridges, a dropped handle cancels the job,
/// a panic is an error rather than an abort, and [`join`](Executor::join)
/// waits for the pool's threads to exit. The contract is [`Executor`]'s.
///
/// Cloning is cheap (an `Arc`); all clones drive the same pool.
///
/// # Shutdown
///
/// A driver thread (`<name>-driver`) owns the pool and runs the shutdown
/// sequence every backend shares. A shutdown only signals it; nothing
/// blocks the caller. Once every job has ended (drained, or after an
/// immediate shutdown, cancelled) it drops the pool, waits for the pool
/// threads to exit (they first run the Rayon work still queued), then stops
/// the reactor, and only then wakes the joiners: polling `join` never
/// waits for any of it.
///
/// - Dropping the last clone starts a graceful shutdown in the background;
///   it never blocks and never panics, even inside an async task.
/// - Work that jobs hand to Rayon directly (`rayon::spawn`) is not counted
///   as a job, but the pool runs it before its threads exit, so `join`
///   waits for it.
/// - A job that never yields cannot be stopped: even an immediate shutdown
///   waits for it, and so does `join`.
///
/// # Examples
///
/// ```
/// use executor_api::Executor;
/// use executor_rayon::RayonExecutor;
/// use rayon::prelude::*;
///
/// let executor = RayonExecutor::builder().name("sort").build()?;
/// let sorted = executor.spawn_cpu(|_cancel| {
///     let mut rows: Vec<u64> = (0..100_000).rev().collect();
///     rows.par_sort_unstable(); // on this executor's pool
///     rows
/// });
/// let rows = futures::executor::block_on(sorted)?;
/// assert!(rows.windows(2).all(|pair| pair[0] <= pair[1]));
/// executor.shutdown();
/// futures::executor::block_on(executor.join());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RayonExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    core: ExecutorCore,
    /// Where jobs wait for a pool thread. It holds the pool only weakly:
    /// the driver owns it, so that dropping it at shutdown stops the threads
    /// even while users hold clones.
    queue: Arc<RunQueue>,
    /// The reactor's runtime, which runs the tasks jobs spawn (for their
    /// count).
    tasks: tokio::runtime::Handle,
}

impl Drop for Inner {
    /// The last clone is gone: shut down gracefully in the background.
    fn drop(&mut self) {
        self.core.shutdown();
    }
}

impl RayonExecutor {
    /// A builder with the defaults: name `"rayon"`, one thread per
    /// available core, [`Priority::DEFAULT`](executor_api::Priority::DEFAULT).
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn new(
        core: ExecutorCore,
        queue: Arc<RunQueue>,
        tasks: tokio::runtime::Handle,
    ) -> Self {
        RayonExecutor {
            inner: Arc::new(Inner { core, queue, tasks }),
        }
    }

    /// The executor whose pool runs the calling thread, if any and if it has
    /// not been dropped: how a job reaches its own executor, for example to
    /// spawn sub-tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::Executor;
    /// use executor_rayon::RayonExecutor;
    ///
    /// let executor = RayonExecutor::builder().build()?;
    /// assert!(RayonExecutor::current().is_none());
    /// let outer = executor.spawn(async {
    ///     let this = RayonExecutor::current().expect("called on the pool");
    ///     this.spawn(async { 21 }).await.map(|half| half * 2)
    /// });
    /// assert_eq!(futures::executor::block_on(outer)?, Ok(42));
    /// # executor.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn current() -> Option<RayonExecutor> {
        CURRENT
            .with(|current| {
                current
                    .borrow()
                    .as_ref()
                    .and_then(|slot| slot.0.get())
                    .and_then(Weak::upgrade)
            })
            .map(|inner| RayonExecutor { inner })
    }
}

impl ExecutorBackend for RayonExecutor {
    fn core(&self) -> &ExecutorCore {
        &self.inner.core
    }

    /// The tasks alive on the reactor: what jobs `tokio::spawn`.
    fn spawned_tasks(&self) -> usize {
        self.inner.tasks.metrics().num_alive_tasks()
    }

    fn schedule<J: RunnableJob>(&self, job: J) {
        // The job becomes a task that the pumps poll (see `queue`); a
        // wake-up pushes it again, from whichever thread wakes it.
        let queue = self.inner.queue.clone();
        executor_api::backend::schedule_task(job, move |place, runnable| {
            queue.push(place, runnable);
        });
    }
}

impl fmt::Debug for RayonExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RayonExecutor")
            .field("name", &self.name())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The executor of the pool that runs this thread, set at thread start.
    static CURRENT: RefCell<Option<CurrentSlot>> = const { RefCell::new(None) };
}

/// Tells pool threads which executor they belong to. Filled once the
/// executor exists, after the threads have started.
#[derive(Clone, Default)]
pub(crate) struct CurrentSlot(Arc<OnceLock<Weak<Inner>>>);

impl CurrentSlot {
    pub(crate) fn set(&self, executor: &RayonExecutor) {
        let _ = self.0.set(Arc::downgrade(&executor.inner));
    }

    /// Marks the calling (pool) thread as belonging to this slot's executor.
    pub(crate) fn enter(&self) {
        CURRENT.with(|current| *current.borrow_mut() = Some(self.clone()));
    }
}
