//! The load mode: the seed's claim in one command. For each backend in turn
//! it starts the service, saturates it with queries from a real HTTP
//! client, probes `/health` meanwhile, and reports the probe's latency and
//! the query throughput.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use workload::Kernel;

use crate::DemoError;
use crate::client::Client;
use crate::cpu::{CpuBackend, Schedule};
use crate::service::{Service, ServiceConfig};
use executor_api::Priority;

/// How hard and how long to load each scenario.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Measured time per scenario (after a warm-up of a quarter of it).
    pub duration: Duration,
    /// Concurrent query clients, each sending its next query when the last
    /// is answered.
    pub clients: usize,
    /// The kernel each query runs.
    pub kernel: Kernel,
    /// Rows per query.
    pub rows: usize,
    /// Worker threads of the dedicated executors.
    pub workers: usize,
    /// Worker threads of the I/O runtime that serves HTTP (and, for
    /// `shared`, runs the queries).
    pub io_threads: usize,
    /// Pause between two `/health` probes.
    pub probe_interval: Duration,
    /// Send this SQL to `/sql` instead of the kernel to `/query` (the
    /// demo's `datafusion` feature).
    pub sql: Option<String>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        LoadConfig {
            duration: Duration::from_secs(3),
            clients: 2 * cores,
            kernel: Kernel::GroupBy,
            rows: 800_000,
            workers: cores,
            io_threads: cores,
            probe_interval: Duration::from_millis(2),
            sql: None,
        }
    }
}

/// One scenario: where queries run, at which priority, and whether they
/// run at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// The backend.
    pub backend: CpuBackend,
    /// The executor's priority (not used by `shared`).
    pub priority: Priority,
    /// Whether query clients saturate the CPU. An unloaded scenario probes
    /// `/health` alone: the ideal the loaded rows are read against.
    pub loaded: bool,
    /// With background compaction beside the queries: how they share the
    /// CPU. `None`: no compaction.
    pub compaction: Option<Schedule>,
}

impl Scenario {
    /// Whether `--quick` runs it: the unloaded reference, the shared
    /// runtime, and each backend at its default priority without
    /// compaction.
    pub fn is_quick(&self) -> bool {
        !self.loaded
            || self.backend == CpuBackend::Shared
            || (self.priority == Priority::DEFAULT && self.compaction.is_none())
    }

    /// The table's first three columns: backend, priority, compaction.
    fn labels(&self) -> (&'static str, String, String) {
        let (backend, priority) = match *self {
            Scenario { loaded: false, .. } => ("unloaded", "-".to_owned()),
            Scenario {
                backend: CpuBackend::Shared,
                ..
            } => ("shared", "-".to_owned()),
            Scenario {
                backend, priority, ..
            } => (backend.name(), priority.to_string()),
        };
        let compaction = self
            .compaction
            .map_or_else(|| "-".to_owned(), |schedule| schedule.to_string());
        (backend, priority, compaction)
    }
}

/// The scenarios of the comparison: the service unloaded (the reference),
/// the shared runtime, then each dedicated backend at its default priority
/// (nice 10), at normal priority, at niceness 19, and under `SCHED_IDLE`;
/// then each dedicated backend with background compaction beside the
/// queries (one loop per worker), in one FIFO, by workload class, and on
/// two executors.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = vec![
        Scenario {
            backend: CpuBackend::Tokio,
            priority: Priority::DEFAULT,
            loaded: false,
            compaction: None,
        },
        Scenario {
            backend: CpuBackend::Shared,
            priority: Priority::Normal,
            loaded: true,
            compaction: None,
        },
    ];
    for backend in [CpuBackend::Tokio, CpuBackend::Rayon] {
        for priority in [
            Priority::DEFAULT,
            Priority::Normal,
            Priority::Nice(19),
            Priority::Idle,
        ] {
            all.push(Scenario {
                backend,
                priority,
                loaded: true,
                compaction: None,
            });
        }
    }
    for backend in [CpuBackend::Tokio, CpuBackend::Rayon] {
        for schedule in [Schedule::Fifo, Schedule::Classes, Schedule::TwoExecutors] {
            all.push(Scenario {
                backend,
                priority: Priority::DEFAULT,
                loaded: true,
                compaction: Some(schedule),
            });
        }
    }
    all
}

/// What one scenario measured.
#[derive(Debug)]
pub struct ScenarioResult {
    /// The scenario.
    pub scenario: Scenario,
    /// `/health` latency in microseconds.
    pub health: Histogram<u64>,
    /// Probes that failed (no answer, or not 200).
    pub failed_probes: u64,
    /// Queries answered 200 during the measured time.
    pub queries: u64,
    /// Their latency (sent to answered) in microseconds.
    pub query_latency: Histogram<u64>,
    /// Queries answered 503 (admission full).
    pub busy: u64,
    /// Background compactions completed during the measured time.
    pub compactions: u64,
    /// The measured time.
    pub measured: Duration,
}

impl ScenarioResult {
    /// Queries answered per second.
    pub fn queries_per_sec(&self) -> f64 {
        self.queries as f64 / self.measured.as_secs_f64()
    }

    /// Compactions completed per second.
    pub fn compactions_per_sec(&self) -> f64 {
        self.compactions as f64 / self.measured.as_secs_f64()
    }
}

/// Runs every scenario in turn, showing a progress bar on stderr.
///
/// # Errors
///
/// A runtime, bind or executor error.
pub fn run(config: &LoadConfig, scenarios: &[Scenario]) -> Result<Vec<ScenarioResult>, DemoError> {
    let warm_up = config.duration / 4;
    let per_scenario = (warm_up + config.duration).as_millis() as u64;
    let bar = ProgressBar::new(per_scenario * scenarios.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:32}] {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut results = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        bar.set_message(if let Some(schedule) = scenario.compaction {
            format!("{} with compaction ({schedule})", scenario.backend)
        } else if scenario.loaded {
            format!("{} ({})", scenario.backend, scenario.priority)
        } else {
            "unloaded".to_owned()
        });
        let offset = per_scenario * index as u64;
        let result = run_scenario(config, *scenario, warm_up, |elapsed| {
            bar.set_position(offset + (elapsed.as_millis() as u64).min(per_scenario));
        })?;
        results.push(result);
    }
    bar.finish_and_clear();
    Ok(results)
}

fn run_scenario(
    config: &LoadConfig,
    scenario: Scenario,
    warm_up: Duration,
    mut progress: impl FnMut(Duration),
) -> Result<ScenarioResult, DemoError> {
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.io_threads)
        .thread_name("io")
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let service_config = ServiceConfig {
        backend: scenario.backend,
        workers: config.workers,
        priority: scenario.priority,
        max_in_flight: 2 * config.clients,
        schedule: scenario.compaction.unwrap_or_default(),
        compaction: if scenario.compaction.is_some() {
            config.workers
        } else {
            0
        },
        ..ServiceConfig::default()
    };
    let service = io.block_on(Service::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        service_config,
    ))?;
    let addr = service.local_addr();

    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    let query_latency = Arc::new(std::sync::Mutex::new(latency_histogram()?));
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load")
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let path = match &config.sql {
        // Percent-encoded enough for SQL: spaces and the few characters a
        // query string gives meaning to.
        Some(sql) => format!(
            "/sql?q={}",
            sql.replace('%', "%25")
                .replace(' ', "%20")
                .replace('&', "%26")
                .replace('+', "%2B")
                .replace('#', "%23")
        ),
        None => format!("/query?kernel={}&rows={}", config.kernel, config.rows),
    };
    let clients = if scenario.loaded { config.clients } else { 0 };
    for _ in 0..clients {
        let (stop, measuring, queries, busy, path, query_latency) = (
            stop.clone(),
            measuring.clone(),
            queries.clone(),
            busy.clone(),
            path.clone(),
            query_latency.clone(),
        );
        load.spawn(async move {
            let client = Client::new(addr);
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let answer = client.get(&path).await;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match answer.map(|answer| answer.status) {
                    Ok(200) => {
                        if let Ok(mut latency) = query_latency.lock() {
                            latency.saturating_record(sent.elapsed().as_micros() as u64);
                        }
                        queries.fetch_add(1, Ordering::Relaxed)
                    }
                    Ok(503) => busy.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        });
    }
    let prober = {
        let (stop, measuring) = (stop.clone(), measuring.clone());
        let interval = config.probe_interval;
        thread::Builder::new()
            .name("probe".into())
            .spawn(move || probe(addr, &stop, &measuring, interval))
            .map_err(DemoError::Runtime)?
    };

    let started = Instant::now();
    let mut measure_start = None;
    let mut compactions_before = 0;
    loop {
        let elapsed = started.elapsed();
        progress(elapsed);
        if measure_start.is_none() && elapsed >= warm_up {
            measuring.store(true, Ordering::Relaxed);
            compactions_before = service.compactions();
            measure_start = Some(Instant::now());
        }
        if elapsed >= warm_up + config.duration {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    measuring.store(false, Ordering::Relaxed);
    let compactions = service.compactions().saturating_sub(compactions_before);
    let measured = measure_start.map_or(config.duration, |start| start.elapsed());
    stop.store(true, Ordering::Relaxed);
    let (health, failed_probes) = prober
        .join()
        .map_err(|_| DemoError::Runtime(std::io::Error::other("the /health prober panicked")))??;
    // Dropping the clients' requests cancels their queries.
    load.shutdown_timeout(Duration::from_secs(1));
    io.block_on(service.shutdown());
    Ok(ScenarioResult {
        scenario,
        health,
        failed_probes,
        queries: queries.load(Ordering::Relaxed),
        query_latency: query_latency.lock().map_or_else(
            |poisoned| poisoned.into_inner().clone(),
            |latency| latency.clone(),
        ),
        busy: busy.load(Ordering::Relaxed),
        compactions,
        measured,
    })
}

/// Probes `/health` from a thread and runtime of its own, like an
/// orchestrator would from outside, recording while `measuring`.
fn probe(
    addr: SocketAddr,
    stop: &AtomicBool,
    measuring: &AtomicBool,
    interval: Duration,
) -> Result<(Histogram<u64>, u64), DemoError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let mut latencies = latency_histogram()?;
    let mut failed = 0;
    runtime.block_on(async {
        let client = Client::new(addr);
        while !stop.load(Ordering::Relaxed) {
            let sent = Instant::now();
            let answer = client.get("/health").await;
            let latency = sent.elapsed();
            if measuring.load(Ordering::Relaxed) {
                match answer {
                    Ok(answer) if answer.status == 200 => {
                        latencies.saturating_record(latency.as_micros() as u64)
                    }
                    _ => failed += 1,
                }
            }
            tokio::time::sleep(interval).await;
        }
    });
    Ok((latencies, failed))
}

/// A histogram of latencies in microseconds, from 1 µs to an hour.
pub(crate) fn latency_histogram() -> Result<Histogram<u64>, DemoError> {
    // Valid bounds and precision: this cannot fail.
    Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|err| DemoError::Runtime(std::io::Error::other(err.to_string())))
}

/// The comparison table.
pub fn render(results: &[ScenarioResult]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<8} {:<9} {:<13} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>10} {:>9} {:>9} {:>6} {:>10}",
        "backend",
        "priority",
        "compaction",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "probes",
        "failed",
        "queries/s",
        "q p50 ms",
        "q p99 ms",
        "503s",
        "compact/s"
    );
    let ms = |micros: u64| micros as f64 / 1e3;
    for result in results {
        let (backend, priority, compaction) = result.scenario.labels();
        let health = &result.health;
        let _ = writeln!(
            table,
            "{:<8} {:<9} {:<13} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>6} {:>10.1} {:>9.1} {:>9.1} {:>6} {:>10.1}",
            backend,
            priority,
            compaction,
            ms(health.value_at_quantile(0.5)),
            ms(health.value_at_quantile(0.99)),
            ms(health.value_at_quantile(0.999)),
            ms(health.max()),
            health.len(),
            result.failed_probes,
            result.queries_per_sec(),
            ms(result.query_latency.value_at_quantile(0.5)),
            ms(result.query_latency.value_at_quantile(0.99)),
            result.busy,
            result.compactions_per_sec(),
        );
    }
    table
}

/// The comparison table over several rounds of the same scenarios (each
/// round a full [`run`], so the scenarios interleave): per scenario, the
/// median of the probe's p50 and p99 and of the query throughput and
/// latency, with the smallest and largest of the probe's p99 and of the
/// throughput across rounds.
///
/// # Panics
///
/// Never; rounds of different lengths are read up to the shortest.
pub fn render_rounds(rounds: &[Vec<ScenarioResult>]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<8} {:<9} {:<13} {:>8} {:>8} {:>15} {:>10} {:>15} {:>9} {:>9}",
        "backend",
        "priority",
        "compaction",
        "p50 ms",
        "p99 ms",
        "p99 range",
        "queries/s",
        "q/s range",
        "q p50 ms",
        "q p99 ms",
    );
    let scenarios = rounds.iter().map(Vec::len).min().unwrap_or(0);
    let ms = |micros: u64| micros as f64 / 1e3;
    for index in 0..scenarios {
        let results: Vec<&ScenarioResult> = rounds.iter().map(|round| &round[index]).collect();
        let spread = |figure: &dyn Fn(&ScenarioResult) -> f64| {
            let mut values: Vec<f64> = results.iter().map(|result| figure(result)).collect();
            values.sort_by(f64::total_cmp);
            (
                values[values.len() / 2],
                values[0],
                values[values.len() - 1],
            )
        };
        let (backend, priority, compaction) = results[0].scenario.labels();
        let p50 = spread(&|r| ms(r.health.value_at_quantile(0.5)));
        let p99 = spread(&|r| ms(r.health.value_at_quantile(0.99)));
        let qps = spread(&|r| r.queries_per_sec());
        let q50 = spread(&|r| ms(r.query_latency.value_at_quantile(0.5)));
        let q99 = spread(&|r| ms(r.query_latency.value_at_quantile(0.99)));
        let _ = writeln!(
            table,
            "{:<8} {:<9} {:<13} {:>8.2} {:>8.2} {:>15} {:>10.1} {:>15} {:>9.1} {:>9.1}",
            backend,
            priority,
            compaction,
            p50.0,
            p99.0,
            format!("{:.2}–{:.2}", p99.1, p99.2),
            qps.0,
            format!("{:.1}–{:.1}", qps.1, qps.2),
            q50.0,
            q99.0,
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table opens with the unloaded reference row, then the shared
    /// runtime, then every backend at its default priority first.
    #[test]
    fn the_table_opens_with_the_unloaded_row() {
        let all = scenarios();
        assert!(!all[0].loaded);
        assert!(all[1..].iter().all(|scenario| scenario.loaded));
        assert_eq!(all[1].backend, CpuBackend::Shared);
        assert_eq!(all[2].priority, Priority::DEFAULT);
        let result = |scenario: Scenario| ScenarioResult {
            scenario,
            health: Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap(),
            failed_probes: 0,
            queries: 0,
            query_latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap(),
            busy: 0,
            compactions: 0,
            measured: Duration::from_secs(1),
        };
        let table = render(&[result(all[0]), result(all[1]), result(all[2])]);
        let rows: Vec<&str> = table.lines().skip(1).collect();
        assert!(rows[0].starts_with("unloaded"), "{table}");
        assert!(rows[1].starts_with("shared"), "{table}");
        assert!(rows[2].starts_with("tokio    nice 10"), "{table}");
        // Then the rows with compaction, one per schedule and backend.
        let with_compaction: Vec<_> = all.iter().filter_map(|s| s.compaction).collect();
        assert_eq!(
            with_compaction,
            [
                Schedule::Fifo,
                Schedule::Classes,
                Schedule::TwoExecutors,
                Schedule::Fifo,
                Schedule::Classes,
                Schedule::TwoExecutors
            ]
        );
    }

    /// `--quick` keeps the unloaded reference, the shared runtime, and each
    /// backend at its default priority without compaction.
    #[test]
    fn quick_keeps_the_backends_side_by_side() {
        let quick: Vec<Scenario> = scenarios().into_iter().filter(Scenario::is_quick).collect();
        let labels: Vec<_> = quick.iter().map(Scenario::labels).collect();
        let label = |backend: &str, priority: &str| {
            (backend.to_owned(), priority.to_owned(), "-".to_owned())
        };
        assert_eq!(
            labels
                .into_iter()
                .map(|(backend, priority, compaction)| (backend.to_owned(), priority, compaction))
                .collect::<Vec<_>>(),
            [
                label("unloaded", "-"),
                label("shared", "-"),
                label("tokio", &Priority::DEFAULT.to_string()),
                label("rayon", &Priority::DEFAULT.to_string()),
            ]
        );
    }

    /// Over rounds, each figure is the median of the rounds', with the
    /// probe's p99 and the throughput given as ranges.
    #[test]
    fn rounds_are_read_as_medians_and_ranges() {
        let all = scenarios();
        let result = |p99: u64, queries: u64| {
            let mut health = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
            for _ in 0..100 {
                health.record(p99).unwrap();
            }
            ScenarioResult {
                scenario: all[1],
                health,
                failed_probes: 0,
                queries,
                query_latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap(),
                busy: 0,
                compactions: 0,
                measured: Duration::from_secs(1),
            }
        };
        let table = render_rounds(&[
            vec![result(1_000, 10)],
            vec![result(3_000, 30)],
            vec![result(2_000, 20)],
        ]);
        let row = table.lines().nth(1).unwrap();
        assert!(row.starts_with("shared"), "{table}");
        assert!(row.contains(" 2.00 "), "the median p99: {table}");
        assert!(row.contains("1.00–3.00"), "the p99 range: {table}");
        assert!(row.contains("10.0–30.0"), "the throughput range: {table}");
    }
}
