//! Starting a [`RayonExecutor`] from the shared [`Builder`](executor_api::Builder).

use std::io;
use std::sync::Arc;
use std::thread;

use executor_api::BuildError;
use executor_api::backend::{Launch, ShutdownDriver, ValidPoolConfig, WorkerContext};
use rayon::{ThreadBuilder, ThreadPool, ThreadPoolBuilder};

use crate::driver::{PoolThreads, RayonThreads};
use crate::executor::{CurrentSlot, RayonExecutor};
use crate::queue::RunQueue;
use crate::reactor::Reactor;

/// Configures and builds a [`RayonExecutor`]: the builder every backend
/// shares, with this backend's default name `"rayon"`.
pub type Builder = executor_api::Builder<RayonExecutor>;

impl Launch for RayonExecutor {
    const DEFAULT_NAME: &'static str = "rayon";

    /// Starts its own Rayon pool (never the global one) with one pump per
    /// thread, the gate thread (`<name>-gate`) where idle pumps wait for
    /// jobs, the reactor (`<name>-reactor`, with as many Tokio workers
    /// `<name>-rt-<n>` at the pool's priority) for timers, I/O and the
    /// tasks jobs spawn, the driver thread (`<name>-driver`) for shutdown,
    /// and the watchdog thread.
    fn launch(config: ValidPoolConfig) -> Result<RayonExecutor, BuildError> {
        let (core, driver, context) = ShutdownDriver::new(&config)?;
        let reactor = Reactor::start(&config, context.clone())?;
        let current = CurrentSlot::default();
        let queue = RunQueue::new(&core);
        let threads = PoolThreads::default();
        let pools = build_pool(&config, &reactor, &current, &threads, context).and_then(|pool| {
            let gate = build_gate(&config, &queue, &threads)?;
            Ok((Arc::new(pool), Arc::new(gate)))
        });
        let (pool, gate) = match pools {
            Ok(pools) => pools,
            Err(err) => {
                reactor.stop();
                return Err(err);
            }
        };
        let executor = RayonExecutor::new(core, queue.clone(), reactor.handle().clone());
        current.set(&executor);
        // The driver holds the only strong references to the pools (the
        // pumps hold the gate until they return): dropping them is what
        // lets their threads exit. If its thread cannot start, they are
        // dropped with the closure, before any pump started.
        driver.spawn(config.helper_name("driver"), move || {
            // Every pool thread is idle in Rayon's main loop (no job could
            // reach the pool before): each runs its pump at the top of its
            // stack, for the pool's whole life.
            let pumps = queue.clone();
            let pump_gate = gate.clone();
            pool.spawn_broadcast(move |_| crate::pump::run_pump(&pumps, &pump_gate));
            Some(RayonThreads {
                pool,
                gate,
                threads,
                reactor,
                queue,
            })
        })?;
        Ok(executor)
    }
}

/// The thread-spawning half of a pool's builder: threads we spawn
/// ourselves, so that the driver can join them (Rayon's own `ThreadPool`
/// drop does not wait for its threads), each running `start` first.
fn spawn_joinable(
    threads: &PoolThreads,
    start: impl Fn() + Send + Sync + 'static,
) -> impl FnMut(ThreadBuilder) -> io::Result<()> {
    let threads = threads.clone();
    let start = Arc::new(start);
    move |thread| {
        let mut builder = thread::Builder::new();
        if let Some(name) = thread.name() {
            builder = builder.name(name.to_owned());
        }
        if let Some(size) = thread.stack_size() {
            builder = builder.stack_size(size);
        }
        let start = start.clone();
        let handle = builder.spawn(move || {
            start();
            thread.run();
        })?;
        threads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(handle);
        Ok(())
    }
}

/// Builds the Rayon pool whose threads run the pumps.
fn build_pool(
    config: &ValidPoolConfig,
    reactor: &Reactor,
    current: &CurrentSlot,
    threads: &PoolThreads,
    context: WorkerContext,
) -> Result<ThreadPool, BuildError> {
    let names = config.clone();
    let reactor = reactor.handle().clone();
    let current = current.clone();
    ThreadPoolBuilder::new()
        .num_threads(config.workers())
        .thread_name(move |index| names.thread_name(index))
        .spawn_handler(spawn_joinable(threads, move || {
            // Its priority, the I/O runtime, the watchdog: first thing.
            context.enter();
            // For the thread's whole life: the guard is never dropped.
            std::mem::forget(reactor.enter());
            current.enter();
        }))
        .panic_handler(|payload| {
            // Jobs catch their own panics: what reaches Rayon is a panic of
            // work that a job handed to the pool directly (`rayon::spawn`).
            // Without a handler Rayon would abort, and it runs this one
            // inside its abort guard: the payload's destructor and the
            // subscriber are user code, so both are contained here.
            let _ = std::panic::catch_unwind(|| {
                tracing::error!(
                    "work that a job spawned on the Rayon pool (`rayon::spawn`) panicked; \
                     the panic was contained: catch it in that work to handle it"
                );
            });
            executor_api::backend::drop_panic_payload(payload);
        })
        .build()
        .map_err(|err| BuildError::Io(io::Error::other(err.to_string())))
}

/// Builds the gate: a pool of one thread (`<name>-gate`) where idle pumps
/// wait for jobs (see `pump`).
fn build_gate(
    config: &ValidPoolConfig,
    queue: &Arc<RunQueue>,
    threads: &PoolThreads,
) -> Result<ThreadPool, BuildError> {
    let name = config.helper_name("gate");
    let config = config.clone();
    let queue = queue.clone();
    ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(move |_| name.clone())
        .spawn_handler(spawn_joinable(threads, move || {
            // The pumps' priority; it polls no job, so it is no worker.
            if let Err(err) = config.apply_priority() {
                tracing::warn!(%err, "could not lower the priority of the gate thread");
            }
            queue.set_gate_thread();
        }))
        .build()
        .map_err(|err| BuildError::Io(io::Error::other(err.to_string())))
}
