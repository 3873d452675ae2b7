//! Deterministic generated tables of `(key, value)` rows.

/// A generated table: `rows` rows of `(key: u32, value: i64)`, cut into
/// chunks of `chunk_rows` rows.
///
/// # Examples
///
/// ```
/// let table = workload::Table::new(7, 1_000, 300);
/// assert_eq!(table.chunks(), 4);
/// assert_eq!(table.chunk(3).len(), 100);
/// assert_eq!(table.chunk(0).keys, workload::Table::new(7, 1_000, 300).chunk(0).keys);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    seed: u64,
    rows: usize,
    chunk_rows: usize,
    cardinality: u32,
}

/// One chunk of a [`Table`]: columns of keys and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The group keys, in `0..cardinality`.
    pub keys: Vec<u32>,
    /// The values to aggregate.
    pub values: Vec<i64>,
}

impl Chunk {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the chunk has no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The number of distinct keys unless [`Table::with_cardinality`] says
/// otherwise.
pub const DEFAULT_CARDINALITY: u32 = 4_096;

impl Table {
    /// A table of `rows` rows from `seed`, in chunks of `chunk_rows` rows.
    ///
    /// # Panics
    ///
    /// If `chunk_rows` is 0.
    pub fn new(seed: u64, rows: usize, chunk_rows: usize) -> Self {
        assert!(chunk_rows > 0, "a chunk must hold at least one row");
        Table {
            seed,
            rows,
            chunk_rows,
            cardinality: DEFAULT_CARDINALITY,
        }
    }

    /// The same table with keys in `0..cardinality`.
    ///
    /// # Panics
    ///
    /// If `cardinality` is 0.
    pub fn with_cardinality(mut self, cardinality: u32) -> Self {
        assert!(cardinality > 0, "a table needs at least one key");
        self.cardinality = cardinality;
        self
    }

    /// The total number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The number of chunks.
    pub fn chunks(&self) -> usize {
        self.rows.div_ceil(self.chunk_rows)
    }

    /// Generates chunk `index` (0-based); the last chunk may be shorter.
    ///
    /// # Panics
    ///
    /// If `index >= self.chunks()`.
    pub fn chunk(&self, index: usize) -> Chunk {
        assert!(index < self.chunks(), "chunk {index} out of range");
        let start = index * self.chunk_rows;
        let len = self.chunk_rows.min(self.rows - start);
        let mut state = splitmix64(self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut keys = Vec::with_capacity(len);
        let mut values = Vec::with_capacity(len);
        for _ in 0..len {
            state = splitmix64(state);
            keys.push((state >> 32) as u32 % self.cardinality);
            // Values in -1_000_000..1_000_000: sums of a chunk never overflow.
            values.push((state as u32 % 2_000_000) as i64 - 1_000_000);
        }
        Chunk { keys, values }
    }
}

/// One step of SplitMix64: a fast, well-mixed, deterministic generator.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
