//! Behaviour specific to the Rayon backend: its threads, Rayon parallelism
//! on the job's own pool, timers and I/O in futures polled on the pool.

use std::time::Duration;

use executor_api::Executor;
use executor_rayon::RayonExecutor;
use rayon::prelude::*;
use testkit::support::{block_on_within, names_of_busy_workers, shutdown_and_join, threads_named};

/// By default one pool thread per available core, plus the driver, the
/// reactor and the watchdog.
#[test]
fn default_threads_are_one_per_core_a_driver_a_reactor_and_a_watchdog() {
    let executor = RayonExecutor::builder().name("defr").build().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(names_of_busy_workers(&executor, cores).len(), cores);
    let mut threads = threads_named("defr-");
    threads.sort();
    assert_eq!(
        threads.len(),
        cores + 3,
        "pool, driver, reactor and watchdog: {threads:?}"
    );
    assert!(threads.contains(&"defr-watch".to_owned()), "{threads:?}");
    assert!(threads.contains(&"defr-driver".to_owned()), "{threads:?}");
    assert!(threads.contains(&"defr-reactor".to_owned()), "{threads:?}");
    shutdown_and_join(&executor);
}

/// `par_iter` inside a closure job, and inside a future job, runs on the
/// executor's own pool, not Rayon's global one.
#[test]
fn rayon_parallelism_inside_jobs_uses_the_same_pool() {
    let executor = RayonExecutor::builder()
        .name("par")
        .worker_threads(2)
        .build()
        .unwrap();
    let on_pool = |_: &u32| {
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        name.starts_with("par-") && rayon::current_num_threads() == 2
    };
    let closure = executor.spawn_cpu(move |_| (0..1_000u32).into_par_iter().all(|i| on_pool(&i)));
    assert_eq!(block_on_within("par_iter in a closure", closure), Ok(true));
    let future = executor.spawn(async move { (0..1_000u32).into_par_iter().all(|i| on_pool(&i)) });
    assert_eq!(block_on_within("par_iter in a future", future), Ok(true));
    shutdown_and_join(&executor);
}

/// Futures on the pool can await Tokio timers and use Tokio sockets; they
/// resume on the pool.
#[test]
fn futures_can_use_timers_and_io() {
    let executor = RayonExecutor::builder()
        .name("rio")
        .worker_threads(1)
        .build()
        .unwrap();
    let handle = executor.spawn(async {
        let timer =
            tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
        let resumed_on_pool = std::thread::current().name() == Some("rio-0");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let (client, server) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        (
            timer.is_err(),
            resumed_on_pool,
            client.is_ok() && server.is_ok(),
        )
    });
    assert_eq!(
        block_on_within("a job using timers and sockets", handle),
        Ok((true, true, true))
    );
    shutdown_and_join(&executor);
}

/// `RayonExecutor::current` finds the executor on its pool threads only.
#[test]
fn current_is_the_executor_of_the_calling_pool_thread() {
    assert!(RayonExecutor::current().is_none());
    let executor = RayonExecutor::builder()
        .name("cur")
        .worker_threads(1)
        .build()
        .unwrap();
    let name =
        executor.spawn_cpu(|_| RayonExecutor::current().map(|current| current.name().to_owned()));
    assert_eq!(
        block_on_within("current() on the pool", name),
        Ok(Some("cur".to_owned()))
    );
    shutdown_and_join(&executor);
}
