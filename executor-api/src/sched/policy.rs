//! The scheduling policy: which class's job runs next, and what each poll
//! costs its class. A new policy is a new version of this file.
//!
//! # Sharing by weight
//!
//! Each class has a *virtual time*: the worker time its jobs' polls took,
//! divided by its weight. A worker that looks for a job takes the oldest
//! job of the runnable class whose virtual time is smallest, so a class of
//! weight 4 runs four times as long as one of weight 1 before it falls
//! behind it: start-time fair queueing, charged in measured time after each
//! poll.
//!
//! A class that was idle must not come back with a virtual time far behind
//! the others (it would then have the pool to itself until it caught up).
//! The table keeps a *floor*, the virtual time of the last class chosen,
//! which only grows, and a class never counts as further behind than the
//! floor. Only workers write the virtual times and the floor, and no
//! decision depends on them being exact: workers racing to choose may both
//! take the same class, and the charge after their polls evens it out.
//!
//! # Caps
//!
//! A capped class has a *theoretical arrival time* (`tat`, the generic cell
//! rate algorithm): each poll pushes it forward by its length divided by
//! the cap in cores, starting from no earlier than `now - window`. The
//! class may start a job while `tat <= now`, so it uses `cores` on
//! average and at most `cores × window` in a burst, plus the polls that
//! workers started while it still had budget (each worker may start one);
//! a job that arrives while it is over its budget waits until `tat`. An immediate
//! shutdown lifts the caps, so that queued jobs reach a worker and end
//! cancelled at once.
//!
//!
//! A bounded class counts its *waiting* jobs (admitted, not yet started or
//! ended) and admits a job only while the count is below the bound.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::Instant;

use crate::sched::classes::{ClassIndex, ClassTable, stripe};

/// Virtual time is worker nanoseconds × this / weight: room for weights up
/// to 10 000 without rounding short polls to nothing.
const VIRTUAL_SCALE: u64 = 1 << 10;

/// How far virtual time `time` is ahead of `floor` (0 if behind it), on a
/// clock that wraps: differences below 2^63 are ahead, others behind.
pub(super) fn ahead_of(time: u64, floor: u64) -> u64 {
    let ahead = time.wrapping_sub(floor);
    if ahead > u64::MAX / 2 { 0 } else { ahead }
}

/// What the scheduler chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pick {
    Class(usize),
    /// No class has a runnable job.
    Empty,
    /// Only capped classes have jobs, and none may start one before this
    /// time (nanoseconds since the epoch).
    Throttled(u64),
}

impl ClassTable {
    /// Class `index`'s virtual time, no further behind than the floor.
    pub(crate) fn effective_virtual_time(&self, index: usize) -> u64 {
        let floor = self.floor.load(Relaxed);
        floor.wrapping_add(ahead_of(
            self.classes[index].virtual_time.load(Relaxed),
            floor,
        ))
    }

    /// Class `index` was chosen: raise the floor to its virtual time, unless
    /// another worker raised it further meanwhile.
    pub(crate) fn raise_floor(&self, index: usize) {
        let chosen = self.effective_virtual_time(index);
        let _ = self.floor.fetch_update(Relaxed, Relaxed, |current| {
            (ahead_of(chosen, current) > 0).then_some(chosen)
        });
    }

    /// Chooses the class whose oldest job runs next (see the module docs):
    /// `has_jobs(index)` tells whether class `index` has a job queued.
    pub(super) fn pick(&self, has_jobs: impl Fn(usize) -> bool, caps_lifted: bool) -> Pick {
        self.choose(has_jobs, caps_lifted, true)
    }

    /// What [`pick`](Self::pick) would choose, without raising the floor.
    pub(super) fn pick_without_choosing(
        &self,
        has_jobs: impl Fn(usize) -> bool,
        caps_lifted: bool,
    ) -> Pick {
        self.choose(has_jobs, caps_lifted, false)
    }

    fn choose(&self, has_jobs: impl Fn(usize) -> bool, caps_lifted: bool, commit: bool) -> Pick {
        let now = if self.capped && !caps_lifted {
            self.nanos(Instant::now())
        } else {
            0
        };
        let floor = self.floor.load(Relaxed);
        // Virtual times only grow, and wrap: compared as distances from the
        // floor, which stay far below 2^63.
        let mut best: Option<(usize, u64)> = None;
        let mut throttled_until: Option<u64> = None;
        for (index, class) in self.classes.iter().enumerate() {
            if !has_jobs(index) {
                continue;
            }
            if class.cap.is_some() && !caps_lifted {
                let tat = class.tat.load(Acquire);
                if tat > now {
                    throttled_until = Some(throttled_until.map_or(tat, |until| until.min(tat)));
                    continue;
                }
            }
            let ahead = ahead_of(class.virtual_time.load(Relaxed), floor);
            if best.is_none_or(|(_, least)| ahead < least) {
                best = Some((index, ahead));
            }
        }
        match (best, throttled_until) {
            (Some((index, ahead)), _) => {
                if commit && ahead > 0 {
                    // Raise the floor to the chosen class's virtual time,
                    // unless another worker raised it further meanwhile.
                    let chosen = floor.wrapping_add(ahead);
                    let _ = self.floor.fetch_update(Relaxed, Relaxed, |current| {
                        (ahead_of(chosen, current) > 0).then_some(chosen)
                    });
                }
                Pick::Class(index)
            }
            (None, Some(until)) => Pick::Throttled(until),
            (None, None) => Pick::Empty,
        }
    }

    /// Charges class `index` for a poll that ended at `end` (nanoseconds
    /// since the epoch) and ran `ns` (see `sched::cpu_time`): its worker
    /// time, its poll-time histogram, its virtual time and its cap.
    pub(crate) fn charge(&self, index: ClassIndex, ns: u64, end: u64) {
        let class = self.class(index);
        class.stats[stripe()].poll_time.record(ns);
        if self.classes.len() > 1 {
            let floor = self.floor.load(Relaxed);
            let advance = ns.saturating_mul(VIRTUAL_SCALE) / u64::from(class.weight);
            let _ = class
                .virtual_time
                .fetch_update(Relaxed, Relaxed, |virtual_time| {
                    let from = floor.wrapping_add(ahead_of(virtual_time, floor));
                    Some(from.wrapping_add(advance))
                });
        }
        if let Some(cap) = &class.cap {
            let cost = (ns as f64 / cap.cores) as u64;
            let _ = class.tat.fetch_update(AcqRel, Acquire, |tat| {
                Some(
                    tat.max(end.saturating_sub(cap.window_ns))
                        .saturating_add(cost),
                )
            });
        }
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Overload;
    use crate::sched::class::WorkloadClass;

    fn table(classes: &[WorkloadClass]) -> ClassTable {
        ClassTable::new(classes)
    }

    /// With two classes always runnable, charging what each choice ran
    /// for gives each class time in proportion to its weight, in time,
    /// not in job counts.
    #[test]
    fn busy_classes_share_time_by_weight() {
        let table = table(&[
            WorkloadClass::new("default").weight(4),
            WorkloadClass::new("background").weight(1),
        ]);
        // The background class's jobs are ten times longer.
        let lengths = [100_u64, 1_000];
        let mut used = [0_u64; 2];
        let mut clock = 0;
        for _ in 0..10_000 {
            let Pick::Class(index) = table.pick(|_| true, false) else {
                panic!("both classes are runnable");
            };
            table.charge(
                ClassIndex(index as u32),
                lengths[index],
                clock + lengths[index],
            );
            clock += lengths[index];
            used[index] += lengths[index];
        }
        let share = used[0] as f64 / (used[0] + used[1]) as f64;
        assert!((share - 0.8).abs() < 0.01, "share {share}");
    }

    /// A class that was idle does not come back with credit for the time it
    /// did not use: it shares from then on.
    #[test]
    fn an_idle_class_banks_no_time() {
        let table = table(&[WorkloadClass::new("a"), WorkloadClass::new("b")]);
        let mut clock = 0;
        for _ in 0..1_000 {
            assert_eq!(table.pick(|index| index == 0, false), Pick::Class(0));
            table.charge(ClassIndex(0), 1_000, clock + 1_000);
            clock += 1_000;
        }
        let mut picks = [0; 2];
        for _ in 0..100 {
            let Pick::Class(index) = table.pick(|_| true, false) else {
                panic!("both classes are runnable");
            };
            picks[index] += 1;
            table.charge(ClassIndex(index as u32), 1_000, clock + 1_000);
            clock += 1_000;
        }
        assert!(picks[0] >= 49 && picks[1] >= 49, "{picks:?}");
    }

    /// A capped class alone is throttled after its burst, until its budget
    /// allows the next poll; an immediate shutdown lifts the cap.
    #[test]
    fn a_capped_class_waits_for_its_budget() {
        let table = table(&[WorkloadClass::new("capped")
            .cap(0.5)
            .cap_window(Duration::from_millis(1))]);
        let now = table.nanos(Instant::now());
        // A burst of 0.5 × 1 ms, then 2 ms of poll: 4 ms of debt at half a
        // core.
        table.charge(ClassIndex(0), 2_000_000, now + 2_000_000);
        match table.pick(|_| true, false) {
            Pick::Throttled(until) => assert!(until > now + 3_000_000, "{until} vs {now}"),
            other => panic!("not throttled: {other:?}"),
        }
        assert_eq!(table.pick(|_| true, true), Pick::Class(0));
        assert_eq!(table.pick(|_| false, false), Pick::Empty);
    }

    /// Virtual times wrap: shares hold across the wrap of the clock.
    #[test]
    fn shares_hold_when_virtual_time_wraps() {
        let table = table(&[
            WorkloadClass::new("default").weight(4),
            WorkloadClass::new("background").weight(1),
        ]);
        let start = u64::MAX - 1_000_000;
        table.floor.store(start, Relaxed);
        for class in &*table.classes {
            class.virtual_time.store(start, Relaxed);
        }
        let mut used = [0_u64; 2];
        let mut clock = 0;
        for _ in 0..10_000 {
            let Pick::Class(index) = table.pick(|_| true, false) else {
                panic!("both classes are runnable");
            };
            table.charge(ClassIndex(index as u32), 100, clock + 100);
            clock += 100;
            used[index] += 100;
        }
        assert!(table.floor.load(Relaxed) < start, "the clock did not wrap");
        let share = used[0] as f64 / (used[0] + used[1]) as f64;
        assert!((share - 0.8).abs() < 0.01, "share {share}");
    }

    #[test]
    fn a_bounded_class_admits_up_to_its_bound() {
        let table = table(&[WorkloadClass::new("bounded").max_queued(2)]);
        let class = table.class(ClassIndex(0));
        assert_eq!(class.reserve(), Ok(()));
        assert_eq!(class.reserve(), Ok(()));
        assert_eq!(class.reserve(), Err(Overload::QueueFull { max_queued: 2 }));
        assert_eq!(class.waiting(), 2);
        class.started(10);
        assert_eq!(class.reserve(), Ok(()));
        assert_eq!(table.metrics()[0].overloaded, 1);
    }
}
