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
//! next, by weight and cap). On each worker thread of the runtime runs a
//! *pump*: a Tokio task that pops jobs and polls them, in the runtime's
//! context, so that a job can use Tokio's timers, I/O and `tokio::spawn` as
//! before. A submitter only pushes, and touches Tokio only to wake a pump
//! that went to sleep: for want of jobs (which a saturated executor never
//! has), or because only capped classes over their budget had jobs.
//!
//! A pump hands its worker back to Tokio (`yield_now`, which also lets the
//! worker poll its I/O driver and timers and run the tasks that jobs
//! spawned) when the job it just polled used up Tokio's cooperative budget,
//! or after [`SLICE`] of polling. So Tokio's own tasks on the executor
//! (sub-tasks, the timer wheel) are served about once a millisecond even
//! when jobs never stop coming, and a job is polled as soon as a pump is
//! free.
//!
//! A task that a job spawns (`tokio::spawn`) goes to the worker's LIFO
//! slot, which other workers cannot take from. When a job was its own Tokio
//! task, the task ran as soon as the job returned `Pending`; a pump that
//! went on to the next job could leave it there behind a long job. So after
//! a job that spawned a task (the runtime's task count grew), the pump
//! requeues itself behind it. A Tokio task that a job merely wakes on the
//! executor (a channel it sends on) waits for the pump's slice, at most a
//! millisecond plus the job it polls next; builds with `tokio_unstable`
//! disable the LIFO slot, and there it waits for no one.
//!
//! A job that yields with `tokio::task::yield_now` (or runs out of Tokio's
//! budget) is not requeued at once: Tokio holds its wake-up until the
//! worker next looks at its I/O driver, that is, until the pump hands the
//! worker back (within a slice). A job that wakes itself is requeued at
//! once, at the back of the line.
//!
//! # Sleeping and waking (no lost wake-up)
//!
//! A pump that finds no job sleeps until a push wakes it; the handshake
//! lives in `sleepers`, where loom models check it. Its second look, after
//! it counted itself asleep, is for any queued job, whatever its class's
//! budget: a job of a capped class over its budget gets the pump up too,
//! and the pump then sleeps on the budget's end. A pump that found only
//! such jobs sleeps until the first may start (a timer), or until a push
//! brings one that may start earlier. So no job that may start waits while
//! a pump sleeps: every push while one sleeps wakes one.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicUsize, fence};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_task::Runnable;
use executor_api::backend::{ClassIndex, ClassQueues, ExecutorCore, Pop};

use crate::sleepers::Sleepers;

/// How long a pump polls jobs before it hands its worker back to Tokio.
pub(crate) const SLICE: Duration = Duration::from_millis(1);

/// The runnable jobs of one executor, a FIFO per workload class, and its
/// pumps.
pub(crate) struct RunQueue {
    jobs: ClassQueues<Runnable>,
    pumps: Sleepers,
    /// Pump tasks that exist: the driver tells them apart from the tasks
    /// that jobs spawned.
    live_pumps: AtomicUsize,
    /// The runtime is gone: nothing pumps any more.
    closed: AtomicBool,
}

impl RunQueue {
    /// A queue for the classes of `core`'s executor and `pumps` pumps: one
    /// per worker thread.
    pub(crate) fn new(core: &ExecutorCore, pumps: usize) -> Arc<RunQueue> {
        Arc::new(RunQueue {
            jobs: ClassQueues::new(core),
            pumps: Sleepers::new(pumps),
            live_pumps: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// How many pumps there are.
    pub(crate) fn pump_count(&self) -> usize {
        self.pumps.len()
    }

    /// How many pump tasks are alive on the runtime.
    pub(crate) fn live_pumps(&self) -> usize {
        self.live_pumps.load(Acquire)
    }

    /// Queues `runnable` for a pump, waking one if any sleeps. If the
    /// runtime is gone, the runnable is dropped, which drops its job
    /// (resolving it as cancelled if it had not ended).
    pub(crate) fn push(&self, class: ClassIndex, runnable: Runnable) {
        self.jobs.push(class, runnable);
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

    /// The runtime is gone: drops every queued job (each resolves as
    /// cancelled if it had not ended), and every job scheduled from now on.
    pub(crate) fn close(&self) {
        self.closed.store(true, Release);
        // Pairs with the fence in `push`: either this drain sees the job, or
        // that push sees `closed`.
        fence(SeqCst);
        self.drain();
    }

    fn drain(&self) {
        self.jobs.drain().for_each(drop);
    }

    /// Pump number `index`: polls jobs on the worker thread that polls it,
    /// until the runtime drops it. Counted in [`live_pumps`](Self::live_pumps)
    /// from now until it is dropped.
    pub(crate) fn pump(
        self: &Arc<Self>,
        index: usize,
    ) -> impl Future<Output = ()> + Send + 'static {
        let alive = LivePump::new(self.clone());
        async move { alive.0.run_pump(index).await }
    }

    async fn run_pump(&self, index: usize) {
        // The runtime's task count tells whether a job spawned a Tokio task.
        let runtime = tokio::runtime::Handle::current();
        loop {
            let slice = Instant::now();
            loop {
                let runnable = match self.jobs.pop() {
                    Pop::Job(runnable) => runnable,
                    Pop::Empty => {
                        // Any job pushed meanwhile, of a capped class
                        // too, gets the pump up (it then sleeps on that
                        // class's budget, below).
                        self.pumps.sleep(index, || !self.jobs.is_empty()).await;
                        break;
                    }
                    Pop::Throttled(until) => {
                        // Only capped classes have jobs, over their budget:
                        // sleep until the first may start, or until a push
                        // brings a job that may start earlier.
                        let woken = self.pumps.sleep(index, || {
                            self.jobs.next_start().is_some_and(|start| start < until)
                        });
                        let budget = tokio::time::sleep_until(until.into());
                        first_of(woken, budget).await;
                        break;
                    }
                };
                let tasks = runtime.metrics().num_alive_tasks();
                // A job catches its body's panics and contains the user code
                // of its ending, so this never unwinds; if it ever did, the
                // pump would go on.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| runnable.run())) {
                    executor_api::backend::drop_panic_payload(payload);
                }
                if runtime.metrics().num_alive_tasks() > tasks {
                    // The job spawned a Tokio task: it sits in this worker's
                    // LIFO slot, where no other worker can take it. Let it
                    // run now, as it would have after the job's own task.
                    YieldToBack::default().await;
                    break;
                }
                if !tokio::task::coop::has_budget_remaining() || slice.elapsed() >= SLICE {
                    tokio::task::yield_now().await;
                    break;
                }
            }
        }
    }
}

/// Resolves when either future does; the other is dropped.
async fn first_of(a: impl Future<Output = ()>, b: impl Future<Output = ()>) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Reschedules the calling task at the back of its worker's run queue,
/// where other workers can take it, after the task in the LIFO slot.
#[derive(Default)]
struct YieldToBack {
    yielded: bool,
}

impl Future for YieldToBack {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A task that wakes itself while it is polled is requeued as a
        // yield: at the back of the run queue, never in the LIFO slot.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Counts a pump task while it exists.
struct LivePump(Arc<RunQueue>);

impl LivePump {
    fn new(queue: Arc<RunQueue>) -> Self {
        queue.live_pumps.fetch_add(1, AcqRel);
        LivePump(queue)
    }
}

impl Drop for LivePump {
    fn drop(&mut self) {
        self.0.live_pumps.fetch_sub(1, AcqRel);
    }
}
