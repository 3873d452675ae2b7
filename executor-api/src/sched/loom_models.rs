//! Loom models of the group queues' races (`sched::group_queue`): a group
//! becoming empty while a submitter pushes to it, and two workers popping
//! from groups while one is pushed to. Run by `cargo xtask test` with the
//! lifecycle's models.

use loom::thread;

use crate::sched::class::WorkloadClass;
use crate::sched::classes::{ClassIndex, ClassTable};
use crate::sched::group::JobGroup;
use crate::sched::queues::{ClassQueues, Placement, Pop};
use crate::sync::{Arc, AtomicBool, CachePadded};

/// Queues for one class, and a group of it.
fn queues_and_group() -> (Arc<ClassQueues<u32>>, JobGroup) {
    let table = Arc::new(ClassTable::new(&[WorkloadClass::new("default")]));
    let aborted = Arc::new(CachePadded(AtomicBool::new(false)));
    let group = JobGroup::new(table.clone(), ClassIndex::DEFAULT);
    (Arc::new(ClassQueues::for_table(table, aborted)), group)
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
        let second = JobGroup::new(queues.table.clone(), ClassIndex::DEFAULT);
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
