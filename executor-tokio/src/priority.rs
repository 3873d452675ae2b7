//! Lowering the OS priority of the calling thread.

/// Lowers the calling thread's priority to `nice` (0 = normal, 19 = lowest),
/// never raising it: a thread that already runs at a higher niceness keeps
/// it, since raising priority needs privileges.
///
/// On Linux, `setpriority(PRIO_PROCESS, tid)` changes only the calling
/// thread. Elsewhere this does nothing.
pub(crate) fn lower_current_thread(nice: i32) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        let result = getpriority_process(tid).and_then(|current| {
            if current < nice {
                setpriority_process(tid, nice)
            } else {
                Ok(())
            }
        });
        if let Err(err) = result {
            tracing::warn!(nice, %err, "could not lower the priority of an executor thread");
        }
    }
}

/// The calling thread's niceness, where the OS reports one.
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
