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

/// The cargo-nextest a fresh machine gets: the one CI and development use,
/// so that every machine runs the tests the same way.
const NEXTEST_VERSION: &str = "0.9.143";

/// What runs the tests.
enum TestRunner {
    Nextest,
    CargoTest,
}

/// Installs what a fresh machine lacks: the rustfmt and clippy components
/// (through rustup) and cargo-nextest (built from crates.io, once). If
/// cargo-nextest cannot be installed, the tests run under `cargo test`
/// instead, and a line says so.
///
/// # Errors
///
/// When rustfmt or clippy is missing and cannot be installed.
fn set_up() -> Result<TestRunner, String> {
    for (tool, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        if cmd::has_cargo_tool(tool) {
            continue;
        }
        cmd::run(
            &format!("set-up: `cargo {tool}` is missing, adding the {component} component"),
            std::process::Command::new("rustup").args(["component", "add", component]),
        )
        .map_err(|err| {
            format!(
                "{err}\n`cargo xtask test` needs `cargo {tool}`: install the {component} \
                 component of your toolchain"
            )
        })?;
    }
    if cmd::has_cargo_tool("nextest") {
        return Ok(TestRunner::Nextest);
    }
    let installed = cmd::run(
        "set-up: cargo-nextest is missing, installing it (once: a few minutes)",
        cargo().args([
            "install",
            "cargo-nextest",
            "--locked",
            "--version",
            NEXTEST_VERSION,
        ]),
    );
    match installed {
        Ok(()) if cmd::has_cargo_tool("nextest") => Ok(TestRunner::Nextest),
        Ok(()) => {
            eprintln!(
                "xtask: cargo-nextest was installed but `cargo nextest` does not run \
                 (is ~/.cargo/bin on PATH?): running the tests with `cargo test`"
            );
            Ok(TestRunner::CargoTest)
        }
        Err(err) => {
            eprintln!("xtask: {err}: running the tests with `cargo test` instead");
            Ok(TestRunner::CargoTest)
        }
    }
}

/// The crate that depends on DataFusion: a long build, left out unless
/// `--datafusion` asks for it.
const DATAFUSION_CRATE: &str = "executor-datafusion";

/// Runs every check in order, stopping at the first failure.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut depth = QUICK;
    let mut datafusion = false;
    for arg in args {
        match arg.as_str() {
            "--thorough" => depth = THOROUGH,
            "--datafusion" => datafusion = true,
            other => {
                return Err(format!(
                    "`cargo xtask test` takes `--thorough` and `--datafusion`, got {other:?}"
                ));
            }
        }
    }
    // Every workspace-wide step covers the DataFusion crate only when
    // asked: it builds DataFusion (about 20 minutes on 2 cores).
    let workspace: &[&str] = if datafusion {
        &["--workspace", "--features", "demo/datafusion"]
    } else {
        &["--workspace", "--exclude", DATAFUSION_CRATE]
    };
    let runner = set_up()?;

    cmd::run(
        "format check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    cmd::run(
        "clippy, warnings denied",
        cargo().args(["clippy"]).args(workspace).args([
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    println!("xtask: import graph of executor-api");
    crate::imports::run(&[])?;
    let (step, runner_args): (&str, &[&str]) = match runner {
        // One process per test: a test sees only its own executor's threads
        // and is killed alone if it hangs.
        TestRunner::Nextest => ("tests (cargo-nextest)", &["nextest", "run"]),
        // Every test names its executor's threads uniquely, so tests that
        // share a process do not see each other's threads.
        TestRunner::CargoTest => (
            "tests (cargo test: cargo-nextest is not available)",
            &["test"],
        ),
    };
    cmd::run(
        step,
        cargo()
            .args(runner_args)
            .args(workspace)
            .args(["--all-targets", "--locked", "--no-fail-fast"])
            .env("EXECUTOR_PROPTEST_CASES", depth.proptest_cases),
    )?;
    // The tests that need Tokio's instrumentation (tokio-console, the
    // injection count), in the configuration that has it: built with
    // `--cfg tokio_unstable` in a target dir of its own. Everything else
    // ran above in the build users get (the filters keep the rest of these
    // two files out: their stress tests alone took half a minute again).
    cmd::run(
        "tests that need tokio_unstable (tokio-console), in that configuration",
        crate::demo::with_tokio_unstable(cargo(), true)
            .args(runner_args)
            .args(["--package", "demo", "--package", "executor-tokio"])
            .args(["--locked", "--test", "process", "--test", "tokio_backend"])
            .args(["--", "console", "never_schedules_through_tokio"]),
    )?;
    // The lifecycle code rebuilt against loom; a separate target dir keeps
    // the main build cached.
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
                "--package",
                "executor-tokio",
                "--lib",
                "--release",
                "--locked",
                "--target-dir",
                "target/loom",
                "loom_models",
            ])
            .env("RUSTFLAGS", "--cfg executor_loom")
            .env("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "true")
            .env("LOOM_MAX_PREEMPTIONS", depth.loom_preemptions),
    )?;
    cmd::run(
        "doc tests",
        cargo().args(["test", "--doc", "--locked"]).args(workspace),
    )?;
    cmd::run(
        "docs, warnings denied",
        cargo()
            .args(["doc", "--no-deps", "--locked"])
            .args(workspace)
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    forget_packaged_copies();
    // The library crates as crates.io would receive them: each packaged
    // and built alone (the workspace's own crates come from a temporary
    // local registry), so a missing file, a path-only dependency or bad
    // metadata fails here rather than at publication.
    // In a target dir of its own, so that neither build invalidates the
    // other.
    cmd::run(
        "packaging (cargo package of the library crates)",
        cargo()
            .args([
                "package",
                "--locked",
                "--allow-dirty",
                "--target-dir",
                "target/package-check",
                "--package",
                "executor-api",
                "--package",
                "executor-tokio",
                "--package",
                "executor-rayon",
            ])
            .env("RUSTFLAGS", ""),
    )?;
    if datafusion {
        // Packaged with the crates it depends on (our crates reach it
        // through cargo's temporary local registry), not rebuilt from the
        // package: verifying would build DataFusion a second time, without
        // the workspace's cache. The three above were verified.
        cmd::run(
            "packaging of the DataFusion crate (metadata and files)",
            cargo().args([
                "package",
                "--locked",
                "--allow-dirty",
                "--no-verify",
                "--target-dir",
                "target/package-check",
                "--package",
                "executor-api",
                "--package",
                "executor-tokio",
                "--package",
                "executor-rayon",
                "--package",
                DATAFUSION_CRATE,
            ]),
        )?;
    }
    eprintln!("\nxtask test: all checks passed");
    Ok(())
}

/// Removes the copies of our library crates that an earlier `cargo
/// package` extracted from its temporary local registry (under
/// `$CARGO_HOME/registry/src/-<hash>/`). Cargo extracts a crate there once
/// per version and reuses the copy: with the version unchanged, the next
/// verification would build against the old source. Only those copies of
/// our own crates are removed; a fresh machine has none.
fn forget_packaged_copies() {
    forget_packaged_builds();
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cargo"))
        });
    let Some(sources) = home.map(|home| home.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return;
    };
    for registry in registries.flatten() {
        // Local registries are named `-<hash>`; crates.io's index is not.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for krate in crates.flatten() {
            let name = krate.file_name().to_string_lossy().into_owned();
            let ours = [
                "executor-api-",
                "executor-tokio-",
                "executor-rayon-",
                "executor-datafusion-",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix));
            if ours {
                let _ = std::fs::remove_dir_all(krate.path());
            }
        }
    }
}

/// Removes what an earlier `cargo package` compiled of our library crates in
/// its target dir. Cargo fingerprints a registry crate by its version, not
/// its source: with the version unchanged, the next verification would link
/// against the old build of a crate it just repackaged.
fn forget_packaged_builds() {
    let build = crate::cmd::workspace_root().join("target/package-check/debug");
    for (dir, prefixes) in [
        (
            build.join(".fingerprint"),
            &[
                "executor-api-",
                "executor-tokio-",
                "executor-rayon-",
                "executor-datafusion-",
            ][..],
        ),
        (
            build.join("deps"),
            &[
                "libexecutor_api-",
                "libexecutor_tokio-",
                "libexecutor_rayon-",
                "libexecutor_datafusion-",
                "executor_api-",
                "executor_tokio-",
                "executor_rayon-",
                "executor_datafusion-",
            ][..],
        ),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|prefix| name.starts_with(prefix)) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}
