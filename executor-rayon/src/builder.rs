//! Starting a [`RayonExecutor`] from the shared [`Builder`](executor_api::Builder).

use std::io;
use std::sync::Arc;
use std::thread;

use executor_api::BuildError;
use executor_api::backend::{Launch, ShutdownDriver, ValidPoolConfig, WorkerContext};
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::driver::{PoolThreads, RayonThreads};
use crate::executor::{CurrentSlot, RayonExecutor};
use crate::queue::RunQueue;
use crate::reactor::Reactor;

/// Configures and builds a [`RayonExecutor`]: the builder every backend
/// shares, with this backend's default name `"rayon"`.
pub type Builder = executor_api::Builder<RayonExecutor>;

impl Launch for RayonExecutor {
    const DEFAULT_NAME: &'static str = "rayon";

    /// Starts its own Rayon pool (never the global one), a reactor thread
    /// (`<name>-reactor`) for timers and I/O, the driver thread
    /// (`<name>-driver`) for shutdown, and the watchdog thread.
    fn launch(config: ValidPoolConfig) -> Result<RayonExecutor, BuildError> {
        let (core, driver, context) = ShutdownDriver::new(&config)?;
        let reactor = Reactor::start(config.helper_name("reactor"), context.clone())?;
        let current = CurrentSlot::default();
        let queue = RunQueue::new(&core, reactor.handle().clone());
        let threads = PoolThreads::default();
        let pool = match build_pool(&config, &reactor, &current, &queue, &threads, context) {
            Ok(pool) => Arc::new(pool),
            Err(err) => {
                reactor.stop();
                return Err(err);
            }
        };
        queue.calibrate(&pool);
        let executor = RayonExecutor::new(core, queue.clone());
        current.set(&executor);
        // The driver holds the only strong reference to the pool: dropping
        // it is what lets the pool threads exit.
        driver.spawn(config.helper_name("driver"), move || {
            Some(RayonThreads {
                pool,
                threads,
                reactor,
                queue,
            })
        })?;
        Ok(executor)
    }
}

/// Builds the Rayon pool on threads we spawn ourselves, so that the driver
/// can join them: Rayon's own `ThreadPool` drop does not wait for its
/// threads.
fn build_pool(
    config: &ValidPoolConfig,
    reactor: &Reactor,
    current: &CurrentSlot,
    queue: &Arc<RunQueue>,
    threads: &PoolThreads,
    context: WorkerContext,
) -> Result<ThreadPool, BuildError> {
    let names = config.clone();
    let priority = config.priority();
    let reactor = reactor.handle().clone();
    let current = current.clone();
    let queue = queue.clone();
    let threads = threads.clone();
    ThreadPoolBuilder::new()
        .num_threads(config.workers())
        .thread_name(move |index| names.thread_name(index))
        .spawn_handler(move |thread| {
            let mut builder = thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            if let Some(size) = thread.stack_size() {
                builder = builder.stack_size(size);
            }
            let reactor = reactor.clone();
            let current = current.clone();
            let queue = queue.clone();
            let context = context.clone();
            let handle = builder.spawn(move || {
                if let Err(err) = priority.apply_to_current_thread() {
                    tracing::warn!(%err, "could not lower the priority of a pool thread");
                }
                let _reactor = reactor.enter();
                current.enter();
                queue.enter();
                context.enter();
                thread.run();
            })?;
            threads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(handle);
            Ok(())
        })
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
