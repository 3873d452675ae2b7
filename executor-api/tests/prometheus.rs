//! The Prometheus exposition of an executor's figures.
#![cfg(feature = "prometheus")]

use executor_api::backend::ExecutorBackend;
use executor_api::prometheus::ExecutorCollector;
use executor_api::{Executor, WorkloadClass};
use executor_tokio::DedicatedExecutor;
use prometheus_client::registry::Registry;

fn scrape(collector: ExecutorCollector) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    text
}

/// Every class of every executor is exposed with its labels; a histogram
/// ends with `+Inf`; a cap only where there is one; and the collector
/// keeps no executor alive.
#[test]
fn every_class_of_every_executor_is_exposed() {
    let cpu = DedicatedExecutor::builder()
        .name("cpu")
        .worker_threads(1)
        .class(WorkloadClass::new("query").weight(8))
        .class(WorkloadClass::new("compaction").cap(0.5))
        .build()
        .expect("build");
    let io = DedicatedExecutor::builder()
        .name("other")
        .worker_threads(1)
        .build()
        .expect("build");
    futures::executor::block_on(cpu.job().class("query").spawn(async {})).unwrap();
    futures::executor::block_on(
        cpu.job()
            .class("compaction")
            .spawn_cpu(|_| -> () { panic!("counted") }),
    )
    .unwrap_err();
    let query = cpu.group_in("query").expect("the class exists");
    let collector = ExecutorCollector::new().with(&cpu).with(&io);
    let text = scrape(collector.clone());
    for line in [
        r#"executor_jobs_submitted_total{executor="cpu",class="query"} 1"#,
        r#"executor_jobs_ended_total{executor="cpu",class="query",outcome="completed"} 1"#,
        r#"executor_jobs_ended_total{executor="cpu",class="compaction",outcome="panicked"} 1"#,
        r#"executor_jobs_ended_total{executor="other",class="default",outcome="completed"} 0"#,
        r#"executor_class_weight{executor="cpu",class="query"} 8"#,
        r#"executor_class_cap_cores{executor="cpu",class="compaction"} 0.5"#,
        r#"executor_queue_wait_seconds_count{executor="cpu",class="query"} 1"#,
        r#"executor_queue_wait_seconds_bucket{le="+Inf",executor="cpu",class="query"} 1"#,
        r#"executor_jobs_rejected_total{executor="other"} 0"#,
        r#"executor_class_groups{executor="cpu",class="query",level="0"} 1"#,
        r#"executor_class_groups{executor="cpu",class="query",level="4"} 0"#,
        r#"executor_class_groups{executor="cpu",class="default",level="0"} 0"#,
        "# TYPE executor_poll_seconds histogram",
        "# TYPE executor_worker_seconds counter",
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains(r#"executor_class_cap_cores{executor="cpu",class="query"}"#),
        "an uncapped class has no cap: {text}"
    );
    drop(query);
    let (cpu_core, io_core) = (cpu.core().clone(), io.core().clone());
    drop(cpu);
    drop(io);
    // The last clones are gone: the executors shut down (a collector that
    // held them would keep them running, and these joins would hang), and
    // their final figures are still there.
    futures::executor::block_on(cpu_core.join());
    futures::executor::block_on(io_core.join());
    let text = scrape(collector);
    assert!(text.contains(r#"executor_jobs_submitted_total{executor="cpu",class="query"} 1"#));
}

/// Names holding a quote or a backslash are escaped as the
/// text format requires, so that a scrape parses: unescaped, the quote
/// would end the label value early and the scrape would fail.
#[test]
fn label_values_are_escaped() {
    let cpu = DedicatedExecutor::builder()
        .name("cpu\"1\\x")
        .worker_threads(1)
        .class(WorkloadClass::new("q\"\\"))
        .build()
        .expect("build");
    futures::executor::block_on(cpu.job().class("q\"\\").spawn(async {})).unwrap();
    let text = scrape(ExecutorCollector::new().with(&cpu));
    for line in [
        r#"executor_jobs_submitted_total{executor="cpu\"1\\x",class="q\"\\"} 1"#,
        r#"executor_jobs_rejected_total{executor="cpu\"1\\x"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    // Every label value ends at an unescaped quote: an even number of them
    // on each sample line.
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let unescaped_quotes = line
            .char_indices()
            .filter(|&(at, c)| {
                c == '"' && line[..at].chars().rev().take_while(|&b| b == '\\').count() % 2 == 0
            })
            .count();
        assert_eq!(unescaped_quotes % 2, 0, "unbalanced quotes: {line}");
    }
    cpu.shutdown();
    futures::executor::block_on(cpu.join());
}
