//! Per-job cost without groups, either backend: `ungrouped_cost <tokio|rayon> <jobs> <rounds>`.
use executor_api::Executor;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = if args[0] == "rayon" {
        bench::backend::Backend::Rayon
    } else {
        bench::backend::Backend::Tokio
    };
    let (jobs, rounds): (usize, usize) = (args[1].parse().unwrap(), args[2].parse().unwrap());
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
    println!("{} median {} best {:.0}", args[0], all[all.len() / 2], best);
}
