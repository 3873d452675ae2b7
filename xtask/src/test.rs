//! `cargo xtask test`: everything CI checks.

use crate::cmd::{self, cargo};

/// How hard the randomised and model-checked tests work.
struct Depth {
    /// `LOOM_MAX_PREEMPTIONS`.
    loom_preemptions: &'static str,
    /// Sequences per backend for the proptest state machine.
    proptest_cases: &'static str,
}

const QUICK: Depth = Depth {
    loom_preemptions: "2",
    proptest_cases: "256",
};

const THOROUGH: Depth = Depth {
    loom_preemptions: "3",
    proptest_cases: "10000",
};

/// Runs every check in order, stopping at the first failure.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let depth = match args {
        [] => QUICK,
        [flag] if flag == "--thorough" => THOROUGH,
        other => {
            return Err(format!(
                "`cargo xtask test` takes only `--thorough`, got {other:?}"
            ));
        }
    };
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
        cargo()
            .args([
                "nextest",
                "run",
                "--workspace",
                "--all-targets",
                "--locked",
                "--no-fail-fast",
            ])
            .env("EXECUTOR_PROPTEST_CASES", depth.proptest_cases),
    )?;
    // The lifecycle code rebuilt against loom. RUSTFLAGS replaces the
    // `build.rustflags` of .cargo/config.toml, so it carries every cfg the
    // build needs; a separate target dir keeps the main build cached.
    cmd::run(
        &format!(
            "loom models (LOOM_MAX_PREEMPTIONS={})",
            depth.loom_preemptions
        ),
        cargo()
            .args([
                "test",
                "--package",
                "executor-api",
                "--lib",
                "--release",
                "--locked",
                "--target-dir",
                "target/loom",
                "loom_models",
            ])
            .env("RUSTFLAGS", "--cfg executor_loom --cfg tokio_unstable")
            .env("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "true")
            .env("LOOM_MAX_PREEMPTIONS", depth.loom_preemptions),
    )?;
    cmd::run(
        "doc tests",
        cargo().args(["test", "--workspace", "--doc", "--locked"]),
    )?;
    cmd::run(
        "docs, warnings denied",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings --cfg tokio_unstable"),
    )?;
    eprintln!("\nxtask test: all checks passed");
    Ok(())
}
