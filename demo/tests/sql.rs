//! `/sql` (the `datafusion` feature): answers on every backend, bad
//! queries are 400s with DataFusion's message, and a client that hangs up
//! cancels the query's jobs.
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

/// Spaces as `%20`: the queries here have no other character to escape.
fn sql_path(query: &str) -> String {
    format!("/sql?q={}", query.replace(' ', "%20"))
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
    // A self-join of 4 M rows on 10 000 keys: far longer than the test.
    let path = sql_path("SELECT count(*) FROM events a JOIN events b ON a.user_id = b.user_id");
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
