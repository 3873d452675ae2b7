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

/// A multi-producer, multi-consumer FIFO: crossbeam's lock-free
/// [`Injector`](crossbeam_deque::Injector), or under loom a locked
/// `VecDeque` standing in for it (crossbeam's cannot run under loom).
pub(crate) struct Queue<T> {
    #[cfg(not(executor_loom))]
    inner: crossbeam_deque::Injector<T>,
    #[cfg(executor_loom)]
    inner: Mutex<std::collections::VecDeque<T>>,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            inner: Default::default(),
        }
    }

    pub(crate) fn push(&self, item: T) {
        #[cfg(not(executor_loom))]
        self.inner.push(item);
        #[cfg(executor_loom)]
        lock(&self.inner).push_back(item);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        #[cfg(not(executor_loom))]
        loop {
            match self.inner.steal() {
                crossbeam_deque::Steal::Success(item) => return Some(item),
                crossbeam_deque::Steal::Empty => return None,
                crossbeam_deque::Steal::Retry => {}
            }
        }
        #[cfg(executor_loom)]
        lock(&self.inner).pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(not(executor_loom))]
        return self.inner.is_empty();
        #[cfg(executor_loom)]
        lock(&self.inner).is_empty()
    }
}

/// One turn of a wait for another thread's short step (a queue operation
/// between its two halves): a spin hint, or under loom a yield, so that the
/// model lets the other thread run.
pub(crate) fn spin_wait() {
    #[cfg(executor_loom)]
    loom::thread::yield_now();
    #[cfg(not(executor_loom))]
    std::hint::spin_loop();
}
