//! Project automation, run as `cargo xtask <task>` (an alias in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask test [--thorough] [--datafusion]`: every check CI runs:
//!   format, clippy with warnings denied, the import graph, all tests (nextest, including the
//!   proptest state machine), the loom models, doc tests, docs with
//!   warnings denied, and `cargo package` of the library crates. It
//!   installs what it lacks. `--thorough` runs 10 000 state-machine
//!   sequences per backend and loom with three preemptions instead of 256
//!   and two. `--datafusion` covers `executor-datafusion` too (it builds
//!   DataFusion: about 20 minutes on 2 cores).
//! - `cargo xtask bench [--quick]`: the benchmark scenarios; writes
//!   `target/bench/report.json`, `report.md` and SVG plots.
//! - `cargo xtask demo [ARGS]`: the demo analytics service; `--load`
//!   compares the backends under load.
//! - `cargo xtask imports`: `executor-api`'s import graph, checked for
//!   circles of files and imports through re-exports (a step of `test`).

mod bench;
mod cmd;
mod demo;
mod imports;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  bench [--quick] [--out DIR]
          every benchmark scenario, side by side with the baselines; writes
          target/bench/report.json, report.md and SVG plots, from the
          build users get (--quick: a short run under 3 minutes)
  demo [--datafusion] [ARGS]
          the demo analytics service on 127.0.0.1:8080 (release build);
          --load compares /health latency under load on every backend;
          --console serves tokio-console (built with --cfg tokio_unstable
          in target/unstable); --datafusion adds /sql (builds
          DataFusion); --help lists the options
  imports
          executor-api's import graph: fails on a circle of files or an
          import through a re-export; prints the floors
  test [--thorough] [--datafusion]
          format check, clippy (-D warnings), the import graph, all tests with cargo-nextest
          (including the proptest state machine), the tests that need
          --cfg tokio_unstable in that configuration, the loom models, doc
          tests, cargo doc with warnings denied, and cargo package of the
          library crates; installs rustfmt, clippy and cargo-nextest if
          missing; --thorough runs 10000 state-machine sequences per
          backend and loom with 3 preemptions; --datafusion covers
          executor-datafusion too (a DataFusion build, about 20 minutes)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("imports") => imports::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
