//! Shutdown: how long a graceful shutdown takes to drain queued jobs, and
//! an immediate one to cancel running cooperative jobs.

use std::time::{Duration, Instant};

use executor_api::Executor;

use crate::backend::{Backend, Priority};

/// Milliseconds to shut down.
#[derive(Debug, Clone, Copy)]
pub struct Shutdown {
    /// From `shutdown()` to `join()` with small jobs queued behind busy
    /// workers.
    pub drain_queued_ms: f64,
    /// From `shutdown_now()` to `join()` with futures running and yielding
    /// in a loop.
    pub cancel_running_ms: f64,
}

/// Measures `backend` with `cores` workers.
pub fn measure(backend: Backend, cores: usize, drain_jobs: u64, cancel_jobs: u64) -> Shutdown {
    let executor = backend.build(cores, Priority::Normal);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    for _ in 0..cores {
        let release = release_rx.clone();
        executor
            .spawn_cpu(move |_| {
                let _ = release.recv();
            })
            .detach();
    }
    for i in 0..drain_jobs {
        executor
            .spawn_cpu(move |_| std::hint::black_box(i))
            .detach();
    }
    let start = Instant::now();
    executor.shutdown();
    drop(release_tx);
    futures::executor::block_on(executor.join());
    let drain_queued_ms = ms(start.elapsed());

    let executor = backend.build(cores, Priority::Normal);
    for _ in 0..cancel_jobs {
        executor
            .spawn(async {
                loop {
                    workload::yield_now().await;
                }
            })
            .detach();
    }
    // Every job has started: each is running, yielding in its loop.
    while executor.metrics().running < cancel_jobs {
        std::thread::yield_now();
    }
    let start = Instant::now();
    executor.shutdown_now();
    futures::executor::block_on(executor.join());
    let cancel_running_ms = ms(start.elapsed());
    assert_eq!(executor.metrics().cancelled, cancel_jobs);

    Shutdown {
        drain_queued_ms,
        cancel_running_ms,
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
