//! For backend authors: the lifecycle bookkeeping every backend shares.
//!
//! A backend supplies only how to run work on its threads. It implements
//! [`Executor::core`](crate::Executor::core) and
//! [`Executor::schedule`](crate::Executor::schedule), and drives one
//! [`ExecutorCore`] through its shutdown sequence; job counting, rejection
//! after shutdown, the drain, the completion/cancellation handshake, panic
//! capture and the join wake-ups are all done here, once, so that every
//! backend (and the loom models in `testkit`) runs the same code.
//!
//! # The shutdown sequence
//!
//! On a thread of its own (never inside an async context), a backend:
//!
//! 1. calls [`ExecutorCore::drain`], which returns once a shutdown was
//!    requested and the jobs drained, or the shutdown turned immediate; on
//!    [`Drain::Aborted`] it must make sure every [`Job`] it still holds is
//!    polled or dropped (a job polled after an abort ends as cancelled
//!    without polling its body; jobs parked on a wake-up were woken);
//! 2. stops its worker threads and waits for them;
//! 3. calls [`ExecutorCore::terminate`] as its last act.
//!
//! Threads that `join` must wait for, beyond those it stopped in step 2 (at
//! least the thread running this sequence), are registered with
//! [`ExecutorCore::register_thread`].

pub(crate) mod cell;
mod config;
mod core;
mod job;
mod priority;
mod watchdog;
pub(crate) mod worker;

pub use self::config::{DEFAULT_NICE, PoolConfig, ValidPoolConfig};
pub use self::core::{Drain, ExecutorCore, Join};
pub use self::job::{BoxedJob, ClosureBody, FutureBody, Job, JobBody, RunnableJob};
pub use self::priority::{
    current_thread_is_idle_scheduled, current_thread_nice, lower_current_thread,
    use_idle_scheduling,
};
pub use self::watchdog::{DEFAULT_WATCHDOG_THRESHOLD, Watchdog};
pub use self::worker::WorkerContext;
