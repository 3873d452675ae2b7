//! The conformance suite and the lifecycle state machine, run against the
//! Rayon backend.

use executor_api::Executor;
use executor_rayon::RayonExecutor;
use testkit::{Backend, BoxTask};

struct Rayon;

impl Backend for Rayon {
    type Executor = RayonExecutor;
    const SUBTASKS_ARE_JOBS: bool = true;

    fn spawn_subtask(task: BoxTask) {
        // Outside a job, or once the executor is dropped, there is no
        // executor to spawn on: the task is dropped, as a rejected job is.
        if let Some(executor) = RayonExecutor::current() {
            executor.spawn(task).detach();
        }
    }
    fn spawn_native_work(work: Box<dyn FnOnce() + Send>) {
        rayon::spawn(work);
    }
}

testkit::conformance_tests!(Rayon);
testkit::state_machine_tests!(Rayon);
