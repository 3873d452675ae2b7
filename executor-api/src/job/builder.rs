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
use crate::sched::group::JobGroup;

/// Submits a job with options, made by [`Executor::job`](crate::Executor::job): a name, a
/// [workload class](crate::WorkloadClass), a [group](crate::JobGroup).
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
    /// The class, or the name of a class the executor does not have;
    /// `None` if none was given.
    class: Option<Result<ClassIndex, String>>,
    group: Option<JobGroup>,
}

impl<'a, E: ExecutorBackend> JobBuilder<'a, E> {
    pub(crate) fn new(executor: &'a E) -> Self {
        JobBuilder {
            executor,
            name: None,
            class: None,
            group: None,
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
        self.class = Some(
            self.executor
                .core()
                .class_named(class)
                .ok_or_else(|| class.to_owned()),
        );
        self
    }

    /// Submits the job to `group`: it runs in the group's class, and shares
    /// the group's turn with its other jobs (see [`JobGroup`]).
    ///
    /// # Errors
    ///
    /// The job never runs and its handle resolves at once to
    /// [`JobError::ForeignGroup`] if another executor made the group, or to
    /// [`JobError::GroupClassMismatch`] if [`class`](Self::class) names
    /// another class than the group's; otherwise as for any job.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::{Executor, WorkloadClass};
    /// # let executor = executor_tokio::DedicatedExecutor::builder()
    /// #     .class(WorkloadClass::new("queries"))
    /// #     .build()
    /// #     .unwrap();
    /// let query = executor.group_in("queries").unwrap();
    /// let part = executor.job().group(&query).name("scan").spawn_cpu(|_| 7);
    /// assert_eq!(futures::executor::block_on(part), Ok(7));
    /// # executor.shutdown();
    /// ```
    pub fn group(mut self, group: &JobGroup) -> Self {
        self.group = Some(group.clone());
        self
    }

    /// Names the job, for example `"cpu:sort"`.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    #[track_caller]
    fn submit<B: JobBody>(self, body: B) -> JobHandle<B::Output> {
        let core = self.executor.core();
        let placed = match (self.class, self.group) {
            (Some(Err(class)), _) => Err(JobError::UnknownClass { class }),
            (Some(Ok(class)), None) => Ok((class, None)),
            (None, None) => Ok((ClassIndex::DEFAULT, None)),
            (_, Some(group)) if !group.shared.belongs_to(core.class_table()) => {
                Err(JobError::ForeignGroup)
            }
            (Some(Ok(class)), Some(group)) if class != group.shared.class() => {
                Err(JobError::GroupClassMismatch {
                    group_class: group.class().to_owned(),
                    class: core.class_name(class),
                })
            }
            (_, Some(group)) => Ok((group.shared.class(), Some(group.shared))),
        };
        let (class, group) = match placed {
            Ok(placed) => placed,
            Err(refusal) => {
                crate::contain::drop_contained(body);
                return JobHandle::refused(refusal);
            }
        };
        let (job, handle) = Job::admit(core, body, self.name, class, group);
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
