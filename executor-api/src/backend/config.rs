//! [`ValidPoolConfig`]: the settings of the shared [`Builder`](crate::Builder),
//! validated once, as a backend receives them.

use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::backend::Priority;
use crate::error::{BuildError, validate_name};

/// The niceness of worker threads unless a builder says otherwise.
pub const DEFAULT_NICE: i32 = 10;

/// The settings of a [`Builder`](crate::Builder), unvalidated.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    pub(crate) name: String,
    pub(crate) workers: Option<usize>,
    pub(crate) priority: Priority,
    /// `None`: the runtime the executor is built from, if any.
    pub(crate) io_runtime: Option<Handle>,
    pub(crate) watchdog: Option<Duration>,
    pub(crate) job_spans: bool,
}

/// The settings of a [`Builder`](crate::Builder) after validation: what a
/// backend's [`Launch::launch`](crate::backend::Launch::launch) receives.
#[derive(Debug, Clone)]
pub struct ValidPoolConfig {
    name: String,
    workers: usize,
    priority: Priority,
    io_runtime: Option<Handle>,
    watchdog: Option<Duration>,
    job_spans: bool,
}

impl PoolConfig {
    pub(crate) fn new(name: &str) -> Self {
        PoolConfig {
            name: name.to_owned(),
            workers: None,
            priority: Priority::DEFAULT,
            io_runtime: None,
            watchdog: Some(crate::backend::DEFAULT_WATCHDOG_THRESHOLD),
            job_spans: true,
        }
    }

    /// Checks every setting, and resolves the I/O runtime and the worker
    /// count.
    pub(crate) fn validate(self) -> Result<ValidPoolConfig, BuildError> {
        validate_name(&self.name)?;
        let priority = self.priority.validate()?;
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
            priority,
            io_runtime,
            watchdog: self.watchdog,
            job_spans: self.job_spans,
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

    /// The workers' priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The runtime that jobs run I/O on, if any.
    pub fn io_runtime(&self) -> Option<&Handle> {
        self.io_runtime.as_ref()
    }

    /// The watchdog threshold, if the watchdog is on.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Whether jobs run inside a tracing span (see
    /// [`Builder::without_job_spans`](crate::Builder::without_job_spans)).
    pub fn job_spans(&self) -> bool {
        self.job_spans
    }

    /// Applies the configured priority to the calling worker thread. A
    /// failure is returned for the backend to log; the thread keeps running
    /// at its current priority.
    ///
    /// # Errors
    ///
    /// The OS error.
    pub fn apply_priority(&self) -> std::io::Result<()> {
        self.priority.apply_to_current_thread()
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
