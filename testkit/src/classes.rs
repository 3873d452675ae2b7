//! The conformance suite's workload-class behaviours: admission, sharing by
//! weight, caps, the time-slice helper, per-class metrics, and shutdown
//! across classes. Run by [`conformance_tests!`](crate::conformance_tests)
//! like the rest of the suite.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use executor_api::{BuildError, Executor, JobError, Overload, WorkloadClass, should_yield};

use crate::conformance::{Backend, Config, poll_now, start_blocked};
use crate::support::{DropCounter, Gate, block_on_within, recv, shutdown_and_join, timeout};

/// Runs on the CPU for `duration` of the calling thread's own CPU clock
/// (what a poll is charged), however long that takes on a busy machine.
pub(crate) fn spin_for(duration: Duration) {
    let cpu = || {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    };
    let until = cpu() + duration;
    while cpu() < until {
        std::hint::spin_loop();
    }
}

fn build_with<B: Backend>(name: &str, workers: usize, classes: Vec<WorkloadClass>) -> B::Executor {
    B::build(Config {
        classes,
        ..Config::new(name, workers)
    })
    .expect("build the executor under test")
}

/// A job submitted to a class the executor does not have resolves at once
/// to `UnknownClass`; it never runs and is not counted.
pub fn a_class_that_does_not_exist_is_a_typed_error<B: Backend>() {
    let executor = build_with::<B>("nocls", 1, vec![WorkloadClass::new("query")]);
    let drops = DropCounter::new();
    let probe = drops.probe();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let mut handle = executor.job().class("qeury").spawn(async move {
        let _probe = probe;
        flag.store(true, Ordering::SeqCst);
    });
    assert!(handle.is_finished(), "an unknown class resolves at once");
    let err = poll_now(&mut handle).expect("resolved").unwrap_err();
    assert_eq!(
        err,
        JobError::UnknownClass {
            class: "qeury".into()
        }
    );
    assert!(err.to_string().contains("qeury"), "{err}");
    assert_eq!(drops.drops(), 1, "the refused job was not dropped");
    assert_eq!(
        block_on_within(
            "a known class",
            executor.job().class("query").spawn(async { 1 })
        ),
        Ok(1)
    );
    let metrics = shutdown_and_join(&executor);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!((metrics.submitted, metrics.completed), (1, 1));
}

/// Every bad class setting is a typed build error naming the class.
pub fn bad_class_configuration_is_a_typed_error<B: Backend>() {
    let bad_classes: Vec<(&str, Vec<WorkloadClass>)> = vec![
        ("a zero weight", vec![WorkloadClass::new("w").weight(0)]),
        (
            "a huge weight",
            vec![WorkloadClass::new("w").weight(1_000_000)],
        ),
        ("a zero cap", vec![WorkloadClass::new("w").cap(0.0)]),
        ("a negative cap", vec![WorkloadClass::new("w").cap(-1.0)]),
        (
            "a cap that is not a number",
            vec![WorkloadClass::new("w").cap(f64::NAN)],
        ),
        (
            "a cap above the workers",
            vec![WorkloadClass::new("w").cap(2.5)],
        ),
        (
            "a zero cap window",
            vec![WorkloadClass::new("w").cap(0.5).cap_window(Duration::ZERO)],
        ),
        ("a zero bound", vec![WorkloadClass::new("w").max_queued(0)]),
        (
            "a zero wait",
            vec![WorkloadClass::new("w").max_queue_wait(Duration::ZERO)],
        ),
        ("an empty name", vec![WorkloadClass::new("")]),
        ("a control character", vec![WorkloadClass::new("w\n")]),
        (
            "two classes of one name",
            vec![WorkloadClass::new("w"), WorkloadClass::new("w").weight(2)],
        ),
        (
            "the default class twice",
            vec![WorkloadClass::new("default"), WorkloadClass::new("default")],
        ),
    ];
    for (what, classes) in bad_classes {
        let err = B::build(Config {
            classes,
            ..Config::new("badcls", 2)
        })
        .expect_err(what);
        match &err {
            BuildError::InvalidClass { class, reason } => {
                assert!(!reason.is_empty(), "{what}");
                assert!(
                    err.to_string().contains(&format!("{class:?}")),
                    "{what}: {err}"
                );
            }
            other => panic!("{what}: not InvalidClass but {other:?}"),
        }
    }
    let err = B::build(Config {
        time_slice: Some(Duration::ZERO),
        ..Config::new("badcls", 1)
    })
    .expect_err("a zero time slice was accepted");
    assert!(matches!(err, BuildError::InvalidTimeSlice), "{err:?}");
    crate::support::assert_no_threads_named("badcls");
}

/// Past its bound, a class refuses a submission at once with `Overloaded`
/// naming it, drops the job unrun and counts it; other classes are not
/// affected, and a slot frees up when a queued job starts.
pub fn a_full_class_refuses_at_once_and_counts_it<B: Backend>() {
    let executor = build_with::<B>("full", 1, vec![WorkloadClass::new("bounded").max_queued(2)]);
    let (running, gate) = start_blocked(&executor, ());
    let first = executor.job().class("bounded").spawn_cpu(|_| 1);
    let second = executor.job().class("bounded").spawn_cpu(|_| 2);
    let drops = DropCounter::new();
    let probe = drops.probe();
    let mut refused = executor.job().class("bounded").spawn_cpu(move |_| {
        let _probe = probe;
        3
    });
    assert!(refused.is_finished(), "a full class refuses at once");
    let err = poll_now(&mut refused).expect("resolved").unwrap_err();
    assert_eq!(
        err,
        JobError::Overloaded {
            class: "bounded".into(),
            reason: Overload::QueueFull { max_queued: 2 },
        }
    );
    assert!(err.is_overloaded());
    assert!(err.to_string().contains("bounded"), "{err}");
    assert_eq!(drops.drops(), 1, "the refused job was not dropped");
    // The default class has no bound.
    let other = executor.spawn_cpu(|_| 4);
    gate.open();
    block_on_within("the blocking job", running).unwrap();
    assert_eq!(block_on_within("the first", first), Ok(1));
    assert_eq!(block_on_within("the second", second), Ok(2));
    assert_eq!(block_on_within("the other class", other), Ok(4));
    // Both started: the class has room again.
    assert_eq!(
        block_on_within(
            "a job after the queue emptied",
            executor.job().class("bounded").spawn_cpu(|_| 5)
        ),
        Ok(5)
    );
    let class = &executor.class_metrics()[1];
    assert_eq!(
        (class.name.as_str(), class.submitted, class.overloaded),
        ("bounded", 3, 1)
    );
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.submitted, metrics.overloaded), (5, 1));
}

/// A job that waited longer than its class allows resolves to `Overloaded`
/// when it reaches a worker, without running, and is counted as expired.
pub fn a_job_that_waited_too_long_expires_unrun<B: Backend>() {
    let limit = Duration::from_millis(5);
    let executor = build_with::<B>(
        "expire",
        1,
        vec![WorkloadClass::new("fresh").max_queue_wait(limit)],
    );
    let (running, gate) = start_blocked(&executor, ());
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let stale = executor
        .job()
        .class("fresh")
        .spawn_cpu(move |_| flag.store(true, Ordering::SeqCst));
    // The event under test is time passing: the job must wait past its
    // limit behind the blocked worker.
    spin_for(limit * 2);
    gate.open();
    block_on_within("the blocking job", running).unwrap();
    assert_eq!(
        block_on_within("the stale job", stale),
        Err(JobError::Overloaded {
            class: "fresh".into(),
            reason: Overload::WaitedTooLong {
                max_queue_wait: limit
            },
        })
    );
    assert!(!ran.load(Ordering::SeqCst), "an expired job ran");
    // A job that reaches a worker in time runs.
    assert_eq!(
        block_on_within(
            "a fresh job",
            executor.job().class("fresh").spawn_cpu(|_| 1)
        ),
        Ok(1)
    );
    let class = executor.class_metrics()[1].clone();
    assert_eq!((class.submitted, class.expired, class.completed), (2, 1, 1));
    assert_eq!(class.queue_wait.count(), 1, "an expired job never started");
    let metrics = shutdown_and_join(&executor);
    assert_eq!(
        (metrics.submitted, metrics.expired, metrics.completed),
        (3, 1, 2)
    );
}

/// A class alone uses every worker, whatever its weight (work-conserving).
pub fn a_class_alone_uses_the_whole_pool<B: Backend>() {
    let executor = build_with::<B>(
        "alone",
        2,
        vec![
            WorkloadClass::new("query").weight(100),
            WorkloadClass::new("background").weight(1),
        ],
    );
    let gate = Gate::new();
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (gate, started) = (gate.clone(), started_tx.clone());
            executor.job().class("background").spawn_cpu(move |_| {
                started.send(()).unwrap();
                gate.wait();
            })
        })
        .collect();
    recv("the first background job to start", &started_rx);
    recv(
        "the second background job to start on the other worker",
        &started_rx,
    );
    gate.open();
    for handle in handles {
        block_on_within("a background job", handle).unwrap();
    }
    shutdown_and_join(&executor);
}

/// With both classes waiting, the class of weight 8 runs eight jobs of the
/// same length for each of the weight-1 class: a FIFO would run the
/// background jobs, submitted first, first.
pub fn a_heavier_class_runs_more_while_both_wait<B: Backend>() {
    let executor = build_with::<B>(
        "weigh",
        1,
        vec![
            WorkloadClass::new("background").weight(1),
            WorkloadClass::new("query").weight(8),
        ],
    );
    let (running, gate) = start_blocked(&executor, ());
    let order = Arc::new(Mutex::new(Vec::new()));
    let submit = |class: &'static str| {
        let order = order.clone();
        executor.job().class(class).spawn_cpu(move |_| {
            spin_for(Duration::from_millis(2));
            order.lock().unwrap().push(class);
        })
    };
    let mut handles: Vec<_> = (0..3).map(|_| submit("background")).collect();
    handles.extend((0..3).map(|_| submit("query")));
    gate.open();
    block_on_within("the blocking job", running).unwrap();
    for handle in handles {
        block_on_within("a class job", handle).unwrap();
    }
    let order = order.lock().unwrap().clone();
    let last_query = order.iter().rposition(|class| *class == "query").unwrap();
    let background_before = order[..last_query]
        .iter()
        .filter(|class| **class == "background")
        .count();
    assert!(
        background_before <= 1,
        "the weight-1 class ran {background_before} jobs before the weight-8 class's \
         last: {order:?}"
    );
    shutdown_and_join(&executor);
}

/// A capped class over its budget waits (it is not cancelled) while
/// another class's job, submitted after it, runs first.
pub fn a_capped_class_waits_and_others_go_first<B: Backend>() {
    let executor = build_with::<B>(
        "capped",
        1,
        vec![
            WorkloadClass::new("capped")
                .cap(0.05)
                .cap_window(Duration::from_millis(1)),
        ],
    );
    let order = Arc::new(Mutex::new(Vec::new()));
    let record = |what: &'static str| {
        let order = order.clone();
        move || order.lock().unwrap().push(what)
    };
    // 50 ms at 0.05 core: about a second over budget.
    let first = executor.job().class("capped").spawn_cpu({
        let record = record("capped first");
        move |_| {
            spin_for(Duration::from_millis(50));
            record();
        }
    });
    block_on_within("the first capped job", first).unwrap();
    let second = executor.job().class("capped").spawn_cpu({
        let record = record("capped second");
        move |_| record()
    });
    let other = executor.spawn_cpu({
        let record = record("default");
        move |_| record()
    });
    block_on_within("the default class's job", other).unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        ["capped first", "default"],
        "the capped class did not wait for its budget"
    );
    block_on_within("the second capped job, after its wait", second).unwrap();
    let class = &executor.class_metrics()[1];
    assert_eq!((class.completed, class.cancelled), (2, 0));
    shutdown_and_join(&executor);
}

/// Starts a capped class's job that runs the class far over its budget,
/// then queues `queued` more: they wait for the budget.
fn throttle<E: Executor>(
    executor: &E,
    spin: Duration,
    queued: usize,
) -> Vec<executor_api::JobHandle<u32>> {
    let first = executor.job().class("capped").spawn_cpu(move |_| {
        spin_for(spin);
        0
    });
    assert_eq!(
        block_on_within("the job that spends the budget", first),
        Ok(0)
    );
    (1..=queued as u32)
        .map(|value| executor.job().class("capped").spawn_cpu(move |_| value))
        .collect()
}

/// A graceful shutdown drains a throttled class: its queued jobs run, at
/// its cap, and complete.
pub fn graceful_shutdown_drains_a_throttled_class<B: Backend>() {
    let executor = build_with::<B>(
        "capdrain",
        1,
        vec![
            WorkloadClass::new("capped")
                .cap(0.1)
                .cap_window(Duration::from_millis(1)),
        ],
    );
    // 20 ms at 0.1 core: about 200 ms over budget.
    let queued = throttle(&executor, Duration::from_millis(20), 2);
    executor.shutdown();
    for (value, handle) in (1..).zip(queued) {
        assert_eq!(block_on_within("a throttled job", handle), Ok(value));
    }
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.completed, metrics.cancelled), (3, 0));
}

/// An immediate shutdown cancels a throttled class's queued jobs without
/// waiting for its budget (here, 100 s away).
pub fn immediate_shutdown_cancels_a_throttled_class<B: Backend>() {
    let executor = build_with::<B>(
        "capnow",
        1,
        vec![
            WorkloadClass::new("capped")
                .cap(0.001)
                .cap_window(Duration::from_millis(1)),
        ],
    );
    // 100 ms at a thousandth of a core: 100 s over budget, longer than any
    // wait of the suite.
    let queued = throttle(&executor, Duration::from_millis(100), 2);
    // A job of another class runs meanwhile: the worker has seen the
    // throttled class and chosen around it.
    assert_eq!(
        block_on_within("a job of another class", executor.spawn(async { 7 })),
        Ok(7)
    );
    // Not an ordering: with the wake-up that an immediate shutdown owes a
    // worker asleep until the budget returns, the test passes whether or not
    // the worker is asleep yet. The pause only makes it likely that it is,
    // so that the test exercises that wake-up.
    spin_for(Duration::from_millis(20));
    executor.shutdown_now();
    for handle in queued {
        assert_eq!(
            block_on_within("a throttled job after shutdown_now", handle),
            Err(JobError::Cancelled)
        );
    }
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.completed, metrics.cancelled), (2, 2));
}

/// Jobs of a capped class submitted one after another, each when the last
/// has finished, all run: a job pushed while its class is over its budget
/// and a worker is going to sleep is not left waiting (the worker sleeps on
/// the budget's end, not for good).
pub fn a_chain_of_capped_jobs_never_stalls<B: Backend>() {
    let executor = build_with::<B>(
        "capchain",
        1,
        vec![
            WorkloadClass::new("capped")
                .cap(0.5)
                .cap_window(Duration::from_micros(100)),
        ],
    );
    for link in 0..2_000u32 {
        let job = executor.job().class("capped").spawn_cpu(move |_| {
            spin_for(Duration::from_micros(20));
            link
        });
        assert_eq!(block_on_within("the next capped job", job), Ok(link));
    }
    shutdown_and_join(&executor);
}

/// A job that calls `yield_if_needed` between chunks lets a job submitted
/// after it run on the only worker; without the yield it would hold the
/// worker until the other job ran, which is never.
pub fn yield_if_needed_lets_other_jobs_in<B: Backend>() {
    assert!(!should_yield(), "outside a job, nothing yields");
    let executor = B::build(Config {
        time_slice: Some(Duration::from_millis(1)),
        ..Config::new("slice", 1)
    })
    .expect("build the executor under test");
    let let_in = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let waiting = let_in.clone();
    let long = executor.spawn(async move {
        started_tx.send(()).unwrap();
        let deadline = Instant::now() + timeout();
        let mut chunks = 0u64;
        while !waiting.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the other job never ran: yield_if_needed did not yield"
            );
            spin_for(Duration::from_micros(100));
            chunks += 1;
            executor_api::yield_if_needed().await;
        }
        chunks
    });
    recv("the long job to start", &started_rx);
    let other = executor.spawn_cpu(move |_| let_in.store(true, Ordering::SeqCst));
    block_on_within("the job behind the long one", other).unwrap();
    assert!(block_on_within("the long job", long).unwrap() > 0);
    shutdown_and_join(&executor);
}

/// Each class counts its own jobs by outcome, its worker time, queue waits
/// and polls; the executor's metrics are their sums.
pub fn class_metrics_count_every_job_by_class<B: Backend>() {
    let executor = build_with::<B>(
        "clsmet",
        1,
        vec![
            WorkloadClass::new("a").weight(3),
            WorkloadClass::new("b").cap(0.5),
        ],
    );
    for _ in 0..2 {
        let spun = executor
            .job()
            .class("a")
            .spawn_cpu(|_| spin_for(Duration::from_millis(2)));
        block_on_within("a class-a job", spun).unwrap();
    }
    let panicked = executor.job().class("b").spawn_cpu(|_| panic!("counted"));
    block_on_within("a panicking class-b job", panicked).unwrap_err();
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let pending = executor.job().class("b").spawn(async move {
        started_tx.send(()).unwrap();
        futures::future::pending::<()>().await;
    });
    recv("the pending job to start", &started_rx);
    drop(pending);
    let metrics = shutdown_and_join(&executor);
    let classes = executor.class_metrics();
    let names: Vec<_> = classes.iter().map(|class| class.name.as_str()).collect();
    assert_eq!(names, ["default", "a", "b"]);
    let (a, b) = (&classes[1], &classes[2]);
    assert_eq!((a.weight, a.cap, b.weight, b.cap), (3, None, 1, Some(0.5)));
    assert_eq!(
        (a.submitted, a.completed, a.panicked, a.cancelled),
        (2, 2, 0, 0)
    );
    assert_eq!(
        (b.submitted, b.completed, b.panicked, b.cancelled),
        (2, 0, 1, 1)
    );
    assert!(
        a.worker_time >= Duration::from_millis(4),
        "class a used {:?}",
        a.worker_time
    );
    assert_eq!(a.queue_wait.count(), 2);
    assert_eq!(a.poll_time.count(), 2);
    assert!(a.poll_time.sum() <= a.worker_time + Duration::from_micros(1));
    assert_eq!(b.queue_wait.count(), 2);
    assert!(b.poll_time.count() >= 2);
    assert_eq!(classes[0].submitted, 0);
    assert_eq!(
        (
            metrics.submitted,
            metrics.completed,
            metrics.panicked,
            metrics.cancelled
        ),
        (4, 2, 1, 1)
    );
    assert_eq!((a.queued, a.running, b.queued, b.running), (0, 0, 0, 0));
}

/// Cancelling, or dropping the handle of, a job queued in a class over its
/// cap takes effect at once, without waiting for the class's budget (here
/// 100 s away): the handle resolves, what the job captured is dropped, its
/// slot of the class's bound is free for a resubmission, and a graceful
/// `join` does not wait for it.
pub fn cancelling_a_throttled_job_takes_effect_at_once<B: Backend>() {
    let executor = build_with::<B>(
        "capcancel",
        1,
        vec![
            WorkloadClass::new("capped")
                .cap(0.001)
                .cap_window(Duration::from_millis(1))
                .max_queued(1),
        ],
    );
    // 100 ms at a thousandth of a core: 100 s over budget, longer than any
    // wait of the suite.
    let queued = throttle(&executor, Duration::from_millis(100), 0);
    assert!(queued.is_empty());
    let drops = DropCounter::new();

    // Cancelled with the handle kept: it resolves at once.
    let probe = drops.probe();
    let mut cancelled = executor.job().class("capped").spawn_cpu(move |_| {
        drop(probe);
        1u32
    });
    cancelled.cancel();
    assert_eq!(
        poll_now(&mut cancelled),
        Some(Err(JobError::Cancelled)),
        "a cancelled throttled job's handle waited for the class's budget"
    );
    assert_eq!(drops.drops(), 1, "the cancelled job's captures are kept");

    // Dropped: the slot of the bound is free at once for another.
    let probe = drops.probe();
    let dropped = executor.job().class("capped").spawn_cpu(move |_| {
        drop(probe);
        2u32
    });
    drop(dropped);
    assert_eq!(drops.drops(), 2, "the dropped job's captures are kept");
    let mut resubmitted = executor.job().class("capped").spawn_cpu(|_| 3u32);
    assert_eq!(
        poll_now(&mut resubmitted),
        None,
        "the bound's slot was still held by a cancelled job"
    );

    // A graceful shutdown waits for no cancelled job.
    executor.shutdown();
    resubmitted.cancel();
    assert_eq!(poll_now(&mut resubmitted), Some(Err(JobError::Cancelled)));
    let metrics = shutdown_and_join(&executor);
    assert_eq!((metrics.completed, metrics.cancelled), (1, 3));
    let class = executor
        .class_metrics()
        .into_iter()
        .find(|class| class.name == "capped")
        .expect("the capped class's metrics");
    assert_eq!(class.queued, 0, "{class:?}");
}

/// A job of a capped class starts when its class's budget returns even
/// while a task that a job spawned (`tokio::spawn`) blocks its thread:
/// nothing of the cap's timing runs on the threads that run such tasks.
pub fn a_throttled_job_starts_while_a_spawned_task_blocks_its_thread<B: Backend>() {
    let executor = build_with::<B>(
        "capbusy",
        2,
        vec![
            WorkloadClass::new("capped")
                .cap(0.5)
                .cap_window(Duration::from_millis(1)),
        ],
    );
    let gate = Gate::new();
    let (blocking_tx, blocking_rx) = crossbeam_channel::bounded(1);
    let task_gate = gate.clone();
    let spawner = executor.spawn(async move {
        drop(tokio::spawn(async move {
            let _ = blocking_tx.send(());
            // Holds its thread, never yielding, until the test is done.
            task_gate.wait();
        }));
    });
    assert_eq!(block_on_within("the spawning job", spawner), Ok(()));
    recv("the task to block its thread", &blocking_rx);
    // 10 ms at half a core: about 20 ms over budget.
    let queued = throttle(&executor, Duration::from_millis(10), 1);
    for handle in queued {
        assert_eq!(
            block_on_within("a throttled job while a task blocks its thread", handle),
            Ok(1)
        );
    }
    gate.open();
    shutdown_and_join(&executor);
}

/// While only a throttled job waits for its class's budget (here about
/// 10 s away), the executor's threads use next to no CPU: nothing spins or
/// polls on a timer while it waits.
pub fn waiting_for_a_budget_burns_no_cpu<B: Backend>() {
    let executor = build_with::<B>(
        "capidle",
        2,
        vec![
            WorkloadClass::new("capped")
                .cap(0.001)
                .cap_window(Duration::from_millis(1)),
        ],
    );
    // 10 ms at a thousandth of a core: 10 s over budget.
    let queued = throttle(&executor, Duration::from_millis(10), 1);
    let before = crate::support::cpu_time_of_threads_named("capidle-");
    let watching = Instant::now();
    // The event under test is time passing while the job waits.
    while watching.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let used = crate::support::cpu_time_of_threads_named("capidle-") - before;
    assert!(
        used < Duration::from_millis(20),
        "the executor's threads ran {used:?} in 1 s while a job waited for its budget"
    );
    executor.shutdown_now();
    for handle in queued {
        assert_eq!(
            block_on_within("the throttled job", handle),
            Err(JobError::Cancelled)
        );
    }
    shutdown_and_join(&executor);
}
