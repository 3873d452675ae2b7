//! Logging, and tokio-console on request.

use std::net::SocketAddr;

pub use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// The default address of the console server: tokio-console's default.
pub const DEFAULT_CONSOLE_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6669);

/// Installs the global subscriber: log lines at `level` and above on
/// stderr and, with `console`, a console-subscriber server on that address that
/// `tokio-console http://<addr>` connects to. The server runs on a thread
/// of its own.
///
/// Tokio's task spans exist only in builds with `--cfg tokio_unstable`:
/// `cargo xtask demo --console` builds the demo so (the binary refuses
/// `--console` otherwise).
///
/// # Errors
///
/// When a global subscriber is already installed.
pub fn init(
    level: LevelFilter,
    console: Option<SocketAddr>,
) -> Result<(), tracing_subscriber::util::TryInitError> {
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(level);
    let console = console.map(|addr| {
        console_subscriber::ConsoleLayer::builder()
            .server_addr(addr)
            .spawn()
    });
    tracing_subscriber::registry()
        .with(console)
        .with(log)
        .try_init()
}
