//! [`Builder`]: configuring a [`DedicatedExecutor`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use executor_api::BuildError;
use executor_api::backend::{ExecutorCore, PoolConfig, ValidPoolConfig, WorkerContext};
use tokio::runtime::Handle;

use crate::driver;
use crate::executor::DedicatedExecutor;

/// Configures and builds a [`DedicatedExecutor`].
///
/// # Examples
///
/// ```
/// use executor_api::Executor;
/// use executor_tokio::DedicatedExecutor;
///
/// let executor = DedicatedExecutor::builder()
///     .name("encode")
///     .worker_threads(2)
///     .nice(19)
///     .build()?;
/// assert_eq!(executor.name(), "encode");
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
            config: PoolConfig::new("cpu"),
        }
    }
}

impl Builder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the executor. Worker threads are named `<name>-<n>` (`n` from
    /// 0) and the thread that owns the runtime `<name>-driver`. Linux shows
    /// the first 15 bytes of a thread name, so keep names short.
    ///
    /// # Default
    ///
    /// `"cpu"`.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidName`] for an
    /// empty name or one with control characters.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config = self.config.name(name);
        self
    }

    /// Sets the number of worker threads that run jobs.
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

    /// Sets the niceness of the worker threads: 0 is normal priority, 19 the
    /// lowest. A lower priority lets the scheduler run latency-sensitive
    /// threads (the I/O runtime) first when the CPU is saturated, while the
    /// workers still get every otherwise idle cycle.
    ///
    /// On Linux it is applied per thread with `setpriority`; it never raises
    /// a priority (a process already running at a higher niceness keeps it).
    /// On other systems it is validated but has no effect.
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

    /// Runs the workers under Linux's `SCHED_IDLE` policy instead of a
    /// niceness: they get only CPU time that no other thread wants, and a
    /// latency-sensitive thread that wakes up preempts them at once (with a
    /// niceness, the kernel may first let them finish a time slice). Best
    /// for a machine whose CPU work is all background work. No effect
    /// outside Linux.
    ///
    /// # Default
    ///
    /// Off: workers run at [`nice`](Self::nice).
    pub fn idle_priority(mut self) -> Self {
        self.config = self.config.idle_policy(true);
        self
    }

    /// Runs the workers at normal priority: the same as `nice(0)`.
    pub fn normal_priority(self) -> Self {
        self.nice(0)
    }

    /// Sets the runtime that jobs run I/O on with
    /// [`executor_api::io::spawn`] and [`executor_api::io::spawn_stream`].
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

    /// Starts the executor: a driver thread that owns a multi-thread Tokio
    /// runtime (timers and I/O enabled) with its worker threads, and the
    /// watchdog thread.
    ///
    /// Blocks the calling thread only while the runtime starts.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for an invalid configuration or when the OS refuses
    /// to start threads. It never panics.
    pub fn build(self) -> Result<DedicatedExecutor, BuildError> {
        let config = self.config.validate()?;
        let core = ExecutorCore::new(config.name());
        let (context, watchdog) = WorkerContext::start(&core, &config)?;
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let runtime_builder = runtime_builder(&config, context);
        let driver_core = core.clone();
        let driver = thread::Builder::new()
            .name(config.helper_name("driver"))
            .spawn(move || {
                // The runtime is built, and later dropped, on this thread:
                // never inside an async context.
                let runtime = match { runtime_builder }.build() {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                if ready_tx.send(Ok(runtime.handle().clone())).is_ok() {
                    driver::run(runtime, watchdog, driver_core);
                }
            })?;

        match ready_rx.recv() {
            Ok(Ok(handle)) => {
                core.register_thread(move || {
                    let _ = driver.join();
                });
                Ok(DedicatedExecutor::new(core, handle))
            }
            Ok(Err(err)) => {
                let _ = driver.join();
                Err(BuildError::Io(err))
            }
            Err(mpsc::RecvError) => {
                let _ = driver.join();
                Err(BuildError::Io(std::io::Error::other(
                    "the executor's driver thread exited while starting the runtime",
                )))
            }
        }
    }
}

fn runtime_builder(config: &ValidPoolConfig, context: WorkerContext) -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let names = config.clone();
    let next_thread = AtomicUsize::new(0);
    let priority = config.clone();
    builder
        .worker_threads(config.workers())
        .thread_name_fn(move || names.thread_name(next_thread.fetch_add(1, Ordering::Relaxed)))
        .on_thread_start(move || {
            if let Err(err) = priority.apply_priority() {
                tracing::warn!(%err, "could not lower the priority of an executor thread");
            }
            context.enter();
        })
        .enable_all();
    builder
}
