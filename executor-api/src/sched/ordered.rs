//! The choice of the next class for executors with many classes: the same
//! policy as [`ClassTable`]'s scan (least virtual time among the classes
//! with jobs that are within their cap), in `O(log n)` per job.
//!
//! A scan looks at every class for every job: cheap for a handful, but an
//! executor with a class per tenant (thousands) would pay microseconds per
//! job for classes that have nothing queued. Past [`SCAN_LIMIT`] classes,
//! the workers keep the classes that have jobs in two ordered sets instead:
//! `ready`, by virtual time, and `throttled` (capped classes over their
//! budget), by the time their budget returns.
//!
//! # Who touches what
//!
//! Submitters never take the lock (a submitter on the I/O runtime must not
//! wait for a low-priority worker). Each class counts its queued jobs; the
//! submitter that takes a class's count from 0 to 1 announces the class on
//! a lock-free queue (`activated`). Workers, under the lock, move announced
//! classes into the sets, and take a class out when the job they pop was
//! its last (its count goes from 1 to 0). A class is announced once per
//! such transition, so it is in a set exactly while it has jobs, give or
//! take announcements not yet read (a pop reads them all first).
//!
//! # Keys that go stale
//!
//! Virtual times and caps' arrival times change after every poll, outside
//! the lock ([`ClassTable::charge`]). Both only grow, so a class's key in a
//! set is at most its true key: a worker that finds the first class's key
//! stale puts it back under its true key and looks again. Each poll makes
//! one key stale, so the extra work is one `O(log n)` move per poll.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

use crate::sched::classes::{ClassIndex, ClassTable};
use crate::sync::{AtomicUsize, Mutex, Queue, lock};

/// Up to this many classes, a worker scans them all for each job (no lock,
/// at most this many looks); past it, it uses the ordered sets.
pub(crate) const SCAN_LIMIT: usize = 64;

/// Virtual times are compared as distances from `base`, which is moved up
/// (and every key rebuilt) once the floor is this far past it: virtual
/// times wrap after about 2^64 scaled nanoseconds.
const REBASE_AFTER: u64 = 1 << 62;

/// Where a class is in the sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// No job (or its announcement not read yet).
    Out,
    /// Runnable, under this key (virtual time less `base`).
    Ready(u64),
    /// Over its cap's budget until this time (nanoseconds since the
    /// table's epoch).
    Throttled(u64),
}

#[derive(Debug)]
struct Sets {
    base: u64,
    ready: BTreeSet<(u64, u32)>,
    throttled: BTreeSet<(u64, u32)>,
    place: Vec<Place>,
}

/// What [`Ordered::choose`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// The class whose oldest job runs next.
    Class(usize),
    /// No class has a job.
    Empty,
    /// Only capped classes over their budget have jobs; the first may start
    /// at this time (nanoseconds since the table's epoch).
    Throttled(u64),
}

/// The ordered sets of one executor's classes, and their queued counts.
pub(crate) struct Ordered {
    /// Jobs queued per class, for the 0 → 1 and 1 → 0 transitions.
    queued: Box<[AtomicUsize]>,
    /// Classes whose count went from 0 to 1, not yet in a set.
    activated: Queue<u32>,
    sets: Mutex<Sets>,
}

impl std::fmt::Debug for Ordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered")
            .field("classes", &self.queued.len())
            .finish_non_exhaustive()
    }
}

impl Ordered {
    pub(crate) fn new(classes: usize) -> Self {
        Ordered {
            queued: (0..classes).map(|_| AtomicUsize::new(0)).collect(),
            activated: Queue::new(),
            sets: Mutex::new(Sets {
                base: 0,
                ready: BTreeSet::new(),
                throttled: BTreeSet::new(),
                place: vec![Place::Out; classes],
            }),
        }
    }

    /// A job of class `index` was pushed (after the push).
    pub(crate) fn pushed(&self, index: ClassIndex) {
        if self.queued[index.get()].fetch_add(1, AcqRel) == 0 {
            self.activated.push(index.0);
        }
    }

    /// Chooses a class with [`choose`](Self::choose) and pops its job with
    /// `pop`, under the lock, so that a class leaves the sets exactly when
    /// its last job is popped. `pop` returns `None` if a drain (the
    /// executor stops) emptied the class's queue, whose count the drain
    /// corrects (the class then leaves the sets), or for a moment while a
    /// push is between its halves; the choice is then made again.
    pub(crate) fn pop_with<T>(
        &self,
        table: &ClassTable,
        caps_lifted: bool,
        mut pop: impl FnMut(usize) -> Option<T>,
    ) -> Result<T, Choice> {
        let mut sets = lock(&self.sets);
        loop {
            match self.choose_locked(&mut sets, table, caps_lifted, true) {
                Choice::Class(index) => match pop(index) {
                    Some(job) => {
                        if self.queued[index].fetch_sub(1, AcqRel) == 1 {
                            sets.take_out(index);
                        }
                        return Ok(job);
                    }
                    // A drain (the executor stops) took its jobs outside the
                    // lock, and corrects its count: the class leaves. Or a
                    // push is between its halves (a group's first job
                    // counted, not yet announced; see `sched::group_queue`):
                    // the class keeps its place, and the job lands in a
                    // moment.
                    None if self.queued[index].load(Acquire) == 0 => sets.take_out(index),
                    None => crate::sync::spin_wait(),
                },
                other => return Err(other),
            }
        }
    }

    /// What [`pop_with`](Self::pop_with) would choose now, without raising
    /// the floor.
    pub(crate) fn peek(&self, table: &ClassTable, caps_lifted: bool) -> Choice {
        let mut sets = lock(&self.sets);
        self.choose_locked(&mut sets, table, caps_lifted, false)
    }

    /// A job of class `index` was taken by a drain (the executor stops).
    pub(crate) fn drained(&self, index: usize) {
        let _ = self.queued[index].fetch_update(AcqRel, Acquire, |queued| queued.checked_sub(1));
    }

    fn choose_locked(
        &self,
        sets: &mut Sets,
        table: &ClassTable,
        caps_lifted: bool,
        commit: bool,
    ) -> Choice {
        while let Some(index) = self.activated.pop() {
            let index = index as usize;
            if sets.place[index] == Place::Out {
                let key = sets.key(table, index);
                sets.insert(index, Place::Ready(key));
            }
        }
        if table.floor().wrapping_sub(sets.base) > REBASE_AFTER {
            sets.rebase(table);
        }
        let now = if table.is_capped() && !caps_lifted {
            table.nanos(std::time::Instant::now())
        } else {
            0
        };
        // Classes whose budget has returned (all of them, once the caps
        // are lifted) become ready again.
        while let Some(&(until, index)) = sets.throttled.first() {
            let index = index as usize;
            let tat = table.tat(index);
            if !caps_lifted && tat > now {
                if tat != until {
                    // Charged since: its budget returns later.
                    sets.insert(index, Place::Throttled(tat));
                    continue;
                }
                break;
            }
            let key = sets.key(table, index);
            sets.insert(index, Place::Ready(key));
        }
        loop {
            let Some(&(key, index)) = sets.ready.first() else {
                return match sets.throttled.first() {
                    Some(&(until, _)) => Choice::Throttled(until),
                    None => Choice::Empty,
                };
            };
            let index = index as usize;
            let current = sets.key(table, index);
            if current != key {
                sets.insert(index, Place::Ready(current));
                continue;
            }
            if table.is_class_capped(index) && !caps_lifted {
                let tat = table.tat(index);
                if tat > now {
                    sets.insert(index, Place::Throttled(tat));
                    continue;
                }
            }
            if commit {
                table.raise_floor(index);
            }
            return Choice::Class(index);
        }
    }
}

impl Sets {
    /// Class `index`'s key in `ready`: its virtual time, no further behind
    /// than the floor, as a distance from `base`.
    fn key(&self, table: &ClassTable, index: usize) -> u64 {
        table.effective_virtual_time(index).wrapping_sub(self.base)
    }

    /// Moves class `index` to `place`, out of wherever it was.
    fn insert(&mut self, index: usize, place: Place) {
        self.take_out(index);
        match place {
            Place::Out => {}
            Place::Ready(key) => {
                self.ready.insert((key, index as u32));
            }
            Place::Throttled(until) => {
                self.throttled.insert((until, index as u32));
            }
        }
        self.place[index] = place;
    }

    fn take_out(&mut self, index: usize) {
        match std::mem::replace(&mut self.place[index], Place::Out) {
            Place::Out => {}
            Place::Ready(key) => {
                self.ready.remove(&(key, index as u32));
            }
            Place::Throttled(until) => {
                self.throttled.remove(&(until, index as u32));
            }
        }
    }

    /// Moves `base` up to the floor and rebuilds every key.
    fn rebase(&mut self, table: &ClassTable) {
        self.base = table.floor();
        let ready: Vec<u32> = self.ready.iter().map(|&(_, index)| index).collect();
        for index in ready {
            let key = self.key(table, index as usize);
            self.insert(index as usize, Place::Ready(key));
        }
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use crate::WorkloadClass;
    use crate::config::settings::PoolConfig;
    use crate::lifecycle::core::ExecutorCore;
    use crate::sched::classes::ClassIndex;
    use crate::sched::queues::{ClassQueues, Placement, Pop};

    use super::SCAN_LIMIT;

    /// An executor's core with `classes` (the default class first).
    fn core(classes: Vec<WorkloadClass>) -> ExecutorCore {
        let mut config = PoolConfig::new("ordered");
        config.classes = classes;
        ExecutorCore::from_config(&config.validate().expect("valid classes"))
    }

    fn many(count: usize) -> Vec<WorkloadClass> {
        (0..count)
            .map(|index| WorkloadClass::new(format!("c{index}")))
            .collect()
    }

    /// Past the scan limit, busy classes still share time by weight: a
    /// class of weight 4 runs four times as long as each of a hundred
    /// classes of weight 1.
    #[test]
    fn many_busy_classes_share_time_by_weight() {
        let mut classes = many(100);
        classes.push(WorkloadClass::new("heavy").weight(4));
        let core = core(classes);
        let table = core.classes();
        assert!(table.len() > SCAN_LIMIT);
        let heavy = table.lookup("heavy").expect("the heavy class");
        let queues = ClassQueues::new(&core);
        for index in 0..table.len() {
            queues.push(&Placement::ungrouped(ClassIndex(index as u32)), index);
        }
        let mut used = vec![0_u64; table.len()];
        let mut clock = 0;
        for _ in 0..100_000 {
            let Pop::Job(index) = queues.pop() else {
                panic!("every class has a job");
            };
            clock += 1_000;
            table.charge(ClassIndex(index as u32), 1_000, clock);
            used[index] += 1_000;
            queues.push(&Placement::ungrouped(ClassIndex(index as u32)), index);
        }
        let light = used[1] as f64;
        let ratio = used[heavy.get()] as f64 / light;
        assert!((ratio - 4.0).abs() < 0.1, "heavy/light {ratio}");
        let spread = used[1..101].iter().max().unwrap() - used[1..101].iter().min().unwrap();
        assert!(spread <= 2_000, "light classes unequal by {spread} ns");
    }

    /// A class that runs out of jobs leaves the sets, comes back with its
    /// next job, and each class's jobs come out in their order.
    #[test]
    fn classes_leave_and_come_back_in_order() {
        let core = core(many(100));
        let queues = ClassQueues::new(&core);
        assert!(matches!(queues.pop(), Pop::Empty));
        assert_eq!(queues.next_start(), None);
        for job in 0..3 {
            queues.push(&Placement::ungrouped(ClassIndex(7)), job);
        }
        for job in 0..3 {
            assert!(matches!(queues.pop(), Pop::Job(popped) if popped == job));
        }
        assert!(matches!(queues.pop(), Pop::Empty));
        queues.push(&Placement::ungrouped(ClassIndex(42)), 9);
        assert!(queues.has_runnable());
        assert!(matches!(queues.pop(), Pop::Job(9)));
        assert!(matches!(queues.pop(), Pop::Empty));
        queues.push(&Placement::ungrouped(ClassIndex(3)), 1);
        assert_eq!(queues.drain().collect::<Vec<_>>(), vec![1]);
    }

    /// Past the scan limit, a capped class over its budget waits while the
    /// others run, is reported throttled when it alone has jobs, and runs
    /// once the caps are lifted.
    #[test]
    fn a_capped_class_among_many_waits_for_its_budget() {
        let mut classes = many(100);
        classes.push(
            WorkloadClass::new("capped")
                .cap(0.5)
                .cap_window(Duration::from_millis(1)),
        );
        let core = core(classes);
        let table = core.classes();
        let capped = table.lookup("capped").expect("the capped class");
        let queues = ClassQueues::new(&core);
        // 2 ms of poll at half a core: about 4 ms over budget.
        table.charge(capped, 2_000_000, table.nanos(Instant::now()) + 2_000_000);
        queues.push(&Placement::ungrouped(capped), 1);
        queues.push(&Placement::ungrouped(ClassIndex(5)), 2);
        assert!(matches!(queues.pop(), Pop::Job(2)));
        match queues.pop() {
            Pop::Throttled(until) => assert!(until > Instant::now()),
            other => panic!("not throttled: {other:?}"),
        }
        assert!(!queues.has_runnable());
        core.shutdown_now();
        assert!(matches!(queues.pop(), Pop::Job(1)));
    }
}
