//! Cooperative time slices: [`yield_if_needed`].

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

thread_local! {
    /// When the poll that runs on this thread should yield, if it is a
    /// job's poll.
    static SLICE_END: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Marks the calling thread as polling a job until `end` (`None`: a slice
/// that never ends), restoring what was there when dropped (a job may poll
/// another executor's job inline).
pub(crate) struct Slice {
    previous: Option<Instant>,
}

impl Slice {
    pub(crate) fn begin(end: Option<Instant>) -> Slice {
        let previous = SLICE_END.try_with(|slot| slot.replace(end)).unwrap_or(None);
        Slice { previous }
    }
}

impl Drop for Slice {
    fn drop(&mut self) {
        let _ = SLICE_END.try_with(|slot| slot.set(self.previous));
    }
}

/// Whether the job's current poll has run longer than its executor's time
/// slice ([`Builder::time_slice`](crate::Builder::time_slice)). Outside a
/// job's poll, `false`.
///
/// Costs a thread-local read and a clock read. For a CPU closure that
/// cannot yield, it says when a loop is holding its worker longer than the
/// executor would like (split the work into more jobs).
pub fn should_yield() -> bool {
    SLICE_END
        .try_with(Cell::get)
        .ok()
        .flatten()
        .is_some_and(|end| Instant::now() >= end)
}

/// Yields to the executor if the job's current poll has run longer than
/// its time slice ([`Builder::time_slice`](crate::Builder::time_slice),
/// 1 ms by default); otherwise resolves at once, for the cost of a clock
/// read.
///
/// An executor shares its workers between [workload
/// classes](crate::WorkloadClass) at poll boundaries: a job that runs for
/// seconds without yielding holds its worker, and the jobs of every class
/// wait behind it. Call this between chunks of work so that the executor
/// can choose the next job by the classes' weights: the job goes to the
/// back of its class's queue and runs again when its class's turn comes.
///
/// Outside a job (on any other thread or runtime), it never yields.
///
/// # Cancellation
///
/// A yield is an `.await`: a job whose handle was dropped, or whose
/// executor shut down immediately, is dropped there.
///
/// # Examples
///
/// ```
/// use executor_api::{Executor, yield_if_needed};
/// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
/// let total = executor.spawn(async {
///     let mut total = 0u64;
///     for chunk in (0..1_000_000u64).collect::<Vec<_>>().chunks(10_000) {
///         total += chunk.iter().sum::<u64>();
///         yield_if_needed().await; // let other classes in, once a slice
///     }
///     total
/// });
/// assert_eq!(futures::executor::block_on(total), Ok(499_999_500_000));
/// # executor.shutdown();
/// ```
pub async fn yield_if_needed() {
    if should_yield() {
        YieldOnce { yielded: false }.await;
    }
}

/// Returns `Pending` once, waking itself: the job is rescheduled at the
/// back of its class's queue.
struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
