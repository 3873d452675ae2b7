//! [`Builder`]: configuring a [`RayonExecutor`].

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use executor_api::BuildError;
use executor_api::backend::{ExecutorCore, PoolConfig, ValidPoolConfig, WorkerContext};
use rayon::{ThreadPool, ThreadPoolBuilder};
use tokio::runtime::Handle;

use crate::driver;
use crate::executor::{CurrentSlot, RayonExecutor};
use crate::queue::RunQueue;
use crate::reactor::Reactor;

/// Configures and builds a [`RayonExecutor`].
///
/// # Examples
///
/// ```
/// use executor_api::Executor;
/// use executor_rayon::RayonExecutor;
///
/// let executor = RayonExecutor::builder()
///     .name("sort")
///     .worker_threads(2)
///     .nice(19)
///     .build()?;
/// assert_eq!(executor.name(), "sort");
/// # executor.shutdown();
/// # Ok::<(), executor_api::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    config: PoolConfig,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: PoolConfig::new("rayon"),
        }
    }
}

impl Builder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the executor. Pool threads are named `<name>-<n>` (`n` from 0);
    /// the helper threads `<name>-driver` (shutdown) and `<name>-reactor`
    /// (timers and I/O). Linux shows the first 15 bytes of a thread name, so
    /// keep names short.
    ///
    /// # Default
    ///
    /// `"rayon"`.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidName`] for an
    /// empty name or one with control characters.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config = self.config.name(name);
        self
    }

    /// Sets the number of pool threads.
    ///
    /// # Default
    ///
    /// [`std::thread::available_parallelism`], or 1 where it is unknown.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::ZeroWorkers`] for 0.
    pub fn worker_threads(mut self, count: usize) -> Self {
        self.config = self.config.worker_threads(count);
        self
    }

    /// Sets the niceness of the pool threads: 0 is normal priority, 19 the
    /// lowest. On Linux it is applied per thread with `setpriority` and
    /// never raises a priority; elsewhere it has no effect.
    ///
    /// # Default
    ///
    /// [`DEFAULT_NICE`](executor_api::backend::DEFAULT_NICE) (10).
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidNice`] outside
    /// `0..=19`.
    pub fn nice(mut self, nice: i32) -> Self {
        self.config = self.config.nice(nice);
        self
    }

    /// Runs the pool threads under Linux's `SCHED_IDLE` policy instead of a
    /// niceness: they get only CPU time that no other thread wants, and a
    /// latency-sensitive thread that wakes up preempts them at once (with a
    /// niceness, the kernel may first let them finish a time slice). No
    /// effect outside Linux.
    ///
    /// # Default
    ///
    /// Off: pool threads run at [`nice`](Self::nice).
    pub fn idle_priority(mut self) -> Self {
        self.config = self.config.idle_policy(true);
        self
    }

    /// Runs the pool threads at normal priority: the same as `nice(0)`.
    pub fn normal_priority(self) -> Self {
        self.nice(0)
    }

    /// Sets the runtime that jobs run I/O on with
    /// [`executor_api::io::spawn`] and [`executor_api::io::spawn_stream`].
    /// (The executor's own reactor only drives timers and sockets that jobs
    /// create on the pool.)
    ///
    /// # Default
    ///
    /// The Tokio runtime that [`build`](Self::build) is called from, if
    /// any; otherwise none, and the I/O helpers return
    /// [`IoError::NoIoRuntime`](executor_api::io::IoError::NoIoRuntime).
    /// A current-thread runtime runs I/O tasks only while its thread is
    /// inside `block_on`: prefer a multi-thread one.
    pub fn io_runtime(mut self, handle: Handle) -> Self {
        self.config = self.config.io_runtime(handle);
        self
    }

    /// Sets the watchdog threshold: a job poll that runs longer than this
    /// without yielding is reported (see
    /// [`Watchdog`](executor_api::backend::Watchdog)). Default 100 ms;
    /// [`build`](Self::build) returns [`BuildError::InvalidWatchdog`] for
    /// zero.
    pub fn watchdog(mut self, threshold: Duration) -> Self {
        self.config = self.config.watchdog(Some(threshold));
        self
    }

    /// Turns the watchdog off: no watchdog thread, no per-poll clock reads.
    pub fn without_watchdog(mut self) -> Self {
        self.config = self.config.watchdog(None);
        self
    }

    /// Starts the executor: its own Rayon pool (never the global one), a
    /// reactor thread for timers and I/O, a driver thread for shutdown, and
    /// the watchdog thread.
    ///
    /// Blocks the calling thread only while the threads start.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for an invalid configuration or when the OS refuses
    /// to start threads. It never panics.
    pub fn build(self) -> Result<RayonExecutor, BuildError> {
        let config = self.config.validate()?;
        let core = ExecutorCore::new(config.name());
        let (context, watchdog) = WorkerContext::start(&core, &config)?;
        let reactor = Reactor::start(config.helper_name("reactor"))?;
        let current = CurrentSlot::default();
        let queue = RunQueue::new();
        let pool = match build_pool(&config, &core, &reactor, &current, &queue, context) {
            Ok(pool) => Arc::new(pool),
            Err(err) => {
                reactor.stop();
                return Err(err);
            }
        };
        queue.attach(&pool);
        let executor = RayonExecutor::new(core.clone(), queue);
        current.set(&executor);

        // The driver holds the only strong reference to the pool: dropping
        // it is what lets the pool threads exit.
        let driver_core = core.clone();
        let driver = thread::Builder::new()
            .name(config.helper_name("driver"))
            .spawn(move || driver::run(pool, reactor, watchdog, driver_core))?;
        core.register_thread(move || {
            let _ = driver.join();
        });
        Ok(executor)
    }
}

/// Builds the Rayon pool on threads we spawn ourselves, so that `join` can
/// join them: Rayon's own `ThreadPool` drop does not wait for its threads.
fn build_pool(
    config: &ValidPoolConfig,
    core: &ExecutorCore,
    reactor: &Reactor,
    current: &CurrentSlot,
    queue: &Arc<RunQueue>,
    context: WorkerContext,
) -> Result<ThreadPool, BuildError> {
    let names = config.clone();
    let priority = config.clone();
    let reactor = reactor.handle().clone();
    let current = current.clone();
    let queue = queue.clone();
    let core = core.clone();
    ThreadPoolBuilder::new()
        .num_threads(config.workers())
        .thread_name(move |index| names.thread_name(index))
        .spawn_handler(move |thread| {
            let mut builder = thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            if let Some(size) = thread.stack_size() {
                builder = builder.stack_size(size);
            }
            let reactor = reactor.clone();
            let current = current.clone();
            let queue = queue.clone();
            let priority = priority.clone();
            let context = context.clone();
            let handle = builder.spawn(move || {
                if let Err(err) = priority.apply_priority() {
                    tracing::warn!(%err, "could not lower the priority of a pool thread");
                }
                let _reactor = reactor.enter();
                current.enter();
                queue.enter();
                context.enter();
                thread.run();
            })?;
            core.register_thread(move || {
                let _ = handle.join();
            });
            Ok(())
        })
        .panic_handler(|_payload| {
            // Every job catches its own panics, so a panic reaching Rayon is
            // a bug in this crate. Without a handler Rayon would abort.
            tracing::error!("a panic escaped a job on a Rayon pool thread");
        })
        .build()
        .map_err(|err| BuildError::Io(io::Error::other(err.to_string())))
}
