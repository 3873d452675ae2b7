//! The job-groups scenario: short queries beside long ones, first come,
//! first served against time-sharing by groups, on both backends, at the
//! default settings.
//!
//! - **latency**: short groups ([`SHORT_CPU`] of CPU each, one job per
//!   worker, arriving as a Poisson process at [`SHORT_LOAD`] of the
//!   pool's CPU) beside `n` long groups ([`LONG_CPU`] each, one job per
//!   worker, in chunks of [`CHUNK`] that call `yield_if_needed`, started
//!   again as they finish so that they saturate the pool). A short group's
//!   latency runs from its submission to its last job's end, seen by the
//!   task awaiting it on an I/O runtime. Three designs in one run: the
//!   short groups alone (unloaded), every job first come, first served
//!   (no groups: today's executor), and one [`JobGroup`] per query
//!   (time-sharing). Short p50 and p99, and the long groups' throughput
//!   (the CPU their chunks ran, in cores).
//! - **fairness**: four long groups of 1, 2, 4 and 8 jobs, saturating;
//!   each group's share of the CPU their chunks ran (the threads' own
//!   clocks), as its largest distance from a fair quarter.
//! - **cost**: a batch of tiny jobs, submitted then awaited: per job,
//!   without groups, all in one group, spread over ten groups and over
//!   ten thousand live groups.
//!
//! Every measurement runs in interleaved rounds; the report gives the
//! median and the spread.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use executor_api::{AnyExecutor, Executor, JobGroup, JobHandle};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::backend::{Backend, Priority};
use crate::classes::{Used, Work, spread, spread_json, spread_text};
use crate::svg::format_value;

/// The CPU work of one short group, over all its jobs.
pub const SHORT_CPU: Duration = Duration::from_millis(5);
/// The share of the pool's CPU the short groups ask for.
pub const SHORT_LOAD: f64 = 0.2;
/// The CPU work of one long group, over all its jobs.
pub const LONG_CPU: Duration = Duration::from_secs(2);
/// The CPU work of one chunk.
pub const CHUNK: Duration = Duration::from_micros(500);
/// How many long groups run at once, per measurement.
pub const LONG_GROUPS: [usize; 2] = [4, 16];
/// The cost measurement's group counts (0: no group).
pub const COST_GROUPS: [usize; 4] = [0, 1, 10, 10_000];

/// How the latency measurement schedules its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// One short group at a time, nothing else: the service time.
    Alone,
    /// The short groups' arrivals, and nothing else.
    Unloaded,
    /// Every job first come, first served: no groups.
    Fifo,
    /// One job group per query.
    TimeSharing,
}

impl Design {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Design::Alone => "one at a time",
            Design::Unloaded => "unloaded",
            Design::Fifo => "fifo",
            Design::TimeSharing => "time-sharing",
        }
    }
}

/// One round of one latency measurement.
#[derive(Debug, Clone, Copy)]
pub struct LatencyRound {
    /// Short groups' latency, median, in µs.
    pub short_p50: f64,
    /// Short groups' latency, 99th percentile, in µs.
    pub short_p99: f64,
    /// Short groups' latency, 99.9th percentile, in µs.
    pub short_p999: f64,
    /// Short groups measured.
    pub short_count: u64,
    /// The CPU the long groups' chunks ran, in cores.
    pub long_cores: f64,
}

/// One round of the cost measurement: nanoseconds per job for each of
/// [`COST_GROUPS`].
pub type CostRound = [f64; COST_GROUPS.len()];

/// One fairness round: the largest relative distance from a fair share,
/// and each group's share (1, 2, 4 and 8 jobs).
pub type FairnessRound = (f64, [f64; 4]);

/// The section's results.
#[derive(Debug, Default)]
pub struct Groups {
    /// Per backend, per long-group count, per design: the rounds.
    pub latency: Vec<(&'static str, usize, Design, Vec<LatencyRound>)>,
    /// Per backend: the fairness rounds.
    pub fairness: Vec<(&'static str, Vec<FairnessRound>)>,
    /// Per backend: the cost rounds.
    pub cost: Vec<(&'static str, Vec<CostRound>)>,
}

/// Submits one job of `cpu` in chunks, in `group` if any.
fn chunked(
    executor: &AnyExecutor,
    group: Option<&JobGroup>,
    cpu: Duration,
    work: Work,
    used: Option<Arc<Used>>,
    stop: Arc<AtomicBool>,
) -> JobHandle<()> {
    let job = executor.job().name("bench:chunks");
    let job = match group {
        Some(group) => job.group(group),
        None => job,
    };
    job.spawn(async move {
        let mut left = cpu;
        while !left.is_zero() && !stop.load(Ordering::Relaxed) {
            let ran = work.run(CHUNK.min(left));
            left = left.saturating_sub(CHUNK);
            if let Some(used) = &used {
                used.add(ran);
            }
            executor_api::yield_if_needed().await;
        }
    })
}

/// Keeps `count` long groups running on `executor` until `stop`: one job
/// per worker each, a new group as soon as one ends.
fn run_long_groups(
    executor: &AnyExecutor,
    count: usize,
    grouped: bool,
    work: Work,
    used: &Arc<Used>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let workers = executor.worker_threads();
    (0..count)
        .map(|_| {
            let (executor, used, stop) = (executor.clone(), used.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let group = grouped.then(|| executor.group());
                    let jobs: Vec<_> = (0..workers)
                        .map(|_| {
                            chunked(
                                &executor,
                                group.as_ref(),
                                LONG_CPU / workers as u32,
                                work,
                                Some(used.clone()),
                                stop.clone(),
                            )
                        })
                        .collect();
                    for job in jobs {
                        let _ = futures::executor::block_on(job);
                    }
                }
            })
        })
        .collect()
}

/// A small deterministic generator for the arrivals (xorshift64*).
struct Arrivals(u64);

impl Arrivals {
    /// The next gap of a Poisson process of mean gap `mean`.
    fn next_gap(&mut self, mean: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        let uniform = (bits as f64 + 1.0) / (1u64 << 53) as f64;
        mean.mul_f64(-uniform.ln())
    }
}

/// One latency measurement: `design` with `long` long groups, for
/// `duration` after a warm-up.
fn latency_round(
    backend: Backend,
    cores: usize,
    design: Design,
    long: usize,
    duration: Duration,
    work: Work,
) -> LatencyRound {
    let executor = backend.build(cores, Priority::DEFAULT);
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("build the I/O runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let long_used = Arc::new(Used::default());
    let longs = if matches!(design, Design::Alone | Design::Unloaded) {
        Vec::new()
    } else {
        run_long_groups(
            &executor,
            long,
            design == Design::TimeSharing,
            work,
            &long_used,
            &stop,
        )
    };
    // The long groups fall to their levels first.
    std::thread::sleep(Duration::from_millis(300));
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
    ));
    if design == Design::Alone {
        let started = Instant::now();
        while started.elapsed() < duration {
            let submitted = Instant::now();
            let group = executor.group();
            let jobs: Vec<_> = (0..cores)
                .map(|_| {
                    let stop = Arc::new(AtomicBool::new(false));
                    chunked(
                        &executor,
                        Some(&group),
                        SHORT_CPU / cores as u32,
                        work,
                        None,
                        stop,
                    )
                })
                .collect();
            for job in jobs {
                let _ = io.block_on(job);
            }
            let micros = submitted.elapsed().as_micros() as u64;
            histogram
                .lock()
                .expect("the histogram")
                .saturating_record(micros.max(1));
        }
    }
    let duration = if design == Design::Alone {
        Duration::ZERO
    } else {
        duration
    };
    let mean_gap = SHORT_CPU.div_f64(SHORT_LOAD * cores as f64);
    let mut arrivals = Arrivals(0x5eed_1234_abcd_0001 ^ long as u64);
    let long_before = long_used.get();
    let started = Instant::now();
    let mut next = started;
    let mut waiting = Vec::new();
    while next < started + duration {
        if let Some(left) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
        let submitted = Instant::now();
        let group = (design != Design::Fifo).then(|| executor.group());
        let jobs: Vec<_> = (0..cores)
            .map(|_| {
                chunked(
                    &executor,
                    group.as_ref(),
                    SHORT_CPU / cores as u32,
                    work,
                    None,
                    Arc::new(AtomicBool::new(false)),
                )
            })
            .collect();
        let histogram = histogram.clone();
        waiting.push(io.spawn(async move {
            for job in jobs {
                let _ = job.await;
            }
            let micros = submitted.elapsed().as_micros() as u64;
            histogram
                .lock()
                .expect("the histogram")
                .saturating_record(micros.max(1));
        }));
        next += arrivals.next_gap(mean_gap);
    }
    let wall = started.elapsed().max(Duration::from_nanos(1));
    let long_cores = long_used.get().saturating_sub(long_before).as_secs_f64() / wall.as_secs_f64();
    for task in waiting {
        io.block_on(task).expect("a short group's waiter");
    }
    stop.store(true, Ordering::Relaxed);
    for long in longs {
        long.join().expect("a long group's thread");
    }
    executor.shutdown();
    futures::executor::block_on(executor.join());
    let histogram = histogram.lock().expect("the histogram");
    LatencyRound {
        short_p50: histogram.value_at_quantile(0.5) as f64,
        short_p99: histogram.value_at_quantile(0.99) as f64,
        short_p999: histogram.value_at_quantile(0.999) as f64,
        short_count: histogram.len(),
        long_cores,
    }
}

/// One fairness round: four saturating groups of 1, 2, 4 and 8 jobs;
/// each one's share, and the largest relative distance from a quarter.
fn fairness_round(
    backend: Backend,
    cores: usize,
    duration: Duration,
    work: Work,
) -> (f64, [f64; 4]) {
    let executor = backend.build(cores, Priority::DEFAULT);
    let stop = Arc::new(AtomicBool::new(false));
    let used: [Arc<Used>; 4] = std::array::from_fn(|_| Arc::new(Used::default()));
    let groups: Vec<JobGroup> = (0..4).map(|_| executor.group()).collect();
    let mut jobs = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        for _ in 0..1usize << index {
            jobs.push(chunked(
                &executor,
                Some(group),
                Duration::from_secs(3_600),
                work,
                Some(used[index].clone()),
                stop.clone(),
            ));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let before: Vec<Duration> = used.iter().map(|used| used.get()).collect();
    std::thread::sleep(duration);
    let gained: Vec<f64> = used
        .iter()
        .zip(before)
        .map(|(used, before)| used.get().saturating_sub(before).as_secs_f64())
        .collect();
    stop.store(true, Ordering::Relaxed);
    for job in jobs {
        let _ = futures::executor::block_on(job);
    }
    executor.shutdown();
    futures::executor::block_on(executor.join());
    let total: f64 = gained.iter().sum();
    let shares: [f64; 4] = std::array::from_fn(|index| gained[index] / total);
    let worst = shares
        .iter()
        .map(|share| (share - 0.25).abs() / 0.25)
        .fold(0.0, f64::max);
    (worst, shares)
}

/// One cost round: nanoseconds per tiny job for each of [`COST_GROUPS`],
/// `jobs` jobs each.
fn cost_round(backend: Backend, cores: usize, jobs: usize) -> CostRound {
    let executor = backend.build(cores, Priority::DEFAULT);
    let mut costs = [0.0; COST_GROUPS.len()];
    for (slot, &count) in COST_GROUPS.iter().enumerate() {
        let groups: Vec<JobGroup> = (0..count).map(|_| executor.group()).collect();
        let started = Instant::now();
        let handles: Vec<_> = (0..jobs)
            .map(|job| {
                let builder = executor.job();
                let builder = match groups.get(job % count.max(1)) {
                    Some(group) => builder.group(group),
                    None => builder,
                };
                builder.spawn_cpu(move |_| std::hint::black_box(job))
            })
            .collect();
        for handle in handles {
            futures::executor::block_on(handle).expect("a tiny job");
        }
        costs[slot] = started.elapsed().as_nanos() as f64 / jobs as f64;
    }
    executor.shutdown();
    futures::executor::block_on(executor.join());
    costs
}

/// Runs every measurement on both backends, `rounds` interleaved rounds.
pub fn measure_all(
    cores: usize,
    duration: Duration,
    rounds: usize,
    cost_jobs: usize,
    progress: &mut dyn FnMut(&str),
) -> Groups {
    progress("groups: calibrating the work");
    let work = Work::calibrate();
    let mut results = Groups::default();
    for backend in Backend::ALL {
        for long in LONG_GROUPS {
            for design in [
                Design::Alone,
                Design::Unloaded,
                Design::Fifo,
                Design::TimeSharing,
            ] {
                if matches!(design, Design::Alone | Design::Unloaded) && long != LONG_GROUPS[0] {
                    continue;
                }
                results
                    .latency
                    .push((backend.name(), long, design, Vec::new()));
            }
        }
        results.fairness.push((backend.name(), Vec::new()));
        results.cost.push((backend.name(), Vec::new()));
    }
    for round in 0..rounds {
        for (index, backend) in Backend::ALL.into_iter().enumerate() {
            progress(&format!(
                "groups: {} round {}/{rounds}",
                backend.name(),
                round + 1
            ));
            for (name, long, design, rounds) in &mut results.latency {
                if *name == backend.name() {
                    rounds.push(latency_round(
                        backend, cores, *design, *long, duration, work,
                    ));
                }
            }
            results.fairness[index]
                .1
                .push(fairness_round(backend, cores, duration, work));
            results.cost[index]
                .1
                .push(cost_round(backend, cores, cost_jobs));
        }
    }
    results
}

impl Groups {
    fn rounds(&self, backend: &str, long: usize, design: Design) -> Option<&[LatencyRound]> {
        self.latency
            .iter()
            .find(|(name, count, which, _)| {
                *name == backend
                    && *which == design
                    && (matches!(design, Design::Alone | Design::Unloaded) || *count == long)
            })
            .map(|(_, _, _, rounds)| rounds.as_slice())
    }

    fn median(
        &self,
        backend: &str,
        long: usize,
        design: Design,
        figure: fn(&LatencyRound) -> f64,
    ) -> f64 {
        self.rounds(backend, long, design)
            .map_or(f64::NAN, |rounds| spread(rounds.iter().map(figure)).median)
    }

    /// The report.json section.
    pub fn to_json(&self) -> Value {
        let latency: Vec<Value> = self
            .latency
            .iter()
            .map(|(backend, long, design, rounds)| {
                let figure =
                    |f: fn(&LatencyRound) -> f64| spread_json(spread(rounds.iter().map(f)));
                json!({
                    "backend": backend,
                    "long_groups": if matches!(design, Design::Alone | Design::Unloaded) { 0 } else { *long },
                    "design": design.name(),
                    "short_p50_us": figure(|r| r.short_p50),
                    "short_p99_us": figure(|r| r.short_p99),
                    "short_p999_us": figure(|r| r.short_p999),
                    "short_count": figure(|r| r.short_count as f64),
                    "long_cores": figure(|r| r.long_cores),
                })
            })
            .collect();
        let fairness: Vec<Value> = self
            .fairness
            .iter()
            .map(|(backend, rounds)| {
                let shares: Vec<Value> = [1, 2, 4, 8]
                    .iter()
                    .enumerate()
                    .map(|(index, jobs)| {
                        json!({"jobs": jobs, "share": spread_json(spread(rounds.iter().map(|r| r.1[index])))})
                    })
                    .collect();
                json!({
                    "backend": backend,
                    "worst_distance_from_fair": spread_json(spread(rounds.iter().map(|r| r.0))),
                    "shares_by_jobs": shares,
                })
            })
            .collect();
        let cost: Vec<Value> = self
            .cost
            .iter()
            .map(|(backend, rounds)| {
                let costs: Vec<Value> = COST_GROUPS
                    .iter()
                    .enumerate()
                    .map(|(index, groups)| {
                        json!({"groups": groups, "ns": spread_json(spread(rounds.iter().map(|r| r[index])))})
                    })
                    .collect();
                json!({"backend": backend, "ns_per_job": costs})
            })
            .collect();
        json!({
            "short_cpu_ms": SHORT_CPU.as_secs_f64() * 1e3,
            "short_load": SHORT_LOAD,
            "long_cpu_s": LONG_CPU.as_secs_f64(),
            "chunk_us": CHUNK.as_micros() as u64,
            "rounds": self.fairness.first().map_or(0, |(_, r)| r.len()),
            "latency": latency,
            "fairness": fairness,
            "cost": cost,
        })
    }

    /// The report's section in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "## Job groups: short queries beside long ones\n\nShort groups of {} ms of CPU (one job \
             per worker, chunks of {} µs) arrive as a Poisson process at {:.0} % of the pool's CPU \
             beside long groups of {} s each that saturate the rest; default settings. Short latency \
             from submission to the last job's end, in µs; the long groups' throughput in cores. \
             *One at a time*: a short group alone, the next submitted when it ends (the service \
             time); *unloaded*: the short groups' own arrivals without the long groups (their \
             bursts queue behind each other), the target's reference. \
             Median (smallest–largest) over {} interleaved rounds.\n",
            SHORT_CPU.as_millis(),
            CHUNK.as_micros(),
            SHORT_LOAD * 100.0,
            LONG_CPU.as_secs(),
            self.fairness.first().map_or(0, |(_, r)| r.len()),
        );
        let _ = writeln!(
            md,
            "| backend | long groups | design | short p50 | short p99 | short p99.9 | p99 ÷ unloaded p99 | p99 ÷ one at a time | long throughput (cores) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for (backend, long, design, rounds) in &self.latency {
            let figure = |f: fn(&LatencyRound) -> f64| spread_text(spread(rounds.iter().map(f)));
            let unloaded = self.median(backend, *long, Design::Unloaded, |r| r.short_p99);
            let alone = self.median(backend, *long, Design::Alone, |r| r.short_p99);
            let p99 = spread(rounds.iter().map(|r| r.short_p99)).median;
            let (ratio, alone_ratio) = (p99 / unloaded, p99 / alone);
            let (long_text, long_cores) = if matches!(design, Design::Alone | Design::Unloaded) {
                ("0".to_owned(), "–".to_owned())
            } else {
                (long.to_string(), figure(|r| r.long_cores))
            };
            let _ = writeln!(
                md,
                "| {backend} | {long_text} | {} | {} | {} | {} | {} | {} | {long_cores} |",
                design.name(),
                figure(|r| r.short_p50),
                figure(|r| r.short_p99),
                figure(|r| r.short_p999),
                format_value(ratio),
                format_value(alone_ratio),
            );
        }
        let _ = writeln!(
            md,
            "\nFairness: four long groups of 1, 2, 4 and 8 jobs, all saturating; each one's share of \
             the CPU their chunks ran (fair: 0.25), and the largest relative distance from fair.\n"
        );
        let _ = writeln!(
            md,
            "| backend | 1 job | 2 jobs | 4 jobs | 8 jobs | worst distance |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for (backend, rounds) in &self.fairness {
            let share = |index: usize| spread_text(spread(rounds.iter().map(|r| r.1[index])));
            let _ = writeln!(
                md,
                "| {backend} | {} | {} | {} | {} | {} |",
                share(0),
                share(1),
                share(2),
                share(3),
                spread_text(spread(rounds.iter().map(|r| r.0))),
            );
        }
        let _ = writeln!(
            md,
            "\nPer-job cost (ns), a batch of tiny jobs submitted then awaited:\n"
        );
        let _ = writeln!(
            md,
            "| backend | no group | one group | 10 groups | 10 000 groups |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|");
        for (backend, rounds) in &self.cost {
            let cost = |index: usize| spread_text(spread(rounds.iter().map(|r| r[index])));
            let _ = writeln!(
                md,
                "| {backend} | {} | {} | {} | {} |",
                cost(0),
                cost(1),
                cost(2),
                cost(3)
            );
        }
        md
    }

    /// The targets: `(target, measured, met)`.
    pub fn targets(&self) -> Vec<(String, String, bool)> {
        let mut targets = Vec::new();
        for backend in Backend::ALL {
            let name = backend.name();
            let unloaded = self.median(name, LONG_GROUPS[0], Design::Unloaded, |r| r.short_p99);
            for long in LONG_GROUPS {
                let shared = self.median(name, long, Design::TimeSharing, |r| r.short_p99);
                if shared.is_nan() {
                    continue;
                }
                targets.push((
                    format!("groups: {name} short p99 ≤ 2× unloaded beside {long} long groups"),
                    format!(
                        "{:.2}× ({shared:.0} µs vs {unloaded:.0} µs)",
                        shared / unloaded
                    ),
                    shared <= 2.0 * unloaded,
                ));
                let fifo = self.median(name, long, Design::Fifo, |r| r.long_cores);
                let ours = self.median(name, long, Design::TimeSharing, |r| r.long_cores);
                targets.push((
                    format!("groups: {name} long throughput ≥ 0.9× FIFO ({long} long groups)"),
                    format!("{:.2}× ({ours:.2} vs {fifo:.2} cores)", ours / fifo),
                    ours >= 0.9 * fifo,
                ));
            }
            if let Some((_, rounds)) = self.fairness.iter().find(|(n, _)| *n == name) {
                let worst = spread(rounds.iter().map(|r| r.0)).median;
                targets.push((
                    format!("groups: {name} saturating groups within ±10 % of a fair share"),
                    format!("{:.1} %", worst * 100.0),
                    worst <= 0.10,
                ));
            }
            if let Some((_, rounds)) = self.cost.iter().find(|(n, _)| *n == name) {
                let cost = |index: usize| spread(rounds.iter().map(|r| r[index])).median;
                targets.push((
                    format!("groups: {name} per-job cost in a group ≤ 1.1× without"),
                    format!(
                        "{:.2}× ({:.0} vs {:.0} ns)",
                        cost(1) / cost(0),
                        cost(1),
                        cost(0)
                    ),
                    cost(1) <= 1.1 * cost(0),
                ));
                targets.push((
                    format!("groups: {name} per-job cost over 10 000 groups ≤ 1.1× over 10"),
                    format!(
                        "{:.2}× ({:.0} vs {:.0} ns)",
                        cost(3) / cost(2),
                        cost(3),
                        cost(2)
                    ),
                    cost(3) <= 1.1 * cost(2),
                ));
            }
        }
        targets
    }
}
