//! What the benchmarks compare: our executors and the baselines users would
//! otherwise reach for, each able to run a trivial job and be awaited.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc as std_mpsc;
use std::thread;

use executor_api::backend::Launch;
use executor_api::{Builder, Executor};
use executor_rayon::RayonExecutor;
use executor_tokio::DedicatedExecutor;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// The trivial job every subject runs: enough work that it is not optimised
/// away, little enough that the subject's own cost dominates.
pub fn work(i: u64) -> u64 {
    std::hint::black_box(i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
}

/// A boxed future, as the 2022 mpsc design sends them.
type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A submitted job as the caller holds it: each subject's own handle type,
/// unboxed, so that neither time nor memory figures include a box of ours.
pub enum Held {
    /// An executor's `JobHandle`.
    Job(executor_api::JobHandle<u64>),
    /// A Tokio `JoinHandle`.
    Task(tokio::task::JoinHandle<u64>),
    /// The receiving end of a oneshot channel.
    Oneshot(oneshot::Receiver<u64>),
    /// A value computed inline.
    Value(u64),
}

impl Held {
    /// Waits for the job's value.
    ///
    /// # Panics
    ///
    /// If the job failed: the benchmarks' jobs never do.
    pub async fn value(self) -> u64 {
        match self {
            Held::Job(handle) => handle.await.expect("job"),
            Held::Task(handle) => handle.await.expect("task"),
            Held::Oneshot(rx) => rx.await.expect("result"),
            Held::Value(value) => value,
        }
    }
}

/// The subjects of the overhead and memory benchmarks, by their report
/// names.
pub const NAMES: [&str; 14] = [
    "executor_tokio",
    "executor_rayon",
    "executor_tokio_5000_classes",
    "executor_rayon_5000_classes",
    "executor_tokio_unwatched",
    "executor_rayon_unwatched",
    "executor_tokio_without_spans",
    "executor_rayon_without_spans",
    "direct_call",
    "tokio_spawn_same_runtime",
    "tokio_handle_spawn",
    "mpsc_dispatch",
    "rayon_spawn_oneshot",
    "tokio_spawn_blocking",
];

/// How many classes the `_5000_classes` subjects have besides the default.
const MANY_CLASSES: usize = 5_000;

/// The class the `_5000_classes` subjects submit to.
const LAST_CLASS: &str = "c4999";

/// One subject, set up with `threads` worker threads at normal priority.
pub enum Subject {
    /// `DedicatedExecutor::spawn` of a future, to the default class or,
    /// found by name at each submission, to the class given.
    ExecutorTokio(DedicatedExecutor, Option<&'static str>),
    /// `RayonExecutor::spawn_cpu` of a closure, to the default class or the
    /// class given.
    ExecutorRayon(RayonExecutor, Option<&'static str>),
    /// Calling the job inline.
    DirectCall,
    /// `tokio::spawn` from a task of the same runtime.
    TokioSpawnSameRuntime(Runtime),
    /// `Handle::spawn` onto a second, raw runtime.
    TokioHandleSpawn(Runtime),
    /// A std mpsc channel to a driver thread that spawns each boxed future.
    MpscDispatch(std_mpsc::Sender<BoxFuture>, Runtime),
    /// `ThreadPool::spawn` plus a oneshot channel (the tokio-rayon design).
    RayonSpawnOneshot(rayon::ThreadPool),
    /// `spawn_blocking` on a runtime.
    TokioSpawnBlocking(Runtime),
}

fn runtime(threads: usize, blocking: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(blocking)
        .enable_all()
        .build()
        .expect("build a runtime")
}

impl Subject {
    /// Builds the subject called `name` with `threads` threads.
    ///
    /// # Panics
    ///
    /// For an unknown name, or if the OS refuses threads.
    pub fn new(name: &str, threads: usize) -> Subject {
        // The `_unwatched` subjects turn the hang watchdog off, the
        // `_without_spans` ones the job spans: side by side, they show what
        // each costs.
        fn ours<E: Launch>(
            builder: Builder<E>,
            thread_name: &str,
            threads: usize,
            name: &str,
        ) -> E {
            let mut builder = builder
                .name(thread_name)
                .worker_threads(threads)
                .normal_priority();
            if name.ends_with("_unwatched") {
                builder = builder.without_watchdog();
            }
            if name.ends_with("_without_spans") {
                builder = builder.without_job_spans();
            }
            if name.ends_with("_5000_classes") {
                for class in 0..MANY_CLASSES {
                    builder = builder.class(executor_api::WorkloadClass::new(format!("c{class}")));
                }
            }
            builder.build().expect("build the executor")
        }
        // The `_5000_classes` subjects submit to the last of their classes,
        // by name: what a job costs when the executor has thousands.
        let class = name.ends_with("_5000_classes").then_some(LAST_CLASS);
        match name {
            "executor_tokio"
            | "executor_tokio_unwatched"
            | "executor_tokio_without_spans"
            | "executor_tokio_5000_classes" => Subject::ExecutorTokio(
                ours(DedicatedExecutor::builder(), "bench-tokio", threads, name),
                class,
            ),
            "executor_rayon"
            | "executor_rayon_unwatched"
            | "executor_rayon_without_spans"
            | "executor_rayon_5000_classes" => Subject::ExecutorRayon(
                ours(RayonExecutor::builder(), "bench-rayon", threads, name),
                class,
            ),
            "direct_call" => Subject::DirectCall,
            "tokio_spawn_same_runtime" => Subject::TokioSpawnSameRuntime(runtime(threads, 512)),
            "tokio_handle_spawn" => Subject::TokioHandleSpawn(runtime(threads, 512)),
            "mpsc_dispatch" => {
                let runtime = runtime(threads, 512);
                let handle = runtime.handle().clone();
                let (tx, rx) = std_mpsc::channel::<BoxFuture>();
                thread::Builder::new()
                    .name("bench-dispatch".into())
                    .spawn(move || {
                        while let Ok(task) = rx.recv() {
                            handle.spawn(task);
                        }
                    })
                    .expect("spawn the dispatch thread");
                Subject::MpscDispatch(tx, runtime)
            }
            "rayon_spawn_oneshot" => Subject::RayonSpawnOneshot(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("build a Rayon pool"),
            ),
            // Tokio's default: up to 512 blocking threads, what users get.
            "tokio_spawn_blocking" => Subject::TokioSpawnBlocking(runtime(1, 512)),
            other => panic!("unknown subject {other:?}"),
        }
    }

    /// Submits job `i`, returning what the caller awaits.
    pub fn submit(&self, i: u64) -> Held {
        match self {
            Subject::ExecutorTokio(executor, None) => {
                Held::Job(executor.spawn(async move { work(i) }))
            }
            Subject::ExecutorTokio(executor, Some(class)) => {
                Held::Job(executor.job().class(class).spawn(async move { work(i) }))
            }
            Subject::ExecutorRayon(executor, None) => {
                Held::Job(executor.spawn_cpu(move |_| work(i)))
            }
            Subject::ExecutorRayon(executor, Some(class)) => {
                Held::Job(executor.job().class(class).spawn_cpu(move |_| work(i)))
            }
            Subject::DirectCall => Held::Value(work(i)),
            Subject::TokioSpawnSameRuntime(_) => Held::Task(tokio::spawn(async move { work(i) })),
            Subject::TokioHandleSpawn(runtime) => Held::Task(runtime.spawn(async move { work(i) })),
            Subject::MpscDispatch(tx, _) => {
                let (result_tx, result_rx) = oneshot::channel();
                tx.send(Box::pin(async move {
                    let _ = result_tx.send(work(i));
                }))
                .expect("the dispatch thread is running");
                Held::Oneshot(result_rx)
            }
            Subject::RayonSpawnOneshot(pool) => {
                let (result_tx, result_rx) = oneshot::channel();
                pool.spawn(move || {
                    let _ = result_tx.send(work(i));
                });
                Held::Oneshot(result_rx)
            }
            Subject::TokioSpawnBlocking(runtime) => {
                Held::Task(runtime.spawn_blocking(move || work(i)))
            }
        }
    }

    /// Builds the subject called `name` for the memory benchmark: as
    /// [`new`](Self::new), but `spawn_blocking` is bounded to `threads`
    /// threads, so that its jobs queue instead of each starting a thread
    /// (whose stack the allocator would not see).
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    pub fn new_queueing(name: &str, threads: usize) -> Subject {
        match name {
            "tokio_spawn_blocking" => Subject::TokioSpawnBlocking(runtime(1, threads)),
            other => Subject::new(other, threads),
        }
    }

    /// Occupies every worker of the subject until `release` disconnects,
    /// so that jobs submitted meanwhile stay queued.
    pub fn block_workers(&self, threads: usize, release: &crossbeam_channel::Receiver<()>) {
        for _ in 0..threads {
            let release = release.clone();
            let wait = move || {
                let _ = release.recv();
            };
            match self {
                Subject::ExecutorTokio(executor, _) => executor.spawn_cpu(move |_| wait()).detach(),
                Subject::ExecutorRayon(executor, _) => executor.spawn_cpu(move |_| wait()).detach(),
                Subject::DirectCall => {}
                Subject::TokioSpawnSameRuntime(runtime)
                | Subject::TokioHandleSpawn(runtime)
                | Subject::MpscDispatch(_, runtime) => {
                    drop(runtime.spawn(async move { wait() }));
                }
                Subject::RayonSpawnOneshot(pool) => pool.spawn(wait),
                Subject::TokioSpawnBlocking(runtime) => drop(runtime.spawn_blocking(wait)),
            }
        }
    }

    /// Makes the calling thread a caller of this subject until the guard
    /// drops: inside the runtime for `tokio_spawn_same_runtime` (whose
    /// `tokio::spawn` needs one), nothing otherwise.
    pub fn enter_runtime(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        match self {
            Subject::TokioSpawnSameRuntime(runtime) => Some(runtime.enter()),
            _ => None,
        }
    }

    /// Runs `future` where this subject's caller runs: inside the runtime
    /// for `tokio_spawn_same_runtime`, on the calling thread otherwise.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Subject::TokioSpawnSameRuntime(runtime) => runtime.block_on(future),
            _ => futures::executor::block_on(future),
        }
    }

    /// Shuts the subject down and waits for its threads where it can.
    pub fn finish(self) {
        match self {
            Subject::ExecutorTokio(executor, _) => {
                executor.shutdown();
                futures::executor::block_on(executor.join());
            }
            Subject::ExecutorRayon(executor, _) => {
                executor.shutdown();
                futures::executor::block_on(executor.join());
            }
            Subject::MpscDispatch(tx, runtime) => {
                drop(tx);
                drop(runtime);
            }
            Subject::TokioSpawnSameRuntime(runtime)
            | Subject::TokioHandleSpawn(runtime)
            | Subject::TokioSpawnBlocking(runtime) => drop(runtime),
            Subject::RayonSpawnOneshot(pool) => drop(pool),
            Subject::DirectCall => {}
        }
    }
}
