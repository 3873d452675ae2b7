//! The synchronisation facade of the pumps' sleep/wake handshake: built
//! with `--cfg executor_loom`, it runs on loom's model-checked primitives
//! (see `sleepers`'s loom models); otherwise on `std`'s and the
//! `atomic-waker` crate's.

/// Under loom: a waker slot behind a lock. (loom's own `AtomicWaker`
/// models a spin lock whose `register` may store nothing.)
#[cfg(executor_loom)]
#[derive(Default)]
pub(crate) struct AtomicWaker(loom::sync::Mutex<Option<std::task::Waker>>);

#[cfg(executor_loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker::default()
    }

    pub(crate) fn wake(&self) {
        let waker = self.0.lock().unwrap().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
#[cfg(executor_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, fence};

#[cfg(not(executor_loom))]
pub(crate) use atomic_waker::AtomicWaker;
#[cfg(not(executor_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, fence};

/// Registers `waker` in `slot`.
#[cfg(executor_loom)]
pub(crate) fn register(slot: &AtomicWaker, waker: &std::task::Waker) {
    *slot.0.lock().unwrap() = Some(waker.clone());
}

/// Registers `waker` in `slot`.
#[cfg(not(executor_loom))]
pub(crate) fn register(slot: &AtomicWaker, waker: &std::task::Waker) {
    slot.register(waker);
}
