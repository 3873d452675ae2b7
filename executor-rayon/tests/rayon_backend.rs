//! Behaviour specific to the Rayon backend: its threads, Rayon parallelism
//! on the job's own pool, timers and I/O in futures polled on the pool.

use std::time::Duration;

use executor_api::Executor;
use executor_rayon::RayonExecutor;
use rayon::prelude::*;
use testkit::support::{block_on_within, names_of_busy_workers, shutdown_and_join, threads_named};

/// By default one pool thread per available core, as many reactor workers
/// (for the tasks jobs spawn), plus the gate, the driver, the reactor's
/// owner and the watchdog.
#[test]
fn default_threads_are_one_per_core_a_gate_a_driver_a_reactor_and_a_watchdog() {
    let executor = RayonExecutor::builder().name("defr").build().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(names_of_busy_workers(&executor, cores).len(), cores);
    let mut threads = threads_named("defr-");
    threads.sort();
    assert_eq!(
        threads.len(),
        2 * cores + 4,
        "pool, reactor workers, gate, driver, reactor and watchdog: {threads:?}"
    );
    assert_eq!(
        threads
            .iter()
            .filter(|name| name.starts_with("defr-rt-"))
            .count(),
        cores,
        "{threads:?}"
    );
    assert!(threads.contains(&"defr-gate".to_owned()), "{threads:?}");
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

// ----- jobs never nest: a thread waiting in Rayon runs no job -----

thread_local! {
    /// Set on a pool thread while the outer job of a nesting test is inside
    /// its Rayon wait.
    static OUTER_WAITING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A job that holds a lock across `rayon::scope` never has another job
/// started on its stack while it waits: the inner job, which takes the
/// same lock, runs after the outer one returns. (Started nested, on the
/// same thread, the inner job would deadlock on the lock the outer job
/// holds; with one worker, any job handed to Rayon would be popped by the
/// wait first.)
#[test]
fn a_lock_held_across_a_scope_never_deadlocks_on_another_job() {
    assert_no_job_nests_in_a_scope("nest", |scope| scope());
}

/// Runs, on a one-worker executor named `name`, a job that holds a lock
/// and, through `around` (which calls its argument once), waits in a
/// `rayon::scope` inside which it submits an inner job taking the same
/// lock; asserts the inner job ran after the outer one, not nested in its
/// wait.
fn assert_no_job_nests_in_a_scope(name: &str, around: fn(&mut dyn FnMut())) {
    let executor = RayonExecutor::builder()
        .name(name)
        .worker_threads(1)
        .build()
        .unwrap();
    let lock = std::sync::Arc::new(std::sync::Mutex::new(0u32));
    let (inner_tx, inner_rx) = crossbeam_channel::bounded(1);
    let outer_lock = lock.clone();
    let outer = executor.spawn_cpu(move |_| {
        let mut guard = outer_lock.lock().unwrap();
        around(&mut || {
            rayon::scope(|scope| {
                scope.spawn(|_| {});
                // Submitted from the pool thread inside the scope: had it
                // been Rayon work, the scope's wait would pop it first.
                let inner_lock = outer_lock.clone();
                let inner = RayonExecutor::current()
                    .expect("on the pool")
                    .spawn_cpu(move |_| {
                        let nested = OUTER_WAITING.with(std::cell::Cell::get);
                        *inner_lock.lock().unwrap() += 1;
                        nested
                    });
                inner_tx.send(inner).unwrap();
                OUTER_WAITING.with(|flag| flag.set(true));
                // Rayon work the wait runs while the inner job is queued.
                rayon::yield_now();
            });
        });
        OUTER_WAITING.with(|flag| flag.set(false));
        *guard += 10;
        *guard
    });
    assert_eq!(block_on_within("the outer job", outer), Ok(10));
    let inner = testkit::support::recv("the inner job's handle", &inner_rx);
    assert_eq!(
        block_on_within("the inner job", inner),
        Ok(false),
        "the inner job started inside the outer job's wait"
    );
    assert_eq!(*lock.lock().unwrap(), 11);
    shutdown_and_join(&executor);
}

/// A pool thread that waits in `rayon::join` for a half another thread
/// stole does not start a job submitted meanwhile; the job waits for a
/// pump that is free.
#[test]
fn a_thread_waiting_in_join_never_starts_another_job() {
    let executor = RayonExecutor::builder()
        .name("njoin")
        .worker_threads(2)
        .build()
        .unwrap();
    let gate = testkit::support::Gate::new();
    let (stolen_tx, stolen_rx) = crossbeam_channel::bounded(1);
    let (inner_tx, inner_rx) = crossbeam_channel::bounded(1);
    let stolen_gate = gate.clone();
    let outer = executor.spawn_cpu(move |_| {
        OUTER_WAITING.with(|flag| flag.set(true));
        rayon::join(
            || {
                // Wait until the other thread has stolen the second half,
                // then submit a job while this thread is about to wait in
                // the join (which would pop it next, were it Rayon work).
                testkit::support::recv("the second half to be stolen", &stolen_rx);
                let inner = RayonExecutor::current()
                    .expect("on the pool")
                    .spawn_cpu(|_| OUTER_WAITING.with(std::cell::Cell::get));
                inner_tx.send(inner).unwrap();
            },
            move || {
                stolen_tx.send(()).unwrap();
                stolen_gate.wait();
            },
        );
        OUTER_WAITING.with(|flag| flag.set(false));
    });
    let inner = testkit::support::recv("the inner job's handle", &inner_rx);
    gate.open();
    assert_eq!(block_on_within("the outer job", outer), Ok(()));
    assert_eq!(
        block_on_within("the inner job", inner),
        Ok(false),
        "the inner job started inside the outer job's wait"
    );
    shutdown_and_join(&executor);
}

/// Awaiting `join` never blocks the polling thread, even while Rayon work
/// that a job handed to `rayon::spawn` still runs on the pool; that work
/// can still use the executor's timers; `join` resolves once it is done.
#[test]
fn join_never_blocks_on_rayon_work_left_on_the_pool() {
    let executor = RayonExecutor::builder()
        .name("left")
        .worker_threads(2)
        .build()
        .unwrap();
    let gate = testkit::support::Gate::new();
    let (timer_tx, timer_rx) = crossbeam_channel::bounded(1);
    let work_gate = gate.clone();
    let job = executor.spawn_cpu(move |_| {
        rayon::spawn(move || {
            work_gate.wait();
            let timer = std::panic::catch_unwind(|| {
                futures::executor::block_on(tokio::time::sleep(Duration::from_millis(1)))
            });
            timer_tx.send(timer.is_ok()).unwrap();
        });
    });
    assert_eq!(block_on_within("the job", job), Ok(()));
    executor.shutdown();
    let mut join = executor.join();
    let (polled_tx, polled_rx) = crossbeam_channel::bounded(1);
    let poller = std::thread::spawn(move || {
        let first = futures::executor::block_on(futures::future::poll_immediate(&mut join));
        polled_tx.send(first.is_some()).unwrap();
        join
    });
    assert!(
        !testkit::support::recv("the first poll of join to return", &polled_rx),
        "join resolved while Rayon work was still running"
    );
    let join = poller.join().unwrap();
    gate.open();
    assert!(
        testkit::support::recv("the Rayon work's timer", &timer_rx),
        "the reactor stopped before the Rayon work left on the pool finished"
    );
    block_on_within("join", join);
    testkit::support::assert_no_threads_named("left-");
}

/// A job submitted from Rayon work that a job handed to `rayon::spawn`, on
/// the only pool thread, runs once that thread's pump is free, although no
/// other job ends meanwhile: the work's `yield_now`s run no job (jobs are
/// never Rayon work), and nothing needs a rescue.
#[test]
fn a_job_left_by_a_nested_thread_runs_when_the_thread_is_free() {
    let executor = RayonExecutor::builder()
        .name("orph")
        .worker_threads(1)
        .build()
        .unwrap();
    let (inner_tx, inner_rx) = crossbeam_channel::bounded(1);
    let outer = executor.spawn_cpu(move |_| {
        rayon::spawn(move || {
            // On the pool, but not a job: whatever each `yield_now` finds
            // runs nested here, and it must not be the inner job.
            let inner = RayonExecutor::current()
                .expect("on the pool")
                .spawn_cpu(|_| 5);
            inner_tx.send(inner).unwrap();
            rayon::yield_now();
            rayon::yield_now();
        });
    });
    assert_eq!(block_on_within("the outer job", outer), Ok(()));
    let inner = testkit::support::recv("the inner job's handle", &inner_rx);
    assert_eq!(block_on_within("the inner job", inner), Ok(5));
    shutdown_and_join(&executor);
}

/// A job that switches stacks (as the `stacker` and `recursive` crates do,
/// and DataFusion through them) and waits inside `rayon::scope` on the new
/// stack still never has another job started on top of it: nesting is ruled
/// out by how jobs reach the threads, not by where the stack is.
#[test]
fn a_job_on_a_switched_stack_never_has_another_job_nested() {
    // A fresh stack segment of its own, wherever the allocator puts it.
    assert_no_job_nests_in_a_scope("stack", |scope| stacker::grow(1 << 20, scope));
}
