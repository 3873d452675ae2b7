//! The driver thread: owns the runtime and runs the shutdown sequence.

use std::time::Duration;

use executor_api::backend::{Drain, ExecutorCore, Watchdog};
use tokio::runtime::Runtime;

/// How often a graceful shutdown re-reads Tokio's task count while waiting
/// for tasks that jobs spawned.
const SUBTASK_POLL: Duration = Duration::from_millis(1);

/// Marks the core terminated when dropped, so that joiners are woken even if
/// dropping the runtime panics.
struct TerminateOnDrop(ExecutorCore);

impl Drop for TerminateOnDrop {
    fn drop(&mut self) {
        self.0.terminate();
    }
}

/// Waits for a shutdown request, drains, drops the runtime, terminates.
pub(crate) fn run(runtime: Runtime, watchdog: Option<Watchdog>, core: ExecutorCore) {
    let terminate = TerminateOnDrop(core.clone());
    let mut aborted = core.drain() == Drain::Aborted;

    // Tasks that jobs spawned with `tokio::spawn` are not jobs, but a
    // graceful shutdown waits for them too. Tokio has no notification for
    // its task count reaching zero, so poll it; an abort (immediate shutdown
    // or deadline) interrupts the wait.
    let metrics = runtime.metrics();
    while !aborted && metrics.num_alive_tasks() > 0 {
        aborted = core.pause(SUBTASK_POLL);
    }

    // Dropping the runtime drops every task that is left (a job among them
    // resolves its handle as cancelled) once its worker finishes the current
    // poll, and waits for the worker threads to exit.
    drop(runtime);
    drop(watchdog);
    drop(terminate);
}
