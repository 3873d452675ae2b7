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
//! - a poll of at most [`SHORT_POLL`] on the wall clock is charged its wall
//!   time: whatever preemption it suffered, the error is below that bound;
//! - a longer poll reads the CPU clock once, at its end, and is charged the
//!   CPU time its thread used since the previous reading, less what the
//!   short polls since were charged, but never more than its wall time:
//!   back to back, polls leave nothing else on the thread's clock but the
//!   worker's own bookkeeping between them;
//! - a thread that did something else between two polls (it slept, or ran
//!   work that is not a job's) for more than [`SHORT_POLL`] reads the
//!   clock afresh when its next poll begins ([`begin`]), so that work is
//!   not charged to that poll.
//!
//! - and once the short polls since the last reading were charged
//!   [`MAX_UNREAD`], the clock is read afresh too, so that what they were
//!   over- or under-charged never piles up onto one long poll.
//!
//! So a short poll is charged within [`SHORT_POLL`] of what it ran, a long
//! poll within [`MAX_UNREAD`], and the reads cost nothing to most polls of
//! a saturated executor's trivial jobs: one read per long poll, one per
//! poll after a pause, and one per millisecond of short polls.
//!
//! Work a poll hands to other threads (the pieces of a `par_iter` that
//! other pool threads steal) runs on their clocks, not the poll's, and is
//! charged to no class; time a poll spends blocked (waiting in a `join` for
//! a stolen piece) is not charged either.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The longest poll charged its wall time without reading the CPU clock,
/// and the longest pause between two polls that keeps the reading.
pub(crate) const SHORT_POLL: Duration = Duration::from_micros(20);

/// How much wall time short polls may be charged before the clock is read
/// afresh: however many short polls run back to back, the next long poll's
/// charge is off by no more than this (the short polls' preemption, or the
/// worker's bookkeeping between them).
pub(crate) const MAX_UNREAD: Duration = Duration::from_millis(1);

/// What the calling thread knows of its CPU clock.
#[derive(Clone, Copy)]
struct Ledger {
    /// The CPU clock at the last reading; `None` before the first.
    cpu_at_reading: Option<Duration>,
    /// What the polls since that reading were charged.
    charged_since: Duration,
    /// When the last poll ended.
    last_end: Option<Instant>,
}

thread_local! {
    static LEDGER: Cell<Ledger> = const {
        Cell::new(Ledger { cpu_at_reading: None, charged_since: Duration::ZERO, last_end: None })
    };
}

/// The calling thread's CPU clock.
fn thread_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// A poll begins on the calling thread at `start`: after a pause, or once
/// the short polls since the last reading were charged [`MAX_UNREAD`], the
/// CPU clock is read afresh (see the module docs).
pub(crate) fn begin(start: Instant) {
    let _ = LEDGER.try_with(|cell| {
        let mut ledger = cell.get();
        let paused = ledger
            .last_end
            .is_none_or(|end| start.saturating_duration_since(end) > SHORT_POLL);
        if paused || ledger.charged_since > MAX_UNREAD {
            ledger.cpu_at_reading = Some(thread_cpu());
            ledger.charged_since = Duration::ZERO;
            cell.set(ledger);
        }
    });
}

/// What a poll that ran on the calling thread from `start` to `end` is
/// charged (see the module docs). [`begin`] was called at its start.
pub(crate) fn charge(start: Instant, end: Instant) -> Duration {
    let wall = end.saturating_duration_since(start);
    // A thread being torn down has no thread-locals left: the wall time.
    LEDGER
        .try_with(|cell| {
            let mut ledger = cell.get();
            ledger.last_end = Some(end);
            let charged = if wall <= SHORT_POLL {
                ledger.charged_since += wall;
                wall
            } else {
                let cpu = thread_cpu();
                let charged = match ledger.cpu_at_reading {
                    Some(before) => cpu
                        .saturating_sub(before)
                        .saturating_sub(ledger.charged_since)
                        .min(wall),
                    None => wall,
                };
                ledger.cpu_at_reading = Some(cpu);
                ledger.charged_since = Duration::ZERO;
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

    use super::{SHORT_POLL, begin, charge, thread_cpu};

    /// A poll whose thread does not run (here it sleeps, as a preempted
    /// thread waits for the CPU) is not charged for that time; one that
    /// runs is charged about what it ran.
    #[test]
    fn a_poll_is_charged_what_its_thread_ran() {
        // The first poll on this thread comes after a pause: the clock is
        // read afresh.
        let start = Instant::now();
        begin(start);
        std::thread::sleep(Duration::from_millis(20));
        let end = Instant::now();
        let charged = charge(start, end);
        assert!(end - start >= Duration::from_millis(20));
        assert!(
            charged < Duration::from_millis(10),
            "a poll that slept 20 ms was charged {charged:?}"
        );
        // Back to back: a poll that runs 5 ms of CPU (by its own clock,
        // however long the wall clock says) is charged at least that, and
        // never more than its wall time.
        let start = Instant::now();
        begin(start);
        let cpu = thread_cpu();
        while thread_cpu() < cpu + Duration::from_millis(5) {}
        let end = Instant::now();
        let charged = charge(start, end);
        assert!(charged <= end - start, "charged {charged:?}");
        assert!(
            charged >= Duration::from_millis(5),
            "a poll that ran 5 ms was charged {charged:?}"
        );
    }

    /// A short poll is charged its wall time without a reading.
    #[test]
    fn a_short_poll_is_charged_its_wall_time() {
        let start = Instant::now();
        begin(start);
        let end = start + SHORT_POLL / 2;
        assert_eq!(charge(start, end), SHORT_POLL / 2);
    }

    /// However many short polls run back to back, each preempted (here:
    /// charged more wall time than they ran), a long poll after them is
    /// still charged what it ran: the clock is read again once the short
    /// polls were charged a millisecond.
    #[test]
    fn short_polls_do_not_hide_a_long_one() {
        let mut start = Instant::now();
        begin(start);
        for _ in 0..10_000 {
            // 10 µs of wall time each, in no CPU time at all.
            let end = start + Duration::from_micros(10);
            begin(start);
            charge(start, end);
            start = end;
        }
        let start = Instant::now();
        begin(start);
        let cpu = thread_cpu();
        while thread_cpu() < cpu + Duration::from_millis(5) {}
        let charged = charge(start, Instant::now());
        assert!(
            charged >= Duration::from_millis(4),
            "a poll that ran 5 ms after 100 ms of short polls was charged {charged:?}"
        );
    }
}
