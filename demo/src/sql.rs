//! `/sql?q=...`: SQL over generated tables with DataFusion, its plan's
//! partitions run as jobs on the query executor (`executor-datafusion`).
//! Built with the demo's `datafusion` feature.
//!
//! Every client is untrusted, so the endpoint is read-only and bounded:
//!
//! - statements are checked with DataFusion's `SQLOptions` before anything
//!   runs: no DDL (`CREATE EXTERNAL TABLE` would read the server's files),
//!   no DML (`COPY ... TO` would write them, `INSERT` change a table), no
//!   `SET` (shared settings); each is refused with a 400 that says why;
//! - an answer holds at most [`MAX_ROWS`] rows and [`MAX_BODY_BYTES`]
//!   bytes, and says when it was cut (the query's jobs are cancelled
//!   there);
//! - every query runs under one memory pool of [`MEMORY_LIMIT`] bytes
//!   shared by all of them, with spilling to disk turned off: a query that
//!   needs more fails with a 400 that says so, not the process, and never
//!   writes a temporary file;
//! - the batches read for an answer are counted too: reading stops at
//!   [`MAX_BATCH_BYTES`] (what a row cut cannot bound: a few rows of huge
//!   values), and each cell is cut to [`MAX_CELL_CHARS`] characters.
//!
//! DataFusion's memory pool covers operators' state (sorts, joins' build
//! sides, aggregates), not every array a projection computes: a query that
//! computes huge values row by row (a long string repeated over a large
//! `generate_series`, say) can still take memory before the first batch
//! reaches the cut. A service exposed to hostile clients should also run
//! each query under a deadline and a process-wide memory limit (cgroup).

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use executor_api::{Executor, JobError};
use futures::TryStreamExt;

use crate::cpu::Cpu;

/// Rows of the generated `events` table.
pub const EVENTS_ROWS: usize = 4_000_000;

/// The most rows an answer holds; a longer result is cut, and says so.
pub const MAX_ROWS: usize = 1_000;

/// The most bytes an answer's table holds; a wider result is cut at a
/// line, and says so.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The memory every query running at once may hold in all (DataFusion's
/// memory pool: sorts, joins' build sides, aggregates' state).
pub const MEMORY_LIMIT: usize = 64 << 20;

/// The most bytes of batches read for one answer (their arrays' memory).
pub const MAX_BATCH_BYTES: usize = 16 << 20;

/// The most characters of one cell in an answer.
pub const MAX_CELL_CHARS: usize = 256;

/// What `/sql` accepts: queries only.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Why a SQL query got no answer.
#[derive(Debug)]
pub enum SqlError {
    /// The query is malformed or refers to something that does not exist:
    /// DataFusion's message (a 400).
    BadQuery(String),
    /// The statement is not a query (DDL, DML, `SET`): `/sql` is read-only
    /// (a 400).
    NotReadOnly(String),
    /// The query needs more memory than [`MEMORY_LIMIT`] leaves it (a 400).
    TooMuchMemory(String),
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
        // No spilling: a query over the pool fails instead of writing
        // temporary files (up to 100 GB by default) on the server.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(MEMORY_LIMIT, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()?;
        // `information_schema` shows the settings (read-only here).
        let ctx = SessionContext::new_with_config_rt(
            SessionConfig::new()
                .with_target_partitions(partitions)
                .with_information_schema(true),
            runtime,
        );
        ctx.register_table("events", Arc::new(MemTable::try_new(schema, data)?))?;
        Ok(SqlEngine { ctx })
    }

    /// Plans `sql`, refuses it unless it is a query, and runs it: on the
    /// query executor, each partition a job (in the `query` class where
    /// there is one), or on the I/O runtime for the shared backend. Returns
    /// the result as a text table of at most [`MAX_ROWS`] rows and
    /// [`MAX_BODY_BYTES`] bytes. Dropping the future (a client that hangs
    /// up) cancels the query's jobs.
    ///
    /// # Errors
    ///
    /// [`SqlError`]: a bad query is DataFusion's message.
    pub async fn run(&self, cpu: &Cpu, sql: &str) -> Result<String, SqlError> {
        // Parsing, planning and optimising are CPU work too: on a dedicated
        // executor they run as a job, not on the I/O runtime. Nothing runs
        // before the plan is checked: `ctx.sql` would carry out DDL at once.
        let planning = {
            let (ctx, sql) = (self.ctx.clone(), sql.to_owned());
            async move {
                let plan = ctx.state().create_logical_plan(&sql).await?;
                if let Err(err) = read_only().verify_plan(&plan) {
                    return Ok(Err(SqlError::NotReadOnly(format!(
                        "/sql is read-only: only queries run here ({err})"
                    ))));
                }
                let plan = ctx
                    .execute_logical_plan(plan)
                    .await?
                    .create_physical_plan()
                    .await?;
                Ok::<_, DataFusionError>(Ok(plan))
            }
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
        .map_err(query_error)??;
        let names: Vec<String> = plan
            .schema()
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .collect();
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
                datafusion::physical_plan::execute_stream(plan, task).map_err(query_error)?
            }
        };
        let mut stream = stream;
        let mut batches: Vec<RecordBatch> = Vec::new();
        let (mut rows, mut bytes) = (0, 0);
        let mut cut = false;
        while let Some(batch) = stream.try_next().await.map_err(query_error)? {
            // The rows' own bytes: an aggregate's or a limit's batches are
            // slices of larger buffers, which the whole-buffer size would
            // count again and again.
            bytes += batch
                .columns()
                .iter()
                .map(|column| {
                    let data = column.to_data();
                    data.get_slice_memory_size()
                        .unwrap_or_else(|_| column.get_array_memory_size())
                })
                .sum::<usize>();
            if rows + batch.num_rows() > MAX_ROWS || bytes > MAX_BATCH_BYTES {
                let keep = (MAX_ROWS - rows).min(batch.num_rows());
                if bytes <= MAX_BATCH_BYTES {
                    batches.push(batch.slice(0, keep));
                }
                cut = true;
                break;
            }
            rows += batch.num_rows();
            batches.push(batch);
        }
        // Cancels the query's jobs if it was cut short.
        drop(stream);
        let (table, text_cut) = text_table(names, &batches)?;
        Ok(with_note(table, cut || text_cut))
    }
}

/// A query's error as `/sql` answers it: the job's panic, the executor
/// shutting down, the memory limit, or else DataFusion's message.
fn query_error(err: DataFusionError) -> SqlError {
    match executor_datafusion::job_error_of(&err) {
        Some(JobError::Panicked { message }) => SqlError::Failed(message.clone()),
        Some(_) => SqlError::ShuttingDown,
        None => match err.find_root() {
            DataFusionError::ResourcesExhausted(_) => SqlError::TooMuchMemory(format!(
                "the query needs more memory than /sql gives all queries at once ({} MiB): {err}",
                MEMORY_LIMIT >> 20
            )),
            _ => SqlError::BadQuery(err.to_string()),
        },
    }
}

/// `batches` as a text table, a `| a | b |` line per row under a header
/// line, each cell cut to [`MAX_CELL_CHARS`] characters, the whole cut at a
/// line to [`MAX_BODY_BYTES`] bytes; and whether anything was cut.
fn text_table(names: Vec<String>, batches: &[RecordBatch]) -> Result<(String, bool), SqlError> {
    let mut cut = false;
    let mut table = String::new();
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let mut line = String::from("|");
        for cell in cells {
            line.push(' ');
            line.push_str(&cell);
            line.push_str(" |");
        }
        line.push('\n');
        line
    };
    table.push_str(&line(&mut names.into_iter()));
    let options = FormatOptions::default().with_null("NULL");
    'batches: for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| SqlError::BadQuery(err.to_string()))?;
        for row in 0..batch.num_rows() {
            let mut cells = formatters.iter().map(|formatter| {
                let text = formatter.value(row).to_string();
                if text.chars().count() > MAX_CELL_CHARS {
                    cut = true;
                    let mut short: String = text.chars().take(MAX_CELL_CHARS).collect();
                    short.push('…');
                    short
                } else {
                    text
                }
            });
            let row = line(&mut cells);
            if table.len() + row.len() > MAX_BODY_BYTES {
                cut = true;
                break 'batches;
            }
            table.push_str(&row);
        }
    }
    Ok((table, cut))
}

/// `table` with a last line saying so when something was cut.
fn with_note(mut table: String, cut: bool) -> String {
    if cut {
        table.push_str(&format!(
            "(cut: /sql answers at most {MAX_ROWS} rows, {MAX_BATCH_BYTES} bytes of results, {MAX_BODY_BYTES} bytes of text and {MAX_CELL_CHARS} characters per value; add a LIMIT or aggregate)\n"
        ));
    }
    table
}
