//! The reactor: a current-thread Tokio runtime on a helper thread that
//! drives timers and I/O for futures polled on the Rayon pool.
//!
//! Pool threads enter its context, so `tokio::time::sleep` or a
//! `tokio::net::TcpStream` inside a job registers here; when it fires, the
//! job's waker reschedules the job on the pool. The reactor runs no jobs.

use executor_api::backend::WorkerContext;
use std::io;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub(crate) struct Reactor {
    handle: Handle,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Reactor {
    /// Starts the reactor thread, named `thread_name`.
    pub(crate) fn start(thread_name: String, context: WorkerContext) -> io::Result<Reactor> {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let thread = thread::Builder::new().name(thread_name).spawn(move || {
            // Tasks that jobs hand to Tokio (`tokio::spawn`, DataFusion's
            // spawned operators) run here: they find the executor's I/O
            // runtime like the jobs do (`executor_api::io`).
            context.enter();
            let runtime = match tokio::runtime::Builder::new_current_thread()
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
            // Drives timers and I/O until stopped; dropped here, on a plain
            // thread.
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

    /// Stops the reactor and waits for its thread. Blocks: call it from the
    /// driver thread (or while building, before any job exists).
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}
