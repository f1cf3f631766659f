//! The operating-system layer: the only module that makes system calls.
//!
//! It opens and creates POSIX shared-memory objects (or plain files), maps
//! them, waits and wakes on futexes, and asks whether a process is alive.
//! A heap-backed [`Region`] stands in for a mapping where no system call may
//! be made (tests under Miri, single-process use).

mod futex;
mod region;
mod shm;

pub(crate) use futex::{
    wait as futex_wait, wait_bits as futex_wait_bits, wake_bits as futex_wake_bits,
};
pub(crate) use region::Region;
pub(crate) use shm::{
    create_file, create_shm, open_file, open_file_readonly, open_shm, open_shm_readonly, unlink_shm,
};

/// The calling process's id.
pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

/// Whether `/proc/PID/stat` says the process has exited (state `Z` or `X`).
/// Where `/proc` cannot be read, assume it has not.
#[cfg(not(miri))]
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": comm may contain ')' and spaces; the state is the
    // first field after the last ')'.
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    matches!(stat.get(close + 2), Some(b'Z' | b'X'))
}

/// Whether a process with this id exists (it may be a zombie or, after pid
/// reuse, another process: callers treat `false` as certain, `true` as
/// "probably").
pub(crate) fn pid_alive(pid: u32) -> bool {
    #[cfg(miri)]
    {
        let _ = pid;
        true
    }
    #[cfg(not(miri))]
    {
        let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
            return false;
        };
        match rustix::process::test_kill_process(p) {
            // A zombie (killed, not yet reaped by its parent) still answers
            // kill(pid, 0): ask /proc for its state.
            Ok(()) => !is_zombie(pid),
            // EPERM: exists but belongs to someone else.
            Err(e) => e != rustix::io::Errno::SRCH,
        }
    }
}

/// Ends this process at once with SIGKILL, as a crash would (no unwinding,
/// no destructors, no flushing): for the crash-injection tests.
pub(crate) fn kill_self() -> ! {
    #[cfg(not(miri))]
    {
        let me = rustix::process::getpid();
        let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
    }
    std::process::abort()
}
