//! The run queue: one FIFO of runnable jobs in front of the Rayon pool.
//!
//! Rayon gives a pool thread's own work priority over everything else: a
//! job spawned from a pool thread goes on that thread's local deque, which
//! it pops last-in first-out, before it ever looks at work submitted from
//! outside. A future that yields (and so reschedules itself from the pool
//! thread it runs on) would be popped again at once, forever, starving
//! every other job. So jobs do not go to Rayon directly: each schedule
//! pushes the job onto this FIFO and hands Rayon a *ticket*, a job that
//! runs whichever runnable is oldest. Tickets and runnables are one to one,
//! so every runnable runs, in the order it was scheduled, and a yielding
//! job goes to the back of the line like on Tokio.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock, Weak};

use async_task::Runnable;
use crossbeam_channel::{Receiver, Sender};
use rayon::ThreadPool;

/// The FIFO of runnable jobs of one executor.
pub(crate) struct RunQueue {
    tx: Sender<Runnable>,
    rx: Receiver<Runnable>,
    /// Weak: only the driver keeps the pool alive.
    pool: OnceLock<Weak<ThreadPool>>,
}

thread_local! {
    /// The run queue of the pool that runs this thread, set at thread start.
    static CURRENT: RefCell<Option<Arc<RunQueue>>> = const { RefCell::new(None) };
}

impl RunQueue {
    pub(crate) fn new() -> Arc<RunQueue> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Arc::new(RunQueue {
            tx,
            rx,
            pool: OnceLock::new(),
        })
    }

    /// Connects the queue to its pool, once the pool exists.
    pub(crate) fn attach(&self, pool: &Arc<ThreadPool>) {
        let _ = self.pool.set(Arc::downgrade(pool));
    }

    /// Marks the calling pool thread as serving this queue.
    pub(crate) fn enter(self: &Arc<Self>) {
        CURRENT.with(|current| *current.borrow_mut() = Some(self.clone()));
    }

    /// Queues `runnable` and hands the pool a ticket for it. If the pool is
    /// gone, the runnable is dropped, which drops its job (resolving it as
    /// cancelled if it had not ended).
    pub(crate) fn push(&self, runnable: Runnable) {
        let Some(pool) = self.pool.get().and_then(Weak::upgrade) else {
            drop(runnable);
            return;
        };
        // Never fails: this queue owns a receiver.
        let _ = self.tx.send(runnable);
        pool.spawn(run_ticket);
    }
}

/// A ticket: runs the oldest runnable of the calling thread's queue.
fn run_ticket() {
    let runnable = CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .and_then(|queue| queue.rx.try_recv().ok())
    });
    if let Some(runnable) = runnable {
        runnable.run();
    }
}
