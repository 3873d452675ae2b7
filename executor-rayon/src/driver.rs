//! The Rayon backend's part of the shutdown sequence: the pool, its
//! threads and the reactor, stopped in that order.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use executor_api::backend::BackendThreads;
use rayon::ThreadPool;

use crate::queue::RunQueue;
use crate::reactor::Reactor;

/// The pool threads' join handles, filled by the pool's spawn handler.
pub(crate) type PoolThreads = Arc<Mutex<Vec<JoinHandle<()>>>>;

/// What the driver thread owns: the only strong references to the pool and
/// the gate (besides the pumps'), their threads, and the reactor.
pub(crate) struct RayonThreads {
    pub(crate) pool: Arc<ThreadPool>,
    pub(crate) gate: Arc<ThreadPool>,
    pub(crate) threads: PoolThreads,
    pub(crate) reactor: Reactor,
    pub(crate) queue: Arc<RunQueue>,
}

impl BackendThreads for RayonThreads {
    /// Tasks that jobs handed to Tokio (`tokio::spawn`) run on the reactor:
    /// a graceful shutdown waits for them, as on the Tokio backend. The
    /// reactor runs nothing else as a task.
    fn has_unfinished_work(&self) -> bool {
        self.reactor.handle().metrics().num_alive_tasks() > 0
    }

    /// Wakes the gate: the caps are lifted, so jobs that waited for their
    /// class's budget start, and end cancelled.
    fn abort(&self) {
        self.queue.wake_all();
    }

    /// Closes the queue, so that the pumps return (the gate lets every
    /// waiting one through), and drops the pool, whose threads exit once the
    /// Rayon work still queued (work that jobs handed to `rayon::spawn`) has
    /// run; drops the gate; waits for all their threads; then stops the
    /// reactor, which that work may still have used for timers and I/O
    /// (dropping the tasks left on it, after an immediate shutdown).
    fn stop(self) {
        self.queue.close();
        drop(self.pool);
        drop(self.gate);
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
        self.reactor.stop();
    }
}
