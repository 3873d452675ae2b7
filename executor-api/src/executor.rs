//! The [`Executor`] trait, and
//! [`AnyExecutor`], a backend chosen at run time.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;

use crate::backend::ExecutorBackend;
use crate::error::JobError;
use crate::job::builder::JobBuilder;
use crate::job::cancel::CancelToken;
use crate::job::future::{BoxedJob, RunnableJob};
use crate::job::handle::JobHandle;
use crate::job::stream::JobStream;
use crate::lifecycle::core::{ExecutorCore, Join};
use crate::metrics::{ClassMetrics, Metrics};
use crate::sched::classes::ClassIndex;
use crate::sched::group::JobGroup;

/// A dedicated executor for CPU-bound async work.
///
/// Every backend implements the same contract, documented on each method
/// and proven by the conformance suite in `testkit`. Code generic over
/// `E: Executor` is monomorphised per backend: no boxing, no dynamic
/// dispatch. To choose a backend at run time, use [`AnyExecutor`].
///
/// It is implemented for every [`ExecutorBackend`] and cannot be
/// implemented otherwise: a backend supplies only where jobs run, and the
/// contract is written once, here.
///
/// # Shutdown
///
/// | | queued jobs | running futures | running closures | `Drop` of the last clone |
/// |---|---|---|---|---|
/// | [`shutdown`](Self::shutdown) | run | run to completion | run to completion | same as `shutdown`, in the background |
/// | [`shutdown_now`](Self::shutdown_now) | never start, resolve `Cancelled` | dropped at their next `.await` | see the cancel token; resolve `Cancelled` | |
/// | [`shutdown_timeout`](Self::shutdown_timeout) | as `shutdown`, then as `shutdown_now` at the deadline | | | |
///
/// In every case new submissions resolve at once to
/// [`JobError::ShutDown`](crate::JobError::ShutDown), shutting down twice is
/// harmless, nothing blocks the calling thread, and [`join`](Self::join)
/// waits for the end. A closure that never checks its token, or a future
/// that never yields, cannot be stopped from outside: `join` waits for it.
///
/// Tasks that jobs hand to Tokio (`tokio::spawn`, as DataFusion's
/// operators do; both backends run them on threads of the executor) are
/// not jobs, but they follow the shutdown on every backend: a graceful
/// shutdown waits for them to finish, an immediate one (or an expired
/// deadline) drops them once every job has ended, and `join` resolves only
/// after they finished or were dropped. Work handed to Rayon directly
/// (`rayon::spawn` on the Rayon backend) runs before the pool's threads
/// exit, whatever the shutdown.
pub trait Executor: ExecutorBackend {
    /// Submits a future. It is polled on the executor's threads; tasks it
    /// spawns with `tokio::spawn` stay on the executor and follow its
    /// shutdown (see [Shutdown](Self#shutdown)).
    ///
    /// # Cancellation
    ///
    /// Dropping the handle cancels the job: if it has not started it never
    /// runs, and it ends there and then, on the dropping thread (the future
    /// is dropped, its class's queue slot freed, and neither a graceful
    /// shutdown nor `join` waits for it), whether or not a worker could
    /// reach it soon; otherwise the future is dropped at its next `.await`.
    ///
    /// # Panics
    ///
    /// Never panics. A panic inside the future is caught; the handle
    /// resolves to [`JobError::Panicked`](crate::JobError::Panicked) and the
    /// executor keeps running.
    ///
    /// # Shutdown
    ///
    /// After a shutdown began, the handle resolves at once to
    /// [`JobError::ShutDown`](crate::JobError::ShutDown) and the future is
    /// dropped unpolled.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::Executor;
    /// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
    /// let handle = executor.spawn(async { "hello from the executor" });
    /// assert_eq!(futures::executor::block_on(handle).unwrap(), "hello from the executor");
    /// ```
    ///
    /// The future moves to another thread, so it must be `Send`:
    ///
    /// ```compile_fail
    /// use executor_api::Executor;
    /// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
    /// let not_send = std::rc::Rc::new(1);
    /// executor.spawn(async move { *not_send });
    /// ```
    #[track_caller]
    fn spawn<F>(&self, future: F) -> JobHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.job().spawn(future)
    }

    /// Submits a CPU-bound closure. It runs once, on an executor thread,
    /// and receives a [`CancelToken`] to check between chunks of work.
    ///
    /// # Cancellation
    ///
    /// Dropping the handle cancels the job: if the closure has not started it
    /// never runs, and it is dropped there and then, on the dropping thread
    /// (its class's queue slot freed; no shutdown waits for it); if it is
    /// running, its token reports the cancel, and when
    /// it returns its value is dropped and the job counts as cancelled.
    ///
    /// # Panics
    ///
    /// Never panics. A panic inside the closure is caught; the handle
    /// resolves to [`JobError::Panicked`](crate::JobError::Panicked) and the
    /// worker keeps running.
    ///
    /// # Shutdown
    ///
    /// After a shutdown began, the handle resolves at once to
    /// [`JobError::ShutDown`](crate::JobError::ShutDown) and the closure is
    /// dropped without running.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::Executor;
    /// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
    /// let rows: Vec<u64> = (0..10_000).collect();
    /// let handle = executor.spawn_cpu(move |cancel| {
    ///     let mut total = 0;
    ///     for chunk in rows.chunks(1_000) {
    ///         if cancel.is_cancelled() {
    ///             break;
    ///         }
    ///         total += chunk.iter().sum::<u64>();
    ///     }
    ///     total
    /// });
    /// assert_eq!(futures::executor::block_on(handle), Ok(49_995_000));
    /// ```
    #[track_caller]
    fn spawn_cpu<F, T>(&self, closure: F) -> JobHandle<T>
    where
        F: FnOnce(&CancelToken<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.job().spawn_cpu(closure)
    }

    /// Runs a stream producer on the executor and returns its items, to
    /// consume from any runtime. At most `buffer` items wait between the
    /// two (a `buffer` of 0 counts as 1): the producer is not polled for
    /// more until the consumer catches up.
    ///
    /// The producer is one job: it is counted, drained and cancelled like
    /// any other.
    ///
    /// # Cancellation
    ///
    /// Dropping the [`JobStream`] cancels the producer job: it is dropped at
    /// its next `.await`.
    ///
    /// # Panics
    ///
    /// Never panics. A panic in the producer ends the stream with one
    /// `Err(`[`JobError::Panicked`](crate::JobError::Panicked)`)` item,
    /// after the items it yielded before the panic.
    ///
    /// # Shutdown
    ///
    /// A graceful shutdown lets the producer finish (it waits for the
    /// consumer to read what it produces). After an immediate shutdown the
    /// stream ends with `Err(JobError::Cancelled)`; submitted after a
    /// shutdown began, its only item is `Err(JobError::ShutDown)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::Executor;
    /// use futures::StreamExt;
    /// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
    /// // Encode batches on the executor, four batches ahead of the consumer.
    /// let batches = futures::stream::iter(0..10u64).map(|batch| batch * 1_000);
    /// let encoded: Vec<_> = futures::executor::block_on(executor.spawn_stream(batches, 4).collect());
    /// assert_eq!(encoded.len(), 10);
    /// assert_eq!(encoded[3], Ok(3_000));
    /// # executor.shutdown();
    /// ```
    #[track_caller]
    fn spawn_stream<S>(&self, stream: S, buffer: usize) -> JobStream<S::Item>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        self.job().spawn_stream(stream, buffer)
    }

    /// A builder for a job with options: a name, shown by the watchdog and
    /// by tokio-console, and a [workload class](crate::WorkloadClass).
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::Executor;
    /// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
    /// let sorted = executor.job().name("cpu:sort").spawn_cpu(|_| {
    ///     let mut rows = vec![3, 1, 2];
    ///     rows.sort_unstable();
    ///     rows
    /// });
    /// assert_eq!(futures::executor::block_on(sorted), Ok(vec![1, 2, 3]));
    /// # executor.shutdown();
    /// ```
    fn job(&self) -> JobBuilder<'_, Self> {
        JobBuilder::new(self)
    }

    /// A new [job group](JobGroup) in the default class: submit a query's
    /// jobs to one with [`JobBuilder::group`], and it shares the class's
    /// CPU with the other groups by the CPU time each has used, so short
    /// queries are not stuck behind long ones.
    ///
    /// Cheap (one allocation); the group ends when its last clone, its
    /// last job and its jobs' last [attributed](crate::JobScope) task are
    /// gone. A group made after a shutdown began is harmless:
    /// its jobs are rejected like any.
    ///
    /// # Examples
    ///
    /// ```
    /// use executor_api::Executor;
    /// # let executor = executor_tokio::DedicatedExecutor::builder().build().unwrap();
    /// let query = executor.group();
    /// let rows = executor.job().group(&query).spawn(async { 3 });
    /// assert_eq!(futures::executor::block_on(rows), Ok(3));
    /// assert_eq!(query.class(), executor_api::DEFAULT_CLASS);
    /// # executor.shutdown();
    /// ```
    fn group(&self) -> JobGroup {
        self.core().group(ClassIndex::DEFAULT)
    }

    /// A new [job group](JobGroup) in the [class](crate::WorkloadClass)
    /// named `class`: its jobs run in that class, and share the class's
    /// CPU with its other groups (see [`group`](Self::group)).
    ///
    /// # Errors
    ///
    /// [`JobError::UnknownClass`] if the executor has no such class.
    fn group_in(&self, class: &str) -> Result<JobGroup, JobError> {
        let index = self
            .core()
            .class_named(class)
            .ok_or_else(|| JobError::UnknownClass {
                class: class.to_owned(),
            })?;
        Ok(self.core().group(index))
    }

    /// Graceful shutdown: new submissions are rejected; every job already
    /// submitted, queued or running, runs to completion (with the tasks it
    /// spawned); then the worker threads exit.
    ///
    /// Returns at once; await [`join`](Self::join) to wait for the end.
    /// Calling it again, from any clone or from inside a job, is harmless.
    fn shutdown(&self) {
        self.core().shutdown();
    }

    /// Immediate shutdown: new submissions are rejected, queued jobs never
    /// start, running futures are dropped at their next `.await`, running
    /// closures see their [`CancelToken`] cancelled; all of them resolve to
    /// [`JobError::Cancelled`](crate::JobError::Cancelled).
    ///
    /// Returns at once; await [`join`](Self::join) to wait for the end. It
    /// also cuts short a graceful shutdown already in progress.
    fn shutdown_now(&self) {
        self.core().shutdown_now();
    }

    /// Graceful shutdown for at most `timeout`, then immediate for whatever
    /// is left. If several deadlines are requested, the earliest wins.
    ///
    /// Returns at once; await [`join`](Self::join) to wait for the end.
    fn shutdown_timeout(&self, timeout: Duration) {
        self.core().shutdown_timeout(timeout);
    }

    /// Resolves once a shutdown has completed: every job has ended and every
    /// thread of the executor has exited. It does not request a shutdown.
    ///
    /// Idempotent: any clone may call it, any number of times, concurrently.
    /// It can be awaited from any runtime or blocked on from a plain thread.
    /// Awaiting it from inside one of the executor's own jobs never resolves
    /// (the job would wait for itself).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future has no effect on the executor.
    fn join(&self) -> Join {
        self.core().join()
    }

    /// A snapshot of the job counters, over every class.
    fn metrics(&self) -> Metrics {
        let mut metrics = self.core().metrics();
        metrics.spawned_tasks = self.spawned_tasks() as u64;
        metrics
    }

    /// A snapshot of each [workload class](crate::WorkloadClass)'s figures
    /// (jobs by outcome, worker time, queue waits and poll times), the
    /// default class first, then the others in the builder's order.
    fn class_metrics(&self) -> Vec<ClassMetrics> {
        self.core().class_metrics()
    }

    /// The executor's name (its threads are named after it).
    fn name(&self) -> &str {
        self.core().name()
    }

    /// How many threads poll its jobs: the builder's `worker_threads`
    /// (by default, one per available core). How many jobs run at once,
    /// and the natural number of partitions for a query on it.
    fn worker_threads(&self) -> usize {
        self.core().worker_threads()
    }

    /// Whether a shutdown has been requested.
    fn is_shutdown(&self) -> bool {
        self.core().is_shutdown()
    }
}

impl<E: ExecutorBackend> Executor for E {}

/// The dyn-compatible form of [`ExecutorBackend`], held by [`AnyExecutor`].
trait DynExecutor: Send + Sync + 'static {
    fn dyn_core(&self) -> &ExecutorCore;

    fn dyn_spawned_tasks(&self) -> usize;

    /// The job is type-erased.
    #[track_caller]
    fn dyn_schedule(&self, job: BoxedJob);
}

impl<E: ExecutorBackend> DynExecutor for E {
    fn dyn_core(&self) -> &ExecutorCore {
        self.core()
    }

    fn dyn_spawned_tasks(&self) -> usize {
        self.spawned_tasks()
    }

    fn dyn_schedule(&self, job: BoxedJob) {
        self.schedule(job);
    }
}

/// An executor whose backend is chosen at run time (for example from a
/// configuration string). It implements [`Executor`], so code generic over
/// the trait accepts it.
///
/// Each job costs one extra allocation (the type-erased job) compared with
/// using the backend's type directly.
///
/// # Examples
///
/// ```
/// use executor_api::{AnyExecutor, Executor};
///
/// fn build(backend: &str) -> AnyExecutor {
///     match backend {
///         "tokio" => AnyExecutor::new(executor_tokio::DedicatedExecutor::builder().build().unwrap()),
///         other => panic!("unknown backend {other}"),
///     }
/// }
///
/// let executor = build("tokio");
/// let value = futures::executor::block_on(executor.spawn_cpu(|_| 2 + 2)).unwrap();
/// assert_eq!(value, 4);
/// ```
#[derive(Clone)]
pub struct AnyExecutor {
    inner: Arc<dyn DynExecutor>,
}

impl AnyExecutor {
    /// Erases the type of `executor`.
    pub fn new<E: Executor>(executor: E) -> Self {
        AnyExecutor {
            inner: Arc::new(executor),
        }
    }
}

impl ExecutorBackend for AnyExecutor {
    fn core(&self) -> &ExecutorCore {
        self.inner.dyn_core()
    }

    fn spawned_tasks(&self) -> usize {
        self.inner.dyn_spawned_tasks()
    }

    fn schedule<J: RunnableJob>(&self, job: J) {
        self.inner.dyn_schedule(BoxedJob::new(job));
    }
}

impl fmt::Debug for AnyExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyExecutor")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}
