//! Scaling: workload throughput with 1 up to every core, as speedup over a
//! serial run.

use std::time::{Duration, Instant};

use executor_api::Executor;
use workload::{Kernel, Table};

use crate::backend::{Backend, Priority};
use crate::overhead::median;

/// Speedup over serial for each thread count.
#[derive(Debug, Clone)]
pub struct Scaling {
    /// Thread counts, 1 to the core count.
    pub threads: Vec<usize>,
    /// Serial time divided by the time with that many threads.
    pub speedup: Vec<f64>,
}

/// The fastest of `rounds` serial runs of `kernel` over `table`: the least
/// disturbed estimate of the work itself, which keeps speedups and
/// `load_cores` conservative.
pub fn serial_time(kernel: Kernel, table: &Table, rounds: usize) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(kernel.run_serial(table));
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Measures `backend` from 1 to `cores` threads.
pub fn measure(
    backend: Backend,
    kernel: Kernel,
    table: &Table,
    serial: Duration,
    cores: usize,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
) -> Scaling {
    let expected = kernel.run_serial(table);
    let threads: Vec<usize> = (1..=cores).collect();
    let speedup = threads
        .iter()
        .map(|&count| {
            progress(&format!("scaling: {} with {count} threads", backend.name()));
            let executor = backend.build(count, Priority::Normal);
            let times = (0..rounds)
                .map(|_| {
                    let start = Instant::now();
                    let digest = futures::executor::block_on(kernel.run_on(&executor, table));
                    assert_eq!(
                        digest,
                        Ok(expected),
                        "the executor's result differs from serial"
                    );
                    start.elapsed().as_secs_f64()
                })
                .collect();
            executor.shutdown();
            futures::executor::block_on(executor.join());
            serial.as_secs_f64() / median(times)
        })
        .collect();
    Scaling { threads, speedup }
}
