//! The Tokio backend's part of the shutdown sequence: the pump threads and
//! the runtime it stops.

use std::sync::Arc;
use std::thread::JoinHandle;

use executor_api::backend::BackendThreads;
use tokio::runtime::Runtime;

use crate::queue::RunQueue;

/// The runtime and the pump threads, owned by the driver thread, and the
/// run queue the pumps serve.
pub(crate) struct TokioThreads {
    runtime: Runtime,
    queue: Arc<RunQueue>,
    pumps: Vec<JoinHandle<()>>,
}

impl TokioThreads {
    pub(crate) fn new(runtime: Runtime, queue: Arc<RunQueue>, pumps: Vec<JoinHandle<()>>) -> Self {
        TokioThreads {
            runtime,
            queue,
            pumps,
        }
    }

    /// Closes the queue, joins the pumps, then drops the runtime (see
    /// [`BackendThreads::stop`]).
    pub(crate) fn stop_now(self) {
        // Pumps exit after their current poll; a job woken from now on is
        // dropped, not queued.
        self.queue.close();
        for pump in self.pumps {
            // A pump contains every panic of a job; a panic of its own was
            // reported by the panic hook, and the thread is gone either way.
            let _ = pump.join();
        }
        // Drops every task that is left (sub-tasks, after an immediate
        // shutdown) once its worker finishes the current poll, and waits
        // for the worker threads to exit.
        drop(self.runtime);
        // A task dropped above may have woken a job: it was dropped too.
        self.queue.close();
    }
}

impl BackendThreads for TokioThreads {
    /// Tasks that jobs spawned with `tokio::spawn` are not jobs, but a
    /// graceful shutdown waits for them too. Tokio has no notification for
    /// its task count reaching zero, so the driver asks. Jobs are not Tokio
    /// tasks: every task alive was spawned by a job (or by such a task).
    fn has_unfinished_work(&self) -> bool {
        self.runtime.metrics().num_alive_tasks() > 0
    }

    /// Pumps sleeping while only capped classes had jobs wake up: the
    /// caps are lifted, and those jobs end cancelled.
    fn abort(&self) {
        self.queue.wake_all();
    }

    /// Every job has ended: the pumps exit and are joined, then the
    /// runtime is dropped (dropping the tasks left, after an immediate
    /// shutdown, and joining its worker threads). The queue, closed, drops
    /// whatever is still queued and breaks the cycle between the queue and
    /// the jobs that schedule onto it.
    fn stop(self) {
        self.stop_now();
    }
}
