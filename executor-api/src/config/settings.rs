//! [`ValidPoolConfig`]: the settings of the shared [`Builder`](crate::Builder),
//! validated once, as a backend receives them.

use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::config::priority::Priority;
use crate::error::{BuildError, validate_name};
use crate::sched::class::{DEFAULT_CLASS, WorkloadClass};

/// How long a job's poll may run before
/// [`yield_if_needed`](crate::yield_if_needed) yields, unless a builder
/// says otherwise.
pub const DEFAULT_TIME_SLICE: Duration = Duration::from_millis(1);

/// The watchdog's threshold unless a builder says otherwise: a poll that
/// runs longer is reported as stalled.
pub const DEFAULT_WATCHDOG_THRESHOLD: Duration = Duration::from_millis(100);

/// The largest weight a class may have.
const MAX_WEIGHT: u32 = 10_000;

/// The smallest cap a class may have, in cores: a thousandth of a core
/// (a 10 ms poll then waits 10 s). Smaller caps would wait for ages.
const MIN_CAP: f64 = 0.001;

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
    /// In the order the builder was given them.
    pub(crate) classes: Vec<WorkloadClass>,
    pub(crate) time_slice: Duration,
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
    /// The default class first, then the others in the builder's order.
    classes: Vec<WorkloadClass>,
    time_slice: Duration,
}

impl PoolConfig {
    pub(crate) fn new(name: &str) -> Self {
        PoolConfig {
            name: name.to_owned(),
            workers: None,
            priority: Priority::DEFAULT,
            io_runtime: None,
            watchdog: Some(DEFAULT_WATCHDOG_THRESHOLD),
            job_spans: true,
            classes: Vec::new(),
            time_slice: DEFAULT_TIME_SLICE,
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
        if self.time_slice.is_zero() {
            return Err(BuildError::InvalidTimeSlice);
        }
        let classes = validate_classes(self.classes, workers)?;
        Ok(ValidPoolConfig {
            name: self.name,
            workers,
            priority,
            io_runtime,
            watchdog: self.watchdog,
            job_spans: self.job_spans,
            classes,
            time_slice: self.time_slice,
        })
    }
}

/// Checks every class, and puts the default class first (configured, or
/// with the defaults).
fn validate_classes(
    classes: Vec<WorkloadClass>,
    workers: usize,
) -> Result<Vec<WorkloadClass>, BuildError> {
    let invalid = |class: &WorkloadClass, reason: String| BuildError::InvalidClass {
        class: class.name.to_string(),
        reason,
    };
    for (index, class) in classes.iter().enumerate() {
        if let Err(BuildError::InvalidName { reason, .. }) = validate_name(&class.name) {
            return Err(invalid(
                class,
                format!("{reason}; name it with printable text"),
            ));
        }
        if classes[..index]
            .iter()
            .any(|other| other.name == class.name)
        {
            return Err(invalid(
                class,
                "two classes have this name; give each class one name and one set of settings"
                    .to_owned(),
            ));
        }
        if !(1..=MAX_WEIGHT).contains(&class.weight) {
            return Err(invalid(
                class,
                format!(
                    "weight {} is outside 1..={MAX_WEIGHT}; a weight of 0 would never run, use a \
                     small weight (1) for background work",
                    class.weight
                ),
            ));
        }
        if let Some(cores) = class.cap
            && !(MIN_CAP..=workers as f64).contains(&cores)
        {
            return Err(invalid(
                class,
                format!(
                    "cap of {cores} cores is not between {MIN_CAP} and the {workers} worker \
                     threads; pass a fraction such as 0.5, or leave the class uncapped"
                ),
            ));
        }
        if class.cap_window.is_zero() {
            return Err(invalid(
                class,
                "cap window 0: pass the span the cap is averaged over, such as 100 ms".to_owned(),
            ));
        }
        if class.max_queued == Some(0) {
            return Err(invalid(
                class,
                "max_queued 0 would refuse every job; pass 1 or more, or leave it unbounded"
                    .to_owned(),
            ));
        }
        if class.max_queue_wait.is_some_and(|wait| wait.is_zero()) {
            return Err(invalid(
                class,
                "max_queue_wait 0 would expire every job; pass the longest wait a job may \
                 still be useful after"
                    .to_owned(),
            ));
        }
    }
    let mut ordered = Vec::with_capacity(classes.len() + 1);
    let mut others = Vec::with_capacity(classes.len());
    for class in classes {
        if &*class.name == DEFAULT_CLASS {
            ordered.push(class);
        } else {
            others.push(class);
        }
    }
    if ordered.is_empty() {
        ordered.push(WorkloadClass::new(DEFAULT_CLASS));
    }
    ordered.extend(others);
    Ok(ordered)
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

    /// The workload classes, the default class first.
    pub fn classes(&self) -> &[WorkloadClass] {
        &self.classes
    }

    /// How long a poll runs before [`yield_if_needed`](crate::yield_if_needed)
    /// yields.
    pub fn time_slice(&self) -> Duration {
        self.time_slice
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
