//! Loom models of the lifecycle races, run against the same code as every
//! backend: `executor-api`'s `backend` module built with
//! `--cfg executor_loom`, so that its synchronisation facade uses loom's
//! primitives.
//!
//! Each model stands in for a backend with plain loom threads: one runs a
//! job (as a worker would), one runs the shutdown sequence (as the driver
//! would). Run with `cargo xtask test`, which sets the cfg,
//! `LOOM_MAX_PREEMPTIONS` and a release build with debug assertions.

#![cfg(executor_loom)]

use std::sync::atomic::Ordering::SeqCst;

use executor_api::backend::{ClosureBody, Drain, ExecutorCore, FutureBody};
use executor_api::{CancelToken, JobError};
use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::thread;

/// The backend's shutdown sequence, as a driver thread runs it.
fn drive(core: &ExecutorCore) -> Drain {
    let drain = core.drain();
    if drain == Drain::Aborted {
        core.wait_for_jobs();
    }
    assert_eq!(core.metrics().in_flight(), 0, "terminating with live jobs");
    core.terminate();
    drain
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
        let core = ExecutorCore::new("loom");
        let submitter = {
            let core = core.clone();
            thread::spawn(move || {
                let (job, handle) = core.admit(FutureBody::new(async { 7 }));
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
        assert_eq!(drive(&core), Drain::Drained);
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
        let core = ExecutorCore::new("loom");
        let (job, handle) = core.admit(FutureBody::new(async { 1 }));
        let job = job.expect("admitted before the shutdown");
        core.shutdown();
        let worker = thread::spawn(move || block_on(job));
        let driver = {
            let core = core.clone();
            thread::spawn(move || drive(&core))
        };
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
        let core = ExecutorCore::new("loom");
        let value = Counted(drops.clone());
        let (job, handle) = core.admit(FutureBody::new(async move { value }));
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
        let core = ExecutorCore::new("loom");
        let (job, handle) = core.admit(ClosureBody::new(|_: &CancelToken<'_>| -> u8 {
            std::panic::panic_any("expected loom panic")
        }));
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
        let core = ExecutorCore::new("loom");
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
        drive(&core);
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
        let core = ExecutorCore::new("loom");
        let (job, handle) = core.admit(FutureBody::new(std::future::pending::<()>()));
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
        assert_eq!(drive(&core), Drain::Aborted);
        graceful.join().unwrap();
        immediate.join().unwrap();
        worker.join().unwrap();
        assert_eq!(block_on(handle), Err(JobError::Cancelled));
        let metrics = core.metrics();
        assert_eq!((metrics.cancelled, metrics.in_flight()), (1, 0));
    });
}
