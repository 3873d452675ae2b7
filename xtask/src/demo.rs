//! `cargo xtask demo [ARGS]`: the demo service, or `--load` for the
//! comparison table.

use crate::cmd::{self, cargo};

/// Builds the demo in release mode (the kernels are slow without
/// optimisation) and runs it; the arguments go to the demo, which
/// validates them (`--help` lists them).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    cmd::run(
        "demo (release build)",
        cargo()
            .args(["run", "--release", "--locked", "--package", "demo", "--"])
            .args(args),
    )
}
