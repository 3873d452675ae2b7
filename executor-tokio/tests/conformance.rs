//! The conformance suite and the lifecycle state machine, run against the
//! Tokio backend.

use executor_api::BuildError;
use executor_tokio::DedicatedExecutor;
use testkit::{Backend, BoxTask, Config};

struct Tokio;

impl Backend for Tokio {
    type Executor = DedicatedExecutor;
    const SUBTASKS_ARE_JOBS: bool = false;

    fn build(config: Config) -> Result<DedicatedExecutor, BuildError> {
        let mut builder = DedicatedExecutor::builder()
            .name(config.name)
            .worker_threads(config.workers)
            .nice(config.nice);
        if config.idle {
            builder = builder.idle_priority();
        }
        if let Some(handle) = config.io_runtime {
            builder = builder.io_runtime(handle);
        }
        builder = match config.watchdog {
            Some(threshold) => builder.watchdog(threshold),
            None => builder.without_watchdog(),
        };
        builder.build()
    }

    fn spawn_subtask(task: BoxTask) {
        tokio::spawn(task);
    }
}

testkit::conformance_tests!(Tokio);
testkit::state_machine_tests!(Tokio);
