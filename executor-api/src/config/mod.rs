//! Configuration: the builder every backend shares, the validated settings
//! a backend launches from, and the workers' priority.

pub(crate) mod builder;
pub(crate) mod priority;
pub(crate) mod settings;
