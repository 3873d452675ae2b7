//! Conformance behaviours that cross runtimes: I/O redirected from jobs to
//! the registered I/O runtime, streams between a job and its consumer, and
//! the hang watchdog. Run with the rest by
//! [`conformance_tests!`](crate::conformance_tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use executor_api::io::{self, IoError};
use executor_api::{Executor, JobError};
use futures::StreamExt;

use crate::conformance::{Backend, Config};
use crate::support::{
    DropCounter, DropProbe, Gate, IO_THREAD, LogCapture, block_on_within, io_runtime, recv,
    shutdown_and_join, threads_named, timeout, tokio_block_on_within, wait_until,
};

fn build<B: Backend>(config: Config) -> B::Executor {
    B::build(config).expect("build the executor under test")
}

/// An executor named `name` whose I/O runtime is `io`.
fn build_with_io<B: Backend>(name: &str, io: &tokio::runtime::Runtime) -> B::Executor {
    build::<B>(Config {
        io_runtime: Some(io.handle().clone()),
        ..Config::new(name, 1)
    })
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

// ----- I/O redirection -----

/// From inside a job, `io::spawn` runs the future on the registered I/O
/// runtime (with its timers) and the job gets its output.
pub fn io_runs_on_the_registered_runtime<B: Backend>() {
    let io = io_runtime();
    let executor = build_with_io::<B>("iorun", &io);
    let job = executor.spawn(async {
        let io_thread = io::spawn(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            thread_name()
        })
        .await;
        (io_thread, thread_name())
    });
    let (io_thread, job_thread) = block_on_within("a job doing I/O", job).unwrap();
    assert_eq!(io_thread, Ok(IO_THREAD.to_owned()));
    assert!(job_thread.starts_with("iorun-"), "job ran on {job_thread}");
    assert_eq!(
        block_on_within(
            "the I/O runtime's handle",
            executor.spawn(async { io::runtime().map(|handle| handle.id()) })
        ),
        Ok(Ok(io.handle().id()))
    );
    shutdown_and_join(&executor);
}

/// Built from inside a Tokio runtime, an executor uses that runtime for I/O
/// unless told otherwise.
pub fn io_runtime_defaults_to_the_building_runtime<B: Backend>() {
    let io = io_runtime();
    let executor = {
        let _inside = io.enter();
        build::<B>(Config::new("iodef", 1))
    };
    let job = executor.spawn(async { io::spawn(async { thread_name() }).await });
    assert_eq!(
        block_on_within("I/O on the default runtime", job),
        Ok(Ok(IO_THREAD.to_owned()))
    );
    shutdown_and_join(&executor);
}

/// Without an I/O runtime, or outside a job, the helpers return a typed
/// error: never a panic, never I/O on the CPU pool.
pub fn io_without_a_runtime_is_a_typed_error<B: Backend>() {
    // Built on a plain thread: there is no runtime to default to.
    let executor = build::<B>(Config::new("ionone", 1));
    let job = executor.spawn(async {
        let task = io::spawn(async { 1 }).await;
        let stream: Vec<_> = io::spawn_stream(futures::stream::iter([1, 2]), 1)
            .collect()
            .await;
        (task, stream, io::runtime().err())
    });
    let (task, stream, runtime) = block_on_within("I/O without a runtime", job).unwrap();
    assert_eq!(task, Err(IoError::NoIoRuntime));
    assert_eq!(stream, vec![Err(IoError::NoIoRuntime)]);
    assert_eq!(runtime, Some(IoError::NoIoRuntime));
    assert!(IoError::NoIoRuntime.to_string().contains("io_runtime"));

    let outside = block_on_within("I/O outside a job", io::spawn(async { 1 }));
    assert_eq!(outside, Err(IoError::NotInJob));
    shutdown_and_join(&executor);
}

/// Once the I/O runtime has shut down, the helpers say so.
pub fn io_after_the_runtime_shut_down_is_a_typed_error<B: Backend>() {
    let io = io_runtime();
    let executor = build_with_io::<B>("iodown", &io);
    io.shutdown_timeout(timeout());
    let job = executor.spawn(async {
        let task = io::spawn(async { 1 }).await;
        let stream: Vec<_> = io::spawn_stream(futures::stream::iter([1]), 1)
            .collect()
            .await;
        (task, stream)
    });
    let (task, stream) = block_on_within("I/O after the runtime shut down", job).unwrap();
    assert_eq!(task, Err(IoError::IoRuntimeShutDown));
    assert_eq!(stream, vec![Err(IoError::IoRuntimeShutDown)]);
    shutdown_and_join(&executor);
}

/// A panic in the I/O future is the job's error to handle; the I/O runtime
/// keeps serving.
pub fn io_panic_is_an_error<B: Backend>() {
    let io = io_runtime();
    let executor = build_with_io::<B>("iopanic", &io);
    let job = executor.spawn(async {
        let failed = io::spawn(async { panic!("disk on fire") }).await;
        let next = io::spawn(async { 7 }).await;
        (failed, next)
    });
    let (failed, next): (Result<(), _>, _) = block_on_within("a panicking I/O task", job).unwrap();
    assert_eq!(
        failed,
        Err(IoError::Panicked {
            message: "disk on fire".into()
        })
    );
    assert_eq!(next, Ok(7));
    shutdown_and_join(&executor);
}

/// Cancelling a job that awaits I/O aborts the I/O task.
pub fn cancelling_the_job_cancels_its_io<B: Backend>() {
    let io = io_runtime();
    let executor = build_with_io::<B>("iocancel", &io);
    let drops = DropCounter::new();
    let probe = drops.probe();
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let job = executor.spawn(async move {
        io::spawn(async move {
            let _probe = probe;
            started_tx.send(()).unwrap();
            futures::future::pending::<()>().await;
        })
        .await
    });
    recv("the I/O task to start", &started_rx);
    drop(job);
    drops.wait_for_drop("the I/O future, aborted with its job");
    let metrics = shutdown_and_join(&executor);
    assert_eq!(metrics.cancelled, 1);
}

// ----- streams -----

/// A stream produced on the executor arrives whole and in order, consumed
/// from another runtime.
pub fn stream_items_arrive_in_order<B: Backend>() {
    let executor = build::<B>(Config::new("stream", 2));
    let batches = futures::stream::iter(0..500u32).then(|batch| async move {
        if batch % 50 == 0 {
            workload::yield_now().await;
        }
        (batch, thread_name())
    });
    let items: Vec<_> = tokio_block_on_within(
        "a stream from the executor",
        executor.spawn_stream(batches, 8).collect(),
    );
    assert_eq!(items.len(), 500);
    for (expected, item) in items.into_iter().enumerate() {
        let (batch, thread) = item.expect("every item arrives");
        assert_eq!(batch as usize, expected);
        assert!(thread.starts_with("stream-"), "produced on {thread}");
    }
    shutdown_and_join(&executor);
}

/// The producer runs ahead of the consumer by exactly `buffer` items, and
/// no further.
pub fn stream_backpressure_is_bounded<B: Backend>() {
    const BUFFER: usize = 3;
    let executor = build::<B>(Config::new("backpr", 1));
    let produced = Arc::new(AtomicUsize::new(0));
    let consumed = Arc::new(AtomicUsize::new(0));
    let overran = Arc::new(AtomicBool::new(false));
    let (counter, seen, flag) = (produced.clone(), consumed.clone(), overran.clone());
    let stream = futures::stream::iter(0..100usize).map(move |item| {
        // Item `item` is pulled with `item` items already sent; at most
        // `BUFFER` may wait unread (one more may be in the consumer's hands).
        if item > seen.load(Ordering::SeqCst) + BUFFER {
            flag.store(true, Ordering::SeqCst);
        }
        counter.fetch_add(1, Ordering::SeqCst);
        item
    });
    let mut items = executor.spawn_stream(stream, BUFFER);
    for expected in 0..20 {
        let bound = expected + BUFFER;
        wait_until("the producer to fill the buffer", || {
            produced.load(Ordering::SeqCst) >= bound
        });
        assert_eq!(
            produced.load(Ordering::SeqCst),
            bound,
            "the producer ran past the buffer"
        );
        let item = tokio_block_on_within("the next item", items.next());
        assert_eq!(item, Some(Ok(expected)));
        consumed.fetch_add(1, Ordering::SeqCst);
    }
    assert!(!overran.load(Ordering::SeqCst), "the producer overran");
    drop(items);
    shutdown_and_join(&executor);
}

/// One item, then a producer that waits forever holding `probe`: only a
/// cancel can stop it.
fn one_then_stuck(probe: DropProbe) -> impl futures::Stream<Item = u32> + Send {
    futures::stream::once(async { 1 }).chain(futures::stream::once(async move {
        let _probe = probe;
        futures::future::pending::<u32>().await
    }))
}

/// Dropping the consumer cancels the producer, even one stuck in its own
/// await, and drops its stream.
pub fn dropping_the_stream_cancels_the_producer<B: Backend>() {
    let executor = build::<B>(Config::new("strdrop", 1));
    let drops = DropCounter::new();
    let mut items = executor.spawn_stream(one_then_stuck(drops.probe()), 2);
    assert_eq!(
        tokio_block_on_within("the first item", items.next()),
        Some(Ok(1))
    );
    drop(items);
    drops.wait_for_drop("the producer's stream");
    let metrics = shutdown_and_join(&executor);
    // Usually cancelled in its await; if the drop lands while the producer
    // is between two items, it sees the consumer gone and ends by itself.
    assert_eq!(metrics.cancelled + metrics.completed, 1);
}

/// A panic in the producer ends the stream with one error item, after the
/// items produced before it; a stream submitted after shutdown yields
/// `ShutDown`.
pub fn producer_panic_ends_the_stream_with_an_error<B: Backend>() {
    let executor = build::<B>(Config::new("strpanic", 1));
    let stream = futures::stream::iter(0..5u32).map(|batch| {
        assert!(batch < 2, "bad batch {batch}");
        batch
    });
    let items: Vec<_> = tokio_block_on_within(
        "a panicking stream",
        executor.spawn_stream(stream, 4).collect(),
    );
    assert_eq!(
        items,
        vec![
            Ok(0),
            Ok(1),
            Err(JobError::Panicked {
                message: "bad batch 2".into()
            })
        ]
    );
    executor.shutdown();
    let late: Vec<_> = tokio_block_on_within(
        "a stream submitted after shutdown",
        executor
            .spawn_stream(futures::stream::iter([1u32]), 1)
            .collect(),
    );
    assert_eq!(late, vec![Err(JobError::ShutDown)]);
    shutdown_and_join(&executor);
}

/// A stream of I/O is driven on the I/O runtime and consumed inside a job:
/// items in order, a panic as the last item, and dropping it mid-way
/// aborts the I/O task.
pub fn io_stream_is_consumed_inside_a_job<B: Backend>() {
    let io = io_runtime();
    let executor = build_with_io::<B>("iostream", &io);
    let drops = DropCounter::new();
    let probe = drops.probe();
    let job = executor.spawn(async move {
        let reads = futures::stream::iter(0..100u32).map(|block| (block, thread_name()));
        let all: Vec<_> = io::spawn_stream(reads, 4).collect().await;
        let failing = futures::stream::iter(0..3u32).map(|block| {
            assert!(block < 1, "read failed");
            block
        });
        let failed: Vec<_> = io::spawn_stream(failing, 4).collect().await;
        let mut stuck = io::spawn_stream(one_then_stuck(probe), 2);
        let first = stuck.next().await;
        drop(stuck);
        (all, failed, first)
    });
    let (all, failed, first) = block_on_within("a job reading an I/O stream", job).unwrap();
    assert_eq!(all.len(), 100);
    for (expected, item) in all.into_iter().enumerate() {
        let (block, thread) = item.expect("every block arrives");
        assert_eq!(block as usize, expected);
        assert_eq!(thread, IO_THREAD);
    }
    assert_eq!(
        failed,
        vec![
            Ok(0),
            Err(IoError::Panicked {
                message: "read failed".into()
            })
        ]
    );
    assert_eq!(first, Some(Ok(1)));
    drops.wait_for_drop("the I/O stream, aborted when the job dropped it");
    shutdown_and_join(&executor);
}

// ----- watchdog -----

/// A job that runs past the threshold without yielding is reported while
/// it runs, once: a warning naming the job, its thread and the time, and
/// the `stalled_polls` counter.
pub fn watchdog_reports_a_job_that_does_not_yield<B: Backend>() {
    let logs = LogCapture::new();
    let executor = logs.in_scope(|| {
        build::<B>(Config {
            watchdog: Some(Duration::from_millis(20)),
            ..Config::new("dog", 1)
        })
    });
    wait_until("the watchdog thread", || {
        threads_named("dog-watch").len() == 1
    });
    let watched = executor.clone();
    let job = executor.job().name("cpu:spin").spawn_cpu(move |_| {
        // Hold the worker, never yielding, until the watchdog has noticed,
        // then for a few scans more: a poll is reported once, however long
        // it runs.
        let deadline = Instant::now() + timeout();
        while watched.metrics().stalled_polls == 0 {
            assert!(Instant::now() < deadline, "the watchdog never noticed");
            std::hint::spin_loop();
        }
        let noticed = Instant::now();
        while noticed.elapsed() < Duration::from_millis(60) {
            std::hint::spin_loop();
        }
    });
    block_on_within("the non-yielding job", job).unwrap();
    let metrics = shutdown_and_join(&executor);
    assert_eq!(metrics.stalled_polls, 1, "one long poll, reported once");
    let logs = logs.contents();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("job `cpu:spin` has run for"), "{logs}");
    assert!(logs.contains("on thread dog-0"), "{logs}");
    assert!(logs.contains("threshold 20ms"), "{logs}");
}

/// Jobs that wait (for a timer, here) are not running: the watchdog never
/// reports them, however long they wait. Without a watchdog there is no
/// watchdog thread. (The threshold is far above any poll here, so that a
/// worker preempted on a loaded machine is not counted.)
pub fn watchdog_ignores_waiting_jobs<B: Backend>() {
    let executor = build::<B>(Config {
        watchdog: Some(Duration::from_millis(300)),
        ..Config::new("calm", 1)
    });
    let job = executor.spawn(async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    block_on_within("a job waiting on timers", job).unwrap();
    let metrics = shutdown_and_join(&executor);
    assert_eq!(metrics.stalled_polls, 0);

    // A poll that runs, but shorter than the threshold, is not reported
    // either: this one spans at least one scan (a quarter threshold) and
    // stays well under the threshold.
    let executor = build::<B>(Config {
        watchdog: Some(Duration::from_millis(2_000)),
        ..Config::new("brief", 1)
    });
    let job = executor.spawn_cpu(|_| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(600) {
            std::hint::spin_loop();
        }
    });
    block_on_within("a brief poll", job).unwrap();
    let metrics = shutdown_and_join(&executor);
    assert_eq!(
        metrics.stalled_polls, 0,
        "a poll under the threshold was reported"
    );

    let unwatched = build::<B>(Config {
        watchdog: None,
        ..Config::new("nodog", 1)
    });
    assert!(threads_named("nodog-watch").is_empty());
    shutdown_and_join(&unwatched);
}

/// The watchdog watches every worker, not only the last one to start: two
/// jobs that never yield, on two workers at once, are both reported.
pub fn watchdog_watches_every_worker<B: Backend>() {
    let executor = build::<B>(Config {
        watchdog: Some(Duration::from_millis(20)),
        ..Config::new("dogs", 2)
    });
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let watched = executor.clone();
            executor.spawn_cpu(move |_| {
                // Hold this worker until both long polls were noticed.
                let deadline = Instant::now() + timeout();
                while watched.metrics().stalled_polls < 2 {
                    assert!(Instant::now() < deadline, "a worker was not watched");
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    for result in block_on_within("two non-yielding jobs", futures::future::join_all(spinners)) {
        result.expect("a non-yielding job");
    }
    let metrics = shutdown_and_join(&executor);
    assert_eq!(
        metrics.stalled_polls, 2,
        "two long polls, each reported once"
    );
}

/// Debug output says what an I/O task, an I/O stream and a job stream are,
/// and an I/O task's state: running, finished, or failed.
pub fn debug_output_names_io_and_streams<B: Backend>() {
    let io = io_runtime();
    let executor = build_with_io::<B>("iodbg", &io);
    let gate = Gate::new();
    let job_gate = gate.clone();
    let described = executor.spawn(async move {
        let running = io::spawn(async move { job_gate.opened().await });
        let while_running = format!("{running:?}");
        let finished = io::spawn(async {});
        let mut finished = Box::pin(finished);
        // Wait until the I/O task has finished, without taking its output.
        while !format!("{finished:?}").contains("finished") {
            tokio::task::yield_now().await;
            futures::future::poll_immediate(&mut finished).await;
        }
        let stream = io::spawn_stream(futures::stream::iter([1, 2]), 1);
        (while_running, format!("{stream:?}"))
    });
    let (running, stream) = block_on_within("the job", described).expect("the job");
    gate.open();
    assert!(
        running.contains("IoTask") && running.contains("running"),
        "{running}"
    );
    assert!(stream.contains("IoStream"), "{stream}");
    let failed = io::spawn(async {});
    let failed = format!("{failed:?}");
    assert!(failed.contains("failed"), "outside a job: {failed}");
    let job_stream = executor.spawn_stream(futures::stream::iter([1]), 1);
    assert!(format!("{job_stream:?}").contains("JobStream"));
    drop(job_stream);
    shutdown_and_join(&executor);
}

/// A marker no other test logs.
fn unique_marker(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A job runs inside the span that was current when it was submitted, and
/// inside a `job` span of its own (executor name, job name, queue time):
/// an event logged inside a future job or a closure job carries the
/// submitter's request fields.
pub fn jobs_log_inside_the_submitters_span<B: Backend>() {
    let logs = LogCapture::global();
    let executor = build::<B>(Config::new("spans", 1));
    let request = unique_marker("request");
    let span = tracing::info_span!("request", id = %request);
    let (future_job, closure_job) = span.in_scope(|| {
        let future_job = executor.job().name("traced-future").spawn(async {
            tracing::info!("inside the future job");
        });
        let closure_job = executor.spawn_cpu(|_| tracing::info!("inside the closure job"));
        (future_job, closure_job)
    });
    block_on_within("the future job", future_job).expect("the future job");
    block_on_within("the closure job", closure_job).expect("the closure job");
    let contents = logs.contents();
    for (event, job_name) in [
        ("inside the future job", "traced-future"),
        ("inside the closure job", ""),
    ] {
        let line = contents
            .lines()
            .find(|line| line.contains(event) && line.contains(&request))
            .unwrap_or_else(|| {
                panic!("no {event:?} line with the request's fields in:\n{contents}")
            });
        assert!(line.contains(&format!("request{{id={request}}}")), "{line}");
        assert!(line.contains("job{executor=\"spans\""), "{line}");
        assert!(line.contains(&format!("job=\"{job_name}\"")), "{line}");
        assert!(line.contains("queue_us="), "{line}");
    }
    shutdown_and_join(&executor);
}

/// With job spans turned off, a job's events carry neither the submitter's
/// span nor a `job` span.
pub fn job_spans_can_be_turned_off<B: Backend>() {
    let logs = LogCapture::global();
    let executor = build::<B>(Config {
        job_spans: false,
        ..Config::new("nospans", 1)
    });
    let request = unique_marker("untraced");
    let event = unique_marker("event");
    let span = tracing::info_span!("request", id = %request);
    let job = span.in_scope(|| {
        let event = event.clone();
        executor.spawn(async move { tracing::info!(%event, "inside") })
    });
    block_on_within("the job", job).expect("the job");
    let contents = logs.contents();
    let line = contents
        .lines()
        .find(|line| line.contains(&event))
        .unwrap_or_else(|| panic!("the job's event was not logged:\n{contents}"));
    assert!(!line.contains(&request), "{line}");
    assert!(!line.contains("job{"), "{line}");
    shutdown_and_join(&executor);
}
