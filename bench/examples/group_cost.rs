//! Per-job cost with and without groups, for profiling: `group_cost
//! <groups> <jobs> <rounds>` (0 groups: ungrouped).
use executor_api::{Executor, JobGroup};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (count, jobs, rounds) = (args[0], args[1], args[2]);
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
