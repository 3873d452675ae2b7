//! Latency: a request/response probe on the I/O runtime while workload
//! chunks saturate the CPU.
//!
//! The probe is a round trip from a plain OS thread to a task on the I/O
//! runtime, every millisecond, timed with `Instant` on the probing thread
//! (no Tokio timer: its resolution is 1 ms).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use executor_api::Executor;
use hdrhistogram::Histogram;
use workload::{Kernel, Table};

use crate::backend::{Backend, Priority};

/// What saturates the CPU during a latency run.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Nothing: the probe alone.
    Unloaded,
    /// The chunks run on the I/O runtime itself.
    SharedRuntime,
    /// The chunks run on one of our executors, at this priority.
    Executor(Backend, Priority),
}

/// The probe's latency and the CPU the load got.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median, µs.
    pub p50: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// 99.9th percentile, µs.
    pub p999: f64,
    /// Maximum, µs.
    pub max: f64,
    /// Cores' worth of CPU the load actually got: chunks done × serial
    /// chunk time ÷ wall time.
    pub load_cores: f64,
}

/// Runs the probe for `duration` under `load` with every core busy.
pub fn measure(
    load: Load,
    cores: usize,
    duration: Duration,
    kernel: Kernel,
    table: Table,
    serial_chunk: Duration,
) -> Latency {
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("bench-io")
        .build()
        .expect("build the I/O runtime");

    // The latency-sensitive endpoint: answers as soon as it is polled.
    let (requests, mut incoming) =
        tokio::sync::mpsc::unbounded_channel::<crossbeam_channel::Sender<()>>();
    io.spawn(async move {
        while let Some(reply) = incoming.recv().await {
            let _ = reply.send(());
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let chunks = table.chunks();
    let executor = match load {
        Load::Executor(backend, priority) => Some(backend.build(cores, priority)),
        _ => None,
    };
    let loaders = match load {
        Load::Unloaded => 0,
        _ => 2 * cores,
    };
    for loader in 0..loaders {
        let (stop, done, executor) = (stop.clone(), done.clone(), executor.clone());
        io.spawn(async move {
            let mut index = loader;
            while !stop.load(Ordering::Relaxed) {
                let chunk = index % chunks;
                match &executor {
                    Some(executor) => {
                        executor
                            .spawn_cpu(move |_| kernel.run_chunk(&table.chunk(chunk)))
                            .await
                            .expect("chunk job");
                    }
                    None => {
                        std::hint::black_box(kernel.run_chunk(&table.chunk(chunk)));
                        workload::yield_now().await;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
                index += loaders;
            }
        });
    }

    // Let the load reach a steady state before measuring.
    thread::sleep(Duration::from_millis(200));
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let done_at_start = done.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < duration {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        let sent = Instant::now();
        requests.send(reply_tx).expect("the endpoint is running");
        reply_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the probe was answered within a minute");
        histogram.saturating_record(sent.elapsed().as_nanos() as u64);
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
    if let Some(executor) = executor {
        executor.shutdown();
        io.block_on(executor.join());
    }
    io.shutdown_timeout(Duration::from_secs(10));

    let micros = |nanos: u64| nanos as f64 / 1_000.0;
    Latency {
        p50: micros(histogram.value_at_quantile(0.5)),
        p99: micros(histogram.value_at_quantile(0.99)),
        p999: micros(histogram.value_at_quantile(0.999)),
        max: micros(histogram.max()),
        load_cores: chunks_done as f64 * serial_chunk.as_secs_f64() / wall.as_secs_f64(),
    }
}
