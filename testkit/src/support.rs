//! Helpers that order events in tests with channels and gates, never sleeps,
//! and bound every wait with a timeout that fails loudly.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use executor_api::Executor;

/// Shuts `executor` down gracefully and waits (bounded) for the join;
/// returns the final metrics.
///
/// # Panics
///
/// If the join does not resolve within [`timeout()`].
pub fn shutdown_and_join<E: Executor>(executor: &E) -> executor_api::Metrics {
    executor.shutdown();
    block_on_within("join after shutdown", executor.join());
    executor.metrics()
}

/// Holds `count` jobs on distinct workers of `executor` at once and returns
/// their sorted, deduplicated thread names: with fewer than `count`
/// workers, the jobs could not all arrive and this would time out.
///
/// # Panics
///
/// If the jobs do not all arrive within [`timeout()`].
pub fn names_of_busy_workers<E: Executor>(executor: &E, count: usize) -> Vec<String> {
    let gate = Gate::new();
    let (arrived_tx, arrived_rx) = crossbeam_channel::unbounded();
    let jobs: Vec<_> = (0..count)
        .map(|_| {
            let (gate, arrived_tx) = (gate.clone(), arrived_tx.clone());
            executor.spawn_cpu(move |_| {
                let name = thread::current().name().unwrap_or("<unnamed>").to_owned();
                arrived_tx.send(name).unwrap();
                gate.wait();
            })
        })
        .collect();
    let mut names: Vec<String> = (0..count)
        .map(|_| recv("a job on each worker", &arrived_rx))
        .collect();
    gate.open();
    for result in block_on_within("the busy jobs", futures::future::join_all(jobs)) {
        result.expect("a busy job failed");
    }
    names.sort();
    names.dedup();
    names
}

/// How long any wait in the suite may take before the test fails, unless
/// `TESTKIT_TIMEOUT_SECS` says otherwise. Generous: a shared 2-core machine
/// can be slow, but a hang must still fail.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The bound on every wait: [`DEFAULT_TIMEOUT`], or `TESTKIT_TIMEOUT_SECS`
/// seconds when set (mutation testing sets it low, so that a mutant that
/// hangs a test is caught quickly).
pub fn timeout() -> Duration {
    static TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TIMEOUT.get_or_init(|| {
        std::env::var("TESTKIT_TIMEOUT_SECS")
            .ok()
            .and_then(|secs| secs.parse().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
    })
}

/// Drives `future` to completion on a fresh thread with
/// `futures::executor::block_on` (no Tokio), so that a handle is proven
/// awaitable outside any runtime.
///
/// # Panics
///
/// If the future does not complete within [`timeout()`]: `what` names the
/// wait in the message.
pub fn block_on_within<F>(what: &str, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::Builder::new()
        .name("testkit-wait".into())
        .spawn(move || {
            let _ = tx.send(futures::executor::block_on(future));
        })
        .expect("spawn a waiting thread");
    match rx.recv_timeout(timeout()) {
        Ok(output) => output,
        Err(RecvTimeoutError::Timeout) => {
            panic!("timed out after {:?} waiting for {what}", timeout())
        }
        Err(RecvTimeoutError::Disconnected) => panic!("the wait for {what} panicked"),
    }
}

/// Runs `future` on a fresh current-thread Tokio runtime (the caller's "I/O
/// runtime"), bounded by [`timeout()`].
///
/// # Panics
///
/// On timeout, naming `what`.
pub fn tokio_block_on_within<F: Future>(what: &str, future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread runtime");
    runtime.block_on(async {
        match tokio::time::timeout(timeout(), future).await {
            Ok(output) => output,
            Err(_) => panic!("timed out after {:?} waiting for {what}", timeout()),
        }
    })
}

/// Receives from `rx` within [`timeout()`].
///
/// # Panics
///
/// On timeout or disconnection, naming `what`.
pub fn recv<T>(what: &str, rx: &Receiver<T>) -> T {
    match rx.recv_timeout(timeout()) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => {
            panic!("timed out after {:?} waiting for {what}", timeout())
        }
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the sender is gone"),
    }
}

/// A one-way gate that jobs wait on until the test opens it, from a closure
/// ([`wait`](Self::wait), blocking) or a future ([`opened`](Self::opened)).
#[derive(Clone, Debug)]
pub struct Gate {
    blocking: Receiver<()>,
    opener: Arc<std::sync::Mutex<Option<Sender<()>>>>,
    async_rx: tokio::sync::watch::Receiver<bool>,
    async_tx: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        let (async_tx, async_rx) = tokio::sync::watch::channel(false);
        Gate {
            blocking: rx,
            opener: Arc::new(std::sync::Mutex::new(Some(tx))),
            async_rx,
            async_tx: Arc::new(async_tx),
        }
    }

    /// Opens the gate for every waiter, now and later.
    pub fn open(&self) {
        // Dropping the only sender disconnects the channel: every blocked
        // and future `recv` returns at once.
        self.opener.lock().unwrap().take();
        self.async_tx.send_replace(true);
    }

    /// Blocks until the gate opens.
    ///
    /// # Panics
    ///
    /// If it does not open within [`timeout()`].
    pub fn wait(&self) {
        match self.blocking.recv_timeout(timeout()) {
            Err(RecvTimeoutError::Disconnected) => {}
            Ok(()) => unreachable!("nothing is ever sent through a gate"),
            Err(RecvTimeoutError::Timeout) => panic!("gate not opened within {:?}", timeout()),
        }
    }

    /// Blocks until the gate opens or `timeout` passes; returns whether it
    /// is open.
    pub fn wait_for(&self, timeout: Duration) -> bool {
        matches!(
            self.blocking.recv_timeout(timeout),
            Err(RecvTimeoutError::Disconnected)
        )
    }

    /// Resolves when the gate opens. No timeout of its own: the test bounds
    /// the wait on the job that awaits it.
    pub async fn opened(&self) {
        let mut rx = self.async_rx.clone();
        let _ = rx.wait_for(|open| *open).await;
    }
}

/// Counts the drops of the [`DropProbe`]s it hands out, and lets a test wait
/// for them.
#[derive(Clone, Debug)]
pub struct DropCounter {
    drops: Arc<AtomicUsize>,
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for DropCounter {
    fn default() -> Self {
        DropCounter::new()
    }
}

impl DropCounter {
    /// A counter with no drops.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        DropCounter {
            drops: Arc::new(AtomicUsize::new(0)),
            tx,
            rx,
        }
    }

    /// A probe to move into a job; it reports its drop here.
    pub fn probe(&self) -> DropProbe {
        DropProbe {
            drops: self.drops.clone(),
            tx: self.tx.clone(),
        }
    }

    /// Drops seen so far.
    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// Blocks until one more probe has been dropped.
    ///
    /// # Panics
    ///
    /// After [`timeout()`], naming `what`.
    pub fn wait_for_drop(&self, what: &str) {
        recv(what, &self.rx);
    }
}

/// Reports its drop to the [`DropCounter`] it came from.
#[derive(Debug)]
pub struct DropProbe {
    drops: Arc<AtomicUsize>,
    tx: Sender<()>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.send(());
    }
}

/// The threads of this process whose name starts with `prefix` (Linux reads
/// `/proc/self/task/*/comm`, which holds the first 15 bytes of a name).
///
/// # Panics
///
/// If `/proc/self/task` cannot be read.
pub fn threads_named(prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let tasks = std::fs::read_dir("/proc/self/task").expect("read /proc/self/task");
    for task in tasks.flatten() {
        // A thread may exit between the listing and the read.
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            let name = comm.trim_end().to_owned();
            if name.starts_with(prefix) {
                names.push(name);
            }
        }
    }
    names
}

/// The CPU time the threads of this process named with `prefix` have run,
/// in all (each thread's `/proc/self/task/<tid>/schedstat`, nanoseconds).
pub fn cpu_time_of_threads_named(prefix: &str) -> Duration {
    let mut total = 0u64;
    let tasks = std::fs::read_dir("/proc/self/task").expect("read /proc/self/task");
    for task in tasks.flatten() {
        // A thread may exit between the listing and the reads.
        let named = std::fs::read_to_string(task.path().join("comm"))
            .is_ok_and(|comm| comm.trim_end().starts_with(prefix));
        if !named {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            total += stat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

/// Asserts that no thread of this process is named with `prefix`, once the
/// kernel has finished releasing threads that were just joined.
///
/// A join returns when the kernel clears the thread's id, a moment before it
/// removes the thread from `/proc/self/task`; on a busy machine that moment
/// can last milliseconds. A thread still listed after [`RELEASE_GRACE`] is
/// a thread that did not exit.
///
/// # Panics
///
/// Naming the threads that are left.
pub fn assert_no_threads_named(prefix: &str) {
    let deadline = std::time::Instant::now() + RELEASE_GRACE;
    loop {
        let left = threads_named(prefix);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "threads left after join: {left:?}"
        );
        thread::yield_now();
    }
}

/// How long [`assert_no_threads_named`] lets the kernel release joined
/// threads.
pub const RELEASE_GRACE: Duration = Duration::from_secs(1);

/// Polls `condition` every millisecond until it holds.
///
/// For states that no channel reports (a counter reaching a value); the
/// wait ends as soon as the state is reached.
///
/// # Panics
///
/// If `condition` does not hold within [`timeout()`], naming `what`.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout();
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {:?} waiting for {what}",
            timeout()
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// The thread name of the runtime built by [`io_runtime`].
pub const IO_THREAD: &str = "io-rt";

/// A multi-thread Tokio runtime with one worker named [`IO_THREAD`]: the
/// "I/O runtime" of a service, for the I/O redirection tests.
///
/// # Panics
///
/// If the runtime cannot be built.
pub fn io_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(IO_THREAD)
        .enable_all()
        .build()
        .expect("build the I/O runtime")
}

/// Captures what a tracing subscriber writes, for tests of warnings.
#[derive(Clone, Debug, Default)]
pub struct LogCapture {
    written: Arc<std::sync::Mutex<Vec<u8>>>,
}

/// A writer into a [`LogCapture`].
#[derive(Debug)]
pub struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// An empty capture.
    pub fn new() -> Self {
        LogCapture::default()
    }

    /// Runs `f` with a subscriber that writes here as the thread's default.
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        let written = self.written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || LogWriter(written.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f)
    }

    /// The capture of the process's global subscriber, installed by the
    /// first call: for events logged on threads the test does not own (an
    /// executor's workers). Tests tell their own lines apart by a marker of
    /// their own.
    ///
    /// # Panics
    ///
    /// If another global subscriber was installed first.
    pub fn global() -> LogCapture {
        static GLOBAL: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let capture = LogCapture::new();
                let written = capture.written.clone();
                let subscriber = tracing_subscriber::fmt()
                    .with_ansi(false)
                    .with_writer(move || LogWriter(written.clone()))
                    .finish();
                tracing::subscriber::set_global_default(subscriber)
                    .expect("no other global subscriber in a test process");
                capture
            })
            .clone()
    }

    /// Everything written so far.
    pub fn contents(&self) -> String {
        let written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&written).into_owned()
    }
}
