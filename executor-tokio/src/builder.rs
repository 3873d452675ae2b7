//! Starting a [`DedicatedExecutor`] from the shared [`Builder`](executor_api::Builder).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use executor_api::BuildError;
use executor_api::backend::{Launch, ShutdownDriver, ValidPoolConfig, WorkerContext};
use tokio::runtime::Runtime;

use crate::driver::TokioThreads;
use crate::executor::DedicatedExecutor;
use crate::queue::RunQueue;

/// Configures and builds a [`DedicatedExecutor`]: the builder every backend
/// shares, with this backend's default name `"cpu"`.
pub type Builder = executor_api::Builder<DedicatedExecutor>;

impl Launch for DedicatedExecutor {
    const DEFAULT_NAME: &'static str = "cpu";

    /// Starts a driver thread (`<name>-driver`) that builds and owns a
    /// multi-thread Tokio runtime (timers and I/O enabled, its worker
    /// threads named `<name>-rt-<n>`), one pump thread per worker
    /// (`<name>-<n>`) that polls the jobs, and the watchdog thread.
    fn launch(config: ValidPoolConfig) -> Result<DedicatedExecutor, BuildError> {
        let (core, driver, context) = ShutdownDriver::new(&config)?;
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let runtime_builder = runtime_builder(&config, context.clone());
        let queue = RunQueue::new(&core, config.workers());
        let pumps = queue.clone();
        driver.spawn(config.helper_name("driver"), move || {
            // The runtime is built, and later dropped, on this thread:
            // never inside an async context.
            let started = { runtime_builder }.build().and_then(|runtime| {
                let tasks = runtime.handle().clone();
                start_pumps(&config, &context, &pumps, runtime).map(|threads| (threads, tasks))
            });
            match started {
                Ok((threads, tasks)) => {
                    let _ = ready_tx.send(Ok(tasks));
                    Some(threads)
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    None
                }
            }
        })?;
        match ready_rx.recv() {
            Ok(Ok(tasks)) => Ok(DedicatedExecutor::new(core, queue, tasks)),
            Ok(Err(err)) => Err(BuildError::Io(err)),
            Err(mpsc::RecvError) => Err(BuildError::Io(std::io::Error::other(
                "the executor's driver thread exited while starting the runtime",
            ))),
        }
    }
}

/// Starts one pump thread per worker, each at the configured priority, in
/// the worker context, with `runtime` entered. If one cannot start, those
/// already started are stopped and the runtime dropped.
fn start_pumps(
    config: &ValidPoolConfig,
    context: &WorkerContext,
    queue: &Arc<RunQueue>,
    runtime: Runtime,
) -> std::io::Result<TokioThreads> {
    let mut pumps = Vec::with_capacity(queue.pump_count());
    for index in 0..queue.pump_count() {
        let (pump_queue, context, handle) =
            (queue.clone(), context.clone(), runtime.handle().clone());
        let started = thread::Builder::new()
            .name(config.thread_name(index))
            .spawn(move || {
                context.enter();
                pump_queue.run_pump(index, &handle);
            });
        match started {
            Ok(pump) => pumps.push(pump),
            Err(err) => {
                TokioThreads::new(runtime, queue.clone(), pumps).stop_now();
                return Err(err);
            }
        }
    }
    Ok(TokioThreads::new(runtime, queue.clone(), pumps))
}

fn runtime_builder(config: &ValidPoolConfig, context: WorkerContext) -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let names = config.clone();
    let next_thread = AtomicUsize::new(0);
    builder
        .worker_threads(config.workers())
        .thread_name_fn(move || {
            names.helper_name(&format!(
                "rt-{}",
                next_thread.fetch_add(1, Ordering::Relaxed)
            ))
        })
        .on_thread_start(move || context.enter())
        .enable_all();
    builder
}
