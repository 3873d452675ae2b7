//! `cargo xtask bench [--quick] [--out DIR] [...]`: the benchmark scenarios
//! and their report.

use std::path::PathBuf;

use crate::cmd::{self, cargo};

/// Builds the benchmarks in release mode and runs them, writing
/// `target/bench/report.{json,md}` and the SVG plots. The arguments go to
/// the benchmark binary, which validates them (`--help` lists them).
///
/// The workspace builds with `--cfg tokio_unstable` (tokio-console), which
/// makes every Tokio task bigger and Tokio's spawn path slower. So that the
/// memory and overhead figures also compare against what most users build,
/// those sections first run from a build without it (its own target
/// directory, `target/stable`, so that neither build invalidates the
/// other), and their figures join the report.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let out = out_dir(args);
    let mut main_args = args.to_vec();
    if wants_per_job_sections(args) {
        let stable_out = out.join("without-tokio-unstable");
        cmd::run(
            "benchmarks: memory and overhead, built without tokio_unstable (release build)",
            cargo()
                .env("RUSTFLAGS", "")
                .env(
                    "CARGO_TARGET_DIR",
                    cmd::workspace_root().join("target/stable"),
                )
                .args(["run", "--release", "--locked", "--package", "bench", "--"])
                .args(args.iter().filter(|arg| *arg == "--quick"))
                .args(["--only", "memory,overhead", "--out"])
                .arg(&stable_out),
        )?;
        main_args.push("--without-tokio-unstable".into());
        main_args.push(stable_out.join("report.json").display().to_string());
    }
    cmd::run(
        "benchmarks (release build)",
        cargo()
            .args(["run", "--release", "--locked", "--package", "bench", "--"])
            .args(&main_args),
    )
}

/// The report directory the benchmark will write to.
fn out_dir(args: &[String]) -> PathBuf {
    let mut out = None;
    for (i, arg) in args.iter().enumerate() {
        if let Some(dir) = arg.strip_prefix("--out=") {
            out = Some(dir.to_owned());
        } else if arg == "--out" {
            out = args.get(i + 1).cloned();
        }
    }
    let out = PathBuf::from(out.unwrap_or_else(|| "target/bench".to_owned()));
    if out.is_absolute() {
        out
    } else {
        cmd::workspace_root().join(out)
    }
}

/// Whether the run includes the memory or the overhead section (`--only`
/// may leave both out).
fn wants_per_job_sections(args: &[String]) -> bool {
    let mut only: Option<&str> = None;
    for (i, arg) in args.iter().enumerate() {
        if let Some(list) = arg.strip_prefix("--only=") {
            only = Some(list);
        } else if arg == "--only" {
            only = args.get(i + 1).map(String::as_str);
        }
    }
    only.is_none_or(|list| {
        list.split(',')
            .any(|section| section == "memory" || section == "overhead")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn the_stable_build_runs_unless_only_leaves_out_memory_and_overhead() {
        assert!(wants_per_job_sections(&args(&["--quick"])));
        assert!(wants_per_job_sections(&args(&["--only", "scaling,memory"])));
        assert!(wants_per_job_sections(&args(&["--only=overhead"])));
        assert!(!wants_per_job_sections(&args(&["--only", "latency"])));
        assert!(!wants_per_job_sections(&args(&["--only=latency,shutdown"])));
    }

    #[test]
    fn the_stable_report_goes_under_the_output_directory() {
        assert!(out_dir(&args(&[])).ends_with("target/bench"));
        assert!(out_dir(&args(&["--out", "/tmp/b"])).ends_with("/tmp/b"));
        assert!(out_dir(&args(&["--out=x/y"])).ends_with("x/y"));
    }
}
