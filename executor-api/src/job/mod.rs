//! A job's life: the handle users hold, cancellation, time slices, streams,
//! the job builder, the scope its spawned tasks share, and the engine's side of a job (its future, the cell it
//! shares with its handle, its tracing span).

pub(crate) mod builder;
pub(crate) mod cancel;
pub(crate) mod cell;
pub(crate) mod future;
pub(crate) mod handle;
pub(crate) mod scope;
pub(crate) mod slice;
pub(crate) mod stream;
pub(crate) mod trace;
