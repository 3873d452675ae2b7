//! A dedicated Rayon thread pool for CPU-bound work, with an async bridge.
//!
//! [`RayonExecutor`] runs closures and futures on a Rayon pool of its own
//! (never the global one), at lower OS priority, and hands back a
//! [`JobHandle`](executor_api::JobHandle) that any async runtime can await
//! without blocking its threads. It implements [`executor_api::Executor`],
//! so it keeps the same contract as the Tokio backend, proven by the same
//! conformance suite, and fixes what the usual Rayon bridges lack:
//!
//! - a dropped handle cancels the job (a queued closure never runs, a
//!   running future is dropped at its next `.await`, a running closure sees
//!   its cancel token);
//! - a panic resolves the handle to an error; nothing aborts;
//! - `join` waits until every pool thread has exited.
//!
//! ```
//! use executor_api::Executor;
//! use executor_rayon::RayonExecutor;
//! use rayon::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let cpu = RayonExecutor::builder().name("cpu").worker_threads(2).build()?;
//!
//! io_runtime.block_on(async {
//!     let total = cpu
//!         .spawn_cpu(|_cancel| (0..1_000_000u64).into_par_iter().map(|x| x % 7).sum::<u64>())
//!         .await?;
//!     assert_eq!(total, 2_999_997);
//!     cpu.shutdown();
//!     cpu.join().await;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # When to choose Rayon over Tokio
//!
//! Choose this backend when jobs are mostly closures that use Rayon's data
//! parallelism (`par_iter`, `par_sort`, `join`, `scope`): it runs them on
//! the same pool as the job. Choose `executor-tokio` when jobs are mostly
//! async (many awaits, Tokio I/O, `tokio::spawn`, Tokio-aware libraries).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod builder;
mod driver;
mod executor;
mod gate;
mod pump;
mod queue;
mod reactor;

pub use crate::builder::Builder;
pub use crate::executor::RayonExecutor;

/// The README's example, compiled and run as a doc test so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
