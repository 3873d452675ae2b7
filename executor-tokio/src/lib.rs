//! A dedicated multi-thread Tokio runtime for CPU-bound async work.
//!
//! [`DedicatedExecutor`] runs jobs on worker threads of its own, at lower OS
//! priority, so that the runtime serving I/O stays responsive while the CPU
//! is saturated. It implements [`executor_api::Executor`]: the contract
//! (cancellation on drop, panics as errors, graceful, immediate and deadline
//! shutdown, `join`) is documented there and proven by `testkit`'s
//! conformance suite.
//!
//! ```
//! use executor_api::Executor;
//! use executor_tokio::DedicatedExecutor;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let cpu = DedicatedExecutor::builder().name("cpu").worker_threads(2).build()?;
//!
//! io_runtime.block_on(async {
//!     // The I/O runtime awaits CPU work without running it.
//!     let checksum = cpu
//!         .spawn_cpu(|_cancel| (0..1_000_000u64).fold(0u64, |acc, x| acc.wrapping_mul(31) ^ x))
//!         .await?;
//!     assert_ne!(checksum, 0);
//!     cpu.shutdown();
//!     cpu.join().await;
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod builder;
mod driver;
mod executor;
#[cfg(all(test, executor_loom))]
mod loom_models;
mod queue;
mod sleepers;
mod sync;

pub use crate::builder::Builder;
pub use crate::executor::DedicatedExecutor;

/// The README's example, compiled and run as a doc test so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
