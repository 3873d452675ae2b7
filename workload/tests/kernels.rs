//! Every kernel gives the serial result on both backends, chunk by chunk and
//! as a yielding job.

use executor_api::Executor;
use executor_rayon::RayonExecutor;
use executor_tokio::DedicatedExecutor;
use testkit::support::block_on_within;
use workload::{Kernel, Table, decode_values, encode_values};

fn wait<F>(future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    block_on_within("a kernel", future)
}

fn table(kernel: Kernel) -> Table {
    Table::new(
        99,
        kernel.default_chunk_rows() * 3 / 2,
        kernel.default_chunk_rows() / 4,
    )
}

/// Chunked on each backend, and as one yielding job, every kernel matches
/// its serial digest.
#[test]
fn kernels_agree_with_serial_on_every_backend() {
    let tokio = DedicatedExecutor::builder()
        .name("kt")
        .worker_threads(2)
        .build()
        .unwrap();
    let rayon = RayonExecutor::builder()
        .name("kr")
        .worker_threads(2)
        .build()
        .unwrap();
    for kernel in Kernel::ALL {
        let table = table(kernel);
        let serial = kernel.run_serial(&table);
        let on_tokio = {
            let tokio = tokio.clone();
            wait(async move { kernel.run_on(&tokio, &table).await })
        };
        let on_rayon = {
            let rayon = rayon.clone();
            wait(async move { kernel.run_on(&rayon, &table).await })
        };
        let yielding = wait(tokio.spawn(kernel.run_yielding(table, 0..table.chunks())));
        assert_eq!(on_tokio, Ok(serial), "{kernel} on Tokio");
        assert_eq!(on_rayon, Ok(serial), "{kernel} on Rayon");
        assert_eq!(yielding, Ok(serial), "{kernel} as a yielding job");
    }
    tokio.shutdown();
    rayon.shutdown();
    wait(tokio.join());
    wait(rayon.join());
}

/// Different tables give different digests: the digest depends on the data.
#[test]
fn digests_depend_on_the_data() {
    for kernel in Kernel::ALL {
        let a = kernel.run_serial(&Table::new(1, 10_000, 1_000));
        let b = kernel.run_serial(&Table::new(2, 10_000, 1_000));
        assert_ne!(a, b, "{kernel}");
    }
}

/// The encoding round-trips.
#[test]
fn encoding_round_trips() {
    let chunk = Table::new(5, 10_000, 10_000).chunk(0);
    let mut values = chunk.values.clone();
    values.extend([i64::MIN, i64::MAX, 0, -1, 1]);
    assert_eq!(decode_values(&encode_values(&values)), values);
}

/// Kernel names parse, and an unknown one says which are known.
#[test]
fn kernel_names_parse() {
    for kernel in Kernel::ALL {
        assert_eq!(kernel.name().parse::<Kernel>(), Ok(kernel));
    }
    let err = "median".parse::<Kernel>().unwrap_err().to_string();
    assert!(err.contains("median") && err.contains("group_by"), "{err}");
}
