//! `cargo xtask demo`: serve the analytics service, or compare backends
//! under load with `--load`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use demo::load::{self, LoadConfig};
use demo::mixed::{self, MixedConfig};
use demo::{CpuBackend, DemoError, Priority, Schedule, Service, ServiceConfig, telemetry};
use workload::Kernel;

/// An analytics service whose /health stays responsive while its CPU is
/// saturated (or not, with --backend shared).
#[derive(Debug, Parser)]
#[command(name = "demo")]
struct Args {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Where queries run: a dedicated executor, or the I/O runtime itself.
    #[arg(long, value_enum, default_value_t = CpuBackend::Tokio)]
    backend: CpuBackend,
    /// Worker threads of the dedicated executor [default: one per core].
    #[arg(long)]
    workers: Option<NonZeroUsize>,
    /// Worker threads of the I/O runtime [default: one per core].
    #[arg(long)]
    io_threads: Option<NonZeroUsize>,
    /// Give the I/O runtime's threads a short time slice (Linux 6.12+,
    /// `executor_api::latency`): they preempt the CPU workers sooner when
    /// a request arrives.
    #[arg(long)]
    io_slice: bool,
    /// Priority of the executor's workers: `normal`, `idle`, or a niceness
    /// 0..=19.
    #[arg(long, default_value = "10")]
    priority: Priority,
    /// The largest `rows` a query may ask for (413 above).
    #[arg(long, default_value = "20000000")]
    max_rows: NonZeroUsize,
    /// Queries admitted at once (503 with Retry-After above).
    #[arg(long, default_value = "64")]
    max_in_flight: NonZeroUsize,
    /// Milliseconds a shutdown lets in-flight queries finish before
    /// cancelling them.
    #[arg(long, default_value_t = 10_000)]
    drain_timeout_ms: u64,
    /// Milliseconds a client may take to send a request's headers before
    /// its connection is closed.
    #[arg(long, default_value = "10000")]
    header_read_timeout_ms: std::num::NonZeroU64,
    /// Connections open at once; at the bound new clients wait in the
    /// kernel's backlog until one closes.
    #[arg(long, default_value = "1024")]
    max_connections: NonZeroUsize,
    /// How queries and background compaction share the CPU: workload
    /// classes on one executor (and with time-sharing, each query a job
    /// group of its own), one FIFO, or a second executor at nice 19.
    #[arg(long, value_enum, default_value_t = Schedule::TimeSharing)]
    schedule: Schedule,
    /// Background compaction loops running beside the queries (0: none).
    #[arg(long, default_value_t = 0)]
    compaction: usize,
    /// Serve tokio-console's protocol (also on with DEMO_CONSOLE=1).
    #[arg(long)]
    console: bool,
    /// Where the console server listens.
    #[arg(long, default_value_t = telemetry::DEFAULT_CONSOLE_ADDR)]
    console_addr: SocketAddr,
    /// Compare every backend under load and print a table, instead of
    /// serving.
    #[arg(long)]
    load: bool,
    /// Load mode: measured seconds per scenario.
    #[arg(long, default_value_t = 3.0)]
    duration_secs: f64,
    /// Load mode: concurrent query clients [default: two per core].
    #[arg(long)]
    clients: Option<NonZeroUsize>,
    /// Load mode: the kernel each query runs.
    #[arg(long, default_value = "group_by")]
    kernel: Kernel,
    /// Load mode: rows per query.
    #[arg(long, default_value = "800000")]
    rows: NonZeroUsize,
    /// Load mode: run every scenario this many times, interleaved, and
    /// print each figure's median (and the ranges of the probe's p99 and
    /// the throughput) instead of one run's.
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    rounds: NonZeroUsize,
    /// Load mode: only the scenarios that compare the backends with each
    /// other and with the shared runtime (unloaded, shared, each backend
    /// at its default priority without compaction), not every priority
    /// and schedule.
    #[arg(long, requires = "load")]
    quick: bool,
    /// Load mode: short queries at a fixed rate beside long ones that
    /// saturate the executor, per schedule (fifo, classes, time-sharing),
    /// and the short queries alone, in one table.
    #[arg(long, requires = "load")]
    mixed: bool,
    /// Load mode: send this SQL to /sql (over the generated `events`
    /// table) instead of a kernel to /query; needs `cargo xtask demo
    /// --datafusion`.
    #[arg(long)]
    sql: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let console = args.console || std::env::var_os("DEMO_CONSOLE").is_some_and(|v| v != "0");
    if console && !cfg!(tokio_unstable) {
        eprintln!(
            "demo: --console needs a build with `--cfg tokio_unstable` (Tokio's task \
             instrumentation): run `cargo xtask demo --console`, which builds one, or set \
             RUSTFLAGS=\"--cfg tokio_unstable\" for your own build"
        );
        return ExitCode::from(2);
    }
    // The load mode prints a table: only warnings (a stalled job) in between.
    let level = if args.load {
        telemetry::LevelFilter::WARN
    } else {
        telemetry::LevelFilter::INFO
    };
    if let Err(err) = telemetry::init(level, console.then_some(args.console_addr)) {
        eprintln!("demo: cannot install logging: {err}");
        return ExitCode::FAILURE;
    }
    let outcome = if args.load && args.mixed {
        run_mixed(&args)
    } else if args.load {
        run_load(&args)
    } else {
        serve(&args, console)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo: {err}");
            ExitCode::FAILURE
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn serve(args: &Args, console: bool) -> Result<(), DemoError> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime
        .worker_threads(args.io_threads.map_or_else(cores, NonZeroUsize::get))
        .thread_name("io")
        .enable_all();
    if args.io_slice {
        runtime.on_thread_start(executor_api::latency::on_thread_start);
    }
    let runtime = runtime.build().map_err(DemoError::Runtime)?;
    let config = ServiceConfig {
        backend: args.backend,
        workers: args.workers.map_or_else(cores, NonZeroUsize::get),
        priority: args.priority,
        max_rows: args.max_rows.get(),
        max_in_flight: args.max_in_flight.get(),
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms.get()),
        max_connections: args.max_connections.get(),
        schedule: args.schedule,
        compaction: args.compaction,
    };
    runtime.block_on(async {
        let service = Service::start(args.addr, config).await?;
        let addr = service.local_addr();
        // The first line on stdout: scripts and tests read the address here.
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
        tracing::info!(
            backend = %args.backend,
            "try: curl 'http://{addr}/query?kernel=group_by&rows=1000000', curl http://{addr}/health, curl http://{addr}/metrics"
        );
        if console {
            tracing::info!("tokio-console: run `tokio-console http://{}`", args.console_addr);
        }
        let report = service.run_until(shutdown_signal()).await;
        tracing::info!(drained = report.drained, cancelled_jobs = report.cancelled_jobs, "stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

fn run_mixed(args: &Args) -> Result<(), DemoError> {
    let duration = match Duration::try_from_secs_f64(args.duration_secs) {
        Ok(duration) if !duration.is_zero() => duration,
        _ => {
            return Err(DemoError::InvalidConfig(
                "--duration-secs must be a positive number of seconds",
            ));
        }
    };
    if args.backend == CpuBackend::Shared {
        return Err(DemoError::InvalidConfig(
            "--mixed compares the schedules of a dedicated executor: use --backend tokio or rayon",
        ));
    }
    let defaults = MixedConfig::default();
    let config = MixedConfig {
        backend: args.backend,
        workers: args.workers.map_or(defaults.workers, NonZeroUsize::get),
        duration,
        long_clients: match args.clients {
            Some(clients) => vec![clients.get()],
            None => defaults.long_clients.clone(),
        },
        ..defaults
    };
    eprintln!(
        "mixed: short queries of {} rows every {:?} beside {:?} clients of {}-row queries, {} \
         backend, {:.1} s per scenario",
        config.short_rows,
        config.short_period,
        config.long_clients,
        config.long_rows,
        config.backend,
        args.duration_secs,
    );
    let results = mixed::run(&config)?;
    println!(
        "Short-query latency (ms) beside long queries, and long queries answered per second; \
         p99 × = short p99 over the short queries' p99 alone:\n"
    );
    print!("{}", mixed::render(&results));
    Ok(())
}

fn run_load(args: &Args) -> Result<(), DemoError> {
    let duration = match Duration::try_from_secs_f64(args.duration_secs) {
        Ok(duration) if !duration.is_zero() => duration,
        _ => {
            return Err(DemoError::InvalidConfig(
                "--duration-secs must be a positive number of seconds",
            ));
        }
    };
    let defaults = LoadConfig::default();
    let config = LoadConfig {
        duration,
        clients: args.clients.map_or(defaults.clients, NonZeroUsize::get),
        kernel: args.kernel,
        rows: args.rows.get(),
        workers: args.workers.map_or(defaults.workers, NonZeroUsize::get),
        io_threads: args
            .io_threads
            .map_or(defaults.io_threads, NonZeroUsize::get),
        sql: args.sql.clone(),
        ..defaults
    };
    if config.sql.is_some() && !cfg!(feature = "datafusion") {
        return Err(DemoError::InvalidConfig(
            "--sql needs the demo built with DataFusion: `cargo xtask demo --datafusion --load --sql ...`",
        ));
    }
    let scenarios: Vec<_> = load::scenarios()
        .into_iter()
        .filter(|scenario| !args.quick || scenario.is_quick())
        .collect();
    let work = match &config.sql {
        Some(sql) => format!("SQL {sql:?}"),
        None => format!("{} over {} rows", config.kernel, config.rows),
    };
    eprintln!(
        "load: {} scenarios x {:.1} s; {} clients sending {work}; /health probed every {:?}",
        scenarios.len(),
        args.duration_secs,
        config.clients,
        config.probe_interval,
    );
    if args.rounds.get() > 1 {
        let rounds = (0..args.rounds.get())
            .map(|_| load::run(&config, &scenarios))
            .collect::<Result<Vec<_>, _>>()?;
        println!(
            "/health latency while the CPU is saturated, and query throughput: medians of {} \
             interleaved rounds\n",
            rounds.len()
        );
        print!("{}", load::render_rounds(&rounds));
        return Ok(());
    }
    let results = load::run(&config, &scenarios)?;
    println!("/health latency while the CPU is saturated, and query throughput:\n");
    print!("{}", load::render(&results));
    Ok(())
}
