//! Starting a [`DedicatedExecutor`] from the shared [`Builder`](executor_api::Builder).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use executor_api::BuildError;
use executor_api::backend::{Launch, ShutdownDriver, ValidPoolConfig, WorkerContext};

use crate::driver::TokioThreads;
use crate::executor::DedicatedExecutor;
use crate::queue::RunQueue;

/// Configures and builds a [`DedicatedExecutor`]: the builder every backend
/// shares, with this backend's default name `"cpu"`.
pub type Builder = executor_api::Builder<DedicatedExecutor>;

impl Launch for DedicatedExecutor {
    const DEFAULT_NAME: &'static str = "cpu";

    /// Starts a driver thread (`<name>-driver`) that builds and owns a
    /// multi-thread Tokio runtime (timers and I/O enabled) with its worker
    /// threads, one run-queue pump per worker, and the watchdog thread.
    fn launch(config: ValidPoolConfig) -> Result<DedicatedExecutor, BuildError> {
        let (core, driver, context) = ShutdownDriver::new(&config)?;
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let runtime_builder = runtime_builder(&config, context);
        let queue = RunQueue::new(&core, config.workers());
        let pumps = queue.clone();
        driver.spawn(config.helper_name("driver"), move || {
            // The runtime is built, and later dropped, on this thread:
            // never inside an async context.
            match { runtime_builder }.build() {
                Ok(runtime) => {
                    for index in 0..pumps.pump_count() {
                        drop(runtime.spawn(pumps.pump(index)));
                    }
                    let _ = ready_tx.send(Ok(()));
                    Some(TokioThreads::new(runtime, pumps))
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    None
                }
            }
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(DedicatedExecutor::new(core, queue)),
            Ok(Err(err)) => Err(BuildError::Io(err)),
            Err(mpsc::RecvError) => Err(BuildError::Io(std::io::Error::other(
                "the executor's driver thread exited while starting the runtime",
            ))),
        }
    }
}

fn runtime_builder(config: &ValidPoolConfig, context: WorkerContext) -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let names = config.clone();
    let next_thread = AtomicUsize::new(0);
    let priority = config.priority();
    builder
        .worker_threads(config.workers())
        .thread_name_fn(move || names.thread_name(next_thread.fetch_add(1, Ordering::Relaxed)))
        .on_thread_start(move || {
            if let Err(err) = priority.apply_to_current_thread() {
                tracing::warn!(%err, "could not lower the priority of an executor thread");
            }
            context.enter();
        })
        .enable_all();
    // A task that a job spawns or wakes goes to the back of the worker's
    // run queue, where other workers can take it, rather than to its LIFO
    // slot, where it would wait for the pump (see `queue`). Tokio offers
    // the setting only with `tokio_unstable`.
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder
}
