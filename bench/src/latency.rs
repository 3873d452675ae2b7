//! Latency: a `/health`-style probe on the I/O runtime while chunk jobs
//! saturate every core, on our executors and on the raw designs users would
//! otherwise build, at the same priority.
//!
//! # The probe
//!
//! Every millisecond a plain OS thread sends a message to a task on the
//! I/O runtime (one worker thread per core, at normal priority) and waits
//! for the reply. The message carries its send time, so one message gives two
//! figures: the *one-way* latency (send to the task's first look at it:
//! what delays a request before the service starts on it) and the *round
//! trip* (send to reply received). Both are timed with `Instant` (a Tokio
//! timer's resolution is 1 ms).
//!
//! # The load
//!
//! Loaders on the I/O runtime submit group-by chunk jobs and await them:
//!
//! - [`Pattern::Steady`]: one stream per core, each producing chunks of
//!   about 4 ms on the load's threads for a consumer on the I/O runtime,
//!   [`STREAM_BUFFER`] chunks ahead (the shape of a query plan's output
//!   partitions);
//! - [`Pattern::Burst`]: two loaders, each submitting 64 chunks of about
//!   0.4 ms at once and awaiting them all, then the next burst;
//! - [`Pattern::Serial`]: one loader per core, each submitting a chunk of
//!   about 4 ms, awaiting it, then submitting the next (request and
//!   response, as a service's handlers do): the workers park and wake once
//!   per chunk.
//!
//! The same loaders drive every [`Load`]: our executors (`spawn_stream`,
//! `spawn_cpu`); a raw dedicated Tokio runtime (a producer task sending
//! into a bounded channel, `Handle::spawn`); a raw Rayon pool (a producer
//! sending into a bounded channel, blocking when it is full; `spawn` and a
//! oneshot), each with its threads at the priority under test; and the I/O
//! runtime itself (the shared-runtime anti-pattern).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use executor_api::{AnyExecutor, Executor};
use futures::{Stream, StreamExt};
use hdrhistogram::Histogram;
use workload::{Kernel, Table};

use crate::backend::{Backend, Priority};

/// How the load submits its chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// One stream of long chunks per core.
    Steady,
    /// Bursts of many short chunks submitted at once.
    Burst,
    /// One chunk at a time per loader: each submitted when the one before
    /// has returned.
    Serial,
}

impl Pattern {
    /// Every pattern.
    pub const ALL: [Pattern; 3] = [Pattern::Steady, Pattern::Burst, Pattern::Serial];

    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Steady => "steady",
            Pattern::Burst => "burst",
            Pattern::Serial => "serial",
        }
    }

    /// The serial time a chunk of this pattern aims at.
    pub fn chunk_target(self) -> Duration {
        match self {
            Pattern::Steady | Pattern::Serial => Duration::from_micros(4_000),
            Pattern::Burst => Duration::from_micros(400),
        }
    }
}

/// Chunk jobs submitted at once by a burst loader.
pub const BURST_JOBS: usize = 64;

/// Loaders of the burst pattern.
pub const BURST_LOADERS: usize = 2;

/// How many chunks a steady stream's producer may run ahead of its
/// consumer.
pub const STREAM_BUFFER: usize = 2;

/// What saturates the CPU during a latency run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Nothing: the probe alone.
    Unloaded,
    /// The chunks run on the I/O runtime itself.
    SharedRuntime(Pattern),
    /// The chunks run on one of our executors, its workers at this
    /// priority.
    Executor(Backend, Priority, Pattern),
    /// The chunks run on a raw dedicated Tokio runtime (`Handle::spawn`),
    /// its workers at this priority: the 2022 recipe without our layer.
    RawTokio(Priority, Pattern),
    /// The chunks run on a raw Rayon pool (`spawn` plus a oneshot), its
    /// threads at this priority.
    RawRayon(Priority, Pattern),
}

impl Load {
    /// The load pattern, if any.
    pub fn pattern(self) -> Option<Pattern> {
        match self {
            Load::Unloaded => None,
            Load::SharedRuntime(pattern)
            | Load::Executor(_, _, pattern)
            | Load::RawTokio(_, pattern)
            | Load::RawRayon(_, pattern) => Some(pattern),
        }
    }

    /// The priority of the threads that run the load, if they are not the
    /// I/O runtime's.
    pub fn priority(self) -> Option<Priority> {
        match self {
            Load::Unloaded | Load::SharedRuntime(_) => None,
            Load::Executor(_, priority, _)
            | Load::RawTokio(priority, _)
            | Load::RawRayon(priority, _) => Some(priority),
        }
    }

    /// The raw design that `self`, one of our executors, is compared with:
    /// the same primitive without our layer, at the same priority and
    /// pattern.
    pub fn raw_counterpart(self) -> Option<Load> {
        match self {
            Load::Executor(Backend::Tokio, priority, pattern) => {
                Some(Load::RawTokio(priority, pattern))
            }
            Load::Executor(Backend::Rayon, priority, pattern) => {
                Some(Load::RawRayon(priority, pattern))
            }
            _ => None,
        }
    }

    /// The report name, such as `executor_tokio/steady/nice10`.
    pub fn name(self) -> String {
        let priority = |priority: Priority| match priority {
            Priority::Normal => "normal".to_owned(),
            Priority::Nice(n) => format!("nice{n}"),
            Priority::Idle => "idle".to_owned(),
        };
        match self {
            Load::Unloaded => "unloaded".to_owned(),
            Load::SharedRuntime(pattern) => format!("shared_runtime/{}", pattern.name()),
            Load::Executor(backend, p, pattern) => {
                format!("{}/{}/{}", backend.name(), pattern.name(), priority(p))
            }
            Load::RawTokio(p, pattern) => {
                format!("raw_tokio/{}/{}", pattern.name(), priority(p))
            }
            Load::RawRayon(p, pattern) => {
                format!("raw_rayon/{}/{}", pattern.name(), priority(p))
            }
        }
    }
}

/// One latency scenario: a load, and whether the I/O runtime's threads and
/// the probing thread ask the kernel for a short time slice
/// (`executor_api::latency`, Linux 6.12+: what a service that marks its
/// latency-sensitive threads gets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// What runs beside the probe.
    pub load: Load,
    /// Whether the I/O threads have a short slice.
    pub io_slice: bool,
}

impl Scenario {
    /// The report name: the load's, with `+io_slice` when the I/O threads
    /// have a short slice.
    pub fn name(self) -> String {
        if self.io_slice {
            format!("{}+io_slice", self.load.name())
        } else {
            self.load.name()
        }
    }

    /// The load pattern, if any.
    pub fn pattern(self) -> Option<Pattern> {
        self.load.pattern()
    }

    /// The probe alone, with the same I/O threads.
    pub fn unloaded(self) -> Scenario {
        Scenario {
            load: Load::Unloaded,
            ..self
        }
    }

    /// The raw design at the same setting, for one of our executors.
    pub fn raw_counterpart(self) -> Option<Scenario> {
        self.load
            .raw_counterpart()
            .map(|load| Scenario { load, ..self })
    }

    /// For our Tokio backend, the Rayon backend at the same setting.
    pub fn rayon_counterpart(self) -> Option<Scenario> {
        match self.load {
            Load::Executor(Backend::Tokio, priority, pattern) => Some(Scenario {
                load: Load::Executor(Backend::Rayon, priority, pattern),
                ..self
            }),
            _ => None,
        }
    }
}

/// Which I/O threads the latency section measures with.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoSlice {
    /// The kernel's default slice, and a short one: every scenario twice.
    Both,
    /// A short slice only.
    With,
    /// The kernel's default slice only.
    Without,
}

impl IoSlice {
    fn settings(self) -> &'static [bool] {
        match self {
            IoSlice::Both => &[false, true],
            IoSlice::With => &[true],
            IoSlice::Without => &[false],
        }
    }
}

/// The scenarios of a full latency section, for each I/O thread setting:
/// unloaded; the shared runtime; and, for each pattern and priority, both
/// our backends and both raw designs.
pub fn scenarios(priorities: &[Priority], io_slice: IoSlice) -> Vec<Scenario> {
    let mut scenarios = Vec::new();
    for &io_slice in io_slice.settings() {
        let mut loads = vec![Load::Unloaded];
        for pattern in Pattern::ALL {
            loads.push(Load::SharedRuntime(pattern));
            for &priority in priorities {
                loads.push(Load::Executor(Backend::Tokio, priority, pattern));
                loads.push(Load::RawTokio(priority, pattern));
                loads.push(Load::Executor(Backend::Rayon, priority, pattern));
                loads.push(Load::RawRayon(priority, pattern));
            }
        }
        scenarios.extend(loads.into_iter().map(|load| Scenario { load, io_slice }));
    }
    scenarios
}

/// Percentiles of one probe direction, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Percentiles {
        let micros = |nanos: u64| nanos as f64 / 1_000.0;
        Percentiles {
            p50: micros(histogram.value_at_quantile(0.5)),
            p99: micros(histogram.value_at_quantile(0.99)),
            p999: micros(histogram.value_at_quantile(0.999)),
            max: micros(histogram.max()),
        }
    }
}

/// One run of one scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Send to the task's receipt.
    pub one_way: Percentiles,
    /// Send to reply.
    pub round_trip: Percentiles,
    /// Cores' worth of CPU the load actually got: chunks done × serial
    /// chunk time ÷ wall time.
    pub load_cores: f64,
    /// How long one submission call took on the I/O runtime's thread (burst
    /// pattern only): a submitter that waits for a lock held by a
    /// low-priority thread shows here.
    pub submit: Option<Percentiles>,
}

/// The tables and serial chunk times of both patterns.
#[derive(Debug, Clone, Copy)]
pub struct Chunks {
    /// The kernel every chunk runs.
    pub kernel: Kernel,
    /// The steady pattern's table and its serial time per chunk.
    pub steady: (Table, Duration),
    /// The burst pattern's table and its serial time per chunk.
    pub burst: (Table, Duration),
}

impl Chunks {
    /// Sizes the chunks of both patterns to their target serial time on
    /// this machine, measured.
    pub fn calibrate(kernel: Kernel) -> Chunks {
        let sized = |pattern: Pattern| {
            let probe_rows = kernel.default_chunk_rows();
            let probe = Table::new(11, probe_rows * 4, probe_rows);
            let per_probe = crate::scaling::serial_time(kernel, &probe, 3) / 4;
            let rows = (probe_rows as f64 * pattern.chunk_target().as_secs_f64()
                / per_probe.as_secs_f64().max(1e-9)) as usize;
            let rows = rows.max(1_000);
            let table = Table::new(7, rows * 32, rows);
            let per_chunk = crate::scaling::serial_time(kernel, &table, 3) / 32;
            (table, per_chunk)
        };
        Chunks {
            kernel,
            steady: sized(Pattern::Steady),
            burst: sized(Pattern::Burst),
        }
    }

    /// The table and serial chunk time of `pattern` (the serial pattern
    /// uses the steady one's chunks).
    pub fn of(&self, pattern: Pattern) -> (Table, Duration) {
        match pattern {
            Pattern::Steady | Pattern::Serial => self.steady,
            Pattern::Burst => self.burst,
        }
    }
}

/// Where the loaders send their chunks.
#[derive(Clone)]
enum Target {
    Inline,
    Ours(AnyExecutor),
    RawTokio(tokio::runtime::Handle),
    RawRayon(Arc<rayon::ThreadPool>),
}

/// A chunk job as its loader holds it.
enum Submitted {
    /// Runs on the I/O runtime when awaited.
    Inline(Box<dyn FnOnce() -> u64 + Send>),
    Job(executor_api::JobHandle<u64>),
    Task(tokio::task::JoinHandle<u64>),
    Oneshot(tokio::sync::oneshot::Receiver<u64>),
}

impl Target {
    /// Submits chunk `chunk` (nothing runs yet for the shared runtime).
    fn submit(&self, kernel: Kernel, table: Table, chunk: usize) -> Submitted {
        let job = move || std::hint::black_box(kernel.run_chunk(&table.chunk(chunk)));
        match self {
            Target::Inline => Submitted::Inline(Box::new(job)),
            Target::Ours(executor) => Submitted::Job(executor.spawn_cpu(move |_| job())),
            Target::RawTokio(handle) => Submitted::Task(handle.spawn(async move { job() })),
            Target::RawRayon(pool) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                pool.spawn(move || {
                    let _ = tx.send(job());
                });
                Submitted::Oneshot(rx)
            }
        }
    }
}

impl Target {
    /// Chunks `first`, `first + step`, ... produced on the target's
    /// threads (on the I/O runtime for the shared runtime), at most
    /// [`STREAM_BUFFER`] ahead of the consumer. Ends when the load is torn
    /// down.
    fn stream(
        &self,
        kernel: Kernel,
        table: Table,
        first: usize,
        step: usize,
    ) -> Pin<Box<dyn Stream<Item = u64> + Send>> {
        let count = table.chunks();
        let job = move |i: usize| {
            std::hint::black_box(kernel.run_chunk(&table.chunk((first + i * step) % count)))
        };
        let receive = |rx: tokio::sync::mpsc::Receiver<u64>| {
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
        };
        match self {
            Target::Inline => Box::pin(futures::stream::unfold(0, move |i| async move {
                let value = job(i);
                workload::yield_now().await;
                Some((value, i + 1))
            })),
            Target::Ours(executor) => Box::pin(
                executor
                    .spawn_stream(futures::stream::iter(0..).map(job), STREAM_BUFFER)
                    .take_while(|item| std::future::ready(item.is_ok()))
                    .map(|item| item.unwrap_or_default()),
            ),
            Target::RawTokio(handle) => {
                let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BUFFER);
                drop(handle.spawn(async move {
                    for i in 0.. {
                        if tx.send(job(i)).await.is_err() {
                            break;
                        }
                    }
                }));
                Box::pin(receive(rx))
            }
            Target::RawRayon(pool) => {
                let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BUFFER);
                pool.spawn(move || {
                    for i in 0.. {
                        if tx.blocking_send(job(i)).is_err() {
                            break;
                        }
                    }
                });
                Box::pin(receive(rx))
            }
        }
    }
}

impl Submitted {
    async fn wait(self) {
        match self {
            Submitted::Inline(job) => {
                job();
                workload::yield_now().await;
            }
            // Errors only come from tearing the load down after the run.
            Submitted::Job(handle) => {
                let _ = handle.await;
            }
            Submitted::Task(handle) => {
                let _ = handle.await;
            }
            Submitted::Oneshot(rx) => {
                let _ = rx.await;
            }
        }
    }
}

/// What owns the load's threads, shut down after the run.
enum Owner {
    None,
    Ours(AnyExecutor),
    RawTokio(tokio::runtime::Runtime),
    RawRayon(Arc<rayon::ThreadPool>),
}

fn apply(priority: Priority) {
    if let Err(err) = priority.apply_to_current_thread() {
        eprintln!("bench: could not set a load thread's priority to {priority}: {err}");
    }
}

fn start(load: Load, cores: usize) -> (Target, Owner) {
    match load {
        Load::Unloaded | Load::SharedRuntime(_) => (Target::Inline, Owner::None),
        Load::Executor(backend, priority, _) => {
            let executor = backend.build(cores, priority);
            (Target::Ours(executor.clone()), Owner::Ours(executor))
        }
        Load::RawTokio(priority, _) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .thread_name("raw-tokio")
                .on_thread_start(move || apply(priority))
                .enable_all()
                .build()
                .expect("build the raw Tokio runtime");
            (
                Target::RawTokio(runtime.handle().clone()),
                Owner::RawTokio(runtime),
            )
        }
        Load::RawRayon(priority, _) => {
            let pool = Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(cores)
                    .thread_name(|i| format!("raw-rayon-{i}"))
                    .start_handler(move |_| apply(priority))
                    .build()
                    .expect("build the raw Rayon pool"),
            );
            (Target::RawRayon(pool.clone()), Owner::RawRayon(pool))
        }
    }
}

/// One probe message: when it was sent, and where to reply with the
/// one-way latency.
type Probe = (Instant, crossbeam_channel::Sender<Duration>);

/// Runs the probe for `duration` under `load`. With `io_slice`, the I/O
/// runtime's threads and the probing thread ask the kernel for a short
/// time slice (`executor_api::latency`).
pub fn measure(
    load: Load,
    cores: usize,
    duration: Duration,
    chunks: &Chunks,
    io_slice: bool,
) -> Latency {
    let mut io = tokio::runtime::Builder::new_multi_thread();
    io.worker_threads(cores).thread_name("bench-io");
    if io_slice {
        io.on_thread_start(executor_api::latency::on_thread_start);
    }
    let io = io.build().expect("build the I/O runtime");

    // The latency-sensitive endpoint: answers as soon as it is polled.
    let (requests, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Probe>();
    io.spawn(async move {
        while let Some((sent, reply)) = incoming.recv().await {
            let _ = reply.send(sent.elapsed());
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (submit_times_tx, submit_times) = crossbeam_channel::unbounded::<Histogram<u64>>();
    let (target, owner) = start(load, cores);
    // The probing thread (this one) too, for this scenario only: after the
    // load's threads were created, so that they do not inherit the slice.
    let _slice = io_slice.then(SliceGuard::mark);
    let kernel = chunks.kernel;
    let mut serial_chunk = Duration::ZERO;
    if let Some(pattern) = load.pattern() {
        let (table, per_chunk) = chunks.of(pattern);
        serial_chunk = per_chunk;
        let count = table.chunks();
        match pattern {
            Pattern::Steady => {
                for first in 0..cores {
                    let (stop, done) = (stop.clone(), done.clone());
                    let mut chunks = target.stream(kernel, table, first, cores);
                    io.spawn(async move {
                        while !stop.load(Ordering::Relaxed) && chunks.next().await.is_some() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
            Pattern::Serial => {
                for loader in 0..cores {
                    let (stop, done, target) = (stop.clone(), done.clone(), target.clone());
                    io.spawn(async move {
                        let mut next = loader;
                        while !stop.load(Ordering::Relaxed) {
                            target.submit(kernel, table, next % count).wait().await;
                            done.fetch_add(1, Ordering::Relaxed);
                            next += cores;
                        }
                    });
                }
            }
            Pattern::Burst => {
                for loader in 0..BURST_LOADERS {
                    let (stop, done, target) = (stop.clone(), done.clone(), target.clone());
                    let submit_times = submit_times_tx.clone();
                    io.spawn(async move {
                        let mut submit = histogram();
                        let mut next = loader * BURST_JOBS;
                        while !stop.load(Ordering::Relaxed) {
                            // Every chunk of the burst is submitted before
                            // any is awaited.
                            let burst: Vec<Submitted> = (0..BURST_JOBS)
                                .map(|i| {
                                    let start = Instant::now();
                                    let job = target.submit(kernel, table, (next + i) % count);
                                    submit.saturating_record(start.elapsed().as_nanos() as u64);
                                    job
                                })
                                .collect();
                            for job in burst {
                                job.wait().await;
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            next += BURST_LOADERS * BURST_JOBS;
                        }
                        let _ = submit_times.send(submit);
                    });
                }
            }
        }
    }

    // Let the load reach a steady state before measuring.
    thread::sleep(Duration::from_millis(200));
    let (mut one_way, mut round_trip) = (histogram(), histogram());
    let done_at_start = done.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < duration {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        let sent = Instant::now();
        requests
            .send((sent, reply_tx))
            .expect("the endpoint is running");
        let there = reply_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the probe was answered within a minute");
        round_trip.saturating_record(sent.elapsed().as_nanos() as u64);
        one_way.saturating_record(there.as_nanos() as u64);
        next += Duration::from_millis(1);
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    let wall = start.elapsed();
    let chunks_done = done.load(Ordering::Relaxed) - done_at_start;

    stop.store(true, Ordering::Relaxed);
    drop(submit_times_tx);
    let mut submit: Option<Histogram<u64>> = None;
    if load.pattern() == Some(Pattern::Burst) {
        for _ in 0..BURST_LOADERS {
            // A loader ends once its last burst is done.
            let loader = submit_times
                .recv_timeout(Duration::from_secs(60))
                .expect("a burst loader finished within a minute");
            match &mut submit {
                Some(all) => all.add(&loader).expect("histograms with the same bounds"),
                None => submit = Some(loader),
            }
        }
    }
    drop(target);
    match owner {
        Owner::None => {}
        Owner::Ours(executor) => {
            // Queued chunks are cancelled rather than drained: the figures
            // are taken.
            executor.shutdown_now();
            io.block_on(executor.join());
        }
        Owner::RawTokio(runtime) => runtime.shutdown_timeout(Duration::from_secs(10)),
        Owner::RawRayon(pool) => drop(pool),
    }
    io.shutdown_timeout(Duration::from_secs(10));

    Latency {
        one_way: Percentiles::of(&one_way),
        round_trip: Percentiles::of(&round_trip),
        load_cores: chunks_done as f64 * serial_chunk.as_secs_f64() / wall.as_secs_f64(),
        submit: submit.as_ref().map(Percentiles::of),
    }
}

/// A histogram of nanoseconds, up to a minute.
fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

/// The runs of one scenario, summarised: the median of each figure over
/// the rounds, and its spread (smallest and largest).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Every round's figures, in run order.
    pub rounds: Vec<Latency>,
}

/// Median, smallest and largest of one figure over the rounds.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Summary {
    /// One figure over the rounds.
    pub fn spread(&self, figure: impl Fn(&Latency) -> f64) -> Spread {
        let mut values: Vec<f64> = self.rounds.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        Spread {
            median: values.get(values.len() / 2).copied().unwrap_or(f64::NAN),
            min: values.first().copied().unwrap_or(f64::NAN),
            max: values.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Gives the calling thread a short time slice while it lives, and the
/// kernel's default back when dropped.
struct SliceGuard;

impl SliceGuard {
    fn mark() -> SliceGuard {
        if let Err(err) =
            executor_api::latency::mark_current_thread(executor_api::latency::DEFAULT_SLICE)
        {
            eprintln!("bench: --io-slice did not apply: {err}");
        }
        SliceGuard
    }
}

impl Drop for SliceGuard {
    fn drop(&mut self) {
        // The kernel's default: a zero slice request means "default".
        let _ = executor_api::latency::mark_current_thread(Duration::ZERO);
    }
}

/// Runs every scenario `rounds` times, interleaved (round 1 of every
/// scenario, then round 2, ...), so that drift on a shared machine hits
/// all alike.
pub fn measure_all(
    scenarios: &[Scenario],
    cores: usize,
    duration: Duration,
    rounds: usize,
    chunks: &Chunks,
    progress: &mut dyn FnMut(&str),
) -> Vec<(Scenario, Summary)> {
    let mut summaries: Vec<(Scenario, Summary)> = scenarios
        .iter()
        .map(|&scenario| (scenario, Summary::default()))
        .collect();
    for round in 0..rounds {
        progress(&format!(
            "latency round {}/{rounds}: {} scenarios of {duration:?}",
            round + 1,
            scenarios.len()
        ));
        for (scenario, summary) in &mut summaries {
            summary.rounds.push(measure(
                scenario.load,
                cores,
                duration,
                chunks,
                scenario.io_slice,
            ));
        }
    }
    summaries
}
