//! The hang watchdog: notices a job that runs too long between two yields.
//!
//! A job that never yields holds its worker thread, and nothing else on the
//! executor can use it. Each worker thread owns a [`PollSlot`] that records
//! when the job it is polling started its current poll; a watchdog thread
//! (`<name>-watch`) scans the slots a few times per threshold and reports a
//! poll that has run past the threshold once, while it is still running:
//! a tracing warning with the job's name and the time so far, and one more
//! in [`Metrics::stalled_polls`](crate::Metrics::stalled_polls).
//!
//! The cost on the hot path is two clock reads and one uncontended lock per
//! poll; the watchdog thread wakes every quarter threshold.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use tracing::Dispatch;

use crate::contain::drop_payload;
use crate::lifecycle::core::ExecutorCore;

/// What one worker thread is polling, seen by the watchdog.
pub(crate) struct PollSlot {
    /// The worker thread's name, for the report.
    thread: String,
    /// When the current poll started, in nanoseconds since the watchdog's
    /// `epoch`, plus one; 0 while no job is being polled.
    started: AtomicU64,
    /// The `started` value of the last poll reported, so that a long poll
    /// is reported once.
    reported: AtomicU64,
    /// The name of the job being polled (or polled last).
    job: Mutex<Option<Arc<str>>>,
    epoch: Instant,
}

impl PollSlot {
    /// Marks the start of a poll of the job named `job`, at `now` (the
    /// poll's clock reading, shared with the job's accounting).
    ///
    /// Polls never nest on a worker thread: a job is polled only from the
    /// top of its thread's stack (the Rayon backend never starts a job
    /// inside another one's wait), so each begin is followed by its end.
    pub(crate) fn begin(&self, job: Option<&Arc<str>>, now: Instant) {
        {
            let mut current = self.job.lock().unwrap_or_else(PoisonError::into_inner);
            // Most polls are of the job polled last (a job yields and is
            // polled again): keep its name without touching its count.
            let same = match (current.as_ref(), job) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                *current = job.cloned();
            }
        }
        let now = u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1);
        // Release: the name written above is visible to a watchdog that
        // reads this start. Plus one: 0 means no poll.
        self.started.store(now + 1, Release);
    }

    /// Marks the end of the poll.
    pub(crate) fn end(&self) {
        self.started.store(0, Release);
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
}

/// The watchdog of one executor: it reports a job poll that runs longer
/// than its threshold without yielding.
///
/// Each long poll is reported once, while it still runs: a tracing warning
/// with the job's name (see [`Executor::job`](crate::Executor::job)), its
/// thread and the time so far, then one more in
/// [`Metrics::stalled_polls`](crate::Metrics::stalled_polls). The warning
/// goes to the tracing subscriber in scope when the executor was built, or
/// else to the global one. The watchdog runs on a thread of its own,
/// `<name>-watch`, that wakes four times per threshold; each poll costs two
/// clock reads and an uncontended lock. A backend's builder turns it off
/// with `without_watchdog`.
///
/// It measures wall-clock time: a poll that the OS preempted counts as
/// running (on a saturated machine, niced workers are preempted often), so
/// keep the threshold well above the longest chunk you expect. A closure
/// job ([`spawn_cpu`](crate::Executor::spawn_cpu)) is a single poll: one
/// that runs longer than the threshold is reported; submit long work as a
/// future that yields between chunks, or as several closures.
///
/// The executor's shutdown driver stops it and joins its thread once the
/// worker threads have stopped, before [`join`](crate::Executor::join)
/// resolves.
pub struct Watchdog {
    shared: Arc<WatchdogShared>,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("threshold", &self.shared.threshold)
            .finish_non_exhaustive()
    }
}

pub(crate) struct WatchdogShared {
    threshold: Duration,
    epoch: Instant,
    slots: Mutex<Vec<Weak<PollSlot>>>,
    core: ExecutorCore,
    /// Where warnings go: the subscriber in scope when the executor was
    /// built, if there was one, else the global default.
    dispatch: Option<Dispatch>,
}

impl Watchdog {
    /// Starts the watchdog thread `thread_name` for `core`, reporting polls
    /// longer than `threshold`.
    ///
    /// # Errors
    ///
    /// The OS error if the thread cannot start.
    pub(crate) fn start(
        core: &ExecutorCore,
        thread_name: String,
        threshold: Duration,
    ) -> std::io::Result<Watchdog> {
        let dispatch = tracing::dispatcher::get_default(|current| {
            (!current.is::<tracing::subscriber::NoSubscriber>()).then(|| current.clone())
        });
        let shared = Arc::new(WatchdogShared {
            threshold,
            epoch: Instant::now(),
            slots: Mutex::new(Vec::new()),
            core: core.clone(),
            dispatch,
        });
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        // Four scans per threshold: a stall is reported at most a quarter
        // threshold late.
        let period = (threshold / 4).max(Duration::from_millis(1));
        let scanner = shared.clone();
        let thread: JoinHandle<()> = thread::Builder::new().name(thread_name).spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                // The scan contains the subscriber's panics itself; this is
                // a last net, so that the thread watches on whatever
                // happens.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| scanner.scan())) {
                    drop_payload(payload);
                }
            }
        })?;
        Ok(Watchdog {
            shared,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn handle(&self) -> WatchdogHandle {
        WatchdogHandle(Arc::downgrade(&self.shared))
    }
}

impl Drop for Watchdog {
    /// Stops the watchdog thread and waits for it: it wakes on the stop at
    /// once, so this waits at most for a warning it is emitting (the
    /// subscriber's code) and for its exit.
    fn drop(&mut self) {
        // Full only if a stop is already pending.
        let _ = self.stop.try_send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Lets worker threads register with a watchdog without keeping it alive.
#[derive(Clone)]
pub(crate) struct WatchdogHandle(Weak<WatchdogShared>);

impl WatchdogHandle {
    /// A slot for the calling worker thread, watched until it is dropped;
    /// `None` once the watchdog is gone.
    pub(crate) fn register_current_thread(&self) -> Option<Arc<PollSlot>> {
        let shared = self.0.upgrade()?;
        let slot = Arc::new(PollSlot {
            thread: thread::current().name().unwrap_or("unnamed").to_owned(),
            started: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            job: Mutex::new(None),
            epoch: shared.epoch,
        });
        let mut slots = shared.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|slot| slot.strong_count() > 0);
        slots.push(Arc::downgrade(&slot));
        Some(slot)
    }
}

impl WatchdogShared {
    fn scan(&self) {
        let slots: Vec<Arc<PollSlot>> = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let now = nanos_since(self.epoch);
        let threshold = u64::try_from(self.threshold.as_nanos()).unwrap_or(u64::MAX);
        for slot in slots {
            let started = slot.started.load(Acquire);
            if started == 0 || slot.reported.load(Relaxed) == started {
                continue;
            }
            let elapsed = now.saturating_sub(started - 1);
            if elapsed <= threshold {
                continue;
            }
            slot.reported.store(started, Relaxed);
            let job = slot
                .job
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            self.report(&slot.thread, job.as_deref(), Duration::from_nanos(elapsed));
        }
    }

    fn report(&self, thread: &str, job: Option<&str>, elapsed: Duration) {
        let warn = || {
            tracing::warn!(
                executor = self.core.name(),
                job = job.unwrap_or("unnamed"),
                thread,
                elapsed_ms = elapsed.as_millis() as u64,
                threshold_ms = self.threshold.as_millis() as u64,
                "job `{}` has run for {elapsed:?} without yielding on thread {thread} \
                 (watchdog threshold {:?}); it holds the worker: cut its work into chunks \
                 and yield between them (a closure job: split it into several jobs)",
                job.unwrap_or("unnamed"),
                self.threshold,
            );
        };
        // The subscriber is user code: a panic in it must not end the
        // watchdog (nor skip the count).
        let warned = catch_unwind(AssertUnwindSafe(|| match &self.dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, warn),
            None => warn(),
        }));
        if let Err(payload) = warned {
            drop_payload(payload);
        }
        // Counted after the warning, so that whoever sees the count can
        // already read the warning.
        self.core.count_stalled_poll();
    }
}
