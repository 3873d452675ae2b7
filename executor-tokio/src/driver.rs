//! The Tokio backend's part of the shutdown sequence: the runtime it stops.

use std::sync::Arc;

use executor_api::backend::BackendThreads;
use tokio::runtime::Runtime;

use crate::queue::RunQueue;

/// The runtime, owned by the driver thread, and the run queue its pumps
/// serve.
pub(crate) struct TokioThreads {
    runtime: Runtime,
    queue: Arc<RunQueue>,
}

impl TokioThreads {
    pub(crate) fn new(runtime: Runtime, queue: Arc<RunQueue>) -> Self {
        TokioThreads { runtime, queue }
    }
}

impl BackendThreads for TokioThreads {
    /// Tasks that jobs spawned with `tokio::spawn` are not jobs, but a
    /// graceful shutdown waits for them too. Tokio has no notification for
    /// its task count reaching zero, so the driver asks. The run queue's
    /// pumps are tasks too, but not work.
    fn has_unfinished_work(&self) -> bool {
        self.runtime.metrics().num_alive_tasks() > self.queue.live_pumps()
    }

    /// Pumps sleeping while only capped classes had jobs wake up: the
    /// caps are lifted, and those jobs end cancelled.
    fn abort(&self) {
        self.queue.wake_all();
    }

    /// Dropping the runtime drops every task that is left (sub-tasks, after
    /// an immediate shutdown) once its worker finishes the current poll,
    /// and waits for the worker threads to exit. Then nothing pumps the run
    /// queue any more: it is closed, which drops whatever is still queued
    /// (nothing, once every job has ended) and breaks the cycle between
    /// the queue and the jobs that schedule onto it.
    fn stop(self) {
        drop(self.runtime);
        self.queue.close();
    }
}
