//! The pumps, one per pool thread, that poll the jobs of the run queue
//! (`queue`), and how they wait at the gate.
//!
//! # Why jobs are not Rayon jobs
//!
//! A pool thread that waits inside `rayon::join`, `scope` or a parallel
//! iterator (its own job's, or a piece of another job's it stole) runs
//! whatever Rayon work it finds meanwhile: a job handed to Rayon (spawned,
//! injected or broadcast) could start there, on top of the waiting one, on
//! the same stack. A lock held across `par_iter` would deadlock on the
//! nested job, the outer job could not return before the nested one
//! finished, and the stack would grow without bound. Rayon does not say
//! whether a job of its own runs from its main loop or from a wait, so no
//! Rayon job can safely start one of ours.
//!
//! So jobs never go to Rayon. Each pool thread runs one *pump*, started
//! once at build by a broadcast while every thread is idle, so that it sits
//! at the top of the thread's stack for the pool's whole life. A pump pops
//! the job whose turn it is from the FIFOs ([`ClassQueues`], which chooses
//! the class by weight and cap) and polls it; nothing else ever polls a
//! job. A thread inside a job's Rayon wait runs only Rayon work: pieces of
//! parallel iterators, `rayon::spawn`ed work, never a job. Jobs cannot nest,
//! whatever the stack looks like (code that switches stacks included).
//!
//! # Helping Rayon
//!
//! A pump is a Rayon job that never returns while the pool lives, so the
//! thread never goes back to Rayon's main loop. It still does Rayon's work:
//!
//! - while its job waits inside `join` or `scope` (Rayon's own wait);
//! - while it has no job to poll: it waits for one through the *gate* (see
//!   below) with `ThreadPool::install` on a second pool, and a thread of one
//!   pool that waits on another "keeps busy while the op completes"
//!   (Rayon's documented behaviour): it steals and runs this pool's work,
//!   sleeping in Rayon's own sleep when there is none, so an idle pump
//!   helps with a busy job's `par_iter` at once;
//! - between jobs, once a [`SLICE`] of polling has passed, it runs the
//!   Rayon work in its own deque (`rayon::yield_local`), so that work which
//!   its jobs handed to `rayon::spawn` is not starved while jobs keep
//!   coming.
//!
//! # The gate: waiting for a job without a timer or a broadcast
//!
//! The gate is a pool of one thread. A pump with nothing to poll hands it
//! an op that returns once a job may start (or the queue closes), and waits
//! for that op as above. The gate thread runs the ops one at a time, oldest
//! first: each returns as soon as a job may start. Until the first pump let
//! through has popped the job, the gate lets the next ones through too (a
//! pump that finds the job taken waits again): a job that arrives at an idle
//! executor wakes up to every idle pump, a few microseconds of work each.
//! Letting one through per job would be cheaper, but the pump let through
//! may be busy with a piece of another job's parallel work that it stole
//! while it waited, for as long as that piece takes; the job must not wait
//! for it while other pumps idle. While nothing may start, the gate thread parks: until a push
//! unparks it, or, when only capped classes over their budget have jobs,
//! until the first may start (`park_timeout`). Nothing runs on a timer, no
//! thread spins, and no other thread (the reactor, which runs the tasks
//! that jobs spawn) is involved.
//! The sleep and wake-up handshake is `gate`'s.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use executor_api::backend::Pop;
use rayon::{ThreadPool, Yield};

use crate::queue::RunQueue;

/// How long a pump polls jobs before it runs the Rayon work it finds.
pub(crate) const SLICE: Duration = Duration::from_millis(1);

/// A pump: polls jobs on the calling pool thread until the queue
/// closes, waiting at `gate` when there is none (see the module docs).
pub(crate) fn run_pump(queue: &RunQueue, gate: &ThreadPool) {
    let mut slice = Instant::now();
    while !queue.is_closed() {
        match queue.pop() {
            Pop::Job(runnable) => {
                // A job catches its body's panics and contains the user
                // code of its ending, so this never unwinds; if it ever
                // did, the pump would go on.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| runnable.run())) {
                    executor_api::backend::drop_panic_payload(payload);
                }
                if slice.elapsed() >= SLICE {
                    help_rayon();
                    slice = Instant::now();
                }
            }
            // Jobs often come in quick succession (a service submits
            // the next as soon as the last one's answer is out): look
            // again, yielding, for `SPIN_BEFORE_PARK` before going to
            // the gate, which takes two wake-ups (the gate's, then this
            // pump's) and lets the pump sleep (see there why not).
            Pop::Empty if queue.job_arrives_soon() => {}
            Pop::Empty | Pop::Throttled(_) => {
                // Runs this pool's Rayon work while it waits.
                gate.install(|| queue.gate_wait());
                slice = Instant::now();
            }
        }
    }
}

/// Runs the Rayon work in the calling pool thread's own deque (what its
/// jobs `rayon::spawn`ed), for at most a [`SLICE`]. Only its own:
/// looking further (`rayon::yield_now`, which steals) between long polls
/// cost the I/O runtime's tail under a request-and-response load (one probe
/// in a hundred waited about a millisecond, side by side with and without),
/// and idle pumps steal anyway.
fn help_rayon() {
    let started = Instant::now();
    while rayon::yield_local() == Some(Yield::Executed) && started.elapsed() < SLICE {}
}
