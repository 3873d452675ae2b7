//! The conformance suite's job-group behaviours: fairness between groups
//! whatever their number of jobs, new groups before long ones, the long
//! group's guaranteed share, groups in capped and bounded classes, a
//! group's end, shutdown with groups queued, and the typed errors. Run by
//! [`conformance_tests!`](crate::conformance_tests) like the rest of the
//! suite.
//!
//! The executors here have one worker, so that "who runs next" is the
//! scheduler's choice alone, and every job spins on its thread's CPU clock
//! (what a poll is charged) in chunks of 1 ms, yielding between chunks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use executor_api::{Executor, JobError, JobGroup, JobHandle, JobScope, Overload, WorkloadClass};

use crate::classes::spin_for;
use crate::conformance::{Backend, Config, start_blocked};
use crate::support::{Gate, block_on_within, recv, shutdown_and_join, timeout, wait_until};

fn build_with<B: Backend>(name: &str, classes: Vec<WorkloadClass>) -> B::Executor {
    B::build(Config {
        classes,
        ..Config::new(name, 1)
    })
    .expect("build the executor under test")
}

/// One chunk of a looping job.
const CHUNK: Duration = Duration::from_millis(1);

/// A job of `group` that runs chunks until `stop`, counting each in
/// `chunks`; it fails loudly if `stop` never comes.
fn looping<E: Executor>(
    executor: &E,
    group: &JobGroup,
    chunks: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
) -> JobHandle<()> {
    let (chunks, stop) = (chunks.clone(), stop.clone());
    executor.job().group(group).spawn(async move {
        let deadline = std::time::Instant::now() + timeout();
        while !stop.load(Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "a looping job was never stopped"
            );
            spin_for(CHUNK);
            chunks.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
    })
}

/// Two groups that both saturate the class share it equally, although one
/// has one job and the other eight: first come, first served per job would
/// give the first an eighth of the other's time.
pub fn groups_share_a_class_whatever_their_number_of_jobs<B: Backend>() {
    let executor = build_with::<B>("gshare", Vec::new());
    let (blocker, gate) = start_blocked(&executor, ());
    let (one, eight) = (executor.group(), executor.group());
    let stop = Arc::new(AtomicBool::new(false));
    let (one_chunks, eight_chunks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut handles = vec![looping(&executor, &one, &one_chunks, &stop)];
    handles.extend((0..8).map(|_| looping(&executor, &eight, &eight_chunks, &stop)));
    gate.open();
    block_on_within("the blocking job", blocker).unwrap();
    // 400 chunks: both groups reach level 3 and share there.
    let deadline = std::time::Instant::now() + timeout();
    while one_chunks.load(Ordering::SeqCst) + eight_chunks.load(Ordering::SeqCst) < 400 {
        assert!(
            std::time::Instant::now() < deadline,
            "the groups made no progress"
        );
        std::thread::yield_now();
    }
    stop.store(true, Ordering::SeqCst);
    for handle in handles {
        block_on_within("a looping job", handle).unwrap();
    }
    let (one_time, eight_time) = (one.metrics().cpu_time, eight.metrics().cpu_time);
    let share = one_time.as_secs_f64() / (one_time + eight_time).as_secs_f64();
    assert!(
        (0.4..=0.6).contains(&share),
        "the one-job group got {share:.2} of the class (chunks: {} against {}), not half",
        one_chunks.load(Ordering::SeqCst),
        eight_chunks.load(Ordering::SeqCst),
    );
    shutdown_and_join(&executor);
}

/// A new group's job runs before the queued jobs of a group that has used
/// CPU: each of its polls waits for the poll in progress at most, where
/// first come, first served would make it wait behind every queued job of
/// the long group.
pub fn a_new_group_overtakes_a_long_one<B: Backend>() {
    let executor = build_with::<B>("gnew", Vec::new());
    let long = executor.group();
    let stop = Arc::new(AtomicBool::new(false));
    let long_chunks = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| looping(&executor, &long, &long_chunks, &stop))
        .collect();
    // The long group reaches level 2 (20 ms).
    let deadline = std::time::Instant::now() + timeout();
    while long.metrics().level < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the long group made no progress"
        );
        std::thread::yield_now();
    }
    let new = executor.group();
    let before = long_chunks.clone();
    let short = executor.job().group(&new).spawn(async move {
        let at_start = before.load(Ordering::SeqCst);
        for _ in 0..3 {
            spin_for(CHUNK);
            tokio::task::yield_now().await;
        }
        before.load(Ordering::SeqCst) - at_start
    });
    let long_during_short = block_on_within("the new group's job", short).unwrap();
    stop.store(true, Ordering::SeqCst);
    for handle in handles {
        block_on_within("a long job", handle).unwrap();
    }
    // Between its first poll and its end, the short job yielded three
    // times; each time the long group may have finished at most the poll
    // it had started (none, on one worker): first come, first served would
    // run its four jobs in between, twelve chunks.
    assert!(
        long_during_short <= 3,
        "{long_during_short} chunks of the long group ran while the new group's job waited"
    );
    shutdown_and_join(&executor);
}

/// A long group keeps its level's share beside a steady stream of new
/// groups: strict priority for new groups would stop it until they are all
/// done.
pub fn a_long_group_is_not_starved_by_new_ones<B: Backend>() {
    let executor = build_with::<B>("gstarve", Vec::new());
    let long = executor.group();
    let stop = Arc::new(AtomicBool::new(false));
    let long_chunks = Arc::new(AtomicUsize::new(0));
    let long_job = looping(&executor, &long, &long_chunks, &stop);
    let deadline = std::time::Instant::now() + timeout();
    // Level 2 (20 ms): below the new groups' levels (0, then 1).
    while long.metrics().level < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the long group made no progress"
        );
        std::thread::yield_now();
    }
    // 100 new groups of 3 ms each, queued at once: each waits at a gate
    // first (without CPU), and the gate's opening wakes them all.
    let new_chunks = Arc::new(AtomicUsize::new(0));
    let all_queued = Gate::new();
    let news: Vec<_> = (0..100)
        .map(|_| {
            let group = executor.group();
            let (chunks, all_queued) = (new_chunks.clone(), all_queued.clone());
            executor.job().group(&group).spawn(async move {
                all_queued.opened().await;
                for _ in 0..3 {
                    spin_for(CHUNK);
                    chunks.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let (long_at_start, started) = (long_chunks.load(Ordering::SeqCst), long_chunks.clone());
    all_queued.open();
    for handle in news {
        block_on_within("a new group's job", handle).unwrap();
    }
    let long_during = started.load(Ordering::SeqCst) - long_at_start;
    stop.store(true, Ordering::SeqCst);
    block_on_within("the long job", long_job).unwrap();
    // The long group is at level 2 (weight 4) beside levels 0 and 1 (16
    // and 8): its level gets a seventh of the class. Half of that, at
    // least.
    let share = long_during as f64 / (long_during + new_chunks.load(Ordering::SeqCst)) as f64;
    assert!(
        share >= 0.07,
        "the long group ran {long_during} chunks beside 300 of new groups: starved"
    );
    shutdown_and_join(&executor);
}

/// Groups work inside a capped class and a bounded one: jobs run, a full
/// class refuses a group's job like any, and the group's figures count
/// only what was admitted.
pub fn groups_live_inside_capped_and_bounded_classes<B: Backend>() {
    let executor = build_with::<B>(
        "gclass",
        vec![
            WorkloadClass::new("capped").cap(0.5),
            WorkloadClass::new("bounded").max_queued(1),
        ],
    );
    let capped = executor.group_in("capped").unwrap();
    assert_eq!(capped.class(), "capped");
    let results: Vec<_> = (0..4)
        .map(|job| executor.job().group(&capped).spawn_cpu(move |_| job))
        .collect();
    for (job, handle) in results.into_iter().enumerate() {
        assert_eq!(block_on_within("a capped group's job", handle), Ok(job));
    }
    let bounded = executor.group_in("bounded").unwrap();
    let (blocker, gate) = start_blocked(&executor, ());
    let queued = executor.job().group(&bounded).spawn_cpu(|_| 1);
    let refused = executor.job().group(&bounded).spawn_cpu(|_| 2);
    assert!(matches!(
        block_on_within("the refused job", refused),
        Err(JobError::Overloaded {
            reason: Overload::QueueFull { max_queued: 1 },
            ..
        })
    ));
    let metrics = bounded.metrics();
    assert_eq!((metrics.queued, metrics.running), (1, 0));
    gate.open();
    block_on_within("the blocker", blocker).unwrap();
    assert_eq!(block_on_within("the queued job", queued), Ok(1));
    let metrics = bounded.metrics();
    assert_eq!((metrics.queued, metrics.running, metrics.level), (0, 0, 0));
    let classes = executor.class_metrics();
    assert_eq!(classes[1].groups.iter().sum::<usize>(), 1, "{classes:?}");
    assert_eq!(classes[2].groups.iter().sum::<usize>(), 1, "{classes:?}");
    drop((capped, bounded));
    let classes = executor.class_metrics();
    assert!(
        classes
            .iter()
            .all(|class| class.groups.iter().all(|&n| n == 0))
    );
    shutdown_and_join(&executor);
}

/// A group whose job handles are all dropped counts its cancelled jobs
/// out as they leave the queue, and ends as soon as its last job has
/// ended and its own handle is dropped: its class then counts no live
/// group.
pub fn dropping_every_handle_ends_a_group<B: Backend>() {
    let executor = build_with::<B>("gend", Vec::new());
    let (blocker, gate) = start_blocked(&executor, ());
    let group = executor.group();
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let ran = ran.clone();
            executor.job().group(&group).spawn_cpu(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert_eq!(group.metrics().queued, 5);
    assert_eq!(executor.class_metrics()[0].groups, [1, 0, 0, 0, 0]);
    drop(handles);
    // Behind the cancelled jobs in the group's FIFO.
    let last = executor.job().group(&group).spawn_cpu(|_| 6);
    gate.open();
    block_on_within("the blocker", blocker).unwrap();
    assert_eq!(block_on_within("the group's last job", last), Ok(6));
    let metrics = group.metrics();
    assert_eq!((metrics.queued, metrics.running), (0, 0), "{metrics:?}");
    assert_eq!(executor.class_metrics()[0].groups, [1, 0, 0, 0, 0]);
    drop(group);
    assert_eq!(
        executor.class_metrics()[0].groups,
        [0; 5],
        "the group outlived its last handle and job"
    );
    let metrics = shutdown_and_join(&executor);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled job ran");
    assert_eq!((metrics.cancelled, metrics.completed), (5, 2));
}

/// Shutdown of each kind with groups' jobs queued: graceful runs them all,
/// immediate cancels them all, and dropping the last clone drains them.
pub fn shutdown_of_each_kind_with_groups_queued<B: Backend>() {
    for kind in ["graceful", "immediate", "dropped"] {
        let executor = build_with::<B>("gshut", Vec::new());
        let (blocker, gate) = start_blocked(&executor, ());
        let groups: Vec<JobGroup> = (0..3).map(|_| executor.group()).collect();
        let handles: Vec<_> = groups
            .iter()
            .flat_map(|group| {
                (0..3)
                    .map(|job| executor.job().group(group).spawn_cpu(move |_| job))
                    .collect::<Vec<_>>()
            })
            .collect();
        match kind {
            "graceful" => executor.shutdown(),
            "immediate" => executor.shutdown_now(),
            _ => {}
        }
        let join = executor.join();
        if kind == "dropped" {
            drop(executor);
        }
        gate.open();
        let blocked = block_on_within("the blocker", blocker);
        for handle in handles {
            let outcome = block_on_within("a group's job", handle);
            match kind {
                "immediate" => assert_eq!(outcome, Err(JobError::Cancelled), "{kind}"),
                _ => assert!(outcome.is_ok(), "{kind}: {outcome:?}"),
            }
        }
        if kind != "immediate" {
            blocked.unwrap();
        }
        block_on_within("join", join);
        for group in &groups {
            let metrics = group.metrics();
            assert_eq!((metrics.queued, metrics.running), (0, 0), "{kind}");
        }
    }
}

/// A group made by another executor, or a class other than the group's,
/// is a typed error at submission; an unknown class for a group too.
pub fn a_group_of_another_executor_or_class_is_a_typed_error<B: Backend>() {
    let executor = build_with::<B>("gerr", vec![WorkloadClass::new("query")]);
    let other = build_with::<B>("gother", Vec::new());
    let foreign = other.group();
    let refused = executor.job().group(&foreign).spawn_cpu(|_| 1);
    let err = block_on_within("a foreign group's job", refused).unwrap_err();
    assert_eq!(err, JobError::ForeignGroup);
    assert!(err.to_string().contains("another executor"), "{err}");
    let group = executor.group();
    let mismatched = executor.job().group(&group).class("query").spawn_cpu(|_| 1);
    let err = block_on_within("a job of two classes", mismatched).unwrap_err();
    assert_eq!(
        err,
        JobError::GroupClassMismatch {
            group_class: "default".into(),
            class: "query".into()
        }
    );
    let same = executor
        .job()
        .class("default")
        .group(&group)
        .spawn_cpu(|_| 2);
    assert_eq!(block_on_within("a job of its group's class", same), Ok(2));
    assert_eq!(
        executor.group_in("ingest").unwrap_err(),
        JobError::UnknownClass {
            class: "ingest".into()
        }
    );
    assert_eq!(
        foreign.metrics().queued,
        0,
        "the refused job was not counted"
    );
    let metrics = shutdown_and_join(&executor);
    assert_eq!(metrics.submitted, 1);
    shutdown_and_join(&other);
}

/// A task that a job spawns and attributes to itself
/// ([`JobScope::attribute`]) runs in the job's scope, and so does a task
/// it spawns and attributes in turn; both count in the class's `tasks`
/// while alive, and their polls are charged to the job's class and group.
/// Outside a job there is no scope.
pub fn a_task_a_job_attributes_is_charged_as_the_job<B: Backend>() {
    /// What each task spins: the job itself spins nothing.
    const TASK_CPU: Duration = Duration::from_millis(10);
    let executor = build_with::<B>("gscope", vec![WorkloadClass::new("query")]);
    assert!(JobScope::current().is_none(), "a scope outside any job");
    let group = executor.group_in("query").expect("the class exists");
    let (running, running_rx) = crossbeam_channel::unbounded::<Option<String>>();
    let finish = Gate::new();
    let job = {
        let finish = finish.clone();
        executor.job().group(&group).spawn(async move {
            let scope = JobScope::current().expect("a job's poll has a scope");
            let outer = tokio::spawn(scope.attribute(async move {
                let scope = JobScope::current();
                let inner_scope = scope.clone().expect("an attributed task has a scope");
                let inner = {
                    let (running, finish) = (running.clone(), finish.clone());
                    tokio::spawn(inner_scope.attribute(async move {
                        let scope = JobScope::current();
                        running
                            .send(scope.map(|scope| scope.class().to_owned()))
                            .unwrap();
                        finish.opened().await;
                        spin_for(TASK_CPU);
                    }))
                };
                running
                    .send(scope.map(|scope| scope.class().to_owned()))
                    .unwrap();
                finish.opened().await;
                spin_for(TASK_CPU);
                inner.await.expect("the inner task ran");
            }));
            outer.await.expect("the outer task ran");
        })
    };
    for _ in 0..2 {
        assert_eq!(
            recv("a task to run", &running_rx).as_deref(),
            Some("query"),
            "a task ran outside its job's scope"
        );
    }
    assert_eq!(executor.class_metrics()[1].tasks, 2, "both tasks count");
    finish.open();
    block_on_within("the job", job).unwrap();
    wait_until("the tasks to stop counting", || {
        executor.class_metrics()[1].tasks == 0
    });
    // Charged the polls' wall time times the share of it their thread ran
    // (what every poll is charged): at least half, however busy the host.
    let classes = executor.class_metrics();
    assert!(
        classes[1].worker_time >= TASK_CPU,
        "the class was charged {:?} of its tasks' {:?}",
        classes[1].worker_time,
        2 * TASK_CPU
    );
    assert!(
        group.metrics().cpu_time >= TASK_CPU,
        "the group was charged {:?} of its tasks' {:?}",
        group.metrics().cpu_time,
        2 * TASK_CPU
    );
    assert!(
        classes[0].worker_time < TASK_CPU,
        "the default class was charged"
    );

    // An attributed future awaited inside the job itself is the job's poll:
    // charged once, as one poll, not again for its own.
    let polls_before = executor.class_metrics()[1].poll_time.count();
    let inline = executor.job().group(&group).spawn(async {
        let scope = JobScope::current().expect("a job's poll has a scope");
        scope
            .attribute(async { JobScope::current().map(|scope| scope.class().to_owned()) })
            .await
    });
    assert_eq!(
        block_on_within("the inline job", inline)
            .unwrap()
            .as_deref(),
        Some("query")
    );
    assert_eq!(
        executor.class_metrics()[1].poll_time.count() - polls_before,
        1,
        "a nested attributed poll was charged besides the job's"
    );
    shutdown_and_join(&executor);
}
