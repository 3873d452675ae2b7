//! Benchmarks of the dedicated executors against the baselines users would
//! otherwise use, side by side in one run: overhead per job, scaling,
//! tail latency of an I/O probe under CPU load, shutdown, memory,
//! workload classes against the designs built by hand, and job groups
//! (short queries beside long ones) against first come, first served.
//!
//! `cargo xtask bench [--quick]` runs the fixed set of scenarios and writes
//! `target/bench/report.json`, `report.md` and SVG plots; `cargo bench -p
//! bench` runs the Criterion overhead benchmarks.
//!
//! ```
//! use bench::subjects::Subject;
//!
//! let subject = Subject::new("executor_tokio", 1);
//! let value = subject.block_on(subject.submit(7).value());
//! assert_eq!(value, bench::subjects::work(7));
//! subject.finish();
//! ```

#![deny(missing_docs)]

pub mod backend;
pub mod classes;
pub mod groups;
pub mod latency;
pub mod memory;
pub mod overhead;
pub mod report;
pub mod scaling;
pub mod shutdown;
pub mod subjects;
pub mod svg;
