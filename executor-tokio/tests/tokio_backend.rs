//! Behaviour specific to the Tokio backend: its threads, and timers and I/O
//! inside jobs.

use std::time::Duration;

use executor_api::Executor;
use executor_tokio::DedicatedExecutor;
use testkit::support::{block_on_within, names_of_busy_workers, shutdown_and_join, threads_named};

/// By default one worker per available core, plus the driver thread that
/// owns the runtime and the watchdog.
#[test]
fn default_threads_are_one_worker_per_core_a_driver_and_a_watchdog() {
    let executor = DedicatedExecutor::builder().name("defw").build().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(names_of_busy_workers(&executor, cores).len(), cores);
    let mut threads = threads_named("defw-");
    threads.sort();
    assert_eq!(
        threads.len(),
        cores + 2,
        "workers, the driver and the watchdog: {threads:?}"
    );
    assert!(threads.contains(&"defw-driver".to_owned()), "{threads:?}");
    assert!(threads.contains(&"defw-watch".to_owned()), "{threads:?}");
    shutdown_and_join(&executor);
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
    shutdown_and_join(&executor);
}
