//! An analytics service that shows the `/health` problem and its fix.
//!
//! CPU-heavy queries (`/query?kernel=group_by&rows=1000000`) run on the
//! backend chosen with [`CpuBackend`]: a dedicated Tokio runtime, a
//! dedicated Rayon pool, or, to show the problem, the I/O runtime itself
//! (`shared`). Background compaction ([`ServiceConfig::compaction`]) shares
//! the CPU with the queries as the [`Schedule`] says: by workload class on
//! one executor, with each query a job group of its own besides
//! (time-sharing: short queries are not stuck behind long ones), in one
//! FIFO, or on a second executor at low priority. `/health` answers from the I/O runtime; `/metrics` exports
//! the executor's figures per class and the query latency histograms in
//! Prometheus text format. Admission is bounded (503 with `Retry-After` when full),
//! bad input gets a 400 or 413 with a message, and a shutdown drains
//! in-flight queries within a deadline.
//!
//! ```
//! use demo::{Client, CpuBackend, Service, ServiceConfig};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServiceConfig { backend: CpuBackend::Rayon, workers: 1, ..ServiceConfig::default() };
//! let service = Service::start("127.0.0.1:0".parse()?, config).await?;
//! let client = Client::new(service.local_addr());
//!
//! assert_eq!(client.get("/health").await?.status, 200);
//! let answer = client.get("/query?kernel=checksum&rows=10000").await?;
//! assert_eq!(answer.status, 200);
//! assert!(answer.body.contains(r#""backend":"rayon""#));
//! assert_eq!(client.get("/query?kernel=nope&rows=1").await?.status, 400);
//!
//! let report = service.shutdown().await;
//! assert!(report.drained);
//! # Ok(())
//! # }
//! ```
//!
//! The binary (`cargo xtask demo`) serves it; `cargo xtask demo --load`
//! runs the comparison of [`load`], `--load --mixed` that of [`mixed`]
//! (short queries beside long ones, per schedule); `--console` turns
//! tokio-console on ([`telemetry`]).

#![deny(missing_docs)]

mod client;
mod cpu;
pub mod load;
mod metrics;
pub mod mixed;
mod service;
#[cfg(feature = "datafusion")]
pub mod sql;
pub mod telemetry;

use std::fmt;
use std::net::SocketAddr;

pub use crate::client::{Answer, Client};
pub use crate::cpu::{
    BACKGROUND_CLASS, COMPACTION_ROWS, Cpu, CpuBackend, Pools, QUERY_CLASS, Run, Schedule,
    TABLE_SEED, spawn_named,
};
pub use crate::metrics::{Outcome, ServiceMetrics};
pub use crate::service::{QueryAnswer, RETRY_AFTER_SECS, Service, ServiceConfig, ShutdownReport};
pub use executor_api::Priority;

/// Why the demo could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum DemoError {
    /// The address could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The executor could not be built.
    Executor(executor_api::BuildError),
    /// A runtime or thread could not start.
    Runtime(std::io::Error),
    /// A setting is out of range.
    InvalidConfig(&'static str),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Bind(addr, err) => write!(
                f,
                "cannot listen on {addr}: {err}; pick another address with --addr"
            ),
            DemoError::Executor(err) => write!(f, "cannot build the executor: {err}"),
            DemoError::Runtime(err) => write!(f, "cannot start a runtime or thread: {err}"),
            DemoError::InvalidConfig(what) => write!(f, "invalid configuration: {what}"),
        }
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DemoError::Bind(_, err) | DemoError::Runtime(err) => Some(err),
            DemoError::Executor(err) => Some(err),
            DemoError::InvalidConfig(_) => None,
        }
    }
}

impl From<executor_api::BuildError> for DemoError {
    fn from(err: executor_api::BuildError) -> Self {
        DemoError::Executor(err)
    }
}
