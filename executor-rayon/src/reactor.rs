//! The reactor: a Tokio runtime, owned by a helper thread, that drives
//! timers and I/O for futures polled on the Rayon pool and runs the tasks
//! that jobs hand to Tokio.
//!
//! Pool threads enter its context, so `tokio::time::sleep` or a
//! `tokio::net::TcpStream` inside a job registers here; when it fires, the
//! job's waker reschedules the job on the pool. The reactor runs no jobs.
//!
//! Its workers (`<name>-rt-<n>`, one per pool thread, at the pool's
//! priority) run what jobs `tokio::spawn`: DataFusion's operators spawn
//! their partitions' work that way, and on one thread (as it was) a query's
//! parallel work ran one task at a time.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use executor_api::backend::{ValidPoolConfig, WorkerContext};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub(crate) struct Reactor {
    handle: Handle,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Reactor {
    /// Starts the reactor thread (`<name>-reactor`), which owns the runtime
    /// and its workers.
    pub(crate) fn start(config: &ValidPoolConfig, context: WorkerContext) -> io::Result<Reactor> {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let names = config.clone();
        let workers = config.workers();
        let thread = thread::Builder::new()
            .name(config.helper_name("reactor"))
            .spawn(move || {
                let next_worker = AtomicUsize::new(0);
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name_fn(move || {
                        names.helper_name(&format!(
                            "rt-{}",
                            next_worker.fetch_add(1, Ordering::Relaxed)
                        ))
                    })
                    // Tasks that jobs hand to Tokio run here: at the pool's
                    // priority, finding the executor's I/O runtime like the
                    // jobs do (`executor_api::io`).
                    .on_thread_start(move || context.enter())
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                // Holds the runtime until stopped; dropped here, on a plain
                // thread (never inside an async context).
                let _ = runtime.block_on(stop_rx);
            })?;
        match ready_rx.recv() {
            Ok(Ok(handle)) => Ok(Reactor {
                handle,
                stop,
                thread,
            }),
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err)
            }
            Err(mpsc::RecvError) => {
                let _ = thread.join();
                Err(io::Error::other("the reactor thread exited while starting"))
            }
        }
    }

    /// The handle that pool threads enter.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the reactor and waits for its thread (dropping the runtime,
    /// which stops its workers and drops the tasks left on it). Blocks:
    /// call it from the driver thread (or while building, before any job
    /// exists).
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
