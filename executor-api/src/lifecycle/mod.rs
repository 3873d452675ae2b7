//! An executor's life: the core (admission, draining, join), the shutdown
//! driver every backend runs, the worker context its threads enter, the
//! watchdog, and the loom models of their races.

pub(crate) mod core;
pub(crate) mod driver;
#[cfg(all(test, executor_loom))]
mod loom_models;
pub(crate) mod watchdog;
pub(crate) mod worker;
