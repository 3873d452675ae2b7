//! Criterion benchmarks of the per-job overhead: our executors next to the
//! designs they replace, one job at a time and in batches of 1000.
//!
//! `cargo bench -p bench`; `cargo xtask bench` reports the same comparison
//! (and more) in one JSON/Markdown report.

use bench::subjects::Subject;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SUBJECTS: [&str; 4] = [
    "executor_tokio",
    "tokio_handle_spawn",
    "executor_rayon",
    "rayon_spawn_oneshot",
];

fn overhead(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut sequential = c.benchmark_group("sequential");
    for name in SUBJECTS {
        let subject = Subject::new(name, threads);
        sequential.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| subject.block_on(subject.submit(1).value()));
        });
        subject.finish();
    }
    sequential.finish();

    let mut batch = c.benchmark_group("batch");
    batch.throughput(Throughput::Elements(1_000));
    for name in SUBJECTS {
        let subject = Subject::new(name, threads);
        batch.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                subject.block_on(async {
                    let held: Vec<_> = (0..1_000).map(|i| subject.submit(i)).collect();
                    for job in held {
                        job.value().await;
                    }
                })
            });
        });
        subject.finish();
    }
    batch.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
