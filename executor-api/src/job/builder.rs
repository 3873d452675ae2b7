//! [`JobBuilder`]: a job with a name.

use std::future::Future;
use std::sync::Arc;

use futures_core::Stream;

use crate::backend::ExecutorBackend;
use crate::error::JobError;
use crate::job::cancel::CancelToken;
use crate::job::future::{ClosureBody, FutureBody, Job, JobBody};
use crate::job::handle::JobHandle;
use crate::job::stream::{JobStream, channel, pump};
use crate::sched::classes::ClassIndex;

/// Submits a job with options, made by [`Executor::job`](crate::Executor::job): a name, and a
/// [workload class](crate::WorkloadClass).
///
/// The executor's watchdog reports a stalled
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
    /// The class, or the name of a class the executor does not have.
    class: Result<ClassIndex, String>,
}

impl<'a, E: ExecutorBackend> JobBuilder<'a, E> {
    pub(crate) fn new(executor: &'a E) -> Self {
        JobBuilder {
            executor,
            name: None,
            class: Ok(ClassIndex::DEFAULT),
        }
    }

    /// Submits the job to the [workload class](crate::WorkloadClass) named
    /// `class`, which shares the workers with the other classes by weight,
    /// within its cap and admission bounds.
    ///
    /// # Default
    ///
    /// [`DEFAULT_CLASS`](crate::DEFAULT_CLASS).
    ///
    /// # Errors
    ///
    /// The job never runs and its handle resolves at once to:
    ///
    /// - [`JobError::UnknownClass`] if the executor has no such class;
    /// - [`JobError::Overloaded`] if the class's queue is full
    ///   ([`WorkloadClass::max_queued`](crate::WorkloadClass::max_queued));
    ///   later, if the job waits longer than the class allows
    ///   ([`WorkloadClass::max_queue_wait`](crate::WorkloadClass::max_queue_wait)).
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::{Executor, JobError, WorkloadClass};
    /// # let executor = executor_tokio::DedicatedExecutor::builder()
    /// #     .class(WorkloadClass::new("compaction").weight(1))
    /// #     .build()
    /// #     .unwrap();
    /// let merged = executor.job().name("merge").class("compaction").spawn_cpu(|_| 7);
    /// assert_eq!(futures::executor::block_on(merged), Ok(7));
    ///
    /// let typo = executor.job().class("compactoin").spawn_cpu(|_| 7);
    /// assert_eq!(
    ///     futures::executor::block_on(typo),
    ///     Err(JobError::UnknownClass { class: "compactoin".into() }),
    /// );
    /// # executor.shutdown();
    /// ```
    pub fn class(mut self, class: &str) -> Self {
        self.class = self
            .executor
            .core()
            .class_named(class)
            .ok_or_else(|| class.to_owned());
        self
    }

    /// Names the job, for example `"cpu:sort"`.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    #[track_caller]
    fn submit<B: JobBody>(self, body: B) -> JobHandle<B::Output> {
        let class = match self.class {
            Ok(class) => class,
            Err(class) => {
                crate::contain::drop_contained(body);
                return JobHandle::refused(JobError::UnknownClass { class });
            }
        };
        let (job, handle) = Job::admit(self.executor.core(), body, self.name, class);
        if let Some(job) = job {
            self.executor.schedule(job);
        }
        handle
    }

    /// Submits a future; see [`Executor::spawn`](crate::Executor::spawn) for cancellation, panics
    /// and shutdown.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JobHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.submit(FutureBody::new(future))
    }

    /// Submits a CPU closure; see [`Executor::spawn_cpu`](crate::Executor::spawn_cpu) for cancellation,
    /// panics and shutdown.
    #[track_caller]
    pub fn spawn_cpu<F, T>(self, closure: F) -> JobHandle<T>
    where
        F: FnOnce(&CancelToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(ClosureBody::new(closure))
    }

    /// Submits a stream producer; see [`Executor::spawn_stream`](crate::Executor::spawn_stream).
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
