//! Conformance behaviours for user code that panics where the executor does
//! not expect it: in the destructor of a panic payload, of a job's value or
//! of a cancelled future, and in a waker that the executor wakes.
//!
//! The executor must contain such a panic where it happens, on its own
//! threads and on the caller's. Every test here holds it to one contract:
//!
//! - the job ends exactly once and is counted: after `join` nothing is in
//!   flight, and `completed + cancelled + panicked` equals the jobs
//!   submitted;
//! - its handle resolves, to [`JobError::Panicked`] where the job panicked;
//! - the worker survives: each executor has one worker, and a later job on
//!   it still returns its value;
//! - graceful shutdown and `join` complete.
//!
//! Run with the rest by [`conformance_tests!`](crate::conformance_tests).
//!
//! # Tests
//!
//! - [`panic_payload_whose_drop_panics`]: a job panics with a payload whose
//!   destructor panics.
//! - [`nested_panic_payload_whose_drop_panics`]: that destructor panics with
//!   another such payload.
//! - [`handle_waker_that_panics`]: the waker registered by a handle panics
//!   when the job's end wakes it.
//! - [`joiner_waker_that_panics`]: the waker registered by a `join` panics
//!   when the shutdown wakes it.
//! - [`output_whose_drop_panics_racing_the_handle_drop`]: a job's value
//!   panics when dropped, on whichever side drops it.
//! - [`cancelled_future_whose_drop_panics_racing_completion`]: a future
//!   panics when dropped by a cancel that races its completion.
//! - [`detached_job_output_whose_drop_panics`]: a detached job's value panics
//!   when dropped.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use crossbeam_channel::Receiver;
use executor_api::{Executor, JobError, JobHandle, Metrics, NON_STRING_PANIC};

use crate::conformance::{Backend, Config};
use crate::support::{
    DropCounter, DropProbe, Gate, assert_no_threads_named, block_on_within, recv,
    shutdown_and_join, wait_until,
};

/// The value the jobs here return.
const VALUE: u32 = 7;

/// How many times the racing tests run their race.
const RACES: usize = 200;

/// What a [`Bomb`] without an inner bomb panics with.
const BOOM: &str = "a destructor panicked";

/// The jobs [`assert_still_runs`] submits.
const SURVIVAL_JOBS: u64 = 2;

/// Builds an executor named `name` with one worker, so that a worker killed
/// by hostile code could not be replaced by another.
fn build<B: Backend>(name: &str) -> B::Executor {
    B::build(Config::new(name, 1)).expect("build the executor under test")
}

/// A value whose destructor panics: user code that runs where the executor
/// does not expect it.
///
/// Its drop is reported to a [`DropCounter`] before the panic, so that a
/// test can prove each bomb is dropped exactly once. It never panics while
/// its thread is already unwinding: a panic in a destructor run by unwinding
/// aborts the process, which no executor can contain.
#[derive(Debug)]
struct Bomb {
    probe: Option<DropProbe>,
    /// Whether the destructor panics (see [`defuse`](Self::defuse)).
    armed: bool,
    /// The payload the destructor panics with; [`BOOM`] if none.
    inner: Option<Box<Bomb>>,
}

impl Bomb {
    /// A bomb whose destructor panics with [`BOOM`].
    fn new(drops: &DropCounter) -> Self {
        Bomb {
            probe: Some(drops.probe()),
            armed: true,
            inner: None,
        }
    }

    /// A bomb whose destructor panics with another bomb as the payload: who
    /// catches that panic holds a payload whose destructor panics in turn.
    fn nested(drops: &DropCounter) -> Self {
        Bomb {
            probe: Some(drops.probe()),
            armed: true,
            inner: Some(Box::new(Bomb::new(drops))),
        }
    }

    /// Drops the bomb, and the one it carries, without a panic; the drops
    /// are still counted.
    fn defuse(mut self) {
        self.armed = false;
        if let Some(inner) = self.inner.take() {
            Bomb::defuse(*inner);
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        drop(self.probe.take());
        if !self.armed || thread::panicking() {
            return;
        }
        match self.inner.take() {
            Some(inner) => panic_any(*inner),
            None => panic!("{BOOM}"),
        }
    }
}

/// Panics with `bomb` as the payload: neither a `&str` nor a `String`, and
/// dropping it panics.
fn explode(bomb: Bomb) -> u32 {
    panic_any(bomb)
}

/// A waker that counts its wake-ups and, if built to, panics on each one
/// once it has counted it.
#[derive(Debug, Default)]
struct WakeProbe {
    wakes: AtomicUsize,
    panics: bool,
}

impl WakeProbe {
    /// A probe whose wake-ups panic: user code the executor calls where it
    /// does not expect a panic.
    fn panicking() -> Arc<Self> {
        Arc::new(WakeProbe {
            wakes: AtomicUsize::new(0),
            panics: true,
        })
    }

    /// A probe that only counts its wake-ups.
    fn recording() -> Arc<Self> {
        Arc::new(WakeProbe::default())
    }

    /// A waker that wakes this probe.
    fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(Arc::clone(self))
    }

    /// Wake-ups so far, including those that panicked.
    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for WakeProbe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("a waker panicked");
        }
    }
}

/// Polls `future` once with `waker`.
fn poll_with<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Runs `f`; returns whether a panic escaped from it.
fn escapes(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

/// The two ways to submit a job.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// [`Executor::spawn_cpu`]: the job blocks on its gate.
    Closure,
    /// [`Executor::spawn`]: the job awaits its gate.
    Future,
}

/// Both kinds, for tests that run their case once per kind.
const KINDS: [Kind; 2] = [Kind::Closure, Kind::Future];

/// Submits a job of `kind` that reports its start, waits for `gate`, then
/// returns `value`; returns once the job is running.
fn spawn_gated<E: Executor, T: Send + 'static>(
    executor: &E,
    kind: Kind,
    gate: &Gate,
    value: T,
) -> JobHandle<T> {
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let gate = gate.clone();
    let handle = match kind {
        Kind::Closure => executor.spawn_cpu(move |_| {
            started_tx.send(()).unwrap();
            gate.wait();
            value
        }),
        Kind::Future => executor.spawn(async move {
            started_tx.send(()).unwrap();
            gate.opened().await;
            value
        }),
    };
    recv("a gated job to start", &started_rx);
    handle
}

/// Starts a thread that runs `act` as soon as `gate` opens, so that it races
/// whatever else the gate releases, and returns once the thread is ready.
/// What `act` returns arrives on the returned channel.
fn racer<T: Send + 'static>(gate: &Gate, act: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let gate = gate.clone();
    thread::Builder::new()
        .name("testkit-racer".into())
        .spawn(move || {
            let _ = ready_tx.send(());
            gate.wait();
            let _ = done_tx.send(act());
        })
        .expect("spawn a racing thread");
    recv("the racing thread to be ready", &ready_rx);
    done_rx
}

/// Proves that the executor still runs jobs after hostile code: a closure
/// and a future, on its one worker, each return their value
/// ([`SURVIVAL_JOBS`] jobs).
fn assert_still_runs<E: Executor>(executor: &E) {
    assert_eq!(
        block_on_within(
            "a closure after the hostile code",
            executor.spawn_cpu(|_| VALUE)
        ),
        Ok(VALUE),
        "the worker survived"
    );
    assert_eq!(
        block_on_within(
            "a future after the hostile code",
            executor.spawn(async { VALUE + 1 })
        ),
        Ok(VALUE + 1),
        "the worker survived"
    );
}

/// Asserts, on the metrics of a joined executor, that each of its
/// `submitted` jobs ended exactly once and was counted.
fn assert_each_job_ended_once(metrics: Metrics, submitted: u64) {
    assert_eq!(metrics.submitted, submitted, "jobs admitted: {metrics:?}");
    assert_eq!(
        metrics.in_flight(),
        0,
        "jobs left in flight after join: {metrics:?}"
    );
    assert_eq!(
        metrics.completed + metrics.cancelled + metrics.panicked,
        submitted,
        "every job ends exactly once: {metrics:?}"
    );
}

// ----- panic payloads -----

/// Runs a closure and a future that panic with a payload made by `bomb`,
/// then checks the contract; each payload holds `bombs_per_payload` bombs.
fn assert_payload_contained<B: Backend>(
    name: &str,
    bomb: fn(&DropCounter) -> Bomb,
    bombs_per_payload: usize,
) {
    let executor = build::<B>(name);
    let drops = DropCounter::new();
    let closure = {
        let bomb = bomb(&drops);
        executor.spawn_cpu(move |_| explode(bomb))
    };
    let future = {
        let bomb = bomb(&drops);
        executor.spawn(async move { explode(bomb) })
    };
    for (what, handle) in [("a closure", closure), ("a future", future)] {
        assert_eq!(
            block_on_within(what, handle),
            Err(JobError::Panicked {
                message: NON_STRING_PANIC.to_owned()
            }),
            "{what} whose panic payload panics when dropped"
        );
    }
    assert_still_runs(&executor);
    let metrics = shutdown_and_join(&executor);
    assert_each_job_ended_once(metrics, 2 + SURVIVAL_JOBS);
    assert_eq!((metrics.panicked, metrics.completed), (2, SURVIVAL_JOBS));
    assert_eq!(
        drops.drops(),
        2 * bombs_per_payload,
        "each payload is dropped exactly once: none leaked, none twice"
    );
}

/// A job (closure or future) that panics with a payload whose destructor
/// panics resolves to `Panicked` with the non-string message; the worker
/// survives and the payload is dropped once.
pub fn panic_payload_whose_drop_panics<B: Backend>() {
    assert_payload_contained::<B>("hpay", Bomb::new, 1);
}

/// The same when the payload's destructor panics with another payload whose
/// destructor panics: each is dropped once, none escapes.
pub fn nested_panic_payload_whose_drop_panics<B: Backend>() {
    assert_payload_contained::<B>("hnest", Bomb::nested, 2);
}

// ----- wakers -----

/// A handle's waker that panics when the job's end wakes it neither loses
/// the outcome nor the job's count: the worker survives, shutdown and join
/// complete, and the handle, polled again, returns the value.
pub fn handle_waker_that_panics<B: Backend>() {
    let executor = build::<B>("hwake");
    let mut handles = Vec::new();
    for kind in KINDS {
        let gate = Gate::new();
        let mut handle = spawn_gated(&executor, kind, &gate, VALUE);
        let panicking = WakeProbe::panicking();
        assert!(
            poll_with(&mut handle, &panicking.waker()).is_pending(),
            "the {kind:?} job is held by its gate"
        );
        gate.open();
        wait_until("the job's end to wake the handle's panicking waker", || {
            panicking.wakes() > 0
        });
        handles.push(handle);
    }
    assert_still_runs(&executor);
    let metrics = shutdown_and_join(&executor);
    for (kind, mut handle) in KINDS.into_iter().zip(handles) {
        assert_eq!(
            poll_with(&mut handle, Waker::noop()),
            Poll::Ready(Ok(VALUE)),
            "the {kind:?} job's value stays in its handle"
        );
    }
    assert_each_job_ended_once(metrics, 2 + SURVIVAL_JOBS);
    assert_eq!(metrics.completed, 2 + SURVIVAL_JOBS);
}

/// A joiner whose waker panics when the shutdown wakes it does not stop the
/// shutdown from waking the other joiners; every join resolves and the
/// executor's threads exit.
pub fn joiner_waker_that_panics<B: Backend>() {
    let executor = build::<B>("hjoin");
    assert_still_runs(&executor);
    let panicking = WakeProbe::panicking();
    let recording = WakeProbe::recording();
    let mut first = executor.join();
    let mut second = executor.join();
    assert!(
        poll_with(&mut first, &panicking.waker()).is_pending(),
        "join resolved before a shutdown"
    );
    assert!(
        poll_with(&mut second, &recording.waker()).is_pending(),
        "join resolved before a shutdown"
    );
    executor.shutdown();
    wait_until("the shutdown to wake the joiner whose waker panics", || {
        panicking.wakes() > 0
    });
    wait_until("the shutdown to wake the other joiner", || {
        recording.wakes() > 0
    });
    block_on_within("the woken joiner", second);
    assert!(
        poll_with(&mut first, Waker::noop()).is_ready(),
        "the joiner whose waker panicked resolves when polled again"
    );
    block_on_within("join", executor.join());
    assert_no_threads_named("hjoin-");
    let metrics = executor.metrics();
    assert_each_job_ended_once(metrics, SURVIVAL_JOBS);
    assert_eq!(metrics.completed, SURVIVAL_JOBS);
}

// ----- destructors of values and futures -----

/// A job's value whose destructor panics, as the job ends while its handle
/// is dropped on another thread: the value is dropped once, on whichever
/// side comes second, and its panic is contained there, the caller's thread
/// included.
pub fn output_whose_drop_panics_racing_the_handle_drop<B: Backend>() {
    let executor = build::<B>("hout");
    let drops = DropCounter::new();
    let mut escaped = Vec::new();
    for (race, kind) in KINDS.into_iter().cycle().take(RACES).enumerate() {
        let gate = Gate::new();
        let handle = spawn_gated(&executor, kind, &gate, Bomb::new(&drops));
        if drop_racing_the_gate(&gate, handle) {
            escaped.push(race);
        }
    }
    assert!(
        escaped.is_empty(),
        "dropping the handle let the value's panicking destructor escape into the caller \
         in races {escaped:?}"
    );
    assert_still_runs(&executor);
    let metrics = shutdown_and_join(&executor);
    assert_each_job_ended_once(metrics, RACES as u64 + SURVIVAL_JOBS);
    assert_eq!(drops.drops(), RACES, "each value is dropped exactly once");
}

/// Drops `handle` on another thread as `gate` opens (releasing its job):
/// whether the drop let a panic escape.
fn drop_racing_the_gate<T: Send + 'static>(gate: &Gate, handle: JobHandle<T>) -> bool {
    let dropped = racer(gate, move || escapes(move || drop(handle)));
    gate.open();
    recv("the racing thread to drop the handle", &dropped)
}

/// A future holding a value whose destructor panics, cancelled (through
/// `cancel` or by dropping its handle) as it completes: it either completes
/// or is dropped as cancelled, once, with the panic contained; a kept handle
/// resolves to the value or to `Cancelled`.
pub fn cancelled_future_whose_drop_panics_racing_completion<B: Backend>() {
    let executor = build::<B>("hcan");
    let drops = DropCounter::new();
    let mut escaped = Vec::new();
    for (race, keep_handle) in [true, false].into_iter().cycle().take(RACES).enumerate() {
        let gate = Gate::new();
        let (started_tx, started_rx) = crossbeam_channel::bounded(1);
        let job_gate = gate.clone();
        let bomb = Bomb::new(&drops);
        // Completing defuses the bomb; a cancel drops the future with it
        // armed.
        let handle = executor.spawn(async move {
            started_tx.send(()).unwrap();
            job_gate.opened().await;
            bomb.defuse();
            VALUE
        });
        recv("the future to start", &started_rx);
        if keep_handle {
            let cancelled = racer(&gate, move || {
                handle.cancel();
                handle
            });
            gate.open();
            let handle = recv("the racing thread to cancel the job", &cancelled);
            let outcome = block_on_within("a job cancelled as it completes", handle);
            assert!(
                matches!(outcome, Ok(VALUE) | Err(JobError::Cancelled)),
                "race {race}: {outcome:?}"
            );
        } else {
            if drop_racing_the_gate(&gate, handle) {
                escaped.push(race);
            }
        }
    }
    assert!(
        escaped.is_empty(),
        "dropping the handle panicked in races {escaped:?}"
    );
    assert_still_runs(&executor);
    let metrics = shutdown_and_join(&executor);
    assert_each_job_ended_once(metrics, RACES as u64 + SURVIVAL_JOBS);
    assert_eq!(
        drops.drops(),
        RACES,
        "each future's bomb is dropped exactly once"
    );
}

/// A detached job's value whose destructor panics is dropped once, its
/// panic contained: on the executor when the job was detached while
/// running, in `detach` when it had already finished. The job counts as
/// completed and the worker survives.
pub fn detached_job_output_whose_drop_panics<B: Backend>() {
    let executor = build::<B>("hdet");
    let drops = DropCounter::new();
    let open = Gate::new();
    open.open();
    for kind in KINDS {
        let gate = Gate::new();
        let running = spawn_gated(&executor, kind, &gate, Bomb::new(&drops));
        assert!(
            !escapes(move || running.detach()),
            "detaching a running {kind:?} job panicked"
        );
        gate.open();
        drops.wait_for_drop("the executor to drop a detached job's value");

        let finished = spawn_gated(&executor, kind, &open, Bomb::new(&drops));
        wait_until("the job to finish", || finished.is_finished());
        assert!(
            !escapes(move || finished.detach()),
            "detaching a finished {kind:?} job let its value's panicking destructor escape \
             into the caller"
        );
        drops.wait_for_drop("detach to drop a finished job's value");
    }
    assert_still_runs(&executor);
    let metrics = shutdown_and_join(&executor);
    assert_each_job_ended_once(metrics, 4 + SURVIVAL_JOBS);
    assert_eq!(
        (metrics.completed, metrics.cancelled, metrics.panicked),
        (4 + SURVIVAL_JOBS, 0, 0)
    );
    assert_eq!(drops.drops(), 4, "each value is dropped exactly once");
}

/// A tracing subscriber whose every event panics: user code installed as
/// the default when the executor was built, which the watchdog reports to.
struct PanickingSubscriber;

impl tracing::Subscriber for PanickingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        panic!("a subscriber panicked on an event");
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The watchdog's warning goes to a subscriber that panics: the panic is
/// contained, the stall still counted, and the watchdog goes on watching
/// (a second stall is counted too). Uncontained, the first warning killed
/// the watchdog thread, and `stalled_polls` stayed 0.
pub fn a_subscriber_that_panics_does_not_stop_the_watchdog<B: Backend>() {
    let executor = tracing::subscriber::with_default(PanickingSubscriber, || {
        B::build(Config {
            watchdog: Some(std::time::Duration::from_millis(20)),
            job_spans: false,
            ..Config::new("hsub", 1)
        })
        .expect("build the executor under test")
    });
    for stalls in 1..=2u64 {
        let watched = executor.clone();
        let job = executor.spawn_cpu(move |_| {
            // Holds the worker, never yielding, until the watchdog counts
            // this poll.
            wait_until("the watchdog to count a stalled poll", || {
                watched.metrics().stalled_polls >= stalls
            });
        });
        assert_eq!(block_on_within("a job that does not yield", job), Ok(()));
    }
    let metrics = shutdown_and_join(&executor);
    assert_eq!(metrics.stalled_polls, 2);
}

/// Work that a job hands to the backend's own threads (`rayon::spawn`,
/// `tokio::spawn`) panics with a payload whose destructor panics: the
/// backend contains both panics (Rayon's panic handler once dropped the
/// payload inside Rayon's abort guard, and the process aborted), and the
/// executor goes on.
pub fn native_work_that_panics_with_a_bomb_is_contained<B: Backend>() {
    let executor = build::<B>("hnative");
    let drops = DropCounter::new();
    let bomb = Bomb::new(&drops);
    let job = executor.spawn_cpu(move |_| {
        B::spawn_native_work(Box::new(move || {
            explode(bomb);
        }));
    });
    assert_eq!(
        block_on_within("the job that spawned the work", job),
        Ok(())
    );
    drops.wait_for_drop("the payload of the native work's panic");
    assert_still_runs(&executor);
    let metrics = shutdown_and_join(&executor);
    assert_each_job_ended_once(metrics, 1 + SURVIVAL_JOBS);
}
