//! Latency-sensitive threads: asking Linux's scheduler (EEVDF, 6.12 and
//! later) for a short time slice for the threads of your I/O runtime.
//!
//! The executors lower their workers' priority, so the kernel gives the
//! I/O runtime's threads most of the CPU when both want it. But a woken
//! thread waits for the CPU until the running one's slice ends or the
//! kernel decides to preempt it, and under EEVDF a thread with a shorter
//! requested slice has an earlier deadline and may preempt on wake-up. A
//! short slice (100 µs) for the threads that answer probes and clients,
//! and nothing else changed, is what this module sets: `sched_setattr`
//! with `SCHED_OTHER` and `sched_runtime`, keeping the thread's nice value.
//! Unprivileged threads may set it (the kernel clamps it to 100 µs – 100 ms).
//!
//! It is a request, never a panic: on kernels before 6.12 (which ignore
//! the field), on other systems, under a seccomp filter that forbids the
//! call, or for a thread under another policy (`SCHED_IDLE`, real-time),
//! [`mark_current_thread`] says why it did not apply and the thread runs as
//! before.
//!
//! ```
//! use std::time::Duration;
//! use executor_api::latency::{self, LatencyError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io_runtime = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .on_thread_start(latency::on_thread_start)
//!     .enable_all()
//!     .build()?;
//! // Or for one thread, with the outcome:
//! match latency::mark_current_thread(latency::DEFAULT_SLICE) {
//!     Ok(slice) => assert!(slice >= Duration::from_micros(100)),
//!     Err(LatencyError::Unsupported(reason)) => eprintln!("not applied: {reason}"),
//!     Err(err) => eprintln!("not applied: {err}"),
//! }
//! # drop(io_runtime);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

/// The slice [`on_thread_start`] asks for: the shortest the kernel grants.
pub const DEFAULT_SLICE: Duration = Duration::from_micros(100);

/// Why a thread's slice was not set.
#[derive(Debug)]
#[non_exhaustive]
pub enum LatencyError {
    /// The system cannot honour the request: the reason says which part
    /// (not Linux, a kernel before 6.12, a thread under a policy other than
    /// `SCHED_OTHER`). The thread runs as before.
    Unsupported(&'static str),
    /// The kernel refused the call (for example a seccomp filter in a
    /// container); the thread runs as before.
    Refused(std::io::Error),
}

impl std::fmt::Display for LatencyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LatencyError::Unsupported(reason) => write!(
                f,
                "a short time slice is not supported here ({reason}); the thread keeps the \
                 kernel's default"
            ),
            LatencyError::Refused(err) => write!(
                f,
                "the kernel refused a short time slice ({err}); the thread keeps the kernel's \
                 default (a container's seccomp profile may forbid sched_setattr)"
            ),
        }
    }
}

impl std::error::Error for LatencyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LatencyError::Refused(err) => Some(err),
            LatencyError::Unsupported(_) => None,
        }
    }
}

/// Asks for a time slice of `slice` for the calling thread (see the
/// [module docs](self)), keeping its policy and nice value. Threads the
/// calling thread creates afterwards inherit the slice (an executor's
/// workers reset theirs when they start). Returns the
/// slice the kernel applied (it clamps requests to 100 µs – 100 ms). A
/// zero slice gives the thread the kernel's default back.
///
/// # Errors
///
/// [`LatencyError`] when the request does not apply: nothing changed.
pub fn mark_current_thread(slice: Duration) -> Result<Duration, LatencyError> {
    imp::set_slice(slice)
}

/// For `tokio::runtime::Builder::on_thread_start` (or any thread's start):
/// asks for [`DEFAULT_SLICE`] for the calling thread. A request that does
/// not apply is logged once per process at debug level and otherwise
/// ignored: the thread runs as before.
pub fn on_thread_start() {
    if let Err(err) = mark_current_thread(DEFAULT_SLICE) {
        static LOGGED: std::sync::Once = std::sync::Once::new();
        LOGGED.call_once(|| tracing::debug!(%err, "latency-sensitive threads"));
    }
}

/// The calling thread's time slice as the kernel reports it: the one it
/// asked for, or the kernel's default (a few milliseconds) if none; `None`
/// where the system has no such setting (before Linux 6.12, elsewhere) and
/// for a thread under another policy than `SCHED_OTHER`.
pub fn current_thread_slice() -> Option<Duration> {
    imp::current_slice()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::time::Duration;

    use super::LatencyError;

    /// `struct sched_attr` of `sched_setattr(2)`, as of Linux 5.3 (56
    /// bytes). Older kernels know 48 bytes and accept a larger struct whose
    /// tail is zero, as here (the utilisation clamps are not used).
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        sched_policy: u32,
        sched_flags: u64,
        sched_nice: i32,
        sched_priority: u32,
        sched_runtime: u64,
        sched_deadline: u64,
        sched_period: u64,
        sched_util_min: u32,
        sched_util_max: u32,
    }

    fn get() -> Result<SchedAttr, LatencyError> {
        let mut attr = SchedAttr::default();
        let size = std::mem::size_of::<SchedAttr>() as libc::c_uint;
        // SAFETY: `attr` is a valid, writable `sched_attr` of `size` bytes
        // for the whole call; pid 0 is the calling thread; flags are 0.
        #[allow(unsafe_code)]
        let result = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                &mut attr as *mut SchedAttr,
                size,
                0,
            )
        };
        if result == 0 {
            Ok(attr)
        } else {
            Err(refused(std::io::Error::last_os_error()))
        }
    }

    /// A failed call: `ENOSYS` is a kernel without the call, not a refusal.
    fn refused(err: std::io::Error) -> LatencyError {
        if err.raw_os_error() == Some(libc::ENOSYS) {
            LatencyError::Unsupported("the kernel has no sched_setattr (before Linux 3.14)")
        } else {
            LatencyError::Refused(err)
        }
    }

    /// `SCHED_FLAG_RESET_ON_FORK`: kept if the thread had it.
    const RESET_ON_FORK: u64 = 0x01;

    pub(super) fn set_slice(slice: Duration) -> Result<Duration, LatencyError> {
        let mut attr = get()?;
        if attr.sched_policy != libc::SCHED_OTHER as u32 {
            return Err(LatencyError::Unsupported(
                "the thread is not under SCHED_OTHER (idle, batch or real-time policy)",
            ));
        }
        attr.size = std::mem::size_of::<SchedAttr>() as u32;
        attr.sched_flags &= RESET_ON_FORK;
        attr.sched_runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: `attr` is a valid, initialised `sched_attr` whose `size`
        // field says its size, and writable for the whole call (on `E2BIG`
        // the kernel writes the size it knows into it); pid 0 is the
        // calling thread; flags are 0.
        #[allow(unsafe_code)]
        let result =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &mut attr as *mut SchedAttr, 0) };
        if result != 0 {
            return Err(refused(std::io::Error::last_os_error()));
        }
        if slice.is_zero() {
            // The kernel's default again.
            return Ok(Duration::ZERO);
        }
        // Kernels before 6.12 accept the call and ignore the field: read it
        // back.
        match get()?.sched_runtime {
            0 => Err(LatencyError::Unsupported(
                "the kernel ignores a SCHED_OTHER slice (Linux 6.12 or later has it)",
            )),
            applied => Ok(Duration::from_nanos(applied)),
        }
    }

    pub(super) fn current_slice() -> Option<Duration> {
        let attr = get().ok()?;
        (attr.sched_policy == libc::SCHED_OTHER as u32 && attr.sched_runtime != 0)
            .then(|| Duration::from_nanos(attr.sched_runtime))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::time::Duration;

    use super::LatencyError;

    pub(super) fn set_slice(_slice: Duration) -> Result<Duration, LatencyError> {
        Err(LatencyError::Unsupported(
            "only Linux lets a thread ask for a time slice",
        ))
    }

    pub(super) fn current_slice() -> Option<Duration> {
        None
    }
}

#[cfg(all(test, target_os = "linux", not(executor_loom)))]
mod tests {
    use std::time::Duration;

    use super::{LatencyError, current_thread_slice, mark_current_thread};

    /// On a kernel with EEVDF slices (6.12+, as here), a thread gets the
    /// slice it asks for, clamped to the kernel's 100 µs floor, and keeps
    /// its nice value; elsewhere the error says why and nothing changed.
    #[test]
    fn a_thread_gets_a_short_slice_or_a_reason() {
        std::thread::spawn(|| {
            let nice_before = crate::config::priority::current_thread_nice();
            match mark_current_thread(Duration::from_micros(100)) {
                Ok(applied) => {
                    assert_eq!(applied, Duration::from_micros(100));
                    assert_eq!(current_thread_slice(), Some(applied));
                    // Below the floor: clamped, not refused.
                    let clamped = mark_current_thread(Duration::from_micros(10))
                        .expect("a short slice is clamped");
                    assert_eq!(clamped, Duration::from_micros(100));
                    // Zero: the default again.
                    assert_eq!(
                        mark_current_thread(Duration::ZERO).ok(),
                        Some(Duration::ZERO)
                    );
                    let default = current_thread_slice().expect("the kernel's default slice");
                    assert!(default > Duration::from_micros(100), "{default:?}");
                }
                Err(LatencyError::Unsupported(reason)) => {
                    assert!(
                        !kernel_has_slices(),
                        "a kernel with EEVDF slices did not apply one: {reason}"
                    );
                    assert_eq!(current_thread_slice(), None);
                }
                Err(LatencyError::Refused(err)) => panic!("refused: {err}"),
            }
            assert_eq!(crate::config::priority::current_thread_nice(), nice_before);
        })
        .join()
        .expect("the test thread");
    }

    /// Whether the running kernel is 6.12 or later.
    fn kernel_has_slices() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|part| part.parse::<u32>().ok());
        let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        (major, minor) >= (6, 12)
    }

    /// A thread under `SCHED_IDLE` is not changed: the error says why.
    #[test]
    fn an_idle_thread_is_left_alone() {
        std::thread::spawn(|| {
            crate::config::priority::use_idle_scheduling().expect("SCHED_IDLE");
            match mark_current_thread(Duration::from_micros(100)) {
                Err(LatencyError::Unsupported(reason)) => assert!(reason.contains("SCHED_OTHER")),
                other => panic!("an idle thread was changed: {other:?}"),
            }
            assert!(crate::config::priority::current_thread_is_idle_scheduled());
        })
        .join()
        .expect("the test thread");
    }
}
