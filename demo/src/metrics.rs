//! `/metrics`: the service's and the executor's figures in Prometheus text
//! format, with `prometheus-client`.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use crate::cpu::Cpu;

/// How a query ended, as the `outcome` label of `demo_queries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a result.
    Ok,
    /// 400: bad parameters.
    BadRequest,
    /// 413: too many rows.
    TooLarge,
    /// 503: admission full.
    Busy,
    /// 503: cancelled or rejected by a shutdown.
    ShuttingDown,
    /// 500: the job panicked.
    Failed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::BadRequest => "bad_request",
            Outcome::TooLarge => "too_large",
            Outcome::Busy => "busy",
            Outcome::ShuttingDown => "shutting_down",
            Outcome::Failed => "failed",
        }
    }
}

type Labels = Vec<(&'static str, &'static str)>;

/// The service's metrics.
#[derive(Debug)]
pub struct ServiceMetrics {
    registry: Registry,
    queries: Family<Labels, Counter>,
    compactions: Counter,
    total: Histogram,
    queued: Histogram,
    ran: Histogram,
}

impl ServiceMetrics {
    /// Registers every metric; the executor behind `cpu` and `admission`
    /// are read at each scrape.
    pub fn new(cpu: Cpu, admission: Arc<Semaphore>, capacity: usize) -> Self {
        let mut registry = Registry::default();
        let queries = Family::<Labels, Counter>::default();
        registry.register("demo_queries", "Queries by outcome", queries.clone());
        let compactions = Counter::default();
        registry.register(
            "demo_compactions",
            "Background compactions completed",
            compactions.clone(),
        );
        // 100 µs to ~3 min, doubling.
        let histogram = || Histogram::new(exponential_buckets(0.000_1, 2.0, 21));
        let (total, queued, ran) = (histogram(), histogram(), histogram());
        registry.register(
            "demo_query_duration_seconds",
            "Time from admission to the answer of successful queries",
            total.clone(),
        );
        registry.register(
            "demo_query_queue_seconds",
            "Time a successful query's job waited for a worker",
            queued.clone(),
        );
        registry.register(
            "demo_query_run_seconds",
            "Time a successful query's job ran, first chunk to last",
            ran.clone(),
        );
        if let Cpu::Dedicated(pools) = &cpu {
            // The executors' own figures, per class: counters by outcome,
            // worker time, queue-wait and poll-time histograms.
            let collector = pools.executors().into_iter().fold(
                executor_api::prometheus::ExecutorCollector::new(),
                |collector, executor| collector.with(executor),
            );
            registry.register_collector(Box::new(collector));
        }
        registry.register_collector(Box::new(Snapshot {
            admission,
            capacity,
        }));
        ServiceMetrics {
            registry,
            queries,
            compactions,
            total,
            queued,
            ran,
        }
    }

    /// Counts a query's outcome.
    pub fn count(&self, outcome: Outcome) {
        self.queries
            .get_or_create(&vec![("outcome", outcome.label())])
            .inc();
    }

    /// Counts a completed compaction.
    pub fn count_compaction(&self) {
        self.compactions.inc();
    }

    /// Records the timings of a successful query.
    pub fn observe(&self, total: Duration, queued: Duration, ran: Duration) {
        self.total.observe(total.as_secs_f64());
        self.queued.observe(queued.as_secs_f64());
        self.ran.observe(ran.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Read at scrape time: the admission gauge.
#[derive(Debug)]
struct Snapshot {
    admission: Arc<Semaphore>,
    capacity: usize,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let in_flight = self
            .capacity
            .saturating_sub(self.admission.available_permits());
        let gauge = ConstGauge::new(in_flight as i64);
        gauge.encode(encoder.encode_descriptor(
            "demo_queries_in_flight",
            "Queries admitted and not yet answered",
            None,
            gauge.metric_type(),
        )?)?;
        Ok(())
    }
}
