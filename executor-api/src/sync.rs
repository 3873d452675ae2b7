//! The synchronisation facade.
//!
//! Everything that decides the lifecycle (the job count, the shutdown
//! transitions, the completion/cancellation handshake and the join wake-ups)
//! imports its primitives from here and nowhere else. Built with
//! `--cfg executor_loom`, the same code runs on loom's model-checked
//! primitives; otherwise it runs on `std`'s.

#[cfg(executor_loom)]
pub(crate) use loom::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize},
};

#[cfg(not(executor_loom))]
pub(crate) use std::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize},
};

/// Locks `mutex`, ignoring poisoning.
///
/// Every critical section in this crate only moves plain values in and out
/// (no user code runs while a lock is held), so a poisoned lock still guards
/// consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps a value on a cache line of its own, so that atomics written by
/// different threads (the submitter, the workers) do not bounce one line
/// between cores. 128 bytes: two lines, as adjacent-line prefetchers pair
/// them on x86.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
