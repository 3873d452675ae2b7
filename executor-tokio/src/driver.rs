//! The Tokio backend's part of the shutdown sequence: the runtime it stops.

use executor_api::backend::BackendThreads;
use tokio::runtime::Runtime;

/// The runtime, owned by the driver thread.
pub(crate) struct TokioThreads {
    runtime: Runtime,
}

impl TokioThreads {
    pub(crate) fn new(runtime: Runtime) -> Self {
        TokioThreads { runtime }
    }
}

impl BackendThreads for TokioThreads {
    /// Tasks that jobs spawned with `tokio::spawn` are not jobs, but a
    /// graceful shutdown waits for them too. Tokio has no notification for
    /// its task count reaching zero, so the driver asks.
    fn has_unfinished_work(&self) -> bool {
        self.runtime.metrics().num_alive_tasks() > 0
    }

    /// Dropping the runtime drops every task that is left (sub-tasks, after
    /// an immediate shutdown) once its worker finishes the current poll,
    /// and waits for the worker threads to exit.
    fn stop(self) {
        drop(self.runtime);
    }
}
