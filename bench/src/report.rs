//! The report: `report.json` (stable keys, to compare runs over time),
//! `report.md` with the plots embedded, and the SVG plots.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::backend::Priority;
use crate::latency::{Chunks, Latency, Load, Pattern, Scenario, Spread, Summary};
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
    /// Batch overhead of our executors with job spans on and off, with a
    /// subscriber interested in them.
    pub overhead_with_subscriber: Vec<(&'static str, Overhead)>,
    /// Scaling per backend.
    pub scaling: Vec<(&'static str, Scaling)>,
    /// The latency section, if it ran: the chunks of each pattern, and
    /// every scenario's rounds.
    pub latency: Option<(Chunks, Vec<(Scenario, Summary)>)>,
    /// Shutdown per backend.
    pub shutdown: Vec<(&'static str, Shutdown)>,
    /// The workload-classes scenario, if it ran.
    pub classes: Option<crate::classes::Classes>,
    /// The job-groups scenario, if it ran.
    pub groups: Option<crate::groups::Groups>,
    /// Bytes per queued job per subject.
    pub memory: Vec<(&'static str, f64)>,
    /// Bytes per queued job per subject, from a run built without
    /// `--cfg tokio_unstable` (Tokio's tasks are smaller there).
    pub memory_without_tokio_unstable: Vec<(String, f64)>,
    /// Overhead per subject, from a run built without `--cfg tokio_unstable`
    /// (Tokio's spawn path is faster there).
    pub overhead_without_tokio_unstable: Vec<(String, Overhead)>,
    /// Whether this run was built with `--cfg tokio_unstable`.
    pub tokio_unstable: bool,
}

/// Figures another run wrote to its `report.json`.
pub struct OtherRun {
    /// Bytes per queued job per subject.
    pub memory: Vec<(String, f64)>,
    /// Overhead per subject.
    pub overhead: Vec<(String, Overhead)>,
}

/// Reads the memory and overhead figures of another run's `report.json`.
///
/// # Errors
///
/// A message naming the file if it cannot be read or has neither.
pub fn read_other_run(path: &Path) -> Result<OtherRun, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("could not read {}: {err}", path.display()))?;
    let report: Value = serde_json::from_str(&text)
        .map_err(|err| format!("{} is not a JSON report: {err}", path.display()))?;
    let empty = Map::new();
    let memory = report["memory_bytes_per_job"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .filter_map(|(name, bytes)| Some((name.clone(), bytes.as_f64()?)))
        .collect::<Vec<_>>();
    let overhead = report["overhead_ns"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .filter_map(|(name, o)| {
            let pair = |key: &str| Some((o[key][0].as_f64()?, o[key][1].as_f64()?));
            Some((
                name.clone(),
                Overhead {
                    sequential_ns: o["sequential"].as_f64()?,
                    batch_ns: o["batch"].as_f64()?,
                    sequential_spread: pair("sequential_spread")?,
                    batch_spread: pair("batch_spread")?,
                    contended_ns: o["contended"].as_f64().unwrap_or(f64::NAN),
                    contended_spread: pair("contended_spread").unwrap_or((f64::NAN, f64::NAN)),
                },
            ))
        })
        .collect::<Vec<_>>();
    if memory.is_empty() && overhead.is_empty() {
        return Err(format!(
            "{} has neither memory nor overhead figures",
            path.display()
        ));
    }
    Ok(OtherRun { memory, overhead })
}

/// A latency figure.
#[derive(Clone, Copy)]
enum Figure {
    OneWay(Quantile),
    RoundTrip(Quantile),
    Submit(Quantile),
    LoadCores,
}

#[derive(Clone, Copy)]
enum Quantile {
    P50,
    P99,
    P999,
    Max,
}

impl Figure {
    fn of(self, latency: &Latency) -> f64 {
        let pick = |q: Quantile, p: &crate::latency::Percentiles| match q {
            Quantile::P50 => p.p50,
            Quantile::P99 => p.p99,
            Quantile::P999 => p.p999,
            Quantile::Max => p.max,
        };
        match self {
            Figure::OneWay(q) => pick(q, &latency.one_way),
            Figure::RoundTrip(q) => pick(q, &latency.round_trip),
            Figure::Submit(q) => latency.submit.as_ref().map_or(f64::NAN, |s| pick(q, s)),
            Figure::LoadCores => latency.load_cores,
        }
    }
}

fn spread_json(spread: Spread) -> Value {
    json!({"median": spread.median, "min": spread.min, "max": spread.max})
}

fn spread_text(spread: Spread) -> String {
    with_spread(spread.median, (spread.min, spread.max))
}

/// `median (smallest–largest)`.
fn with_spread(median: f64, (min, max): (f64, f64)) -> String {
    format!(
        "{} ({}–{})",
        format_value(median),
        format_value(min),
        format_value(max)
    )
}

impl Results {
    /// The JSON report.
    pub fn to_json(&self) -> Value {
        let mut overhead = Map::new();
        for (name, o) in &self.overhead {
            overhead.insert(
                (*name).into(),
                json!({
                    "sequential": o.sequential_ns,
                    "batch": o.batch_ns,
                    "sequential_spread": [o.sequential_spread.0, o.sequential_spread.1],
                    "batch_spread": [o.batch_spread.0, o.batch_spread.1],
                    "contended": o.contended_ns,
                    "contended_spread": [o.contended_spread.0, o.contended_spread.1],
                }),
            );
        }
        for (ours, base) in [
            ("executor_tokio", "tokio_handle_spawn"),
            ("executor_rayon", "rayon_spawn_oneshot"),
        ] {
            if let (Some(o), Some(b)) = (self.overhead_of(ours), self.overhead_of(base)) {
                overhead.insert(
                    format!("{ours}_vs_{base}"),
                    json!({"sequential": o.sequential_ns / b.sequential_ns, "batch": o.batch_ns / b.batch_ns}),
                );
            }
        }
        let mut traced = Map::new();
        for (name, o) in &self.overhead_with_subscriber {
            traced.insert(
                (*name).into(),
                json!({"batch": o.batch_ns, "batch_spread": [o.batch_spread.0, o.batch_spread.1]}),
            );
        }
        let of = |name: &str| {
            self.overhead_with_subscriber
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, o)| o.batch_ns)
        };
        for backend in ["executor_tokio", "executor_rayon"] {
            if let (Some(on), Some(off)) = (of(backend), of(&format!("{backend}_without_spans"))) {
                traced.insert(
                    format!("{backend}_span_cost"),
                    json!({"ns_per_job": on - off, "ratio": on / off}),
                );
            }
        }
        let mut scaling = Map::new();
        for (name, s) in &self.scaling {
            scaling.insert(
                (*name).into(),
                json!({"threads": s.threads, "speedup": s.speedup}),
            );
        }
        let mut latency = Map::new();
        if let Some((chunks, summaries)) = &self.latency {
            for (load, summary) in summaries {
                let direction = |make: fn(Quantile) -> Figure| {
                    json!({
                        "p50": spread_json(summary.spread(|l| make(Quantile::P50).of(l))),
                        "p99": spread_json(summary.spread(|l| make(Quantile::P99).of(l))),
                        "p999": spread_json(summary.spread(|l| make(Quantile::P999).of(l))),
                        "max": spread_json(summary.spread(|l| make(Quantile::Max).of(l))),
                    })
                };
                let mut ratios = Map::new();
                for (key, figure) in [
                    ("one_way_p99", Figure::OneWay(Quantile::P99)),
                    ("one_way_p999", Figure::OneWay(Quantile::P999)),
                    ("round_trip_p99", Figure::RoundTrip(Quantile::P99)),
                    ("round_trip_p999", Figure::RoundTrip(Quantile::P999)),
                ] {
                    if let Some(r) = self.ratio(*load, load.unloaded(), figure) {
                        ratios.insert(format!("{key}_vs_unloaded"), json!(r));
                    }
                    if let Some(r) = load
                        .raw_counterpart()
                        .and_then(|raw| self.ratio(*load, raw, figure))
                    {
                        ratios.insert(format!("{key}_vs_raw_same_priority"), json!(r));
                    }
                }
                latency.insert(
                    load.name(),
                    json!({
                        "one_way": direction(Figure::OneWay),
                        "round_trip": direction(Figure::RoundTrip),
                        "load_cores": spread_json(summary.spread(|l| l.load_cores)),
                        "submit": if load.pattern() == Some(Pattern::Burst) { direction(Figure::Submit) } else { Value::Null },
                        "rounds": summary.rounds.len(),
                        "ratios": ratios,
                    }),
                );
            }
            let mut sizes = Map::new();
            for pattern in Pattern::ALL {
                let (table, per_chunk) = chunks.of(pattern);
                sizes.insert(
                    pattern.name().into(),
                    json!({"rows": table.rows() / table.chunks().max(1), "serial_ms": per_chunk.as_secs_f64() * 1e3}),
                );
            }
            latency.insert("chunks".into(), Value::Object(sizes));
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
        let mut memory_stable = Map::new();
        for (name, bytes) in &self.memory_without_tokio_unstable {
            memory_stable.insert(name.clone(), json!(bytes));
        }
        let mut overhead_stable = Map::new();
        for (name, o) in &self.overhead_without_tokio_unstable {
            overhead_stable.insert(
                name.clone(),
                json!({
                    "sequential": o.sequential_ns,
                    "batch": o.batch_ns,
                    "sequential_spread": [o.sequential_spread.0, o.sequential_spread.1],
                    "batch_spread": [o.batch_spread.0, o.batch_spread.1],
                    "contended": o.contended_ns,
                    "contended_spread": [o.contended_spread.0, o.contended_spread.1],
                }),
            );
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
            "memory_bytes_per_job_without_tokio_unstable": memory_stable,
            "overhead_ns_without_tokio_unstable": overhead_stable,
            "overhead_ns_with_subscriber": traced,
            "classes": self.classes.as_ref().map(crate::classes::Classes::to_json),
            "groups": self.groups.as_ref().map(crate::groups::Groups::to_json),
            "tokio_unstable": self.tokio_unstable,
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

    fn summary_of(&self, load: Scenario) -> Option<&Summary> {
        self.latency
            .as_ref()?
            .1
            .iter()
            .find(|(l, _)| *l == load)
            .map(|(_, s)| s)
    }

    /// The median of `figure` under `load` over the median under `base`.
    fn ratio(&self, load: Scenario, base: Scenario, figure: Figure) -> Option<f64> {
        let a = self.summary_of(load)?.spread(|l| figure.of(l)).median;
        let b = self.summary_of(base)?.spread(|l| figure.of(l)).median;
        Some(a / b)
    }

    /// The memory figures the memory target uses: those of a build without
    /// `tokio_unstable` if there are any, and which build they come from.
    fn memory_for_target(&self) -> (Vec<(String, f64)>, &'static str) {
        if !self.memory_without_tokio_unstable.is_empty() {
            (
                self.memory_without_tokio_unstable.clone(),
                "without tokio_unstable",
            )
        } else {
            (
                self.memory
                    .iter()
                    .map(|(n, b)| ((*n).to_owned(), *b))
                    .collect(),
                if self.tokio_unstable {
                    "with tokio_unstable"
                } else {
                    "without tokio_unstable"
                },
            )
        }
    }

    /// Each target of the benchmark issue, with the measured value and
    /// whether it was met: `(target, measured, met)`.
    pub fn targets(&self) -> Vec<(String, String, bool)> {
        let mut targets = Vec::new();
        let ratio = |ours: Option<f64>, base: Option<f64>| ours.zip(base).map(|(a, b)| a / b);
        let this_build = if self.tokio_unstable {
            "with tokio_unstable"
        } else {
            "without tokio_unstable"
        };
        let mut builds: Vec<(&str, Vec<(String, Overhead)>)> = vec![(
            this_build,
            self.overhead
                .iter()
                .map(|(n, o)| ((*n).to_owned(), *o))
                .collect(),
        )];
        if !self.overhead_without_tokio_unstable.is_empty() {
            builds.push((
                "without tokio_unstable",
                self.overhead_without_tokio_unstable.clone(),
            ));
        }
        for (build, figures) in &builds {
            let of = |name: &str| figures.iter().find(|(n, _)| n == name).map(|(_, o)| *o);
            for (ours, base) in [
                ("executor_tokio", "tokio_handle_spawn"),
                ("executor_rayon", "rayon_spawn_oneshot"),
            ] {
                for (kind, limit) in [("sequential", 1.1), ("batch", 1.2)] {
                    let value = |x: Option<Overhead>| {
                        x.map(|x| {
                            if kind == "sequential" {
                                x.sequential_ns
                            } else {
                                x.batch_ns
                            }
                        })
                    };
                    if let Some(r) = ratio(value(of(ours)), value(of(base))) {
                        targets.push((
                            format!("overhead {kind} ({build}): {ours} ≤ {limit} × {base}"),
                            format!("{r:.2} ×"),
                            r <= limit,
                        ));
                    }
                }
            }
        }
        for (ours, _) in [
            ("executor_tokio", "tokio_handle_spawn"),
            ("executor_rayon", "rayon_spawn_oneshot"),
        ] {
            let o = self.overhead_of(ours);
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
        // A job to the last of 5 000 classes, found by name, costs about
        // what a job to the only class does.
        for ours in ["executor_tokio", "executor_rayon"] {
            let many = format!("{ours}_5000_classes");
            if let Some(r) = ratio(
                self.overhead_of(&many).map(|x| x.batch_ns),
                self.overhead_of(ours).map(|x| x.batch_ns),
            ) {
                targets.push((
                    format!("overhead batch: {many} ≤ 1.2 × {ours}"),
                    format!("{r:.2} ×"),
                    r <= 1.2,
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
        let (memory, build) = self.memory_for_target();
        let memory_of = |name: &str| memory.iter().find(|(n, _)| n == name).map(|(_, b)| *b);
        for ours in ["executor_tokio", "executor_rayon"] {
            if let Some(r) = ratio(memory_of(ours), memory_of("tokio_handle_spawn")) {
                targets.push((
                    format!("memory ({build}): {ours} ≤ 1.5 × tokio_handle_spawn per queued job"),
                    format!("{r:.2} ×"),
                    r <= 1.5,
                ));
            }
        }
        let cores = self.machine["cores"].as_f64().unwrap_or(1.0);
        if let Some((_, summaries)) = &self.latency {
            for (load, summary) in summaries {
                let Load::Executor(_, priority, _) = load.load else {
                    continue;
                };
                let name = load.name();
                if priority == Priority::DEFAULT || priority == Priority::Idle {
                    for (figure, label, limit) in [
                        (Figure::OneWay(Quantile::P99), "p99", 1.5),
                        (Figure::OneWay(Quantile::P999), "p999", 3.0),
                    ] {
                        if let Some(r) = self.ratio(*load, load.unloaded(), figure) {
                            targets.push((
                                format!("latency: {name} one-way {label} ≤ {limit} × unloaded"),
                                format!("{r:.2} ×"),
                                r <= limit,
                            ));
                        }
                    }
                    let load_cores = summary.spread(|l| l.load_cores).median;
                    targets.push((
                        format!("latency: {name} load gets ≥ 0.95 × {cores} cores"),
                        format!("{load_cores:.2}"),
                        load_cores >= 0.95 * cores,
                    ));
                }
                if let Some(rayon) = load.rayon_counterpart()
                    && let Some(r) = self.ratio(*load, rayon, Figure::OneWay(Quantile::P99))
                {
                    targets.push((
                        format!("latency: {name} one-way p99 ≤ 1.5 × {}", rayon.name()),
                        format!("{r:.2} ×"),
                        r <= 1.5,
                    ));
                }
                if let Some(raw) = load.raw_counterpart() {
                    for (figure, label) in [
                        (Figure::OneWay(Quantile::P99), "p99"),
                        (Figure::OneWay(Quantile::P999), "p999"),
                    ] {
                        if let Some(r) = self.ratio(*load, raw, figure) {
                            targets.push((
                                format!("latency: {name} one-way {label} ≤ {}", raw.name()),
                                format!("{r:.2} ×"),
                                r <= 1.0,
                            ));
                        }
                    }
                }
            }
        }
        if let Some(classes) = &self.classes {
            targets.extend(classes.targets());
        }
        if let Some(groups) = &self.groups {
            targets.extend(groups.targets());
        }
        targets
    }

    /// The Markdown report; plots are referenced by file name.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        self.write_header(&mut md);
        self.write_targets(&mut md);
        self.write_overhead(&mut md);
        self.write_scaling(&mut md);
        self.write_latency(&mut md);
        self.write_shutdown(&mut md);
        self.write_memory(&mut md);
        self.write_classes(&mut md);
        if let Some(groups) = &self.groups {
            md.push_str(&groups.to_markdown());
            md.push('\n');
        }
        self.write_chunks(&mut md);
        md
    }

    /// The machine and how the figures were taken.
    fn write_header(&self, md: &mut String) {
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
    }

    /// The targets and whether each was met.
    fn write_targets(&self, md: &mut String) {
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
    }

    /// The per-job cost tables.
    fn write_overhead(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n## Overhead: ns per trivial job\n\n`sequential`: spawn one job, await it, repeat. `batch`: spawn them all, then await them all. `{submitters} submitters`: {submitters} threads each spawn their share of a batch at once, then await it (contention on the shared submission path, as on a machine with that many request handlers; on fewer cores they take turns). Median of the interleaved rounds (fastest–slowest).\n\n| subject | sequential | batch | {submitters} submitters |\n|---|---|---|---|",
            submitters = crate::overhead::SUBMITTERS,
        );
        for (name, o) in &self.overhead {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} |",
                with_spread(o.sequential_ns, o.sequential_spread),
                with_spread(o.batch_ns, o.batch_spread),
                with_spread(o.contended_ns, o.contended_spread),
            );
        }
        if !self.overhead_without_tokio_unstable.is_empty() {
            let _ = writeln!(
                md,
                "\nThe same, built without `--cfg tokio_unstable` (what most users build; Tokio's own spawn path is faster there):\n\n| subject | sequential | batch |\n|---|---|---|"
            );
            for (name, o) in &self.overhead_without_tokio_unstable {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {} |",
                    with_spread(o.sequential_ns, o.sequential_spread),
                    with_spread(o.batch_ns, o.batch_spread),
                );
            }
        }
        if !self.overhead_with_subscriber.is_empty() {
            let _ = writeln!(
                md,
                "\nJob spans: batch ns per job submitted inside a request span, with a subscriber interested in INFO spans (formatting, writing nowhere); `_without_spans` turns them off (`Builder::without_job_spans`). Without any subscriber the spans cost a check per submission (the table above).\n\n| subject | batch |\n|---|---|"
            );
            for (name, o) in &self.overhead_with_subscriber {
                let _ = writeln!(
                    md,
                    "| {name} | {} |",
                    with_spread(o.batch_ns, o.batch_spread),
                );
            }
        }
        let _ = writeln!(md, "\n![overhead](overhead.svg)\n");
    }

    /// The scaling table.
    fn write_scaling(&self, md: &mut String) {
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
    }

    /// The latency tables, if the section ran.
    fn write_latency(&self, md: &mut String) {
        if let Some((chunks, summaries)) = &self.latency {
            let rounds = summaries.first().map_or(0, |(_, s)| s.rounds.len());
            let _ = writeln!(
                md,
                "## Latency: `/health`-style probe on the I/O runtime, µs\n\n\
                 Every 1 ms a plain thread sends a message to a task on the I/O runtime (one worker per core) and waits for the reply: \
                 `one-way` is send to receipt, `round trip` send to reply. \
                 Meanwhile group-by chunks saturate every core: `steady`, two loaders per core each with one {:.1} ms chunk in flight; \
                 `burst`, two loaders each submitting {} chunks of {:.2} ms at once; \
                 `serial`, one loader per core submitting a steady-sized chunk each time the last one returned (request and response: the workers park and wake per chunk). \
                 `executor_*`: our backends; `raw_tokio`: a dedicated Tokio runtime fed with `Handle::spawn`; `raw_rayon`: a Rayon pool fed with `spawn` and a oneshot; \
                 each with its threads at the priority named last (`nice10` is our default, `idle` is `SCHED_IDLE`). `shared_runtime`: the chunks run on the I/O runtime itself. \
                 `+io_slice`: the I/O runtime's threads and the probing thread asked the kernel for a short time slice (`executor_api::latency`, Linux 6.12+); without it, the kernel's default. \
                 `load_cores`: the CPU the load got (chunks done × serial chunk time ÷ wall time). \
                 `submit`: how long one submission call of the burst pattern took on the I/O runtime's thread. \
                 Each cell: median of {rounds} interleaved rounds (smallest–largest).\n",
                chunks.steady.1.as_secs_f64() * 1e3,
                crate::latency::BURST_JOBS,
                chunks.burst.1.as_secs_f64() * 1e3,
            );
            let _ = writeln!(
                md,
                "| scenario | one-way p50 | one-way p99 | one-way p999 | round trip p99 | round trip p999 | load_cores | submit p999 | submit max |\n|---|---|---|---|---|---|---|---|---|"
            );
            for (load, summary) in summaries {
                let cell = |figure: Figure| spread_text(summary.spread(|l| figure.of(l)));
                let submit = |q: Quantile| {
                    if load.pattern() == Some(Pattern::Burst) {
                        cell(Figure::Submit(q))
                    } else {
                        "–".to_owned()
                    }
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    load.name(),
                    cell(Figure::OneWay(Quantile::P50)),
                    cell(Figure::OneWay(Quantile::P99)),
                    cell(Figure::OneWay(Quantile::P999)),
                    cell(Figure::RoundTrip(Quantile::P99)),
                    cell(Figure::RoundTrip(Quantile::P999)),
                    cell(Figure::LoadCores),
                    submit(Quantile::P999),
                    submit(Quantile::Max),
                );
            }
            let _ = writeln!(
                md,
                "\nRatios of medians, one-way: against unloaded, and against the raw design at the same priority and pattern, each with the same I/O threads.\n\n| scenario | p99 / unloaded | p999 / unloaded | p99 / raw | p999 / raw |\n|---|---|---|---|---|"
            );
            for (load, _) in summaries {
                if !matches!(load.load, Load::Executor(..)) {
                    continue;
                }
                let fmt = |r: Option<f64>| r.map_or("–".to_owned(), |r| format!("{r:.2}"));
                let raw = load.raw_counterpart();
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    load.name(),
                    fmt(self.ratio(*load, load.unloaded(), Figure::OneWay(Quantile::P99))),
                    fmt(self.ratio(*load, load.unloaded(), Figure::OneWay(Quantile::P999))),
                    fmt(raw.and_then(|raw| self.ratio(*load, raw, Figure::OneWay(Quantile::P99)))),
                    fmt(raw.and_then(|raw| self.ratio(*load, raw, Figure::OneWay(Quantile::P999)))),
                );
            }
            let _ = writeln!(md, "\n![latency](latency.svg)\n");
        }
    }

    /// The shutdown table.
    fn write_shutdown(&self, md: &mut String) {
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
    }

    /// The memory tables.
    fn write_memory(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n## Memory: bytes allocated per queued job\n\nNet bytes allocated while submitting jobs behind busy workers (job, handle, queue entry), counted by a wrapping global allocator.\n\n| subject | bytes |\n|---|---|"
        );
        for (name, bytes) in &self.memory {
            let _ = writeln!(md, "| {name} | {bytes:.0} |");
        }
        if !self.memory_without_tokio_unstable.is_empty() {
            let _ = writeln!(
                md,
                "\nThe same, built without `--cfg tokio_unstable` (what most users build; Tokio's tasks are smaller there):\n\n| subject | bytes |\n|---|---|"
            );
            for (name, bytes) in &self.memory_without_tokio_unstable {
                let _ = writeln!(md, "| {name} | {bytes:.0} |");
            }
        }
        let _ = writeln!(md, "\n![memory](memory.svg)\n");
    }

    /// The workload classes' tables, if the section ran.
    fn write_classes(&self, md: &mut String) {
        if let Some(classes) = &self.classes {
            md.push_str(&classes.to_markdown());
            md.push('\n');
        }
    }

    /// The workload chunks' sizes.
    fn write_chunks(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "## Workload chunks\n\n| kernel | rows per chunk | serial ms per chunk |\n|---|---|---|"
        );
        for (name, rows, ms) in &self.chunk_ms {
            let _ = writeln!(md, "| {name} | {rows} | {ms:.2} |");
        }
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
        if let Some((_, summaries)) = &self.latency {
            let latency = rows(
                summaries
                    .iter()
                    .map(|(load, summary)| {
                        let median = |figure: Figure| Some(summary.spread(|l| figure.of(l)).median);
                        (
                            load.name(),
                            vec![
                                median(Figure::OneWay(Quantile::P50)),
                                median(Figure::OneWay(Quantile::P99)),
                                median(Figure::OneWay(Quantile::P999)),
                            ],
                        )
                    })
                    .collect(),
            );
            std::fs::write(
                dir.join("latency.svg"),
                bar_chart(
                    "Probe latency, one-way (median of rounds)",
                    "µs",
                    &["p50", "p99", "p999"],
                    &latency,
                    true,
                ),
            )?;
        }
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
