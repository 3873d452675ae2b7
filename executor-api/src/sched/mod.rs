//! Scheduling: the workload class users configure, each class's state and
//! admission, the policy that picks the next class and charges polls, what a
//! poll is charged, the job groups that share a class by the CPU time they
//! used (and that policy), and the run queues backends pop from.

pub(crate) mod class;
pub(crate) mod classes;
pub(crate) mod cpu_time;
pub(crate) mod group;
pub(crate) mod group_queue;
#[cfg(all(test, executor_loom))]
mod loom_models;
pub(crate) mod ordered;
pub(crate) mod policy;
pub(crate) mod queues;
pub(crate) mod time_sharing;
