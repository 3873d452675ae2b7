//! Overhead: nanoseconds per trivial job, one at a time and in batches.

use std::time::Instant;

use crate::subjects::{NAMES, Subject};

/// Nanoseconds per job of one subject: medians over the rounds, and the
/// spread (fastest and slowest round).
#[derive(Debug, Clone, Copy)]
pub struct Overhead {
    /// Spawn one job, await it, repeat.
    pub sequential_ns: f64,
    /// Spawn every job, then await them all.
    pub batch_ns: f64,
    /// Fastest and slowest sequential round.
    pub sequential_spread: (f64, f64),
    /// Fastest and slowest batch round.
    pub batch_spread: (f64, f64),
    /// [`SUBMITTERS`] threads each spawn their share of a batch at once,
    /// then await it: contention on the submission path.
    pub contended_ns: f64,
    /// Fastest and slowest contended round.
    pub contended_spread: (f64, f64),
}

/// How many threads submit at once in the contended measurement: as many
/// as a 16-core machine's request handlers, to load the shared queue and
/// counters of the submission path the way such a machine would (on fewer
/// cores the threads take turns, so this shows contention on the shared
/// state, not on the cores).
pub const SUBMITTERS: u64 = 16;

/// How many jobs each measurement runs.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Jobs per sequential measurement.
    pub sequential: u64,
    /// Jobs per batch measurement.
    pub batch: u64,
    /// Measurements per subject; the median is reported.
    pub rounds: usize,
}

fn sequential(subject: &Subject, jobs: u64) -> f64 {
    subject.block_on(async {
        let start = Instant::now();
        for i in 0..jobs {
            subject.submit(i).value().await;
        }
        start.elapsed().as_nanos() as f64 / jobs as f64
    })
}

fn batch(subject: &Subject, jobs: u64) -> f64 {
    subject.block_on(async {
        let start = Instant::now();
        let held: Vec<_> = (0..jobs).map(|i| subject.submit(i)).collect();
        for job in held {
            job.value().await;
        }
        start.elapsed().as_nanos() as f64 / jobs as f64
    })
}

fn contended(subject: &Subject, jobs: u64) -> f64 {
    let per_thread = (jobs / SUBMITTERS).max(1);
    let start_line = std::sync::Barrier::new(SUBMITTERS as usize + 1);
    let start = std::thread::scope(|scope| {
        for submitter in 0..SUBMITTERS {
            let start_line = &start_line;
            scope.spawn(move || {
                let _runtime = subject.enter_runtime();
                start_line.wait();
                let first = submitter * per_thread;
                let held: Vec<_> = (first..first + per_thread)
                    .map(|i| subject.submit(i))
                    .collect();
                futures::executor::block_on(async {
                    for job in held {
                        job.value().await;
                    }
                });
            });
        }
        start_line.wait();
        Instant::now()
    });
    start.elapsed().as_nanos() as f64 / (per_thread * SUBMITTERS) as f64
}

/// The median of `values`.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The smallest and largest of `values`.
pub fn spread(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// The subjects of [`measure_with_subscriber`].
pub const SPAN_SUBJECTS: [&str; 4] = [
    "executor_tokio",
    "executor_tokio_without_spans",
    "executor_rayon",
    "executor_rayon_without_spans",
];

/// Batch nanoseconds per job of our executors with job spans on and off,
/// submitted from inside a request span with a subscriber interested in
/// both (the formatting subscriber of a service logging at INFO, writing
/// nowhere): what the spans cost a traced service. Rounds interleaved.
pub fn measure_with_subscriber(
    threads: usize,
    sizes: Sizes,
    progress: &mut dyn FnMut(&str),
) -> Vec<(&'static str, Overhead)> {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request", id = 42);
        let _entered = request.enter();
        let subjects: Vec<(&str, Subject)> = SPAN_SUBJECTS
            .iter()
            .map(|&name| (name, Subject::new(name, threads)))
            .collect();
        for (_, subject) in &subjects {
            batch(subject, sizes.batch / 10 + 1);
        }
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
        for round in 0..sizes.rounds {
            progress(&format!(
                "overhead with a subscriber, round {}/{}",
                round + 1,
                sizes.rounds
            ));
            for ((_, subject), bat) in subjects.iter().zip(&mut samples) {
                bat.push(batch(subject, sizes.batch));
            }
        }
        subjects
            .into_iter()
            .zip(samples)
            .map(|((name, subject), bat)| {
                subject.finish();
                (
                    name,
                    Overhead {
                        sequential_ns: f64::NAN,
                        batch_ns: median(bat.clone()),
                        sequential_spread: (f64::NAN, f64::NAN),
                        batch_spread: spread(&bat),
                        contended_ns: f64::NAN,
                        contended_spread: (f64::NAN, f64::NAN),
                    },
                )
            })
            .collect()
    })
}

/// Measures every subject with `threads` threads. Rounds are interleaved
/// across subjects, so that drift on a shared machine hits them alike.
pub fn measure_all(
    threads: usize,
    sizes: Sizes,
    progress: &mut dyn FnMut(&str),
) -> Vec<(&'static str, Overhead)> {
    let subjects: Vec<(&str, Subject)> = NAMES
        .iter()
        .map(|&name| (name, Subject::new(name, threads)))
        .collect();
    for (_, subject) in &subjects {
        // Warm up: start the threads, fill the allocator's caches.
        sequential(subject, sizes.sequential / 10 + 1);
        batch(subject, sizes.batch / 10 + 1);
    }
    type Samples = (Vec<f64>, Vec<f64>, Vec<f64>);
    let mut samples: Vec<Samples> = vec![(Vec::new(), Vec::new(), Vec::new()); subjects.len()];
    for round in 0..sizes.rounds {
        progress(&format!("overhead round {}/{}", round + 1, sizes.rounds));
        for ((_, subject), (seq, bat, con)) in subjects.iter().zip(&mut samples) {
            seq.push(sequential(subject, sizes.sequential));
            bat.push(batch(subject, sizes.batch));
            con.push(contended(subject, sizes.batch));
        }
    }
    subjects
        .into_iter()
        .zip(samples)
        .map(|((name, subject), (seq, bat, con))| {
            subject.finish();
            (
                name,
                Overhead {
                    sequential_ns: median(seq.clone()),
                    batch_ns: median(bat.clone()),
                    sequential_spread: spread(&seq),
                    batch_spread: spread(&bat),
                    contended_ns: median(con.clone()),
                    contended_spread: spread(&con),
                },
            )
        })
        .collect()
}
