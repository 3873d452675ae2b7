//! CPU kernels of an analytics engine, over deterministic generated rows.
//!
//! [`Kernel`] names four: hash group-by aggregation, sort, varint encoding
//! and a row checksum. [`GroupBy`] also merges partial aggregates into the
//! full result.
//!
//! Each kernel processes a table in chunks of rows. Every chunk is
//! generated from `(seed, chunk index)` alone, so chunks can run in any
//! order, on any thread, and the merged result (and its checksum) is the same
//! as a serial run. Tests use the checksum to prove that an executor ran
//! every chunk exactly once.
//!
//! ```
//! use workload::{GroupBy, Table};
//!
//! let table = Table::new(42, 100_000, 10_000);
//! let serial = GroupBy::run_serial(&table);
//!
//! // The same work, chunk by chunk, merged in another order.
//! let mut merged = GroupBy::default();
//! for chunk in (0..table.chunks()).rev() {
//!     merged.merge(GroupBy::aggregate(&table.chunk(chunk)));
//! }
//! assert_eq!(merged.checksum(), serial.checksum());
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod group_by;
mod kernel;
mod table;

pub use crate::group_by::{Group, GroupBy};
pub use crate::kernel::{Kernel, UnknownKernel, YieldNow, decode_values, encode_values, yield_now};
pub use crate::table::{Chunk, DEFAULT_CARDINALITY, Table};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
