//! What a poll is charged: about the CPU time its thread ran, not the
//! wall-clock time it took.
//!
//! Class shares and caps are charged per poll. Measured by the wall clock,
//! a poll preempted by the kernel (the host is busy: other processes, the
//! I/O runtime at a higher priority) is charged for time it did not run,
//! so the class it belongs to gets less than its share while the executor's
//! own figures say otherwise. The thread's CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`) says what it ran, but reading it is a system
//! call that takes the CPU's run-queue lock: read at every poll, it doubled
//! the I/O runtime's p99 wake-up latency under a burst of CPU work (69-134
//! µs against 38-44 µs, side by side in the benchmark). So it is read at
//! most once per [`WINDOW`] of wall time, by a poll that ends after the
//! window; each poll is charged its wall time times the share of its
//! thread's polling time that the thread actually ran in the last window
//! (the poll that closes a window, by that window's share):
//!
//! - a thread that is not preempted runs all of its polling time: the share
//!   is 1, and polls are charged their wall time;
//! - on a busy host that lets the workers run 70 % of the time, the share
//!   falls to about 0.7 within a window, and polls are charged what they
//!   ran, within the drift of the host's load over one window;
//! - CPU time the thread spends outside polls (the worker's bookkeeping, a
//!   pump's brief spin before it parks, Rayon work it helps with between
//!   jobs) only raises the share, which never goes above 1: at worst a poll
//!   is charged its wall time, as before;
//! - the share is the thread's, not the poll's: a poll that blocks (waiting
//!   in a `join` for a stolen piece) lowers it like a preemption does, for
//!   the polls of every class on that thread in the next window, never
//!   below a quarter ([`SHARE_FLOOR`]).
//!
//! Work a poll hands to other threads (the pieces of a `par_iter` that
//! other pool threads steal) runs on their clocks and is charged to no
//! class; a task the job attributes to itself (`job::scope`) is charged
//! the same way for each of its polls, on the thread that polls it.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How much of a thread's polling passes between two readings of its CPU
/// clock.
pub(crate) const WINDOW: Duration = Duration::from_millis(10);

/// The share of its polling time a thread ran, in 1/[`SHARE_ONE`]ths.
const SHARE_ONE: u64 = 1 << 16;

/// The smallest share a poll is charged: a quarter of its wall time. A
/// thread whose polls mostly blocked (waiting in a `join` for a stolen
/// piece) must not make a whole window of its polls nearly free.
const SHARE_FLOOR: u64 = SHARE_ONE / 4;

/// What the calling thread knows of its CPU clock.
#[derive(Clone, Copy)]
struct Ledger {
    /// The CPU clock at the last reading, and when it was taken; `None`
    /// before the first.
    reading: Option<(Duration, Instant)>,
    /// The wall time of the polls since that reading.
    polled: Duration,
    /// The share of their polling time the thread ran in the last window.
    share: u64,
}

thread_local! {
    static LEDGER: Cell<Ledger> = const {
        Cell::new(Ledger { reading: None, polled: Duration::ZERO, share: SHARE_ONE })
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

/// What a poll that ran on the calling thread from `start` to `end` is
/// charged (see the module docs).
pub(crate) fn charge(start: Instant, end: Instant) -> Duration {
    let wall = end.saturating_duration_since(start);
    // A thread being torn down has no thread-locals left: the wall time.
    LEDGER
        .try_with(|cell| {
            let mut ledger = cell.get();
            ledger.polled += wall;
            match ledger.reading {
                // The first reading is the baseline: this poll is before it.
                None => {
                    ledger.reading = Some((thread_cpu(), end));
                    ledger.polled = Duration::ZERO;
                }
                // A window has passed: its share, this poll included, is the
                // share this poll and the next window's are charged.
                Some((cpu_before, read_at)) if end.saturating_duration_since(read_at) >= WINDOW => {
                    let cpu = thread_cpu();
                    ledger.share = share_of(cpu.saturating_sub(cpu_before), ledger.polled);
                    ledger.reading = Some((cpu, end));
                    ledger.polled = Duration::ZERO;
                }
                Some(_) => {}
            }
            cell.set(ledger);
            scale(wall, ledger.share)
        })
        .unwrap_or(wall)
}

/// `ran` as a share of `polled`, between [`SHARE_FLOOR`] and 1 (in
/// 1/[`SHARE_ONE`]ths).
fn share_of(ran: Duration, polled: Duration) -> u64 {
    if polled.is_zero() || ran >= polled {
        return SHARE_ONE;
    }
    let share = ran.as_nanos().saturating_mul(u128::from(SHARE_ONE)) / polled.as_nanos();
    u64::try_from(share).unwrap_or(SHARE_ONE).max(SHARE_FLOOR)
}

/// `wall` times `share`.
fn scale(wall: Duration, share: u64) -> Duration {
    if share >= SHARE_ONE {
        return wall;
    }
    let nanos = wall.as_nanos().saturating_mul(u128::from(share)) / u128::from(SHARE_ONE);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use super::{WINDOW, charge, thread_cpu};

    /// Polls that do not run (here they sleep, as a preempted thread waits
    /// for the CPU) are charged almost nothing once a window has shown it;
    /// polls that run are charged their wall time again a window later.
    #[test]
    fn polls_are_charged_what_their_thread_ran() {
        // A window of polls that sleep: the share falls.
        let first = Instant::now();
        while first.elapsed() < 2 * WINDOW {
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(2));
            charge(start, Instant::now());
        }
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let end = Instant::now();
        let charged = charge(start, end);
        assert!(
            charged <= (end - start) / 4 + Duration::from_micros(1),
            "a poll that slept {:?} was charged {charged:?}",
            end - start
        );
        // One long poll that runs, right after: it closes a window and is
        // charged that window's share (its own), not the low one before.
        let start = Instant::now();
        let cpu = thread_cpu();
        while thread_cpu() < cpu + 2 * WINDOW {}
        let end = Instant::now();
        let charged = charge(start, end);
        assert!(
            charged >= 2 * WINDOW * 9 / 10,
            "a poll that ran {:?} after polls that slept was charged {charged:?}",
            2 * WINDOW
        );
        // Windows of polls that run: the share comes back to (about) 1.
        for _ in 0..3 {
            let first = Instant::now();
            while first.elapsed() < 2 * WINDOW {
                let start = Instant::now();
                let cpu = thread_cpu();
                while thread_cpu() < cpu + Duration::from_millis(1) {}
                charge(start, Instant::now());
            }
        }
        let start = Instant::now();
        let cpu = thread_cpu();
        while thread_cpu() < cpu + Duration::from_millis(1) {}
        let end = Instant::now();
        let charged = charge(start, end);
        assert!(charged <= end - start, "charged {charged:?}");
        // The share is the last window's: on a machine that is also busy
        // (other tests, here) the thread got maybe half its wall time, so
        // only the floor is promised, not "about 1".
        assert!(
            charged >= (end - start) / 4,
            "a poll that ran {:?} was charged {charged:?}, under the floor",
            end - start
        );
    }
}
