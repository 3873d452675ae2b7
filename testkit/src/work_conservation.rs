//! Work conservation: no job waits while a worker is idle, whichever thread
//! submitted or woke it, a worker of the same executor included.
//!
//! These cases once failed on the Tokio backend in the build users get
//! (without `--cfg tokio_unstable`): a job submitted or woken from a worker
//! thread went to that worker's LIFO slot, which no other worker may take
//! from, so it waited for the job running there to finish.

use std::sync::Arc;

use executor_api::Executor;

use crate::conformance::{Backend, build};
use crate::support::{block_on_within, recv, shutdown_and_join, timeout};

/// A meeting of `parties` threads that panics after [`timeout()`] if they
/// do not all arrive (a `std::sync::Barrier` cannot time out).
struct Rendezvous {
    arrived: crossbeam_channel::Sender<()>,
    arrivals: crossbeam_channel::Receiver<()>,
    released: crossbeam_channel::Receiver<()>,
    release: Arc<std::sync::Mutex<Option<crossbeam_channel::Sender<()>>>>,
    parties: usize,
}

impl Clone for Rendezvous {
    fn clone(&self) -> Self {
        Rendezvous {
            arrived: self.arrived.clone(),
            arrivals: self.arrivals.clone(),
            released: self.released.clone(),
            release: self.release.clone(),
            parties: self.parties,
        }
    }
}

impl Rendezvous {
    fn new(parties: usize) -> Self {
        let (arrived, arrivals) = crossbeam_channel::unbounded();
        let (release, released) = crossbeam_channel::bounded(0);
        Rendezvous {
            arrived,
            arrivals,
            released,
            release: Arc::new(std::sync::Mutex::new(Some(release))),
            parties,
        }
    }

    /// Arrives, and returns once every party has: the last to arrive
    /// releases the others. Panics, naming `what`, if they do not all
    /// arrive within [`timeout()`].
    fn meet(&self, what: &str) {
        let _ = self.arrived.send(());
        if self.arrivals.len() >= self.parties {
            // Disconnecting the release channel lets every waiter through.
            self.release.lock().unwrap().take();
            return;
        }
        match self.released.recv_timeout(timeout()) {
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {}
            _ => panic!(
                "{what}: only {} of {} arrived within {:?}: a job waited while a worker idled",
                self.arrivals.len(),
                self.parties,
                timeout()
            ),
        }
    }
}

/// A job on a two-worker executor submits a sub-job and blocks its worker
/// until the sub-job has run: the other worker, idle, runs it.
pub fn a_job_blocked_on_a_sub_job_lets_the_idle_worker_run_it<B: Backend>() {
    let executor = build::<B>("wcblock", 2);
    let inner = executor.clone();
    let parent = executor.spawn_cpu(move |_| {
        let (ran_tx, ran_rx) = crossbeam_channel::bounded(1);
        inner
            .spawn(async move {
                let _ = ran_tx.send(());
            })
            .detach();
        // Blocks this worker: only the other can run the sub-job.
        ran_rx.recv_timeout(timeout()).is_ok()
    });
    assert_eq!(
        block_on_within("a job blocked on its sub-job", parent),
        Ok(true),
        "the sub-job waited while a worker idled"
    );
    shutdown_and_join(&executor);
}

/// A job blocked on its worker wakes another job (a channel send): the
/// woken job resumes on the idle worker at once, not when the waker ends.
pub fn a_job_woken_by_a_running_job_resumes_on_an_idle_worker<B: Backend>() {
    let executor = build::<B>("wcwake", 2);
    let (wake_tx, wake_rx) = futures::channel::oneshot::channel::<()>();
    let (parked_tx, parked_rx) = crossbeam_channel::bounded(1);
    let (resumed_tx, resumed_rx) = crossbeam_channel::bounded(1);
    let woken = executor.spawn(async move {
        let _ = parked_tx.send(());
        let _ = wake_rx.await;
        let _ = resumed_tx.send(());
    });
    recv("the job that waits to be woken", &parked_rx);
    let waker = executor.spawn_cpu(move |_| {
        let _ = wake_tx.send(());
        // Holds its worker until the woken job has resumed.
        resumed_rx.recv_timeout(timeout()).is_ok()
    });
    assert_eq!(
        block_on_within("the waking job", waker),
        Ok(true),
        "the woken job waited for the job that woke it"
    );
    assert_eq!(block_on_within("the woken job", woken), Ok(()));
    shutdown_and_join(&executor);
}

/// Sub-jobs that a job submits start in parallel: on a three-worker
/// executor, two sub-jobs meet at a rendezvous that neither passes alone.
pub fn sub_jobs_submitted_from_a_job_start_in_parallel<B: Backend>() {
    let executor = build::<B>("wcpar", 3);
    let inner = executor.clone();
    let meeting = Rendezvous::new(2);
    let parent = executor.spawn(async move {
        let subs: Vec<_> = (0..2)
            .map(|_| {
                let meeting = meeting.clone();
                inner.spawn_cpu(move |_| meeting.meet("two sub-jobs of one job"))
            })
            .collect();
        for sub in subs {
            sub.await.expect("a sub-job");
        }
    });
    assert_eq!(block_on_within("two parallel sub-jobs", parent), Ok(()));
    shutdown_and_join(&executor);
}

/// Jobs submitted from a worker while that worker keeps running (it blocks
/// until they have all started) start on the other workers.
pub fn jobs_submitted_by_a_busy_worker_start_on_the_others<B: Backend>() {
    let executor = build::<B>("wcbusy", 3);
    let inner = executor.clone();
    let parent = executor.spawn_cpu(move |_| {
        let meeting = Rendezvous::new(3);
        let subs: Vec<_> = (0..2)
            .map(|_| {
                let meeting = meeting.clone();
                inner.spawn_cpu(move |_| meeting.meet("two sub-jobs and their parent"))
            })
            .collect();
        meeting.meet("a parent and its two sub-jobs");
        subs.into_iter().for_each(|sub| sub.detach());
    });
    assert_eq!(block_on_within("a busy parent", parent), Ok(()));
    shutdown_and_join(&executor);
}
