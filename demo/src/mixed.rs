//! The mixed load (`--load --mixed`): short queries at a fixed rate beside
//! long ones that saturate the executor, under each [`Schedule`], and the
//! short queries alone for reference, in one table.
//!
//! A short query is a `/query` of [`MixedConfig::short_rows`] rows (a few
//! milliseconds of CPU), sent every [`MixedConfig::short_period`] whether
//! or not the last one was answered; a long one is
//! [`MixedConfig::long_rows`] rows, sent by each of the long clients as
//! soon as its last was answered. Under `fifo` and `classes` every query
//! is one job in one FIFO (the query class holds them all); under
//! `time-sharing` each query is a job group of its own, and the query that
//! has used the least CPU runs next.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::DemoError;
use crate::client::Client;
use crate::cpu::{CpuBackend, Schedule};
use crate::load::latency_histogram;
use crate::service::{Service, ServiceConfig};
use executor_api::Priority;

/// The mixed load's settings.
#[derive(Debug, Clone)]
pub struct MixedConfig {
    /// The backend every scenario runs on.
    pub backend: CpuBackend,
    /// Worker threads of the executor.
    pub workers: usize,
    /// Measured time per scenario (after a warm-up of a quarter of it).
    pub duration: Duration,
    /// Rows of a short query.
    pub short_rows: usize,
    /// How often a short query is sent.
    pub short_period: Duration,
    /// Rows of a long query.
    pub long_rows: usize,
    /// The numbers of long clients to run beside the short queries.
    pub long_clients: Vec<usize>,
}

impl Default for MixedConfig {
    fn default() -> Self {
        MixedConfig {
            backend: CpuBackend::Tokio,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            duration: Duration::from_secs(3),
            short_rows: 50_000,
            short_period: Duration::from_millis(10),
            long_rows: 20_000_000,
            long_clients: vec![4, 16],
        }
    }
}

/// One scenario's figures.
#[derive(Debug)]
pub struct MixedResult {
    /// The schedule; `None` for the short queries alone.
    pub schedule: Option<Schedule>,
    /// Long clients beside the short queries.
    pub long_clients: usize,
    /// Short queries' latency (sent to answered), µs.
    pub short: Histogram<u64>,
    /// Short queries not answered 200.
    pub short_failed: u64,
    /// Long queries answered 200 per second.
    pub long_per_sec: f64,
}

/// Runs the short queries alone, then each schedule beside each number of
/// long clients, showing what runs on stderr.
///
/// # Errors
///
/// A runtime, bind or executor error.
pub fn run(config: &MixedConfig) -> Result<Vec<MixedResult>, DemoError> {
    let mut results = vec![run_one(config, None, 0)?];
    for &long in &config.long_clients {
        for schedule in [Schedule::Fifo, Schedule::Classes, Schedule::TimeSharing] {
            eprintln!("mixed: {schedule} beside {long} long clients");
            results.push(run_one(config, Some(schedule), long)?);
        }
    }
    Ok(results)
}

fn run_one(
    config: &MixedConfig,
    schedule: Option<Schedule>,
    long_clients: usize,
) -> Result<MixedResult, DemoError> {
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .thread_name("io")
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let service = io.block_on(Service::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServiceConfig {
            backend: config.backend,
            workers: config.workers,
            priority: Priority::DEFAULT,
            max_in_flight: 4 * (long_clients + 64),
            max_rows: config.long_rows.max(config.short_rows),
            schedule: schedule.unwrap_or(Schedule::TimeSharing),
            ..ServiceConfig::default()
        },
    ))?;
    let addr = service.local_addr();
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load")
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let long_done = Arc::new(AtomicU64::new(0));
    let long_path = format!("/query?kernel=group_by&rows={}", config.long_rows);
    for _ in 0..long_clients {
        let (stop, measuring, long_done, path) = (
            stop.clone(),
            measuring.clone(),
            long_done.clone(),
            long_path.clone(),
        );
        load.spawn(async move {
            let client = Client::new(addr);
            while !stop.load(Ordering::Relaxed) {
                let answer = client.get(&path).await;
                if measuring.load(Ordering::Relaxed)
                    && answer.is_ok_and(|answer| answer.status == 200)
                {
                    long_done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let short = Arc::new(Mutex::new(latency_histogram()?));
    let short_failed = Arc::new(AtomicU64::new(0));
    let short_path = format!("/query?kernel=group_by&rows={}", config.short_rows);
    let sender = {
        let (stop, measuring, short, short_failed) = (
            stop.clone(),
            measuring.clone(),
            short.clone(),
            short_failed.clone(),
        );
        let period = config.short_period;
        load.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut sent = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                ticks.tick().await;
                let (measuring, short, short_failed, path) = (
                    measuring.clone(),
                    short.clone(),
                    short_failed.clone(),
                    short_path.clone(),
                );
                // Sent whether or not the last one was answered.
                sent.push(tokio::spawn(async move {
                    let client = Client::new(addr);
                    let started = Instant::now();
                    let answer = client.get(&path).await;
                    if !measuring.load(Ordering::Relaxed) {
                        return;
                    }
                    match answer {
                        Ok(answer) if answer.status == 200 => {
                            if let Ok(mut short) = short.lock() {
                                short.saturating_record(started.elapsed().as_micros() as u64);
                            }
                        }
                        _ => {
                            short_failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            for request in sent {
                let _ = request.await;
            }
        })
    };
    std::thread::sleep(config.duration / 4);
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(config.duration);
    measuring.store(false, Ordering::Relaxed);
    let measured = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = load.block_on(sender);
    load.shutdown_timeout(Duration::from_secs(1));
    io.block_on(service.shutdown());
    let short = short.lock().map_or_else(
        |poisoned| poisoned.into_inner().clone(),
        |short| short.clone(),
    );
    Ok(MixedResult {
        schedule,
        long_clients,
        short,
        short_failed: short_failed.load(Ordering::Relaxed),
        long_per_sec: long_done.load(Ordering::Relaxed) as f64 / measured.as_secs_f64(),
    })
}

/// The mixed table: short-query latency and long-query throughput per
/// schedule, the short queries alone first.
pub fn render(results: &[MixedResult]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<13} {:>6} {:>10} {:>10} {:>10} {:>8} {:>7} {:>9} {:>9}",
        "schedule",
        "long",
        "short p50",
        "short p99",
        "short p999",
        "p99 ×",
        "failed",
        "shorts",
        "long/s"
    );
    let alone = results
        .iter()
        .find(|result| result.schedule.is_none())
        .map_or(f64::NAN, |result| {
            result.short.value_at_quantile(0.99) as f64
        });
    let ms = |micros: u64| micros as f64 / 1e3;
    for result in results {
        let name = result
            .schedule
            .map_or_else(|| "alone".to_owned(), |schedule| schedule.to_string());
        let _ = writeln!(
            table,
            "{:<13} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>8.2} {:>7} {:>9} {:>9.2}",
            name,
            result.long_clients,
            ms(result.short.value_at_quantile(0.5)),
            ms(result.short.value_at_quantile(0.99)),
            ms(result.short.value_at_quantile(0.999)),
            result.short.value_at_quantile(0.99) as f64 / alone,
            result.short_failed,
            result.short.len(),
            result.long_per_sec,
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table opens with the short queries alone, and reads every other
    /// row's p99 against theirs.
    #[test]
    fn the_table_reads_each_row_against_the_short_queries_alone() {
        let result = |schedule, p99: u64| {
            let mut short = latency_histogram().unwrap();
            for _ in 0..100 {
                short.record(p99).unwrap();
            }
            MixedResult {
                schedule,
                long_clients: if schedule.is_some() { 4 } else { 0 },
                short,
                short_failed: 0,
                long_per_sec: 1.0,
            }
        };
        let table = render(&[
            result(None, 1_000),
            result(Some(Schedule::TimeSharing), 2_000),
        ]);
        let rows: Vec<&str> = table.lines().skip(1).collect();
        assert!(rows[0].starts_with("alone"), "{table}");
        assert!(rows[1].starts_with("time-sharing"), "{table}");
        assert!(rows[1].contains(" 2.00 "), "{table}");
    }
}
