//! The run queue: one FIFO of runnable jobs in front of the Rayon pool, and
//! the rule that a job starts only at the top of a pool thread's stack.
//!
//! # Why a FIFO of our own
//!
//! Rayon gives a pool thread's own work priority over everything else: a
//! job spawned from a pool thread goes on that thread's local deque, which
//! it pops last-in first-out, before it ever looks at work submitted from
//! outside. A future that yields (and so reschedules itself from the pool
//! thread it runs on) would be popped again at once, forever, starving
//! every other job. So jobs do not go to Rayon directly: each schedule
//! pushes the job onto the FIFO of its workload class ([`ClassQueues`],
//! which chooses the class whose job runs next, by weight and cap) and
//! hands Rayon a *ticket*, a Rayon job that runs whichever runnable's turn
//! it is. Tickets and runnables are one to one, so every runnable runs,
//! in order within its class, and a yielding job goes to the back of its
//! class's line like on Tokio.
//!
//! # Why jobs never nest
//!
//! A pool thread that waits inside `rayon::join`, `scope` or a parallel
//! iterator (its own job's, or a piece of another job's it stole) runs
//! whatever Rayon work it finds meanwhile, tickets included. A ticket run
//! there would start a job on top of the waiting one, on the same stack: a
//! lock held across `par_iter` would deadlock on the nested job, the outer
//! job could not return before the nested one finished, and the stack
//! would grow without bound. Rayon's stealing is for parallelism inside a
//! job, not for starting other jobs.
//!
//! So a ticket runs a job only when it runs from the top of its thread's
//! stack: called by Rayon's main loop, not by a wait inside other work.
//! Rayon does not say which it is, but the depth tells: the main loop calls
//! a ticket at one fixed stack depth, and any wait inside other work calls
//! it deeper. Each thread measures that depth once, at build time, when
//! every thread is idle in its main loop (see [`RunQueue::calibrate`]).
//!
//! A ticket that finds itself nested leaves its runnable in the FIFO and
//! counts an *orphan*; it then asks every pool thread, with a Rayon
//! broadcast, to look for orphans. A thread that receives the broadcast at
//! the top of its stack runs them; so does every thread after each job it
//! runs from the top. A thread may also receive its broadcast while nested
//! (a waiting thread pops its broadcast queue too) and then can do nothing
//! with it; if every thread was nested at that moment inside Rayon work
//! that is not a job (a `rayon::spawn` from a job), no job ending would
//! come to claim the orphan later. So, as long as orphans are left, the
//! reactor thread repeats the broadcast once a millisecond (the *rescue*).
//! So the job runs as soon as any thread is free, never on top of another
//! job:
//!
//! - runnables in the FIFO = tickets not yet run + orphans not yet claimed;
//! - a thread claims an orphan (decrements the count) before it pops, so a
//!   claimed pop finds a runnable, unless only capped classes over their
//!   budget have runnables: then the claim is given back.
//!
//! A ticket that finds only such runnables leaves its runnable in the
//! queue and counts an orphan too, without a broadcast (nothing may start
//! now); the rescue's broadcast, once a millisecond, tries again, so a
//! throttled job starts within a millisecond of its class's budget coming
//! back. An immediate shutdown lifts the caps and broadcasts at once
//! (`RunQueue::wake_all`).

use std::cell::{Cell, OnceCell};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, SeqCst};
use std::sync::{Arc, Barrier, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use async_task::Runnable;
use executor_api::backend::{ClassIndex, ClassQueues, ExecutorCore, Pop};
use rayon::{BroadcastContext, ThreadPool};
use tokio::runtime::Handle;

/// How often the rescue repeats the orphan broadcast while orphans are
/// left.
const RESCUE_PERIOD: Duration = Duration::from_millis(1);

/// How much shallower than measured a ticket may run and still count as at
/// the top: room for a compiler inlining the two places where Rayon's main
/// loop calls a job differently. A nested start is deeper by whole frames
/// of the outer work, Rayon's join or scope and its wait loop.
const DEPTH_SLACK: usize = 64;

/// The runnable jobs of one executor: a FIFO per workload class.
pub(crate) struct RunQueue {
    jobs: ClassQueues<Runnable>,
    /// Weak: only the driver keeps the pool alive.
    pool: OnceLock<Weak<ThreadPool>>,
    /// Runnables whose ticket ran nested (see the module docs).
    orphans: AtomicUsize,
    /// While the pool threads measure their depths: the barrier they meet
    /// at, so that each thread takes exactly one measuring ticket.
    calibration: Mutex<Option<Arc<Barrier>>>,
    /// The reactor, which runs the rescue.
    reactor: Handle,
    /// A rescue is running.
    rescuing: AtomicBool,
}

/// How a Rayon job of ours reached the thread: the depths differ.
#[derive(Clone, Copy)]
enum Entry {
    /// A ticket, from `ThreadPool::spawn`.
    Ticket = 0,
    /// An orphan wake-up, from `ThreadPool::spawn_broadcast`.
    Wake = 1,
}

thread_local! {
    /// The run queue of the pool that runs this thread, set once at thread
    /// start; borrowed, never cloned, by each ticket.
    static CURRENT: OnceCell<Arc<RunQueue>> = const { OnceCell::new() };
    /// The stack address of a marker in [`enter`] when Rayon's main loop
    /// calls it, per [`Entry`]; 0 until measured.
    static TOP: Cell<[usize; 2]> = const { Cell::new([0; 2]) };
}

impl RunQueue {
    pub(crate) fn new(core: &ExecutorCore, reactor: Handle) -> Arc<RunQueue> {
        Arc::new(RunQueue {
            jobs: ClassQueues::new(core),
            pool: OnceLock::new(),
            orphans: AtomicUsize::new(0),
            calibration: Mutex::new(None),
            reactor,
            rescuing: AtomicBool::new(false),
        })
    }

    /// Connects the queue to its pool once the pool exists, and has every
    /// pool thread measure the depth at which its main loop runs our Rayon
    /// jobs. Returns once all have; before any job can be scheduled.
    pub(crate) fn calibrate(&self, pool: &Arc<ThreadPool>) {
        let _ = self.pool.set(Arc::downgrade(pool));
        let threads = pool.current_num_threads();
        for entry in [Entry::Ticket, Entry::Wake] {
            // Each pool thread blocks at the barrier after its measurement
            // (a plain wait, not a Rayon one), so it takes exactly one.
            let barrier = Arc::new(Barrier::new(threads + 1));
            *self.calibration_slot() = Some(barrier.clone());
            match entry {
                Entry::Ticket => (0..threads).for_each(|_| pool.spawn(run_ticket)),
                Entry::Wake => pool.spawn_broadcast(wake),
            }
            barrier.wait();
            *self.calibration_slot() = None;
        }
    }

    fn calibration_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Barrier>>> {
        self.calibration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the calling pool thread as serving this queue.
    pub(crate) fn enter(self: &Arc<Self>) {
        CURRENT.with(|current| {
            let _ = current.set(self.clone());
        });
    }

    /// Queues `runnable` and hands the pool a ticket for it. If the pool is
    /// gone, the runnable is dropped, which drops its job (resolving it as
    /// cancelled if it had not ended).
    pub(crate) fn push(&self, class: ClassIndex, runnable: Runnable) {
        let Some(pool) = self.pool.get().and_then(Weak::upgrade) else {
            drop(runnable);
            return;
        };
        self.jobs.push(class, runnable);
        pool.spawn(run_ticket);
    }

    /// Runs the runnable whose turn it is, if one may start now.
    fn run_one(&self) -> Ran {
        match self.jobs.pop() {
            Pop::Job(runnable) => {
                runnable.run();
                Ran::Job
            }
            Pop::Empty => Ran::Nothing,
            Pop::Throttled(_) => Ran::Throttled,
        }
    }

    /// Runs runnables while orphans are left, claiming each first. A claim
    /// that finds only jobs of capped classes over their budget is given
    /// back, for the rescue to try again.
    fn run_orphans(self: &Arc<Self>) {
        while self.claim_orphan() {
            match self.run_one() {
                Ran::Job => {}
                Ran::Nothing => return,
                Ran::Throttled => {
                    // SeqCst, with the rescue's: see `rescue`.
                    self.orphans.fetch_add(1, SeqCst);
                    self.start_rescue();
                    return;
                }
            }
        }
    }

    /// Wakes every pool thread to look for orphans: an immediate shutdown
    /// lifted the caps, so jobs that waited for their class's budget may
    /// start (and end cancelled).
    pub(crate) fn wake_all(&self) {
        if let Some(pool) = self.pool.get().and_then(Weak::upgrade) {
            pool.spawn_broadcast(wake);
        }
    }

    /// Takes one orphan off the count, if any is left.
    fn claim_orphan(&self) -> bool {
        self.orphans
            .fetch_update(AcqRel, Acquire, |orphans| orphans.checked_sub(1))
            .is_ok()
    }

    /// A ticket ran nested: leave its runnable for a thread at the top,
    /// wake every thread to look, and start the rescue.
    fn orphan(self: &Arc<Self>) {
        self.orphans.fetch_add(1, SeqCst);
        self.wake_all();
        self.start_rescue();
    }

    /// A ticket found only jobs of capped classes over their budget: leave
    /// its runnable for the rescue, which looks again once a millisecond.
    fn defer(self: &Arc<Self>) {
        self.orphans.fetch_add(1, SeqCst);
        self.start_rescue();
    }

    fn start_rescue(self: &Arc<Self>) {
        if !self.rescuing.swap(true, SeqCst) {
            let queue = self.clone();
            self.reactor.spawn(async move { queue.rescue().await });
        }
    }

    /// Repeats the orphan broadcast until no orphan is left or the pool is
    /// gone (see the module docs).
    async fn rescue(self: Arc<Self>) {
        loop {
            tokio::time::sleep(RESCUE_PERIOD).await;
            if self.orphans.load(SeqCst) == 0 {
                // SeqCst on both sides (here, and the orphan's count and
                // swap): either this second look sees an orphan counted
                // meanwhile, or that orphan's swap sees `rescuing` cleared
                // and starts a rescue. Weaker orderings let both miss.
                self.rescuing.store(false, SeqCst);
                // An orphan counted after the check but before the store
                // saw `rescuing` set and started no rescue: go on for it.
                if self.orphans.load(SeqCst) == 0 || self.rescuing.swap(true, SeqCst) {
                    return;
                }
            }
            match self.pool.get().and_then(Weak::upgrade) {
                Some(pool) => pool.spawn_broadcast(wake),
                None => return,
            }
        }
    }
}

/// What [`RunQueue::run_one`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Job,
    Nothing,
    /// Jobs are queued, but only in capped classes over their budget.
    Throttled,
}

/// An orphan wake-up: runs orphans if the thread is at the top of its
/// stack. One function, so that the depth measured at build is the depth of
/// every wake-up.
fn wake(_: BroadcastContext<'_>) {
    enter(Entry::Wake);
}

/// A ticket: runs the oldest runnable of the calling thread's queue, if the
/// thread is at the top of its stack.
fn run_ticket() {
    enter(Entry::Ticket);
}

/// Where every Rayon job of ours starts. Never inlined, so that the marker
/// sits at the same depth for every call through the same path.
#[inline(never)]
fn enter(entry: Entry) {
    let marker = 0u8;
    let depth = std::hint::black_box(&marker) as *const u8 as usize;
    CURRENT.with(|current| {
        if let Some(queue) = current.get() {
            enter_queue(queue, entry, depth);
        }
    });
}

/// [`enter`], on the calling thread's queue, at stack address `depth`.
fn enter_queue(queue: &Arc<RunQueue>, entry: Entry, depth: usize) {
    let top = TOP.with(Cell::get);
    let measured = top[entry as usize];
    if measured == 0 {
        // The build is measuring (see `RunQueue::calibrate`): every thread
        // is idle in its main loop, so this is the top.
        let mut top = top;
        top[entry as usize] = depth;
        TOP.with(|cell| cell.set(top));
        let barrier = queue.calibration_slot().clone();
        if let Some(barrier) = barrier {
            barrier.wait();
        }
        return;
    }
    // The stack grows down: a deeper call has a lower address.
    let at_top = depth + DEPTH_SLACK >= measured;
    match (entry, at_top) {
        (Entry::Ticket, true) => {
            if queue.run_one() == Ran::Throttled {
                queue.defer();
            }
            queue.run_orphans();
        }
        (Entry::Ticket, false) => queue.orphan(),
        (Entry::Wake, true) => queue.run_orphans(),
        (Entry::Wake, false) => {}
    }
}
