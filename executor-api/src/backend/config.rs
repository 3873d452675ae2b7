//! The thread-pool settings every backend's builder shares, validated once.

use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::backend::watchdog::DEFAULT_WATCHDOG_THRESHOLD;
use crate::error::{BuildError, validate_name, validate_nice};

/// The niceness of worker threads unless a builder says otherwise.
pub const DEFAULT_NICE: i32 = 10;

/// The settings every backend's builder exposes: name, worker count,
/// worker priority, I/O runtime and watchdog.
///
/// # Examples
///
/// ```
/// use executor_api::backend::PoolConfig;
///
/// let config = PoolConfig::new("cpu").worker_threads(2).validate()?;
/// assert_eq!(config.workers(), 2);
/// assert_eq!(config.thread_name(1), "cpu-1");
/// assert!(PoolConfig::new("cpu").worker_threads(0).validate().is_err());
/// # Ok::<(), executor_api::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PoolConfig {
    name: String,
    workers: Option<usize>,
    nice: i32,
    idle_policy: bool,
    /// `None`: the runtime the executor is built from, if any.
    io_runtime: Option<Handle>,
    watchdog: Option<Duration>,
}

/// A [`PoolConfig`] that passed validation.
#[derive(Debug, Clone)]
pub struct ValidPoolConfig {
    name: String,
    workers: usize,
    nice: i32,
    idle_policy: bool,
    io_runtime: Option<Handle>,
    watchdog: Option<Duration>,
}

impl PoolConfig {
    /// `name`, one worker per available core, niceness [`DEFAULT_NICE`].
    pub fn new(name: impl Into<String>) -> Self {
        PoolConfig {
            name: name.into(),
            workers: None,
            nice: DEFAULT_NICE,
            idle_policy: false,
            io_runtime: None,
            watchdog: Some(DEFAULT_WATCHDOG_THRESHOLD),
        }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the worker count.
    pub fn worker_threads(mut self, count: usize) -> Self {
        self.workers = Some(count);
        self
    }

    /// Sets the workers' niceness (0 normal, 19 lowest).
    pub fn nice(mut self, nice: i32) -> Self {
        self.nice = nice;
        self
    }

    /// Runs the workers under `SCHED_IDLE` (Linux) instead of lowering
    /// their niceness: they get only CPU time no other thread wants, and a
    /// waking latency-sensitive thread preempts them at once.
    pub fn idle_policy(mut self, idle: bool) -> Self {
        self.idle_policy = idle;
        self
    }

    /// Sets the runtime that jobs run I/O on (see [`crate::io`]). Unset,
    /// [`validate`](Self::validate) takes the Tokio runtime it is called
    /// from, if any. A current-thread runtime runs I/O tasks only while its
    /// thread is inside `block_on`: prefer a multi-thread one.
    pub fn io_runtime(mut self, handle: Handle) -> Self {
        self.io_runtime = Some(handle);
        self
    }

    /// Sets the watchdog threshold (`None` turns the watchdog off).
    pub fn watchdog(mut self, threshold: Option<Duration>) -> Self {
        self.watchdog = threshold;
        self
    }

    /// Checks every setting, and resolves the I/O runtime.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`], [`BuildError::InvalidName`],
    /// [`BuildError::InvalidNice`] or [`BuildError::InvalidWatchdog`].
    pub fn validate(self) -> Result<ValidPoolConfig, BuildError> {
        validate_name(&self.name)?;
        validate_nice(self.nice)?;
        if self.watchdog == Some(Duration::ZERO) {
            return Err(BuildError::InvalidWatchdog);
        }
        let io_runtime = self.io_runtime.or_else(|| Handle::try_current().ok());
        let workers = match self.workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(count) => count,
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        Ok(ValidPoolConfig {
            name: self.name,
            workers,
            nice: self.nice,
            idle_policy: self.idle_policy,
            io_runtime,
            watchdog: self.watchdog,
        })
    }
}

impl ValidPoolConfig {
    /// The executor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker count, at least 1.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The workers' niceness.
    pub fn nice(&self) -> i32 {
        self.nice
    }

    /// The runtime that jobs run I/O on, if any.
    pub fn io_runtime(&self) -> Option<&Handle> {
        self.io_runtime.as_ref()
    }

    /// The watchdog threshold, if the watchdog is on.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Applies the configured priority to the calling worker thread:
    /// `SCHED_IDLE` if asked for, otherwise the niceness. A failure is
    /// returned for the backend to log; the thread keeps running at its
    /// current priority.
    ///
    /// # Errors
    ///
    /// The OS error.
    pub fn apply_priority(&self) -> std::io::Result<()> {
        if self.idle_policy {
            crate::backend::use_idle_scheduling()
        } else {
            crate::backend::lower_current_thread(self.nice)
        }
    }

    /// The name of worker `index`: `<name>-<index>`.
    pub fn thread_name(&self, index: usize) -> String {
        format!("{}-{index}", self.name)
    }

    /// The name of a helper thread: `<name>-<role>`, e.g. `cpu-driver`.
    pub fn helper_name(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }
}
