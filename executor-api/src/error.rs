//! The error types: [`JobError`] for a job's outcome, [`BuildError`] for a
//! backend's configuration.

use std::any::Any;
use std::fmt;
use std::time::Duration;

/// Why a job did not produce its value.
///
/// A [`JobHandle`](crate::JobHandle) resolves to `Err(JobError)` when the job
/// was never run, was stopped before it finished, or panicked.
///
/// # Examples
///
/// ```
/// use executor_api::JobError;
///
/// let err = JobError::Panicked { message: "index out of bounds".into() };
/// assert!(err.is_panic());
/// assert!(err.to_string().contains("index out of bounds"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobError {
    /// The job was submitted after the executor began shutting down, so it
    /// was never queued.
    ShutDown,
    /// The job was cancelled before it finished: its handle was dropped or
    /// [`cancel`](crate::JobHandle::cancel)led, or the executor shut down
    /// immediately (or its shutdown deadline passed) while the job was queued
    /// or running.
    Cancelled,
    /// The job panicked. The worker thread and the executor survived; only
    /// this job is lost.
    Panicked {
        /// The panic message: the payload when it was a `&str` or a
        /// `String`, otherwise [`NON_STRING_PANIC`].
        message: String,
    },
    /// The job's [class](crate::WorkloadClass) could not take it: its queue
    /// was full when it was submitted, or it waited longer than the class
    /// allows. Either way it never ran.
    Overloaded {
        /// The class's name.
        class: String,
        /// Which of the class's limits refused the job.
        reason: Overload,
    },
    /// The job was submitted to a class that the executor was not built
    /// with; it never ran.
    UnknownClass {
        /// The name it was submitted to.
        class: String,
    },
    /// The job was submitted to a [`JobGroup`](crate::JobGroup) made by
    /// another executor; it never ran.
    ForeignGroup,
    /// The job was submitted to a [`JobGroup`](crate::JobGroup) and to a
    /// class other than the group's; it never ran.
    GroupClassMismatch {
        /// The group's class.
        group_class: String,
        /// The class the job was submitted to.
        class: String,
    },
}

/// Which limit of a [`WorkloadClass`](crate::WorkloadClass) refused a job
/// ([`JobError::Overloaded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overload {
    /// The class already had this many jobs waiting for their first poll
    /// ([`WorkloadClass::max_queued`](crate::WorkloadClass::max_queued)).
    QueueFull {
        /// The class's bound.
        max_queued: usize,
    },
    /// The job waited for its first poll longer than the class allows
    /// ([`WorkloadClass::max_queue_wait`](crate::WorkloadClass::max_queue_wait)).
    WaitedTooLong {
        /// The class's limit.
        max_queue_wait: Duration,
    },
}

/// The message of [`JobError::Panicked`] when the panic payload was neither a
/// `&str` nor a `String` (for example `std::panic::panic_any(42)`).
pub const NON_STRING_PANIC: &str = "job panicked with a non-string payload";

impl JobError {
    /// Builds [`JobError::Panicked`] from a payload caught by
    /// [`std::panic::catch_unwind`].
    ///
    /// A `String` or `&str` payload becomes the message; any other payload
    /// gets [`NON_STRING_PANIC`]. The payload is dropped here, and a panic
    /// of its destructor (or of the payloads that panic carries) is
    /// contained: this never panics.
    pub fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let message = if let Some(message) = payload.downcast_ref::<String>() {
            message.clone()
        } else if let Some(message) = payload.downcast_ref::<&'static str>() {
            (*message).to_owned()
        } else {
            NON_STRING_PANIC.to_owned()
        };
        crate::contain::drop_payload(payload);
        JobError::Panicked { message }
    }

    /// Whether the job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JobError::Cancelled)
    }

    /// Whether the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JobError::Panicked { .. })
    }

    /// Whether the job was rejected because the executor was shutting down.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, JobError::ShutDown)
    }

    /// Whether the job's class refused it ([`JobError::Overloaded`]): shed
    /// load, or retry later.
    pub fn is_overloaded(&self) -> bool {
        matches!(self, JobError::Overloaded { .. })
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::ShutDown => f.write_str(
                "job rejected: the executor is shutting down; submit work before calling \
                 shutdown, or build a new executor",
            ),
            JobError::Cancelled => f.write_str(
                "job cancelled before it finished: its handle was dropped or cancelled, or the \
                 executor shut down immediately; keep the handle (or detach it) and use a \
                 graceful shutdown to let the job finish",
            ),
            JobError::Panicked { message } => write!(
                f,
                "job panicked: {message}; the executor is still running, fix the job or catch \
                 the failure where it is awaited"
            ),
            JobError::Overloaded {
                class,
                reason: Overload::QueueFull { max_queued },
            } => write!(
                f,
                "job refused: class {class:?} already has {max_queued} jobs waiting (its \
                 max_queued); shed load or retry later, or raise the bound or the class's weight"
            ),
            JobError::Overloaded {
                class,
                reason: Overload::WaitedTooLong { max_queue_wait },
            } => write!(
                f,
                "job dropped unrun: it waited longer than class {class:?} allows \
                 ({max_queue_wait:?}, its max_queue_wait); shed load or retry later, or raise the \
                 limit or the class's weight"
            ),
            JobError::UnknownClass { class } => write!(
                f,
                "job refused: the executor has no class {class:?}; add it with \
                 Builder::class, or submit without a class"
            ),
            JobError::ForeignGroup => write!(
                f,
                "job refused: its group was made by another executor; make the group with \
                 the executor you submit to (Executor::group)"
            ),
            JobError::GroupClassMismatch { group_class, class } => write!(
                f,
                "job refused: submitted to class {class:?} and to a group of class \
                 {group_class:?}; a group's jobs run in its class (Executor::group_in), so \
                 leave out JobBuilder::class"
            ),
        }
    }
}

impl std::error::Error for JobError {}

/// A backend's configuration was rejected when building the executor.
///
/// # Examples
///
/// ```
/// use executor_api::BuildError;
///
/// let err = BuildError::ZeroWorkers;
/// assert!(err.to_string().contains("at least one"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The worker count was zero.
    ZeroWorkers,
    /// The executor's name cannot name a thread.
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The requested niceness is outside the range that an unprivileged
    /// process may set for its own threads.
    InvalidNice {
        /// The rejected value.
        nice: i32,
    },
    /// The watchdog threshold was zero: every poll would be reported.
    InvalidWatchdog,
    /// The time slice was zero (see
    /// [`Builder::time_slice`](crate::Builder::time_slice)).
    InvalidTimeSlice,
    /// A [`WorkloadClass`](crate::WorkloadClass) setting was rejected.
    InvalidClass {
        /// The class's name.
        class: String,
        /// What is wrong with it, and what to do.
        reason: String,
    },
    /// The operating system refused to start a thread or build the runtime.
    Io(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str(
                "an executor needs at least one worker thread; pass a worker count of 1 or more",
            ),
            BuildError::InvalidName { name, reason } => {
                write!(f, "invalid executor name {name:?}: {reason}")
            }
            BuildError::InvalidNice { nice } => write!(
                f,
                "invalid niceness {nice}: use 0 (normal priority) to 19 (lowest); raising \
                 priority above normal needs privileges an executor should not require"
            ),
            BuildError::InvalidWatchdog => f.write_str(
                "invalid watchdog threshold 0: every poll would count as a stall; pass a \
                 threshold above the longest poll you expect (the default is 100 ms), or turn \
                 the watchdog off",
            ),
            BuildError::InvalidTimeSlice => f.write_str(
                "invalid time slice 0: yield_if_needed would yield at every call; pass a slice \
                 of about a millisecond (the default)",
            ),
            BuildError::InvalidClass { class, reason } => {
                write!(f, "invalid workload class {class:?}: {reason}")
            }
            BuildError::Io(err) => write!(
                f,
                "the operating system refused to start the executor's threads: {err}; check \
                 the process's thread limits"
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for BuildError {
    fn from(err: std::io::Error) -> Self {
        BuildError::Io(err)
    }
}

/// Checks that `name` can name the executor's threads.
///
/// Backends call this from their builders so that every backend rejects the
/// same names with the same error.
///
/// # Errors
///
/// [`BuildError::InvalidName`] when the name is empty, contains a NUL byte
/// (the OS cannot store it), or contains other control characters (they
/// garble `ps`, `top` and tokio-console).
pub fn validate_name(name: &str) -> Result<(), BuildError> {
    let reason = if name.is_empty() {
        "a name must not be empty"
    } else if name.contains('\0') {
        "a thread name cannot contain a NUL byte"
    } else if name.chars().any(char::is_control) {
        "a thread name should not contain control characters"
    } else {
        return Ok(());
    };
    Err(BuildError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// Checks a niceness for [`BuildError::InvalidNice`]: `0..=19` is accepted.
///
/// # Errors
///
/// [`BuildError::InvalidNice`] outside `0..=19`.
pub fn validate_nice(nice: i32) -> Result<(), BuildError> {
    if (0..=19).contains(&nice) {
        Ok(())
    } else {
        Err(BuildError::InvalidNice { nice })
    }
}
