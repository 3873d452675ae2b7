//! The HTTP service: `/health`, `/query`, `/metrics`, bounded admission and
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use executor_api::JobError;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, oneshot, watch};
use workload::Kernel;

use crate::cpu::{Cpu, CpuBackend, Schedule, spawn_named};
use crate::metrics::{Outcome, ServiceMetrics};
use executor_api::Priority;

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where queries run.
    pub backend: CpuBackend,
    /// Worker threads of a dedicated executor.
    pub workers: usize,
    /// Priority of a dedicated executor's workers.
    pub priority: Priority,
    /// The largest `rows` a query may ask for; more is answered 413.
    pub max_rows: usize,
    /// Queries admitted at once (queued or running); more are answered 503.
    pub max_in_flight: usize,
    /// How long a graceful shutdown lets in-flight queries finish before it
    /// cancels them.
    pub drain_timeout: Duration,
    /// How long a client may take to send a request's headers (each
    /// request's, on a kept-alive connection too) before the connection is
    /// closed: a client that never finishes them does not hold a
    /// connection forever. A kept-alive connection idle this long is closed
    /// too (the timer starts when the connection waits for a request).
    pub header_read_timeout: Duration,
    /// Connections open at once. At the bound the service stops accepting
    /// until one closes (new clients wait in the kernel's backlog), so
    /// slow or idle clients cannot exhaust its memory or file descriptors.
    pub max_connections: usize,
    /// How queries and compaction share the CPU.
    pub schedule: Schedule,
    /// Background compaction loops, each running one compaction after
    /// another until the service shuts down (0: none).
    pub compaction: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            backend: CpuBackend::Tokio,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            priority: Priority::DEFAULT,
            max_rows: 20_000_000,
            max_in_flight: 64,
            drain_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1_024,
            schedule: Schedule::TimeSharing,
            compaction: 0,
        }
    }
}

/// How long a shutdown past its drain deadline waits for the cancelled
/// queries' answers to be sent.
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// The seconds a client told "busy" should wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

struct AppState {
    backend: CpuBackend,
    cpu: Cpu,
    admission: Arc<Semaphore>,
    max_rows: usize,
    metrics: ServiceMetrics,
    /// The tables `/sql` queries.
    #[cfg(feature = "datafusion")]
    sql: crate::sql::SqlEngine,
}

/// The parameters of `/query`, as sent: parsed by hand so that every
/// mistake gets its own message.
#[derive(Debug, Deserialize)]
struct QueryParams {
    kernel: Option<String>,
    rows: Option<String>,
}

/// The answer to a successful `/query`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct QueryAnswer {
    /// The kernel that ran.
    pub kernel: String,
    /// Rows processed.
    pub rows: usize,
    /// Where it ran: `tokio`, `rayon` or `shared`.
    pub backend: String,
    /// The kernel's digest of the table (deterministic).
    pub checksum: u64,
    /// Milliseconds the job waited for a worker.
    pub queue_ms: f64,
    /// Milliseconds the job ran.
    pub run_ms: f64,
    /// Milliseconds from admission to answer.
    pub total_ms: f64,
}

/// An error answer: a status and a message that says what to do.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    outcome: Outcome,
}

impl ApiError {
    fn bad_request(message: String) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
            outcome: Outcome::BadRequest,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({ "error": self.message }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

fn kernel_names() -> String {
    Kernel::ALL.map(Kernel::name).join(", ")
}

impl AppState {
    /// Bounded admission, shared by `/query` and `/sql`: beyond the limit,
    /// a 503 at once instead of queueing without bound.
    fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("too many queries in flight; retry in {RETRY_AFTER_SECS} s"),
                outcome: Outcome::Busy,
            })
    }

    fn parse(
        &self,
        params: Result<Query<QueryParams>, QueryRejection>,
    ) -> Result<(Kernel, usize), ApiError> {
        let Query(params) = params.map_err(|rejection| {
            ApiError::bad_request(format!(
                "malformed query string ({}); expected /query?kernel=<name>&rows=<n>",
                rejection.body_text()
            ))
        })?;
        let kernel = params.kernel.ok_or_else(|| {
            ApiError::bad_request(format!("missing `kernel`; one of: {}", kernel_names()))
        })?;
        let kernel: Kernel = kernel.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "unknown kernel {kernel:?}; one of: {}",
                kernel_names()
            ))
        })?;
        let rows = params.rows.ok_or_else(|| {
            ApiError::bad_request("missing `rows`: a row count from 1".to_owned())
        })?;
        let rows: usize = rows.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "`rows` must be a whole number from 1, got {rows:?}"
            ))
        })?;
        if rows == 0 {
            return Err(ApiError::bad_request(
                "`rows` must be at least 1".to_owned(),
            ));
        }
        if rows > self.max_rows {
            return Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "{rows} rows is over this service's limit of {}; split the query",
                    self.max_rows
                ),
                outcome: Outcome::TooLarge,
            });
        }
        Ok((kernel, rows))
    }

    async fn query(
        &self,
        params: Result<Query<QueryParams>, QueryRejection>,
    ) -> Result<QueryAnswer, ApiError> {
        let (kernel, rows) = self.parse(params)?;
        // Bounded admission: beyond the limit, say so at once instead of
        // queueing without bound.
        let _permit = self.admit()?;
        let admitted = Instant::now();
        let run = self.cpu.run(kernel, rows).await.map_err(|err| match err {
            JobError::Panicked { .. } => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("the query failed: {err}"),
                outcome: Outcome::Failed,
            },
            // Rejected or cancelled: the service is shutting down.
            _ => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the service is shutting down; retry on another instance".to_owned(),
                outcome: Outcome::ShuttingDown,
            },
        })?;
        let total = admitted.elapsed();
        self.metrics.observe(total, run.queued, run.ran);
        let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
        Ok(QueryAnswer {
            kernel: kernel.name().to_owned(),
            rows,
            backend: self.backend.name().to_owned(),
            checksum: run.checksum,
            queue_ms: ms(run.queued),
            run_ms: ms(run.ran),
            total_ms: ms(total),
        })
    }
}

async fn health() -> &'static str {
    "ok\n"
}

async fn query(
    State(state): State<Arc<AppState>>,
    params: Result<Query<QueryParams>, QueryRejection>,
) -> Response {
    let answer = state.query(params).await;
    match answer {
        Ok(answer) => {
            state.metrics.count(Outcome::Ok);
            axum::Json(answer).into_response()
        }
        Err(err) => {
            state.metrics.count(err.outcome);
            err.into_response()
        }
    }
}

/// The parameters of `/sql`.
#[cfg(feature = "datafusion")]
#[derive(Debug, Deserialize)]
struct SqlParams {
    q: Option<String>,
}

/// `/sql?q=...`: the query's result as a text table, bounded (see
/// `crate::sql`). A malformed query, a statement that is not a query and a
/// query over the memory limit are 400s that say why; admission is
/// `/query`'s; a client that hangs up cancels the query's jobs.
#[cfg(feature = "datafusion")]
async fn sql(
    State(state): State<Arc<AppState>>,
    params: Result<Query<SqlParams>, QueryRejection>,
) -> Response {
    let answer = async {
        let Query(params) = params.map_err(|rejection| {
            ApiError::bad_request(format!(
                "malformed query string ({}); expected /sql?q=<SQL>",
                rejection.body_text()
            ))
        })?;
        let query = params.q.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
            ApiError::bad_request(
                "missing `q`; for example /sql?q=SELECT count(*) FROM events".to_owned(),
            )
        })?;
        let _permit = state.admit()?;
        state
            .sql
            .run(&state.cpu, &query)
            .await
            .map_err(|err| match err {
                crate::sql::SqlError::BadQuery(message) => ApiError::bad_request(message),
                crate::sql::SqlError::NotReadOnly(message)
                | crate::sql::SqlError::TooMuchMemory(message) => ApiError::bad_request(message),
                crate::sql::SqlError::Failed(message) => ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: format!("the query failed: {message}"),
                    outcome: Outcome::Failed,
                },
                crate::sql::SqlError::ShuttingDown => ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "the service is shutting down; retry on another instance".to_owned(),
                    outcome: Outcome::ShuttingDown,
                },
            })
    }
    .await;
    match answer {
        Ok(table) => {
            state.metrics.count(Outcome::Ok);
            table.into_response()
        }
        Err(err) => {
            state.metrics.count(err.outcome);
            err.into_response()
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every in-flight request finished before the deadline, and no
    /// query because the deadline cancelled it.
    pub drained: bool,
    /// Executor jobs cancelled over the service's life (0 for `shared`).
    pub cancelled_jobs: u64,
}

/// A running service.
#[derive(Debug)]
pub struct Service {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<ShutdownReport>,
    compactions: Arc<AtomicU64>,
}

impl Service {
    /// Binds `addr`, builds the CPU side and starts serving on the current
    /// Tokio runtime (the I/O runtime).
    ///
    /// # Errors
    ///
    /// [`DemoError::InvalidConfig`](crate::DemoError::InvalidConfig) for a
    /// zero `max_rows` or `max_in_flight`; binding the address or building
    /// the executor failed.
    pub async fn start(
        addr: SocketAddr,
        config: ServiceConfig,
    ) -> Result<Service, crate::DemoError> {
        if config.max_rows == 0 {
            return Err(crate::DemoError::InvalidConfig(
                "max_rows must be at least 1, or every query is refused",
            ));
        }
        if config.max_in_flight == 0 {
            return Err(crate::DemoError::InvalidConfig(
                "max_in_flight must be at least 1, or every query is refused",
            ));
        }
        if config.max_in_flight > Semaphore::MAX_PERMITS {
            return Err(crate::DemoError::InvalidConfig(
                "max_in_flight is larger than an admission semaphore can count",
            ));
        }
        if config.max_connections == 0 || config.max_connections > Semaphore::MAX_PERMITS {
            return Err(crate::DemoError::InvalidConfig(
                "max_connections must be at least 1 (and countable by a semaphore), \
                 or no client is ever served",
            ));
        }
        if config.header_read_timeout.is_zero() {
            return Err(crate::DemoError::InvalidConfig(
                "header_read_timeout must be more than zero, or every request is cut off",
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| crate::DemoError::Bind(addr, err))?;
        let addr = listener
            .local_addr()
            .map_err(|err| crate::DemoError::Bind(addr, err))?;
        let cpu = Cpu::build(
            config.backend,
            config.workers,
            config.priority,
            config.schedule,
        )?;
        let admission = Arc::new(Semaphore::new(config.max_in_flight));
        let state = Arc::new(AppState {
            backend: config.backend,
            cpu: cpu.clone(),
            admission: admission.clone(),
            max_rows: config.max_rows,
            metrics: ServiceMetrics::new(cpu.clone(), admission, config.max_in_flight),
            #[cfg(feature = "datafusion")]
            sql: crate::sql::SqlEngine::new(crate::sql::EVENTS_ROWS, config.workers.max(2))
                .map_err(|err| crate::DemoError::Runtime(std::io::Error::other(err)))?,
        });
        let app = Router::new()
            .route("/health", get(health))
            .route("/query", get(query))
            .route("/metrics", get(metrics));
        #[cfg(feature = "datafusion")]
        let app = app.route("/sql", get(sql));
        let app = app.with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = ConnectionLimits {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
        };
        let compactions = Arc::new(AtomicU64::new(0));
        let (stop_compaction, compaction_stopped) = watch::channel(false);
        for loop_index in 0..config.compaction as u64 {
            let (cpu, state, compactions, mut stopped) = (
                cpu.clone(),
                state.clone(),
                compactions.clone(),
                compaction_stopped.clone(),
            );
            let compaction = async move {
                for round in (loop_index << 32).. {
                    tokio::select! {
                        biased;
                        _ = stopped.wait_for(|stopped| *stopped) => return,
                        done = cpu.compact(round) => {
                            if done.is_err() {
                                return;
                            }
                            compactions.fetch_add(1, Ordering::Relaxed);
                            state.metrics.count_compaction();
                        }
                    }
                }
            };
            spawn_named(&tokio::runtime::Handle::current(), "compaction", compaction)
                .map_err(crate::DemoError::Runtime)?;
        }
        let serve = serve(
            listener,
            app,
            cpu,
            (stopped, stop_compaction),
            config.drain_timeout,
            limits,
        );
        let done = spawn_named(&tokio::runtime::Handle::current(), "http:serve", serve)
            .map_err(crate::DemoError::Runtime)?;
        Ok(Service {
            addr,
            stop,
            done,
            compactions,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Compactions completed so far (see [`ServiceConfig::compaction`]).
    pub fn compactions(&self) -> u64 {
        self.compactions.load(Ordering::Relaxed)
    }

    /// Graceful shutdown: stop accepting, let in-flight queries finish
    /// within the drain timeout, cancel the rest, stop the executor.
    /// Resolves once everything has stopped.
    pub async fn shutdown(self) -> ShutdownReport {
        let _ = self.stop.send(());
        self.done.await.unwrap_or(ShutdownReport {
            drained: false,
            cancelled_jobs: 0,
        })
    }

    /// Serves until `signal` resolves, then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> ShutdownReport {
        signal.await;
        self.shutdown().await
    }
}

/// What one client may hold.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_read_timeout: Duration,
    max_connections: usize,
}

/// How long the accept loop waits after the OS refuses a connection (out
/// of file descriptors, say) before it tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    cpu: Cpu,
    (mut stop, stop_compaction): (oneshot::Receiver<()>, watch::Sender<bool>),
    drain_timeout: Duration,
    limits: ConnectionLimits,
) -> ShutdownReport {
    // Connections are served by hyper directly (axum's `serve` has no
    // header read timeout): each one holds a permit while it is open.
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // An error is the client's (a timeout, a reset, a bad request):
            // hyper has answered what it could; the connection just ends.
            let _ = connection.await;
            drop(permit);
        });
    }
    // Stop accepting; open connections finish their requests and close.
    // Background compaction stops (its job in flight is cancelled: it is
    // redone after a restart).
    drop(listener);
    stop_compaction.send_replace(true);
    let mut server = Box::pin(graceful.shutdown());
    tracing::info!(?drain_timeout, "shutting down: draining in-flight queries");
    // The executor drains for the same deadline, then cancels what is left:
    // their requests are answered 503 and the server finishes.
    let cancelled_before = cpu.cancelled_queries();
    let executor = cpu.clone();
    let executor_done = tokio::spawn(async move { executor.shut_down(drain_timeout).await });
    // Drained: every request finished within the deadline, and no query
    // because the executor's deadline cancelled its job (the executor's
    // deadline and this timer race: a query cancelled at the deadline can
    // be answered before this timer fires).
    let finished = tokio::time::timeout(drain_timeout, &mut server)
        .await
        .is_ok();
    let drained = finished && cpu.cancelled_queries() == cancelled_before;
    if !drained {
        // At the deadline the executor cancels its jobs; queries on the
        // shared runtime are cancelled here. Their requests are answered
        // 503, and the connections close: give that a moment.
        tracing::warn!("drain deadline passed: cancelling the queries left");
        cpu.cancel_shared();
        if !finished {
            let _ = tokio::time::timeout(ANSWER_GRACE, &mut server).await;
        }
    }
    drop(server);
    let _ = executor_done.await;
    ShutdownReport {
        drained,
        cancelled_jobs: cpu.metrics().map_or(0, |metrics| metrics.cancelled),
    }
}
