//! [`WorkerContext`]: what a worker thread knows about its executor.

use std::cell::RefCell;
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::config::priority::Priority;
use crate::contain::drop_payload;
use crate::lifecycle::watchdog::{PollSlot, Watchdog, WatchdogHandle};

/// What the threads of one executor share: their priority, the I/O
/// runtime that [`io::spawn`](crate::io::spawn) uses, and the watchdog that
/// watches their polls.
///
/// A backend gets one per executor from
/// [`ShutdownDriver::new`](crate::backend::ShutdownDriver::new) and calls
/// [`enter`](Self::enter) first thing on each thread that polls jobs or
/// runs the tasks they spawn: one call gives the thread all three, so no
/// backend can forget one.
#[derive(Clone, Default)]
pub struct WorkerContext {
    priority: Option<Priority>,
    io: Option<Handle>,
    watchdog: Option<WatchdogHandle>,
}

impl std::fmt::Debug for WorkerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerContext")
            .field("priority", &self.priority)
            .field("io_runtime", &self.io.is_some())
            .field("watchdog", &self.watchdog.is_some())
            .finish()
    }
}

/// The calling worker thread's context.
struct Current {
    io: Option<Handle>,
    slot: Option<Arc<PollSlot>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

impl WorkerContext {
    /// A context with the given priority, I/O runtime and watchdog.
    pub(crate) fn new(priority: Priority, io: Option<Handle>, watchdog: Option<&Watchdog>) -> Self {
        WorkerContext {
            priority: Some(priority),
            io,
            watchdog: watchdog.map(Watchdog::handle),
        }
    }

    /// Makes the calling thread a worker of this context's executor, for
    /// the rest of its life: it runs at the executor's priority, jobs
    /// polled here find the I/O runtime, and the watchdog watches their
    /// polls.
    ///
    /// If the OS refuses the priority (raising it back needs a privilege
    /// the process may lack), the thread keeps its current one and a
    /// warning is logged (a subscriber that panics is contained). Never
    /// panics.
    pub fn enter(&self) {
        if let Some(priority) = self.priority
            && let Err(err) = priority.apply_to_current_thread()
        {
            let warned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tracing::warn!(%err, %priority, "could not set the priority of an executor thread");
            }));
            if let Err(payload) = warned {
                drop_payload(payload);
            }
        }
        let current = Current {
            io: self.io.clone(),
            slot: self
                .watchdog
                .as_ref()
                .and_then(WatchdogHandle::register_current_thread),
        };
        // A thread being torn down has no thread-locals left: nothing to do.
        let _ = CURRENT.try_with(|cell| *cell.borrow_mut() = Some(current));
    }
}

/// Where [`io::spawn`](crate::io::spawn) finds its runtime, seen from the
/// calling thread.
pub(crate) enum IoLookup {
    /// Not a worker thread of any executor.
    NotAWorker,
    /// A worker whose executor has no I/O runtime.
    NoRuntime,
    /// The I/O runtime.
    Runtime(Handle),
}

pub(crate) fn current_io_runtime() -> IoLookup {
    CURRENT
        .try_with(|cell| match cell.borrow().as_ref() {
            None => IoLookup::NotAWorker,
            Some(Current { io: None, .. }) => IoLookup::NoRuntime,
            Some(Current { io: Some(io), .. }) => IoLookup::Runtime(io.clone()),
        })
        .unwrap_or(IoLookup::NotAWorker)
}

/// Reports one poll to the watchdog of the calling worker thread, if any:
/// from creation to drop. It holds no reference to the slot (that would
/// cost two atomic operations per poll): the slot lives in the thread-local
/// for the thread's life, and the drop looks it up again.
pub(crate) struct WatchedPoll {
    watched: bool,
}

impl WatchedPoll {
    /// A poll of `job` that began at `now`.
    pub(crate) fn begin(job: Option<&Arc<str>>, now: std::time::Instant) -> Self {
        let watched = CURRENT
            .try_with(|cell| {
                let current = cell.borrow();
                let Some(slot) = current.as_ref().and_then(|current| current.slot.as_ref()) else {
                    return false;
                };
                slot.begin(job, now);
                true
            })
            .unwrap_or(false);
        WatchedPoll { watched }
    }
}

impl Drop for WatchedPoll {
    fn drop(&mut self) {
        if !self.watched {
            return;
        }
        let _ = CURRENT.try_with(|cell| {
            if let Some(slot) = cell
                .borrow()
                .as_ref()
                .and_then(|current| current.slot.as_ref())
            {
                slot.end();
            }
        });
    }
}
