//! Every interleaving (up to the preemption bound) of pushers and pumps
//! going to sleep. A lost wake-up leaves a pump parked with work
//! queued and every other thread done: loom reports the deadlock.

use std::collections::VecDeque;

use loom::sync::{Arc, Mutex};

use crate::sleepers::Sleepers;

/// Runs `pumps` pumps, each taking work until `items` items are taken
/// in all, against one pusher thread per item.
fn pushers_racing_pumps(pumps: usize, items: usize) {
    loom::model(move || {
        let sleepers = Arc::new(Sleepers::new(pumps));
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let taken = Arc::new(Mutex::new(0usize));
        let pushers: Vec<_> = (0..items)
            .map(|item| {
                let (sleepers, queue) = (sleepers.clone(), queue.clone());
                loom::thread::spawn(move || {
                    queue.lock().unwrap().push_back(item);
                    sleepers.notify();
                })
            })
            .collect();
        let pump = |index: usize| {
            let (sleepers, queue, taken) = (sleepers.clone(), queue.clone(), taken.clone());
            move || loop {
                if *taken.lock().unwrap() == items {
                    return;
                }
                let popped = queue.lock().unwrap().pop_front();
                if popped.is_some() {
                    let mut taken = taken.lock().unwrap();
                    *taken += 1;
                    if *taken == items {
                        // The others may sleep: let them see the end.
                        sleepers.wake_all();
                    }
                    continue;
                }
                loom::future::block_on(sleepers.sleep(index, || {
                    !queue.lock().unwrap().is_empty() || *taken.lock().unwrap() == items
                }));
            }
        };
        let others: Vec<_> = (1..pumps).map(|i| loom::thread::spawn(pump(i))).collect();
        pump(0)();
        for thread in pushers.into_iter().chain(others) {
            thread.join().unwrap();
        }
    });
}

/// Two submissions racing one pump on its way to sleep: neither is
/// left queued with the pump asleep.
#[test]
fn two_pushes_racing_a_pump_going_to_sleep() {
    pushers_racing_pumps(1, 2);
}

/// One submission racing two pumps on their way to sleep: one of them
/// takes it.
#[test]
fn a_push_racing_two_pumps_going_to_sleep() {
    pushers_racing_pumps(2, 1);
}
