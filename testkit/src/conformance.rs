//! The conformance suite: one function per behaviour of the
//! [`Executor`] contract, generic over a [`Backend`].
//!
//! Each function builds its own executor, orders events with channels and
//! gates (never sleeps), bounds every wait with [`timeout()`], and would fail
//! if the behaviour it names broke. Run them all with
//! [`conformance_tests!`](crate::conformance_tests).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use executor_api::backend::Launch;
use executor_api::{
    AnyExecutor, BuildError, Builder, CancelToken, Executor, JobError, JobHandle, Join, Metrics,
    NON_STRING_PANIC, Priority, WorkloadClass,
};
use futures::future::poll_immediate;
use workload::{GroupBy, Table};

use crate::support::{
    DropCounter, Gate, assert_no_threads_named, block_on_within, names_of_busy_workers, recv,
    shutdown_and_join, threads_named, timeout, tokio_block_on_within, wait_until,
};
use executor_api::backend::{DEFAULT_NICE, current_thread_is_idle_scheduled, current_thread_nice};

/// A boxed future, as handed to [`Backend::spawn_subtask`].
pub type BoxTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The settings a test builds an executor with, through the builder every
/// backend shares.
#[derive(Debug, Clone)]
pub struct Config {
    /// The executor's name; threads are named `<name>-<n>`.
    pub name: String,
    /// Worker threads.
    pub workers: usize,
    /// The workers' priority.
    pub priority: Priority,
    /// The I/O runtime to register; `None` leaves the builder's default
    /// (the runtime it is called from, if any).
    pub io_runtime: Option<tokio::runtime::Handle>,
    /// The watchdog threshold; `None` turns the watchdog off.
    pub watchdog: Option<Duration>,
    /// Whether jobs run inside spans (the builder's default: yes).
    pub job_spans: bool,
    /// Workload classes, in the builder's order.
    pub classes: Vec<WorkloadClass>,
    /// The time slice; `None` leaves the builder's default.
    pub time_slice: Option<Duration>,
}

impl Config {
    /// `name` with `workers` workers at normal priority, the default
    /// watchdog and the default I/O runtime.
    pub fn new(name: &str, workers: usize) -> Self {
        Config {
            name: name.to_owned(),
            workers,
            priority: Priority::Normal,
            io_runtime: None,
            watchdog: Some(executor_api::backend::DEFAULT_WATCHDOG_THRESHOLD),
            job_spans: true,
            classes: Vec::new(),
            time_slice: None,
        }
    }

    /// Applies these settings to `builder`.
    pub fn apply<E: Launch>(self, builder: Builder<E>) -> Builder<E> {
        let mut builder = builder
            .name(self.name)
            .worker_threads(self.workers)
            .priority(self.priority);
        if let Some(handle) = self.io_runtime {
            builder = builder.io_runtime(handle);
        }
        if !self.job_spans {
            builder = builder.without_job_spans();
        }
        for class in self.classes {
            builder = builder.class(class);
        }
        if let Some(slice) = self.time_slice {
            builder = builder.time_slice(slice);
        }
        match self.watchdog {
            Some(threshold) => builder.watchdog(threshold),
            None => builder.without_watchdog(),
        }
    }
}

/// What the suite needs to know about a backend.
pub trait Backend: 'static {
    /// The backend's executor type.
    type Executor: Executor + Launch;

    /// Whether [`spawn_subtask`](Self::spawn_subtask) submits a job (counted
    /// in the metrics) rather than a native task.
    const SUBTASKS_ARE_JOBS: bool;

    /// Builds an executor from `config` through the shared builder.
    ///
    /// # Errors
    ///
    /// The builder's [`BuildError`].
    fn build(config: Config) -> Result<Self::Executor, BuildError> {
        config.apply(Builder::<Self::Executor>::new()).build()
    }

    /// Called from inside a job: spawns `task` as a detached sub-task on the
    /// same executor, the way the backend documents for sub-tasks. If the
    /// executor is shutting down, the task may be dropped unpolled.
    fn spawn_subtask(task: BoxTask);

    /// Called from inside a job: hands `work` to the backend's own threads
    /// directly, not as a job (`rayon::spawn` on the Rayon backend,
    /// `tokio::spawn` on the Tokio backend). Whatever the shutdown, it must
    /// have run or been dropped by the time `join` resolves.
    fn spawn_native_work(work: Box<dyn FnOnce() + Send>);
}

pub(crate) fn build<B: Backend>(name: &str, workers: usize) -> B::Executor {
    B::build(Config::new(name, workers)).expect("build the executor under test")
}

/// Polls `handle` once without waiting.
pub(crate) fn poll_now<T>(handle: &mut JobHandle<T>) -> Option<Result<T, JobError>> {
    futures::executor::block_on(poll_immediate(handle))
}

/// Spins (yielding the CPU) until `cancel` is set.
///
/// # Panics
///
/// If the cancel is not seen within [`timeout()`].
fn spin_until_cancelled(cancel: &CancelToken<'_>) {
    let deadline = Instant::now() + timeout();
    while !cancel.is_cancelled() {
        assert!(
            Instant::now() < deadline,
            "the cancel never reached the closure"
        );
        thread::yield_now();
    }
}

/// Starts a closure job that blocks until the returned gate opens, then
/// returns `value`, and waits until it is running: with as many of these
/// as workers, every worker is busy and later jobs queue.
pub(crate) fn start_blocked<E: Executor, T: Send + 'static>(
    executor: &E,
    value: T,
) -> (JobHandle<T>, Gate) {
    let gate = Gate::new();
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let job_gate = gate.clone();
    let handle = executor.spawn_cpu(move |_| {
        started_tx.send(()).unwrap();
        job_gate.wait();
        value
    });
    recv("a blocking job to start", &started_rx);
    (handle, gate)
}

/// Whether `join` stays pending for `window`, waiting on it with a timer.
/// Only used to show that something does not happen early; it cannot fail a
/// correct implementation.
fn join_still_pending(join: &mut Join, window: Duration) -> bool {
    tokio_block_on_within("a bounded observation of join", async {
        tokio::time::timeout(window, &mut *join).await.is_err()
    })
}

// ----- basics -----

/// A future's value reaches its handle, awaited outside any runtime.
pub fn future_returns_value<B: Backend>() {
    let executor = build::<B>("fut", 2);
    let handle = executor.spawn(async { 40 + 2 });
    assert_eq!(block_on_within("a future job", handle), Ok(42));
    shutdown_and_join(&executor);
}

/// A closure's value reaches its handle, awaited from a Tokio runtime, and
/// it runs on a thread named after the executor.
pub fn closure_returns_value<B: Backend>() {
    let executor = build::<B>("clo", 2);
    let handle = executor.spawn_cpu(|_| thread::current().name().map(str::to_owned));
    let name = tokio_block_on_within("a closure job", handle).expect("the closure ran");
    let name = name.expect("executor threads are named");
    assert!(name.starts_with("clo-"), "ran on thread {name:?}");
    shutdown_and_join(&executor);
}

/// A real kernel split into chunk jobs gives the serial checksum.
pub fn workload_checksum_matches_serial<B: Backend>() {
    let executor = build::<B>("wrk", 2);
    let table = Table::new(11, 200_000, 10_000);
    let expected = GroupBy::run_serial(&table).checksum();
    let got = tokio_block_on_within("the group-by", {
        let executor = executor.clone();
        async move { GroupBy::run_on(&executor, &table).await }
    })
    .expect("every chunk job succeeded");
    assert_eq!(got.checksum(), expected);
    assert_eq!(
        shutdown_and_join(&executor).completed,
        table.chunks() as u64
    );
}

/// Clones drive one executor: jobs, metrics and shutdown are shared.
pub fn clones_share_one_executor<B: Backend>() {
    let first = build::<B>("cln", 1);
    let second = first.clone();
    assert_eq!(
        block_on_within("a job on a clone", second.spawn(async { 1 })),
        Ok(1)
    );
    assert_eq!(
        first.metrics().completed,
        1,
        "the clone's job counts for the original"
    );
    second.shutdown();
    assert!(
        first.is_shutdown(),
        "shutdown through a clone reaches the original"
    );
    assert_eq!(
        block_on_within("a rejected job", first.spawn(async { 2 })),
        Err(JobError::ShutDown)
    );
    block_on_within("join from the original", first.join());
}

/// Many jobs of both kinds in flight at once each get their own value.
pub fn many_concurrent_jobs<B: Backend>() {
    let executor = build::<B>("many", 2);
    let handles: Vec<JobHandle<usize>> = (0..2_000)
        .map(|i| {
            if i % 2 == 0 {
                executor.spawn(async move { i })
            } else {
                executor.spawn_cpu(move |_| i)
            }
        })
        .collect();
    let values = block_on_within("2000 jobs", futures::future::join_all(handles));
    for (i, value) in values.into_iter().enumerate() {
        assert_eq!(value, Ok(i));
    }
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.submitted, metrics.completed), (2_000, 2_000));
}

/// A job can spawn sub-tasks on the executor and await their results.
pub fn job_spawns_subtasks<B: Backend>() {
    let executor = build::<B>("sub", 2);
    let handle = executor.spawn(async {
        let receivers: Vec<_> = (1..=4u32)
            .map(|i| {
                let (tx, rx) = futures::channel::oneshot::channel();
                B::spawn_subtask(Box::pin(async move {
                    let on_executor = thread::current()
                        .name()
                        .is_some_and(|name| name.starts_with("sub-"));
                    let _ = tx.send((i, on_executor));
                }));
                rx
            })
            .collect();
        let mut sum = 0;
        for rx in receivers {
            let (i, on_executor) = rx.await.expect("the sub-task ran");
            assert!(on_executor, "a sub-task ran off the executor");
            sum += i;
        }
        sum
    });
    assert_eq!(block_on_within("a job with sub-tasks", handle), Ok(10));
    shutdown_and_join(&executor);
}

/// A graceful shutdown waits for sub-tasks that jobs spawned and left
/// running.
pub fn graceful_shutdown_waits_for_subtasks<B: Backend>() {
    let executor = build::<B>("subw", 2);
    let gate = Gate::new();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let subtask_gate = gate.clone();
    let handle = executor.spawn(async move {
        B::spawn_subtask(Box::pin(async move {
            subtask_gate.opened().await;
            let _ = done_tx.send(());
        }));
    });
    assert_eq!(block_on_within("the spawning job", handle), Ok(()));
    executor.shutdown();
    let mut join = executor.join();
    assert!(
        join_still_pending(&mut join, Duration::from_millis(200)),
        "join resolved while a sub-task was still waiting"
    );
    gate.open();
    block_on_within("join after the sub-task", join);
    assert!(
        done_rx.try_recv().is_ok(),
        "the sub-task was dropped instead of drained"
    );
}

/// Tasks that jobs hand to Tokio (`tokio::spawn`, as DataFusion's
/// operators do) follow the shutdown on every backend: a graceful one waits
/// for them to finish, an immediate one drops them; either way `join`
/// resolves only once they have finished or been dropped.
pub fn tokio_tasks_spawned_by_jobs_follow_the_shutdown<B: Backend>() {
    // Graceful: the task runs to its end, and `join` waits for it.
    let executor = build::<B>("tkgrace", 1);
    let gate = Gate::new();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let task_gate = gate.clone();
    let job = executor.spawn(async move {
        drop(tokio::spawn(async move {
            task_gate.opened().await;
            let _ = done_tx.send(());
        }));
    });
    assert_eq!(block_on_within("the spawning job", job), Ok(()));
    executor.shutdown();
    let mut join = executor.join();
    assert!(
        join_still_pending(&mut join, Duration::from_millis(200)),
        "a graceful shutdown did not wait for a task a job spawned"
    );
    gate.open();
    block_on_within("join after the task", join);
    assert!(
        done_rx.try_recv().is_ok(),
        "the task was dropped instead of drained"
    );

    // Immediate: the task is dropped, and `join` does not wait for it.
    let executor = build::<B>("tknow", 1);
    let drops = DropCounter::new();
    let probe = drops.probe();
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let job = executor.spawn(async move {
        drop(tokio::spawn(async move {
            let _probe = probe;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        }));
    });
    assert_eq!(block_on_within("the spawning job", job), Ok(()));
    recv("the task to start", &started_rx);
    executor.shutdown_now();
    block_on_within("join after an immediate shutdown", executor.join());
    assert_eq!(drops.drops(), 1, "the task outlived the executor");
}

/// Tasks that jobs hand to Tokio count as the executor's work: in
/// `spawned_tasks` and `in_flight` while they live, so that an executor
/// whose jobs have all ended but whose spawned tasks still run is not idle;
/// zero once they end.
pub fn tasks_spawned_by_jobs_count_in_flight_until_they_end<B: Backend>() {
    let executor = build::<B>("tkcount", 1);
    let gate = Gate::new();
    let task_gate = gate.clone();
    let job = executor.spawn(async move {
        drop(tokio::spawn(async move {
            task_gate.opened().await;
        }));
    });
    assert_eq!(block_on_within("the spawning job", job), Ok(()));
    let metrics = executor.metrics();
    assert_eq!(
        (metrics.queued, metrics.running, metrics.spawned_tasks),
        (0, 0, 1),
        "the job ended; its task lives"
    );
    assert_eq!(metrics.in_flight(), 1, "the live task is not idle");
    gate.open();
    wait_until("the task to end", || executor.metrics().in_flight() == 0);
    assert_eq!(executor.metrics().spawned_tasks, 0);
    shutdown_and_join(&executor);
}

/// A job that yields in a loop does not starve the others: with one
/// worker, a closure submitted after it still runs (the yielding job goes
/// to the back of the line).
pub fn yielding_job_does_not_starve_others<B: Backend>() {
    let executor = build::<B>("fair", 1);
    let done = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let spinner = executor.spawn({
        let done = done.clone();
        async move {
            started_tx.send(()).unwrap();
            let deadline = Instant::now() + timeout();
            while !done.load(Ordering::SeqCst) {
                assert!(Instant::now() < deadline, "the other job never ran");
                workload::yield_now().await;
            }
        }
    });
    recv("the yielding job to start", &started_rx);
    let other = executor.spawn_cpu(move |_| done.store(true, Ordering::SeqCst));
    assert_eq!(
        block_on_within("the job behind the yielding one", other),
        Ok(())
    );
    assert_eq!(block_on_within("the yielding job", spinner), Ok(()));
    shutdown_and_join(&executor);
}

/// An immediate shutdown cuts short a graceful one that is waiting for a
/// sub-task that never finishes.
pub fn shutdown_now_cuts_short_a_graceful_drain<B: Backend>() {
    let executor = build::<B>("cut", 2);
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let spawner = executor.spawn(async move {
        B::spawn_subtask(Box::pin(async move {
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        }));
    });
    assert_eq!(block_on_within("the spawning job", spawner), Ok(()));
    recv("the sub-task to start", &started_rx);
    executor.shutdown();
    let mut join = executor.join();
    assert!(
        join_still_pending(&mut join, Duration::from_millis(100)),
        "a graceful join ended while a sub-task was pending"
    );
    executor.shutdown_now();
    block_on_within("join after shutdown_now", join);
}

// ----- panics -----

fn assert_panics_with<B: Backend>(
    name: &str,
    job: impl FnOnce(&B::Executor) -> JobHandle<u32>,
    message: &str,
) {
    let workers = 2;
    let executor = build::<B>(name, workers);
    // One panic per worker: if a panic killed a worker, the jobs below
    // could not all run.
    let mut panics: Vec<JobHandle<u32>> = Vec::new();
    panics.push(job(&executor));
    for _ in 1..workers {
        panics.push(executor.spawn_cpu(|_| -> u32 { panic!("another panic") }));
    }
    let first = block_on_within("a panicking job", panics.remove(0));
    assert_eq!(
        first,
        Err(JobError::Panicked {
            message: message.to_owned()
        })
    );
    for handle in panics {
        assert!(
            block_on_within("a panicking job", handle)
                .unwrap_err()
                .is_panic()
        );
    }
    let after: Vec<_> = (0..8u32).map(|i| executor.spawn_cpu(move |_| i)).collect();
    let after = block_on_within("jobs after the panics", futures::future::join_all(after));
    assert_eq!(
        after,
        (0..8).map(Ok).collect::<Vec<_>>(),
        "the executor survived"
    );
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.panicked, metrics.completed), (workers as u64, 8));
}

/// A `&str` panic payload becomes the error message; the executor survives.
pub fn panic_with_str_payload<B: Backend>() {
    assert_panics_with::<B>(
        "pstr",
        |e| e.spawn_cpu(|_| panic!("static message")),
        "static message",
    );
}

/// A `String` panic payload becomes the error message, from a future.
pub fn panic_with_string_payload<B: Backend>() {
    assert_panics_with::<B>(
        "pstg",
        |e| {
            e.spawn(async {
                let row = 7;
                panic!("bad row {row}")
            })
        },
        "bad row 7",
    );
}

/// Any other payload gets a fixed message.
pub fn panic_with_other_payload<B: Backend>() {
    assert_panics_with::<B>(
        "poth",
        |e| e.spawn_cpu(|_| std::panic::panic_any(42_u64)),
        NON_STRING_PANIC,
    );
}

// ----- cancellation -----

/// Dropping the handle of a running future drops the future (and what it
/// captured) at its next await.
pub fn dropping_handle_drops_running_future<B: Backend>() {
    let executor = build::<B>("cfut", 2);
    let drops = DropCounter::new();
    let probe = drops.probe();
    let never = Gate::new();
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let handle = executor.spawn(async move {
        let _probe = probe;
        started_tx.send(()).unwrap();
        never.opened().await;
        unreachable!("the gate never opens")
    });
    recv("the future to start", &started_rx);
    assert_eq!(drops.drops(), 0);
    drop(handle);
    drops.wait_for_drop("the cancelled future's captures");
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.cancelled, metrics.completed), (1, 0));
}

/// Dropping the handle of a queued closure means it never runs; it is
/// still dropped.
pub fn dropping_handle_of_queued_closure_skips_it<B: Backend>() {
    let executor = build::<B>("cque", 1);
    let (blocker, gate) = start_blocked(&executor, ());
    let ran = Arc::new(AtomicBool::new(false));
    let drops = DropCounter::new();
    let probe = drops.probe();
    let queued = executor.spawn_cpu({
        let ran = ran.clone();
        move |_| {
            let _probe = probe;
            ran.store(true, Ordering::SeqCst);
        }
    });
    assert_eq!(executor.metrics().queued, 1);
    drop(queued);
    gate.open();
    assert_eq!(block_on_within("the blocker", blocker), Ok(()));
    let metrics = shutdown_and_join(&executor);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a cancelled queued closure ran"
    );
    assert_eq!(drops.drops(), 1, "the skipped closure was not dropped");
    assert_eq!((metrics.cancelled, metrics.completed), (1, 1));
}

/// A detached job runs to completion without its handle.
pub fn detached_job_runs_to_completion<B: Backend>() {
    let executor = build::<B>("det", 1);
    let gate = Gate::new();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let job_gate = gate.clone();
    executor
        .spawn(async move {
            job_gate.opened().await;
            done_tx.send(42).unwrap();
        })
        .detach();
    gate.open();
    assert_eq!(recv("the detached job", &done_rx), 42);
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.completed, metrics.cancelled), (1, 0));
}

/// A running closure sees the cancel through its token when its handle is
/// dropped, and the job counts as cancelled.
pub fn dropping_handle_cancels_running_closure<B: Backend>() {
    let executor = build::<B>("ccoop", 1);
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let (saw_tx, saw_rx) = crossbeam_channel::bounded(1);
    let handle = executor.spawn_cpu(move |cancel| {
        started_tx.send(()).unwrap();
        spin_until_cancelled(cancel);
        saw_tx.send(()).unwrap();
        7
    });
    recv("the closure to start", &started_rx);
    drop(handle);
    recv("the closure to see the cancel", &saw_rx);
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.cancelled, metrics.completed), (1, 0));
}

/// `cancel` keeps the handle: it resolves to `Cancelled`.
pub fn cancel_resolves_handle_to_cancelled<B: Backend>() {
    let executor = build::<B>("ccan", 1);
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let handle = executor.spawn_cpu(move |cancel| {
        started_tx.send(()).unwrap();
        spin_until_cancelled(cancel);
        7
    });
    recv("the closure to start", &started_rx);
    handle.cancel();
    handle.cancel();
    assert_eq!(
        block_on_within("a cancelled closure", handle),
        Err(JobError::Cancelled)
    );
    shutdown_and_join(&executor);
}

/// Cancelling a job that already finished keeps its value.
pub fn cancel_after_completion_keeps_value<B: Backend>() {
    let executor = build::<B>("cdone", 1);
    let handle = executor.spawn(async { 5 });
    let deadline = Instant::now() + timeout();
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "the job never finished");
        thread::yield_now();
    }
    handle.cancel();
    assert_eq!(block_on_within("a finished job", handle), Ok(5));
    shutdown_and_join(&executor);
}

// ----- shutdown -----

/// A graceful shutdown lets running and queued jobs finish and rejects new
/// ones at once.
pub fn graceful_shutdown_finishes_running_and_queued_jobs<B: Backend>() {
    let executor = build::<B>("grace", 1);
    let (running, gate) = start_blocked(&executor, 1);
    let queued_closure = executor.spawn_cpu(|_| 2);
    let queued_future = executor.spawn(async { 3 });
    executor.shutdown();
    let mut rejected = executor.spawn(async { 4 });
    assert!(rejected.is_finished(), "a rejected job resolves at once");
    assert_eq!(poll_now(&mut rejected), Some(Err(JobError::ShutDown)));
    gate.open();
    assert_eq!(block_on_within("the running job", running), Ok(1));
    assert_eq!(block_on_within("the queued closure", queued_closure), Ok(2));
    assert_eq!(block_on_within("the queued future", queued_future), Ok(3));
    block_on_within("join", executor.join());
    let metrics = executor.metrics();
    assert_eq!(
        (metrics.completed, metrics.rejected, metrics.cancelled),
        (3, 1, 0)
    );
}

/// An immediate shutdown cancels a pending future, a running cooperative
/// closure and a queued closure; all resolve to `Cancelled`.
pub fn immediate_shutdown_cancels_everything<B: Backend>() {
    let executor = build::<B>("now", 1);
    let drops = DropCounter::new();
    let probe = drops.probe();
    let never = Gate::new();
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let future_started = started_tx.clone();
    let pending = executor.spawn(async move {
        let _probe = probe;
        future_started.send("future").unwrap();
        never.opened().await;
    });
    assert_eq!(recv("the future to start", &started_rx), "future");
    let (saw_tx, saw_rx) = crossbeam_channel::bounded(1);
    let running = executor.spawn_cpu(move |cancel| {
        started_tx.send("closure").unwrap();
        spin_until_cancelled(cancel);
        saw_tx.send(()).unwrap();
    });
    assert_eq!(recv("the closure to start", &started_rx), "closure");
    let ran = Arc::new(AtomicBool::new(false));
    let queued = executor.spawn_cpu({
        let ran = ran.clone();
        move |_| ran.store(true, Ordering::SeqCst)
    });
    executor.shutdown_now();
    assert_eq!(
        block_on_within("the pending future", pending),
        Err(JobError::Cancelled)
    );
    assert_eq!(
        block_on_within("the running closure", running),
        Err(JobError::Cancelled)
    );
    assert_eq!(
        block_on_within("the queued closure", queued),
        Err(JobError::Cancelled)
    );
    recv("the closure to see the cancel", &saw_rx);
    block_on_within("join", executor.join());
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued closure ran after shutdown_now"
    );
    assert_eq!(drops.drops(), 1, "the pending future was not dropped");
    let metrics = executor.metrics();
    assert_eq!((metrics.cancelled, metrics.completed), (3, 0));
}

/// A deadline shutdown lets jobs finish until the deadline, then cancels
/// the rest.
pub fn deadline_shutdown_drains_then_cancels<B: Backend>() {
    let executor = build::<B>("dead", 2);
    let gate = Gate::new();
    let never = Gate::new();
    let finishing_gate = gate.clone();
    let finishing = executor.spawn(async move {
        finishing_gate.opened().await;
        1
    });
    let stuck = executor.spawn(async move {
        never.opened().await;
        2
    });
    executor.shutdown_timeout(Duration::from_secs(1));
    gate.open();
    assert_eq!(block_on_within("the finishing job", finishing), Ok(1));
    assert_eq!(
        block_on_within("the stuck job", stuck),
        Err(JobError::Cancelled)
    );
    block_on_within("join", executor.join());
    let metrics = executor.metrics();
    assert_eq!((metrics.completed, metrics.cancelled), (1, 1));
}

/// After a shutdown, both kinds of submission resolve at once to
/// `ShutDown`, and the closure is dropped without running.
pub fn spawn_after_shutdown_is_rejected<B: Backend>() {
    let executor = build::<B>("rej", 1);
    executor.shutdown();
    let mut future = executor.spawn(async { 1 });
    let ran = Arc::new(AtomicBool::new(false));
    let drops = DropCounter::new();
    let probe = drops.probe();
    let mut closure = executor.spawn_cpu({
        let ran = ran.clone();
        move |_| {
            let _probe = probe;
            ran.store(true, Ordering::SeqCst);
        }
    });
    assert_eq!(poll_now(&mut future), Some(Err(JobError::ShutDown)));
    assert_eq!(poll_now(&mut closure), Some(Err(JobError::ShutDown)));
    assert_eq!(drops.drops(), 1, "the rejected closure is dropped at once");
    block_on_within("join", executor.join());
    assert!(!ran.load(Ordering::SeqCst));
    let metrics = executor.metrics();
    assert_eq!((metrics.submitted, metrics.rejected), (0, 2));
}

/// Shutting down twice, in any mix of kinds, is harmless, and so is
/// joining twice.
pub fn shutting_down_twice_is_harmless<B: Backend>() {
    let executor = build::<B>("twice", 1);
    assert_eq!(block_on_within("a job", executor.spawn(async { 1 })), Ok(1));
    executor.shutdown();
    executor.shutdown();
    executor.shutdown_timeout(Duration::from_millis(1));
    executor.shutdown_now();
    block_on_within("join", executor.join());
    executor.shutdown();
    executor.shutdown_now();
    block_on_within("join again", executor.join());
    assert_eq!(executor.metrics().completed, 1);
}

/// `join` can be awaited from several clones at once, before and after the
/// shutdown, and again afterwards.
pub fn join_is_idempotent_from_clones<B: Backend>() {
    let executor = build::<B>("join", 2);
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let clone = executor.clone();
            thread::spawn(move || block_on_within("a concurrent join", clone.join()))
        })
        .collect();
    assert_eq!(block_on_within("a job", executor.spawn_cpu(|_| 3)), Ok(3));
    executor.clone().shutdown();
    for joiner in joiners {
        joiner.join().expect("a joiner panicked");
    }
    block_on_within("join again", executor.join());
    tokio_block_on_within("join from Tokio", executor.clone().join());
}

/// Dropping the last clone, while a job runs, returns at once and shuts
/// down gracefully in the background: the job finishes, the threads exit.
pub fn dropping_last_clone_shuts_down_in_background<B: Backend>() {
    let executor = build::<B>("dropx", 1);
    let (running, gate) = start_blocked(&executor, 5);
    let join = executor.join();
    let (dropped_tx, dropped_rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        drop(executor);
        dropped_tx.send(()).unwrap();
    });
    // The job is still blocked on the gate: a drop that waited for it would
    // never return.
    recv("drop to return while a job runs", &dropped_rx);
    gate.open();
    assert_eq!(block_on_within("the running job", running), Ok(5));
    block_on_within("the background shutdown", join);
    assert_no_threads_named("dropx-");
}

/// Dropping the last clone inside an async task neither blocks nor panics
/// (no "Cannot drop a runtime in a context where blocking is not allowed").
pub fn dropping_inside_async_task_is_safe<B: Backend>() {
    let executor = build::<B>("dropa", 2);
    let join = executor.join();
    let (running, gate) = start_blocked(&executor, 6);
    let value = tokio_block_on_within("a task that drops the executor", async move {
        tokio::spawn(async move {
            let value = executor.spawn(async { 1 });
            drop(executor);
            value.await
        })
        .await
        .expect("dropping the executor inside a task panicked")
    });
    gate.open();
    assert_eq!(value, Ok(1));
    assert_eq!(block_on_within("the running job", running), Ok(6));
    block_on_within("the background shutdown", join);
}

/// `shutdown` and `shutdown_now` can be called from inside a job.
pub fn shutdown_from_inside_a_job<B: Backend>() {
    let executor = build::<B>("inner", 2);
    let clone = executor.clone();
    let graceful = executor.spawn_cpu(move |_| {
        clone.shutdown();
        clone.spawn(async {}).is_finished()
    });
    assert_eq!(block_on_within("a job that shuts down", graceful), Ok(true));
    block_on_within("join", executor.join());

    let executor = build::<B>("inner", 2);
    let clone = executor.clone();
    let immediate = executor.spawn_cpu(move |cancel| {
        clone.shutdown_now();
        assert!(
            cancel.is_cancelled(),
            "shutdown_now cancels the calling job"
        );
    });
    assert_eq!(
        block_on_within("a job that shuts down now", immediate),
        Err(JobError::Cancelled)
    );
    block_on_within("join", executor.join());
}

/// After `join`, no thread of the executor is left in the process.
pub fn no_threads_left_after_join<B: Backend>() {
    let executor = build::<B>("thrleft", 2);
    let handles: Vec<_> = (0..16).map(|i| executor.spawn_cpu(move |_| i)).collect();
    block_on_within("jobs", futures::future::join_all(handles));
    assert!(
        !threads_named("thrleft-").is_empty(),
        "the executor's threads are named after it"
    );
    shutdown_and_join(&executor);
    assert_no_threads_named("thrleft-");
}

// ----- threads -----

/// Workers are distinct threads named `<name>-<n>`.
pub fn workers_are_named_after_the_executor<B: Backend>() {
    let executor = build::<B>("named", 2);
    let workers = names_of_busy_workers(&executor, 2);
    assert_eq!(workers.len(), 2, "two distinct workers: {workers:?}");
    for worker in &workers {
        let index = worker
            .strip_prefix("named-")
            .expect("named after the executor");
        assert!(
            index.parse::<usize>().is_ok(),
            "{worker:?} ends in its index"
        );
    }
    shutdown_and_join(&executor);
}

/// Workers run at the configured niceness (never above the caller's);
/// the caller's own priority is untouched.
pub fn workers_run_at_the_configured_priority<B: Backend>() {
    let base = current_thread_nice().expect("Linux reports a niceness");
    for nice in [0, DEFAULT_NICE, 19] {
        let executor = B::build(Config {
            priority: Priority::Nice(nice),
            ..Config::new("nice", 1)
        })
        .expect("build");
        let seen = block_on_within(
            "a priority probe",
            executor.spawn_cpu(|_| current_thread_nice()),
        );
        assert_eq!(seen, Ok(Some(base.max(nice))), "niceness {nice}");
        shutdown_and_join(&executor);
    }
    assert_eq!(
        current_thread_nice(),
        Some(base),
        "the caller's priority is unchanged"
    );
}

/// Workers can run under `SCHED_IDLE`; the caller's thread is untouched.
pub fn workers_can_run_under_the_idle_policy<B: Backend>() {
    let executor = B::build(Config {
        priority: Priority::Idle,
        ..Config::new("idle", 1)
    })
    .expect("build");
    let idle = block_on_within(
        "a scheduling-policy probe",
        executor.spawn_cpu(|_| current_thread_is_idle_scheduled()),
    );
    assert_eq!(idle, Ok(true));
    assert!(!current_thread_is_idle_scheduled());
    shutdown_and_join(&executor);
}

/// Priority is one setting: whichever priority call comes last decides,
/// whatever came before (`.idle_priority().normal_priority()` once ran the
/// workers under `SCHED_IDLE`).
pub fn the_last_priority_setting_wins<B: Backend>() {
    let base = current_thread_nice().expect("Linux reports a niceness");
    let probe = |builder: Builder<B::Executor>| {
        let executor = builder
            .name("prio")
            .worker_threads(1)
            .build()
            .expect("build");
        let seen = block_on_within(
            "a priority probe",
            executor.spawn_cpu(|_| (current_thread_is_idle_scheduled(), current_thread_nice())),
        );
        shutdown_and_join(&executor);
        seen.expect("the probe ran")
    };
    let builder = Builder::<B::Executor>::new;
    assert_eq!(
        probe(builder().idle_priority().normal_priority()),
        (false, Some(base)),
        "idle, then normal"
    );
    assert_eq!(
        probe(builder().idle_priority().nice(19)),
        (false, Some(base.max(19))),
        "idle, then nice 19"
    );
    assert_eq!(
        probe(builder().nice(19).normal_priority()),
        (false, Some(base)),
        "nice 19, then normal"
    );
    assert!(
        probe(builder().normal_priority().priority(Priority::Idle)).0,
        "normal, then idle"
    );
}

/// Awaiting a handle never blocks the awaiting runtime: on a one-thread
/// runtime, another task still runs (and here, unblocks the job).
pub fn awaiting_never_blocks_the_caller_runtime<B: Backend>() {
    let executor = build::<B>("await", 1);
    let gate = Gate::new();
    let job_gate = gate.clone();
    let job = executor.spawn_cpu(move |_| {
        job_gate.wait();
        8
    });
    let value = tokio_block_on_within("a job awaited next to a task", async move {
        let opener = tokio::spawn(async move { gate.open() });
        let value = job.await;
        opener.await.expect("the opener ran");
        value
    });
    assert_eq!(value, Ok(8));
    shutdown_and_join(&executor);
}

// ----- metrics, types, configuration -----

/// The counters track queued, running and every ending.
pub fn metrics_count_every_job<B: Backend>() {
    let executor = build::<B>("met", 1);
    let (running, gate) = start_blocked(&executor, ());
    let queued = executor.spawn_cpu(|_| ());
    let metrics = executor.metrics();
    assert_eq!(
        (metrics.running, metrics.queued, metrics.submitted),
        (1, 1, 2)
    );
    gate.open();
    block_on_within("the running job", running).unwrap();
    block_on_within("the queued job", queued).unwrap();
    let panicked = executor.spawn_cpu(|_| panic!("counted"));
    block_on_within("a panicking job", panicked).unwrap_err();
    drop(executor.spawn(futures::future::pending::<()>()));
    assert_eq!(shutdown_and_join(&executor).rejected, 0);
    drop(executor.spawn(async {}));
    let metrics_after = executor.metrics();
    assert_eq!(metrics_after.submitted, 4);
    assert_eq!(metrics_after.completed, 2);
    assert_eq!(metrics_after.panicked, 1);
    assert_eq!(metrics_after.cancelled, 1);
    assert_eq!(metrics_after.rejected, 1);
    assert_eq!(metrics_after.in_flight(), 0);
}

/// The public types are `Send` and `Sync`.
pub fn public_types_are_send_and_sync<B: Backend>() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<B::Executor>();
    send_sync::<AnyExecutor>();
    send_sync::<JobHandle<Vec<u8>>>();
    send_sync::<Join>();
    send_sync::<JobError>();
    send_sync::<Metrics>();
    send_sync::<CancelToken<'static>>();
    send_sync::<BuildError>();
}

/// Bad configuration is a typed error, never a panic.
pub fn bad_configuration_is_a_typed_error<B: Backend>() {
    let bad = |config: Config| B::build(config).expect_err("a bad configuration was accepted");
    assert!(matches!(
        bad(Config::new("zero", 0)),
        BuildError::ZeroWorkers
    ));
    assert!(matches!(
        bad(Config::new("", 1)),
        BuildError::InvalidName { .. }
    ));
    assert!(matches!(
        bad(Config::new("nul\0", 1)),
        BuildError::InvalidName { .. }
    ));
    for nice in [-1, 20] {
        let config = Config {
            priority: Priority::Nice(nice),
            ..Config::new("nice", 1)
        };
        assert!(matches!(bad(config), BuildError::InvalidNice { nice: n } if n == nice));
    }
    let config = Config {
        watchdog: Some(Duration::ZERO),
        ..Config::new("watch", 1)
    };
    assert!(matches!(bad(config), BuildError::InvalidWatchdog));
}

/// The backend behind [`AnyExecutor`] keeps the whole contract.
pub fn any_executor_keeps_the_contract<B: Backend>() {
    let executor = AnyExecutor::new(build::<B>("any", 2));
    assert_eq!(
        block_on_within("a future", executor.spawn(async { 1 })),
        Ok(1)
    );
    assert_eq!(
        block_on_within("a closure", executor.spawn_cpu(|_| 2)),
        Ok(2)
    );
    let drops = DropCounter::new();
    let probe = drops.probe();
    drop(executor.spawn(async move {
        let _probe = probe;
        futures::future::pending::<()>().await;
    }));
    drops.wait_for_drop("the cancelled future's captures");
    let counted = Arc::new(AtomicUsize::new(0));
    let job_count = counted.clone();
    executor
        .clone()
        .spawn(async move { job_count.fetch_add(1, Ordering::SeqCst) })
        .detach();
    let metrics = shutdown_and_join(&executor);
    assert_eq!(counted.load(Ordering::SeqCst), 1);
    assert_eq!((metrics.completed, metrics.cancelled), (3, 1));
}

/// Expands to one `#[test]` per conformance behaviour for a [`Backend`]:
/// `testkit::conformance_tests!(MyBackend);` in a backend's integration
/// tests (see `executor-tokio/tests/conformance.rs`).
#[macro_export]
macro_rules! conformance_tests {
    ($backend:ty) => {
        $crate::conformance_tests!(@each $backend;
            future_returns_value,
            closure_returns_value,
            workload_checksum_matches_serial,
            clones_share_one_executor,
            many_concurrent_jobs,
            job_spawns_subtasks,
            graceful_shutdown_waits_for_subtasks,
            tokio_tasks_spawned_by_jobs_follow_the_shutdown,
            tasks_spawned_by_jobs_count_in_flight_until_they_end,
            yielding_job_does_not_starve_others,
            shutdown_now_cuts_short_a_graceful_drain,
            panic_with_str_payload,
            panic_with_string_payload,
            panic_with_other_payload,
            dropping_handle_drops_running_future,
            dropping_handle_of_queued_closure_skips_it,
            detached_job_runs_to_completion,
            dropping_handle_cancels_running_closure,
            cancel_resolves_handle_to_cancelled,
            cancel_after_completion_keeps_value,
            graceful_shutdown_finishes_running_and_queued_jobs,
            immediate_shutdown_cancels_everything,
            deadline_shutdown_drains_then_cancels,
            spawn_after_shutdown_is_rejected,
            shutting_down_twice_is_harmless,
            join_is_idempotent_from_clones,
            dropping_last_clone_shuts_down_in_background,
            dropping_inside_async_task_is_safe,
            shutdown_from_inside_a_job,
            no_threads_left_after_join,
            workers_are_named_after_the_executor,
            workers_run_at_the_configured_priority,
            workers_can_run_under_the_idle_policy,
            the_last_priority_setting_wins,
            awaiting_never_blocks_the_caller_runtime,
            metrics_count_every_job,
            public_types_are_send_and_sync,
            bad_configuration_is_a_typed_error,
            any_executor_keeps_the_contract,
        );
        $crate::conformance_tests!(@each $backend; classes;
            a_class_that_does_not_exist_is_a_typed_error,
            bad_class_configuration_is_a_typed_error,
            a_full_class_refuses_at_once_and_counts_it,
            a_job_that_waited_too_long_expires_unrun,
            a_class_alone_uses_the_whole_pool,
            a_heavier_class_runs_more_while_both_wait,
            a_capped_class_waits_and_others_go_first,
            graceful_shutdown_drains_a_throttled_class,
            immediate_shutdown_cancels_a_throttled_class,
            cancelling_a_throttled_job_takes_effect_at_once,
            a_throttled_job_starts_while_a_spawned_task_blocks_its_thread,
            waiting_for_a_budget_burns_no_cpu,
            a_chain_of_capped_jobs_never_stalls,
            yield_if_needed_lets_other_jobs_in,
            class_metrics_count_every_job_by_class,
        );
        $crate::conformance_tests!(@each $backend; groups;
            groups_share_a_class_whatever_their_number_of_jobs,
            a_new_group_overtakes_a_long_one,
            a_long_group_is_not_starved_by_new_ones,
            groups_live_inside_capped_and_bounded_classes,
            dropping_every_handle_ends_a_group,
            shutdown_of_each_kind_with_groups_queued,
            a_group_of_another_executor_or_class_is_a_typed_error,
            a_task_a_job_attributes_is_charged_as_the_job,
        );
        $crate::conformance_tests!(@each $backend; cross_runtime;
            io_runs_on_the_registered_runtime,
            io_runtime_defaults_to_the_building_runtime,
            io_without_a_runtime_is_a_typed_error,
            io_after_the_runtime_shut_down_is_a_typed_error,
            io_panic_is_an_error,
            cancelling_the_job_cancels_its_io,
            stream_items_arrive_in_order,
            stream_backpressure_is_bounded,
            dropping_the_stream_cancels_the_producer,
            producer_panic_ends_the_stream_with_an_error,
            io_stream_is_consumed_inside_a_job,
            watchdog_reports_a_job_that_does_not_yield,
            watchdog_ignores_waiting_jobs,
            watchdog_watches_every_worker,
            debug_output_names_io_and_streams,
            jobs_log_inside_the_submitters_span,
            job_spans_can_be_turned_off,
        );
        $crate::conformance_tests!(@each $backend; work_conservation;
            a_job_blocked_on_a_sub_job_lets_the_idle_worker_run_it,
            a_job_woken_by_a_running_job_resumes_on_an_idle_worker,
            sub_jobs_submitted_from_a_job_start_in_parallel,
            jobs_submitted_by_a_busy_worker_start_on_the_others,
        );
        $crate::conformance_tests!(@each $backend; hostile;
            panic_payload_whose_drop_panics,
            nested_panic_payload_whose_drop_panics,
            handle_waker_that_panics,
            joiner_waker_that_panics,
            output_whose_drop_panics_racing_the_handle_drop,
            cancelled_future_whose_drop_panics_racing_completion,
            detached_job_output_whose_drop_panics,
            a_subscriber_that_panics_does_not_stop_the_watchdog,
            native_work_that_panics_with_a_bomb_is_contained,
        );
    };
    (@each $backend:ty; $($name:ident),* $(,)?) => {
        $crate::conformance_tests!(@each $backend; conformance; $($name),*);
    };
    (@each $backend:ty; $module:ident; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::$module::$name::<$backend>();
            }
        )*
    };
}
