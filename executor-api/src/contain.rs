//! Containing panics from user code that runs where the executor does not
//! expect it: a destructor (of a job's value, of a cancelled future, of a
//! panic payload) or a waker.
//!
//! The executor's bookkeeping must finish on every path (a job ends once
//! and is counted; joiners are woken), so every call into user code that
//! happens in the middle of that bookkeeping goes through these helpers.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Waker;

/// How many panic payloads in a row [`drop_contained`] drops before it
/// leaks the next one: a payload whose destructor panics with a payload
/// whose destructor panics, and so on, would otherwise never end.
const PAYLOAD_CHAIN_LIMIT: usize = 8;

/// Drops `value`, containing any panic of its destructor. Returns whether
/// the drop panicked.
///
/// The panic's payload is dropped too, and its own destructor may panic in
/// turn: each payload in such a chain is dropped the same way, up to
/// [`PAYLOAD_CHAIN_LIMIT`]; the one after that is leaked rather than
/// dropped, since dropping it could panic forever.
pub(crate) fn drop_contained<T>(value: T) -> bool {
    match catch_unwind(AssertUnwindSafe(move || drop(value))) {
        Ok(()) => false,
        Err(payload) => {
            drop_payload(payload);
            true
        }
    }
}

/// Drops a panic payload, containing panics of its destructor (see
/// [`drop_contained`]).
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    let mut next = payload;
    for _ in 0..PAYLOAD_CHAIN_LIMIT {
        match catch_unwind(AssertUnwindSafe(move || drop(next))) {
            Ok(()) => return,
            Err(payload) => next = payload,
        }
    }
    std::mem::forget(next);
}

/// Wakes `waker`, containing a panic of the waker's code. Returns whether
/// it panicked. A waker that panics is user code that cannot be woken: the
/// task it belongs to finds the outcome when it is polled again.
pub(crate) fn wake_contained(waker: Waker) -> bool {
    match catch_unwind(AssertUnwindSafe(move || waker.wake())) {
        Ok(()) => false,
        Err(payload) => {
            drop_payload(payload);
            true
        }
    }
}

/// Wakes every waker in `wakers`, each one contained, so that one that
/// panics never leaves the others unwoken.
pub(crate) fn wake_all_contained(wakers: impl IntoIterator<Item = Waker>) {
    for waker in wakers {
        wake_contained(waker);
    }
}
