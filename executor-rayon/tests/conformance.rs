//! The conformance suite, run against the Rayon backend.

use executor_api::{BuildError, Executor};
use executor_rayon::RayonExecutor;
use testkit::{Backend, BoxTask, Config};

struct Rayon;

impl Backend for Rayon {
    type Executor = RayonExecutor;

    fn build(config: Config) -> Result<RayonExecutor, BuildError> {
        RayonExecutor::builder()
            .name(config.name)
            .worker_threads(config.workers)
            .nice(config.nice)
            .build()
    }

    fn spawn_subtask(task: BoxTask) {
        RayonExecutor::current()
            .expect("sub-tasks are spawned from inside a job")
            .spawn(task)
            .detach();
    }
}

testkit::conformance_tests!(Rayon);
