//! The report: `report.json` (stable keys, to compare runs over time),
//! `report.md` with the plots embedded, and the SVG plots.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::latency::Latency;
use crate::overhead::Overhead;
use crate::scaling::Scaling;
use crate::shutdown::Shutdown;
use crate::svg::{Row, bar_chart, format_value};

/// Every figure of one run.
pub struct Results {
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// The machine, as `machine` in the JSON.
    pub machine: Value,
    /// Per-chunk serial time of the workload kernels, ms.
    pub chunk_ms: Vec<(&'static str, usize, f64)>,
    /// Overhead per subject.
    pub overhead: Vec<(&'static str, Overhead)>,
    /// Scaling per backend.
    pub scaling: Vec<(&'static str, Scaling)>,
    /// Latency per scenario.
    pub latency: Vec<(&'static str, Latency)>,
    /// Shutdown per backend.
    pub shutdown: Vec<(&'static str, Shutdown)>,
    /// Bytes per queued job per subject.
    pub memory: Vec<(&'static str, f64)>,
}

impl Results {
    /// The JSON report.
    pub fn to_json(&self) -> Value {
        let mut overhead = Map::new();
        for (name, o) in &self.overhead {
            overhead.insert(
                (*name).into(),
                json!({"sequential": o.sequential_ns, "batch": o.batch_ns}),
            );
        }
        let mut scaling = Map::new();
        for (name, s) in &self.scaling {
            scaling.insert(
                (*name).into(),
                json!({"threads": s.threads, "speedup": s.speedup}),
            );
        }
        let mut latency = Map::new();
        for (name, l) in &self.latency {
            latency.insert(
                (*name).into(),
                json!({"p50": l.p50, "p99": l.p99, "p999": l.p999, "max": l.max, "load_cores": l.load_cores}),
            );
        }
        let mut shutdown = Map::new();
        for (name, s) in &self.shutdown {
            shutdown.insert(
                (*name).into(),
                json!({"drain_queued": s.drain_queued_ms, "cancel_running": s.cancel_running_ms}),
            );
        }
        let mut memory = Map::new();
        for (name, bytes) in &self.memory {
            memory.insert((*name).into(), json!(bytes));
        }
        let mut chunk_ms = Map::new();
        for (name, rows, ms) in &self.chunk_ms {
            chunk_ms.insert((*name).into(), json!({"rows": rows, "ms": ms}));
        }
        json!({
            "overhead_ns": overhead,
            "scaling": scaling,
            "latency_us": latency,
            "shutdown_ms": shutdown,
            "memory_bytes_per_job": memory,
            "workload_chunk_ms": chunk_ms,
            "machine": self.machine,
            "quick": self.quick,
        })
    }

    fn overhead_of(&self, name: &str) -> Option<Overhead> {
        self.overhead
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| *o)
    }

    fn latency_of(&self, name: &str) -> Option<Latency> {
        self.latency
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| *l)
    }

    fn memory_of(&self, name: &str) -> Option<f64> {
        self.memory
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
    }

    /// Each target of the benchmark issue, with the measured value and
    /// whether it was met: `(target, measured, met)`.
    pub fn targets(&self) -> Vec<(String, String, bool)> {
        let mut targets = Vec::new();
        let ratio = |ours: Option<f64>, base: Option<f64>| ours.zip(base).map(|(a, b)| a / b);
        for (ours, base) in [
            ("executor_tokio", "tokio_handle_spawn"),
            ("executor_rayon", "rayon_spawn_oneshot"),
        ] {
            let (o, b) = (self.overhead_of(ours), self.overhead_of(base));
            for (kind, pick) in [("sequential", 0), ("batch", 1)] {
                let value = |x: Option<Overhead>| {
                    x.map(|x| {
                        if pick == 0 {
                            x.sequential_ns
                        } else {
                            x.batch_ns
                        }
                    })
                };
                if let Some(r) = ratio(value(o), value(b)) {
                    targets.push((
                        format!("overhead {kind}: {ours} ≤ 1.1 × {base}"),
                        format!("{r:.2} ×"),
                        r <= 1.1,
                    ));
                }
            }
            if let Some(r) = ratio(
                self.overhead_of("tokio_spawn_blocking").map(|x| x.batch_ns),
                o.map(|x| x.batch_ns),
            ) {
                targets.push((
                    format!("overhead batch: {ours} ≥ 3 × faster than tokio_spawn_blocking"),
                    format!("{r:.1} × faster"),
                    r >= 3.0,
                ));
            }
        }
        for (name, s) in &self.scaling {
            if let (Some(&threads), Some(&speedup)) = (s.threads.last(), s.speedup.last()) {
                targets.push((
                    format!("scaling: {name} speedup ≥ 0.9 × {threads} threads"),
                    format!("{speedup:.2} ({:.2} × ideal)", speedup / threads as f64),
                    speedup >= 0.9 * threads as f64,
                ));
            }
        }
        for ours in ["executor_tokio", "executor_rayon"] {
            if let Some(r) = ratio(self.memory_of(ours), self.memory_of("tokio_handle_spawn")) {
                targets.push((
                    format!("memory: {ours} ≤ 1.5 × tokio_handle_spawn per queued job"),
                    format!("{r:.2} ×"),
                    r <= 1.5,
                ));
            }
        }
        let unloaded = self.latency_of("unloaded");
        let cores = self.machine["cores"].as_f64().unwrap_or(1.0);
        for name in ["executor_tokio_low_priority", "executor_rayon_low_priority"] {
            if let (Some(l), Some(u)) = (self.latency_of(name), unloaded) {
                targets.push((
                    format!("latency: {name} p99 ≤ 1.5 × unloaded"),
                    format!("{:.2} ×", l.p99 / u.p99),
                    l.p99 <= 1.5 * u.p99,
                ));
                targets.push((
                    format!("latency: {name} p999 ≤ 2 × unloaded"),
                    format!("{:.2} ×", l.p999 / u.p999),
                    l.p999 <= 2.0 * u.p999,
                ));
                targets.push((
                    format!("latency: {name} load_cores ≥ 0.9 × {cores} cores"),
                    format!("{:.2}", l.load_cores),
                    l.load_cores >= 0.9 * cores,
                ));
            }
        }
        targets
    }

    /// The Markdown report; plots are referenced by file name.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# Benchmark report\n");
        let _ = writeln!(
            md,
            "Machine: {} cores, {}; {}; {}. Run: {}.\n",
            m["cores"],
            m["cpu"].as_str().unwrap_or("?"),
            m["os"].as_str().unwrap_or("?"),
            m["rustc"].as_str().unwrap_or("?"),
            if self.quick {
                "`cargo xtask bench --quick`"
            } else {
                "`cargo xtask bench`"
            }
        );
        let _ = writeln!(
            md,
            "Figures are ratios within this one run: every subject ran on the same machine in the same minutes, rounds interleaved.\n"
        );

        let _ = writeln!(
            md,
            "## Targets\n\n| target | measured | met |\n|---|---|---|"
        );
        for (target, measured, met) in self.targets() {
            let _ = writeln!(
                md,
                "| {target} | {measured} | {} |",
                if met { "yes" } else { "**no**" }
            );
        }

        let _ = writeln!(
            md,
            "\n## Overhead: ns per trivial job\n\n`sequential`: spawn one job, await it, repeat. `batch`: spawn them all, then await them all. Median of the rounds.\n\n| subject | sequential | batch |\n|---|---|---|"
        );
        for (name, o) in &self.overhead {
            let _ = writeln!(
                md,
                "| {name} | {} | {} |",
                format_value(o.sequential_ns),
                format_value(o.batch_ns)
            );
        }
        let _ = writeln!(md, "\n![overhead](overhead.svg)\n");

        let _ = writeln!(
            md,
            "## Scaling: group-by throughput, speedup over serial\n\n| backend | threads | speedup |\n|---|---|---|"
        );
        for (name, s) in &self.scaling {
            for (threads, speedup) in s.threads.iter().zip(&s.speedup) {
                let _ = writeln!(md, "| {name} | {threads} | {speedup:.2} |");
            }
        }
        let _ = writeln!(md, "\n![scaling](scaling.svg)\n");

        let _ = writeln!(
            md,
            "## Latency: `/health`-style probe on the I/O runtime, µs\n\nA round trip from a plain thread to a task on the I/O runtime every 1 ms while group-by chunks saturate every core. `load_cores`: the CPU the load actually got (chunks done × serial chunk time ÷ wall time). `_low_priority`: workers at nice 19; `_idle_policy`: workers under Linux's `SCHED_IDLE`; the others at nice 0.\n\n| scenario | p50 | p99 | p999 | max | load_cores |\n|---|---|---|---|---|---|"
        );
        for (name, l) in &self.latency {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {:.2} |",
                format_value(l.p50),
                format_value(l.p99),
                format_value(l.p999),
                format_value(l.max),
                l.load_cores
            );
        }
        let _ = writeln!(md, "\n![latency](latency.svg)\n");

        let _ = writeln!(
            md,
            "## Shutdown, ms\n\n`drain_queued`: from `shutdown()` to `join()` with small jobs queued behind busy workers. `cancel_running`: from `shutdown_now()` to `join()` with futures running and yielding in a loop.\n\n| backend | drain_queued | cancel_running |\n|---|---|---|"
        );
        for (name, s) in &self.shutdown {
            let _ = writeln!(
                md,
                "| {name} | {} | {} |",
                format_value(s.drain_queued_ms),
                format_value(s.cancel_running_ms)
            );
        }

        let _ = writeln!(
            md,
            "\n## Memory: bytes allocated per queued job\n\nNet bytes allocated while submitting jobs behind busy workers (job, handle, queue entry), counted by a wrapping global allocator.\n\n| subject | bytes |\n|---|---|"
        );
        for (name, bytes) in &self.memory {
            let _ = writeln!(md, "| {name} | {bytes:.0} |");
        }
        let _ = writeln!(md, "\n![memory](memory.svg)\n");

        let _ = writeln!(
            md,
            "## Workload chunks\n\n| kernel | rows per chunk | serial ms per chunk |\n|---|---|---|"
        );
        for (name, rows, ms) in &self.chunk_ms {
            let _ = writeln!(md, "| {name} | {rows} | {ms:.2} |");
        }
        md
    }

    /// Writes `report.json`, `report.md` and the plots into `dir`.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(&self.to_json())? + "\n",
        )?;
        std::fs::write(dir.join("report.md"), self.to_markdown())?;
        let rows = |items: Vec<(String, Vec<Option<f64>>)>| -> Vec<Row> {
            items
                .into_iter()
                .map(|(label, values)| Row { label, values })
                .collect()
        };
        let overhead = rows(
            self.overhead
                .iter()
                .map(|(n, o)| {
                    (
                        (*n).to_owned(),
                        vec![Some(o.sequential_ns), Some(o.batch_ns)],
                    )
                })
                .collect(),
        );
        std::fs::write(
            dir.join("overhead.svg"),
            bar_chart(
                "Overhead per job",
                "ns",
                &["sequential", "batch"],
                &overhead,
                true,
            ),
        )?;
        let names: Vec<&str> = self.scaling.iter().map(|(n, _)| *n).collect();
        let threads = self
            .scaling
            .first()
            .map(|(_, s)| s.threads.clone())
            .unwrap_or_default();
        let scaling = rows(
            threads
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        format!("{t} threads"),
                        self.scaling
                            .iter()
                            .map(|(_, s)| s.speedup.get(i).copied())
                            .collect(),
                    )
                })
                .collect(),
        );
        std::fs::write(
            dir.join("scaling.svg"),
            bar_chart("Speedup over serial", "×", &names, &scaling, false),
        )?;
        let latency = rows(
            self.latency
                .iter()
                .map(|(n, l)| {
                    (
                        (*n).to_owned(),
                        vec![Some(l.p50), Some(l.p99), Some(l.p999)],
                    )
                })
                .collect(),
        );
        std::fs::write(
            dir.join("latency.svg"),
            bar_chart(
                "Probe latency",
                "µs",
                &["p50", "p99", "p999"],
                &latency,
                true,
            ),
        )?;
        let memory = rows(
            self.memory
                .iter()
                .map(|(n, b)| ((*n).to_owned(), vec![Some(*b)]))
                .collect(),
        );
        std::fs::write(
            dir.join("memory.svg"),
            bar_chart("Bytes per queued job", "bytes", &["bytes"], &memory, false),
        )?;
        Ok(())
    }
}
