//! Runs [Apache DataFusion](https://datafusion.apache.org) physical plans on
//! a dedicated executor.
//!
//! A DataFusion plan is CPU work: decoding, filtering, aggregating, sorting.
//! Polled on the runtime that serves requests, it starves that runtime.
//! [`execute_stream`] runs each output partition's stream as one job on an
//! [`Executor`] (a [`JobStream`](executor_api::JobStream) producer) and
//! merges the partitions into one
//! [`SendableRecordBatchStream`] to consume from the caller's runtime:
//!
//! - **backpressure**: at most `buffer` batches per partition wait between
//!   the executor and the consumer; a partition's job is not polled for
//!   more until the consumer catches up;
//! - **cancellation**: dropping the returned stream cancels every
//!   partition's job (each is dropped at its next `.await`, its operators
//!   with it), so the CPU work stops;
//! - **panics**: an operator that panics ends its partition with one error
//!   item, a [`DataFusionError::External`] holding the
//!   [`JobError::Panicked`], never a crash; wherever the operator ran,
//!   including in a task DataFusion spawned (below a `RepartitionExec`),
//!   whose panic DataFusion reports as a Tokio `JoinError`;
//! - **shutdown**: the executor's contract holds (a graceful shutdown lets
//!   the partitions finish, an immediate one ends them with a
//!   [`JobError::Cancelled`] item);
//! - **fairness between queries**: every partition of one plan joins one
//!   [`JobGroup`], made for the call (or passed in
//!   with [`execute_stream_in_group`]), so a short query submitted behind
//!   long ones runs first, and long ones share the CPU by query, not by
//!   partition count (see [`JobGroup`]).
//!
//! Object-store reads go to the executor's I/O runtime when the store is
//! wrapped in an [`IoObjectStore`]: the scans' requests are made from the
//! jobs, and run where the service's sockets are polled.
//!
//! Tasks that operators spawn themselves (DataFusion's `SpawnedTask`, for
//! example a `RepartitionExec`'s inputs, where most of a plan's CPU goes)
//! are jobs too: [`TaskAttribution`], which this crate installs as
//! DataFusion's task tracer the first time it runs a plan, submits each
//! task spawned from a plan's job to the same executor, in the plan's
//! group, and hands DataFusion a proxy that awaits it. So on both backends
//! the query's operators run on the pool's threads, at the pool's
//! priority, under its class's weight and cap and its group's place; its
//! tasks count in the executor's metrics as jobs; dropping the stream
//! cancels its tasks with its partitions. A task the executor refuses (a
//! graceful shutdown began after the query started, the class's queue is
//! full, or the task waited longer than the class allows) runs in its
//! proxy on the executor's Tokio runtime instead, so the query still
//! finishes; so do closures DataFusion hands to `spawn_blocking`, on
//! Tokio's blocking threads. DataFusion takes one tracer per process: an
//! application with its own installs [`TaskAttribution::wrapping`] it
//! instead (see there).
//!
//! Code that blocks a pool thread on a spawned task (a `TableProvider` or
//! a UDF calling `futures::executor::block_on` on DataFusion's
//! `SpawnedTask`) can deadlock once every worker blocks, since the task
//! now needs a worker too; DataFusion 55 itself never does (its blocking
//! waits run on `spawn_blocking` threads).
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//!
//! use datafusion::arrow::array::{Int64Array, RecordBatch};
//! use datafusion::arrow::datatypes::{DataType, Field, Schema};
//! use datafusion::datasource::MemTable;
//! use datafusion::prelude::SessionContext;
//! use futures::TryStreamExt;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cpu = executor_tokio::DedicatedExecutor::builder().name("sql").build()?;
//!
//! let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from_iter_values(1..=100))])?;
//! let ctx = SessionContext::new();
//! ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;
//!
//! let plan = ctx.sql("SELECT sum(x) AS total FROM t").await?.create_physical_plan().await?;
//! let stream = executor_datafusion::execute_stream(&cpu, plan, ctx.task_ctx(), 2);
//! let batches: Vec<RecordBatch> = stream.try_collect().await?;
//! let total = batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
//! assert_eq!(total, 5050);
//! # executor_api::Executor::shutdown(&cpu);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod ext;
mod object_store;
mod session;
mod tasks;

pub use crate::ext::{DEFAULT_BUFFER, DataFrameExt, ExecutionPlanExt};
pub use crate::object_store::{IO_STREAM_BUFFER, IoObjectStore};
pub use crate::session::{IoObjectStoreRegistry, session_for};
pub use crate::tasks::{
    AttributionError, TaskAttribution, attribute_spawned_tasks, spawned_tasks_attributed,
};

// What building, running and shutting down an executor takes, so that this
// crate is the one dependency of the common case.
pub use executor_api::{
    AnyExecutor, Executor, JobError, JobGroup, JobScope, Priority, WorkloadClass,
};
#[cfg(feature = "rayon-backend")]
pub use executor_rayon::RayonExecutor;
#[cfg(feature = "tokio-backend")]
pub use executor_tokio::DedicatedExecutor;

use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use futures::{StreamExt, TryStreamExt};
use tokio::task::JoinError;

/// Runs every output partition of `plan` on `executor`, one job per
/// partition, and returns their batches merged into one stream, in the
/// order they are produced (partitions interleave).
///
/// `buffer`: batches per partition that may wait between the executor and
/// the consumer (0 counts as 1).
///
/// # Cancellation
///
/// Dropping the returned stream cancels every partition's job.
///
/// # Errors
///
/// The stream yields the plan's own errors, and ends a partition with one
/// [`DataFusionError::External`] item holding its [`JobError`] when its
/// job panicked, was cancelled, or was rejected by a shutdown.
///
/// # Panics
///
/// Never panics; a panic in an operator is an error item.
pub fn execute_stream<E: Executor>(
    executor: &E,
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    buffer: usize,
) -> SendableRecordBatchStream {
    merge(
        plan.schema(),
        execute_partitioned(executor, plan, context, buffer),
    )
}

/// [`execute_stream`], with every partition's job in `group` (and so in
/// its class): for a query that runs several plans, or a request that
/// runs a query beside other jobs, to share one turn.
///
/// # Errors
///
/// As [`execute_stream`]; a group another executor made ends each
/// partition with a [`JobError::ForeignGroup`] item.
pub fn execute_stream_in_group<E: Executor>(
    executor: &E,
    group: &JobGroup,
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    buffer: usize,
) -> SendableRecordBatchStream {
    let schema = plan.schema();
    merge(
        schema,
        partitions(executor, Place::Group(group.clone()), plan, context, buffer),
    )
}

/// [`execute_stream`], with every partition's job in the executor's
/// [workload class](executor_api::WorkloadClass) named `class` (in one
/// new group of that class).
///
/// # Errors
///
/// As [`execute_stream`]; a class the executor lacks ends each partition
/// with a [`JobError::UnknownClass`] item, a full one with
/// [`JobError::Overloaded`].
pub fn execute_stream_in_class<E: Executor>(
    executor: &E,
    class: &str,
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    buffer: usize,
) -> SendableRecordBatchStream {
    let schema = plan.schema();
    let place = match executor.group_in(class) {
        Ok(group) => Place::Group(group),
        // Each partition then ends with the refusal, as documented.
        Err(_) => Place::Class(class),
    };
    merge(schema, partitions(executor, place, plan, context, buffer))
}

/// Where a plan's partitions go.
enum Place<'a> {
    /// A new group of the default class.
    NewGroup,
    /// This group.
    Group(JobGroup),
    /// A class that the executor lacks: the jobs are refused.
    Class(&'a str),
}

fn merge(
    schema: datafusion::arrow::datatypes::SchemaRef,
    partitions: Vec<SendableRecordBatchStream>,
) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::select_all(partitions),
    ))
}

/// Runs every output partition of `plan` on `executor`, one job per
/// partition, and returns one stream per partition (for a consumer that
/// keeps them apart, as a `RepartitionExec` of its own would).
///
/// Cancellation, errors and panics as for [`execute_stream`], per
/// partition: dropping one stream cancels that partition's job. The
/// partitions share one new [`JobGroup`].
pub fn execute_partitioned<E: Executor>(
    executor: &E,
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    buffer: usize,
) -> Vec<SendableRecordBatchStream> {
    partitions(executor, Place::NewGroup, plan, context, buffer)
}

fn partitions<E: Executor>(
    executor: &E,
    place: Place<'_>,
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    buffer: usize,
) -> Vec<SendableRecordBatchStream> {
    // DataFusion's own tasks, spawned from these jobs, are charged to them.
    tasks::install();
    let schema = plan.schema();
    let name = plan.name().to_owned();
    let (group, class) = match place {
        Place::NewGroup => (Some(executor.group()), None),
        Place::Group(group) => (Some(group), None),
        Place::Class(class) => (None, Some(class)),
    };
    let home = tasks::TaskHome::new(erased(executor), group.clone());
    (0..plan.output_partitioning().partition_count())
        .map(|partition| {
            let (plan, context) = (plan.clone(), context.clone());
            // The partition's stream is created and polled inside the job,
            // so that the operators' work happens on the executor, and
            // with its home current, so that the tasks they spawn become
            // jobs of the same group (see `tasks`).
            let producer = home.clone().around(
                futures::stream::once(async move { plan.execute(partition, context) })
                    .try_flatten(),
            );
            let mut job = executor
                .job()
                .name(format!("datafusion:{name}:{partition}"));
            if let Some(group) = &group {
                job = job.group(group);
            }
            if let Some(class) = class {
                job = job.class(class);
            }
            let items = job.spawn_stream(producer, buffer).map(|item| match item {
                Ok(Ok(batch)) => Ok(batch),
                Ok(Err(err)) => Err(typed_panic(err)),
                Err(err) => Err(job_error(err)),
            });
            Box::pin(RecordBatchStreamAdapter::new(schema.clone(), items))
                as SendableRecordBatchStream
        })
        .collect()
}

/// `executor` with its type erased, once: an [`AnyExecutor`] as it is.
fn erased<E: Executor>(executor: &E) -> AnyExecutor {
    match (executor as &dyn std::any::Any).downcast_ref::<AnyExecutor>() {
        Some(any) => any.clone(),
        None => AnyExecutor::new(executor.clone()),
    }
}

/// A job's failure as DataFusion reports errors: the [`JobError`] stays
/// reachable (`DataFusionError::External`, downcast it).
fn job_error(err: JobError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}

/// `err`, or, if it reports an operator's panic as a Tokio `JoinError` (a
/// task that an operator spawned panicked, for example below a
/// `RepartitionExec`), the [`JobError::Panicked`] that it is: so that
/// [`job_error_of`] finds every operator's panic, wherever it ran.
fn typed_panic(err: DataFusionError) -> DataFusionError {
    match panic_message(&err) {
        Some(message) => job_error(JobError::Panicked { message }),
        None => err,
    }
}

/// The message of the task panic that `err` reports, if it reports one.
fn panic_message(err: &DataFusionError) -> Option<String> {
    match err {
        DataFusionError::ExecutionJoin(join) => join_panic_message(join),
        DataFusionError::Context(_, inner) => panic_message(inner),
        DataFusionError::Shared(inner) => panic_message(inner),
        DataFusionError::Diagnostic(_, inner) => panic_message(inner),
        DataFusionError::Collection(errors) => errors.iter().find_map(panic_message),
        DataFusionError::External(inner) => {
            if let Some(join) = inner.downcast_ref::<JoinError>() {
                join_panic_message(join)
            } else if let Some(join) = inner.downcast_ref::<Arc<JoinError>>() {
                join_panic_message(join)
            } else {
                inner
                    .downcast_ref::<DataFusionError>()
                    .and_then(panic_message)
            }
        }
        _ => None,
    }
}

/// The panic message of a task that panicked, if `join` says it did.
/// Tokio's text for it is `task <id> panicked with message "<message>"`
/// (the payload's string, escaped), or `task <id> panicked` for a payload
/// that is no string; the payload itself is out of reach (DataFusion shares
/// the error between partitions, behind an `Arc`).
fn join_panic_message(join: &JoinError) -> Option<String> {
    if !join.is_panic() {
        return None;
    }
    let text = join.to_string();
    Some(match text.split_once(" panicked with message ") {
        Some((_, quoted)) => unescape(
            quoted
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
                .unwrap_or(quoted),
        ),
        None => executor_api::NON_STRING_PANIC.to_owned(),
    })
}

/// `escaped`, a string as `{:?}` writes it (without its quotes), read back:
/// `\\`, `\"`, `\'`, `\n`, `\r`, `\t`, `\0` and `\u{..}`, in one pass.
fn unescape(escaped: &str) -> String {
    let mut text = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some('t') => text.push('\t'),
            Some('0') => text.push('\0'),
            Some('u') => {
                let code: String = chars
                    .by_ref()
                    .skip_while(|c| *c == '{')
                    .take_while(|c| *c != '}')
                    .collect();
                match u32::from_str_radix(&code, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => text.push(decoded),
                    None => text.push_str(&format!("\\u{{{code}}}")),
                }
            }
            Some(other) => text.push(other),
            None => text.push('\\'),
        }
    }
    text
}

/// The [`JobError`] behind a DataFusion error from [`execute_stream`], if
/// the job failed (panicked, was cancelled, or was rejected).
///
/// # Examples
///
/// ```
/// use datafusion::error::DataFusionError;
/// use executor_api::JobError;
///
/// let err = DataFusionError::External(Box::new(JobError::Cancelled));
/// assert_eq!(executor_datafusion::job_error_of(&err), Some(&JobError::Cancelled));
/// ```
pub fn job_error_of(err: &DataFusionError) -> Option<&JobError> {
    match err {
        DataFusionError::External(inner) => inner.downcast_ref::<JobError>(),
        DataFusionError::Context(_, inner) => job_error_of(inner),
        _ => None,
    }
}

/// The README's example, compiled and run as a doc test so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn a_debug_formatted_message_reads_back() {
        for message in [
            "plain",
            "a \"quote\"",
            "back\\slash n",
            "line\nbreak\ttab",
            "é ✓ \u{7}",
        ] {
            let debug = format!("{message:?}");
            assert_eq!(unescape(&debug[1..debug.len() - 1]), message);
        }
    }
}
