//! [`IoObjectStore`]: an object store whose requests run on the executor's
//! I/O runtime, never on its low-priority CPU threads.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use executor_api::io::{self, IoError};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, Error, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Items an I/O stream (a read's chunks, a listing, a deletion) runs ahead
/// of the job that consumes it: a read holds at most this many of the
/// inner store's chunks (256 KiB each for a local file, read here) besides the one the
/// job has.
pub const IO_STREAM_BUFFER: usize = 16;

/// Wraps an [`ObjectStore`] so that its requests, made from a job on an
/// executor (a DataFusion scan polled by [`execute_stream`](crate::execute_stream)),
/// run on the executor's I/O runtime
/// ([`executor_api::io`]): sockets and file reads are never polled by the
/// executor's low-priority CPU threads, and a job waiting for bytes
/// leaves its worker to other jobs.
///
/// - a `get` streams the requested range from there, at most
///   [`IO_STREAM_BUFFER`] of the inner store's chunks ahead of the job (a
///   local file is read in 256 KiB chunks): never the whole range in memory before the
///   job sees a byte;
/// - `get_ranges` (several small ranges at once, as Parquet's footer and
///   column chunks) reads them there and hands the job the bytes;
/// - a listing or a deletion stream is driven there, at most
///   [`IO_STREAM_BUFFER`] items ahead;
/// - dropping the request (a cancelled job) aborts it there;
/// - called outside a job (planning on the caller's runtime, for example),
///   a request runs where it is called, as the inner store would.
///
/// A multipart upload is started there; its parts run where they are
/// awaited.
///
/// # Errors
///
/// The inner store's, and [`Error::Generic`] holding the [`IoError`] when
/// the executor has no I/O runtime, or it shut down, or the request
/// panicked.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use datafusion::prelude::SessionContext;
/// use executor_datafusion::IoObjectStore;
///
/// let ctx = SessionContext::new();
/// let store = IoObjectStore::new(Arc::new(object_store::memory::InMemory::new()));
/// let url = url::Url::parse("memory://").unwrap();
/// ctx.register_object_store(&url, Arc::new(store));
/// ```
#[derive(Debug, Clone)]
pub struct IoObjectStore {
    inner: Arc<dyn ObjectStore>,
}

impl IoObjectStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        IoObjectStore { inner }
    }
}

impl fmt::Display for IoObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IoObjectStore({})", self.inner)
    }
}

fn io_error(err: IoError) -> Error {
    Error::Generic {
        store: "IoObjectStore",
        source: Box::new(err),
    }
}

/// Runs `request` on the I/O runtime from inside a job, or where it is
/// called outside one.
async fn on_io<T, F>(request: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    match io::runtime() {
        Err(IoError::NotInJob) => request.await,
        _ => io::spawn(request).await.map_err(io_error)?,
    }
}

/// Bytes per blocking read of a local file's range, inside a job.
const FILE_CHUNK: u64 = 256 * 1024;

/// `range` of `file`, read in [`FILE_CHUNK`]-byte blocking reads (on the
/// runtime that polls the stream: the I/O runtime's blocking pool).
fn file_chunks(file: std::fs::File, range: Range<u64>) -> BoxStream<'static, Result<Bytes>> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::Generic {
        store: "IoObjectStore",
        source,
    };
    futures::stream::try_unfold((file, range), move |(mut file, range)| async move {
        if range.start >= range.end {
            return Ok(None);
        }
        let len = (range.end - range.start).min(FILE_CHUNK);
        let start = range.start;
        let (file, bytes) = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek, SeekFrom};
            file.seek(SeekFrom::Start(start))?;
            let mut buffer = vec![0; len as usize];
            file.read_exact(&mut buffer)?;
            Ok::<_, std::io::Error>((file, Bytes::from(buffer)))
        })
        .await
        .map_err(|err| failed(Box::new(err)))?
        .map_err(|err| failed(Box::new(err)))?;
        Ok(Some((bytes, (file, start + len..range.end))))
    })
    .boxed()
}

/// Drives `stream` on the I/O runtime from inside a job, or returns it
/// outside one.
fn stream_on_io<T: Send + 'static>(
    stream: BoxStream<'static, Result<T>>,
) -> BoxStream<'static, Result<T>> {
    match io::runtime() {
        Err(IoError::NotInJob) => stream,
        _ => io::spawn_stream(stream, IO_STREAM_BUFFER)
            .map(|item| item.unwrap_or_else(|err| Err(io_error(err))))
            .boxed(),
    }
}

#[async_trait]
impl ObjectStore for IoObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let (inner, location) = (self.inner.clone(), location.clone());
        on_io(async move { inner.put_opts(&location, payload, opts).await }).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let (inner, location) = (self.inner.clone(), location.clone());
        on_io(async move { inner.put_multipart_opts(&location, opts).await }).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let (inner, location) = (self.inner.clone(), location.clone());
        let head = options.head;
        let result = on_io(async move { inner.get_opts(&location, options).await }).await?;
        // Outside a job the payload is the inner store's, unchanged (a
        // local file's stays a file, for DataFusion's fast paths).
        if head || matches!(io::runtime(), Err(IoError::NotInJob)) {
            return Ok(result);
        }
        // The payload is read on the I/O runtime too, chunk by chunk, as
        // the job consumes it (a local file's would otherwise be read by
        // whoever consumes it, on a CPU thread).
        let (meta, range, attributes) = (
            result.meta.clone(),
            result.range.clone(),
            result.attributes.clone(),
        );
        let chunks = match result.payload {
            // object_store reads a file in 8 KiB blocking reads: fewer,
            // larger ones here.
            GetResultPayload::File(file, _) => file_chunks(file, range.clone()),
            GetResultPayload::Stream(stream) => stream,
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream_on_io(chunks)),
            meta,
            range,
            attributes,
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let (inner, location, ranges) = (self.inner.clone(), location.clone(), ranges.to_vec());
        on_io(async move { inner.get_ranges(&location, &ranges).await }).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        stream_on_io(self.inner.delete_stream(locations))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        stream_on_io(self.inner.list(prefix))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let (inner, prefix) = (self.inner.clone(), prefix.cloned());
        on_io(async move { inner.list_with_delimiter(prefix.as_ref()).await }).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let (inner, from, to) = (self.inner.clone(), from.clone(), to.clone());
        on_io(async move { inner.copy_opts(&from, &to, options).await }).await
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;

    use super::*;

    /// Outside a job, requests run where they are called.
    #[test]
    fn outside_a_job_a_request_runs_in_place() {
        let store = IoObjectStore::new(Arc::new(object_store::memory::InMemory::new()));
        let path = Path::from("a/b.csv");
        futures::executor::block_on(async {
            store
                .put(&path, PutPayload::from_static(b"x\n1\n"))
                .await
                .unwrap();
            let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
            assert_eq!(&bytes[..], b"x\n1\n");
            let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
            assert_eq!(listed.len(), 1);
        });
        assert!(store.to_string().starts_with("IoObjectStore("));
    }
}
