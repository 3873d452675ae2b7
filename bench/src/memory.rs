//! Memory: bytes allocated per queued job, counted by the global allocator.

use stats_alloc::{Region, StatsAlloc};
use std::alloc::System;

use crate::subjects::{NAMES, Subject};

/// Net bytes allocated per queued job (job, handle, queue entry), for every
/// subject. The workers are kept busy so that the jobs stay queued.
pub fn measure_all(
    allocator: &'static StatsAlloc<System>,
    threads: usize,
    jobs: u64,
    progress: &mut dyn FnMut(&str),
) -> Vec<(&'static str, f64)> {
    NAMES
        .iter()
        .map(|&name| {
            progress(&format!("memory: {name}"));
            let subject = Subject::new_queueing(name, threads);
            // Start the threads (lazily started pools allocate on first use).
            subject.block_on(async {
                for i in 0..64 {
                    subject.submit(i).value().await;
                }
            });
            let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
            subject.block_workers(threads, &release_rx);
            let mut held = Vec::with_capacity(jobs as usize);
            let bytes = subject.block_on(async {
                let region = Region::new(allocator);
                for i in 0..jobs {
                    held.push(subject.submit(i));
                }
                let change = region.change();
                change.bytes_allocated as f64 - change.bytes_deallocated as f64
                    + change.bytes_reallocated as f64
            });
            drop(release_tx);
            subject.block_on(async {
                for job in held {
                    job.value().await;
                }
            });
            subject.finish();
            (name, (bytes / jobs as f64).max(0.0))
        })
        .collect()
}
