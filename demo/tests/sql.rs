//! `/sql` (the `datafusion` feature): answers on every backend, bad
//! queries are 400s with DataFusion's message, a client that hangs up
//! cancels the query's jobs, and an untrusted client can neither touch the
//! server's files or settings nor exhaust its memory.
#![cfg(feature = "datafusion")]

use std::net::SocketAddr;
use std::time::Duration;

use demo::{Client, CpuBackend, Service, ServiceConfig};
use testkit::support::timeout;

async fn start(backend: CpuBackend) -> (Service, Client) {
    let config = ServiceConfig {
        backend,
        workers: 2,
        ..ServiceConfig::default()
    };
    let service = Service::start(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .expect("start the service");
    let client = Client::new(service.local_addr());
    (service, client)
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(timeout(), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The query percent-encoded (every byte but letters and digits).
fn sql_path(query: &str) -> String {
    let encoded: String = query
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    format!("/sql?q={encoded}")
}

/// A query answers with its table on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_answers_on_every_backend() {
    for backend in [CpuBackend::Tokio, CpuBackend::Rayon, CpuBackend::Shared] {
        let (service, client) = start(backend).await;
        let path = sql_path("SELECT count(*) AS n, min(day) AS first FROM events");
        let answer = within("the query", client.get(&path)).await.unwrap();
        assert_eq!(answer.status, 200, "{backend}: {}", answer.body);
        assert!(
            answer.body.contains("4000000"),
            "{backend}: {}",
            answer.body
        );
        within("shutdown", service.shutdown()).await;
    }
}

/// A malformed query, an unknown table, a missing `q`: each a 400 with a
/// message that says what is wrong (DataFusion's, for the query).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_are_400s_with_datafusions_message() {
    let (service, client) = start(CpuBackend::Tokio).await;
    for (path, message) in [
        (sql_path("SELEC oops"), "SQL error"),
        (sql_path("SELECT nope FROM events"), "nope"),
        (sql_path("SELECT * FROM missing_table"), "missing_table"),
        ("/sql".to_owned(), "missing `q`"),
        ("/sql?q=".to_owned(), "missing `q`"),
    ] {
        let answer = within("a bad query", client.get(&path)).await.unwrap();
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert!(answer.body.contains(message), "{path}: {}", answer.body);
    }
    within("shutdown", service.shutdown()).await;
}

/// A client that hangs up cancels the query's jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_cancels_the_querys_jobs() {
    let (service, client) = start(CpuBackend::Tokio).await;
    // A join of 4 M rows with the 330 000 of a month on 10 000 keys (about
    // 130 M rows out): far longer than the test, in little memory.
    let path = sql_path(
        "SELECT count(*) FROM events a JOIN events b ON a.user_id = b.user_id WHERE b.day < 30",
    );
    let query = tokio::spawn({
        let client = client.clone();
        async move { client.get(&path).await }
    });
    let counter = |text: &str, name: &str, label: &str| -> u64 {
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    // Its planning job, then at least one partition's job: the query runs.
    within("the query's jobs to start", async {
        loop {
            let text = client.get("/metrics").await.unwrap().body;
            if counter(&text, "executor_jobs_submitted_total", "") >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    query.abort();
    within("the query's jobs to be cancelled", async {
        loop {
            let text = client.get("/metrics").await.unwrap().body;
            let cancelled = counter(&text, "executor_jobs_ended_total", r#"outcome="cancelled""#);
            let running = counter(&text, "executor_jobs_running", "");
            let queued = counter(&text, "executor_jobs_queued", "");
            if cancelled > 0 && running == 0 && queued == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    within("shutdown", service.shutdown()).await;
}

/// Statements that are not queries are refused before anything runs, each
/// with a 400 that says why: no file of the server is read or written, no
/// table or setting changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_are_not_queries_are_refused() {
    let (service, client) = start(CpuBackend::Tokio).await;
    let written = std::env::temp_dir().join(format!("sql-copy-{}.csv", std::process::id()));
    let refused = [
        "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'".to_owned(),
        format!(
            "COPY (SELECT 1 AS x) TO '{}' STORED AS CSV",
            written.display()
        ),
        "SET datafusion.execution.target_partitions = 1000".to_owned(),
        "INSERT INTO events VALUES (1, 2, 3)".to_owned(),
        "DROP TABLE events".to_owned(),
        "CREATE TABLE copied AS SELECT * FROM events".to_owned(),
        "CREATE VIEW v AS SELECT 1".to_owned(),
    ];
    for statement in &refused {
        let answer = within("a refused statement", client.get(&sql_path(statement)))
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{statement}: {}", answer.body);
        assert!(
            answer.body.contains("read-only"),
            "{statement}: {}",
            answer.body
        );
    }
    assert!(!written.exists(), "COPY wrote {}", written.display());
    // Nothing changed: the table is whole, the setting as it was.
    let count = within(
        "a count",
        client.get(&sql_path("SELECT count(*) FROM events")),
    )
    .await
    .unwrap();
    assert!(count.body.contains("4000000"), "{}", count.body);
    let setting = within(
        "the setting",
        client.get(&sql_path(
            "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.target_partitions'",
        )),
    )
    .await
    .unwrap();
    assert_eq!(setting.status, 200, "{}", setting.body);
    assert!(!setting.body.contains("1000"), "{}", setting.body);
    within("shutdown", service.shutdown()).await;
}

/// A result longer than the limit is cut at `MAX_ROWS` rows, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_result_is_cut_and_says_so() {
    let (service, client) = start(CpuBackend::Rayon).await;
    let answer = within("SELECT *", client.get(&sql_path("SELECT * FROM events")))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("(cut: /sql answers at most"),
        "{}",
        answer.body
    );
    // Rows are the table's lines between its frame: `| .. |` lines but the
    // header.
    let rows = answer
        .body
        .lines()
        .filter(|line| line.starts_with('|'))
        .count()
        - 1;
    assert_eq!(rows, demo::sql::MAX_ROWS);
    assert!(answer.body.len() <= demo::sql::MAX_BODY_BYTES + 200);
    // A short result is whole, and says nothing.
    let short = within(
        "a short result",
        client.get(&sql_path("SELECT * FROM events LIMIT 3")),
    )
    .await
    .unwrap();
    assert!(!short.body.contains("(cut:"), "{}", short.body);
    within("shutdown", service.shutdown()).await;
}

/// Queries that must hold more than `/sql`'s memory pool: a cross join
/// whose answer needs every column of both sides (so the side it buffers,
/// whichever, holds 4 M rows of three columns, about 100 MB; with a
/// `LIMIT`, fewer columns or `count(*)` alone, DataFusion pushes the limit
/// down, buffers less, or answers from statistics), and a full sort.
const OVER_THE_POOL: [&str; 2] = [
    "SELECT a.*, b.* FROM events a CROSS JOIN events b WHERE a.user_id > b.amount + 100000",
    "SELECT * FROM events ORDER BY amount, day, user_id",
];

/// The cross join of [`OVER_THE_POOL`].
const CROSS_JOIN: &str = OVER_THE_POOL[0];

/// A query that needs more memory than the pool is a 400 that says so; the
/// service goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_the_memory_limit_is_a_400() {
    for backend in [CpuBackend::Tokio, CpuBackend::Rayon, CpuBackend::Shared] {
        let (service, client) = start(backend).await;
        for query in OVER_THE_POOL {
            let answer = within("a query over the pool", client.get(&sql_path(query)))
                .await
                .unwrap();
            assert_eq!(answer.status, 400, "{backend}, {query}: {}", answer.body);
            assert!(
                answer.body.contains("more memory"),
                "{backend}, {query}: {}",
                answer.body
            );
        }
        let health = within("/health", client.get("/health")).await.unwrap();
        assert_eq!(health.status, 200);
        within("shutdown", service.shutdown()).await;
    }
}

/// Several clients at once, each asking for everything or for a cross
/// join: the process's resident memory stays under a bound, and `/health`
/// answers meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_heavy_queries_stay_within_memory() {
    let (service, client) = start(CpuBackend::Tokio).await;
    let before = resident_bytes();
    let queries: Vec<_> = (0..6)
        .map(|i| {
            let client = client.clone();
            let path = if i % 2 == 0 {
                sql_path("SELECT * FROM events")
            } else {
                sql_path(CROSS_JOIN)
            };
            tokio::spawn(async move { client.get(&path).await })
        })
        .collect();
    let health = within("/health under load", client.get("/health"))
        .await
        .unwrap();
    assert_eq!(health.status, 200);
    let mut peak = resident_bytes();
    for query in queries {
        let answer = within("a heavy query", query).await.unwrap().unwrap();
        assert!(
            answer.status == 200 || answer.status == 400 || answer.status == 503,
            "{}: {}",
            answer.status,
            answer.body
        );
        peak = peak.max(resident_bytes());
    }
    // The table itself is about 100 MB; the pool allows 64 MiB more for all
    // queries; answers are at most 1 MiB each. Allow 200 MiB of growth for
    // the allocator's slack: a whole `SELECT *` answer alone was 4 GB.
    let growth = peak.saturating_sub(before);
    eprintln!("resident memory grew by {} MiB", growth >> 20);
    assert!(
        growth < 200 << 20,
        "resident memory grew by {} MiB",
        growth >> 20
    );
    within("shutdown", service.shutdown()).await;
}

/// The process's resident set, in bytes (`/proc/self/statm`).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages");
    pages * 4096
}
