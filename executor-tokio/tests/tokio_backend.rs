//! Behaviour specific to the Tokio backend: thread names, priority, timers
//! and I/O inside jobs.

use std::time::Duration;

use executor_api::Executor;
use executor_api::backend::{DEFAULT_NICE, current_thread_nice};
use executor_tokio::DedicatedExecutor;
use testkit::support::{Gate, block_on_within, recv, threads_named};

/// Runs `probe` on a worker of `executor` and returns its value.
fn on_worker<T: Send + 'static>(executor: &DedicatedExecutor, probe: fn() -> T) -> T {
    block_on_within("a probe job", executor.spawn_cpu(move |_| probe())).expect("the probe ran")
}

/// Holds `count` jobs on distinct workers at once and returns their thread
/// names: with fewer workers than `count`, the jobs could not all arrive.
fn names_of_busy_workers(executor: &DedicatedExecutor, count: usize) -> Vec<String> {
    let gate = Gate::new();
    let (arrived_tx, arrived_rx) = crossbeam_channel::unbounded();
    let jobs: Vec<_> = (0..count)
        .map(|_| {
            let (gate, arrived_tx) = (gate.clone(), arrived_tx.clone());
            executor.spawn_cpu(move |_| {
                arrived_tx
                    .send(std::thread::current().name().unwrap().to_owned())
                    .unwrap();
                gate.wait();
            })
        })
        .collect();
    let mut names: Vec<String> = (0..count)
        .map(|_| recv("a job on each worker", &arrived_rx))
        .collect();
    gate.open();
    block_on_within("the busy jobs", futures::future::join_all(jobs));
    names.sort();
    names.dedup();
    names
}

fn finish(executor: DedicatedExecutor) {
    executor.shutdown();
    block_on_within("join", executor.join());
}

/// Workers are named `<name>-<n>` and the driver `<name>-driver`.
#[test]
fn threads_are_named_after_the_executor() {
    let executor = DedicatedExecutor::builder()
        .name("named")
        .worker_threads(2)
        .build()
        .unwrap();
    let workers = names_of_busy_workers(&executor, 2);
    assert_eq!(workers.len(), 2, "two distinct workers: {workers:?}");
    for worker in &workers {
        let suffix = worker
            .strip_prefix("named-")
            .expect("worker named after the executor");
        assert!(
            suffix.parse::<usize>().is_ok(),
            "worker name {worker:?} ends in a number"
        );
    }
    let mut threads = threads_named("named-");
    threads.sort();
    assert!(
        threads.contains(&"named-driver".to_owned()),
        "threads: {threads:?}"
    );
    assert_eq!(threads.len(), 3, "two workers and the driver: {threads:?}");
    finish(executor);
}

/// By default one worker per available core.
#[test]
fn default_worker_count_is_available_parallelism() {
    let executor = DedicatedExecutor::builder().name("defw").build().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(names_of_busy_workers(&executor, cores).len(), cores);
    let threads = threads_named("defw-");
    assert_eq!(
        threads.len(),
        cores + 1,
        "one worker per core and the driver: {threads:?}"
    );
    finish(executor);
}

/// Workers run at the configured niceness, lowered by default; the caller's
/// thread is untouched.
#[test]
fn workers_run_at_lowered_priority() {
    let base = current_thread_nice().expect("Linux reports a niceness");
    let default = DedicatedExecutor::builder()
        .name("nicedef")
        .worker_threads(1)
        .build()
        .unwrap();
    assert_eq!(
        on_worker(&default, current_thread_nice),
        Some(base.max(DEFAULT_NICE))
    );
    finish(default);

    let lowest = DedicatedExecutor::builder()
        .name("nice19")
        .worker_threads(1)
        .nice(19)
        .build()
        .unwrap();
    assert_eq!(on_worker(&lowest, current_thread_nice), Some(19));
    finish(lowest);

    let normal = DedicatedExecutor::builder()
        .name("nice0")
        .worker_threads(1)
        .normal_priority()
        .build()
        .unwrap();
    assert_eq!(on_worker(&normal, current_thread_nice), Some(base));
    finish(normal);

    assert_eq!(
        current_thread_nice(),
        Some(base),
        "the caller's priority is unchanged"
    );
}

/// Jobs can use Tokio timers and I/O: the runtime has both enabled.
#[test]
fn jobs_can_use_timers_and_io() {
    let executor = DedicatedExecutor::builder()
        .name("tio")
        .worker_threads(1)
        .build()
        .unwrap();
    let handle = executor.spawn(async {
        let timer =
            tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        (
            timer.is_err(),
            listener.local_addr().unwrap().ip().is_loopback(),
        )
    });
    assert_eq!(
        block_on_within("a job using a timer and a socket", handle),
        Ok((true, true))
    );
    finish(executor);
}
