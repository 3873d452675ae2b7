//! [`session_for`] and [`IoObjectStoreRegistry`]: a DataFusion session that
//! fits an executor, switched over in one place.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use executor_api::Executor;
use object_store::ObjectStore;
use url::Url;

use crate::IoObjectStore;

/// An object store registry whose every store, registered or found (the
/// local file system's included), is handed out wrapped in an
/// [`IoObjectStore`]: a session that uses it reads through the executor's
/// I/O runtime whatever stores the application registers.
#[derive(Debug)]
pub struct IoObjectStoreRegistry {
    inner: Arc<dyn ObjectStoreRegistry>,
}

impl IoObjectStoreRegistry {
    /// Wraps `inner`'s stores.
    pub fn new(inner: Arc<dyn ObjectStoreRegistry>) -> Self {
        IoObjectStoreRegistry { inner }
    }
}

impl Default for IoObjectStoreRegistry {
    /// DataFusion's default registry (the local file system for `file://`),
    /// wrapped.
    fn default() -> Self {
        IoObjectStoreRegistry::new(Arc::new(DefaultObjectStoreRegistry::new()))
    }
}

impl ObjectStoreRegistry for IoObjectStoreRegistry {
    /// Registers `store` as it is (it is wrapped when handed out).
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    /// The inner registry's store for `url`, wrapped in an
    /// [`IoObjectStore`].
    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let store = self.inner.get_store(url)?;
        Ok(Arc::new(IoObjectStore::new(store)))
    }
}

/// A [`SessionContext`] that fits `executor`: `config` with as many target
/// partitions as the executor has worker threads (a query's partitions
/// run as that many jobs at once), and a runtime whose object stores all
/// read through the executor's I/O runtime ([`IoObjectStoreRegistry`]).
/// Run its DataFrames with [`DataFrameExt`](crate::DataFrameExt).
///
/// The executor must have an I/O runtime for the stores' reads from jobs
/// (see [`IoObjectStore`]).
///
/// It also installs [`TaskAttribution`](crate::TaskAttribution), if no
/// DataFusion task tracer is set yet, so that the tasks the session's
/// queries spawn are charged to their jobs.
///
/// # Errors
///
/// DataFusion's, if the runtime cannot be built.
///
/// # Examples
///
/// ```
/// use datafusion::prelude::SessionConfig;
/// use executor_datafusion::{DataFrameExt, Executor};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cpu = executor_datafusion::DedicatedExecutor::builder().worker_threads(2).build()?;
/// let ctx = executor_datafusion::session_for(&cpu, SessionConfig::new())?;
/// assert_eq!(ctx.copied_config().target_partitions(), 2);
/// let batches = ctx.sql("SELECT 1 AS one").await?.collect_on(&cpu).await?;
/// assert_eq!(batches[0].num_rows(), 1);
/// cpu.shutdown();
/// # Ok(())
/// # }
/// ```
pub fn session_for<E: Executor>(executor: &E, config: SessionConfig) -> Result<SessionContext> {
    crate::tasks::install();
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(IoObjectStoreRegistry::default()))
        .build_arc()?;
    Ok(SessionContext::new_with_config_rt(
        config.with_target_partitions(executor.worker_threads().max(1)),
        runtime,
    ))
}
