//! The contract of a dedicated executor for CPU-bound async work.
//!
//! An analytics service runs latency-sensitive I/O and heavy CPU work in one
//! process. On one Tokio runtime the CPU work starves the I/O: a `/health`
//! probe waits behind chunks of number crunching. A *dedicated executor* runs
//! the CPU jobs on threads of its own, at lower OS priority, so that the I/O
//! runtime stays responsive.
//!
//! This crate is what users depend on: the [`Executor`] trait, the
//! [`JobHandle`] it returns, the [`JobError`] it resolves to, and
//! [`AnyExecutor`] for a backend chosen at run time. Pick a backend crate
//! (`executor-tokio`) to build one.
//!
//! ```
//! use executor_api::{Executor, JobError};
//! use executor_tokio::DedicatedExecutor;
//!
//! let executor = DedicatedExecutor::builder().name("cpu").build()?;
//!
//! // A CPU closure, with a token to check for cancellation between chunks.
//! let sum = executor.spawn_cpu(|cancel| {
//!     (0..1_000_000u64).take_while(|_| !cancel.is_cancelled()).sum::<u64>()
//! });
//! // An async job: it can await, spawn and stream.
//! let answer = executor.spawn(async { 6 * 7 });
//!
//! // Handles are futures: await them from any runtime, or block on them.
//! assert_eq!(futures::executor::block_on(sum)?, 499_999_500_000);
//! assert_eq!(futures::executor::block_on(answer)?, 42);
//!
//! // A panic is the job's error, not the executor's.
//! let err = futures::executor::block_on(executor.spawn_cpu(|_| -> u8 { panic!("boom") }));
//! assert_eq!(err, Err(JobError::Panicked { message: "boom".into() }));
//!
//! executor.shutdown();
//! futures::executor::block_on(executor.join());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! | event | what happens |
//! |---|---|
//! | handle dropped | the job is cancelled: not started, it never runs; a running future is dropped at its next `.await`; a running closure sees its [`CancelToken`] set |
//! | [`JobHandle::detach`] | the job runs to completion, unobserved |
//! | panic in a job | the handle resolves to [`JobError::Panicked`] with the message; the worker and the executor keep running |
//! | [`Executor::shutdown`] | new jobs are rejected with [`JobError::ShutDown`]; queued and running jobs finish |
//! | [`Executor::shutdown_now`] | new jobs rejected; queued and running jobs resolve to [`JobError::Cancelled`] at their next `.await` |
//! | [`Executor::shutdown_timeout`] | graceful, then immediate at the deadline |
//! | [`Executor::join`] | resolves once every job has ended and every thread has exited |
//! | last clone dropped | graceful shutdown in the background; never blocks, never panics, even inside an async task |
//!
//! # Crate layout
//!
//! - [`Executor`], [`AnyExecutor`]: using an executor; [`JobBuilder`] for
//!   named jobs.
//! - [`Builder`], [`Priority`]: configuring one, the same for every
//!   backend.
//! - [`WorkloadClass`]: kinds of work that share the CPU by weight, with
//!   caps and bounded admission; [`JobGroup`], the jobs of one query or
//!   request, which share their class by the CPU time each group has used;
//!   [`yield_if_needed`] for long jobs to take part.
//! - [`JobHandle`], [`CancelToken`], [`JobError`], [`Metrics`],
//!   [`ClassMetrics`]: a job's life and the executor's figures.
//! - [`JobStream`]: a stream produced by a job, consumed anywhere
//!   ([`Executor::spawn_stream`]).
//! - `prometheus` (with the `prometheus` feature): the figures in the
//!   Prometheus text format, for your own `/metrics`.
//! - [`io`]: I/O from inside jobs, on the executor's registered I/O runtime.
//! - [`backend`]: for backend authors: what a backend implements, the
//!   lifecycle engine and shutdown driver every backend shares, and the
//!   hang [`Watchdog`](backend::Watchdog).
//!
//! Built with `--cfg executor_loom`, the lifecycle runs on loom's
//! primitives, and this crate's loom models check it (`cargo xtask test`).

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
mod config;
mod contain;
mod error;
mod executor;
pub mod io;
mod job;
pub mod latency;
mod lifecycle;
mod metrics;
mod sched;
mod sync;

#[cfg(feature = "prometheus")]
pub use crate::metrics::prometheus;

pub use crate::config::builder::Builder;
pub use crate::config::priority::Priority;
pub use crate::error::{
    BuildError, JobError, NON_STRING_PANIC, Overload, validate_name, validate_nice,
};
pub use crate::executor::{AnyExecutor, Executor};
pub use crate::job::builder::JobBuilder;
pub use crate::job::cancel::CancelToken;
pub use crate::job::handle::JobHandle;
pub use crate::job::scope::{Attributed, JobScope};
pub use crate::job::slice::{should_yield, yield_if_needed};
pub use crate::job::stream::JobStream;
pub use crate::lifecycle::core::Join;
pub use crate::metrics::histogram::DurationHistogram;
pub use crate::metrics::{ClassMetrics, Metrics};
pub use crate::sched::class::{DEFAULT_CAP_WINDOW, DEFAULT_CLASS, WorkloadClass};
pub use crate::sched::group::{GroupMetrics, JobGroup};
pub use crate::sched::time_sharing::GROUP_LEVELS;

/// The README's example, compiled and run as a doc test so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
