//! Building either of our executors for a benchmark.

use executor_api::AnyExecutor;
use executor_rayon::RayonExecutor;
use executor_tokio::DedicatedExecutor;

/// The OS priority of a backend's workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A niceness: 0 normal, 19 lowest.
    Nice(i32),
    /// Linux's `SCHED_IDLE` policy.
    Idle,
}

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
        let (nice, idle) = match priority {
            Priority::Nice(nice) => (nice, false),
            Priority::Idle => (0, true),
        };
        // The two builders share their setters but not a type.
        macro_rules! configured {
            ($builder:expr) => {{
                let builder = $builder
                    .name("bench-cpu")
                    .worker_threads(threads)
                    .nice(nice);
                let builder = if idle {
                    builder.idle_priority()
                } else {
                    builder
                };
                AnyExecutor::new(builder.build().expect("build the executor"))
            }};
        }
        match self {
            Backend::Tokio => configured!(DedicatedExecutor::builder()),
            Backend::Rayon => configured!(RayonExecutor::builder()),
        }
    }
}
