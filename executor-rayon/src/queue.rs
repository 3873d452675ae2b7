//! The run queue: one FIFO of runnable jobs per workload class
//! ([`ClassQueues`], which chooses the class by weight and cap), its close,
//! and the gate that idle pumps wait at (the pumps and the gate's design:
//! `pump`; the gate thread's sleep: `gate`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Release};

use async_task::Runnable;
use executor_api::backend::{ClassQueues, ExecutorCore, Placement, Pop};

use crate::gate::GateSleep;

/// The runnable jobs of one executor, a FIFO per workload class, and the
/// gate that idle pumps wait at.
pub(crate) struct RunQueue {
    jobs: ClassQueues<Runnable>,
    /// The executor is stopping: pumps return, and nothing pops any more.
    closed: AtomicBool,
    /// The gate thread's sleep and wake-up.
    gate: GateSleep,
}

impl RunQueue {
    pub(crate) fn new(core: &ExecutorCore) -> Arc<RunQueue> {
        Arc::new(RunQueue {
            jobs: ClassQueues::new(core),
            closed: AtomicBool::new(false),
            gate: GateSleep::new(),
        })
    }

    /// Marks the calling thread as the gate thread: called once, when the
    /// gate pool's thread starts.
    pub(crate) fn set_gate_thread(&self) {
        self.gate.set_thread();
    }

    /// Queues `runnable` and wakes the gate if it sleeps. If the executor
    /// is stopping, the runnable is dropped, which drops its job (resolving
    /// it as cancelled if it had not ended).
    pub(crate) fn push(&self, place: &Placement, runnable: Runnable) {
        self.jobs.push(place, runnable);
        // Either the gate, going to sleep, sees this job, or this wakes it;
        // and either this push sees `closed`, or the close's drain sees the
        // job (the notify's fence pairs with the close's).
        self.gate.notify();
        if self.closed.load(Acquire) {
            self.drain();
        }
    }

    /// Wakes the gate: the shutdown turned immediate (the caps are lifted,
    /// so jobs that waited for their class's budget may start, and end
    /// cancelled), or the queue closed.
    pub(crate) fn wake_all(&self) {
        self.gate.wake();
    }

    /// The executor is stopping: every pump returns after its current poll
    /// (the gate lets every waiting pump through), and every job queued now
    /// or later is dropped.
    pub(crate) fn close(&self) {
        self.closed.store(true, Release);
        self.wake_all();
        self.drain();
    }

    fn drain(&self) {
        self.jobs.drain().for_each(drop);
    }

    /// The job whose turn it is, if one may start.
    pub(crate) fn pop(&self) -> Pop<Runnable> {
        self.jobs.pop()
    }

    /// Whether the executor is stopping: pumps return.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Acquire)
    }

    /// Whether a job is pushed (or the queue closes) within
    /// `SPIN_BEFORE_PARK`: for a pump that found none, before the gate.
    pub(crate) fn job_arrives_soon(&self) -> bool {
        self.jobs.job_arrives_soon(|| self.is_closed())
    }

    /// On the gate thread: returns once a job may start or the queue has
    /// closed; parks meanwhile (until a push, or until a throttled job may
    /// start).
    pub(crate) fn gate_wait(&self) {
        self.gate.wait_until(
            || self.closed.load(Acquire) || self.jobs.has_runnable(),
            || self.jobs.next_start(),
        );
    }
}
