//! Quick start: the `/health` problem and its fix, in one run.
//!
//! An I/O runtime answers a health probe (a round trip from a plain thread,
//! every millisecond) while a group-by aggregation saturates the CPU:
//!
//! 0. with nothing else running, for reference;
//! 1. with the CPU work on the I/O runtime itself, the probe waits behind it;
//! 2. with the CPU work on a dedicated executor (`DedicatedExecutor` on
//!    Tokio, then `RayonExecutor`), the probe stays fast;
//! 3. the same, with the I/O runtime's threads and the probing thread marked
//!    latency-sensitive (`executor_api::latency`: a short time slice on
//!    Linux 6.12+, so they preempt the CPU workers on wake-up).
//!
//! Every run with CPU work must produce the serial checksum.
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
#[derive(Clone, Copy, Debug, PartialEq)]
enum Placement {
    Nowhere,
    IoRuntime,
    Tokio,
    Rayon,
}

struct Report {
    probes: Vec<Duration>,
    wall: Duration,
    /// The group-by's checksum, if there was CPU work.
    checksum: Option<u64>,
}

/// How long the probe runs when there is no CPU work.
const UNLOADED: Duration = Duration::from_millis(300);

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
    let runs = [
        (Placement::Nowhere, false, "nothing (unloaded)"),
        (Placement::IoRuntime, false, "the I/O runtime (shared)"),
        (Placement::Tokio, false, "a DedicatedExecutor (Tokio)"),
        (Placement::Rayon, false, "a RayonExecutor"),
        (Placement::Nowhere, true, "nothing, I/O threads marked"),
        (Placement::Tokio, true, "Tokio backend, I/O threads marked"),
        (Placement::Rayon, true, "Rayon backend, I/O threads marked"),
    ];
    for (placement, marked, label) in runs {
        let report = run(placement, marked, table)?;
        let mut probes = report.probes;
        probes.sort();
        let at = |q: f64| probes[((probes.len() - 1) as f64 * q) as usize];
        let (wall, checksum) = match report.checksum {
            None => ("–".to_owned(), "–"),
            Some(sum) if sum == serial => (format!("{:.2?}", report.wall), "ok"),
            Some(_) => return Err("checksum differs from the serial run".into()),
        };
        println!(
            "{:<34} {:>9.2?} {:>9.2?} {:>9.2?} {:>8} {:>9}",
            label,
            at(0.5),
            at(0.99),
            probes.last().copied().unwrap_or_default(),
            wall,
            checksum,
        );
    }
    Ok(())
}

/// Probes the I/O runtime while the group-by runs where `placement` says;
/// with `marked`, the I/O runtime's threads and the probing thread (this
/// one) ask for a short time slice while it lasts.
fn run(placement: Placement, marked: bool, table: Table) -> Result<Report, Box<dyn Error>> {
    // The latency-sensitive runtime: one worker, as a small service has.
    let mut io = tokio::runtime::Builder::new_multi_thread();
    io.worker_threads(1).thread_name("io").enable_all();
    if marked {
        // Linux 6.12+; elsewhere it logs why not and changes nothing.
        io.on_thread_start(executor_api::latency::on_thread_start);
    }
    let io = io.build()?;
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

    // The prober is latency-sensitive too. Marked after the executor's
    // threads started, so none inherits the slice (they would reset it
    // anyway: workers give up an inherited slice).
    if marked
        && let Err(err) =
            executor_api::latency::mark_current_thread(executor_api::latency::DEFAULT_SLICE)
    {
        println!("(the probing thread keeps its time slice: {err})");
    }
    let started = Instant::now();
    let work = {
        let cpu = cpu.clone();
        io.spawn(async move {
            match placement {
                Placement::Nowhere => {
                    tokio::time::sleep(UNLOADED).await;
                    None
                }
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
                    Some(result)
                }
                Placement::Tokio | Placement::Rayon => {
                    Some(GroupBy::run_on(&cpu, &table).await.expect("chunk job"))
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
    if marked {
        // Back to the kernel's default for the next run.
        let _ = executor_api::latency::mark_current_thread(Duration::ZERO);
    }

    cpu.shutdown();
    io.block_on(cpu.join());
    Ok(Report {
        probes,
        wall,
        checksum: result.map(|result| result.checksum()),
    })
}
