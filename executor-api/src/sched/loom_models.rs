//! Loom models of the group queues' races (`sched::group_queue`): a group
//! becoming empty while a submitter pushes to it, and two workers popping
//! from groups while one is pushed to. Run by `cargo xtask test` with the
//! lifecycle's models.

use loom::thread;

use crate::sched::class::WorkloadClass;
use crate::sched::classes::{ClassIndex, ClassTable};
use crate::sched::group::JobGroup;
use crate::sched::group_queue::Lane;
use crate::sched::queues::{ClassQueues, Placement, Pop};
use crate::sync::{Arc, AtomicBool, CachePadded};

/// Queues for one class, and a group of it.
fn queues_and_group() -> (Arc<ClassQueues<u32>>, JobGroup) {
    queues_and_group_among(1)
}

/// Queues for `classes` classes (past `SCAN_LIMIT`, the ordered sets
/// choose the class), and a group of the default class.
fn queues_and_group_among(classes: usize) -> (Arc<ClassQueues<u32>>, JobGroup) {
    let classes: Vec<WorkloadClass> = std::iter::once(WorkloadClass::new("default"))
        .chain((1..classes).map(|index| WorkloadClass::new(format!("c{index}"))))
        .collect();
    let table = Arc::new(ClassTable::new(&classes));
    let aborted = Arc::new(CachePadded(AtomicBool::new(false)));
    let group = new_group(&table);
    (Arc::new(ClassQueues::for_table(table, aborted)), group)
}

/// A group of the default class, its queue made: the first push makes it
/// in a `std` `OnceLock`, whose ordering loom cannot see (it would report
/// the queue's loom primitives as raced on, which they are not).
fn new_group(table: &Arc<ClassTable>) -> JobGroup {
    let group = JobGroup::new(table.clone(), ClassIndex::DEFAULT);
    let _ = group.shared.lane::<std::sync::Arc<Lane<u32>>>();
    group
}

fn placed(group: &JobGroup) -> Placement {
    Placement {
        class: ClassIndex::DEFAULT,
        group: Some(std::sync::Arc::downgrade(&group.shared)),
    }
}

/// Pops everything left, in order.
fn pop_all(queues: &ClassQueues<u32>) -> Vec<u32> {
    std::iter::from_fn(|| match queues.pop() {
        Pop::Job(job) => Some(job),
        _ => None,
    })
    .collect()
}

/// A worker pops a group's last job while a submitter pushes the next:
/// whichever way they interleave, each job is popped exactly once, the
/// group is found again for its next job, and nothing is left counted.
#[test]
fn a_group_emptied_while_its_next_job_is_pushed() {
    loom::model(|| {
        let (queues, group) = queues_and_group();
        queues.push(&placed(&group), 1);
        let submitter = {
            let (queues, place) = (queues.clone(), placed(&group));
            thread::spawn(move || queues.push(&place, 2))
        };
        let first = match queues.pop() {
            Pop::Job(job) => job,
            other => panic!("the queued job was not found: {other:?}"),
        };
        assert_eq!(first, 1, "a group's jobs come out in order");
        submitter.join().unwrap();
        assert_eq!(pop_all(&queues), [2]);
        assert!(queues.is_empty() && queues.queued() == 0);
        queues.push(&placed(&group), 3);
        assert_eq!(
            pop_all(&queues),
            [3],
            "the group came back with its next job"
        );
    });
}

/// Two workers pop while a submitter pushes to a second group: every job
/// is popped once, by one worker, and the counts end at zero.
#[test]
fn two_workers_pop_while_a_group_is_pushed_to() {
    loom::model(|| {
        let (queues, first) = queues_and_group();
        let second = new_group(&queues.table);
        queues.push(&placed(&first), 1);
        let submitter = {
            let (queues, place) = (queues.clone(), placed(&second));
            thread::spawn(move || queues.push(&place, 2))
        };
        let worker = {
            let queues = queues.clone();
            thread::spawn(move || match queues.pop() {
                Pop::Job(job) => vec![job],
                _ => Vec::new(),
            })
        };
        let mut popped = match queues.pop() {
            Pop::Job(job) => vec![job],
            _ => Vec::new(),
        };
        submitter.join().unwrap();
        popped.extend(worker.join().unwrap());
        popped.extend(pop_all(&queues));
        popped.sort_unstable();
        assert_eq!(popped, [1, 2], "a job was lost or popped twice");
        assert!(queues.is_empty() && queues.queued() == 0);
    });
}

/// Two submitters push the first jobs of an empty group while a worker
/// pops, with more classes than a scan covers: the second push can be
/// counted before the first has announced the group, and the worker must
/// wait for the announcement rather than take the class out of the
/// ordered sets (it would never come back). Both jobs come out, once each.
#[test]
fn two_first_pushes_to_a_group_racing_a_pop() {
    loom::model(|| {
        let (queues, group) = queues_and_group_among(crate::sched::ordered::SCAN_LIMIT + 1);
        let pushers: Vec<_> = [1, 2]
            .into_iter()
            .map(|job| {
                let (queues, place) = (queues.clone(), placed(&group));
                thread::spawn(move || queues.push(&place, job))
            })
            .collect();
        let first = match queues.pop() {
            Pop::Job(job) => vec![job],
            _ => Vec::new(),
        };
        for pusher in pushers {
            pusher.join().unwrap();
        }
        let mut popped = first;
        popped.extend(pop_all(&queues));
        popped.sort_unstable();
        assert_eq!(popped, [1, 2], "a job was lost or popped twice");
        assert!(queues.is_empty() && queues.queued() == 0);
    });
}
