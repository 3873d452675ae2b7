//! `/sql?q=...`: SQL over generated tables with DataFusion, its plan's
//! partitions run as jobs on the query executor (`executor-datafusion`).
//! Built with the demo's `datafusion` feature.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use executor_api::{Executor, JobError};
use futures::TryStreamExt;

use crate::cpu::Cpu;

/// Rows of the generated `events` table.
pub const EVENTS_ROWS: usize = 4_000_000;

/// Why a SQL query got no answer.
#[derive(Debug)]
pub enum SqlError {
    /// The query is malformed or refers to something that does not exist:
    /// DataFusion's message (a 400).
    BadQuery(String),
    /// The query's job panicked (a 500).
    Failed(String),
    /// The executor is shutting down, or cancelled the query (a 503).
    ShuttingDown,
}

/// A DataFusion session over the generated tables.
pub struct SqlEngine {
    ctx: SessionContext,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("session", &self.ctx.session_id())
            .finish_non_exhaustive()
    }
}

impl SqlEngine {
    /// A session with table `events(user_id, amount, day)`: `rows` rows in
    /// `partitions` partitions of 8 192-row batches, the same every time.
    ///
    /// # Errors
    ///
    /// DataFusion's, if the table cannot be registered.
    pub fn new(rows: usize, partitions: usize) -> Result<Self, DataFusionError> {
        let partitions = partitions.max(1);
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("amount", DataType::Int64, false),
            Field::new("day", DataType::Int64, false),
        ]));
        let per_partition = rows.div_ceil(partitions);
        let data = (0..partitions)
            .map(|partition| {
                let start = (partition * per_partition) as i64;
                let end = ((partition + 1) * per_partition).min(rows) as i64;
                (start..end)
                    .step_by(8_192)
                    .map(|first| {
                        let rows = first..(first + 8_192).min(end);
                        let column = |f: fn(i64) -> i64| {
                            Arc::new(Int64Array::from_iter_values(rows.clone().map(f)))
                        };
                        RecordBatch::try_new(
                            schema.clone(),
                            vec![
                                column(|row| row.wrapping_mul(2_654_435_761) % 10_000),
                                column(|row| row.wrapping_mul(40_503) % 1_000),
                                column(|row| row % 365),
                            ],
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ctx = SessionContext::new_with_config(
            SessionConfig::new().with_target_partitions(partitions),
        );
        ctx.register_table("events", Arc::new(MemTable::try_new(schema, data)?))?;
        Ok(SqlEngine { ctx })
    }

    /// Plans `sql` and runs it: on the query executor, each partition a job
    /// (in the `query` class where there is one), or on the I/O runtime for
    /// the shared backend. Returns the result as a text table. Dropping the
    /// future (a client that hangs up) cancels the query's jobs.
    ///
    /// # Errors
    ///
    /// [`SqlError`]: a bad query is DataFusion's message.
    pub async fn run(&self, cpu: &Cpu, sql: &str) -> Result<String, SqlError> {
        let bad = |err: DataFusionError| SqlError::BadQuery(err.to_string());
        // Parsing, planning and optimising are CPU work too: on a dedicated
        // executor they run as a job, not on the I/O runtime.
        let planning = {
            let (ctx, sql) = (self.ctx.clone(), sql.to_owned());
            async move { ctx.sql(&sql).await?.create_physical_plan().await }
        };
        let plan = match cpu {
            Cpu::Dedicated(pools) => {
                let mut job = pools.queries.job().name("sql:plan");
                if let Some(class) = pools.query_class() {
                    job = job.class(class);
                }
                job.spawn(planning).await.map_err(|err| match err {
                    JobError::Panicked { message } => SqlError::Failed(message),
                    _ => SqlError::ShuttingDown,
                })?
            }
            Cpu::Shared { .. } => planning.await,
        }
        .map_err(bad)?;
        let task = self.ctx.task_ctx();
        let stream = match cpu {
            Cpu::Dedicated(pools) => match pools.query_class() {
                Some(class) => executor_datafusion::execute_stream_in_class(
                    &pools.queries,
                    class,
                    plan,
                    task,
                    2,
                ),
                None => executor_datafusion::execute_stream(&pools.queries, plan, task, 2),
            },
            Cpu::Shared { .. } => {
                datafusion::physical_plan::execute_stream(plan, task).map_err(bad)?
            }
        };
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|err| {
            match executor_datafusion::job_error_of(&err) {
                Some(JobError::Panicked { message }) => SqlError::Failed(message.clone()),
                Some(_) => SqlError::ShuttingDown,
                None => SqlError::BadQuery(err.to_string()),
            }
        })?;
        pretty_format_batches(&batches)
            .map(|table| format!("{table}\n"))
            .map_err(|err| SqlError::BadQuery(err.to_string()))
    }
}
