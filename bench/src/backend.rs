//! Building either of our executors for a benchmark.

use executor_api::AnyExecutor;
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

    /// Builds the backend with `threads` workers at niceness `nice`.
    ///
    /// # Panics
    ///
    /// If the executor cannot be built.
    pub fn build(self, threads: usize, nice: i32) -> AnyExecutor {
        match self {
            Backend::Tokio => AnyExecutor::new(
                DedicatedExecutor::builder()
                    .name("bench-cpu")
                    .worker_threads(threads)
                    .nice(nice)
                    .build()
                    .expect("build DedicatedExecutor"),
            ),
            Backend::Rayon => AnyExecutor::new(
                RayonExecutor::builder()
                    .name("bench-cpu")
                    .worker_threads(threads)
                    .nice(nice)
                    .build()
                    .expect("build RayonExecutor"),
            ),
        }
    }
}
