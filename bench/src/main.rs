//! `cargo xtask bench [--quick]`: runs every benchmark scenario and writes
//! the report. See the `bench` library for what each section measures.

use std::alloc::System;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::backend::{Backend, Priority};
use bench::latency::{self, Chunks};
use bench::overhead::{self, Sizes};
use bench::report::{self, Results};
use bench::{classes, groups, memory, scaling, shutdown};
use clap::Parser;
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use workload::{Kernel, Table};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Benchmarks of the dedicated executors against their baselines.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// A short run (under 3 minutes on 2 cores) for smoke checks; figures
    /// are noisier.
    #[arg(long)]
    quick: bool,
    /// Where to write report.json, report.md and the plots.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Run only these sections (comma-separated): overhead, memory,
    /// scaling, latency, shutdown, classes, groups. Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Section>,
    /// The report.json of a memory and overhead run of this benchmark
    /// built without `--cfg tokio_unstable` (as `cargo xtask bench` does
    /// first): its figures join this report, beside this build's.
    #[arg(long)]
    without_tokio_unstable: Option<PathBuf>,
    /// Run only the latency scenarios whose name contains one of these
    /// (comma-separated), besides `unloaded`: for example `tokio` or
    /// `steady/idle`.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Seconds each latency scenario runs per round (default: 3, or 0.5
    /// with --quick).
    #[arg(long)]
    latency_secs: Option<f64>,
    /// Interleaved rounds of the latency scenarios (default: 3).
    #[arg(long)]
    latency_rounds: Option<usize>,
    /// In the latency section, measure with the I/O runtime's threads and
    /// the probing thread at the kernel's default time slice (`without`),
    /// with a short one (`with`: `executor_api::latency`, Linux 6.12+, what
    /// a service that marks its latency-sensitive threads gets), or both,
    /// side by side.
    #[arg(long, value_enum, default_value = "both")]
    io_slice: latency::IoSlice,
}

/// A section of the report.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Overhead,
    Memory,
    Scaling,
    Latency,
    Shutdown,
    Classes,
    Groups,
}

/// How big each section is.
struct Plan {
    overhead: Sizes,
    memory_jobs: u64,
    scaling_chunks: usize,
    scaling_rounds: usize,
    latency: Duration,
    latency_rounds: usize,
    drain_jobs: u64,
    cancel_jobs: u64,
    group_cost_jobs: usize,
}

const QUICK: Plan = Plan {
    overhead: Sizes {
        sequential: 2_000,
        batch: 20_000,
        rounds: 3,
    },
    memory_jobs: 10_000,
    scaling_chunks: 24,
    scaling_rounds: 3,
    latency: Duration::from_millis(500),
    latency_rounds: 3,
    drain_jobs: 10_000,
    cancel_jobs: 1_000,
    group_cost_jobs: 20_000,
};

const FULL: Plan = Plan {
    overhead: Sizes {
        sequential: 20_000,
        batch: 200_000,
        rounds: 7,
    },
    memory_jobs: 50_000,
    scaling_chunks: 96,
    scaling_rounds: 5,
    latency: Duration::from_secs(3),
    latency_rounds: 3,
    drain_jobs: 100_000,
    cancel_jobs: 10_000,
    group_cost_jobs: 100_000,
};

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = if args.quick { QUICK } else { FULL };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let mut progress = |what: &str| eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());

    let wants = |section: Section| args.only.is_empty() || args.only.contains(&section);

    progress("workload: serial time per chunk");
    let chunk_ms: Vec<(&'static str, usize, f64)> = Kernel::ALL
        .iter()
        .map(|&kernel| {
            let rows = kernel.default_chunk_rows();
            let table = Table::new(1, rows * 8, rows);
            let per_chunk = scaling::serial_time(kernel, &table, 3).as_secs_f64() / 8.0;
            (kernel.name(), rows, per_chunk * 1_000.0)
        })
        .collect();

    let (overhead, overhead_with_subscriber) = if wants(Section::Overhead) {
        progress("overhead: every subject");
        let plain = overhead::measure_all(cores, plan.overhead, &mut progress);
        let traced = overhead::measure_with_subscriber(cores, plan.overhead, &mut progress);
        (plain, traced)
    } else {
        (Vec::new(), Vec::new())
    };
    let memory = if wants(Section::Memory) {
        memory::measure_all(GLOBAL, cores, plan.memory_jobs, &mut progress)
    } else {
        Vec::new()
    };
    let stable = match &args.without_tokio_unstable {
        Some(path) => match report::read_other_run(path) {
            Ok(run) => run,
            Err(err) => {
                eprintln!("bench: {err}");
                return ExitCode::FAILURE;
            }
        },
        None => report::OtherRun {
            memory: Vec::new(),
            overhead: Vec::new(),
        },
    };

    let kernel = Kernel::GroupBy;
    let scaling = if wants(Section::Scaling) {
        let rows = kernel.default_chunk_rows();
        let table = Table::new(7, rows * plan.scaling_chunks, rows);
        progress("scaling: serial baseline");
        let serial = scaling::serial_time(kernel, &table, plan.scaling_rounds);
        Backend::ALL
            .iter()
            .map(|&backend| {
                (
                    backend.name(),
                    scaling::measure(
                        backend,
                        kernel,
                        &table,
                        serial,
                        cores,
                        plan.scaling_rounds,
                        &mut progress,
                    ),
                )
            })
            .collect()
    } else {
        Vec::new()
    };

    let latency = if wants(Section::Latency) {
        progress("latency: sizing the chunks");
        let chunks = Chunks::calibrate(kernel);
        let priorities = [Priority::DEFAULT, Priority::Nice(19), Priority::Idle];
        let scenarios: Vec<_> = latency::scenarios(&priorities, args.io_slice)
            .into_iter()
            .filter(|scenario| {
                let name = scenario.name();
                args.scenarios.is_empty()
                    || scenario.load == latency::Load::Unloaded
                    || args
                        .scenarios
                        .iter()
                        .any(|part| name.contains(part.as_str()))
            })
            .collect();
        let duration = args
            .latency_secs
            .map_or(plan.latency, Duration::from_secs_f64);
        let rounds = args.latency_rounds.unwrap_or(plan.latency_rounds).max(1);
        let summaries =
            latency::measure_all(&scenarios, cores, duration, rounds, &chunks, &mut progress);
        Some((chunks, summaries))
    } else {
        None
    };

    let shutdown = if wants(Section::Shutdown) {
        Backend::ALL
            .iter()
            .map(|&backend| {
                progress(&format!("shutdown: {}", backend.name()));
                (
                    backend.name(),
                    shutdown::measure(backend, cores, plan.drain_jobs, plan.cancel_jobs),
                )
            })
            .collect()
    } else {
        Vec::new()
    };

    let classes = if wants(Section::Classes) {
        let duration = args
            .latency_secs
            .map_or(plan.latency, Duration::from_secs_f64);
        let rounds = args.latency_rounds.unwrap_or(plan.latency_rounds).max(1);
        Some(classes::measure_all(cores, duration, rounds, &mut progress))
    } else {
        None
    };

    let groups = if wants(Section::Groups) {
        let duration = args
            .latency_secs
            .map_or(plan.latency, Duration::from_secs_f64);
        let rounds = args.latency_rounds.unwrap_or(plan.latency_rounds).max(1);
        Some(groups::measure_all(
            cores,
            duration,
            rounds,
            plan.group_cost_jobs,
            &mut progress,
        ))
    } else {
        None
    };

    let results = Results {
        quick: args.quick,
        machine: machine(cores),
        chunk_ms,
        overhead,
        overhead_with_subscriber,
        scaling,
        latency,
        shutdown,
        classes,
        groups,
        memory,
        memory_without_tokio_unstable: stable.memory,
        overhead_without_tokio_unstable: stable.overhead,
        tokio_unstable: cfg!(tokio_unstable),
    };
    if let Err(err) = results.write(&args.out) {
        eprintln!(
            "bench: could not write the report to {}: {err}",
            args.out.display()
        );
        return ExitCode::FAILURE;
    }
    progress(&format!("done: {}", args.out.join("report.md").display()));
    for (target, measured, met) in results.targets() {
        eprintln!(
            "  {} {target}: {measured}",
            if met { "met   " } else { "MISSED" }
        );
    }
    ExitCode::SUCCESS
}

/// What the figures were measured on.
fn machine(cores: usize) -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| format!("Linux {}", release.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_owned());
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown rustc".to_owned());
    json!({"cores": cores, "cpu": cpu, "os": os, "rustc": rustc})
}
