//! The executor's figures in the Prometheus text format, through
//! [`prometheus_client`] (the Prometheus project's Rust client): mount them
//! on your own `/metrics` endpoint. Available with the `prometheus`
//! feature.
//!
//! [`ExecutorCollector`] reads each executor's counters when the registry
//! is encoded (a scrape): nothing is recorded twice, and it keeps no
//! executor alive.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `executor_jobs_submitted_total` | counter | `executor`, `class` |
//! | `executor_jobs_ended_total` | counter | `executor`, `class`, `outcome` (`completed`, `cancelled`, `panicked`, `expired`) |
//! | `executor_jobs_overloaded_total` | counter | `executor`, `class` |
//! | `executor_jobs_queued`, `executor_jobs_running` | gauge | `executor`, `class` |
//! | `executor_class_tasks` | gauge | `executor`, `class`: tasks alive that the class's jobs spawned and [attributed](crate::JobScope) to themselves |
//! | `executor_worker_seconds_total` | counter | `executor`, `class` |
//! | `executor_queue_wait_seconds` | histogram | `executor`, `class` |
//! | `executor_poll_seconds` | histogram | `executor`, `class` |
//! | `executor_class_weight`, `executor_class_cap_cores` | gauge | `executor`, `class` |
//! | `executor_class_groups` | gauge | `executor`, `class`, `level` (`0` to `4`): live [job groups](crate::JobGroup) by level, never one series per group |
//! | `executor_jobs_rejected_total`, `executor_stalled_polls_total` | counter | `executor` |
//!
//! # Examples
//!
//! ```
//! use executor_api::{Executor, WorkloadClass};
//! use prometheus_client::registry::Registry;
//!
//! let executor = executor_tokio::DedicatedExecutor::builder()
//!     .name("cpu")
//!     .class(WorkloadClass::new("query").weight(8))
//!     .build()?;
//! futures::executor::block_on(executor.job().class("query").spawn(async {})).unwrap();
//!
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(
//!     executor_api::prometheus::ExecutorCollector::new().with(&executor),
//! ));
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry)?;
//! assert!(text.contains(
//!     r#"executor_jobs_ended_total{executor="cpu",class="query",outcome="completed"} 1"#
//! ));
//! # executor.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, EncodeMetric, LabelValueEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::backend::ExecutorBackend;
use crate::lifecycle::core::ExecutorCore;
use crate::metrics::histogram::DurationHistogram;
use crate::metrics::{ClassMetrics, Metrics};

/// A [`Collector`] of the figures of one or more executors (see the
/// [module docs](self) for the metrics), to register with
/// [`Registry::register_collector`](prometheus_client::registry::Registry::register_collector).
///
/// It holds each executor's lifecycle state, not the executor: dropping
/// the last clone of an executor still shuts it down, and its figures
/// stay readable.
#[derive(Debug, Clone, Default)]
pub struct ExecutorCollector {
    cores: Vec<ExecutorCore>,
}

impl ExecutorCollector {
    /// A collector of no executor yet.
    pub fn new() -> Self {
        ExecutorCollector::default()
    }

    /// Adds `executor`: its figures are labelled with its name.
    pub fn with<E: ExecutorBackend>(mut self, executor: &E) -> Self {
        self.cores.push(executor.core().clone());
        self
    }
}

/// One class's figures, with the labels they are encoded under.
struct Labelled<'a> {
    executor: &'a str,
    class: ClassMetrics,
}

impl Labelled<'_> {
    fn labels(&self) -> [(&str, Escaped<'_>); 2] {
        [
            ("executor", Escaped(self.executor)),
            ("class", Escaped(&self.class.name)),
        ]
    }
}

/// A label value as the text exposition format requires it: `\`, `"` and
/// a line feed escaped (prometheus-client writes values as they are, and
/// an executor's name may hold any of them).
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// `histogram`'s buckets in seconds, `+Inf` last.
fn buckets(histogram: &DurationHistogram) -> Vec<(f64, u64)> {
    histogram
        .buckets()
        .map(|(bound, count)| {
            let bound = if bound == Duration::MAX {
                f64::MAX
            } else {
                seconds(bound)
            };
            (bound, count)
        })
        .collect()
}

impl Collector for ExecutorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let classes: Vec<Labelled<'_>> = self
            .cores
            .iter()
            .flat_map(|core| {
                core.class_metrics().into_iter().map(|class| Labelled {
                    executor: core.name(),
                    class,
                })
            })
            .collect();
        encode_class_counters(&mut encoder, &classes)?;
        encode_endings(&mut encoder, &classes)?;
        encode_class_gauges(&mut encoder, &classes)?;
        encode_caps(&mut encoder, &classes)?;
        encode_groups(&mut encoder, &classes)?;
        encode_worker_time(&mut encoder, &classes)?;
        encode_histograms(&mut encoder, &classes)?;
        encode_executor_totals(&mut encoder, &self.cores)
    }
}

/// A figure of one class, read from its metrics.
type ClassFigure = fn(&ClassMetrics) -> u64;

/// The counters of each class: submissions accepted and refused.
fn encode_class_counters(
    encoder: &mut DescriptorEncoder<'_>,
    classes: &[Labelled<'_>],
) -> Result<(), std::fmt::Error> {
    let counters: [(&str, &str, ClassFigure); 2] = [
        (
            "executor_jobs_submitted",
            "Jobs accepted into the class",
            |class| class.submitted,
        ),
        (
            "executor_jobs_overloaded",
            "Submissions refused because the class's queue was full",
            |class| class.overloaded,
        ),
    ];
    for (name, help, count) in counters {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for labelled in classes {
            ConstCounter::new(count(&labelled.class))
                .encode(family.encode_family(&labelled.labels())?)?;
        }
    }
    Ok(())
}

/// One counter of ended jobs, labelled by outcome.
fn encode_endings(
    encoder: &mut DescriptorEncoder<'_>,
    classes: &[Labelled<'_>],
) -> Result<(), std::fmt::Error> {
    let mut ended = encoder.encode_descriptor(
        "executor_jobs_ended",
        "Jobs that ended, by outcome",
        None,
        MetricType::Counter,
    )?;
    for labelled in classes {
        let class = &labelled.class;
        for (outcome, count) in [
            ("completed", class.completed),
            ("cancelled", class.cancelled),
            ("panicked", class.panicked),
            ("expired", class.expired),
        ] {
            let [executor, class] = labelled.labels();
            let labels = [executor, class, ("outcome", Escaped(outcome))];
            ConstCounter::new(count).encode(ended.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// The gauges of each class: jobs queued and running, attributed tasks
/// alive, and its weight.
fn encode_class_gauges(
    encoder: &mut DescriptorEncoder<'_>,
    classes: &[Labelled<'_>],
) -> Result<(), std::fmt::Error> {
    let gauges: [(&str, &str, ClassFigure); 4] = [
        (
            "executor_jobs_queued",
            "Accepted jobs that have not started",
            |class| class.queued,
        ),
        (
            "executor_jobs_running",
            "Jobs started and not ended",
            |class| class.running,
        ),
        (
            "executor_class_tasks",
            "Tasks alive that the class's jobs spawned and attributed to themselves",
            |class| class.tasks,
        ),
        ("executor_class_weight", "The class's weight", |class| {
            u64::from(class.weight)
        }),
    ];
    for (name, help, count) in gauges {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for labelled in classes {
            ConstGauge::new(count(&labelled.class) as i64)
                .encode(family.encode_family(&labelled.labels())?)?;
        }
    }
    Ok(())
}

/// The cap of each capped class, in cores.
fn encode_caps(
    encoder: &mut DescriptorEncoder<'_>,
    classes: &[Labelled<'_>],
) -> Result<(), std::fmt::Error> {
    let mut caps = encoder.encode_descriptor(
        "executor_class_cap_cores",
        "The class's cap, in cores (capped classes only)",
        None,
        MetricType::Gauge,
    )?;
    for labelled in classes {
        if let Some(cores) = labelled.class.cap {
            ConstGauge::new(cores).encode(caps.encode_family(&labelled.labels())?)?;
        }
    }
    Ok(())
}

/// The live job groups of each class, by level: one series per level, not
/// per group (a service makes one per query).
fn encode_groups(
    encoder: &mut DescriptorEncoder<'_>,
    classes: &[Labelled<'_>],
) -> Result<(), std::fmt::Error> {
    const LEVELS: [&str; 5] = ["0", "1", "2", "3", "4"];
    let mut groups = encoder.encode_descriptor(
        "executor_class_groups",
        "Live job groups of the class, by level (the CPU time they used)",
        None,
        MetricType::Gauge,
    )?;
    for labelled in classes {
        for (level, &live) in LEVELS.iter().zip(&labelled.class.groups) {
            let [executor, class] = labelled.labels();
            let labels = [executor, class, ("level", Escaped(level))];
            ConstGauge::new(live as i64).encode(groups.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// The worker time each class's polls took.
fn encode_worker_time(
    encoder: &mut DescriptorEncoder<'_>,
    classes: &[Labelled<'_>],
) -> Result<(), std::fmt::Error> {
    let mut worker = encoder.encode_descriptor(
        "executor_worker",
        "Worker time the class's jobs' polls took",
        Some(&Unit::Seconds),
        MetricType::Counter,
    )?;
    for labelled in classes {
        ConstCounter::new(seconds(labelled.class.worker_time))
            .encode(worker.encode_family(&labelled.labels())?)?;
    }
    Ok(())
}

/// The histograms of each class: queue wait and poll length.
fn encode_histograms(
    encoder: &mut DescriptorEncoder<'_>,
    classes: &[Labelled<'_>],
) -> Result<(), std::fmt::Error> {
    type Histogram = fn(&ClassMetrics) -> &DurationHistogram;
    let histograms: [(&str, &str, Histogram); 2] = [
        (
            "executor_queue_wait",
            "From submission to first poll, per started job",
            |class| &class.queue_wait,
        ),
        (
            "executor_poll",
            "The length of each poll of the class's jobs",
            |class| &class.poll_time,
        ),
    ];
    for (name, help, histogram) in histograms {
        let mut family =
            encoder.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        for labelled in classes {
            let histogram = histogram(&labelled.class);
            family
                .encode_family(&labelled.labels())?
                .encode_histogram::<NoLabelSet>(
                    seconds(histogram.sum()),
                    histogram.count(),
                    &buckets(histogram),
                    None,
                )?;
        }
    }
    Ok(())
}

/// The counters of each executor as a whole: rejections and stalled polls.
fn encode_executor_totals(
    encoder: &mut DescriptorEncoder<'_>,
    cores: &[ExecutorCore],
) -> Result<(), std::fmt::Error> {
    type Total = fn(&Metrics) -> u64;
    let totals: [(&str, &str, Total); 2] = [
        (
            "executor_jobs_rejected",
            "Submissions rejected because the executor was shutting down",
            |metrics| metrics.rejected,
        ),
        (
            "executor_stalled_polls",
            "Polls that ran past the watchdog's threshold",
            |metrics| metrics.stalled_polls,
        ),
    ];
    for (name, help, total) in totals {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for core in cores {
            ConstCounter::new(total(&core.metrics()))
                .encode(family.encode_family(&[("executor", Escaped(core.name()))])?)?;
        }
    }
    Ok(())
}
