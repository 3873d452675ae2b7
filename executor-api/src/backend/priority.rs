//! Lowering the OS priority of worker threads.

/// Lowers the calling thread's priority to `nice` (0 = normal, 19 = lowest),
/// never raising it: a thread that already runs at a higher niceness keeps
/// it, since raising priority needs privileges.
///
/// On Linux, `setpriority(PRIO_PROCESS, tid)` changes only the calling
/// thread. Elsewhere this does nothing.
///
/// # Errors
///
/// The OS error if the priority could not be read or set; backends log it
/// and keep the thread at its current priority.
pub fn lower_current_thread(nice: i32) -> std::io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        let current = getpriority_process(tid)?;
        if current < nice {
            setpriority_process(tid, nice)?;
        }
    }
    Ok(())
}

/// Moves the calling thread to the `SCHED_IDLE` scheduling policy (Linux):
/// it then runs only on CPU time no other thread wants, and any normal
/// thread that wakes up preempts it at once. Elsewhere this does nothing.
///
/// # Errors
///
/// The OS error if the policy could not be set.
pub fn use_idle_scheduling() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` only reads `param`, which lives for
        // the call; pid 0 names the calling thread. No memory is shared.
        #[allow(unsafe_code)]
        let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if result != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether the calling thread runs under `SCHED_IDLE` (always `false`
/// outside Linux).
pub fn current_thread_is_idle_scheduled() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `sched_getscheduler` takes no pointers; pid 0 names the
        // calling thread.
        #[allow(unsafe_code)]
        let policy = unsafe { libc::sched_getscheduler(0) };
        policy == libc::SCHED_IDLE
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The calling thread's niceness, where the OS reports one (Linux).
///
/// # Examples
///
/// ```
/// let nice = executor_api::backend::current_thread_nice();
/// assert!(nice.is_none_or(|nice| (-20..=19).contains(&nice)));
/// ```
pub fn current_thread_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
