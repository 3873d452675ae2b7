//! [`JobBuilder`]: a job with a name.

use std::future::Future;
use std::sync::Arc;

use futures_core::Stream;

use crate::backend::{ClosureBody, FutureBody, JobBody};
use crate::cancel::CancelToken;
use crate::executor::Executor;
use crate::handle::JobHandle;
use crate::stream::{JobStream, channel, pump};

/// Submits a job with options, made by [`Executor::job`].
///
/// Today the option is a name. The executor's watchdog reports a stalled
/// job by its name, and both backends, built with `--cfg tokio_unstable`,
/// show the job in tokio-console under it. The console also shows where
/// the job was submitted: the spawn methods are `#[track_caller]`, so the
/// location is the caller's line, not one inside the executor.
///
/// # Examples
///
/// ```
/// use executor_api::Executor;
/// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
/// let handle = executor.job().name("cpu:checksum").spawn_cpu(|_cancel| 7 * 6);
/// assert_eq!(futures::executor::block_on(handle), Ok(42));
/// # executor.shutdown();
/// ```
#[derive(Debug)]
#[must_use = "a JobBuilder does nothing until one of its spawn methods is called"]
pub struct JobBuilder<'a, E: ?Sized> {
    executor: &'a E,
    name: Option<Arc<str>>,
}

impl<'a, E: Executor> JobBuilder<'a, E> {
    pub(crate) fn new(executor: &'a E) -> Self {
        JobBuilder {
            executor,
            name: None,
        }
    }

    /// Names the job, for example `"cpu:sort"`.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    #[track_caller]
    fn submit<B: JobBody>(self, body: B) -> JobHandle<B::Output> {
        let (job, handle) = self.executor.core().admit_named(body, self.name);
        if let Some(job) = job {
            self.executor.schedule(job);
        }
        handle
    }

    /// Submits a future; see [`Executor::spawn`] for cancellation, panics
    /// and shutdown.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JobHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.submit(FutureBody::new(future))
    }

    /// Submits a CPU closure; see [`Executor::spawn_cpu`] for cancellation,
    /// panics and shutdown.
    #[track_caller]
    pub fn spawn_cpu<F, T>(self, closure: F) -> JobHandle<T>
    where
        F: FnOnce(&CancelToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(ClosureBody::new(closure))
    }

    /// Submits a stream producer; see [`Executor::spawn_stream`].
    #[track_caller]
    pub fn spawn_stream<S>(self, stream: S, buffer: usize) -> JobStream<S::Item>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        let (sender, items) = channel(buffer);
        let producer = self.spawn(pump(stream, sender));
        JobStream::new(items, producer)
    }
}
