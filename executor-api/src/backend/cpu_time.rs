//! What a poll is charged: the CPU time its thread ran, not the wall-clock
//! time it took.
//!
//! Class shares and caps are charged per poll. Measured by the wall clock,
//! a poll preempted by the kernel (the host is busy: other processes, the
//! I/O runtime at a higher priority) is charged for time it did not run,
//! so the class it belongs to gets less than its share while the executor's
//! own figures say otherwise. The thread's CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`) says what it ran, but reading it is a
//! system call (a few hundred nanoseconds), too dear for every poll of a
//! trivial job. So:
//!
//! - a poll of at most [`SHORT_POLL_NS`] on the wall clock is charged its wall
//!   time: whatever preemption it suffered, the error is below that bound;
//! - a longer poll reads the CPU clock once, at its end, and is charged the
//!   CPU time its thread used since the previous reading, less what the
//!   short polls since were charged, but never more than its wall time:
//!   back to back, polls leave nothing else on the thread's clock but the
//!   worker's own bookkeeping between them;
//! - a thread that did something else between two polls (it slept, or ran
//!   work that is not a job's) for more than [`SHORT_POLL_NS`] reads the
//!   clock afresh when its next poll begins ([`begin`]), so that work is
//!   not charged to that poll.
//!
//! So a poll is charged what its thread ran, within [`SHORT_POLL_NS`] per
//! poll, and the reads cost nothing to polls that run back to back and are
//! short (a saturated executor's trivial jobs): one read per long poll, and
//! one per poll after a pause.

use std::cell::Cell;

/// The longest poll charged its wall time without reading the CPU clock,
/// and the longest pause between two polls that keeps the reading.
pub(crate) const SHORT_POLL_NS: u64 = 20_000;

/// What the calling thread knows of its CPU clock.
#[derive(Clone, Copy)]
struct Ledger {
    /// The CPU clock at the last reading, in nanoseconds; `None` when the
    /// reading was forgotten (or never taken).
    cpu_at_reading: Option<u64>,
    /// What the polls since that reading were charged.
    charged_since: u64,
    /// When the last poll ended, in the caller's nanoseconds.
    last_end: u64,
}

thread_local! {
    static LEDGER: Cell<Ledger> = const {
        Cell::new(Ledger { cpu_at_reading: None, charged_since: 0, last_end: 0 })
    };
}

/// The calling thread's CPU clock, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(now.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(now.tv_nsec).unwrap_or(0))
}

/// A poll begins on the calling thread at `start` (wall clock, nanoseconds
/// since the epoch [`charge`] is given): after a pause, the CPU clock is
/// read afresh (see the module docs).
pub(crate) fn begin(start: u64) {
    let _ = LEDGER.try_with(|cell| {
        let mut ledger = cell.get();
        if start.saturating_sub(ledger.last_end) > SHORT_POLL_NS {
            ledger.cpu_at_reading = Some(thread_cpu_ns());
            ledger.charged_since = 0;
            cell.set(ledger);
        }
    });
}

/// What a poll that ran on the calling thread from `start` to `end` (wall
/// clock, nanoseconds since a fixed epoch) is charged (see the module
/// docs). [`begin`] was called at its start.
pub(crate) fn charge(start: u64, end: u64) -> u64 {
    let wall = end.saturating_sub(start);
    // A thread being torn down has no thread-locals left: the wall time.
    LEDGER
        .try_with(|cell| {
            let mut ledger = cell.get();
            ledger.last_end = end;
            let charged = if wall <= SHORT_POLL_NS {
                ledger.charged_since = ledger.charged_since.saturating_add(wall);
                wall
            } else {
                let cpu = thread_cpu_ns();
                let charged = match ledger.cpu_at_reading {
                    Some(before) => cpu
                        .saturating_sub(before)
                        .saturating_sub(ledger.charged_since)
                        .min(wall),
                    None => wall,
                };
                ledger.cpu_at_reading = Some(cpu);
                ledger.charged_since = 0;
                charged
            };
            cell.set(ledger);
            charged
        })
        .unwrap_or(wall)
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use super::{SHORT_POLL_NS, begin, charge, thread_cpu_ns};

    fn nanos(epoch: Instant) -> u64 {
        u64::try_from(epoch.elapsed().as_nanos()).unwrap()
    }

    /// A poll whose thread does not run (here it sleeps, as a preempted
    /// thread waits for the CPU) is not charged for that time; one that
    /// runs is charged about what it ran.
    #[test]
    fn a_poll_is_charged_what_its_thread_ran() {
        let epoch = Instant::now();
        // After a pause (the first poll on this thread is one): the clock is
        // read afresh.
        let start = nanos(epoch) + 2 * SHORT_POLL_NS;
        while nanos(epoch) < start {}
        begin(start);
        std::thread::sleep(Duration::from_millis(20));
        let end = nanos(epoch);
        let charged = charge(start, end);
        assert!(end - start >= 20_000_000);
        assert!(
            charged < 10_000_000,
            "a poll that slept 20 ms was charged {charged} ns"
        );
        // Back to back: a poll that runs 5 ms of CPU (by its own clock,
        // however long the wall clock says) is charged at least that, and
        // never more than its wall time.
        let start = nanos(epoch);
        begin(start);
        let cpu = thread_cpu_ns();
        while thread_cpu_ns() < cpu + 5_000_000 {}
        let end = nanos(epoch);
        let charged = charge(start, end);
        assert!(charged <= end - start, "charged {charged} ns");
        assert!(
            charged >= 5_000_000,
            "a poll that ran 5 ms was charged {charged} ns"
        );
    }

    /// A short poll is charged its wall time without a reading.
    #[test]
    fn a_short_poll_is_charged_its_wall_time() {
        let epoch = Instant::now();
        let start = nanos(epoch);
        begin(start);
        assert_eq!(charge(start, start + 1_000), 1_000);
    }
}
