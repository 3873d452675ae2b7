//! The pumps' sleep/wake handshake, apart from the queue it guards so that
//! loom can check it (crossbeam's queue cannot run under loom; the models
//! use a locked `VecDeque`).
//!
//! A pump that finds no work registers its waker, counts itself in
//! `sleeping`, flags itself asleep and then looks for work again; a pusher
//! publishes its work and then reads `sleeping`. Both sides separate their
//! write from their read with a `SeqCst` fence, so at least one of them
//! sees the other: either the pump finds the work, or the pusher finds the
//! pump asleep and wakes it (a pusher that finds the count but no flag yet
//! is racing a pump that has not reached its fence, and that pump will see
//! the work). A pump is woken by whoever turns its flag from true to
//! false, exactly once per sleep.
//!
//! Counted before flagged, and (in `wake_one`) unflagged before uncounted:
//! `sleeping` is never below the number of flags set, so a push that reads
//! 0 has no sleeping pump to wake.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::task::Poll;

use crate::sync::{AtomicBool, AtomicUsize, AtomicWaker, fence, register};

/// The sleep state of a set of pumps.
pub(crate) struct Sleepers {
    slots: Box<[Slot]>,
    /// How many pumps are asleep (an upper bound while one is between
    /// counting itself and being woken).
    sleeping: AtomicUsize,
}

/// What a sleeping pump leaves for whoever wakes it.
struct Slot {
    waker: AtomicWaker,
    asleep: AtomicBool,
}

impl Sleepers {
    /// `pumps` pumps, all awake.
    pub(crate) fn new(pumps: usize) -> Sleepers {
        Sleepers {
            slots: (0..pumps)
                .map(|_| Slot {
                    waker: AtomicWaker::new(),
                    asleep: AtomicBool::new(false),
                })
                .collect(),
            sleeping: AtomicUsize::new(0),
        }
    }

    /// How many pumps there are.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Called after publishing work: wakes one sleeping pump, if any.
    pub(crate) fn notify(&self) {
        // Pairs with the fence in `sleep` (see the module docs).
        fence(SeqCst);
        if self.sleeping.load(Relaxed) > 0 {
            self.wake_one();
        }
    }

    fn wake_one(&self) {
        let _ = self.slots.iter().any(|slot| self.wake(slot));
    }

    /// Wakes every sleeping pump: for an immediate shutdown (jobs that
    /// waited for their class's budget may start), and for the models,
    /// whose pumps end.
    pub(crate) fn wake_all(&self) {
        // Like `notify`: whatever the caller published before (the abort
        // flag) is seen by every pump this wakes, or by a pump going to
        // sleep that this misses.
        fence(SeqCst);
        for slot in &*self.slots {
            self.wake(slot);
        }
    }

    /// Wakes the pump of `slot` if it sleeps; returns whether it did.
    fn wake(&self, slot: &Slot) -> bool {
        // A compare-exchange, not a swap: the same on hardware, but loom
        // 0.7 let a `swap` read a stale flag (a false deadlock).
        let asleep = slot
            .asleep
            .compare_exchange(true, false, AcqRel, Acquire)
            .is_ok();
        if asleep {
            self.sleeping.fetch_sub(1, AcqRel);
            slot.waker.wake();
        }
        asleep
    }

    /// Pump `index` waits until there may be work: resolves at once if
    /// `has_work` says so after the pump counted itself asleep, otherwise
    /// when a pusher wakes it.
    ///
    /// # Cancel safety
    ///
    /// Dropped before it resolves (a pump that also waits for a timer), the
    /// pump takes itself off the count, unless a pusher already did.
    pub(crate) async fn sleep(&self, index: usize, has_work: impl Fn() -> bool) {
        let mut asleep = Asleep {
            sleepers: self,
            slot: &self.slots[index],
            counted: false,
        };
        std::future::poll_fn(|cx| {
            let slot = asleep.slot;
            if asleep.counted {
                // Woken exactly when a pusher turned `asleep` back to false;
                // any other poll is spurious. Register before the second
                // look, so that a wake-up in between uses this waker.
                if !slot.asleep.load(Acquire) {
                    asleep.counted = false;
                    return Poll::Ready(());
                }
                register(&slot.waker, cx.waker());
                return if slot.asleep.load(Acquire) {
                    Poll::Pending
                } else {
                    asleep.counted = false;
                    Poll::Ready(())
                };
            }
            asleep.counted = true;
            register(&slot.waker, cx.waker());
            self.sleeping.fetch_add(1, AcqRel);
            slot.asleep.store(true, Release);
            // Pairs with the fence in `notify`.
            fence(SeqCst);
            if !has_work() {
                return Poll::Pending;
            }
            // Work arrived meanwhile: get up.
            asleep.get_up();
            Poll::Ready(())
        })
        .await;
    }
}

/// A pump between counting itself asleep and being woken.
struct Asleep<'a> {
    sleepers: &'a Sleepers,
    slot: &'a Slot,
    /// The pump counted itself and nobody has been seen to wake it.
    counted: bool,
}

impl Asleep<'_> {
    /// Takes the pump off the count, unless a pusher already woke it (then
    /// it also took it off the count).
    fn get_up(&mut self) {
        self.counted = false;
        if self
            .slot
            .asleep
            .compare_exchange(true, false, AcqRel, Acquire)
            .is_ok()
        {
            self.sleepers.sleeping.fetch_sub(1, AcqRel);
        }
    }
}

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.get_up();
        }
    }
}
