//! [`ShutdownDriver`]: the one shutdown sequence every backend runs.
//!
//! # The sequence
//!
//! On a thread of its own (never inside an async context), the driver:
//!
//! 1. waits for a shutdown request, then for every admitted job to end (a
//!    graceful drain), and for the backend's other work
//!    ([`BackendThreads::has_unfinished_work`]); an immediate shutdown or an
//!    expired deadline cuts this short and cancels every job;
//! 2. waits for every counted job to end, whatever the kind of shutdown:
//!    after an abort, running jobs end at their next poll and queued ones
//!    when a worker reaches them; a submission that passed admission but
//!    has not reached the backend yet (its thread was preempted between
//!    the two) still arrives, and ends cancelled at its first poll. No job
//!    can be admitted after this step (the count is zero and closed);
//! 3. stops the backend's threads and waits for them to exit
//!    ([`BackendThreads::stop`]);
//! 4. stops the watchdog and joins its thread;
//! 5. marks the core terminated, on every path, even when a step above
//!    panicked, and wakes the joiners. Whatever thread a joiner polls from,
//!    it never waits for the backend's threads: they were joined here.
//!
//! Step 2 is what a backend's own copy of this sequence once skipped: its
//! driver dropped its runtime and terminated while a preempted submitter
//! still held a counted job, so `join` resolved while a job lived. Written
//! once, the step cannot be skipped by one backend; the loom models
//! (`lifecycle/loom_models.rs`) run this same code.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::config::settings::ValidPoolConfig;
use crate::error::BuildError;
use crate::lifecycle::core::{Drain, ExecutorCore};
use crate::lifecycle::watchdog::Watchdog;
use crate::lifecycle::worker::WorkerContext;

/// How often a graceful shutdown asks the backend again whether its other
/// work has finished (backends have no notification for it).
const UNFINISHED_WORK_POLL: Duration = Duration::from_millis(1);

/// What a backend supplies to the shutdown sequence: its threads, and how
/// to stop them.
pub trait BackendThreads: Send + 'static {
    /// Whether work that is not a job, but that a graceful shutdown waits
    /// for, is still running: the Tokio backend's tasks that jobs spawned
    /// with `tokio::spawn`. Asked once a millisecond after the jobs have
    /// drained, until it answers `false` or the shutdown turns immediate.
    ///
    /// # Default
    ///
    /// `false`: nothing but jobs.
    fn has_unfinished_work(&self) -> bool {
        false
    }

    /// The shutdown turned immediate (or its deadline passed): every job
    /// is being cancelled, and queued jobs may now start whatever their
    /// class's cap (they end cancelled at once). A backend whose workers
    /// sleep while only capped classes have jobs wakes them here. Called
    /// once, on the driver's thread, before it waits for the jobs.
    ///
    /// # Default
    ///
    /// Nothing.
    fn abort(&self) {}

    /// Stops every thread the backend started and waits for each to exit.
    /// Called once, on the driver's thread, after every job has ended.
    ///
    /// It may block for as long as the threads need: work that jobs handed
    /// to the backend directly (a `rayon::spawn`) finishes first, and
    /// nothing waits on this but the driver.
    fn stop(self);
}

/// Runs the shutdown sequence of one executor (see the
/// [`backend`](crate::backend) module docs, and the sequence below).
///
/// # The sequence
///
/// 1. Wait for a shutdown request, then for every admitted job to end
///    and for [`BackendThreads::has_unfinished_work`] to turn `false`; an
///    immediate shutdown or an expired deadline cuts this short and
///    cancels every job.
/// 2. Wait for every counted job to end, whatever the kind of shutdown,
///    including a submission admitted but not yet handed to the backend.
/// 3. [`BackendThreads::stop`]: stop the backend's threads and wait for
///    them.
/// 4. Stop the watchdog and join its thread.
/// 5. Terminate on every path, even after a panic in a step above, and
///    wake the joiners, who never wait for the backend's threads.
///
/// A backend's build creates one with its core ([`ShutdownDriver::new`]),
/// starts its threads, and hands them to [`spawn`](Self::spawn) (or, in a
/// model of a backend, to [`run`](Self::run)). It cannot be cloned: one
/// driver per executor runs the sequence once.
///
/// Dropped without running (the build failed), it stops the watchdog and
/// terminates the core.
pub struct ShutdownDriver {
    core: ExecutorCore,
    watchdog: Option<Watchdog>,
}

impl std::fmt::Debug for ShutdownDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownDriver")
            .field("executor", &self.core.name())
            .field("watchdog", &self.watchdog)
            .finish_non_exhaustive()
    }
}

impl ShutdownDriver {
    /// Creates the core of a new executor with its driver, and the worker
    /// context for its threads to [`enter`](WorkerContext::enter). Starts
    /// the watchdog thread if `config` asks for one.
    ///
    /// # Errors
    ///
    /// [`BuildError::Io`] if the watchdog thread cannot start.
    pub fn new(
        config: &ValidPoolConfig,
    ) -> Result<(ExecutorCore, ShutdownDriver, WorkerContext), BuildError> {
        let core = ExecutorCore::from_config(config);
        let watchdog = match config.watchdog() {
            Some(threshold) => Some(Watchdog::start(
                &core,
                config.helper_name("watch"),
                threshold,
            )?),
            None => None,
        };
        let context = WorkerContext::new(
            config.priority(),
            config.io_runtime().cloned(),
            watchdog.as_ref(),
        );
        let driver = ShutdownDriver {
            core: core.clone(),
            watchdog,
        };
        Ok((core, driver, context))
    }

    /// Starts the driver's thread, `thread_name`. It first calls `start`,
    /// which returns the backend's threads (or `None` if they could not
    /// start: the driver then terminates at once), then runs the sequence.
    /// [`join`](crate::Executor::join) joins this thread last.
    ///
    /// # Errors
    ///
    /// The OS error if the thread cannot start.
    pub fn spawn<T, S>(self, thread_name: String, start: S) -> io::Result<()>
    where
        T: BackendThreads,
        S: FnOnce() -> Option<T> + Send + 'static,
    {
        // Registered before the thread starts, so that a driver that
        // terminates at once (its backend failed to start) still has its
        // thread joined.
        let thread_slot: Arc<Mutex<Option<JoinHandle<()>>>> = Arc::default();
        let joined_slot = thread_slot.clone();
        self.core.register_thread(move || {
            let thread = joined_slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(thread) = thread {
                // A panic on the driver's thread was contained by its
                // guard: the core is terminated all the same.
                let _ = thread.join();
            }
        });
        let thread = thread::Builder::new()
            .name(thread_name)
            .spawn(move || match start() {
                Some(threads) => self.run(threads),
                None => drop(self),
            })?;
        *thread_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        Ok(())
    }

    /// Runs the sequence on the calling thread, which it blocks until the
    /// executor has terminated: for [`spawn`](Self::spawn), and for models
    /// of a backend (the loom models beside the lifecycle code).
    pub fn run<T: BackendThreads>(mut self, threads: T) {
        // Step 5 on every path: `self` is dropped after every local (the
        // watchdog included), on return and on unwinding, and its `Drop`
        // terminates the core.
        let watchdog = self.watchdog.take();
        let core = &self.core;
        let mut drain = core.drain();
        while drain == Drain::Drained && threads.has_unfinished_work() {
            if core.pause(UNFINISHED_WORK_POLL) {
                drain = Drain::Aborted;
            }
        }
        if drain == Drain::Aborted {
            threads.abort();
        }
        core.wait_for_jobs();
        threads.stop();
        drop(watchdog);
    }
}

impl Drop for ShutdownDriver {
    /// The last step, on every path: after `run` (which took the watchdog
    /// and stopped it), or for a driver that never ran, after stopping the
    /// watchdog here.
    fn drop(&mut self) {
        drop(self.watchdog.take());
        self.core.terminate();
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use super::ShutdownDriver;
    use crate::config::settings::PoolConfig;

    fn threads_named(name: &str) -> usize {
        std::fs::read_dir("/proc/self/task")
            .expect("read /proc/self/task")
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| comm.trim_end() == name)
            })
            .count()
    }

    /// A driver dropped without running (its backend failed to start)
    /// stops and joins the watchdog and terminates the core, so that
    /// nothing waits on it and no thread is left.
    #[test]
    fn an_unused_driver_stops_the_watchdog_and_terminates() {
        let mut config = PoolConfig::new("unrun");
        config.watchdog = Some(Duration::from_millis(50));
        let config = config.validate().expect("valid");
        let (core, driver, context) = ShutdownDriver::new(&config).expect("start the watchdog");
        assert!(
            format!("{context:?}").contains("watchdog: true"),
            "{context:?}"
        );
        // A new thread names itself once it runs.
        let started = Instant::now() + Duration::from_secs(60);
        while threads_named("unrun-watch") != 1 {
            assert!(
                Instant::now() < started,
                "the watchdog thread never started"
            );
            std::thread::yield_now();
        }
        let described = format!("{driver:?}");
        assert!(described.contains("unrun"), "{described}");
        assert!(described.contains("threshold: 50ms"), "{described}");
        assert!(!core.is_joined());
        drop(driver);
        assert!(core.is_joined(), "the core was not terminated");
        // The watchdog thread was joined: the kernel lists it for at most a
        // moment after that.
        let grace = Instant::now() + Duration::from_secs(1);
        while threads_named("unrun-watch") != 0 {
            assert!(Instant::now() < grace, "the watchdog thread is left");
            std::thread::yield_now();
        }
    }
}
