//! DataFusion plans on both backends: results, cancellation by drop, and
//! panics as error items.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Batches that went through the `tick` function (one test uses it).
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Where each batch through `where_am_i` was evaluated: thread name and
/// niceness (one test uses it).
static WHERE: std::sync::Mutex<Vec<(String, Option<i32>)>> = std::sync::Mutex::new(Vec::new());

/// What each batch through `burn` saw: the job scope's executor and class
/// (if it ran in one), its class's running jobs then, and the thread CPU
/// time it burned (one test uses it).
static BURNS: std::sync::Mutex<Vec<Burn>> = std::sync::Mutex::new(Vec::new());

#[derive(Debug)]
struct Burn {
    scope: Option<(String, String)>,
    running: u64,
    cpu: Duration,
}

/// Threads that `hold` ran on, and the channels it signals and waits on
/// (one test uses it): its first call says so and waits for the test.
static HELD_ON: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
#[allow(clippy::type_complexity)]
static HOLD: std::sync::Mutex<
    Option<(
        std::sync::mpsc::Sender<()>,
        std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
    )>,
> = std::sync::Mutex::new(None);

/// The executor the running `burn` test queries, for `burn` to read its
/// class metrics.
static BURNING_ON: std::sync::Mutex<Option<AnyExecutor>> = std::sync::Mutex::new(None);

/// The calling thread's CPU time.
fn thread_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::physical_plan::collect;
use datafusion::prelude::{SessionConfig, SessionContext};
use executor_api::{AnyExecutor, Executor, JobError};
use futures::{StreamExt, TryStreamExt};

/// Both backends, two workers each.
fn executors() -> Vec<AnyExecutor> {
    both_backends("df", 2, &[]).into()
}

/// Both backends, named `<prefix>-tokio` and `<prefix>-rayon`, with
/// `workers` workers and `classes` besides the default one.
fn both_backends(prefix: &str, workers: usize, classes: &[&str]) -> [AnyExecutor; 2] {
    let mut tokio = executor_tokio::DedicatedExecutor::builder()
        .name(format!("{prefix}-tokio"))
        .worker_threads(workers);
    let mut rayon = executor_rayon::RayonExecutor::builder()
        .name(format!("{prefix}-rayon"))
        .worker_threads(workers);
    for &class in classes {
        tokio = tokio.class(executor_api::WorkloadClass::new(class));
        rayon = rayon.class(executor_api::WorkloadClass::new(class));
    }
    [
        AnyExecutor::new(tokio.build().expect("build")),
        AnyExecutor::new(rayon.build().expect("build")),
    ]
}

/// Whether `thread` is one of `executor`'s pool threads (`<name>-<n>`),
/// not one of its helpers (`<name>-rt-<n>`, the driver, ...).
fn is_pool_thread(executor: &AnyExecutor, thread: &str) -> bool {
    thread
        .strip_prefix(executor.name())
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|index| index.parse::<usize>().is_ok())
}

/// A session with table `t(k, v)`: `partitions` partitions of `batches`
/// batches of 1 000 rows each, `k` cycling through 0..10.
fn session(partitions: usize, batches: usize) -> SessionContext {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let data = (0..partitions)
        .map(|partition| {
            (0..batches)
                .map(|batch| {
                    let first = ((partition * batches + batch) * 1_000) as i64;
                    RecordBatch::try_new(
                        schema.clone(),
                        vec![
                            Arc::new(Int64Array::from_iter_values(
                                (first..first + 1_000).map(|i| i % 10),
                            )),
                            Arc::new(Int64Array::from_iter_values(first..first + 1_000)),
                        ],
                    )
                    .expect("batch")
                })
                .collect()
        })
        .collect();
    let config = SessionConfig::new().with_target_partitions(partitions);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, data).expect("table")),
    )
    .expect("register");
    ctx.register_udf(create_udf(
        "tick",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(
            |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
                TICKS.fetch_add(1, Ordering::SeqCst);
                Ok(args[0].clone())
            },
        ),
    ));
    ctx.register_udf(create_udf(
        "where_am_i",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(
            |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
                let thread = std::thread::current().name().unwrap_or("").to_owned();
                let nice = executor_api::backend::current_thread_nice();
                WHERE.lock().unwrap().push((thread, nice));
                Ok(args[0].clone())
            },
        ),
    ));
    ctx.register_udf(create_udf(
        "burn",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(
            |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
                let scope = executor_api::JobScope::current();
                let running = scope.as_ref().map_or(0, |scope| {
                    BURNING_ON.lock().unwrap().as_ref().map_or(0, |executor| {
                        executor
                            .class_metrics()
                            .iter()
                            .find(|class| class.name == scope.class())
                            .map_or(0, |class| class.running)
                    })
                });
                // 2 ms of this thread's CPU: the work the class and group
                // must be charged for.
                let start = thread_cpu();
                while thread_cpu() < start + Duration::from_millis(2) {}
                BURNS.lock().unwrap().push(Burn {
                    scope: scope
                        .map(|scope| (scope.executor().to_owned(), scope.class().to_owned())),
                    running,
                    cpu: thread_cpu() - start,
                });
                Ok(args[0].clone())
            },
        ),
    ));
    ctx.register_udf(create_udf(
        "hold",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(
            |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
                let thread = std::thread::current().name().unwrap_or("").to_owned();
                HELD_ON.lock().unwrap().push(thread);
                // The first call only: say so, and wait for the release.
                if let Some((started, release)) = HOLD.lock().unwrap().take() {
                    started.send(()).unwrap();
                    release
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(60))
                        .expect("the test never released the operator");
                }
                Ok(args[0].clone())
            },
        ),
    ));
    ctx.register_udf(create_udf(
        "boom",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(
            |_: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
                panic!("operator failure")
            },
        ),
    ));
    ctx
}

/// The physical plan of `sql` in `ctx`.
async fn plan(
    ctx: &SessionContext,
    sql: &str,
) -> Arc<dyn datafusion::physical_plan::ExecutionPlan> {
    ctx.sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Bounds a wait: fails loudly instead of hanging.
async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn sorted_rows(batches: &[RecordBatch]) -> Vec<(i64, i64)> {
    let mut rows: Vec<(i64, i64)> = batches
        .iter()
        .flat_map(|batch| {
            let k = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            let v = batch
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            (0..batch.num_rows()).map(move |row| (k.value(row), v.value(row)))
        })
        .collect();
    rows.sort_unstable();
    rows
}

/// A SQL aggregation run through the executor gives DataFusion's own
/// answer, on both backends, with every partition a job, and every task
/// DataFusion spawns one more.
#[test]
fn a_query_gives_datafusions_answer_on_both_backends() {
    let io = runtime();
    for executor in executors() {
        io.block_on(async {
            let ctx = session(4, 8);
            let sql = "SELECT k, sum(v) AS total FROM t GROUP BY k";
            // A plan runs once (its repartitioning keeps state): one for
            // DataFusion's own answer, one for ours.
            let reference = plan(&ctx, sql).await;
            let expected = collect(reference, ctx.task_ctx()).await.unwrap();
            let plan = plan(&ctx, sql).await;
            let stream =
                executor_datafusion::execute_stream(&executor, plan.clone(), ctx.task_ctx(), 2);
            let batches: Vec<RecordBatch> =
                within("the query", stream.try_collect()).await.unwrap();
            assert_eq!(
                sorted_rows(&batches),
                sorted_rows(&expected),
                "{}",
                executor.name()
            );
            assert_eq!(sorted_rows(&batches).len(), 10);
            // Every partition a job, and every task that DataFusion spawned
            // below the repartition (its inputs' and their waiters') one
            // more, of the same query.
            let metrics = executor.metrics();
            let partitions = plan.output_partitioning_count() as u64;
            assert_eq!(
                metrics.completed,
                partitions + 2 * partitions,
                "{}",
                executor.name()
            );
        });
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

/// The one-call methods: a DataFrame collected on the executor, and a
/// plan streamed from it, give DataFusion's own answer, with the
/// partitions run as jobs.
#[test]
fn the_extension_traits_give_datafusions_answer() {
    use executor_datafusion::{DataFrameExt, ExecutionPlanExt};
    let io = runtime();
    for executor in executors() {
        io.block_on(async {
            let ctx = session(4, 8);
            let sql = "SELECT k, sum(v) AS total FROM t GROUP BY k";
            let expected = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            let before = executor.metrics().completed;
            let collected = within(
                "collect_on",
                ctx.sql(sql).await.unwrap().collect_on(&executor),
            )
            .await
            .unwrap();
            assert_eq!(
                sorted_rows(&collected),
                sorted_rows(&expected),
                "{}",
                executor.name()
            );
            let plan = plan(&ctx, sql).await;
            let partitions = plan.output_partitioning_count() as u64;
            let streamed: Vec<RecordBatch> = within(
                "execute_stream_on",
                plan.execute_stream_on(&executor, ctx.task_ctx())
                    .try_collect(),
            )
            .await
            .unwrap();
            assert_eq!(
                sorted_rows(&streamed),
                sorted_rows(&expected),
                "{}",
                executor.name()
            );
            // Both ran their partitions as jobs (one per partition each).
            assert!(
                executor.metrics().completed >= before + 2 * partitions,
                "{}: the partitions did not run as jobs",
                executor.name()
            );
        });
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

trait PartitionCount {
    fn output_partitioning_count(&self) -> usize;
}

impl PartitionCount for Arc<dyn datafusion::physical_plan::ExecutionPlan> {
    fn output_partitioning_count(&self) -> usize {
        use datafusion::physical_plan::ExecutionPlanProperties;
        self.output_partitioning().partition_count()
    }
}

/// Dropping the result stream after its first batch stops every
/// partition's job: each ends (cancelled, or done at once when it sees
/// its consumer gone) long before its data is through, and no batch is
/// processed after that.
#[test]
fn dropping_the_stream_cancels_every_partition() {
    let io = runtime();
    for executor in executors() {
        io.block_on(async {
            // Far more batches than the buffers hold: the partitions are
            // still producing when the consumer lets go.
            let ctx = session(4, 2_000);
            TICKS.store(0, Ordering::SeqCst);
            let plan = ctx
                .sql("SELECT k, tick(v) AS w FROM t WHERE v % 3 <> 1")
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap();
            let partitions = plan.output_partitioning_count() as u64;
            assert!(partitions > 1);
            let mut stream = executor_datafusion::execute_stream(&executor, plan, ctx.task_ctx(), 1);
            let first = within("the first batch", stream.next()).await;
            assert!(matches!(first, Some(Ok(_))), "{}", executor.name());
            drop(stream);
            let dropped = Instant::now();
            within("every partition's job to end", async {
                loop {
                    let metrics = executor.metrics();
                    if metrics.in_flight() == 0 {
                        return metrics;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
            let ended = dropped.elapsed();
            let metrics = executor.metrics();
            assert_eq!(metrics.submitted, partitions, "{}", executor.name());
            assert_eq!(
                metrics.completed + metrics.cancelled,
                partitions,
                "{}: {metrics:?}",
                executor.name()
            );
            let ticks = TICKS.load(Ordering::SeqCst);
            // 4 partitions of 2 000 batches each: a small part went through.
            assert!(ticks < 4 * 2_000 / 2, "{}: {ticks} batches", executor.name());
            // Nothing runs any more: no job is left to process a batch.
            let after = executor.spawn(async {}).await;
            assert_eq!(after, Ok(()));
            assert_eq!(TICKS.load(Ordering::SeqCst), ticks, "{}", executor.name());
            eprintln!(
                "{}: {partitions} partitions ended {ended:?} after the drop, {ticks} batches processed",
                executor.name()
            );
        });
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

/// Queries whose `boom` call (a panicking UDF) runs in each position an
/// operator can be in: in the partition's own stream, above a
/// repartition, below one (in a task DataFusion spawned, whose panic it
/// reports as a Tokio `JoinError`), and in a join.
const PANICKING_QUERIES: [(&str, &str); 4] = [
    ("a projection over the scan", "SELECT boom(v) FROM t"),
    (
        "a projection above a repartition",
        "SELECT boom(s) FROM (SELECT k, sum(v) AS s FROM t GROUP BY k)",
    ),
    (
        "an aggregate below a repartition",
        "SELECT k, sum(boom(v)) FROM t GROUP BY k",
    ),
    (
        "a join's filter",
        "SELECT count(*) FROM t a JOIN t b ON a.k = b.k AND boom(a.v) > b.v",
    ),
];

/// An operator that panics ends the stream with an error item holding the
/// job's panic, typed (`JobError::Panicked` with its message) wherever the
/// operator ran; the executor keeps running.
#[test]
fn an_operator_panic_is_a_typed_error_item_wherever_it_runs() {
    let io = runtime();
    for executor in executors() {
        for (position, query) in PANICKING_QUERIES {
            io.block_on(async {
                let ctx = session(2, 2);
                let plan = plan(&ctx, query).await;
                let stream =
                    executor_datafusion::execute_stream(&executor, plan, ctx.task_ctx(), 2);
                let err = within("the failing query", stream.try_collect::<Vec<_>>())
                    .await
                    .expect_err("the panic was lost");
                match executor_datafusion::job_error_of(&err) {
                    Some(JobError::Panicked { message }) => {
                        assert!(
                            message.contains("operator failure"),
                            "{position}: {message}"
                        )
                    }
                    other => panic!(
                        "{}, panic in {position}: not typed as the job's panic: {other:?} ({err})",
                        executor.name()
                    ),
                }
                // Still serving.
                let value = within("a job after the panic", executor.spawn(async { 7 })).await;
                assert_eq!(value, Ok(7));
            });
        }
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

/// A plan with a repartition: the work below it runs in tasks that
/// DataFusion spawns (`tokio::spawn` inside the job). On both backends they
/// run on the pool's threads (as jobs), at its priority, never on the
/// executor's Tokio workers, the I/O runtime or at normal priority
/// (checked from inside the operator).
#[test]
fn tasks_that_datafusion_spawns_run_on_the_executor_at_its_priority() {
    let io = runtime();
    for executor in executors() {
        WHERE.lock().unwrap().clear();
        io.block_on(async {
            let ctx = session(2, 4);
            let plan = ctx
                .sql("SELECT k, sum(where_am_i(v)) FROM t GROUP BY k")
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap();
            let display = datafusion::physical_plan::displayable(plan.as_ref())
                .indent(false)
                .to_string();
            assert!(
                display.contains("RepartitionExec"),
                "no repartition: {display}"
            );
            let stream = executor_datafusion::execute_stream(&executor, plan, ctx.task_ctx(), 2);
            let batches = within("the query", stream.try_collect::<Vec<_>>())
                .await
                .expect("query");
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);
        });
        let seen = std::mem::take(&mut *WHERE.lock().unwrap());
        assert!(!seen.is_empty(), "where_am_i never ran");
        for (thread, nice) in &seen {
            assert!(
                is_pool_thread(&executor, thread),
                "{}: an operator ran on thread {thread:?}, not one of the pool's",
                executor.name()
            );
            assert_eq!(
                *nice,
                Some(executor_api::backend::DEFAULT_NICE),
                "{}: an operator ran at another priority on {thread:?}",
                executor.name()
            );
        }
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

/// Every partition of one query joins one job group, made for the call:
/// the class counts one live group while the query runs and none once it
/// has ended. A group passed in gets the query's CPU time.
#[test]
fn every_partition_of_a_query_joins_one_group() {
    let io = runtime();
    for executor in executors() {
        io.block_on(async {
            // 64 000 rows per partition: more batches than the stream's
            // buffer holds, so the partitions' jobs (and their group) live
            // until the stream is read.
            let ctx = session(4, 64);
            let sql = "SELECT k, v FROM t WHERE v >= 0";
            let plan = plan(&ctx, sql).await;
            assert!(plan.output_partitioning_count() > 1);
            let stream = executor_datafusion::execute_stream(&executor, plan, ctx.task_ctx(), 2);
            // One live group, at whatever level its CPU time has reached.
            assert_eq!(
                executor.class_metrics()[0].groups.iter().sum::<usize>(),
                1,
                "{}: one group for every partition",
                executor.name()
            );
            let batches: Vec<RecordBatch> =
                within("the query", stream.try_collect()).await.unwrap();
            assert_eq!(sorted_rows(&batches).len(), 256_000);
            within("the query's group to end", async {
                while executor.class_metrics()[0].groups != [0; 5] {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;

            let group = executor.group();
            let plan = self::plan(&ctx, sql).await;
            let stream = executor_datafusion::execute_stream_in_group(
                &executor,
                &group,
                plan,
                ctx.task_ctx(),
                2,
            );
            let batches: Vec<RecordBatch> = within("the query in a group", stream.try_collect())
                .await
                .unwrap();
            assert_eq!(sorted_rows(&batches).len(), 256_000);
            within("the group's jobs to end", async {
                while group.metrics().running + group.metrics().queued > 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
            assert!(
                group.metrics().cpu_time > Duration::ZERO,
                "{}",
                executor.name()
            );
        });
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

/// A plan with a repartition, in a class of its own: the work below the
/// repartition runs in tasks that DataFusion spawns. Each of them runs as
/// a job of the query's class (checked from inside the operator: its scope,
/// and the class's running jobs), and its polls are charged to the class
/// and the query's group: the CPU time the operator burned there shows in
/// both.
#[test]
fn tasks_that_datafusion_spawns_are_charged_to_the_querys_class_and_group() {
    let io = runtime();
    let executors = both_backends("df", 2, &["sql"]);
    for executor in executors {
        BURNS.lock().unwrap().clear();
        *BURNING_ON.lock().unwrap() = Some(executor.clone());
        let group = executor.group_in("sql").expect("the class exists");
        io.block_on(async {
            let ctx = session(2, 4);
            let plan = plan(&ctx, "SELECT k, sum(burn(v)) FROM t GROUP BY k").await;
            let display = datafusion::physical_plan::displayable(plan.as_ref())
                .indent(false)
                .to_string();
            assert!(
                display.contains("RepartitionExec"),
                "no repartition: {display}"
            );
            let stream = executor_datafusion::execute_stream_in_group(
                &executor,
                &group,
                plan,
                ctx.task_ctx(),
                2,
            );
            let batches = within("the query", stream.try_collect::<Vec<_>>())
                .await
                .expect("query");
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);
            within("the query's jobs and tasks to end", async {
                while executor.metrics().in_flight() > 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
        });
        *BURNING_ON.lock().unwrap() = None;
        let burns = std::mem::take(&mut *BURNS.lock().unwrap());
        assert_eq!(burns.len(), 8, "{}: one burn per batch", executor.name());
        let scope = Some((executor.name().to_owned(), "sql".to_owned()));
        for burn in &burns {
            assert_eq!(burn.scope, scope, "{}: {burn:?}", executor.name());
            // The partition's job, and the task's, of the query's class.
            assert!(
                burn.running >= 2,
                "{}: the task was not a job of the class: {burn:?}",
                executor.name()
            );
        }
        let burned: Duration = burns.iter().map(|burn| burn.cpu).sum();
        let classes = executor.class_metrics();
        // Charged by the polls' wall time times the share of it their
        // thread ran (see `WorkloadClass`): at least half of what was
        // burned, however busy the machine; without attribution, only the
        // final aggregation's few rows.
        assert!(
            classes[1].worker_time >= burned / 2,
            "{}: the class was charged {:?} of the {burned:?} its tasks burned",
            executor.name(),
            classes[1].worker_time
        );
        assert!(
            group.metrics().cpu_time >= burned / 2,
            "{}: the group was charged {:?} of the {burned:?} its tasks burned",
            executor.name(),
            group.metrics().cpu_time
        );
        assert!(
            classes[0].worker_time < burned / 2,
            "{}: the default class was charged {:?}",
            executor.name(),
            classes[0].worker_time
        );
        assert!(executor_datafusion::spawned_tasks_attributed());
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

/// A graceful shutdown lets a query admitted before it finish, although
/// the executor then refuses new jobs: the tasks that DataFusion spawns
/// once the query starts, which would be jobs, run in their proxies on the
/// executor's runtime instead, and the answer is DataFusion's.
#[test]
fn a_query_admitted_before_a_graceful_shutdown_finishes() {
    let io = runtime();
    let executors = both_backends("df-drain", 1, &[]);
    for executor in executors {
        io.block_on(async {
            let ctx = session(2, 4);
            let sql = "SELECT k, sum(v) AS total FROM t GROUP BY k";
            let expected = collect(plan(&ctx, sql).await, ctx.task_ctx())
                .await
                .unwrap();
            // The one worker is held until the shutdown has begun, so the
            // query's partitions start (and spawn their tasks) after it.
            let (release, held) = std::sync::mpsc::channel::<()>();
            let (started, holding) = std::sync::mpsc::channel::<()>();
            let blocker = executor.spawn_cpu(move |_| {
                started.send(()).unwrap();
                held.recv_timeout(Duration::from_secs(60))
                    .expect("the test never released the worker");
            });
            holding
                .recv_timeout(Duration::from_secs(60))
                .expect("the blocker never started");
            let stream = executor_datafusion::execute_stream(
                &executor,
                plan(&ctx, sql).await,
                ctx.task_ctx(),
                2,
            );
            executor.shutdown();
            assert!(
                within("a refusal", executor.spawn(async {})).await.is_err(),
                "{}: the shutdown has not begun",
                executor.name()
            );
            release.send(()).unwrap();
            within("the blocker", blocker).await.unwrap();
            let batches: Vec<RecordBatch> =
                within("the query", stream.try_collect()).await.unwrap();
            assert_eq!(
                sorted_rows(&batches),
                sorted_rows(&expected),
                "{}",
                executor.name()
            );
        });
        futures::executor::block_on(executor.join());
    }
}

/// An immediate shutdown while a query's tasks wait in the queue as jobs:
/// they end cancelled, unrun, and do not run in their proxies on the
/// executor's runtime instead (an operator below the repartition never
/// runs off the pool's threads). The one worker is held inside the first
/// task's operator until the shutdown has begun; the other tasks were
/// queued by then.
#[test]
fn tasks_queued_as_jobs_do_not_run_after_an_immediate_shutdown() {
    let io = runtime();
    let executors = both_backends("df-abort", 1, &[]);
    for executor in executors {
        HELD_ON.lock().unwrap().clear();
        let (started, holding) = std::sync::mpsc::channel();
        let (release, held) = std::sync::mpsc::channel();
        *HOLD.lock().unwrap() = Some((started, Arc::new(std::sync::Mutex::new(held))));
        io.block_on(async {
            let ctx = session(4, 4);
            let plan = plan(&ctx, "SELECT k, sum(hold(v)) FROM t GROUP BY k").await;
            let stream = executor_datafusion::execute_stream(&executor, plan, ctx.task_ctx(), 2);
            let query = tokio::spawn(stream.try_collect::<Vec<RecordBatch>>());
            tokio::task::spawn_blocking(move || {
                holding
                    .recv_timeout(Duration::from_secs(60))
                    .expect("the first task never started")
            })
            .await
            .unwrap();
            executor.shutdown_now();
            release.send(()).unwrap();
            let outcome = within("the query", query).await.unwrap();
            assert!(
                outcome.is_err(),
                "{}: the query finished after an immediate shutdown",
                executor.name()
            );
        });
        futures::executor::block_on(executor.join());
        let held_on = std::mem::take(&mut *HELD_ON.lock().unwrap());
        for thread in &held_on {
            assert!(
                is_pool_thread(&executor, thread),
                "{}: a task ran on {thread:?} after the shutdown (ran on {held_on:?})",
                executor.name()
            );
        }
    }
}
