//! Per-job cost without groups, either backend, for A/B runs against
//! another build: `ungrouped_cost [tokio|rayon] [jobs] [rounds]` (default
//! `tokio 200000 5`). Prints the median and best ns per job of a batch of
//! tiny jobs submitted then awaited.
use executor_api::Executor;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize, default: usize| {
        args.get(index)
            .map_or(Ok(default), |arg| arg.parse::<usize>())
    };
    let backend = match args.first().map(String::as_str) {
        None | Some("tokio") => bench::backend::Backend::Tokio,
        Some("rayon") => bench::backend::Backend::Rayon,
        Some(other) => {
            eprintln!("ungrouped_cost: unknown backend {other:?}; use tokio or rayon");
            std::process::exit(2);
        }
    };
    let (Ok(jobs @ 1..), Ok(rounds @ 1..)) = (number(1, 200_000), number(2, 5)) else {
        eprintln!("ungrouped_cost: jobs and rounds must be positive integers");
        std::process::exit(2);
    };
    let executor = backend.build(2, bench::backend::Priority::DEFAULT);
    let mut best = f64::MAX;
    let mut all = Vec::new();
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        let handles: Vec<_> = (0..jobs)
            .map(|job| executor.spawn_cpu(move |_| std::hint::black_box(job)))
            .collect();
        for handle in handles {
            futures::executor::block_on(handle).unwrap();
        }
        let ns = started.elapsed().as_nanos() as f64 / jobs as f64;
        best = best.min(ns);
        all.push(ns as u64);
    }
    all.sort();
    println!(
        "{} median {} best {best:.0}",
        backend.name(),
        all[all.len() / 2]
    );
}
