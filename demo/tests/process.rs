//! The demo binary as a process: signals, and tokio-console.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use demo::Client;
use testkit::support::{recv, timeout};

/// The demo binary, started with `args`; killed if the test fails.
struct Demo {
    child: Child,
    addr: SocketAddr,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
            .args([
                "--addr",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--io-threads",
                "1",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the demo binary");
        // The first line says where it listens; read it on a thread so that
        // the wait is bounded.
        let stdout = child.stdout.take().unwrap();
        let (line_tx, line_rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = line_tx.send(line);
        });
        let line = recv("the demo's `listening on` line", &line_rx);
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Demo { child, addr }
    }

    fn terminate(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("send SIGTERM");
    }

    /// Waits (bounded) for the exit and returns its code.
    fn wait(mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the demo did not exit within {:?}",
                timeout()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(timeout(), future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {:?} waiting for {what}", timeout()))
}

/// Without `--cfg tokio_unstable`, `--console` is refused with a message
/// that says how to get it, not a panic.
#[cfg(not(tokio_unstable))]
#[test]
fn console_without_tokio_unstable_is_refused_with_a_hint() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["--addr", "127.0.0.1:0", "--console"])
        .output()
        .expect("run the demo binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cargo xtask demo --console"), "{stderr}");
}

/// SIGTERM stops accepting, drains the in-flight query (it still gets its
/// answer), and the process exits 0.
#[test]
fn sigterm_drains_and_exits_zero() {
    let demo = Demo::start(&["--backend", "tokio"]);
    let runtime = runtime();
    let client = Client::new(demo.addr);
    runtime.block_on(async {
        assert_eq!(
            within("/health", client.get("/health"))
                .await
                .unwrap()
                .status,
            200
        );
        let query = tokio::spawn({
            let client = client.clone();
            async move { client.get("/query?kernel=checksum&rows=3000000").await }
        });
        within("the query to be admitted", async {
            loop {
                let text = client.get("/metrics").await.unwrap().body;
                if text.contains("demo_queries_in_flight 1") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        demo.terminate();
        let answer = within("the drained query", query).await.unwrap().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    });
    assert_eq!(demo.wait(), Some(0));
}

/// The tokio-console tests: only in builds with `--cfg tokio_unstable`
/// (`cargo xtask test` runs them in that configuration).
#[cfg(tokio_unstable)]
mod console {
    use console_api::field::{Name, Value};
    use console_api::instrument::InstrumentRequest;
    use console_api::instrument::instrument_client::InstrumentClient;

    use super::*;

    /// A port nobody listens on right now.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// The named tasks in a console update: each name, with the file of the
    /// location the console shows for the task.
    fn named_tasks(update: &console_api::instrument::Update) -> Vec<(String, Option<String>)> {
        let Some(tasks) = &update.task_update else {
            return Vec::new();
        };
        tasks
            .new_tasks
            .iter()
            .flat_map(|task| {
                let file = task
                    .location
                    .as_ref()
                    .and_then(|location| location.file.clone());
                task.fields
                    .iter()
                    .filter(
                        |field| matches!(&field.name, Some(Name::StrName(name)) if name == "task.name"),
                    )
                    .filter_map(move |field| match &field.value {
                        Some(Value::DebugVal(name) | Value::StrVal(name)) => {
                            Some((name.clone(), file.clone()))
                        }
                        _ => None,
                    })
            })
            .collect()
    }

    /// With `--console`, a tokio-console client (the console-api protocol) sees
    /// the named job task `cpu:<kernel>` on the executor and the service's
    /// `http:serve` task on the I/O runtime, for both dedicated backends.
    /// Only in builds with `--cfg tokio_unstable` (`cargo xtask test` runs it in
    /// that configuration).
    #[test]
    fn console_shows_named_tasks_of_both_runtimes() {
        for backend in ["tokio", "rayon"] {
            let port = free_port();
            let console_addr = format!("127.0.0.1:{port}");
            let demo = Demo::start(&[
                "--backend",
                backend,
                "--console",
                "--console-addr",
                &console_addr,
            ]);
            let runtime = runtime();
            runtime.block_on(async {
                let client = Client::new(demo.addr);
                let answer = within("a query", client.get("/query?kernel=sort&rows=100000"))
                    .await
                    .unwrap();
                assert_eq!(answer.status, 200, "{}", answer.body);

                // The console server starts on its own thread: retry until it
                // accepts.
                let mut console = within("the console server", async {
                    loop {
                        match InstrumentClient::connect(format!("http://{console_addr}")).await {
                            Ok(console) => return console,
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                })
                .await;
                let mut updates = within(
                    "the console's update stream",
                    console.watch_updates(InstrumentRequest {}),
                )
                .await
                .expect("watch updates")
                .into_inner();
                let mut seen: Vec<(String, Option<String>)> = Vec::new();
                within("the named tasks in the console", async {
                    while !(seen.iter().any(|(name, _)| name == "cpu:sort")
                        && seen.iter().any(|(name, _)| name == "http:serve"))
                    {
                        let update = updates
                            .message()
                            .await
                            .expect("a console update")
                            .expect("the stream stays open");
                        seen.extend(named_tasks(&update));
                    }
                })
                .await;
                // The job's location is the demo's own submission, not a line
                // inside the executor crates.
                let job = seen.iter().find(|(name, _)| name == "cpu:sort");
                let file = job
                    .and_then(|(_, file)| file.as_deref())
                    .unwrap_or_default();
                assert!(
                    file.ends_with("demo/src/cpu.rs"),
                    "{backend}: the console shows the job at {file:?}"
                );
            });
            demo.terminate();
            assert_eq!(demo.wait(), Some(0), "{backend}");
        }
    }
}
