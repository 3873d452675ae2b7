//! Where the service runs its CPU work: a dedicated executor, or the I/O
//! runtime itself.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use executor_api::backend::Launch;
use executor_api::{
    AnyExecutor, BuildError, Builder, DEFAULT_CLASS, Executor, JobBuilder, JobError, Metrics,
    Priority, WorkloadClass,
};
use executor_rayon::RayonExecutor;
use executor_tokio::DedicatedExecutor;
use tokio::sync::watch;
use workload::{Kernel, Table};

/// The seed of every query's table: the same query always gives the same
/// checksum.
pub const TABLE_SEED: u64 = 42;

/// Which executor runs the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CpuBackend {
    /// A dedicated Tokio runtime (`executor-tokio`).
    Tokio,
    /// A dedicated Rayon pool (`executor-rayon`).
    Rayon,
    /// The I/O runtime itself: the problem this project solves.
    Shared,
}

impl CpuBackend {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CpuBackend::Tokio => "tokio",
            CpuBackend::Rayon => "rayon",
            CpuBackend::Shared => "shared",
        }
    }
}

impl fmt::Display for CpuBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the service shares its CPU between queries and background
/// compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Schedule {
    /// One executor with two workload classes: `query` (weight 8) and
    /// `background` (weight 1). Queries get most of the CPU when both are
    /// busy; compaction gets all of it when no query runs.
    Classes,
    /// One executor, one FIFO: compaction jobs queue with queries.
    Fifo,
    /// The 2022 recipe: a second executor, at niceness 19, for compaction.
    TwoExecutors,
    /// The classes of [`Schedule::Classes`], and each query (and each
    /// compaction) a [`JobGroup`](executor_api::JobGroup) of its own:
    /// inside the query class, the query that has used the least CPU runs
    /// next, so short queries are not stuck behind long ones. The default:
    /// measured with `--load --mixed`, short queries' p99 beside 16
    /// clients of long ones was about twice their p99 alone, against ten
    /// to fourteen times under `classes` and `fifo`.
    #[default]
    TimeSharing,
}

impl Schedule {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Classes => "classes",
            Schedule::Fifo => "fifo",
            Schedule::TwoExecutors => "two-executors",
            Schedule::TimeSharing => "time-sharing",
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The class queries go to under [`Schedule::Classes`].
pub const QUERY_CLASS: &str = "query";
/// The class compaction goes to under [`Schedule::Classes`].
pub const BACKGROUND_CLASS: &str = "background";

/// The rows one compaction job merges.
pub const COMPACTION_ROWS: usize = 400_000;

/// A dedicated executor for queries, and where compaction runs beside
/// them.
#[derive(Debug, Clone)]
pub struct Pools {
    /// Runs the queries.
    pub queries: AnyExecutor,
    /// Runs compaction: the same executor, unless the schedule is
    /// [`Schedule::TwoExecutors`].
    pub background: AnyExecutor,
    /// The queries' class and compaction's.
    classes: (&'static str, &'static str),
    /// Whether `background` is an executor of its own.
    separate: bool,
    /// Whether each query and compaction is a job group of its own.
    grouped: bool,
}

impl Pools {
    /// The class queries go to, if the executor has workload classes.
    pub fn query_class(&self) -> Option<&'static str> {
        (self.classes.0 != DEFAULT_CLASS).then_some(self.classes.0)
    }

    /// Where a job of `executor` in `class` goes: a new group of that
    /// class when the schedule groups jobs.
    fn job<'a>(&self, executor: &'a AnyExecutor, class: &str) -> JobBuilder<'a, AnyExecutor> {
        let job = executor.job().class(class);
        match self.grouped.then(|| executor.group_in(class)) {
            Some(Ok(group)) => job.group(&group),
            // No group: the job goes to the class alone (an unknown class
            // refuses it there).
            _ => job,
        }
    }

    /// Every distinct executor.
    pub fn executors(&self) -> Vec<&AnyExecutor> {
        if self.separate {
            vec![&self.queries, &self.background]
        } else {
            vec![&self.queries]
        }
    }
}

/// One query's result.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// The kernel's digest of the whole table.
    pub checksum: u64,
    /// Time from submission to the first chunk.
    pub queued: Duration,
    /// Time from the first chunk to the last.
    pub ran: Duration,
}

/// Runs queries: on a dedicated executor, or on the I/O runtime itself.
#[derive(Debug, Clone)]
pub enum Cpu {
    /// Dedicated executors.
    Dedicated(Pools),
    /// Tasks on the I/O runtime that serves the requests.
    Shared {
        /// The I/O runtime.
        handle: tokio::runtime::Handle,
        /// Set once to end every query task at its next yield.
        cancel: Arc<watch::Sender<bool>>,
    },
}

impl Cpu {
    /// Builds the CPU side for `backend`, from inside the I/O runtime
    /// (which becomes the executor's I/O runtime), sharing it between
    /// queries and compaction as `schedule` says.
    ///
    /// # Errors
    ///
    /// The executor's [`BuildError`].
    pub fn build(
        backend: CpuBackend,
        workers: usize,
        priority: Priority,
        schedule: Schedule,
    ) -> Result<Cpu, BuildError> {
        fn dedicated<E: Launch>(
            builder: impl Fn() -> Builder<E>,
            backend: CpuBackend,
            workers: usize,
            priority: Priority,
            schedule: Schedule,
        ) -> Result<Cpu, BuildError> {
            let name = format!("cpu-{}", backend.name());
            let builder = || builder().worker_threads(workers);
            let pools = match schedule {
                Schedule::Classes | Schedule::TimeSharing => {
                    let executor = AnyExecutor::new(
                        builder()
                            .name(name)
                            .priority(priority)
                            .class(WorkloadClass::new(QUERY_CLASS).weight(8))
                            .class(WorkloadClass::new(BACKGROUND_CLASS).weight(1))
                            .build()?,
                    );
                    Pools {
                        queries: executor.clone(),
                        background: executor,
                        classes: (QUERY_CLASS, BACKGROUND_CLASS),
                        separate: false,
                        grouped: schedule == Schedule::TimeSharing,
                    }
                }
                Schedule::Fifo => {
                    let executor =
                        AnyExecutor::new(builder().name(name).priority(priority).build()?);
                    Pools {
                        queries: executor.clone(),
                        background: executor,
                        classes: (DEFAULT_CLASS, DEFAULT_CLASS),
                        separate: false,
                        grouped: false,
                    }
                }
                Schedule::TwoExecutors => Pools {
                    queries: AnyExecutor::new(builder().name(&name).priority(priority).build()?),
                    background: AnyExecutor::new(
                        builder()
                            .name(format!("{name}-bg"))
                            .priority(Priority::Nice(19))
                            .build()?,
                    ),
                    classes: (DEFAULT_CLASS, DEFAULT_CLASS),
                    separate: true,
                    grouped: false,
                },
            };
            Ok(Cpu::Dedicated(pools))
        }
        Ok(match backend {
            CpuBackend::Tokio => dedicated(
                DedicatedExecutor::builder,
                backend,
                workers,
                priority,
                schedule,
            )?,
            CpuBackend::Rayon => {
                dedicated(RayonExecutor::builder, backend, workers, priority, schedule)?
            }
            CpuBackend::Shared => Cpu::Shared {
                handle: tokio::runtime::Handle::current(),
                cancel: Arc::new(watch::channel(false).0),
            },
        })
    }

    /// Jobs of the queries' class cancelled so far (under the `fifo`
    /// schedule, compaction's too: it shares the class); 0 on the shared
    /// runtime.
    pub fn cancelled_queries(&self) -> u64 {
        match self {
            Cpu::Dedicated(pools) => pools
                .queries
                .class_metrics()
                .into_iter()
                .filter(|class| class.name == pools.classes.0)
                .map(|class| class.cancelled)
                .sum(),
            Cpu::Shared { .. } => 0,
        }
    }

    /// The executors' counters, summed (`None` on the shared runtime).
    pub fn metrics(&self) -> Option<Metrics> {
        match self {
            Cpu::Dedicated(pools) => Some(pools.executors().iter().fold(
                Metrics::default(),
                |mut sum, executor| {
                    let metrics = executor.metrics();
                    sum.submitted += metrics.submitted;
                    sum.completed += metrics.completed;
                    sum.cancelled += metrics.cancelled;
                    sum.panicked += metrics.panicked;
                    sum.rejected += metrics.rejected;
                    sum
                },
            )),
            Cpu::Shared { .. } => None,
        }
    }

    /// One compaction: merges (sorts) a table of [`COMPACTION_ROWS`] rows,
    /// yielding between chunks, as background work (its class, or its
    /// executor). Dropping the future cancels it.
    ///
    /// # Errors
    ///
    /// The job's [`JobError`].
    pub async fn compact(&self, round: u64) -> Result<(), JobError> {
        let kernel = Kernel::Sort;
        let table = Table::new(round, COMPACTION_ROWS, kernel.default_chunk_rows());
        let job = async move {
            let _ = kernel.run_yielding(table, 0..table.chunks()).await;
        };
        match self {
            Cpu::Dedicated(pools) => {
                pools
                    .job(&pools.background, pools.classes.1)
                    .name("compaction")
                    .spawn(job)
                    .await
            }
            Cpu::Shared { handle, .. } => {
                let task =
                    spawn_named(handle, "compaction", job).map_err(|_| JobError::ShutDown)?;
                AbortOnDrop(task).await
            }
        }
    }

    /// Runs `kernel` over a table of `rows` rows, one job that yields after
    /// every chunk, named `cpu:<kernel>`. Dropping the future cancels it.
    ///
    /// # Errors
    ///
    /// The job's [`JobError`]: `ShutDown` or `Cancelled` while the service
    /// shuts down, `Panicked` on a bug.
    pub async fn run(&self, kernel: Kernel, rows: usize) -> Result<Run, JobError> {
        let table = Table::new(TABLE_SEED, rows, kernel.default_chunk_rows());
        let submitted = Instant::now();
        let job = async move {
            let started = Instant::now();
            let checksum = kernel.run_yielding(table, 0..table.chunks()).await;
            (checksum, started, Instant::now())
        };
        let name = format!("cpu:{kernel}");
        let (checksum, started, finished) = match self {
            Cpu::Dedicated(pools) => {
                pools
                    .job(&pools.queries, pools.classes.0)
                    .name(name)
                    .spawn(job)
                    .await?
            }
            Cpu::Shared { handle, cancel } => {
                let mut cancelled = cancel.subscribe();
                let job = async move {
                    tokio::select! {
                        biased;
                        _ = cancelled.wait_for(|cancelled| *cancelled) => None,
                        done = job => Some(done),
                    }
                };
                let task = spawn_named(handle, &name, job).map_err(|_| JobError::ShutDown)?;
                AbortOnDrop(task).await?.ok_or(JobError::Cancelled)?
            }
        };
        Ok(Run {
            checksum,
            queued: started.saturating_duration_since(submitted),
            ran: finished.saturating_duration_since(started),
        })
    }

    /// Ends every query still running on the shared runtime, at its next
    /// yield (a dedicated executor's deadline does this for its jobs).
    pub fn cancel_shared(&self) {
        if let Cpu::Shared { cancel, .. } = self {
            cancel.send_replace(true);
        }
    }

    /// Graceful shutdown for at most `deadline`, then immediate; waits for
    /// the executor's threads. Nothing to do on the shared runtime.
    pub async fn shut_down(&self, deadline: Duration) {
        if let Cpu::Dedicated(pools) = self {
            for executor in pools.executors() {
                executor.shutdown_timeout(deadline);
            }
            for executor in pools.executors() {
                executor.join().await;
            }
        }
    }
}

/// Spawns `future` on `handle`, named `name` where Tokio supports task
/// names (built with `--cfg tokio_unstable`, as this workspace is).
///
/// # Errors
///
/// Tokio's error when the runtime cannot take the task.
pub fn spawn_named<F>(
    handle: &tokio::runtime::Handle,
    name: &str,
    future: F,
) -> std::io::Result<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(tokio_unstable)]
    {
        tokio::task::Builder::new()
            .name(name)
            .spawn_on(future, handle)
    }
    #[cfg(not(tokio_unstable))]
    {
        let _ = name;
        Ok(handle.spawn(future))
    }
}

/// A task that is aborted when its handle is dropped (a client that hangs
/// up cancels its query), with panics turned into [`JobError`]s.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.map_err(|err| match err.try_into_panic() {
                Ok(payload) => JobError::from_panic(payload),
                Err(_) => JobError::Cancelled,
            })
        })
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
