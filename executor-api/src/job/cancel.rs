//! Cooperative cancellation for running closures.

use std::fmt;
use std::sync::atomic::Ordering::Acquire;

use crate::sync::AtomicBool;

/// Tells a running CPU closure whether its job has been cancelled.
///
/// A closure submitted with [`Executor::spawn_cpu`](crate::Executor::spawn_cpu)
/// receives a `&CancelToken`. Nothing can stop a closure from the outside; a
/// long closure should check [`is_cancelled`](Self::is_cancelled) between
/// chunks of work and return early when it is set. The job is cancelled when
/// its handle is dropped or [`cancel`](crate::JobHandle::cancel)led, or when
/// the executor shuts down immediately (or its shutdown deadline passes).
///
/// The token borrows the job's state, so it costs nothing to create. It is
/// `Sync`, so Rayon-style scoped parallelism inside the closure can share it.
///
/// # Examples
///
/// ```
/// use executor_api::CancelToken;
///
/// fn sum_until_cancelled(rows: &[u64], cancel: &CancelToken<'_>) -> Option<u64> {
///     let mut total = 0;
///     for chunk in rows.chunks(1024) {
///         if cancel.is_cancelled() {
///             return None;
///         }
///         total += chunk.iter().sum::<u64>();
///     }
///     Some(total)
/// }
///
/// CancelToken::with_never_cancelled(|cancel| {
///     assert_eq!(sum_until_cancelled(&[1, 2, 3], cancel), Some(6));
/// });
/// ```
#[derive(Clone, Copy)]
pub struct CancelToken<'a> {
    job: &'a AtomicBool,
    executor: &'a AtomicBool,
}

impl<'a> CancelToken<'a> {
    pub(crate) fn new(job: &'a AtomicBool, executor: &'a AtomicBool) -> Self {
        CancelToken { job, executor }
    }

    /// Whether the job has been cancelled. Once `true`, it stays `true`.
    pub fn is_cancelled(&self) -> bool {
        // Acquire pairs with the Release store that requests cancellation, so
        // a closure that sees the flag also sees what the canceller wrote
        // before it.
        self.job.load(Acquire) || self.executor.load(Acquire)
    }

    /// Runs `f` with a token that is never cancelled: for calling code written
    /// for a job outside an executor (serially, in tests, in benchmarks).
    pub fn with_never_cancelled<R>(f: impl FnOnce(&CancelToken<'_>) -> R) -> R {
        let never = AtomicBool::new(false);
        f(&CancelToken::new(&never, &never))
    }
}

impl fmt::Debug for CancelToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
