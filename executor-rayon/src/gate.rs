//! The gate thread's sleep and wake-up: a flag and `Thread::park`, apart
//! from the queue it waits on (see `pump`'s module docs for the gate).
//!
//! A pusher publishes its work and then reads the `asleep` flag; the gate
//! thread sets the flag and then looks for work. Both separate their write
//! from their read with a `SeqCst` fence, so at least one sees the other:
//! either the gate finds the work, or the pusher finds the gate asleep and
//! unparks it (an unpark before the park makes the park return at once).

use std::sync::OnceLock;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, fence};
use std::thread::{self, Thread};
use std::time::Instant;

/// Whether the gate thread sleeps, and the thread to unpark.
pub(crate) struct GateSleep {
    asleep: AtomicBool,
    thread: OnceLock<Thread>,
}

impl GateSleep {
    pub(crate) fn new() -> Self {
        GateSleep {
            asleep: AtomicBool::new(false),
            thread: OnceLock::new(),
        }
    }

    /// Marks the calling thread as the gate thread: called once, when it
    /// starts.
    pub(crate) fn set_thread(&self) {
        let _ = self.thread.set(thread::current());
    }

    /// Called after publishing work: wakes the gate thread if it sleeps.
    pub(crate) fn notify(&self) {
        // Pairs with the fence in `wait_until`.
        fence(SeqCst);
        if self.asleep.load(Relaxed) {
            self.unpark();
        }
    }

    /// Called after publishing a change the gate must see (the close, the
    /// caps lifted): wakes the gate thread whatever it is doing.
    pub(crate) fn wake(&self) {
        fence(SeqCst);
        self.unpark();
    }

    fn unpark(&self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    /// On the gate thread: returns once `open` holds; parks meanwhile, until
    /// a notify, or until the time `next_look` gives (when the work queued
    /// may start later), if any.
    pub(crate) fn wait_until(
        &self,
        open: impl Fn() -> bool,
        next_look: impl Fn() -> Option<Instant>,
    ) {
        loop {
            if open() {
                return;
            }
            self.asleep.store(true, Relaxed);
            // Pairs with the fences in `notify` and `wake`.
            fence(SeqCst);
            if open() {
                self.asleep.store(false, Relaxed);
                return;
            }
            match next_look() {
                Some(at) => thread::park_timeout(at.saturating_duration_since(Instant::now())),
                None => thread::park(),
            }
            self.asleep.store(false, Relaxed);
        }
    }
}
