//! `cargo xtask demo [ARGS]`: the demo service, or `--load` for the
//! comparison table.

use crate::cmd::{self, cargo};

/// Builds the demo in release mode (the kernels are slow without
/// optimisation) and runs it; the arguments go to the demo, which
/// validates them (`--help` lists them), except `--datafusion`, which
/// builds it with its `datafusion` feature (`/sql`; a long first build).
///
/// With `--console` (or `DEMO_CONSOLE` set), the demo is built with
/// `--cfg tokio_unstable`, which Tokio's task instrumentation needs, in a
/// target directory of its own (`target/unstable`, so that neither build
/// invalidates the other).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let datafusion = args.iter().any(|arg| arg == "--datafusion");
    let console = args.iter().any(|arg| arg == "--console")
        || std::env::var_os("DEMO_CONSOLE").is_some_and(|v| v != "0");
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
        with_tokio_unstable(cargo(), console)
            .args(["run", "--release", "--locked", "--package", "demo"])
            .args(features)
            .arg("--")
            .args(args.iter().filter(|arg| *arg != "--datafusion")),
    )
}

/// `command` built with `--cfg tokio_unstable` in `target/unstable`, if
/// `unstable`; unchanged otherwise.
pub(crate) fn with_tokio_unstable(
    mut command: std::process::Command,
    unstable: bool,
) -> std::process::Command {
    if unstable {
        command
            .env("RUSTFLAGS", "--cfg tokio_unstable")
            .env("RUSTDOCFLAGS", "--cfg tokio_unstable")
            .env(
                "CARGO_TARGET_DIR",
                cmd::workspace_root().join("target/unstable"),
            );
    }
    command
}
