//! `cargo xtask demo [ARGS]`: the demo service, or `--load` for the
//! comparison table.

use crate::cmd::{self, cargo};

/// Builds the demo in release mode (the kernels are slow without
/// optimisation) and runs it; the arguments go to the demo, which
/// validates them (`--help` lists them), except `--datafusion`, which
/// builds it with its `datafusion` feature (`/sql`; a long first build).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let datafusion = args.iter().any(|arg| arg == "--datafusion");
    let features: &[&str] = if datafusion {
        &["--features", "datafusion"]
    } else {
        &[]
    };
    cmd::run(
        if datafusion {
            "demo with DataFusion (release build)"
        } else {
            "demo (release build)"
        },
        cargo()
            .args(["run", "--release", "--locked", "--package", "demo"])
            .args(features)
            .arg("--")
            .args(args.iter().filter(|arg| *arg != "--datafusion")),
    )
}
