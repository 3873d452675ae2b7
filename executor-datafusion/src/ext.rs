//! [`DataFrameExt`] and [`ExecutionPlanExt`]: run a DataFrame or a plan on
//! an executor in one call, as DataFusion users write
//! `df.execute_stream()`.

use std::future::Future;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use executor_api::Executor;
use futures::TryStreamExt;

/// Batches per partition that may wait between the executor and the
/// consumer in the one-call methods (see [`execute_stream`](crate::execute_stream)'s
/// `buffer`).
pub const DEFAULT_BUFFER: usize = 2;

/// Runs a [`DataFrame`] on an executor: DataFusion's `execute_stream` and
/// `collect`, with every partition a job on `executor`.
///
/// Planning (turning the DataFrame into a physical plan) runs where the
/// future is polled; the plan's partitions run on the executor, as with
/// [`execute_stream`](crate::execute_stream), whose cancellation, error and
/// panic rules hold.
///
/// # Examples
///
/// ```
/// use executor_datafusion::DataFrameExt;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cpu = executor_datafusion::DedicatedExecutor::builder().name("sql").build()?;
/// let ctx = datafusion::prelude::SessionContext::new();
/// let df = ctx.sql("SELECT 1 + 1 AS two").await?;
/// let batches = df.collect_on(&cpu).await?;
/// assert_eq!(batches[0].num_rows(), 1);
/// # executor_datafusion::Executor::shutdown(&cpu);
/// # Ok(())
/// # }
/// ```
pub trait DataFrameExt {
    /// Plans the DataFrame and returns its batches as one stream, every
    /// partition a job on `executor`. Dropping the stream cancels the
    /// jobs.
    ///
    /// # Errors
    ///
    /// Planning's errors; the stream's items as for
    /// [`execute_stream`](crate::execute_stream).
    fn execute_stream_on<E: Executor>(
        self,
        executor: &E,
    ) -> impl Future<Output = Result<SendableRecordBatchStream>> + Send;

    /// Plans the DataFrame, runs it on `executor` and collects every batch.
    ///
    /// # Errors
    ///
    /// Planning's errors, and the first error item: the plan's own, or a
    /// [`JobError`](executor_api::JobError) that
    /// [`job_error_of`](crate::job_error_of) finds.
    fn collect_on<E: Executor>(
        self,
        executor: &E,
    ) -> impl Future<Output = Result<Vec<RecordBatch>>> + Send;
}

impl DataFrameExt for DataFrame {
    fn execute_stream_on<E: Executor>(
        self,
        executor: &E,
    ) -> impl Future<Output = Result<SendableRecordBatchStream>> + Send {
        let executor = executor.clone();
        async move {
            let context = Arc::new(self.task_ctx());
            let plan = self.create_physical_plan().await?;
            Ok(crate::execute_stream(
                &executor,
                plan,
                context,
                DEFAULT_BUFFER,
            ))
        }
    }

    fn collect_on<E: Executor>(
        self,
        executor: &E,
    ) -> impl Future<Output = Result<Vec<RecordBatch>>> + Send {
        let stream = self.execute_stream_on(executor);
        async move { stream.await?.try_collect().await }
    }
}

/// Runs a physical plan on an executor:
/// [`execute_stream`](crate::execute_stream) as a method, named apart from
/// DataFusion's own `execute_stream` (which polls the plan where it is
/// consumed).
pub trait ExecutionPlanExt {
    /// Every partition of the plan a job on `executor`, merged into one
    /// stream ([`execute_stream`](crate::execute_stream) with
    /// [`DEFAULT_BUFFER`]).
    fn execute_stream_on<E: Executor>(
        self,
        executor: &E,
        context: Arc<TaskContext>,
    ) -> SendableRecordBatchStream;
}

impl ExecutionPlanExt for Arc<dyn ExecutionPlan> {
    fn execute_stream_on<E: Executor>(
        self,
        executor: &E,
        context: Arc<TaskContext>,
    ) -> SendableRecordBatchStream {
        crate::execute_stream(executor, self, context, DEFAULT_BUFFER)
    }
}
