//! The workload-classes scenario: one executor sharing its workers between
//! classes, against the designs users build by hand.
//!
//! Three measurements, each over interleaved rounds, on both backends:
//!
//! - **shares**: two classes of weight 4 and 1, both saturated with chunk
//!   loops; the CPU time each class's chunks used (read from the threads'
//!   own CPU clocks, not from the executor's accounting);
//! - **cap**: a class capped at half a core, saturated, with another class
//!   saturated beside it and alone; the cores its chunks used;
//! - **latency**: short jobs of a latency class submitted every 2 ms from
//!   an I/O runtime while a background class saturates the pool, under
//!   three designs: our classes (latency weight 8, background 1, one pool),
//!   one FIFO executor for both kinds, and the 2022 recipe of two executors
//!   (latency at nice 0, background at nice 19, each with a worker per
//!   core). Job latency (submission to completion, seen by the awaiting
//!   task) and queue wait (submission to the job's first instruction),
//!   p50 and p99, and the useful work done per second in cores.
//!
//! Every chunk loop calls `yield_if_needed` between chunks, on every
//! design: the executors' time slice is [`SLICE`] and a chunk about
//! [`CHUNK`], so a worker is free for the next choice at least every
//! [`SLICE`] plus a chunk.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use executor_api::backend::Launch;
use executor_api::{AnyExecutor, Builder, Executor, Priority, WorkloadClass};
use executor_rayon::RayonExecutor;
use executor_tokio::DedicatedExecutor;
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::backend::Backend;
use crate::latency::Spread;
use crate::svg::format_value;

/// The executors' time slice in this scenario.
pub const SLICE: Duration = Duration::from_micros(250);
/// The CPU work of one background chunk.
pub const CHUNK: Duration = Duration::from_micros(100);
/// The CPU work of one latency job.
pub const LATENCY_JOB: Duration = Duration::from_micros(50);
/// How often a latency job is submitted.
pub const LATENCY_PERIOD: Duration = Duration::from_millis(2);
/// The shares measurement's weights.
pub const WEIGHTS: (u32, u32) = (4, 1);
/// The cap measurement's cap, in cores.
pub const CAP: f64 = 0.5;

/// Busy work of a calibrated length.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    /// Iterations per microsecond of work.
    per_micro: f64,
}

impl Work {
    /// Measures how many iterations of the busy loop take a microsecond.
    pub fn calibrate() -> Self {
        let iterations = 2_000_000u64;
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            spin(iterations);
            best = best.min(started.elapsed());
        }
        Work {
            per_micro: iterations as f64 / best.as_secs_f64() / 1e6,
        }
    }

    /// Runs about `length` of work; returns the CPU time it took on the
    /// calling thread.
    pub fn run(&self, length: Duration) -> Duration {
        let started = thread_cpu_time();
        spin((length.as_secs_f64() * 1e6 * self.per_micro) as u64);
        thread_cpu_time().saturating_sub(started)
    }
}

fn spin(iterations: u64) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..iterations {
        state = std::hint::black_box(state.rotate_left(5) ^ 0x2545_f491_4f6c_dd1d);
    }
    std::hint::black_box(state);
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel has.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Builds an executor of `backend` with `classes`, the scenario's time
/// slice, `cores` workers at `priority`.
fn build(
    backend: Backend,
    name: &str,
    cores: usize,
    priority: Priority,
    classes: &[WorkloadClass],
) -> AnyExecutor {
    fn configured<E: Launch>(
        builder: Builder<E>,
        name: &str,
        cores: usize,
        priority: Priority,
        classes: &[WorkloadClass],
    ) -> AnyExecutor {
        let builder = classes.iter().cloned().fold(builder, Builder::class);
        AnyExecutor::new(
            builder
                .name(name)
                .worker_threads(cores)
                .priority(priority)
                .time_slice(SLICE)
                .build()
                .expect("build the executor"),
        )
    }
    match backend {
        Backend::Tokio => configured(DedicatedExecutor::builder(), name, cores, priority, classes),
        Backend::Rayon => configured(RayonExecutor::builder(), name, cores, priority, classes),
    }
}

/// The CPU time a set of chunk loops used, in nanoseconds (shared with
/// `groups`).
#[derive(Debug, Default)]
pub(crate) struct Used(AtomicU64);

impl Used {
    pub(crate) fn add(&self, cpu: Duration) {
        self.0.fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// Starts `loops` chunk loops on `executor` in `class`, until `stop`.
fn saturate(
    executor: &AnyExecutor,
    class: &str,
    loops: usize,
    work: Work,
    used: &Arc<Used>,
    stop: &Arc<AtomicBool>,
) {
    for _ in 0..loops {
        let (used, stop) = (used.clone(), stop.clone());
        executor
            .job()
            .name("bench:chunks")
            .class(class)
            .spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    used.add(work.run(CHUNK));
                    executor_api::yield_if_needed().await;
                }
            })
            .detach();
    }
}

/// Lets the loads settle, then measures `what` over `duration`: the CPU
/// time each counter gained, and the wall time.
fn measure_used(duration: Duration, counters: &[&Arc<Used>]) -> (Vec<Duration>, Duration) {
    std::thread::sleep(Duration::from_millis(200));
    let before: Vec<Duration> = counters.iter().map(|used| used.get()).collect();
    let started = Instant::now();
    std::thread::sleep(duration);
    let wall = started.elapsed();
    let gained = counters
        .iter()
        .zip(before)
        .map(|(used, before)| used.get().saturating_sub(before))
        .collect();
    (gained, wall)
}

fn finish(executors: &[&AnyExecutor], stop: &AtomicBool) {
    stop.store(true, Ordering::Relaxed);
    for executor in executors {
        executor.shutdown();
    }
    for executor in executors {
        futures::executor::block_on(executor.join());
    }
}

/// One round of the shares measurement: the weight-4 class's share of the
/// CPU time both classes used.
fn share_round(backend: Backend, cores: usize, duration: Duration, work: Work) -> f64 {
    let executor = build(
        backend,
        "bench-share",
        cores,
        Priority::DEFAULT,
        &[
            WorkloadClass::new("heavy").weight(WEIGHTS.0),
            WorkloadClass::new("light").weight(WEIGHTS.1),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (heavy, light) = (Arc::new(Used::default()), Arc::new(Used::default()));
    saturate(&executor, "heavy", 2 * cores, work, &heavy, &stop);
    saturate(&executor, "light", 2 * cores, work, &light, &stop);
    let (gained, _) = measure_used(duration, &[&heavy, &light]);
    finish(&[&executor], &stop);
    let total = gained[0] + gained[1];
    gained[0].as_secs_f64() / total.as_secs_f64()
}

/// One round of the cap measurement: the cores the capped class used,
/// with another class saturated beside it (`busy`) or alone.
fn cap_round(backend: Backend, cores: usize, duration: Duration, work: Work, busy: bool) -> f64 {
    let executor = build(
        backend,
        "bench-cap",
        cores,
        Priority::DEFAULT,
        &[
            WorkloadClass::new("capped").cap(CAP),
            WorkloadClass::new("other"),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (capped, other) = (Arc::new(Used::default()), Arc::new(Used::default()));
    saturate(&executor, "capped", 2 * cores, work, &capped, &stop);
    if busy {
        saturate(&executor, "other", 2 * cores, work, &other, &stop);
    }
    let (gained, wall) = measure_used(duration, &[&capped]);
    finish(&[&executor], &stop);
    gained[0].as_secs_f64() / wall.as_secs_f64()
}

/// How the latency measurement runs the two kinds of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// One executor, a latency class (weight 8) and a background class
    /// (weight 1).
    Classes,
    /// One executor, one FIFO for both kinds.
    Fifo,
    /// Two executors of a worker per core each: latency at nice 0,
    /// background at nice 19.
    TwoExecutors,
}

impl Design {
    /// Every design, in report order.
    pub const ALL: [Design; 3] = [Design::Classes, Design::Fifo, Design::TwoExecutors];

    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Design::Classes => "classes",
            Design::Fifo => "fifo",
            Design::TwoExecutors => "two_executors",
        }
    }
}

/// One round of the latency measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyRound {
    /// Job latency p50, µs.
    pub job_p50: f64,
    /// Job latency p99, µs.
    pub job_p99: f64,
    /// Queue wait p50, µs.
    pub wait_p50: f64,
    /// Queue wait p99, µs.
    pub wait_p99: f64,
    /// CPU time of the work done (background chunks and latency jobs) per
    /// second of wall time: cores of useful work.
    pub throughput_cores: f64,
    /// Latency jobs completed per second.
    pub latency_jobs_per_s: f64,
}

fn latency_round(
    backend: Backend,
    design: Design,
    cores: usize,
    duration: Duration,
    work: Work,
) -> LatencyRound {
    let (latency, background, classes) = match design {
        Design::Classes => {
            let executor = build(
                backend,
                "bench-lat",
                cores,
                Priority::DEFAULT,
                &[
                    WorkloadClass::new("latency").weight(8),
                    WorkloadClass::new("background").weight(1),
                ],
            );
            (executor.clone(), executor, true)
        }
        Design::Fifo => {
            let executor = build(backend, "bench-lat", cores, Priority::DEFAULT, &[]);
            (executor.clone(), executor, false)
        }
        Design::TwoExecutors => (
            build(backend, "bench-lat", cores, Priority::Normal, &[]),
            build(backend, "bench-bg", cores, Priority::Nice(19), &[]),
            false,
        ),
    };
    let (latency_class, background_class) = if classes {
        ("latency", "background")
    } else {
        (executor_api::DEFAULT_CLASS, executor_api::DEFAULT_CLASS)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let used = Arc::new(Used::default());
    saturate(&background, background_class, 2 * cores, work, &used, &stop);
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-io")
        .enable_time()
        .build()
        .expect("build the I/O runtime");
    let histograms = Arc::new(Mutex::new((
        Histogram::<u64>::new(3).expect("histogram"),
        Histogram::<u64>::new(3).expect("histogram"),
    )));
    let measuring = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let submitter = {
        let (latency, histograms, measuring, completed, used, stop) = (
            latency.clone(),
            histograms.clone(),
            measuring.clone(),
            completed.clone(),
            used.clone(),
            stop.clone(),
        );
        io.spawn(async move {
            let mut ticks = tokio::time::interval(LATENCY_PERIOD);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                ticks.tick().await;
                let submitted = Instant::now();
                let used = used.clone();
                let job = latency
                    .job()
                    .name("bench:latency")
                    .class(latency_class)
                    .spawn(async move {
                        let started = Instant::now();
                        used.add(work.run(LATENCY_JOB));
                        started
                    });
                let (histograms, measuring, completed) =
                    (histograms.clone(), measuring.clone(), completed.clone());
                tokio::spawn(async move {
                    let Ok(started) = job.await else { return };
                    let done = submitted.elapsed();
                    if measuring.load(Ordering::Relaxed) {
                        let waited = started.saturating_duration_since(submitted);
                        let mut histograms = histograms.lock().unwrap();
                        let _ = histograms.0.record(done.as_micros() as u64);
                        let _ = histograms.1.record(waited.as_micros() as u64);
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    measuring.store(true, Ordering::Relaxed);
    let (gained, wall) = measure_used(duration, &[&used]);
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    io.block_on(async { drop(submitter.await) });
    finish(&[&latency, &background], &stop);
    drop(io);
    let histograms = histograms.lock().unwrap();
    let quantile = |histogram: &Histogram<u64>, q: f64| histogram.value_at_quantile(q) as f64;
    LatencyRound {
        job_p50: quantile(&histograms.0, 0.5),
        job_p99: quantile(&histograms.0, 0.99),
        wait_p50: quantile(&histograms.1, 0.5),
        wait_p99: quantile(&histograms.1, 0.99),
        throughput_cores: gained[0].as_secs_f64() / wall.as_secs_f64(),
        latency_jobs_per_s: completed.load(Ordering::Relaxed) as f64 / wall.as_secs_f64(),
    }
}

/// The scenario's results, per backend.
#[derive(Debug, Clone, Default)]
pub struct Classes {
    /// Per backend: the weight-4 class's share in each round.
    pub shares: Vec<(&'static str, Vec<f64>)>,
    /// Per backend: the capped class's cores in each round, with the other
    /// class busy and alone.
    pub cap: Vec<(&'static str, Vec<(f64, f64)>)>,
    /// Per backend and design: each round.
    pub latency: Vec<(&'static str, Design, Vec<LatencyRound>)>,
}

/// The median and extremes of `values` (shared with `groups`).
pub(crate) fn spread(values: impl IntoIterator<Item = f64>) -> Spread {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    Spread {
        median: values.get(values.len() / 2).copied().unwrap_or(f64::NAN),
        min: values.first().copied().unwrap_or(f64::NAN),
        max: values.last().copied().unwrap_or(f64::NAN),
    }
}

/// A spread as report.json writes it.
pub(crate) fn spread_json(spread: Spread) -> Value {
    json!({"median": spread.median, "min": spread.min, "max": spread.max})
}

/// A spread as report.md writes it: `median (min–max)`.
pub(crate) fn spread_text(spread: Spread) -> String {
    format!(
        "{} ({}–{})",
        format_value(spread.median),
        format_value(spread.min),
        format_value(spread.max)
    )
}

/// Runs every measurement on both backends, `rounds` interleaved rounds of
/// `duration` each.
pub fn measure_all(
    cores: usize,
    duration: Duration,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Classes {
    progress("classes: calibrating the work");
    let work = Work::calibrate();
    let mut results = Classes {
        shares: Backend::ALL
            .iter()
            .map(|b| (b.name(), Vec::new()))
            .collect(),
        cap: Backend::ALL
            .iter()
            .map(|b| (b.name(), Vec::new()))
            .collect(),
        latency: Backend::ALL
            .iter()
            .flat_map(|b| Design::ALL.iter().map(|&d| (b.name(), d, Vec::new())))
            .collect(),
    };
    for round in 1..=rounds {
        for (index, &backend) in Backend::ALL.iter().enumerate() {
            progress(&format!(
                "classes: round {round}, {} shares",
                backend.name()
            ));
            results.shares[index]
                .1
                .push(share_round(backend, cores, duration, work));
            progress(&format!("classes: round {round}, {} cap", backend.name()));
            let busy = cap_round(backend, cores, duration, work, true);
            let alone = cap_round(backend, cores, duration, work, false);
            results.cap[index].1.push((busy, alone));
            for (offset, &design) in Design::ALL.iter().enumerate() {
                progress(&format!(
                    "classes: round {round}, {} latency, {}",
                    backend.name(),
                    design.name()
                ));
                let figures = latency_round(backend, design, cores, duration, work);
                results.latency[index * Design::ALL.len() + offset]
                    .2
                    .push(figures);
            }
        }
    }
    results
}

impl Classes {
    fn latency_of(&self, backend: &str, design: Design) -> Option<&[LatencyRound]> {
        self.latency
            .iter()
            .find(|(b, d, _)| *b == backend && *d == design)
            .map(|(_, _, rounds)| rounds.as_slice())
    }

    /// The `classes` section of `report.json`.
    pub fn to_json(&self) -> Value {
        let mut backends = Map::new();
        for &backend in &Backend::ALL {
            let name = backend.name();
            let shares = self
                .shares
                .iter()
                .find(|(b, _)| *b == name)
                .map_or(Vec::new(), |(_, r)| r.clone());
            let cap = self
                .cap
                .iter()
                .find(|(b, _)| *b == name)
                .map_or(Vec::new(), |(_, r)| r.clone());
            let mut designs = Map::new();
            for design in Design::ALL {
                let Some(rounds) = self.latency_of(name, design) else {
                    continue;
                };
                let figure =
                    |f: fn(&LatencyRound) -> f64| spread_json(spread(rounds.iter().map(f)));
                designs.insert(
                    design.name().into(),
                    json!({
                        "job_latency_p50_us": figure(|r| r.job_p50),
                        "job_latency_p99_us": figure(|r| r.job_p99),
                        "queue_wait_p50_us": figure(|r| r.wait_p50),
                        "queue_wait_p99_us": figure(|r| r.wait_p99),
                        "throughput_cores": figure(|r| r.throughput_cores),
                        "latency_jobs_per_s": figure(|r| r.latency_jobs_per_s),
                    }),
                );
            }
            backends.insert(
                name.into(),
                json!({
                    "shares": {
                        "weights": [WEIGHTS.0, WEIGHTS.1],
                        "heavy_share": spread_json(spread(shares.iter().copied())),
                        "light_share": spread_json(spread(shares.iter().map(|s| 1.0 - s))),
                    },
                    "cap": {
                        "cap_cores": CAP,
                        "cores_with_others_busy": spread_json(spread(cap.iter().map(|c| c.0))),
                        "cores_alone": spread_json(spread(cap.iter().map(|c| c.1))),
                    },
                    "latency": designs,
                }),
            );
        }
        json!({
            "time_slice_us": SLICE.as_micros() as u64,
            "chunk_us": CHUNK.as_micros() as u64,
            "latency_job_us": LATENCY_JOB.as_micros() as u64,
            "latency_period_ms": LATENCY_PERIOD.as_millis() as u64,
            "rounds": self.shares.first().map_or(0, |(_, r)| r.len()),
            "backends": backends,
        })
    }

    /// The report's section in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "## Workload classes\n\nChunks of {} µs of CPU work in loops that call `yield_if_needed` \
             (time slice {} µs); CPU time from the threads' own clocks. Median (smallest–largest) \
             over {} interleaved rounds.\n",
            CHUNK.as_micros(),
            SLICE.as_micros(),
            self.shares.first().map_or(0, |(_, r)| r.len())
        );
        let _ = writeln!(
            md,
            "| backend | share of weight {} (target 0.80) | share of weight {} (target 0.20) | capped class, others busy (cores, cap {CAP}) | capped class alone |",
            WEIGHTS.0, WEIGHTS.1
        );
        let _ = writeln!(md, "|---|---|---|---|---|");
        for ((name, shares), (_, cap)) in self.shares.iter().zip(&self.cap) {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} |",
                spread_text(spread(shares.iter().copied())),
                spread_text(spread(shares.iter().map(|s| 1.0 - s))),
                spread_text(spread(cap.iter().map(|c| c.0))),
                spread_text(spread(cap.iter().map(|c| c.1))),
            );
        }
        let _ = writeln!(
            md,
            "\nA latency class's jobs ({} µs of work every {} ms) with a background class saturating \
             the pool:\n",
            LATENCY_JOB.as_micros(),
            LATENCY_PERIOD.as_millis()
        );
        let _ = writeln!(
            md,
            "| backend | design | job latency p50 (µs) | job latency p99 (µs) | queue wait p99 (µs) | useful work (cores) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for (name, design, rounds) in &self.latency {
            let figure = |f: fn(&LatencyRound) -> f64| spread_text(spread(rounds.iter().map(f)));
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} |",
                design.name(),
                figure(|r| r.job_p50),
                figure(|r| r.job_p99),
                figure(|r| r.wait_p99),
                figure(|r| r.throughput_cores),
            );
        }
        md
    }

    /// The targets: `(target, measured, met)`.
    pub fn targets(&self) -> Vec<(String, String, bool)> {
        let mut targets = Vec::new();
        for (name, shares) in &self.shares {
            let heavy = spread(shares.iter().copied()).median;
            targets.push((
                format!("classes: {name} weights 4:1 give shares within ±10 % of 80/20"),
                format!("{:.3} / {:.3}", heavy, 1.0 - heavy),
                (heavy - 0.8).abs() <= 0.08 && ((1.0 - heavy) - 0.2).abs() <= 0.02,
            ));
        }
        for (name, cap) in &self.cap {
            let busy = spread(cap.iter().map(|c| c.0)).median;
            let alone = spread(cap.iter().map(|c| c.1)).median;
            targets.push((
                format!("classes: {name} a 0.5-core cap gets ≤ 0.55 core, others busy and idle"),
                format!("{busy:.3} / {alone:.3}"),
                busy <= 0.55 && alone <= 0.55,
            ));
        }
        for &backend in &Backend::ALL {
            let name = backend.name();
            let median = |design, f: fn(&LatencyRound) -> f64| {
                self.latency_of(name, design)
                    .map(|rounds| spread(rounds.iter().map(f)).median)
            };
            if let (Some(ours), Some(two)) = (
                median(Design::Classes, |r| r.job_p99),
                median(Design::TwoExecutors, |r| r.job_p99),
            ) {
                targets.push((
                    format!("classes: {name} latency-class job p99 ≤ two executors (nice 0/19)"),
                    format!("{ours:.0} µs vs {two:.0} µs"),
                    ours <= two,
                ));
            }
            if let (Some(ours), Some(fifo)) = (
                median(Design::Classes, |r| r.throughput_cores),
                median(Design::Fifo, |r| r.throughput_cores),
            ) {
                targets.push((
                    format!("classes: {name} throughput ≥ one FIFO executor"),
                    format!("{ours:.2} vs {fifo:.2} cores"),
                    ours >= fifo * 0.98,
                ));
            }
        }
        targets
    }
}
