//! A small HTTP/1 client (hyper-util's pooled client) for the load mode and
//! the tests: a real client over real sockets.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A response: status, `Retry-After` if any, and the body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, if sent.
    pub retry_after: Option<String>,
    /// The body.
    pub body: String,
}

/// An HTTP client for one service, reusing connections.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    inner: HyperClient<HttpConnector, Empty<Bytes>>,
}

impl Client {
    /// A client for the service at `addr`. Must be called inside a Tokio
    /// runtime.
    pub fn new(addr: SocketAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let inner = HyperClient::builder(TokioExecutor::new())
            // Under the service's header read timeout (10 s by default),
            // which also closes connections idle that long: a request on a
            // pooled connection the server is closing would fail.
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Client { addr, inner }
    }

    /// `GET path_and_query`, reading the whole body.
    ///
    /// # Errors
    ///
    /// A connection or protocol error, as text.
    pub async fn get(&self, path_and_query: &str) -> Result<Answer, String> {
        let uri: hyper::Uri = format!("http://{}{path_and_query}", self.addr)
            .parse()
            .map_err(|err| format!("bad URI {path_and_query:?}: {err}"))?;
        let response = self
            .inner
            .get(uri)
            .await
            .map_err(|err| format!("GET {path_and_query}: {err}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("reading the body of {path_and_query}: {err}"))?
            .to_bytes();
        Ok(Answer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}
