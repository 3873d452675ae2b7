//! The driver thread: owns the pool and runs the shutdown sequence.

use std::sync::Arc;

use executor_api::backend::{Drain, ExecutorCore, Watchdog};
use rayon::ThreadPool;

use crate::reactor::Reactor;

/// Marks the core terminated when dropped, so that joiners are woken even if
/// a step below panics.
struct TerminateOnDrop(ExecutorCore);

impl Drop for TerminateOnDrop {
    fn drop(&mut self) {
        self.0.terminate();
    }
}

/// Waits for a shutdown request, drains, drops the pool, stops the reactor,
/// terminates.
pub(crate) fn run(
    pool: Arc<ThreadPool>,
    reactor: Reactor,
    watchdog: Option<Watchdog>,
    core: ExecutorCore,
) {
    let terminate = TerminateOnDrop(core.clone());
    if core.drain() == Drain::Aborted {
        // The abort woke every parked job and queued jobs end as soon as a
        // thread reaches them: wait for the jobs that are running now.
        core.wait_for_jobs();
    }
    // Rayon runs what is still queued (work jobs handed to `rayon::spawn`),
    // then its threads exit; `join` joins them through the core.
    drop(pool);
    // Timers and sockets of ended jobs are gone; the reactor has no more
    // work.
    reactor.stop();
    drop(watchdog);
    drop(terminate);
}
