//! Loom models of the lifecycle races, run against the same code as every
//! backend: this crate built with `--cfg executor_loom`, so that its
//! synchronisation facade uses loom's primitives, and the shutdown sequence
//! run by the one [`ShutdownDriver`] every backend uses.
//!
//! Each model stands in for a backend with plain loom threads: some run
//! jobs (as workers would), one runs the driver. Run with
//! `cargo xtask test`, which sets the cfg, `LOOM_MAX_PREEMPTIONS` and a
//! release build with debug assertions.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::config::settings::PoolConfig;
use crate::error::JobError;
use crate::job::cancel::CancelToken;
use crate::job::future::{ClosureBody, FutureBody, Job, JobBody};
use crate::job::handle::JobHandle;
use crate::lifecycle::core::ExecutorCore;
use crate::lifecycle::driver::{BackendThreads, ShutdownDriver};
use crate::sched::classes::ClassIndex;
use crate::sched::queues::Placement;

/// Submits `body` to `core` in the default class, unnamed.
fn admit<B: JobBody>(core: &ExecutorCore, body: B) -> (Option<Job<B>>, JobHandle<B::Output>) {
    Job::admit(core, body, None, ClassIndex::DEFAULT, None)
}

/// A new core and its driver, with no watchdog (no real threads in a
/// model).
fn core_and_driver() -> (ExecutorCore, ShutdownDriver) {
    let mut config = PoolConfig::new("loom");
    config.watchdog = None;
    config.workers = Some(1);
    let config = config.validate().expect("a valid model config");
    let (core, driver, _context) = ShutdownDriver::new(&config).expect("no threads to start");
    (core, driver)
}

/// A backend whose jobs were polled on the model's own threads: nothing to
/// stop.
struct NoThreads;

impl BackendThreads for NoThreads {
    fn stop(self) {}
}

/// The shutdown sequence, run by the one driver every backend uses.
fn drive(driver: ShutdownDriver) {
    driver.run(NoThreads);
}

type BoxJob = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A model of a runtime: a queue of scheduled jobs, polled by whoever calls
/// [`run_queued`](Self::run_queued), until the driver stops it; stopping
/// drops what is queued, and a job scheduled after that is dropped on the
/// scheduling thread (as Tokio drops a task spawned on a runtime that is
/// gone).
#[derive(Clone)]
struct ModelRuntime {
    queue: Arc<Mutex<Option<VecDeque<BoxJob>>>>,
}

impl ModelRuntime {
    fn new() -> ModelRuntime {
        ModelRuntime {
            queue: Arc::new(Mutex::new(Some(VecDeque::new()))),
        }
    }

    fn schedule(&self, job: BoxJob) {
        let mut queue = self.queue.lock().unwrap();
        match queue.as_mut() {
            Some(queue) => queue.push_back(job),
            None => {
                drop(queue);
                drop(job);
            }
        }
    }

    /// Polls the queued jobs to completion, as a worker would.
    fn run_queued(&self) {
        loop {
            let job = self
                .queue
                .lock()
                .unwrap()
                .as_mut()
                .and_then(VecDeque::pop_front);
            match job {
                Some(job) => block_on(job),
                None => return,
            }
        }
    }
}

/// The model runtime as the driver sees it.
struct ModelThreads(ModelRuntime);

impl BackendThreads for ModelThreads {
    fn stop(self) {
        let left = self.0.queue.lock().unwrap().take();
        drop(left);
    }
}

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Silences the expected panic of `cancel_racing_panic`, once per process;
/// any other panic (a failed assertion) is still reported.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"expected loom panic") {
                default(info);
            }
        }));
    });
}

/// Race: a submission against a graceful shutdown.
///
/// What would go wrong: a job admitted after the drain saw zero live jobs
/// would be lost (never run, or run after `join` resolved), or the drain
/// would hang waiting for it. The job must either run to completion and be
/// drained, or be rejected with `ShutDown`.
#[test]
fn spawn_racing_shutdown() {
    loom::model(|| {
        let (core, driver) = core_and_driver();
        let submitter = {
            let core = core.clone();
            thread::spawn(move || {
                let (job, handle) = admit(&core, FutureBody::new(async { 7 }));
                if let Some(job) = job {
                    block_on(job);
                }
                block_on(handle)
            })
        };
        let closer = {
            let core = core.clone();
            thread::spawn(move || core.shutdown())
        };
        drive(driver);
        block_on(core.join());
        closer.join().unwrap();
        let outcome = submitter.join().unwrap();
        assert!(
            matches!(outcome, Ok(7) | Err(JobError::ShutDown)),
            "{outcome:?}"
        );
        let metrics = core.metrics();
        assert_eq!(metrics.submitted + metrics.rejected, 1);
        assert_eq!(metrics.completed, metrics.submitted);
    });
}

/// Race: the last job ending against `join` (and the driver terminating).
///
/// What would go wrong: a missed wake-up, so that `join` waits forever
/// although the executor terminated (loom reports the deadlock), or `join`
/// resolving before the job ended.
#[test]
fn last_job_ending_racing_join() {
    loom::model(|| {
        let (core, driver) = core_and_driver();
        let (job, handle) = admit(&core, FutureBody::new(async { 1 }));
        let job = job.expect("admitted before the shutdown");
        core.shutdown();
        let worker = thread::spawn(move || block_on(job));
        let driver = thread::spawn(move || drive(driver));
        core.register_thread(move || {
            driver.join().unwrap();
        });
        block_on(core.join());
        assert_eq!(
            core.metrics().in_flight(),
            0,
            "join resolved before the job ended"
        );
        assert_eq!(block_on(handle), Ok(1));
        worker.join().unwrap();
    });
}

/// Race: a handle dropped against its job completing.
///
/// What would go wrong: the result dropped twice (by the handle and by the
/// job) or never, or the job counted twice or not at all.
#[test]
fn handle_dropped_racing_completion() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (core, _driver) = core_and_driver();
        let value = Counted(drops.clone());
        let (job, handle) = admit(&core, FutureBody::new(async move { value }));
        let job = job.expect("admitted");
        let worker = thread::spawn(move || block_on(job));
        let dropper = thread::spawn(move || drop(handle));
        worker.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the job's value was not dropped exactly once"
        );
        let metrics = core.metrics();
        assert_eq!(metrics.completed + metrics.cancelled, 1);
        assert_eq!(metrics.in_flight(), 0);
    });
}

/// Race: `cancel` against a job that panics.
///
/// What would go wrong: two outcomes for one job (the panic and the
/// cancel both counted), or a handle that never resolves.
#[test]
fn cancel_racing_panic() {
    quiet_expected_panics();
    loom::model(|| {
        let (core, _driver) = core_and_driver();
        let (job, handle) = admit(
            &core,
            ClosureBody::new(|_: &CancelToken<'_>| -> u8 {
                std::panic::panic_any("expected loom panic")
            }),
        );
        let job = job.expect("admitted");
        let worker = thread::spawn(move || block_on(job));
        let canceller = thread::spawn(move || {
            handle.cancel();
            block_on(handle)
        });
        worker.join().unwrap();
        let outcome = canceller.join().unwrap();
        assert!(
            matches!(
                outcome,
                Err(JobError::Cancelled | JobError::Panicked { .. })
            ),
            "{outcome:?}"
        );
        let metrics = core.metrics();
        assert_eq!(metrics.panicked + metrics.cancelled, 1);
        assert_eq!(metrics.completed, 0);
    });
}

/// Race: two joins and the drop of the last executor handle (which starts
/// a graceful shutdown).
///
/// What would go wrong: a joiner never woken, a joiner resolving before
/// the threads are joined, or the backend's threads joined twice.
#[test]
fn two_joins_and_a_drop_racing() {
    loom::model(|| {
        let (core, driver) = core_and_driver();
        let joined = Arc::new(AtomicUsize::new(0));
        let joined_by_join = joined.clone();
        core.register_thread(move || {
            joined_by_join.fetch_add(1, SeqCst);
        });
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let core = core.clone();
                let joined = joined.clone();
                thread::spawn(move || {
                    block_on(core.join());
                    assert_eq!(
                        joined.load(SeqCst),
                        1,
                        "join resolved before the threads were joined"
                    );
                })
            })
            .collect();
        let last_handle = core.clone();
        let dropper = thread::spawn(move || {
            // What the Drop of a backend's last executor clone does.
            last_handle.shutdown();
            drop(last_handle);
        });
        drive(driver);
        dropper.join().unwrap();
        for joiner in joiners {
            joiner.join().unwrap();
        }
        assert_eq!(joined.load(SeqCst), 1, "threads joined more than once");
    });
}

/// Race: a graceful and an immediate shutdown at once, with a job parked
/// on a wake-up that will never come.
///
/// What would go wrong: the parked job never woken by the abort (the drain
/// and `join` hang), the abort lost because the graceful shutdown won, or
/// the job ending twice.
#[test]
fn two_concurrent_shutdowns() {
    loom::model(|| {
        let (core, driver) = core_and_driver();
        let (job, handle) = admit(&core, FutureBody::new(std::future::pending::<()>()));
        let job = job.expect("admitted");
        let worker = thread::spawn(move || block_on(job));
        let graceful = {
            let core = core.clone();
            thread::spawn(move || core.shutdown())
        };
        let immediate = {
            let core = core.clone();
            thread::spawn(move || core.shutdown_now())
        };
        drive(driver);
        graceful.join().unwrap();
        immediate.join().unwrap();
        worker.join().unwrap();
        assert_eq!(block_on(handle), Err(JobError::Cancelled));
        let metrics = core.metrics();
        assert_eq!((metrics.cancelled, metrics.in_flight()), (1, 0));
    });
}

/// Race: a submission that has passed admission but not yet reached the
/// runtime (its thread preempted between the two) against an immediate
/// shutdown, through the shared driver and a runtime that drops what is
/// scheduled after it stopped.
///
/// What would go wrong: the driver stopping the runtime and terminating
/// while the submitter still holds the counted job, so that `join`
/// resolves while a job lives, and the job (with what it captured) is
/// dropped afterwards on the submitter's thread. This is the step the Tokio
/// backend's own copy of the sequence once skipped: the driver must wait
/// for every counted job before it stops the threads.
#[test]
fn admission_racing_an_immediate_shutdown() {
    loom::model(|| {
        let (core, driver) = core_and_driver();
        let runtime = ModelRuntime::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let core = core.clone();
            let runtime = runtime.clone();
            let value = Counted(drops.clone());
            thread::spawn(move || {
                let (job, handle) = admit(
                    &core,
                    FutureBody::new(async move {
                        let _captured = value;
                    }),
                );
                if let Some(job) = job {
                    runtime.schedule(Box::pin(job));
                }
                handle.detach();
                runtime.run_queued();
            })
        };
        let stopper = {
            let core = core.clone();
            thread::spawn(move || core.shutdown_now())
        };
        let driving = thread::spawn(move || driver.run(ModelThreads(runtime)));
        block_on(core.join());
        // Admission is closed by now: `submitted` is final. A submission
        // not yet made will be rejected, after `join`, which is allowed.
        let metrics = core.metrics();
        assert_eq!(metrics.in_flight(), 0, "join resolved while a job lived");
        if metrics.submitted == 1 {
            assert_eq!(
                drops.load(SeqCst),
                1,
                "join resolved before the admitted job's captured value was dropped"
            );
        }
        submitter.join().unwrap();
        stopper.join().unwrap();
        let metrics = core.metrics();
        assert_eq!(metrics.submitted + metrics.rejected, 1);
        assert_eq!(drops.load(SeqCst), 1);
        driving.join().unwrap();
    });
}

/// A core whose executor has one more class, `class`, after the default.
fn core_with_class(class: crate::WorkloadClass) -> (ExecutorCore, ShutdownDriver) {
    let mut config = PoolConfig::new("loom");
    config.watchdog = None;
    config.workers = Some(1);
    config.classes = vec![class];
    let config = config.validate().expect("a valid model config");
    let (core, driver, _context) = ShutdownDriver::new(&config).expect("no threads to start");
    (core, driver)
}

/// Race: a submission to a full class against the start of the job that
/// fills it, and against a shutdown.
///
/// What would go wrong: the class admitting past its bound, a slot never
/// given back (the class refusing forever after), or a submission lost
/// between the bound and the shutdown. Each submission must end exactly
/// one way: run, refused as overloaded, or rejected by the shutdown.
#[test]
fn bounded_admission_racing_a_start_and_a_shutdown() {
    loom::model(|| {
        let (core, driver) = core_with_class(crate::WorkloadClass::new("bounded").max_queued(1));
        let class = core.class_named("bounded").expect("the class exists");
        let (first, first_handle) =
            Job::admit(&core, FutureBody::new(async { 1 }), None, class, None);
        let first = first.expect("the class is empty");
        let worker = thread::spawn(move || block_on(first));
        let submitter = {
            let core = core.clone();
            thread::spawn(move || {
                let (job, handle) =
                    Job::admit(&core, FutureBody::new(async { 2 }), None, class, None);
                if let Some(job) = job {
                    block_on(job);
                }
                block_on(handle)
            })
        };
        let closer = {
            let core = core.clone();
            thread::spawn(move || core.shutdown())
        };
        drive(driver);
        block_on(core.join());
        worker.join().unwrap();
        closer.join().unwrap();
        assert_eq!(block_on(first_handle), Ok(1));
        let outcome = submitter.join().unwrap();
        assert!(
            matches!(
                outcome,
                Ok(2) | Err(JobError::ShutDown | JobError::Overloaded { .. })
            ),
            "{outcome:?}"
        );
        let metrics = core.metrics();
        assert_eq!(metrics.submitted + metrics.overloaded + metrics.rejected, 2);
        assert_eq!(metrics.completed, metrics.submitted);
        assert_eq!(
            core.classes().class(class).waiting(),
            0,
            "a slot of the bounded class was never given back"
        );
    });
}

/// Race: an immediate shutdown against a worker that found only a
/// throttled class's job and goes to sleep until the backend wakes it
/// (what `BackendThreads::abort` is for).
///
/// What would go wrong: the worker woken before the abort is visible to
/// it, so that it finds the class still throttled and sleeps again with
/// nobody left to wake it: the drain and `join` hang (loom reports the
/// deadlock).
#[test]
fn immediate_shutdown_racing_a_worker_asleep_on_a_throttled_class() {
    use crate::sched::queues::{ClassQueues, Pop};
    use loom::sync::Condvar;

    /// The worker's bed: woken by the driver's `abort`.
    #[derive(Clone, Default)]
    struct Bed(Arc<(Mutex<bool>, Condvar)>);

    struct Threads(Bed);
    impl BackendThreads for Threads {
        fn abort(&self) {
            let (woken, bell) = &*self.0.0;
            *woken.lock().unwrap() = true;
            bell.notify_all();
        }
        fn stop(self) {}
    }

    loom::model(|| {
        let (core, driver) = core_with_class(
            crate::WorkloadClass::new("capped")
                .cap(0.001)
                .cap_window(std::time::Duration::from_nanos(1)),
        );
        let class = core.class_named("capped").expect("the class exists");
        // A poll of a second at a thousandth of a core: the class is over
        // its budget for far longer than the model runs.
        let now = core.classes().nanos(std::time::Instant::now());
        core.classes()
            .charge(class, 1_000_000_000, now + 1_000_000_000);
        let queues = Arc::new(ClassQueues::new(&core));
        let (job, handle) = Job::admit(&core, FutureBody::new(async { 1 }), None, class, None);
        queues.push(&Placement::ungrouped(class), job.expect("admitted"));
        let bed = Bed::default();
        let worker = {
            let (queues, bed) = (queues.clone(), bed.clone());
            thread::spawn(move || {
                loop {
                    match queues.pop() {
                        Pop::Job(job) => block_on(job),
                        Pop::Empty => return,
                        Pop::Throttled(_) => {
                            let (woken, bell) = &*bed.0;
                            let mut woken = woken.lock().unwrap();
                            while !*woken {
                                woken = bell.wait(woken).unwrap();
                            }
                        }
                    }
                }
            })
        };
        let stopper = {
            let core = core.clone();
            thread::spawn(move || core.shutdown_now())
        };
        driver.run(Threads(bed));
        block_on(core.join());
        worker.join().unwrap();
        stopper.join().unwrap();
        assert_eq!(block_on(handle), Err(JobError::Cancelled));
    });
}
