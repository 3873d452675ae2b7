//! [`JobHandle`]: awaiting, cancelling and detaching a job.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::JobError;
use crate::job::cell::JobCell;
use std::sync::Arc;

/// The handle to a submitted job: a future that resolves to the job's value
/// or to the [`JobError`] that stopped it.
///
/// It can be awaited from any async runtime (Tokio or not) and from a plain
/// thread with any `block_on`; waiting for it never blocks a thread of the
/// executor.
///
/// # Cancellation
///
/// Dropping the handle cancels the job: a job that has not started never
/// runs, and ends at once on the dropping (or cancelling) thread: what it
/// captured is dropped there, its class's queue slot is freed, and no
/// shutdown or `join` waits for it, even when no worker could reach it
/// soon (its class over its cap); a running future is dropped at its next `.await`; a running closure
/// sees [`CancelToken::is_cancelled`](crate::CancelToken::is_cancelled)
/// return `true`. Call [`detach`](Self::detach) to let the job run to
/// completion without a handle, or [`cancel`](Self::cancel) to cancel it and
/// still await its outcome.
///
/// # Panics
///
/// Polling the handle again after it returned `Poll::Ready` panics, like any
/// future polled after completion.
///
/// # Examples
///
/// ```
/// use executor_api::{Executor, JobError};
/// let executor = executor_tokio::DedicatedExecutor::builder().worker_threads(1).build().unwrap();
/// let handle = executor.spawn(async { 6 * 7 });
/// assert_eq!(futures::executor::block_on(handle), Ok(42));
///
/// let handle = executor.spawn_cpu(|_cancel| -> u32 { panic!("bad row") });
/// let err = futures::executor::block_on(handle).unwrap_err();
/// assert_eq!(err, JobError::Panicked { message: "bad row".into() });
/// executor.shutdown();
/// ```
#[must_use = "dropping a JobHandle cancels the job; call `detach` to let it run"]
pub struct JobHandle<T> {
    state: State<T>,
}

enum State<T> {
    /// A job that was admitted.
    Live(Arc<JobCell<T>>),
    /// The outcome was returned, or the handle was detached.
    Done,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(cell: Arc<JobCell<T>>) -> Self {
        JobHandle {
            state: State::Live(cell),
        }
    }

    /// A handle for a submission that was refused, resolving to `error`:
    /// a cell that holds the outcome already (an allocation on the refusal
    /// path keeps every handle one pointer wide).
    pub(crate) fn refused(error: JobError) -> Self {
        JobHandle {
            state: State::Live(Arc::new(JobCell::ended(Err(error)))),
        }
    }

    /// Lets the job run to completion without a handle. Its value (or
    /// error) is dropped on the executor when the job ends.
    ///
    /// A detached job still counts for graceful shutdown and `join`, and
    /// is still cancelled by an immediate shutdown.
    pub fn detach(mut self) {
        if let State::Live(cell) = mem::replace(&mut self.state, State::Done) {
            cell.abandon(true);
        }
    }

    /// Requests cancellation, keeping the handle to await the outcome.
    ///
    /// The handle then resolves to [`JobError::Cancelled`], unless the job
    /// had already finished, in which case it resolves to that outcome (a
    /// future that completes in the poll that races the cancel also keeps
    /// its value). Cancelling twice, or a finished job, is harmless.
    pub fn cancel(&self) {
        if let State::Live(cell) = &self.state {
            cell.cancel();
        }
    }

    /// Whether the job has ended, so that awaiting the handle would not
    /// wait. A refused submission counts as ended.
    pub fn is_finished(&self) -> bool {
        match &self.state {
            State::Live(cell) => cell.is_finished(),
            State::Done => true,
        }
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = match mem::replace(&mut self.state, State::Done) {
            State::Live(cell) => match cell.poll_outcome(cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => {
                    self.state = State::Live(cell);
                    return Poll::Pending;
                }
            },
            State::Done => panic!("`JobHandle` polled after it returned `Poll::Ready`"),
        };
        Poll::Ready(outcome)
    }
}

// The handle never pins anything in place.
impl<T> Unpin for JobHandle<T> {}

impl<T> Drop for JobHandle<T> {
    fn drop(&mut self) {
        if let State::Live(cell) = &self.state {
            cell.abandon(false);
        }
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
