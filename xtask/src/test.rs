//! `cargo xtask test`: everything CI checks.

use crate::cmd::{self, cargo};

/// Runs every check in order, stopping at the first failure.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(unknown) = args.first() {
        return Err(format!(
            "`cargo xtask test` takes no arguments, got {unknown:?}"
        ));
    }
    if !cmd::has_cargo_tool("nextest") {
        return Err(
            "cargo-nextest is not installed: run `cargo install cargo-nextest --locked` \
             (.ci/run does this on a fresh machine)"
                .to_owned(),
        );
    }

    cmd::run(
        "format check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    cmd::run(
        "clippy, warnings denied",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // One process per test: tests that count the process's threads see only
    // their own executor.
    cmd::run(
        "tests (cargo-nextest)",
        cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--all-targets",
            "--locked",
            "--no-fail-fast",
        ]),
    )?;
    cmd::run(
        "doc tests",
        cargo().args(["test", "--workspace", "--doc", "--locked"]),
    )?;
    cmd::run(
        "docs, warnings denied",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    eprintln!("\nxtask test: all checks passed");
    Ok(())
}
