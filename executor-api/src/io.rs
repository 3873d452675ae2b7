//! I/O from inside CPU jobs: run a future, or drive a stream, on the
//! executor's registered I/O runtime.
//!
//! A CPU job that reads from an object store should not do the I/O on the
//! CPU pool (its sockets would be polled by niced threads busy crunching
//! numbers), nor panic because the pool has no I/O driver. Every executor
//! has an *I/O runtime*: by default the Tokio runtime its builder was called
//! from, or one set explicitly with the builder's `io_runtime`. From inside
//! a job, [`spawn`] runs a future there and [`spawn_stream`] drives a stream
//! there; the job awaits the result without blocking its worker.
//!
//! Nothing panics: without an I/O runtime, outside a job, or after the I/O
//! runtime shut down, the result is an [`IoError`] that says which.
//!
//! # Examples
//!
//! ```
//! use executor_api::{Executor, io};
//! use executor_tokio::DedicatedExecutor;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 1)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Built inside the service's runtime, which becomes its I/O runtime.
//! let executor = DedicatedExecutor::builder().build()?;
//!
//! let rows = executor
//!     .spawn(async {
//!         // Runs on the I/O runtime: a stand-in for an object-store read.
//!         let bytes = io::spawn(async { vec![7u8; 1024] }).await?;
//!         // Back on the CPU executor: crunch.
//!         Ok::<_, io::IoError>(bytes.iter().map(|&b| u64::from(b)).sum::<u64>())
//!     })
//!     .await??;
//! assert_eq!(rows, 7 * 1024);
//! # executor.shutdown();
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::error::JobError;
use crate::job::stream::{Relay, channel, pump};
use crate::lifecycle::worker::{IoLookup, current_io_runtime};

/// Why an I/O operation requested from a job did not produce its value.
///
/// # Examples
///
/// ```
/// use executor_api::io::{self, IoError};
///
/// // Outside an executor's job there is no I/O runtime to use.
/// let outside = futures::executor::block_on(io::spawn(async { 1 }));
/// assert_eq!(outside, Err(IoError::NotInJob));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoError {
    /// Called from a thread that is not a worker of any executor.
    NotInJob,
    /// The job's executor has no I/O runtime registered.
    NoIoRuntime,
    /// The I/O runtime has shut down (or was shutting down), so the I/O
    /// could not run to completion.
    IoRuntimeShutDown,
    /// The I/O future or stream panicked; the I/O runtime keeps running.
    Panicked {
        /// The panic message, as in [`JobError::Panicked`].
        message: String,
    },
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::NotInJob => f.write_str(
                "no I/O runtime: this was called outside an executor's job; call it from a \
                 job, or use the I/O runtime directly",
            ),
            IoError::NoIoRuntime => f.write_str(
                "the job's executor has no I/O runtime: build the executor from inside a Tokio \
                 runtime, or pass one to its builder's `io_runtime`",
            ),
            IoError::IoRuntimeShutDown => f.write_str(
                "the executor's I/O runtime has shut down, so the I/O did not complete; keep \
                 the I/O runtime alive until the executor's jobs are done",
            ),
            IoError::Panicked { message } => write!(
                f,
                "the I/O task panicked: {message}; the I/O runtime is still running"
            ),
        }
    }
}

impl std::error::Error for IoError {}

impl IoError {
    fn from_join(err: tokio::task::JoinError) -> Self {
        match err.try_into_panic() {
            Ok(payload) => match JobError::from_panic(payload) {
                JobError::Panicked { message } => IoError::Panicked { message },
                _ => IoError::Panicked {
                    message: crate::error::NON_STRING_PANIC.to_owned(),
                },
            },
            // We never abort a task we still await: a cancelled task means
            // its runtime shut down.
            Err(_) => IoError::IoRuntimeShutDown,
        }
    }
}

/// The I/O runtime of the calling job's executor.
///
/// # Errors
///
/// [`IoError::NotInJob`] outside an executor's threads,
/// [`IoError::NoIoRuntime`] if its executor has none.
pub fn runtime() -> Result<Handle, IoError> {
    match current_io_runtime() {
        IoLookup::Runtime(handle) => Ok(handle),
        IoLookup::NoRuntime => Err(IoError::NoIoRuntime),
        IoLookup::NotAWorker => Err(IoError::NotInJob),
    }
}

/// Runs `future` on the I/O runtime of the calling job's executor and
/// returns a future of its output.
///
/// The future starts at once, as with `tokio::spawn`, whether or not the
/// returned [`IoTask`] is awaited.
///
/// # Cancellation
///
/// Dropping the [`IoTask`] aborts the I/O task (Tokio drops it at its next
/// `.await`). So cancelling the job that awaits it, or shutting down its
/// executor immediately, cancels the I/O too.
///
/// # Errors
///
/// The task resolves to an [`IoError`]: [`NotInJob`](IoError::NotInJob) or
/// [`NoIoRuntime`](IoError::NoIoRuntime) when there is no runtime to run
/// on, [`IoRuntimeShutDown`](IoError::IoRuntimeShutDown) when the runtime
/// is gone, [`Panicked`](IoError::Panicked) when the future panicked.
///
/// # Panics
///
/// Never.
pub fn spawn<F>(future: F) -> IoTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime() {
        Ok(handle) => IoTask {
            state: TaskState::Running(handle.spawn(future)),
        },
        Err(err) => IoTask {
            state: TaskState::Failed(Some(err)),
        },
    }
}

/// Drives `stream` on the I/O runtime of the calling job's executor and
/// returns a stream of its items for the job to consume.
///
/// At most `buffer` items wait between the two (a `buffer` of 0 counts as
/// 1): the I/O side stops pulling from `stream` until the job catches up.
///
/// # Cancellation
///
/// Dropping the [`IoStream`] aborts the I/O task that drives `stream`.
///
/// # Errors
///
/// Items are `Err` once, as the last item: when there is no runtime to run
/// on, when the runtime shut down, or when `stream` panicked (the items it
/// yielded before the panic are delivered first).
pub fn spawn_stream<S>(stream: S, buffer: usize) -> IoStream<S::Item>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    let (sender, items) = channel(buffer);
    IoStream {
        relay: Relay::new(items, spawn(pump(stream, sender))),
    }
}

/// The output of an I/O future started with [`spawn`]: a future of
/// `Result<T, IoError>`. Dropping it aborts the I/O task.
#[must_use = "dropping an IoTask aborts the I/O"]
pub struct IoTask<T> {
    state: TaskState<T>,
}

enum TaskState<T> {
    Running(JoinHandle<T>),
    Failed(Option<IoError>),
}

impl<T> fmt::Debug for IoTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            TaskState::Running(handle) if handle.is_finished() => "finished",
            TaskState::Running(_) => "running",
            TaskState::Failed(_) => "failed",
        };
        f.debug_struct("IoTask").field("state", &state).finish()
    }
}

impl<T> Future for IoTask<T> {
    type Output = Result<T, IoError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            TaskState::Running(handle) => Pin::new(handle).poll(cx).map_err(IoError::from_join),
            TaskState::Failed(err) => Poll::Ready(Err(err
                .take()
                .expect("an IoTask is not polled after it returned Ready"))),
        }
    }
}

impl<T> Drop for IoTask<T> {
    fn drop(&mut self) {
        if let TaskState::Running(handle) = &self.state {
            handle.abort();
        }
    }
}

/// The items of a stream driven on the I/O runtime by [`spawn_stream`]:
/// `Ok(item)` for each item, then at most one `Err(IoError)` that ends it.
/// Dropping it aborts the I/O task.
#[must_use = "streams do nothing unless polled; dropping an IoStream aborts the I/O"]
pub struct IoStream<T> {
    relay: Relay<T, IoTask<()>>,
}

impl<T> fmt::Debug for IoStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoStream").finish_non_exhaustive()
    }
}

impl<T> Stream for IoStream<T> {
    type Item = Result<T, IoError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.relay.poll_next(cx)
    }
}
