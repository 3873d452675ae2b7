//! `cargo xtask bench [--quick] [--out DIR] [...]`: the benchmark scenarios
//! and their report.

use crate::cmd::{self, cargo};

/// Builds the benchmarks in release mode and runs them, writing
/// `target/bench/report.{json,md}` and the SVG plots. The arguments go to
/// the benchmark binary, which validates them (`--help` lists them).
///
/// Built as users build (no `--cfg tokio_unstable`): every figure is the
/// stable build's.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    cmd::run(
        "benchmarks (release build)",
        cargo()
            .args(["run", "--release", "--locked", "--package", "bench", "--"])
            .args(args),
    )
}
