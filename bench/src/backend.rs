//! Building either of our executors for a benchmark.

pub use executor_api::Priority;
use executor_api::backend::Launch;
use executor_api::{AnyExecutor, Builder};
use executor_rayon::RayonExecutor;
use executor_tokio::DedicatedExecutor;

/// One of our backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `executor-tokio`.
    Tokio,
    /// `executor-rayon`.
    Rayon,
}

impl Backend {
    /// Both backends.
    pub const ALL: [Backend; 2] = [Backend::Tokio, Backend::Rayon];

    /// The report name: `executor_tokio` or `executor_rayon`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Tokio => "executor_tokio",
            Backend::Rayon => "executor_rayon",
        }
    }

    /// Builds the backend with `threads` workers at `priority`.
    ///
    /// # Panics
    ///
    /// If the executor cannot be built.
    pub fn build(self, threads: usize, priority: Priority) -> AnyExecutor {
        fn configured<E: Launch>(
            builder: Builder<E>,
            threads: usize,
            priority: Priority,
        ) -> AnyExecutor {
            let executor = builder
                .name("bench-cpu")
                .worker_threads(threads)
                .priority(priority)
                .build()
                .expect("build the executor");
            AnyExecutor::new(executor)
        }
        match self {
            Backend::Tokio => configured(DedicatedExecutor::builder(), threads, priority),
            Backend::Rayon => configured(RayonExecutor::builder(), threads, priority),
        }
    }
}
