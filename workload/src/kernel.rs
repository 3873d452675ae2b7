//! The kernels as one type, so that benchmarks, tests and the demo can pick
//! them by name and run them chunk by chunk, serially or on any executor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use executor_api::{Executor, JobError};

use crate::group_by::GroupBy;
use crate::table::{Chunk, Table, splitmix64};

/// A CPU kernel of an analytics engine, applied to one chunk at a time.
///
/// Every kernel reduces a chunk to a 64-bit digest; a table's result is the
/// wrapping sum of its chunks' digests, so it does not depend on the order
/// in which chunks ran. The same table gives the same result serially and
/// on every executor.
///
/// # Examples
///
/// ```
/// use workload::{Kernel, Table};
///
/// let kernel: Kernel = "sort".parse()?;
/// let table = Table::new(3, 50_000, kernel.default_chunk_rows() / 10);
/// let serial = kernel.run_serial(&table);
/// let reversed = (0..table.chunks())
///     .rev()
///     .map(|index| kernel.run_chunk(&table.chunk(index)))
///     .fold(0, Kernel::combine);
/// assert_eq!(serial, reversed);
/// # Ok::<(), workload::UnknownKernel>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Hash group-by aggregation (sum, count, min, max per key).
    GroupBy,
    /// Sorting the chunk's values.
    Sort,
    /// Delta + zig-zag + LEB128 varint encoding of the chunk's values.
    Encode,
    /// A hash over every row.
    Checksum,
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 4] = [
        Kernel::GroupBy,
        Kernel::Sort,
        Kernel::Encode,
        Kernel::Checksum,
    ];

    /// The kernel's name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Kernel::GroupBy => "group_by",
            Kernel::Sort => "sort",
            Kernel::Encode => "encode",
            Kernel::Checksum => "checksum",
        }
    }

    /// Rows per chunk that take a few milliseconds on a 2020s server core
    /// (1 to 10 ms on the development machine, see the benchmark report).
    pub fn default_chunk_rows(self) -> usize {
        match self {
            Kernel::GroupBy => 100_000,
            Kernel::Sort => 100_000,
            Kernel::Encode => 200_000,
            Kernel::Checksum => 500_000,
        }
    }

    /// Applies the kernel to one chunk and returns its digest.
    pub fn run_chunk(self, chunk: &Chunk) -> u64 {
        match self {
            Kernel::GroupBy => GroupBy::aggregate(chunk).checksum(),
            Kernel::Sort => {
                let mut values = chunk.values.clone();
                values.sort_unstable();
                values
                    .iter()
                    .fold(values.len() as u64, |acc, &v| splitmix64(acc ^ v as u64))
            }
            Kernel::Encode => {
                let bytes = encode_values(&chunk.values);
                bytes.chunks(8).fold(bytes.len() as u64, |acc, word| {
                    let mut padded = [0u8; 8];
                    padded[..word.len()].copy_from_slice(word);
                    splitmix64(acc ^ u64::from_le_bytes(padded))
                })
            }
            Kernel::Checksum => {
                chunk
                    .keys
                    .iter()
                    .zip(&chunk.values)
                    .fold(0u64, |acc, (&key, &value)| {
                        (acc.rotate_left(5) ^ u64::from(key)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                            ^ value as u64
                    })
            }
        }
    }

    /// Combines two digests (order-independent).
    pub fn combine(a: u64, b: u64) -> u64 {
        a.wrapping_add(b)
    }

    /// Applies the kernel to every chunk of `table` on the calling thread.
    pub fn run_serial(self, table: &Table) -> u64 {
        (0..table.chunks())
            .map(|index| self.run_chunk(&table.chunk(index)))
            .fold(0, Kernel::combine)
    }

    /// Applies the kernel to chunks `range` of `table` as one async job
    /// that yields after every chunk, so that the executor can run other
    /// jobs (and observe a cancel) between chunks.
    pub async fn run_yielding(self, table: Table, range: std::ops::Range<usize>) -> u64 {
        let mut digest = 0;
        for index in range {
            digest = Kernel::combine(digest, self.run_chunk(&table.chunk(index)));
            yield_now().await;
        }
        digest
    }

    /// Runs one CPU job per chunk of `table` on `executor` and combines
    /// their digests.
    ///
    /// # Errors
    ///
    /// The first chunk's [`JobError`]; the other jobs are cancelled when
    /// their handles drop.
    pub async fn run_on<E: Executor>(self, executor: &E, table: &Table) -> Result<u64, JobError> {
        let handles: Vec<_> = (0..table.chunks())
            .map(|index| {
                let table = *table;
                executor.spawn_cpu(move |_| self.run_chunk(&table.chunk(index)))
            })
            .collect();
        let mut digest = 0;
        for handle in handles {
            digest = Kernel::combine(digest, handle.await?);
        }
        Ok(digest)
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kernel name that [`Kernel::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKernel(pub String);

impl fmt::Display for UnknownKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Kernel::ALL.iter().map(|kernel| kernel.name()).collect();
        write!(
            f,
            "unknown kernel {:?}; use one of: {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownKernel {}

impl FromStr for Kernel {
    type Err = UnknownKernel;

    fn from_str(name: &str) -> Result<Self, UnknownKernel> {
        Kernel::ALL
            .into_iter()
            .find(|kernel| kernel.name() == name)
            .ok_or_else(|| UnknownKernel(name.to_owned()))
    }
}

/// Encodes `values` as deltas, zig-zag mapped, in LEB128 varints.
pub fn encode_values(values: &[i64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * 3);
    let mut previous = 0i64;
    for &value in values {
        let delta = value.wrapping_sub(previous);
        previous = value;
        let mut zigzag = ((delta << 1) ^ (delta >> 63)) as u64;
        loop {
            let byte = (zigzag & 0x7F) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                bytes.push(byte);
                break;
            }
            bytes.push(byte | 0x80);
        }
    }
    bytes
}

/// Decodes what [`encode_values`] produced.
///
/// # Panics
///
/// If `bytes` ends inside a varint.
pub fn decode_values(bytes: &[u8]) -> Vec<i64> {
    let mut values = Vec::new();
    let mut previous = 0i64;
    let mut iter = bytes.iter();
    while let Some(&first) = iter.next() {
        let mut zigzag = u64::from(first & 0x7F);
        let mut shift = 7;
        let mut byte = first;
        while byte & 0x80 != 0 {
            byte = *iter.next().expect("a varint ends before the input does");
            zigzag |= u64::from(byte & 0x7F) << shift;
            shift += 7;
        }
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        previous = previous.wrapping_add(delta);
        values.push(previous);
    }
    values
}

/// Yields once to the executor: the future is pending once, waking itself
/// at once. Runtime-agnostic (unlike `tokio::task::yield_now`, which defers
/// the wake-up to the Tokio runtime it finds).
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
