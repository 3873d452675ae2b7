//! The run queue: how jobs reach the Tokio workers without the submitter
//! ever taking a lock that a low-priority worker may hold.
//!
//! # Why not `Handle::spawn`
//!
//! A Tokio task spawned or woken from outside its runtime goes through the
//! runtime's injection queue, and a worker may have to be unparked: both
//! sit behind one mutex (the injection queue and the idle-worker list share
//! it), which the runtime's own workers take too, to pop injected tasks, to
//! park and to unpark each other. On a dedicated executor those workers run
//! at low priority, and the submitter is a thread of the I/O runtime at
//! normal priority. A worker preempted while holding the mutex stalls the
//! I/O thread that wants it until the scheduler gives the worker the CPU
//! back: a priority inversion, paid by the I/O runtime's latency every time
//! a job is submitted or woken from there (a stream's consumer waking its
//! producer, a handle's cancellation).
//!
//! # What runs instead
//!
//! Jobs are [`async_task`] tasks. Scheduling one (submitting it, or waking
//! it from any thread) pushes it onto the lock-free FIFO of its workload
//! class ([`ClassQueues`], which also chooses the class whose job runs
//! next, by weight and cap). Each worker is a thread of the executor's own,
//! a *pump*, that pops jobs and polls them with the Tokio runtime entered
//! (`Handle::enter`), so that a job can use Tokio's timers, I/O and
//! `tokio::spawn`. The runtime's own worker threads (`<name>-rt-<n>`, at
//! the same priority) run the tasks that jobs spawn and drive the timers
//! and I/O; they never poll a job.
//!
//! A submitter only pushes, and wakes a pump that went to sleep: for want
//! of jobs (which a saturated executor never has), or because only capped
//! classes over their budget had jobs. The wake-up is `Thread::unpark` on
//! the pump's own thread: it takes no lock, and it goes to that thread
//! whoever calls it.
//!
//! # Why pumps are not Tokio tasks
//!
//! They were, once: one pump task per runtime worker. A task woken from a
//! worker thread of its own runtime goes to that worker's LIFO slot, which
//! no other worker may take from (tokio-rs/tokio#4941), so a pump woken by
//! a job (a sub-job submitted, a job woken) waited for the job on the
//! waker's worker to finish while another worker idled, and a job that
//! blocked on its sub-job deadlocked. Only builds with `--cfg
//! tokio_unstable` can turn the slot off. Threads of our own make work
//! conservation independent of Tokio's scheduler: any push wakes a sleeping
//! pump, and a woken pump runs on its own thread.
//!
//! Tokio's cooperative budget does not constrain jobs (they are polled
//! outside Tokio's tasks): a job shares its worker by yielding, at the
//! latest when [`yield_if_needed`](executor_api::yield_if_needed) says its
//! time slice is up. A job that yields with `tokio::task::yield_now` wakes
//! itself at once and goes to the back of its class's line.
//!
//! # Sleeping and waking (no lost wake-up)
//!
//! A pump that finds no job looks again for a few microseconds (spinning,
//! then yielding its thread: crossbeam's `Backoff`), since jobs often come
//! in quick succession and parking costs a system call on each side; then
//! it sleeps until a push wakes it. The handshake lives in `sleepers`, where
//! loom models check it. Its second look, after
//! it counted itself asleep, is for any queued job, whatever its class's
//! budget: a job of a capped class over its budget gets the pump up too,
//! and the pump then sleeps on the budget's end. A pump that found only
//! such jobs sleeps until the first may start (`park_timeout`), or until a
//! push brings one that may start earlier. So no job that may start waits
//! while a pump sleeps: every push while one sleeps wakes one.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};
use std::sync::atomic::{AtomicBool, fence};
use std::task::{Context, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use async_task::Runnable;
use executor_api::backend::{ClassQueues, ExecutorCore, Placement, Pop};
use tokio::runtime::Handle;

use crate::sleepers::Sleepers;

/// The runnable jobs of one executor, a FIFO per workload class, and the
/// sleep state of its pumps.
pub(crate) struct RunQueue {
    jobs: ClassQueues<Runnable>,
    pumps: Sleepers,
    /// The executor is stopping: pumps exit, and nothing pops any more.
    closed: AtomicBool,
}

impl RunQueue {
    /// A queue for the classes of `core`'s executor and `pumps` pumps: one
    /// per worker thread.
    pub(crate) fn new(core: &ExecutorCore, pumps: usize) -> Arc<RunQueue> {
        Arc::new(RunQueue {
            jobs: ClassQueues::new(core),
            pumps: Sleepers::new(pumps),
            closed: AtomicBool::new(false),
        })
    }

    /// How many pumps there are.
    pub(crate) fn pump_count(&self) -> usize {
        self.pumps.len()
    }

    /// Queues `runnable` for a pump, waking one if any sleeps. If the
    /// executor is stopping, the runnable is dropped, which drops its job
    /// (resolving it as cancelled if it had not ended).
    pub(crate) fn push(&self, place: &Placement, runnable: Runnable) {
        self.jobs.push(place, runnable);
        // Either a pump going to sleep sees this job, or this wakes it.
        self.pumps.notify();
        if self.closed.load(Acquire) {
            // Raced with `close`: nothing will pop it.
            self.drain();
        }
    }

    /// Wakes every sleeping pump: the shutdown turned immediate, and jobs
    /// of capped classes that were waiting for their budget may now start
    /// (and end cancelled).
    pub(crate) fn wake_all(&self) {
        self.pumps.wake_all();
    }

    /// The executor is stopping: every pump exits after its current poll,
    /// and every job queued now or later is dropped (each resolves as
    /// cancelled if it had not ended).
    pub(crate) fn close(&self) {
        self.closed.store(true, Release);
        // Pairs with the fence in `push`: either this drain sees the job, or
        // that push sees `closed`. `wake_all` fences too, so a pump going
        // to sleep sees `closed` or is woken.
        fence(SeqCst);
        self.pumps.wake_all();
        self.drain();
    }

    fn drain(&self) {
        self.jobs.drain().for_each(drop);
    }

    /// Pump number `index`: polls jobs on the calling thread, with
    /// `runtime` entered, until the queue is closed.
    pub(crate) fn run_pump(&self, index: usize, runtime: &Handle) {
        let _runtime = runtime.enter();
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        while !self.closed.load(Acquire) {
            match self.jobs.pop() {
                Pop::Job(runnable) => {
                    // A job catches its body's panics and contains the user
                    // code of its ending, so this never unwinds; if it ever
                    // did, the pump would go on.
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| runnable.run())) {
                        executor_api::backend::drop_panic_payload(payload);
                    }
                }
                // Jobs often come in quick succession: look again, yielding,
                // for `SPIN_BEFORE_PARK` before parking (see there why).
                Pop::Empty if self.jobs.job_arrives_soon(|| self.closed.load(Acquire)) => {}
                // Any job pushed meanwhile, of a capped class too, gets the
                // pump up (it then sleeps on that class's budget, below).
                Pop::Empty => self.sleep(index, None, &waker),
                // Only capped classes have jobs, over their budget: sleep
                // until the first may start, or until a push brings a job
                // that may start earlier.
                Pop::Throttled(until) => self.sleep(index, Some(until), &waker),
            }
        }
    }

    /// Parks the pump's thread until a push wakes it or `until` passes.
    fn sleep(&self, index: usize, until: Option<Instant>, waker: &Waker) {
        let has_work = || {
            self.closed.load(Acquire)
                || match until {
                    None => !self.jobs.is_empty(),
                    Some(until) => self.jobs.next_start().is_some_and(|start| start < until),
                }
        };
        // Dropped on the timer's expiry, it takes the pump off the count.
        let mut asleep = pin!(self.pumps.sleep(index, has_work));
        let mut cx = Context::from_waker(waker);
        while asleep.as_mut().poll(&mut cx).is_pending() {
            match until {
                None => thread::park(),
                Some(until) => match until.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => thread::park_timeout(left),
                    _ => return,
                },
            }
        }
    }
}

/// Wakes a pump: unparks its thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
