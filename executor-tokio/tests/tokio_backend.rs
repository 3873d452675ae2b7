//! Behaviour specific to the Tokio backend: its threads, timers and I/O
//! inside jobs, and how jobs reach the workers (the run queue).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use executor_api::Executor;
use executor_tokio::DedicatedExecutor;
use testkit::support::{
    block_on_within, names_of_busy_workers, recv, shutdown_and_join, threads_named, timeout,
};

/// By default one worker per available core (the pumps that poll jobs, and
/// as many runtime threads for the tasks that jobs spawn), plus the driver
/// thread that owns the runtime and the watchdog.
#[test]
fn default_threads_are_one_worker_per_core_a_driver_and_a_watchdog() {
    let executor = DedicatedExecutor::builder().name("defw").build().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(names_of_busy_workers(&executor, cores).len(), cores);
    let mut threads = threads_named("defw-");
    threads.sort();
    assert_eq!(
        threads.len(),
        2 * cores + 2,
        "pumps, runtime workers, the driver and the watchdog: {threads:?}"
    );
    let runtime_workers = threads.iter().filter(|name| name.starts_with("defw-rt-"));
    assert_eq!(runtime_workers.count(), cores, "{threads:?}");
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

/// A job that reschedules itself at every poll: the run queue is never
/// empty while it runs.
async fn spin_until(stop: Arc<AtomicBool>) {
    std::future::poll_fn(|cx| {
        if stop.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// While jobs never stop coming (one reschedules itself at every poll), the
/// executor still serves Tokio: a timer inside a job fires, and a task that
/// a job spawned runs (on the runtime's own threads, which never poll
/// jobs).
#[test]
fn timers_and_sub_tasks_run_while_jobs_never_stop_coming() {
    let executor = DedicatedExecutor::builder()
        .name("slice")
        .worker_threads(1)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = executor.spawn(spin_until(stop.clone()));
    let waiter = executor.spawn(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::spawn(async { 7 }).await.expect("the sub-task ran")
    });
    assert_eq!(
        block_on_within("a timer and a sub-task beside a spinning job", waiter),
        Ok(7)
    );
    stop.store(true, Ordering::Release);
    assert_eq!(block_on_within("the spinning job", spinner), Ok(()));
    shutdown_and_join(&executor);
}

/// Jobs submitted one at a time, each a little after the one before has
/// finished, so that every submission races the worker on its way to
/// sleep: no wake-up is lost (a lost one leaves the job queued with the
/// worker asleep, and the wait for it fails).
///
/// An idle worker yields for `SPIN_BEFORE_PARK` before it parks, so a
/// submission made at once never meets a parked worker (with the wake-up
/// taken out, the test still passed): each submission waits a different
/// time, from none to twice that spin, so that submissions land before,
/// during and after the worker's move from spinning to parking. The
/// submitter yields while it waits, so that on a busy machine the
/// low-priority worker gets the CPU.
#[test]
fn no_job_waits_while_a_worker_sleeps() {
    let executor = DedicatedExecutor::builder()
        .name("wake")
        .worker_threads(1)
        .build()
        .unwrap();
    let finished = Arc::new(AtomicU64::new(0));
    for i in 1..=20_000u64 {
        wait_a_little(i);
        let done = finished.clone();
        executor
            .spawn(async move { done.store(i, Ordering::Release) })
            .detach();
        let waiting = Instant::now();
        while finished.load(Ordering::Acquire) != i {
            std::thread::yield_now();
            if waiting.elapsed() > timeout() {
                panic!("job {i} never ran: its wake-up was lost");
            }
        }
    }
    shutdown_and_join(&executor);
}

/// Waits from nothing to twice `SPIN_BEFORE_PARK`, a different time for
/// each `round` (spread by a multiplicative hash), yielding meanwhile.
fn wait_a_little(round: u64) {
    let spin = executor_api::backend::SPIN_BEFORE_PARK;
    let spread = round.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54; // 0..1024
    let wait = spin * 2 * spread as u32 / 1024;
    let started = Instant::now();
    while started.elapsed() < wait {
        std::thread::yield_now();
    }
}

/// A submission to a busy executor never goes through its Tokio runtime's
/// injection queue (whose lock low-priority workers share): Tokio counts no
/// task scheduled from outside the runtime while a thousand jobs are
/// submitted from outside and run.
#[cfg(tokio_unstable)]
#[test]
fn submitting_to_a_busy_executor_never_schedules_through_tokio() {
    let executor = DedicatedExecutor::builder()
        .name("inject")
        .worker_threads(1)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Keeps the pump busy, so that it never sleeps (waking a sleeping pump
    // is the one thing that goes through Tokio).
    let spinner = executor.spawn(spin_until(stop.clone()));
    let remote_schedules = || {
        block_on_within(
            "a job reading the runtime's metrics",
            executor.spawn(async {
                tokio::runtime::Handle::current()
                    .metrics()
                    .remote_schedule_count()
            }),
        )
        .unwrap()
    };
    let before = remote_schedules();
    let jobs: Vec<_> = (0..1_000u64)
        .map(|i| executor.spawn(async move { i }))
        .collect();
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(block_on_within("a job", job), Ok(i as u64));
    }
    let after = remote_schedules();
    assert_eq!(
        after - before,
        0,
        "tasks scheduled from outside the runtime"
    );
    stop.store(true, Ordering::Release);
    assert_eq!(block_on_within("the spinning job", spinner), Ok(()));
    shutdown_and_join(&executor);
}

/// A Tokio task that a job spawns runs even when the job polled next on
/// the same worker is long: it is not left in the worker's LIFO slot (which
/// no other worker can take from) behind that job, while another worker
/// idles.
#[test]
fn a_task_spawned_by_a_job_is_not_held_behind_the_next_job() {
    let executor = DedicatedExecutor::builder()
        .name("lifo")
        .worker_threads(2)
        .build()
        .unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let blocker = |started: crossbeam_channel::Sender<()>| {
        let release = release_rx.clone();
        executor.spawn_cpu(move |_| {
            let _ = started.send(());
            let _ = release.recv();
        })
    };
    // One worker is busy for the whole test.
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let first = blocker(started_tx.clone());
    recv("the first long job started", &started_rx);
    // The other polls a job that spawns a task, then a long job.
    let (ran_tx, ran_rx) = crossbeam_channel::unbounded();
    let spawner = executor.spawn(async move {
        let _ = tokio::spawn(async move {
            let _ = ran_tx.send(());
        })
        .await;
    });
    let second = blocker(started_tx);
    recv("the task the job spawned ran", &ran_rx);
    drop(release_tx);
    for job in [first, second] {
        assert_eq!(block_on_within("a long job", job), Ok(()));
    }
    assert_eq!(block_on_within("the spawning job", spawner), Ok(()));
    shutdown_and_join(&executor);
}

/// Several submitters race two workers going to sleep and waking, each
/// submitting a job the moment its last one finished, while long jobs come
/// and go: every job runs (a lost wake-up leaves one queued behind a long
/// job, or with every worker asleep, and its wait fails).
#[test]
fn racing_submitters_never_leave_a_job_behind_a_sleeping_worker() {
    let executor = DedicatedExecutor::builder()
        .name("race")
        .worker_threads(2)
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for submitter in 0..3u64 {
            let executor = &executor;
            scope.spawn(move || {
                let finished = Arc::new(AtomicU64::new(0));
                for i in 1..=3_000u64 {
                    wait_a_little(i * 3 + submitter);
                    let done = finished.clone();
                    let long = i % 100 == 0;
                    executor
                        .spawn_cpu(move |_| {
                            if long {
                                std::thread::sleep(Duration::from_millis(2));
                            }
                            done.store(i, Ordering::Release);
                        })
                        .detach();
                    let waiting = Instant::now();
                    while finished.load(Ordering::Acquire) != i {
                        std::thread::yield_now();
                        if waiting.elapsed() > timeout() {
                            panic!("job {i} of submitter {submitter} never ran");
                        }
                    }
                }
            });
        }
    });
    shutdown_and_join(&executor);
}
