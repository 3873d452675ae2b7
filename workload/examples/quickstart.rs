//! Quick start: the `/health` problem and its fix, in one run.
//!
//! An I/O runtime answers a health probe (a round trip from a plain thread,
//! every millisecond) while a group-by aggregation saturates the CPU:
//!
//! 1. with the CPU work on the I/O runtime itself, the probe waits behind it;
//! 2. with the CPU work on a dedicated executor (`DedicatedExecutor` on
//!    Tokio, then `RayonExecutor`), the probe stays fast.
//!
//! Both runs must produce the serial checksum.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant};

use executor_api::{AnyExecutor, Executor};
use executor_rayon::RayonExecutor;
use executor_tokio::DedicatedExecutor;
use workload::{GroupBy, Table};

/// Where the CPU work runs.
#[derive(Clone, Copy, Debug)]
enum Placement {
    IoRuntime,
    Tokio,
    Rayon,
}

struct Report {
    probes: Vec<Duration>,
    wall: Duration,
    checksum: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let table = Table::new(2026, 20_000_000, 200_000);
    let serial = GroupBy::run_serial(&table).checksum();
    println!(
        "group-by over {} rows in {} chunks; probe every 1 ms from a plain thread\n",
        table.rows(),
        table.chunks()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "CPU work runs on", "p50", "p99", "max", "wall", "checksum"
    );
    for placement in [Placement::IoRuntime, Placement::Tokio, Placement::Rayon] {
        let report = run(placement, table)?;
        let mut probes = report.probes;
        probes.sort();
        let at = |q: f64| probes[((probes.len() - 1) as f64 * q) as usize];
        println!(
            "{:<34} {:>9.2?} {:>9.2?} {:>9.2?} {:>8.2?} {:>9}",
            match placement {
                Placement::IoRuntime => "the I/O runtime (shared)",
                Placement::Tokio => "a DedicatedExecutor (Tokio)",
                Placement::Rayon => "a RayonExecutor",
            },
            at(0.5),
            at(0.99),
            probes.last().copied().unwrap_or_default(),
            report.wall,
            if report.checksum == serial {
                "ok"
            } else {
                "WRONG"
            },
        );
        if report.checksum != serial {
            return Err("checksum differs from the serial run".into());
        }
    }
    Ok(())
}

fn run(placement: Placement, table: Table) -> Result<Report, Box<dyn Error>> {
    // The latency-sensitive runtime: one worker, as a small service has.
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("io")
        .enable_all()
        .build()?;
    // Chosen at run time: both backends behind one type.
    let cpu = match placement {
        Placement::Rayon => AnyExecutor::new(RayonExecutor::builder().name("cpu").build()?),
        _ => AnyExecutor::new(DedicatedExecutor::builder().name("cpu").build()?),
    };

    // The health endpoint: answers each request as soon as it is polled.
    let (requests, mut incoming) = tokio::sync::mpsc::channel::<crossbeam_channel::Sender<()>>(1);
    io.spawn(async move {
        while let Some(reply) = incoming.recv().await {
            let _ = reply.send(());
        }
    });

    let started = Instant::now();
    let work = {
        let cpu = cpu.clone();
        io.spawn(async move {
            match placement {
                Placement::IoRuntime => {
                    let tasks: Vec<_> = (0..table.chunks())
                        .map(|index| {
                            tokio::spawn(async move { GroupBy::aggregate(&table.chunk(index)) })
                        })
                        .collect();
                    let mut result = GroupBy::default();
                    for task in tasks {
                        result.merge(task.await.expect("chunk task"));
                    }
                    result
                }
                Placement::Tokio | Placement::Rayon => {
                    GroupBy::run_on(&cpu, &table).await.expect("chunk job")
                }
            }
        })
    };

    // The prober: a plain thread, so it is never delayed by either runtime.
    let mut probes = Vec::new();
    while !work.is_finished() {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        let sent = Instant::now();
        requests.blocking_send(reply_tx)?;
        reply_rx.recv_timeout(Duration::from_secs(60))?;
        probes.push(sent.elapsed());
        thread::park_timeout(Duration::from_millis(1));
    }
    let result = io.block_on(work)?;
    let wall = started.elapsed();

    cpu.shutdown();
    io.block_on(cpu.join());
    Ok(Report {
        probes,
        wall,
        checksum: result.checksum(),
    })
}
