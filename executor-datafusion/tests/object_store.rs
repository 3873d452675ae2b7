//! A scan's object-store reads, made from the jobs, run on the I/O runtime.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::{CsvReadOptions, SessionContext};
use executor_api::{AnyExecutor, Executor};
use executor_datafusion::IoObjectStore;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// An in-memory store that records the thread of every read.
#[derive(Debug, Default)]
struct Recorder {
    inner: InMemory,
    reads: Mutex<Vec<String>>,
}

impl Recorder {
    fn record(&self) {
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        self.reads.lock().unwrap().push(thread);
    }
}

impl fmt::Display for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recorder")
    }
}

#[async_trait]
impl ObjectStore for Recorder {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !options.head {
            self.record();
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.record();
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Every read of a CSV scan run through the executor happens on a thread
/// of the I/O runtime, on both backends; none on an executor's worker.
#[test]
fn a_scans_reads_run_on_the_io_runtime() {
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("io-rt")
        .enable_all()
        .build()
        .expect("runtime");
    let executors = io.block_on(async {
        // Built from the I/O runtime: it becomes their I/O runtime.
        vec![
            AnyExecutor::new(
                executor_tokio::DedicatedExecutor::builder()
                    .name("os-tokio")
                    .build()
                    .expect("build"),
            ),
            AnyExecutor::new(
                executor_rayon::RayonExecutor::builder()
                    .name("os-rayon")
                    .build()
                    .expect("build"),
            ),
        ]
    });
    for executor in executors {
        io.block_on(async {
            let recorder = Arc::new(Recorder::default());
            let csv: String = std::iter::once("k,v\n".to_owned())
                .chain((0..10_000).map(|row| format!("{},{row}\n", row % 7)))
                .collect();
            recorder
                .put(
                    &Path::from("data/t.csv"),
                    PutPayload::from(csv.into_bytes()),
                )
                .await
                .unwrap();
            let ctx = SessionContext::new();
            let url = url::Url::parse("memory://").unwrap();
            ctx.register_object_store(&url, Arc::new(IoObjectStore::new(recorder.clone())));
            ctx.register_csv("t", "memory:///data/t.csv", CsvReadOptions::new())
                .await
                .unwrap();
            // Planning's reads happen here, outside a job: forget them.
            recorder.reads.lock().unwrap().clear();
            let plan = ctx
                .sql("SELECT k, count(*) AS n FROM t GROUP BY k")
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap();
            recorder.reads.lock().unwrap().clear();
            let stream = executor_datafusion::execute_stream(&executor, plan, ctx.task_ctx(), 2);
            let batches: Vec<RecordBatch> =
                tokio::time::timeout(Duration::from_secs(60), stream.try_collect())
                    .await
                    .expect("the query timed out")
                    .unwrap();
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(rows, 7, "{}", executor.name());
            let reads = recorder.reads.lock().unwrap().clone();
            assert!(
                !reads.is_empty(),
                "{}: the scan read nothing",
                executor.name()
            );
            assert!(
                reads.iter().all(|thread| thread.starts_with("io-rt")),
                "{}: reads ran on {reads:?}",
                executor.name()
            );
        });
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}
