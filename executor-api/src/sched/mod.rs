//! Scheduling: the workload class users configure, each class's state and
//! admission, the policy that picks the next class and charges polls, what a
//! poll is charged, and the run queues backends pop from.

pub(crate) mod class;
pub(crate) mod classes;
pub(crate) mod cpu_time;
pub(crate) mod ordered;
pub(crate) mod policy;
pub(crate) mod queues;
