//! The waiter thread of a segment: sleeps on the turn futex for the
//! segment's async waiters, so that they burn no CPU and need no runtime.
//!
//! An async waiter ([`super::future::TurnFuture`]) that cannot enter yet
//! registers a one-shot wake-up here: "wake me when `now_serving` is no
//! longer `seen`" and/or "wake me at `at`" (its deadline). One thread per
//! `Segment`, started by the first such registration, serves them all: it
//! sleeps on the futex (counted in `sleepers`, so a releaser wakes it) in
//! slices of at most [`ASYNC_LIVENESS_PERIOD`], or on a condition variable
//! while no registration watches the futex, and wakes the due wakers in the
//! order they registered. Every [`ASYNC_LIVENESS_PERIOD`] it asks, for a watching
//! registration, whether a live process claims the ticket being served
//! (reading the process table, changing nothing); only if none does is
//! the task woken, and its poll does the real work (`check_owner`:
//! `PeerDied`, or giving a dead waiter's ticket up), as it does the
//! entering and the timeout. So an idle wait costs one thread wake-up per
//! period and no executor wake-up. A
//! process has at most one ticket per segment (see `local.rs`), so at most
//! one registration watches the futex at a time; the others are timers of
//! tasks queued in the local lock.
//!
//! The thread reads the segment's mapping through raw pointers, and owns a
//! reference to the mapping (`Arc<Region>`), so it stays mapped while the
//! thread runs. Dropping the `Segment` tells the thread to end (within one
//! sleep slice) but does not join it: a waker it is calling may need a lock
//! that the dropping thread holds (Python's GIL, in the binding).

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::{claimed_by_the_living, serving_ticket};
use crate::Error;
use crate::os;
use crate::os::Region;
use crate::segment::ProcRecord;

/// How often the waiter thread checks that a live process claims the
/// ticket being served, for an async waiter: a dead holder is reported to
/// async waiters within about this time. Longer than the blocking waiters'
/// liveness period (20 ms), because on a virtual machine one
/// timer wake-up of a sleeping thread costs tens of microseconds of CPU:
/// at 50 ms an idle async wait stays well under 1% of a core.
pub const ASYNC_LIVENESS_PERIOD: Duration = Duration::from_millis(50);

/// A one-shot wake-up.
struct Reg {
    id: u64,
    /// Wake when `now_serving` differs from this, or when no live
    /// process claims it at a liveness check (due at `check`).
    seen: Option<u64>,
    check: Instant,
    /// Wake at this time.
    at: Option<Instant>,
    waker: Waker,
}

#[derive(Default)]
struct State {
    regs: Vec<Reg>,
    next_id: u64,
    shutdown: bool,
}

/// What of the segment the thread reads: two turn words and the
/// process table.
struct Words {
    now_serving: *const AtomicU64,
    /// The futex word: the low half of `now_serving`.
    futex: *const AtomicU32,
    sleepers: *const AtomicU32,
    records: *const [ProcRecord],
}

/// The parts of a segment the waiter thread reads (see `Words`).
pub(crate) struct Targets<'a> {
    /// The mapping the references below point into.
    pub(crate) mapping: &'a Arc<Region>,
    pub(crate) now_serving: &'a AtomicU64,
    pub(crate) futex: &'a AtomicU32,
    pub(crate) sleepers: &'a AtomicU32,
    pub(crate) records: &'a [ProcRecord],
}

// SAFETY: the pointers are to atomics in the segment's mapping, which
// `Shared::_mapping` keeps alive as long as the thread may use them;
// atomics may be used from any thread.
unsafe impl Send for Words {}
// SAFETY: as above.
unsafe impl Sync for Words {}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    words: Words,
    /// Keeps the mapping that `words` point into.
    _mapping: Arc<Region>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_serving(&self) -> &AtomicU64 {
        // SAFETY: see `Words`.
        unsafe { &*self.words.now_serving }
    }

    fn futex(&self) -> &AtomicU32 {
        // SAFETY: see `Words`.
        unsafe { &*self.words.futex }
    }

    fn sleepers(&self) -> &AtomicU32 {
        // SAFETY: see `Words`.
        unsafe { &*self.words.sleepers }
    }

    fn records(&self) -> &[ProcRecord] {
        // SAFETY: see `Words`.
        unsafe { &*self.words.records }
    }
}

struct Running {
    shared: Arc<Shared>,
}

/// A segment's waiter thread (started on first use).
#[derive(Default)]
pub(crate) struct Waiter {
    /// The thread, or why it could not be started.
    running: OnceLock<Result<Running, String>>,
}

impl Waiter {
    fn shared(&self, targets: Targets<'_>) -> Result<&Arc<Shared>, Error> {
        let r = self.running.get_or_init(|| {
            let shared = Arc::new(Shared {
                state: Mutex::new(State::default()),
                cv: Condvar::new(),
                words: Words {
                    now_serving: targets.now_serving,
                    futex: targets.futex,
                    sleepers: targets.sleepers,
                    records: targets.records,
                },
                _mapping: targets.mapping.clone(),
            });
            let s = shared.clone();
            std::thread::Builder::new()
                .name("shmheap-waiter".into())
                .spawn(move || run(&s))
                .map(|_| Running { shared })
                .map_err(|e| e.to_string())
        });
        match r {
            Ok(running) => Ok(&running.shared),
            Err(e) => Err(Error::Io {
                op: "start the async waiter thread",
                source: std::io::Error::other(e.clone()),
            }),
        }
    }

    /// Registers (or replaces, when `id` names one) a one-shot wake-up of
    /// `waker`: when `now_serving` differs from `seen` or no live process
    /// claims it (checked every liveness period from now), or at `at`.
    pub(crate) fn register(
        &self,
        targets: Targets<'_>,
        id: &mut Option<u64>,
        seen: Option<u64>,
        at: Option<Instant>,
        waker: &Waker,
    ) -> Result<(), Error> {
        let shared = self.shared(targets)?;
        let check = Instant::now() + ASYNC_LIVENESS_PERIOD;
        let mut st = shared.state();
        if let Some(r) = id.and_then(|i| st.regs.iter_mut().find(|r| r.id == i)) {
            r.seen = seen;
            r.at = at;
            r.check = check;
            if !r.waker.will_wake(waker) {
                r.waker = waker.clone();
            }
        } else {
            let new = st.next_id;
            st.next_id += 1;
            st.regs.push(Reg {
                id: new,
                seen,
                at,
                check,
                waker: waker.clone(),
            });
            *id = Some(new);
        }
        drop(st);
        shared.cv.notify_one();
        Ok(())
    }

    /// Removes registration `id` (fired ones are gone already).
    pub(crate) fn deregister(&self, id: u64) {
        if let Some(Ok(r)) = self.running.get() {
            r.shared.state().regs.retain(|r| r.id != id);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The thread ends within one sleep slice (see the module docs).
        self.shared.state().shutdown = true;
        self.shared.cv.notify_one();
    }
}

/// Reads of `now_serving` spun before the first futex sleep on a new
/// value (as a blocking waiter spins before it sleeps): a hand-off that
/// comes within the spin costs the releaser no futex wake and this thread
/// no wake-up by the kernel.
const SPINS: u32 = 4_000;

fn run(sh: &Shared) {
    let mut st = sh.state();
    let mut due = Vec::new();
    // The value of `now_serving` this thread last spun on.
    let mut spun = None;
    loop {
        if st.shutdown {
            return;
        }
        let now = Instant::now();
        let s = sh.now_serving().load(SeqCst);
        // At most one liveness check per pass, whoever many watch.
        let mut alive = None;
        st.regs.retain_mut(|r| {
            let mut fire = r.at.is_some_and(|a| a <= now) || r.seen.is_some_and(|x| x != s);
            if !fire && r.seen.is_some() && r.check <= now {
                if *alive
                    .get_or_insert_with(|| claimed_by_the_living(sh.records(), serving_ticket(s)))
                {
                    r.check = now + ASYNC_LIVENESS_PERIOD;
                } else {
                    fire = true;
                }
            }
            if fire {
                due.push(r.waker.clone());
            }
            !fire
        });
        if !due.is_empty() {
            drop(st);
            for w in due.drain(..) {
                w.wake();
            }
            st = sh.state();
            continue;
        }
        let next = st.regs.iter().filter_map(|r| r.at).min();
        let check = st
            .regs
            .iter()
            .filter(|r| r.seen.is_some())
            .map(|r| r.check)
            .min();
        if let Some(c) = check {
            let wake = next.map_or(c, |a| a.min(c));
            let slice = wake
                .saturating_duration_since(now)
                .min(ASYNC_LIVENESS_PERIOD);
            drop(st);
            if spun != Some(s) {
                spun = Some(s);
                if spin_while(sh, s) {
                    st = sh.state();
                    continue;
                }
            }
            sleep_on_futex(sh, s, slice);
            st = sh.state();
        } else {
            st = match next {
                Some(a) => {
                    sh.cv
                        .wait_timeout(st, a - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => sh.cv.wait(st).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

/// Spins while `now_serving == s`, at most [`SPINS`] reads; whether it
/// changed.
fn spin_while(sh: &Shared, s: u64) -> bool {
    for _ in 0..SPINS {
        if sh.now_serving().load(SeqCst) != s {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

/// Sleeps while `now_serving == s`, at most `slice`, counted as a sleeper
/// (raised before the last check, as the blocking waiters do, so the
/// releaser's wake cannot be lost).
fn sleep_on_futex(sh: &Shared, s: u64, slice: Duration) {
    sh.sleepers().fetch_add(1, SeqCst);
    if sh.now_serving().load(SeqCst) == s {
        // The low half changes with every hand-off and park (see
        // `serving`), so the kernel's comparison misses neither.
        os::futex_wait(sh.futex(), s as u32, slice);
    }
    sh.sleepers().fetch_sub(1, SeqCst);
}
