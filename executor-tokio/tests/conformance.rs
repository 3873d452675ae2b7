//! The conformance suite and the lifecycle state machine, run against the
//! Tokio backend.

use executor_tokio::DedicatedExecutor;
use testkit::{Backend, BoxTask};

struct Tokio;

impl Backend for Tokio {
    type Executor = DedicatedExecutor;
    const SUBTASKS_ARE_JOBS: bool = false;

    fn spawn_subtask(task: BoxTask) {
        tokio::spawn(task);
    }
    fn spawn_native_work(work: Box<dyn FnOnce() + Send>) {
        tokio::spawn(async move { work() });
    }
}

testkit::conformance_tests!(Tokio);
testkit::state_machine_tests!(Tokio);
