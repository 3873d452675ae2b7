//! Per-job cost with and without groups on the Tokio backend, for
//! profiling: `group_cost [groups] [jobs] [rounds]` (default `1 200000 3`;
//! 0 groups: ungrouped). Prints ns per job of each round's batch.
use executor_api::{Executor, JobGroup};

fn main() {
    let args: Result<Vec<usize>, _> = std::env::args().skip(1).map(|a| a.parse()).collect();
    let Ok(args) = args else {
        eprintln!("group_cost: the arguments are numbers: groups, jobs, rounds");
        std::process::exit(2);
    };
    let arg = |index: usize, default: usize| args.get(index).copied().unwrap_or(default);
    let (count, jobs, rounds) = (arg(0, 1), arg(1, 200_000).max(1), arg(2, 3));
    let executor = bench::backend::Backend::Tokio.build(2, bench::backend::Priority::DEFAULT);
    let groups: Vec<JobGroup> = (0..count).map(|_| executor.group()).collect();
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        let handles: Vec<_> = (0..jobs)
            .map(|job| {
                let builder = executor.job();
                let builder = match groups.get(job % count.max(1)) {
                    Some(group) => builder.group(group),
                    None => builder,
                };
                builder.spawn_cpu(move |_| std::hint::black_box(job))
            })
            .collect();
        for handle in handles {
            futures::executor::block_on(handle).unwrap();
        }
        eprintln!(
            "{count} groups: {:.0} ns/job",
            started.elapsed().as_nanos() as f64 / jobs as f64
        );
    }
}
