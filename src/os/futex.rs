//! Futex wait and wake on words in shared memory (not `FUTEX_PRIVATE`, so
//! they work across processes).

use std::num::NonZeroU32;
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

/// Sleeps while `*word == expected`, at most `timeout`, as a waiter for the
/// wake-ups whose bit set meets `bits` (see [`wake_bits`]); otherwise as
/// [`wait`]. A plain [`wait`] is woken by every [`wake_bits`].
pub(crate) fn wait_bits(word: &AtomicU32, expected: u32, timeout: Duration, bits: NonZeroU32) {
    #[cfg(miri)]
    {
        let _ = (word, expected, timeout, bits);
        std::thread::yield_now();
    }
    #[cfg(not(miri))]
    {
        use rustix::thread::futex;
        use rustix::time::{ClockId, clock_gettime};
        // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
        let now = clock_gettime(ClockId::Monotonic);
        let timeout = timeout.min(Duration::from_secs(1 << 32));
        let mut nsec = now.tv_nsec + timeout.subsec_nanos() as i64;
        let mut sec = now.tv_sec.saturating_add(timeout.as_secs() as i64);
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec = sec.saturating_add(1);
        }
        let ts = futex::Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        };
        // EAGAIN (value changed), ETIMEDOUT and EINTR all mean "re-check".
        let _ = futex::wait_bitset(word, futex::Flags::empty(), expected, Some(&ts), bits);
    }
}

/// Wakes the processes sleeping on `word` whose bit set meets `bits`, and
/// every plain [`wait`]er.
pub(crate) fn wake_bits(word: &AtomicU32, bits: NonZeroU32) {
    #[cfg(miri)]
    {
        let _ = (word, bits);
    }
    #[cfg(not(miri))]
    {
        use rustix::thread::futex;
        let _ = futex::wake_bitset(word, futex::Flags::empty(), i32::MAX as u32, bits);
    }
}
