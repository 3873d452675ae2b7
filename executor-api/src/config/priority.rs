//! [`Priority`]: the OS priority of worker threads, and applying it.

use std::fmt;
use std::str::FromStr;

/// The niceness of worker threads unless a builder says otherwise.
pub const DEFAULT_NICE: i32 = 10;

/// The OS priority of an executor's worker threads: one setting, so that
/// no pair of builder calls can contradict each other.
///
/// A lower priority lets the kernel run latency-sensitive threads (the I/O
/// runtime) first when the CPU is saturated, while the workers still get
/// every otherwise idle cycle.
///
/// It parses from and displays as `normal`, `idle` or a niceness `0` to
/// `19`.
///
/// # Examples
///
/// ```
/// use executor_api::Priority;
///
/// assert_eq!("idle".parse::<Priority>(), Ok(Priority::Idle));
/// assert_eq!("10".parse::<Priority>(), Ok(Priority::Nice(10)));
/// assert_eq!("0".parse::<Priority>(), Ok(Priority::Normal));
/// assert!("20".parse::<Priority>().is_err());
/// assert_eq!(Priority::Nice(19).to_string(), "nice 19");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// The caller's priority (niceness 0 on a normal process).
    Normal,
    /// A niceness: 1 (slightly lower) to 19 (lowest); 0 is the same as
    /// [`Normal`](Self::Normal). Applied per thread with `setpriority` on
    /// Linux, never raising a priority (a process already running at a
    /// higher niceness keeps it); validated but without effect elsewhere.
    /// A builder rejects values outside `0..=19` with
    /// [`BuildError::InvalidNice`](crate::error::BuildError::InvalidNice).
    Nice(i32),
    /// Linux's `SCHED_IDLE` policy: the workers get only CPU time that no
    /// other thread wants, and a latency-sensitive thread that wakes up
    /// preempts them at once (with a niceness, the kernel may first let
    /// them finish a time slice). Best when all the CPU work is background
    /// work. No effect outside Linux.
    Idle,
}

impl Priority {
    /// [`Nice`](Self::Nice)`(`[`DEFAULT_NICE`](crate::backend::DEFAULT_NICE)`)`:
    /// what a builder uses unless told otherwise.
    pub const DEFAULT: Priority = Priority::Nice(DEFAULT_NICE);

    /// Checks the niceness.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidNice`](crate::error::BuildError::InvalidNice) for a
    /// niceness outside `0..=19`.
    pub fn validate(self) -> Result<Priority, crate::error::BuildError> {
        match self {
            Priority::Nice(nice) => crate::error::validate_nice(nice).map(|()| self),
            Priority::Normal | Priority::Idle => Ok(self),
        }
    }

    /// Applies this priority to the calling thread, and gives it the
    /// kernel's default time slice (a thread inherits its creator's, which
    /// may be short: see [`latency`](crate::latency)). A failure is
    /// returned for the backend to log; the thread keeps running at its
    /// current priority.
    ///
    /// # Errors
    ///
    /// The OS error.
    pub fn apply_to_current_thread(self) -> std::io::Result<()> {
        // A thread inherits its creator's time slice: a worker created by a
        // thread that asked for a short one (`crate::latency`) goes back to
        // the kernel's default first. Best effort: where slices do not
        // exist there is nothing to reset.
        let _ = crate::latency::mark_current_thread(std::time::Duration::ZERO);
        match self {
            Priority::Normal => Ok(()),
            Priority::Nice(nice) => lower_current_thread(nice),
            Priority::Idle => use_idle_scheduling(),
        }
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::DEFAULT
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Priority::Normal => f.write_str("normal"),
            Priority::Nice(nice) => write!(f, "nice {nice}"),
            Priority::Idle => f.write_str("idle"),
        }
    }
}

/// A text that names no [`Priority`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePriorityError {
    text: String,
}

impl fmt::Display for ParsePriorityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown priority {:?}: use `normal`, `idle` or a niceness from 0 to 19",
            self.text
        )
    }
}

impl std::error::Error for ParsePriorityError {}

impl FromStr for Priority {
    type Err = ParsePriorityError;

    fn from_str(text: &str) -> Result<Self, ParsePriorityError> {
        match text.trim() {
            "normal" => Ok(Priority::Normal),
            "idle" => Ok(Priority::Idle),
            nice => match nice.strip_prefix("nice ").unwrap_or(nice).parse::<i32>() {
                Ok(0) => Ok(Priority::Normal),
                Ok(value @ 1..=19) => Ok(Priority::Nice(value)),
                _ => Err(ParsePriorityError {
                    text: text.to_owned(),
                }),
            },
        }
    }
}

/// Lowers the calling thread's priority to `nice` (0 = normal, 19 = lowest),
/// never raising it: a thread that already runs at a higher niceness keeps
/// it, since raising priority needs privileges.
///
/// On Linux, `setpriority(PRIO_PROCESS, tid)` changes only the calling
/// thread. Elsewhere this does nothing.
///
/// # Errors
///
/// The OS error if the priority could not be read or set; backends log it
/// and keep the thread at its current priority.
pub fn lower_current_thread(nice: i32) -> std::io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        let current = getpriority_process(tid)?;
        if current < nice {
            setpriority_process(tid, nice)?;
        }
    }
    Ok(())
}

/// Moves the calling thread to the `SCHED_IDLE` scheduling policy (Linux):
/// it then runs only on CPU time no other thread wants, and any normal
/// thread that wakes up preempts it at once. Elsewhere this does nothing.
///
/// # Errors
///
/// The OS error if the policy could not be set.
pub fn use_idle_scheduling() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` only reads `param`, which lives for
        // the call; pid 0 names the calling thread. No memory is shared.
        #[allow(unsafe_code)]
        let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if result != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether the calling thread runs under `SCHED_IDLE` (always `false`
/// outside Linux).
pub fn current_thread_is_idle_scheduled() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `sched_getscheduler` takes no pointers; pid 0 names the
        // calling thread.
        #[allow(unsafe_code)]
        let policy = unsafe { libc::sched_getscheduler(0) };
        policy == libc::SCHED_IDLE
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The calling thread's niceness, where the OS reports one (Linux).
///
/// # Examples
///
/// ```
/// let nice = executor_api::backend::current_thread_nice();
/// assert!(nice.is_none_or(|nice| (-20..=19).contains(&nice)));
/// ```
pub fn current_thread_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
