//! Futex wait and wake on words in shared memory (not `FUTEX_PRIVATE`, so
//! they work across processes).

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `*word == expected`, at most `timeout`. Returns on wake-up,
/// on a value change, on timeout or on a signal; the caller re-checks.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    #[cfg(miri)]
    {
        let _ = (word, expected, timeout);
        std::thread::yield_now();
    }
    #[cfg(not(miri))]
    {
        use rustix::thread::futex;
        let ts = futex::Timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: timeout.subsec_nanos() as i64,
        };
        // EAGAIN (value changed), ETIMEDOUT and EINTR all mean "re-check".
        let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
    }
}

/// Wakes every process sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    #[cfg(miri)]
    {
        let _ = word;
    }
    #[cfg(not(miri))]
    {
        use rustix::thread::futex;
        let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
    }
}
