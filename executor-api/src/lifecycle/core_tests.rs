//! The lifecycle core driven directly, with plain threads standing in for a
//! backend: the cases the backends' suites cannot order deterministically.
//! Unit tests, since the lifecycle's plumbing is private to this crate.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::job::future::{FutureBody, Job, JobBody};
use crate::lifecycle::core::{Drain, ExecutorCore};
use crate::{JobError, JobHandle};
use futures::task::{ArcWake, waker};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl ArcWake for Counter {
    fn wake_by_ref(counter: &Arc<Self>) {
        counter.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter::default());
    (counter.clone(), waker(counter))
}

fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

fn poll_job<B: JobBody>(job: &mut Pin<Box<Job<B>>>, waker: &Waker) -> Poll<()> {
    job.as_mut().poll(&mut Context::from_waker(waker))
}

/// A body that stays pending until `rx` fires.
fn pending_until(
    rx: futures::channel::oneshot::Receiver<u32>,
) -> FutureBody<impl Future<Output = u32>> {
    FutureBody::new(async move { rx.await.unwrap_or(0) })
}

/// The state queries say where the lifecycle is.
#[test]
fn state_queries_follow_the_lifecycle() {
    let core = ExecutorCore::new("states");
    assert!(!core.is_shutdown() && !core.is_aborted() && !core.is_joined());
    core.shutdown();
    assert!(core.is_shutdown() && !core.is_aborted());
    core.shutdown_now();
    assert!(core.is_shutdown() && core.is_aborted());
    assert_eq!(core.drain(), Drain::Aborted);
    assert!(!core.is_joined());
    core.terminate();
    assert!(
        core.is_joined(),
        "no threads registered: terminated is joined"
    );
    assert_eq!(core.name(), "states");
}

/// Debug output names the executor and the handle's state.
#[test]
fn debug_output_is_informative() {
    let core = ExecutorCore::new("debugged");
    assert!(format!("{core:?}").contains("debugged"));
    assert!(format!("{:?}", core.join()).contains("debugged"));
    let (job, handle) = core.admit(FutureBody::new(async { 1 }));
    assert!(format!("{handle:?}").contains("finished: false"));
    drop(job);
    assert!(format!("{handle:?}").contains("finished: true"));
}

/// A handle polled again from another task wakes that task, not the first.
#[test]
fn handle_wakes_its_latest_waker() {
    let core = ExecutorCore::new("wakers");
    let (tx, rx) = futures::channel::oneshot::channel();
    let (job, mut handle) = core.admit(pending_until(rx));
    let mut job = Box::pin(job.expect("admitted"));
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    assert!(poll(&mut handle, &first_waker).is_pending());
    assert!(poll(&mut handle, &second_waker).is_pending());
    assert!(poll_job(&mut job, Waker::noop()).is_pending());
    tx.send(5).unwrap();
    assert!(poll_job(&mut job, Waker::noop()).is_ready());
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the latest waker was not woken"
    );
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert_eq!(poll(&mut handle, &second_waker), Poll::Ready(Ok(5)));
}

/// A job polled again with another waker is woken through that one when
/// cancelled.
#[test]
fn cancel_wakes_the_jobs_latest_waker() {
    let core = ExecutorCore::new("task-wakers");
    let (_tx, rx) = futures::channel::oneshot::channel();
    let (job, handle) = core.admit(pending_until(rx));
    let mut job = Box::pin(job.expect("admitted"));
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    assert!(poll_job(&mut job, &first_waker).is_pending());
    assert!(poll_job(&mut job, &second_waker).is_pending());
    handle.cancel();
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the latest waker was not woken"
    );
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert!(poll_job(&mut job, &second_waker).is_ready());
    assert_eq!(
        futures::executor::block_on(handle),
        Err(JobError::Cancelled)
    );
}

/// A cancel that lands while the body is being polled makes the job wake
/// itself, so that it ends instead of waiting for a wake-up that never
/// comes.
#[test]
fn cancel_during_a_poll_is_not_lost() {
    let core = ExecutorCore::new("mid-poll");
    let slot: Arc<Mutex<Option<JobHandle<()>>>> = Arc::default();
    let cancel_from_body = slot.clone();
    let (job, handle) = core.admit(FutureBody::new(std::future::poll_fn(move |_| {
        if let Some(handle) = cancel_from_body.lock().unwrap().as_ref() {
            handle.cancel();
        }
        Poll::<()>::Pending
    })));
    *slot.lock().unwrap() = Some(handle);
    let mut job = Box::pin(job.expect("admitted"));
    let (woken, waker) = counting_waker();
    assert!(poll_job(&mut job, &waker).is_pending());
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        1,
        "the job must wake itself"
    );
    assert!(poll_job(&mut job, &waker).is_ready());
    let handle = slot.lock().unwrap().take().unwrap();
    assert_eq!(
        futures::executor::block_on(handle),
        Err(JobError::Cancelled)
    );
}

/// Parked jobs leave the parked set when they end, and an abort wakes the
/// ones still parked.
#[test]
fn parked_jobs_are_tracked_and_woken_by_an_abort() {
    let core = ExecutorCore::new("parked");
    let (tx, rx) = futures::channel::oneshot::channel();
    let (job, _handle) = core.admit(pending_until(rx));
    let mut finishing = Box::pin(job.expect("admitted"));
    let (_rx_tx, rx2) = futures::channel::oneshot::channel();
    let (job, stuck_handle) = core.admit(pending_until(rx2));
    let mut stuck = Box::pin(job.expect("admitted"));
    assert_eq!(core.parked_jobs(), 0);
    assert!(poll_job(&mut finishing, Waker::noop()).is_pending());
    let (woken, waker) = counting_waker();
    assert!(poll_job(&mut stuck, &waker).is_pending());
    assert_eq!(core.parked_jobs(), 2);
    tx.send(1).unwrap();
    assert!(poll_job(&mut finishing, Waker::noop()).is_ready());
    assert_eq!(core.parked_jobs(), 1, "an ended job left its waker behind");
    core.shutdown_now();
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        1,
        "the abort did not wake the parked job"
    );
    assert_eq!(core.parked_jobs(), 0);
    assert!(poll_job(&mut stuck, Waker::noop()).is_ready());
    assert_eq!(
        futures::executor::block_on(stuck_handle),
        Err(JobError::Cancelled)
    );
}

/// After an abort, `wait_for_jobs` returns only once the jobs have ended.
#[test]
fn wait_for_jobs_waits_for_the_running_jobs() {
    let core = ExecutorCore::new("wait");
    let (_tx, rx) = futures::channel::oneshot::channel();
    let (job, handle) = core.admit(pending_until(rx));
    let mut job = Box::pin(job.expect("admitted"));
    assert!(poll_job(&mut job, Waker::noop()).is_pending());
    core.shutdown_now();
    assert_eq!(core.drain(), Drain::Aborted);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = {
        let core = core.clone();
        std::thread::spawn(move || {
            core.wait_for_jobs();
            done_tx.send(core.metrics().in_flight()).unwrap();
        })
    };
    // Bounded observation: the waiter must still be waiting.
    assert!(done_rx.recv_timeout(Duration::from_millis(100)).is_err());
    assert!(poll_job(&mut job, Waker::noop()).is_ready());
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(60)), Ok(0));
    waiter.join().unwrap();
    assert_eq!(
        futures::executor::block_on(handle),
        Err(JobError::Cancelled)
    );
}

/// `join` joins each registered thread once, and a second joiner waits
/// until the first has finished joining them.
#[test]
fn join_joins_registered_threads_once() {
    let core = ExecutorCore::new("threads");
    let joins = Arc::new(AtomicUsize::new(0));
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (joining_tx, joining_rx) = std::sync::mpsc::channel::<()>();
    {
        let joins = joins.clone();
        core.register_thread(move || {
            joining_tx.send(()).unwrap();
            // Stands in for a thread that takes a moment to exit.
            release_rx.recv().unwrap();
            joins.fetch_add(1, Ordering::SeqCst);
        });
    }
    core.shutdown();
    assert_eq!(core.drain(), Drain::Drained);
    core.terminate();
    let first = {
        let core = core.clone();
        std::thread::spawn(move || futures::executor::block_on(core.join()))
    };
    joining_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let mut second = core.join();
    let (woken, waker) = counting_waker();
    assert!(
        poll(&mut second, &waker).is_pending(),
        "joined before the threads were"
    );
    release_tx.send(()).unwrap();
    first.join().unwrap();
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        1,
        "the second joiner was not woken"
    );
    assert!(poll(&mut second, &waker).is_ready());
    futures::executor::block_on(core.join());
    assert_eq!(joins.load(Ordering::SeqCst), 1);
}
