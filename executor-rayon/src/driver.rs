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

/// What the driver thread owns: the only strong reference to the pool, the
/// pool threads, and the reactor.
pub(crate) struct RayonThreads {
    pub(crate) pool: Arc<ThreadPool>,
    pub(crate) threads: PoolThreads,
    pub(crate) reactor: Reactor,
    pub(crate) queue: Arc<RunQueue>,
}

impl BackendThreads for RayonThreads {
    /// Wakes every pool thread to look for jobs: the caps are lifted, so
    /// jobs that waited for their class's budget start, and end cancelled.
    fn abort(&self) {
        self.queue.wake_all();
    }

    /// Drops the pool, whose threads exit once the Rayon work still queued
    /// (work that jobs handed to `rayon::spawn`) has run; waits for them;
    /// then stops the reactor, which that work may still have used for
    /// timers and I/O.
    fn stop(self) {
        drop(self.pool);
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
        self.reactor.stop();
    }
}
