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
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// An in-memory store that records the thread of every read; with a
/// `chunk` size, it serves an object as a stream of chunks of that size,
/// counting the bytes produced and recording the thread of each chunk.
#[derive(Debug, Default)]
struct Recorder {
    inner: InMemory,
    reads: Arc<Mutex<Vec<String>>>,
    chunk: Option<usize>,
    produced: Arc<std::sync::atomic::AtomicUsize>,
}

impl Recorder {
    /// A recorder that serves objects in chunks of `chunk` bytes.
    fn chunked(chunk: usize) -> Recorder {
        Recorder {
            chunk: Some(chunk),
            ..Recorder::default()
        }
    }

    fn record(&self) {
        record_into(&self.reads);
    }
}

/// Records the calling thread's name in `reads`.
fn record_into(reads: &Mutex<Vec<String>>) {
    let thread = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    reads.lock().unwrap().push(thread);
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
        let result = self.inner.get_opts(location, options).await?;
        let Some(size) = self.chunk else {
            return Ok(result);
        };
        let (meta, range, attributes) = (
            result.meta.clone(),
            result.range.clone(),
            result.attributes.clone(),
        );
        let bytes = result.bytes().await?;
        let (produced, reads) = (self.produced.clone(), self.reads.clone());
        let chunks = (0..bytes.len())
            .step_by(size)
            .map(move |start| bytes.slice(start..(start + size).min(bytes.len())));
        let stream = futures::stream::iter(chunks).map(move |chunk| {
            produced.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
            record_into(&reads);
            Ok(chunk)
        });
        Ok(GetResult {
            payload: object_store::GetResultPayload::Stream(Box::pin(stream)),
            meta,
            range,
            attributes,
        })
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

/// The I/O runtime of these tests: one worker, its threads named `io-rt`.
fn io_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("io-rt")
        .enable_all()
        .build()
        .expect("runtime")
}

/// Both backends, built from `io` (so it becomes their I/O runtime).
fn executors_on(
    io: &tokio::runtime::Runtime,
    tokio_name: &str,
    rayon_name: &str,
) -> Vec<AnyExecutor> {
    io.block_on(async {
        vec![
            AnyExecutor::new(
                executor_tokio::DedicatedExecutor::builder()
                    .name(tokio_name)
                    .build()
                    .expect("build"),
            ),
            AnyExecutor::new(
                executor_rayon::RayonExecutor::builder()
                    .name(rayon_name)
                    .build()
                    .expect("build"),
            ),
        ]
    })
}

/// Every read of a CSV scan run through the executor happens on a thread
/// of the I/O runtime, on both backends; none on an executor's worker.
#[test]
fn a_scans_reads_run_on_the_io_runtime() {
    let io = io_runtime();
    let executors = executors_on(&io, "os-tokio", "os-rayon");
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

/// The chunk size of the large read.
const CHUNK: usize = 64 * 1024;

/// A large read from a job streams from the I/O runtime: the bytes read
/// ahead of the job never exceed `IO_STREAM_BUFFER` chunks (plus the one in
/// the job's hands and the one in flight), and every chunk is produced on
/// the I/O runtime; the whole object arrives intact.
#[test]
fn a_large_read_streams_with_bounded_memory() {
    use std::sync::atomic::Ordering::SeqCst;

    let io = io_runtime();
    let executors = executors_on(&io, "big-tokio", "big-rayon");
    const SIZE: usize = 32 << 20;
    let bound = (executor_datafusion::IO_STREAM_BUFFER + 2) * CHUNK;
    for executor in executors {
        let chunked = Arc::new(Recorder::chunked(CHUNK));
        let object: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        io.block_on(chunked.put(&Path::from("big"), PutPayload::from(object)))
            .unwrap();
        let store = IoObjectStore::new(chunked.clone());
        let produced = chunked.produced.clone();
        let job = executor.spawn(async move {
            let mut stream = store.get(&Path::from("big")).await?.into_stream();
            let (mut consumed, mut most_ahead, mut checksum) = (0usize, 0usize, 0u64);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                // Give the producer every chance to run ahead.
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
                // Produced and not yet consumed, this chunk included.
                most_ahead = most_ahead.max(produced.load(SeqCst) - consumed);
                consumed += chunk.len();
                checksum = chunk.iter().fold(checksum, |sum, byte| {
                    sum.wrapping_mul(31) + u64::from(*byte)
                });
            }
            Ok::<_, object_store::Error>((consumed, most_ahead, checksum))
        });
        let (consumed, most_ahead, checksum) = io
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(60), job)
                    .await
                    .expect("the read timed out")
            })
            .expect("job")
            .expect("read");
        let expected = (0..SIZE).fold(0u64, |sum, i| sum.wrapping_mul(31) + (i % 251) as u64);
        assert_eq!(
            (consumed, checksum),
            (SIZE, expected),
            "{}",
            executor.name()
        );
        assert!(
            most_ahead <= bound,
            "{}: {most_ahead} bytes were read ahead of the job (bound {bound})",
            executor.name()
        );
        let threads = chunked.reads.lock().unwrap().clone();
        assert!(
            threads.iter().all(|thread| thread.starts_with("io-rt")),
            "{}: read or chunk produced on {:?}",
            executor.name(),
            threads.iter().find(|thread| !thread.starts_with("io-rt"))
        );
        executor.shutdown();
        futures::executor::block_on(executor.join());
    }
}

/// `session_for` fits the executor: as many target partitions as it has
/// workers, every object store (the local file system's included) wrapped
/// in an `IoObjectStore`, and a CSV file read from jobs answers as
/// DataFusion alone does.
#[test]
fn a_session_for_the_executor_reads_through_the_io_runtime() {
    use executor_datafusion::DataFrameExt;

    let io = io_runtime();
    let dir = std::env::temp_dir().join(format!("session-for-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.csv");
    let csv: String = std::iter::once("k,v\n".to_owned())
        .chain((0..100_000).map(|row| format!("{},{row}\n", row % 7)))
        .collect();
    // About 1 MB: several of IoObjectStore's 256 KiB reads.
    std::fs::write(&file, csv).unwrap();
    let executor = io.block_on(async {
        executor_tokio::DedicatedExecutor::builder()
            .name("sess")
            .worker_threads(3)
            .build()
            .expect("build")
    });
    io.block_on(async {
        let ctx =
            executor_datafusion::session_for(&executor, datafusion::prelude::SessionConfig::new())
                .unwrap();
        assert_eq!(ctx.copied_config().target_partitions(), 3);
        let store = ctx
            .runtime_env()
            .object_store(datafusion::execution::object_store::ObjectStoreUrl::local_filesystem())
            .unwrap();
        assert!(store.to_string().starts_with("IoObjectStore("), "{store}");
        ctx.register_csv("t", file.to_str().unwrap(), CsvReadOptions::new())
            .await
            .unwrap();
        // Every byte counts in the sums: a read that loses or moves one
        // changes the answer.
        let sql = "SELECT k, count(*) AS n, sum(v) AS s FROM t GROUP BY k ORDER BY k";
        let ours = tokio::time::timeout(
            Duration::from_secs(60),
            ctx.sql(sql).await.unwrap().collect_on(&executor),
        )
        .await
        .expect("the query timed out")
        .unwrap();
        let alone = SessionContext::new();
        alone
            .register_csv("t", file.to_str().unwrap(), CsvReadOptions::new())
            .await
            .unwrap();
        let expected = alone.sql(sql).await.unwrap().collect().await.unwrap();
        let text = |batches: &[RecordBatch]| {
            datafusion::arrow::util::pretty::pretty_format_batches(batches)
                .unwrap()
                .to_string()
        };
        assert_eq!(text(&ours), text(&expected));
        assert_eq!(ours.iter().map(RecordBatch::num_rows).sum::<usize>(), 7);
    });
    executor.shutdown();
    futures::executor::block_on(executor.join());
    let _ = std::fs::remove_dir_all(&dir);
}
