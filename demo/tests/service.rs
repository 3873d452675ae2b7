//! The service in-process: endpoints, bad input, admission, shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use demo::{
    Answer, Client, CpuBackend, QueryAnswer, RETRY_AFTER_SECS, Schedule, Service, ServiceConfig,
    TABLE_SEED,
};
use testkit::support::timeout;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use workload::{Kernel, Table};

fn config(backend: CpuBackend) -> ServiceConfig {
    ServiceConfig {
        backend,
        workers: 1,
        ..ServiceConfig::default()
    }
}

async fn start(config: ServiceConfig) -> (Service, Client) {
    let service = Service::start(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .expect("start the service");
    let client = Client::new(service.local_addr());
    (service, client)
}

/// Bounds a wait: fails loudly instead of hanging.
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(timeout(), future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {:?} waiting for {what}", timeout()))
}

/// The value of an unlabelled metric in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// The sum of a labelled metric's values over the lines that contain
/// `label` (for example `outcome="cancelled"`); `None` if there is none.
fn labelled(text: &str, name: &str, label: &str) -> Option<u64> {
    let values: Vec<u64> = text
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Polls `/metrics` until `name` reaches `value`.
async fn wait_for_metric(client: &Client, name: &str, value: u64) {
    within(&format!("{name} to reach {value}"), async {
        loop {
            let text = client.get("/metrics").await.expect("scrape /metrics").body;
            if metric(&text, name) == Some(value) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// `GET path`, bounded; panics on a connection error.
async fn get(client: &Client, path: &str) -> Answer {
    within(path, client.get(path))
        .await
        .unwrap_or_else(|err| panic!("GET {path}: {err}"))
}

/// Sends `path` in the background and returns once the service has
/// admitted it.
async fn admitted_query(
    client: &Client,
    path: &'static str,
) -> tokio::task::JoinHandle<Result<Answer, String>> {
    let query = tokio::spawn({
        let client = client.clone();
        async move { client.get(path).await }
    });
    wait_for_metric(client, "demo_queries_in_flight", 1).await;
    // Admitted by the service is not yet submitted to the executor: a
    // shutdown in between would reject the job. Wait for the submission
    // (the shared runtime has no executor figures).
    within("the query's job to be submitted", async {
        loop {
            let text = client.get("/metrics").await.expect("scrape /metrics").body;
            match labelled(&text, "executor_jobs_submitted_total", "") {
                Some(0) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                _ => return,
            }
        }
    })
    .await;
    query
}

fn expected_checksum(kernel: Kernel, rows: usize) -> u64 {
    kernel.run_serial(&Table::new(TABLE_SEED, rows, kernel.default_chunk_rows()))
}

/// `/health`, `/query` and `/metrics` answer on every backend, and a query
/// returns the kernel's checksum of the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_answer_on_every_backend() {
    for backend in [CpuBackend::Tokio, CpuBackend::Rayon, CpuBackend::Shared] {
        let (service, client) = start(config(backend)).await;
        let health = get(&client, "/health").await;
        assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

        let answer = get(&client, "/query?kernel=group_by&rows=150000").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let answer: QueryAnswer = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(answer.backend, backend.name());
        assert_eq!((answer.kernel.as_str(), answer.rows), ("group_by", 150_000));
        assert_eq!(answer.checksum, expected_checksum(Kernel::GroupBy, 150_000));
        assert!(answer.total_ms >= answer.run_ms);

        let text = get(&client, "/metrics").await.body;
        assert!(
            text.contains(r#"demo_queries_total{outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("demo_query_duration_seconds_count 1"),
            "{text}"
        );
        let completed = labelled(&text, "executor_jobs_ended_total", r#"outcome="completed""#);
        match backend {
            CpuBackend::Shared => assert_eq!(completed, None),
            _ => assert_eq!(completed, Some(1), "{text}"),
        }
        let report = within("shutdown", service.shutdown()).await;
        assert!(report.drained);
    }
}

/// Each kind of bad input gets a 400 with a message that says what to
/// send instead; an unknown path is a 404; never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_400_with_a_message() {
    let (service, client) = start(config(CpuBackend::Tokio)).await;
    let cases = [
        (
            "/query?kernel=nope&rows=10",
            "unknown kernel \"nope\"; one of: group_by, sort",
        ),
        ("/query?rows=10", "missing `kernel`"),
        ("/query?kernel=sort", "missing `rows`"),
        (
            "/query?kernel=sort&rows=ten",
            "`rows` must be a whole number",
        ),
        (
            "/query?kernel=sort&rows=-5",
            "`rows` must be a whole number",
        ),
        (
            "/query?kernel=sort&rows=1.5",
            "`rows` must be a whole number",
        ),
        ("/query?kernel=sort&rows=0", "`rows` must be at least 1"),
        (
            "/query?kernel=sort&rows=%FF%FE",
            "`rows` must be a whole number",
        ),
    ];
    for (path, message) in cases {
        let answer = get(&client, path).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        let error = json["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{path}: {}", answer.body);
    }
    let missing = get(&client, "/nope").await;
    assert_eq!(missing.status, 404);
    let text = get(&client, "/metrics").await.body;
    assert!(
        text.contains(r#"demo_queries_total{outcome="bad_request"} 8"#),
        "{text}"
    );
    assert_eq!(
        labelled(&text, "executor_jobs_submitted_total", ""),
        Some(0),
        "no job ran: {text}"
    );
    within("shutdown", service.shutdown()).await;
}

/// More rows than the limit is a 413 that states the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_rows_is_a_413() {
    let (service, client) = start(ServiceConfig {
        max_rows: 1_000,
        ..config(CpuBackend::Rayon)
    })
    .await;
    let answer = get(&client, "/query?kernel=sort&rows=1001").await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.body.contains("limit of 1000"), "{}", answer.body);
    let at_limit = get(&client, "/query?kernel=sort&rows=1000").await;
    assert_eq!(at_limit.status, 200, "{}", at_limit.body);
    within("shutdown", service.shutdown()).await;
}

/// With admission full, a query is answered 503 with `Retry-After` at
/// once; a client that hangs up cancels its query's job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_admission_is_a_503_with_retry_after() {
    let (service, client) = start(ServiceConfig {
        max_in_flight: 1,
        ..config(CpuBackend::Tokio)
    })
    .await;
    // Long enough to still be running when the second query arrives.
    let long = admitted_query(&client, "/query?kernel=group_by&rows=20000000").await;
    let busy = get(&client, "/query?kernel=sort&rows=10").await;
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.retry_after, Some(RETRY_AFTER_SECS.to_string()));
    assert!(
        busy.body.contains("too many queries in flight"),
        "{}",
        busy.body
    );

    long.abort();
    within("the job to be cancelled", async {
        loop {
            let text = client.get("/metrics").await.expect("scrape /metrics").body;
            let cancelled = labelled(&text, "executor_jobs_ended_total", r#"outcome="cancelled""#);
            if cancelled == Some(1) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    wait_for_metric(&client, "demo_queries_in_flight", 0).await;
    let text = get(&client, "/metrics").await.body;
    assert!(
        text.contains(r#"demo_queries_total{outcome="busy"} 1"#),
        "{text}"
    );
    within("shutdown", service.shutdown()).await;
}

/// A graceful shutdown lets an in-flight query finish and answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_queries() {
    let (service, client) = start(config(CpuBackend::Rayon)).await;
    let query = admitted_query(&client, "/query?kernel=checksum&rows=3000000").await;
    let report = within("a graceful shutdown", service.shutdown()).await;
    let answer = within("the drained query", query).await.unwrap().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer: QueryAnswer = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        answer.checksum,
        expected_checksum(Kernel::Checksum, 3_000_000)
    );
    assert!(report.drained);
    assert_eq!(report.cancelled_jobs, 0);
}

/// At the drain deadline, what is left is cancelled (on the shared runtime
/// too), its request is answered 503, and the shutdown ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_what_outlives_the_deadline() {
    for backend in [CpuBackend::Tokio, CpuBackend::Rayon, CpuBackend::Shared] {
        let (service, client) = start(ServiceConfig {
            drain_timeout: std::time::Duration::from_millis(100),
            ..config(backend)
        })
        .await;
        let query = admitted_query(&client, "/query?kernel=group_by&rows=20000000").await;
        let report = within("a shutdown past its deadline", service.shutdown()).await;
        assert!(!report.drained, "{backend}");
        let expected_cancelled = if backend == CpuBackend::Shared { 0 } else { 1 };
        assert_eq!(report.cancelled_jobs, expected_cancelled, "{backend}");
        let answer = within("the cancelled query", query).await.unwrap().unwrap();
        assert_eq!(answer.status, 503, "{backend}: {}", answer.body);
        assert!(answer.body.contains("shutting down"), "{}", answer.body);
    }
}

/// A configuration that would refuse every query is an error, not a
/// service that answers 413 or 503 to everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_configurations_are_errors() {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    for config in [
        ServiceConfig {
            max_rows: 0,
            ..config(CpuBackend::Tokio)
        },
        ServiceConfig {
            max_in_flight: 0,
            ..config(CpuBackend::Tokio)
        },
        ServiceConfig {
            max_connections: 0,
            ..config(CpuBackend::Tokio)
        },
        ServiceConfig {
            header_read_timeout: Duration::ZERO,
            ..config(CpuBackend::Tokio)
        },
    ] {
        let err = Service::start(addr, config).await.unwrap_err();
        assert!(matches!(err, demo::DemoError::InvalidConfig(_)), "{err}");
    }
    let err = Service::start(
        addr,
        ServiceConfig {
            workers: 0,
            ..config(CpuBackend::Rayon)
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("at least one worker"), "{err}");
}

/// Reads from `stream` until the server closes it (returns what it sent).
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// A client that opens a connection and never finishes its request's
/// headers is disconnected once the header read timeout passes; it does
/// not hold the connection forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let (service, client) = start(ServiceConfig {
        header_read_timeout: Duration::from_millis(200),
        ..config(CpuBackend::Tokio)
    })
    .await;
    let mut slow = within("a connection", TcpStream::connect(service.local_addr()))
        .await
        .expect("connect");
    within(
        "half a request",
        slow.write_all(b"GET /health HTTP/1.1\r\nHost: demo\r\n"),
    )
    .await
    .expect("write");
    let sent = within(
        "the server to close the connection",
        read_until_closed(&mut slow),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&sent).contains("200 OK"),
        "an unfinished request was answered: {}",
        String::from_utf8_lossy(&sent)
    );
    // The service still serves complete requests.
    assert_eq!(get(&client, "/health").await.status, 200);
    service.shutdown().await;
}

/// At the connection bound the service accepts no one until a connection
/// closes: with one connection allowed and held by an idle client, a
/// second client's complete request is answered only after the server
/// closed the idle one (by the header read timeout), never before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_bound_wait_for_one_to_close() {
    let (service, _) = start(ServiceConfig {
        header_read_timeout: Duration::from_millis(300),
        max_connections: 1,
        ..config(CpuBackend::Tokio)
    })
    .await;
    let addr = service.local_addr();
    // The idle client takes the only connection and never finishes a
    // request.
    let mut idle = within("the idle connection", TcpStream::connect(addr))
        .await
        .expect("connect");
    within(
        "half a request",
        idle.write_all(b"GET /health HTTP/1.1\r\n"),
    )
    .await
    .expect("write");
    let mut waiting = within("the second connection", TcpStream::connect(addr))
        .await
        .expect("connect");
    within(
        "a whole request",
        waiting.write_all(b"GET /health HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n"),
    )
    .await
    .expect("write");
    let answer = within(
        "the waiting client's answer",
        read_until_closed(&mut waiting),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The server closed the idle connection before it accepted the second
    // one, so its end of file is already there: no waiting.
    // (A reset also says closed: the server may have closed it with a
    // half-sent request unread.)
    let mut byte = [0u8; 1];
    match idle.try_read(&mut byte) {
        Ok(0) => {}
        Err(err) if err.kind() != std::io::ErrorKind::WouldBlock => {}
        other => panic!(
            "the second client was answered while the only connection was still open: {other:?}"
        ),
    }
    service.shutdown().await;
}

/// Background compaction runs beside the queries under every schedule: by
/// class on one executor (the `/metrics` figures name both classes), with
/// each query and compaction a job group besides, in one FIFO, or on a
/// second executor; queries are still answered, and a shutdown stops the
/// compaction and ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_runs_beside_queries_under_every_schedule() {
    for schedule in [
        Schedule::Classes,
        Schedule::TimeSharing,
        Schedule::Fifo,
        Schedule::TwoExecutors,
    ] {
        let (service, client) = start(ServiceConfig {
            schedule,
            compaction: 2,
            ..config(CpuBackend::Tokio)
        })
        .await;
        within("a compaction to complete", async {
            loop {
                let text = client.get("/metrics").await.expect("scrape /metrics").body;
                if metric(&text, "demo_compactions_total") >= Some(1) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let answer = get(&client, "/query?kernel=checksum&rows=100000").await;
        assert_eq!(answer.status, 200, "{schedule}: {}", answer.body);
        assert!(service.compactions() >= 1);
        let text = get(&client, "/metrics").await.body;
        let submitted = |label: &str| labelled(&text, "executor_jobs_submitted_total", label);
        match schedule {
            Schedule::Classes => {
                assert!(submitted(r#"class="query""#) >= Some(1), "{text}");
                assert!(submitted(r#"class="background""#) >= Some(1), "{text}");
            }
            Schedule::TimeSharing => {
                assert!(submitted(r#"class="query""#) >= Some(1), "{text}");
                assert!(submitted(r#"class="background""#) >= Some(1), "{text}");
                assert!(
                    text.contains(
                        r#"executor_class_groups{executor="cpu-tokio",class="query",level="0"}"#
                    ),
                    "{text}"
                );
            }
            Schedule::Fifo => assert!(submitted(r#"class="default""#) >= Some(2), "{text}"),
            Schedule::TwoExecutors => {
                assert!(submitted(r#"executor="cpu-tokio""#) >= Some(1), "{text}");
                assert!(submitted(r#"executor="cpu-tokio-bg""#) >= Some(1), "{text}");
            }
        }
        within("a shutdown with compaction running", service.shutdown()).await;
    }
}
