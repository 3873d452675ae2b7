//! [`Builder`]: the one builder every backend shares.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::backend::Launch;
use crate::config::priority::Priority;
use crate::config::settings::PoolConfig;
use crate::error::BuildError;
use crate::sched::class::WorkloadClass;

/// Configures and builds an executor of backend `E`: the same settings,
/// setters and validation for every backend, which supplies only how its
/// threads start ([`Launch`]).
///
/// Each backend names it after its executor:
/// `executor_tokio::DedicatedExecutor::builder()` returns a
/// `Builder<DedicatedExecutor>`. Code that configures any backend is
/// generic over `E: Launch`.
///
/// Every setting is one value: calling a setter again replaces what an
/// earlier call set, so `.priority(Priority::Idle).priority(Priority::Normal)`
/// runs the workers at normal priority.
///
/// # Examples
///
/// ```
/// use executor_api::{Executor, Priority};
/// use executor_tokio::DedicatedExecutor;
///
/// let executor = DedicatedExecutor::builder()
///     .name("encode")
///     .worker_threads(2)
///     .priority(Priority::Nice(19))
///     .build()?;
/// assert_eq!(executor.name(), "encode");
/// # executor.shutdown();
/// # Ok::<(), executor_api::BuildError>(())
/// ```
///
/// Generic over the backend:
///
/// ```
/// use executor_api::backend::Launch;
/// use executor_api::{Builder, Executor, Priority};
///
/// fn background<E: Launch>(builder: Builder<E>) -> Result<E, executor_api::BuildError> {
///     builder.name("compact").worker_threads(1).priority(Priority::Idle).build()
/// }
/// let executor = background(executor_tokio::DedicatedExecutor::builder())?;
/// # executor.shutdown();
/// # Ok::<(), executor_api::BuildError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<E> {
    config: PoolConfig,
    backend: PhantomData<fn() -> E>,
}

impl<E> Clone for Builder<E> {
    fn clone(&self) -> Self {
        Builder {
            config: self.config.clone(),
            backend: PhantomData,
        }
    }
}

impl<E> fmt::Debug for Builder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("backend", &std::any::type_name::<E>())
            .field("config", &self.config)
            .finish()
    }
}

impl<E: Launch> Default for Builder<E> {
    fn default() -> Self {
        Builder::new()
    }
}

impl<E: Launch> Builder<E> {
    /// A builder with the defaults: the backend's default name
    /// ([`Launch::DEFAULT_NAME`]), one worker per available core,
    /// [`Priority::DEFAULT`], the default watchdog, and the I/O runtime
    /// that [`build`](Self::build) is called from.
    pub fn new() -> Self {
        Builder {
            config: PoolConfig::new(E::DEFAULT_NAME),
            backend: PhantomData,
        }
    }

    /// Names the executor. Worker threads are named `<name>-<n>` (`n` from
    /// 0), helper threads `<name>-<role>` (`<name>-driver` runs the
    /// shutdown, `<name>-watch` the watchdog). Linux shows the first 15
    /// bytes of a thread name, so keep names short.
    ///
    /// # Default
    ///
    /// The backend's [`Launch::DEFAULT_NAME`].
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidName`] for an
    /// empty name or one with control characters.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
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
        self.config.workers = Some(count);
        self
    }

    /// Sets the OS priority of the worker threads (see [`Priority`]),
    /// replacing any priority set before.
    ///
    /// # Default
    ///
    /// [`Priority::DEFAULT`], niceness
    /// [`DEFAULT_NICE`](crate::backend::DEFAULT_NICE) (10).
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidNice`] for a
    /// niceness outside `0..=19`.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.config.priority = priority;
        self
    }

    /// Sets the niceness of the worker threads: `priority(Priority::Nice(nice))`.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidNice`] outside
    /// `0..=19`.
    pub fn nice(self, nice: i32) -> Self {
        self.priority(Priority::Nice(nice))
    }

    /// Runs the workers under Linux's `SCHED_IDLE` policy:
    /// `priority(Priority::Idle)`.
    pub fn idle_priority(self) -> Self {
        self.priority(Priority::Idle)
    }

    /// Runs the workers at normal priority: `priority(Priority::Normal)`.
    pub fn normal_priority(self) -> Self {
        self.priority(Priority::Normal)
    }

    /// Sets the runtime that jobs run I/O on with [`io::spawn`](crate::io::spawn)
    /// and [`io::spawn_stream`](crate::io::spawn_stream).
    ///
    /// # Default
    ///
    /// The Tokio runtime that [`build`](Self::build) is called from, if
    /// any; otherwise none, and the I/O helpers return
    /// [`IoError::NoIoRuntime`](crate::io::IoError::NoIoRuntime). A
    /// current-thread runtime runs I/O tasks only while its thread is
    /// inside `block_on`: prefer a multi-thread one.
    pub fn io_runtime(mut self, handle: Handle) -> Self {
        self.config.io_runtime = Some(handle);
        self
    }

    /// Sets the watchdog threshold: a job poll that runs longer than this
    /// without yielding is reported (see
    /// [`Watchdog`](crate::backend::Watchdog)).
    ///
    /// # Default
    ///
    /// [`DEFAULT_WATCHDOG_THRESHOLD`](crate::backend::DEFAULT_WATCHDOG_THRESHOLD)
    /// (100 ms).
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidWatchdog`] for
    /// zero.
    pub fn watchdog(mut self, threshold: Duration) -> Self {
        self.config.watchdog = Some(threshold);
        self
    }

    /// Turns the watchdog off: no watchdog thread, no per-poll clock reads.
    pub fn without_watchdog(mut self) -> Self {
        self.config.watchdog = None;
        self
    }

    /// Turns the job spans off: jobs no longer run inside the tracing span
    /// that was current when they were submitted, nor inside a `job` span
    /// of their own.
    ///
    /// # Default
    ///
    /// On. Each job is polled inside a `job` span (fields `executor`,
    /// `job`: its name, and `queue_us`: microseconds from submission to its
    /// first poll) whose parent is the span current at submission, so that
    /// a request's fields appear on every event logged inside its CPU jobs.
    /// With no subscriber interested in either span, this costs a check
    /// per submission and nothing per poll; otherwise one allocation per
    /// job, and per poll a clone of the span entered and exited (the
    /// benchmark's `_without_spans` subjects measure it). A subscriber that
    /// panics costs the job its span, never a panic in the executor.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::Executor;
    /// use executor_tokio::DedicatedExecutor;
    ///
    /// let executor = DedicatedExecutor::builder().without_job_spans().build()?;
    /// assert_eq!(futures::executor::block_on(executor.spawn(async { 1 })), Ok(1));
    /// # executor.shutdown();
    /// # Ok::<(), executor_api::BuildError>(())
    /// ```
    pub fn without_job_spans(mut self) -> Self {
        self.config.job_spans = false;
        self
    }

    /// Adds a workload class: jobs submitted to it with
    /// [`JobBuilder::class`](crate::JobBuilder::class) share the worker time
    /// with the other classes by weight, within its cap and admission
    /// bounds (see [`WorkloadClass`]). Jobs submitted without a class go to
    /// [`DEFAULT_CLASS`](crate::DEFAULT_CLASS), which a class of that name
    /// configures.
    ///
    /// # Default
    ///
    /// Only the default class: weight 1, no cap, no bound, and the executor
    /// is one FIFO.
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidClass`] for a bad
    /// setting or two classes of one name.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::{Executor, WorkloadClass};
    /// use executor_tokio::DedicatedExecutor;
    ///
    /// let executor = DedicatedExecutor::builder()
    ///     .class(WorkloadClass::new("query").weight(8))
    ///     .class(WorkloadClass::new("compaction").weight(1).cap(0.5))
    ///     .build()?;
    /// let names: Vec<_> = executor.class_metrics().into_iter().map(|class| class.name).collect();
    /// assert_eq!(names, ["default", "query", "compaction"]);
    /// # executor.shutdown();
    /// # Ok::<(), executor_api::BuildError>(())
    /// ```
    pub fn class(mut self, class: WorkloadClass) -> Self {
        self.config.classes.push(class);
        self
    }

    /// Sets how long a job's poll may run before
    /// [`yield_if_needed`](crate::yield_if_needed) yields to let the
    /// executor choose the next job by the classes' weights.
    ///
    /// # Default
    ///
    /// [`DEFAULT_TIME_SLICE`](crate::backend::DEFAULT_TIME_SLICE) (1 ms).
    ///
    /// # Errors
    ///
    /// [`build`](Self::build) returns [`BuildError::InvalidTimeSlice`] for
    /// zero.
    pub fn time_slice(mut self, slice: Duration) -> Self {
        self.config.time_slice = slice;
        self
    }

    /// Validates the settings and starts the executor's threads (what
    /// threads, the backend's executor type documents).
    ///
    /// Blocks the calling thread only while the threads start.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for an invalid setting or when the OS refuses to
    /// start threads. It never panics.
    pub fn build(self) -> Result<E, BuildError> {
        E::launch(self.config.validate()?)
    }
}
