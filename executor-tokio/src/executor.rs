//! [`DedicatedExecutor`]: the executor handle.

use std::fmt;
use std::sync::Arc;

use executor_api::Executor;
use executor_api::backend::{ExecutorBackend, ExecutorCore, RunnableJob};

use crate::builder::Builder;
use crate::queue::RunQueue;

/// A dedicated multi-thread Tokio runtime for CPU-bound async work.
///
/// Jobs run on worker threads of its own, at lower OS priority by default,
/// so that they never starve the caller's runtime. Jobs may use all of Tokio
/// (timers, I/O, `tokio::spawn`); tasks they spawn stay on this executor's
/// runtime, whose threads (`<name>-rt-<n>`) run at the same priority.
///
/// Jobs reach the workers through a lock-free queue of the executor's own,
/// not through Tokio's injection queue: submitting or waking a job from the
/// caller's runtime never waits for a lock that a low-priority worker
/// holds. Jobs run in the order they were scheduled; a job that wakes itself
/// (or yields with `tokio::task::yield_now`) goes to the back of the line.
///
/// The contract (cancellation, panics, shutdown, join) is
/// [`Executor`]'s; this type only decides where jobs run.
///
/// Cloning is cheap (an `Arc`); all clones drive the same runtime.
///
/// # Shutdown
///
/// The runtime is owned by a driver thread (`<name>-driver`) that runs the
/// shutdown sequence every backend shares, and is dropped there, never
/// inside an async context, once every job has ended (a submission racing
/// the shutdown included). A shutdown only signals that thread; nothing
/// blocks the caller, and polling `join` never waits for the runtime.
///
/// - Dropping the last clone starts a graceful shutdown in the background:
///   queued and running jobs finish, then the threads exit. It never blocks
///   and never panics, even inside an async task.
/// - A graceful shutdown also waits for tasks that jobs spawned with
///   `tokio::spawn`.
/// - A job that never yields cannot be stopped: even an immediate shutdown
///   waits for it, and so does [`join`](Executor::join).
///
/// # Examples
///
/// ```
/// use executor_api::Executor;
/// use executor_tokio::DedicatedExecutor;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let executor = DedicatedExecutor::builder().name("cpu").build()?;
/// let total = executor
///     .spawn(async {
///         tokio::task::yield_now().await;
///         (1..=100u32).sum::<u32>()
///     })
///     .await?;
/// assert_eq!(total, 5050);
/// executor.shutdown();
/// executor.join().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DedicatedExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    core: ExecutorCore,
    /// Where jobs wait for a worker.
    queue: Arc<RunQueue>,
    /// The runtime that runs the tasks jobs spawn (for their count).
    tasks: tokio::runtime::Handle,
}

impl Drop for Inner {
    /// The last clone is gone: shut down gracefully in the background. This
    /// only signals the driver thread.
    fn drop(&mut self) {
        self.core.shutdown();
    }
}

impl DedicatedExecutor {
    /// A builder with the defaults: name `"cpu"`, one worker per available
    /// core, [`Priority::DEFAULT`](executor_api::Priority::DEFAULT).
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn new(
        core: ExecutorCore,
        queue: Arc<RunQueue>,
        tasks: tokio::runtime::Handle,
    ) -> Self {
        DedicatedExecutor {
            inner: Arc::new(Inner { core, queue, tasks }),
        }
    }
}

impl ExecutorBackend for DedicatedExecutor {
    fn core(&self) -> &ExecutorCore {
        &self.inner.core
    }

    /// The tasks alive on the executor's runtime: what jobs `tokio::spawn`.
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

impl fmt::Debug for DedicatedExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedicatedExecutor")
            .field("name", &self.name())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}
