//! The run queue of one class's grouped jobs ([`GroupedJobs`]): a FIFO per
//! group, and the groups that have jobs in heaps, one per level, by key
//! (the policy: `sched::time_sharing`).
//!
//! # Who touches what
//!
//! As in `sched::ordered`: submitters never take the lock (a submitter on
//! the I/O runtime must not wait for a low-priority worker). Each group
//! counts its queued jobs; the submitter that takes the count from 0 to 1
//! announces the group on a lock-free queue (`activated`). Workers, under
//! the lock, move announced groups into the sets, pop a job from the group
//! whose turn it is, and put the group back under its key only if it has
//! jobs left (its count did not fall to 0). A group is announced once per
//! such transition, so it is in a set exactly while it has jobs, give or
//! take announcements not yet read (a pop reads them all first).
//!
//! A group's key and level change after every poll of its jobs, outside
//! the lock, and only grow: a group's place in a set is at most its true
//! one, and a worker that finds the first group's place stale puts it back
//! under its true place and looks again (one `O(log n)` move per poll).
//! So the choice costs `O(log n)` in the groups that have jobs, whatever
//! their number.
//!
//! The class's ungrouped jobs take part as one more group (their FIFO is
//! looked at directly, not announced): in a class whose groups have no
//! jobs queued, a pop takes the FIFO's first job without the lock, as in a
//! class without groups.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};

use crate::sched::group::GroupShared;
use crate::sched::time_sharing::{LEVELS, Levels};
use std::sync::Arc;

use crate::sync::{AtomicUsize, CachePadded, Mutex, Queue, lock};

/// One group's runnable jobs, for one backend's job type.
pub(crate) struct Lane<T> {
    jobs: Queue<T>,
    /// Jobs pushed and not yet popped, for the 0 → 1 and 1 → 0
    /// transitions.
    queued: AtomicUsize,
}

impl<T> Default for Lane<T> {
    fn default() -> Self {
        Lane {
            jobs: Queue::new(),
            queued: AtomicUsize::new(0),
        }
    }
}

/// A group with jobs, as the sets hold it.
struct Member<T> {
    group: Arc<GroupShared>,
    lane: Arc<Lane<T>>,
}

/// A member in a level's heap, under its key and the order it was put in
/// (groups with equal keys go first come, first served).
struct Entry<T> {
    key: u64,
    stamp: u64,
    member: Member<T>,
}

impl<T> Entry<T> {
    fn place(&self) -> Reverse<(u64, u64)> {
        Reverse((self.key, self.stamp))
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.place() == other.place()
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.place().cmp(&other.place())
    }
}

/// The groups with jobs, a heap per level with the least key on top: a
/// heap, not an ordered map, because a worker takes the top group and puts
/// it back after every job, and a heap does that without allocating.
struct Sets<T> {
    levels: [BinaryHeap<Entry<T>>; LEVELS],
    /// Stamps put on members as they are inserted, for the order among
    /// equal keys.
    stamp: u64,
}

impl<T> Sets<T> {
    fn insert(&mut self, level: usize, key: u64, member: Member<T>) {
        self.stamp += 1;
        let stamp = self.stamp;
        self.levels[level].push(Entry { key, stamp, member });
    }
}

/// One class's grouped jobs.
pub(crate) struct GroupedJobs<T> {
    /// Grouped jobs pushed and not yet popped: counted after the push.
    /// A count above 0 means a pop will find the job, or is taking it, or
    /// will once the push that made its group's count go from 0 to 1 has
    /// announced the group (the push is between its halves: [`pop`] then
    /// returns `None`, and its callers look again).
    ///
    /// [`pop`]: Self::pop
    queued: CachePadded<AtomicUsize>,
    /// Groups whose count went from 0 to 1, not yet in a set.
    activated: Queue<Member<T>>,
    sets: Mutex<Sets<T>>,
}

impl<T> Default for GroupedJobs<T> {
    fn default() -> Self {
        GroupedJobs {
            queued: CachePadded(AtomicUsize::new(0)),
            activated: Queue::new(),
            sets: Mutex::new(Sets {
                levels: std::array::from_fn(|_| BinaryHeap::new()),
                stamp: 0,
            }),
        }
    }
}

impl<T: Send + 'static> GroupedJobs<T> {
    /// Queues `job` at the back of `group`'s FIFO.
    pub(crate) fn push(&self, group: &Arc<GroupShared>, job: T) {
        let lane = group.lane::<Arc<Lane<T>>>();
        lane.jobs.push(job);
        if lane.queued.fetch_add(1, AcqRel) == 0 {
            self.activated.push(Member {
                group: group.clone(),
                lane: lane.clone(),
            });
        }
        self.queued.fetch_add(1, Release);
    }
}

impl<T> GroupedJobs<T> {
    /// Whether grouped jobs are queued (or being popped).
    pub(crate) fn has_jobs(&self) -> bool {
        // Above `usize::MAX / 2`: a drain's count wrapped for a moment.
        let queued = self.queued.load(Acquire);
        queued > 0 && queued < usize::MAX / 2
    }

    /// Takes the next job of the class: from the group whose turn it is by
    /// `levels`, the class's ungrouped FIFO `ungrouped` counting as one
    /// group. `None` if no job is queued, or if the only ones are a
    /// group's whose announcement is on its way (see `queued`).
    pub(crate) fn pop(&self, levels: &Levels, ungrouped: &Queue<T>) -> Option<T> {
        if !self.has_jobs() {
            // No group has jobs: the ungrouped FIFO, without the lock.
            return ungrouped.pop();
        }
        let mut sets = lock(&self.sets);
        while let Some(member) = self.activated.pop() {
            let level = member.group.account().level();
            let key = levels.key(member.group.account(), level);
            sets.insert(level, key, member);
        }
        loop {
            let ungrouped_level = (!ungrouped.is_empty()).then(|| levels.ungrouped().level());
            let level = levels.choose_level(|level| {
                !sets.levels[level].is_empty() || ungrouped_level == Some(level)
            })?;
            let first = sets.levels[level].peek().map(|entry| entry.key);
            if ungrouped_level == Some(level) {
                let key = levels.key(levels.ungrouped(), level);
                if first.is_none_or(|first| key <= first) {
                    if let Some(job) = ungrouped.pop() {
                        levels.chose(level, key);
                        return Some(job);
                    }
                    // Another worker took it: choose again.
                    continue;
                }
            }
            let Some(Entry { key, member, .. }) = sets.levels[level].pop() else {
                continue;
            };
            let account = member.group.account();
            let (true_level, true_key) = {
                let true_level = account.level();
                (true_level, levels.key(account, true_level))
            };
            if (true_level, true_key) != (level, key) {
                // Charged since it was put here: its true place is later.
                sets.insert(true_level, true_key, member);
                continue;
            }
            let Some(job) = member.lane.jobs.pop() else {
                // Only a drain (the executor stops) takes jobs outside the
                // lock: the group leaves the sets.
                continue;
            };
            self.queued.fetch_sub(1, AcqRel);
            levels.chose(level, key);
            let key = levels.picked(account, level);
            if member.lane.queued.fetch_sub(1, AcqRel) > 1 {
                sets.insert(level, key, member);
            }
            return Some(job);
        }
    }

    /// Takes every queued grouped job: for a backend whose threads are
    /// gone, to drop them.
    pub(crate) fn drain(&self) -> Vec<T> {
        let mut sets = lock(&self.sets);
        let mut members: Vec<Member<T>> = std::iter::from_fn(|| self.activated.pop()).collect();
        for level in &mut sets.levels {
            members.extend(std::mem::take(level).into_iter().map(|entry| entry.member));
        }
        drop(sets);
        let mut jobs = Vec::new();
        for member in members {
            while let Some(job) = member.lane.jobs.pop() {
                jobs.push(job);
                // Counted like a pop, exactly: a push whose job this took
                // before the push counted it wraps the counts below 0 for
                // a moment, and its counting brings them back.
                member.lane.queued.fetch_sub(1, AcqRel);
                self.queued.fetch_sub(1, AcqRel);
            }
        }
        jobs
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use crate::config::settings::PoolConfig;
    use crate::lifecycle::core::ExecutorCore;
    use crate::sched::classes::ClassIndex;
    use crate::sched::group::JobGroup;
    use crate::sched::queues::{ClassQueues, Placement, Pop};

    fn core() -> ExecutorCore {
        ExecutorCore::from_config(&PoolConfig::new("groups").validate().expect("valid"))
    }

    fn placed(group: &JobGroup) -> Placement {
        Placement {
            class: ClassIndex::DEFAULT,
            group: Some(std::sync::Arc::downgrade(&group.shared)),
        }
    }

    /// Pops one job, charges its group `ns` as a poll would, and returns
    /// it.
    fn run(queues: &ClassQueues<(usize, u32)>, groups: &[JobGroup], ns: u64) -> (usize, u32) {
        let Pop::Job((group, job)) = queues.pop() else {
            panic!("jobs are queued");
        };
        groups[group].shared.charge(ns, true);
        (group, job)
    }

    /// A group's jobs come out in their order; a new group overtakes a
    /// group that has used CPU; groups that used about as much take turns.
    #[test]
    fn a_new_group_goes_before_a_long_one() {
        let core = core();
        let queues = ClassQueues::new(&core);
        let groups = [
            core.group(ClassIndex::DEFAULT),
            core.group(ClassIndex::DEFAULT),
        ];
        for job in 0..100 {
            queues.push(&placed(&groups[0]), (0, job));
        }
        // The long group runs 50 ms: level 2.
        for job in 0..50 {
            assert_eq!(run(&queues, &groups, 1_000_000), (0, job));
        }
        assert_eq!(groups[0].metrics().level, 2);
        queues.push(&placed(&groups[1]), (1, 0));
        queues.push(&placed(&groups[1]), (1, 1));
        assert_eq!(run(&queues, &groups, 1_000_000), (1, 0));
        assert_eq!(run(&queues, &groups, 1_000_000), (1, 1));
        assert_eq!(run(&queues, &groups, 1_000_000), (0, 50));
    }

    /// Ungrouped jobs take part as one group: beside a group that used
    /// little, they wait once they have used more; alone, they come out in
    /// order without the lock.
    #[test]
    fn ungrouped_jobs_count_as_one_group() {
        let core = core();
        let queues = ClassQueues::new(&core);
        let ungrouped = Placement::ungrouped(ClassIndex::DEFAULT);
        for job in 0..3 {
            queues.push(&ungrouped, (9, job));
        }
        assert!(matches!(queues.pop(), Pop::Job((9, 0))));
        let levels = core.classes().class(ClassIndex::DEFAULT).levels();
        let group = core.group(ClassIndex::DEFAULT);
        // The class now has a group: ungrouped polls are charged.
        for _ in 0..10 {
            levels.charge_ungrouped(1_000_000);
        }
        assert_eq!(levels.ungrouped().level(), 1);
        queues.push(&placed(&group), (0, 0));
        assert!(
            matches!(queues.pop(), Pop::Job((0, 0))),
            "the group's job first"
        );
        assert!(matches!(queues.pop(), Pop::Job((9, 1))));
        assert!(matches!(queues.pop(), Pop::Job((9, 2))));
        assert!(matches!(queues.pop(), Pop::Empty));
    }

    /// A group leaves the sets with its last job and comes back with its
    /// next; a drain takes every grouped job; an ended group leaves no
    /// count behind.
    #[test]
    fn groups_come_and_go_and_drain() {
        let core = core();
        let queues = ClassQueues::new(&core);
        let group = core.group(ClassIndex::DEFAULT);
        assert_eq!(core.class_metrics()[0].groups, [1, 0, 0, 0, 0]);
        for round in 0..3 {
            queues.push(&placed(&group), (0, round));
            assert!(queues.has_runnable());
            assert!(matches!(queues.pop(), Pop::Job((0, r)) if r == round));
            assert!(queues.is_empty());
        }
        for job in 0..5 {
            queues.push(&placed(&group), (0, job));
        }
        assert_eq!(queues.queued(), 5);
        assert_eq!(queues.drain().count(), 5);
        assert!(queues.is_empty() && queues.queued() == 0);
        assert!(matches!(queues.pop(), Pop::Empty));
        queues.push(&placed(&group), (0, 7));
        assert!(
            matches!(queues.pop(), Pop::Job((0, 7))),
            "back after a drain"
        );
        drop(group);
        assert_eq!(core.class_metrics()[0].groups, [0; 5]);
    }

    /// With thousands of groups queued, each pop still finds the group
    /// whose turn it is: every group's first job before any group's
    /// second.
    #[test]
    fn thousands_of_groups_take_turns() {
        let core = core();
        let queues = ClassQueues::new(&core);
        let groups: Vec<JobGroup> = (0..5_000)
            .map(|_| core.group(ClassIndex::DEFAULT))
            .collect();
        for job in 0..2 {
            for (index, group) in groups.iter().enumerate() {
                queues.push(&placed(group), (index, job));
            }
        }
        let mut seen = vec![0; groups.len()];
        for _ in 0..groups.len() {
            let (group, job) = run(&queues, &groups, 100_000);
            assert_eq!(job, 0, "group {group} ran twice before others once");
            seen[group] += 1;
        }
        assert!(seen.iter().all(|&runs| runs == 1));
        assert_eq!(queues.drain().count(), groups.len());
    }
}
