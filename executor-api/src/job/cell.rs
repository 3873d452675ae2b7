//! The cell shared by a job and its handle: the completion/cancellation
//! handshake.
//!
//! # Invariants
//!
//! 1. The job's outcome is written at most once, by the job side
//!    ([`JobCell::complete`]), and read at most once, by the handle side.
//! 2. Once the handle has let go ([`JobCell::abandon`]), the job side never
//!    stores an outcome: it hands it back to be dropped by the job's thread.
//!    If an outcome was already stored, `abandon` hands it back instead. So a
//!    result is dropped exactly once, on whichever side came second.
//! 3. `cancelled` only goes from `false` to `true`. It is set before the lock
//!    that takes the task's waker, and the job re-checks it after storing its
//!    waker under the same lock, so a cancellation is never missed by a
//!    pending job.
//! 4. No user code runs while the lock is held: wakers are woken and
//!    outcomes dropped after it is released.
//! 5. User code called from here (a waker's `wake` or `drop`, an outcome's
//!    destructor) is contained: a panic in it never escapes, so the job's
//!    ending is always counted and the handle's caller never sees it.
//! 6. Until the job starts, its body lives here, in the cell's [`Start`]
//!    part, not in the job the backend holds: whoever takes it first, the
//!    worker at the job's first poll or a cancellation (the handle's
//!    `cancel` or drop), owns the job's ending. A cancellation that takes it
//!    ends the job there and then, on the cancelling thread: the body (what
//!    the job captured) is dropped, its class's queue slot is freed, the
//!    handle resolves and the job's count is released, so that `join`
//!    never waits for a worker to reach a job that will not run (a worker
//!    may be far away: the job's class may be over its cap). The job the
//!    backend still holds finds the body gone and ends without a word.

use std::mem;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::task::{Context, Poll, Waker};

use crate::contain::{drop_contained, wake_contained};
use crate::error::JobError;
use crate::lifecycle::core::Shared;
use crate::metrics::Ending;
use crate::sched::classes::ClassIndex;
use crate::sync::{Arc, AtomicBool, Mutex, lock};

/// What a cell holds for a job that has not started: its body, and what
/// ending it needs (invariant 6). Type-erased, so that the handle does not
/// name the body's type.
pub(crate) trait Unstarted: Send + Sync {
    /// Takes the body if the job has not started (the worker has not taken
    /// it), drops it (containing a panic of its destructor), and returns the
    /// job's core and class, for the ending that is now the caller's.
    fn discard(&self) -> Option<(&Arc<Shared>, ClassIndex)>;
}

/// The [`Unstarted`] part of an admitted job's cell.
pub(crate) struct Start<B> {
    body: Mutex<Option<B>>,
    core: Arc<Shared>,
    class: ClassIndex,
}

impl<B> Start<B> {
    pub(crate) fn new(body: B, core: Arc<Shared>, class: ClassIndex) -> Self {
        Start {
            body: Mutex::new(Some(body)),
            core,
            class,
        }
    }

    /// The job's core.
    pub(crate) fn core(&self) -> &Arc<Shared> {
        &self.core
    }

    /// The worker takes the body to start the job; `None` if a
    /// cancellation took it first (and ended the job).
    pub(crate) fn take(&self) -> Option<B> {
        lock(&self.body).take()
    }
}

impl<B: Send> Unstarted for Start<B> {
    fn discard(&self) -> Option<(&Arc<Shared>, ClassIndex)> {
        let body = self.take()?;
        // What the job captured is user code: its destructor may panic. The
        // job was cancelled either way.
        drop_contained(body);
        Some((&self.core, self.class))
    }
}

/// The [`Unstarted`] part of a refused submission's cell: its job never
/// existed.
pub(crate) struct NeverStarted;

impl Unstarted for NeverStarted {
    fn discard(&self) -> Option<(&Arc<Shared>, ClassIndex)> {
        None
    }
}

/// The state of a job's outcome.
enum Outcome<T> {
    /// The job has not ended and the handle is still interested.
    Pending,
    /// The job ended; the handle has not read the outcome yet.
    Ready(Result<T, JobError>),
    /// The handle read the outcome.
    Taken,
    /// The handle was dropped or detached: nobody will read an outcome.
    Abandoned,
}

struct Slot<T> {
    outcome: Outcome<T>,
    /// Woken when the outcome is stored.
    handle_waker: Option<Waker>,
    /// Woken when cancellation is requested, so that a pending job is polled
    /// and can drop its future.
    task_waker: Option<Waker>,
}

/// The state shared by one job and its [`JobHandle`](crate::JobHandle).
///
/// The job holds it as `JobCell<T, Start<B>>`; the handle, which does not
/// know the body's type, as `JobCell<T>` (the start part behind `dyn`).
pub(crate) struct JobCell<T, U: ?Sized = dyn Unstarted> {
    cancelled: AtomicBool,
    slot: Mutex<Slot<T>>,
    /// The job's name: shown by the watchdog and by tokio-console.
    name: Option<std::sync::Arc<str>>,
    /// The body until the job starts (invariant 6).
    start: U,
}

/// What [`JobCell::complete`] did with the outcome.
pub(crate) enum Delivery<T> {
    /// Stored for the handle.
    Delivered,
    /// The handle is gone; the caller drops the outcome.
    Discarded(Result<T, JobError>),
}

impl<T, U> JobCell<T, U> {
    pub(crate) fn new(name: Option<std::sync::Arc<str>>, start: U) -> Self {
        JobCell {
            cancelled: AtomicBool::new(false),
            slot: Mutex::new(Slot {
                outcome: Outcome::Pending,
                handle_waker: None,
                task_waker: None,
            }),
            name,
            start,
        }
    }

    /// The job's part that holds the body until it starts.
    pub(crate) fn start(&self) -> &U {
        &self.start
    }
}

impl<T> JobCell<T, NeverStarted> {
    /// A cell whose job ended before it began: a refused submission's.
    pub(crate) fn ended(outcome: Result<T, JobError>) -> Self {
        let cell = JobCell::new(None, NeverStarted);
        lock(&cell.slot).outcome = Outcome::Ready(outcome);
        cell
    }
}

impl<T, U: ?Sized + Unstarted> JobCell<T, U> {
    /// Ends the job here, if it has not started: drops its body, counts it
    /// cancelled (freeing its class's queue slot), delivers
    /// [`JobError::Cancelled`] and releases its count (invariant 6).
    /// Returns whether it did.
    fn end_unstarted(&self) -> bool {
        let Some((core, class)) = self.start.discard() else {
            return false;
        };
        core.count_ending(class, false, Ending::Cancelled);
        if let Delivery::Discarded(outcome) = self.complete(Err(JobError::Cancelled)) {
            drop_contained(outcome);
        }
        core.job_ended();
        true
    }

    /// The job's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&std::sync::Arc<str>> {
        self.name.as_ref()
    }

    /// The flag a [`CancelToken`](crate::CancelToken) reads.
    pub(crate) fn cancel_flag(&self) -> &AtomicBool {
        &self.cancelled
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Acquire)
    }

    // ----- handle side -----

    /// Polls for the outcome, registering `cx`'s waker if there is none yet.
    ///
    /// # Panics
    ///
    /// If the outcome was already taken (the handle was polled after it
    /// returned `Ready`).
    pub(crate) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let mut slot = lock(&self.slot);
        match mem::replace(&mut slot.outcome, Outcome::Taken) {
            Outcome::Ready(outcome) => Poll::Ready(outcome),
            Outcome::Pending => {
                slot.outcome = Outcome::Pending;
                let stale = match &slot.handle_waker {
                    Some(waker) if waker.will_wake(cx.waker()) => None,
                    _ => slot.handle_waker.replace(cx.waker().clone()),
                };
                drop(slot);
                drop_contained(stale);
                Poll::Pending
            }
            Outcome::Taken | Outcome::Abandoned => {
                drop(slot);
                panic!("`JobHandle` polled after it returned `Poll::Ready`")
            }
        }
    }

    /// Whether the job has ended (its outcome is stored or was taken).
    pub(crate) fn is_finished(&self) -> bool {
        matches!(lock(&self.slot).outcome, Outcome::Ready(_) | Outcome::Taken)
    }

    /// Requests cancellation: ends the job at once if it has not started
    /// (invariant 6), or wakes it if it is pending.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Release);
        if self.end_unstarted() {
            return;
        }
        let waker = lock(&self.slot).task_waker.take();
        if let Some(waker) = waker {
            wake_contained(waker);
        }
    }

    /// The handle lets go, cancelling the job unless `detach` is set.
    /// An outcome already stored is dropped here, outside the lock.
    pub(crate) fn abandon(&self, detach: bool) {
        if !detach {
            self.cancelled.store(true, Release);
        }
        let mut slot = lock(&self.slot);
        let outcome = mem::replace(&mut slot.outcome, Outcome::Abandoned);
        let handle_waker = slot.handle_waker.take();
        let task_waker = if detach { None } else { slot.task_waker.take() };
        drop(slot);
        // The handle's caller drops a finished job's value here: a panic of
        // its destructor is contained like one on the executor's side.
        drop_contained(outcome);
        drop_contained(handle_waker);
        if !detach && self.end_unstarted() {
            // Never polled: it has no waker to wake.
            drop_contained(task_waker);
            return;
        }
        if let Some(waker) = task_waker {
            wake_contained(waker);
        }
    }

    // ----- job side -----

    /// Stores the waker to wake when cancellation is requested. Returns
    /// whether cancellation was requested meanwhile (invariant 3), in which
    /// case the caller must poll again instead of waiting.
    pub(crate) fn register_task_waker(&self, waker: &Waker) -> bool {
        let mut slot = lock(&self.slot);
        let stale = match &slot.task_waker {
            Some(current) if current.will_wake(waker) => None,
            _ => slot.task_waker.replace(waker.clone()),
        };
        drop(slot);
        drop_contained(stale);
        self.is_cancelled()
    }

    /// Stores the job's outcome for the handle and wakes it, or hands the
    /// outcome back if the handle is gone.
    pub(crate) fn complete(&self, outcome: Result<T, JobError>) -> Delivery<T> {
        let mut slot = lock(&self.slot);
        match slot.outcome {
            Outcome::Pending => {
                slot.outcome = Outcome::Ready(outcome);
                let handle_waker = slot.handle_waker.take();
                let task_waker = slot.task_waker.take();
                drop(slot);
                drop_contained(task_waker);
                if let Some(waker) = handle_waker {
                    // The awaiter's waker is user code: if it panics, the
                    // outcome is stored all the same and found at the next
                    // poll.
                    wake_contained(waker);
                }
                Delivery::Delivered
            }
            Outcome::Abandoned => {
                let task_waker = slot.task_waker.take();
                drop(slot);
                drop_contained(task_waker);
                Delivery::Discarded(outcome)
            }
            Outcome::Ready(_) | Outcome::Taken => {
                unreachable!("a job's outcome is stored once (invariant 1)")
            }
        }
    }
}
