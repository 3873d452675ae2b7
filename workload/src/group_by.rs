//! Hash group-by aggregation: `SELECT key, sum(value), count(*), min(value),
//! max(value) GROUP BY key`.

use std::collections::HashMap;

use executor_api::{CancelToken, Executor, JobError};

use crate::table::{Chunk, Table, splitmix64};

/// The aggregates of one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// `sum(value)`.
    pub sum: i64,
    /// `count(*)`.
    pub count: u64,
    /// `min(value)`.
    pub min: i64,
    /// `max(value)`.
    pub max: i64,
}

/// A hash group-by aggregation: partial per chunk, merged at the end.
///
/// # Examples
///
/// ```
/// use workload::{GroupBy, Table};
///
/// let table = Table::new(1, 10_000, 1_000).with_cardinality(10);
/// let result = GroupBy::run_serial(&table);
/// assert_eq!(result.groups(), 10);
/// assert_eq!(result.rows(), 10_000);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupBy {
    groups: HashMap<u32, Group>,
}

impl GroupBy {
    /// Aggregates one chunk.
    pub fn aggregate(chunk: &Chunk) -> Self {
        let mut groups: HashMap<u32, Group> = HashMap::new();
        for (&key, &value) in chunk.keys.iter().zip(&chunk.values) {
            groups
                .entry(key)
                .and_modify(|group| {
                    group.sum += value;
                    group.count += 1;
                    group.min = group.min.min(value);
                    group.max = group.max.max(value);
                })
                .or_insert(Group {
                    sum: value,
                    count: 1,
                    min: value,
                    max: value,
                });
        }
        GroupBy { groups }
    }

    /// Merges another partial result into this one.
    pub fn merge(&mut self, other: GroupBy) {
        for (key, theirs) in other.groups {
            self.groups
                .entry(key)
                .and_modify(|ours| {
                    ours.sum += theirs.sum;
                    ours.count += theirs.count;
                    ours.min = ours.min.min(theirs.min);
                    ours.max = ours.max.max(theirs.max);
                })
                .or_insert(theirs);
        }
    }

    /// Aggregates the whole table on the calling thread.
    pub fn run_serial(table: &Table) -> Self {
        let mut result = GroupBy::default();
        for index in 0..table.chunks() {
            result.merge(GroupBy::aggregate(&table.chunk(index)));
        }
        result
    }

    /// Aggregates chunks `range` of the table, stopping early (returning
    /// `None`) once `cancel` is set. Checks the token between chunks.
    pub fn run_chunks(
        table: &Table,
        range: std::ops::Range<usize>,
        cancel: &CancelToken<'_>,
    ) -> Option<Self> {
        let mut result = GroupBy::default();
        for index in range {
            if cancel.is_cancelled() {
                return None;
            }
            result.merge(GroupBy::aggregate(&table.chunk(index)));
        }
        Some(result)
    }

    /// Aggregates the table on `executor`, one CPU job per chunk, and merges
    /// the partial results.
    ///
    /// # Errors
    ///
    /// The first [`JobError`] of any chunk job; the remaining jobs are
    /// cancelled when their handles are dropped.
    pub async fn run_on<E: Executor>(executor: &E, table: &Table) -> Result<Self, JobError> {
        let handles: Vec<_> = (0..table.chunks())
            .map(|index| {
                let table = *table;
                executor.spawn_cpu(move |_| GroupBy::aggregate(&table.chunk(index)))
            })
            .collect();
        let mut result = GroupBy::default();
        for handle in handles {
            result.merge(handle.await?);
        }
        Ok(result)
    }

    /// The number of groups.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// The number of rows aggregated.
    pub fn rows(&self) -> u64 {
        self.groups.values().map(|group| group.count).sum()
    }

    /// The aggregates of `key`, if any row had it.
    pub fn group(&self, key: u32) -> Option<Group> {
        self.groups.get(&key).copied()
    }

    /// A checksum of every group, independent of the order in which chunks
    /// were aggregated and merged.
    pub fn checksum(&self) -> u64 {
        self.groups.iter().fold(0u64, |acc, (&key, group)| {
            let mut h = splitmix64(u64::from(key));
            h = splitmix64(h ^ group.sum as u64);
            h = splitmix64(h ^ group.count);
            h = splitmix64(h ^ group.min as u64);
            h = splitmix64(h ^ group.max as u64);
            acc.wrapping_add(h)
        })
    }
}
