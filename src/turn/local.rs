//! The process-local FIFO lock in front of the turn.
//!
//! A process holds at most one ticket of a segment at a time (so the
//! ticket ring of `MAX_PROCS` slots never overflows): its threads and async
//! tasks first queue here, in arrival order, and only the lock's holder
//! draws a ticket and waits for the turn. Unlike `std::sync::Mutex` this
//! lock
//!
//! - is FIFO: an unlock hands it directly to the oldest waiter (a newcomer
//!   never overtakes a queued waiter), threads and tasks in one queue;
//! - has a guard that is `Send`: a [`crate::Turn`] can be held across an
//!   `.await` in a multi-threaded runtime and dropped on another thread;
//! - can time out, and be waited for asynchronously (a task's `Waker` in the
//!   queue instead of a parked thread), with a cancellation that leaves no
//!   entry behind;
//! - remembers which thread took it, so that a blocking wait on that thread
//!   gives [`Error::TurnHeld`] instead of a hang.
//!
//! The uncontended path is one compare-exchange to lock and one to unlock
//! (plus a relaxed store of the holder's thread mark), as a futex mutex.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicUsize};
use std::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::thread::Thread;
use std::time::Instant;

use crate::Error;

/// `state` bit: the lock is held.
const LOCKED: u32 = 1;
/// `state` bit: the queue is not empty (an unlock must hand over).
const QUEUED: u32 = 2;

thread_local! {
    static MARK: u8 = const { 0 };
}

/// A cheap, non-zero id of the calling thread (the address of a
/// thread-local; unique among the threads alive).
fn thread_mark() -> usize {
    MARK.with(|m| m as *const u8 as usize)
}

/// How a queued waiter is woken.
enum Wakeup {
    Thread(Thread),
    Task(Waker),
}

impl Wakeup {
    fn wake(self) {
        match self {
            Wakeup::Thread(t) => t.unpark(),
            Wakeup::Task(w) => w.wake(),
        }
    }
}

struct Entry {
    id: u64,
    wake: Wakeup,
}

#[derive(Default)]
struct Queue {
    entries: VecDeque<Entry>,
    /// The waiter the lock was handed to, until it notices (at most one:
    /// the lock is its own from the hand-over on).
    granted: Option<u64>,
    next_id: u64,
}

/// A FIFO lock owning a `T` (see the module documentation).
pub(crate) struct LocalLock<T> {
    state: AtomicU32,
    /// `thread_mark` of the thread that took the lock, 0 while free.
    holder: AtomicUsize,
    queue: Mutex<Queue>,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is reached only through a `LocalGuard`, and at most one
// guard exists at a time (the lock's protocol); the lock's acquire/release
// orderings (the state word's compare-exchanges, or the queue mutex on a
// hand-over) order the accesses of successive holders. `T: Send` because
// successive holders may be different threads.
unsafe impl<T: Send> Sync for LocalLock<T> {}
// SAFETY: as above; owning the lock owns the `T`.
unsafe impl<T: Send> Send for LocalLock<T> {}

/// Exclusive access to the lock's value; dropping it unlocks (handing the
/// lock to the oldest waiter). `Send`: it may be dropped on any thread.
pub(crate) struct LocalGuard<'a, T> {
    lock: &'a LocalLock<T>,
}

impl<T: Default> Default for LocalLock<T> {
    fn default() -> Self {
        LocalLock {
            state: AtomicU32::new(0),
            holder: AtomicUsize::new(0),
            queue: Mutex::new(Queue::default()),
            data: UnsafeCell::new(T::default()),
        }
    }
}

impl<T> LocalLock<T> {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn guard(&self) -> LocalGuard<'_, T> {
        self.holder.store(thread_mark(), Relaxed);
        LocalGuard { lock: self }
    }

    /// The lock if it is free and nobody queues; never waits.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<LocalGuard<'_, T>> {
        self.state
            .compare_exchange(0, LOCKED, Acquire, Relaxed)
            .is_ok()
            .then(|| self.guard())
    }

    /// Whether the calling thread took the lock and has not released it.
    pub(crate) fn held_here(&self) -> bool {
        self.holder.load(Relaxed) == thread_mark()
    }

    /// Waits (parking the thread) for the lock until `deadline`.
    /// [`Error::TurnHeld`] if this thread holds it already,
    /// [`Error::Timeout`] at the deadline (the queue entry removed).
    #[inline]
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<LocalGuard<'_, T>, Error> {
        if let Some(g) = self.try_lock() {
            return Ok(g);
        }
        self.lock_slow(deadline)
    }

    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> Result<LocalGuard<'_, T>, Error> {
        if self.held_here() {
            return Err(Error::TurnHeld);
        }
        let id = match self.enqueue(Wakeup::Thread(std::thread::current())) {
            Ok(g) => return Ok(g),
            Err(id) => id,
        };
        loop {
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now < d {
                        std::thread::park_timeout(d - now);
                    }
                }
            }
            let mut q = self.queue();
            if q.granted == Some(id) {
                q.granted = None;
                drop(q);
                return Ok(self.guard());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.remove(&mut q, id);
                return Err(Error::Timeout);
            }
        }
    }

    /// Takes the lock if it is free, else queues `wake` and returns its id.
    fn enqueue(&self, wake: Wakeup) -> Result<LocalGuard<'_, T>, u64> {
        let mut q = self.queue();
        loop {
            let s = self.state.load(Relaxed);
            if s == 0 {
                if self
                    .state
                    .compare_exchange(0, LOCKED, Acquire, Relaxed)
                    .is_ok()
                {
                    drop(q);
                    return Ok(self.guard());
                }
                continue;
            }
            // Under the queue mutex: an unlock that sees QUEUED takes the
            // mutex too, so it finds the entry pushed below.
            if s & QUEUED != 0
                || self
                    .state
                    .compare_exchange(s, s | QUEUED, Relaxed, Relaxed)
                    .is_ok()
            {
                break;
            }
        }
        let id = q.next_id;
        q.next_id += 1;
        q.entries.push_back(Entry { id, wake });
        Err(id)
    }

    /// Removes queue entry `id` (a waiter giving up).
    fn remove(&self, q: &mut Queue, id: u64) {
        q.entries.retain(|e| e.id != id);
        if q.entries.is_empty() {
            // The holder's unlock, if racing, waits for the queue mutex
            // (QUEUED made its fast path fail) and then finds no entry.
            self.state.fetch_and(!QUEUED, Relaxed);
        }
    }

    /// The asynchronous `lock`: `id` is the caller's queue entry (None
    /// before the first poll and after the lock came).
    pub(crate) fn poll_lock(&self, id: &mut Option<u64>, waker: &Waker) -> Poll<LocalGuard<'_, T>> {
        match *id {
            None => match self.enqueue(Wakeup::Task(waker.clone())) {
                Ok(g) => Poll::Ready(g),
                Err(new) => {
                    *id = Some(new);
                    Poll::Pending
                }
            },
            Some(me) => {
                let mut q = self.queue();
                if q.granted == Some(me) {
                    q.granted = None;
                    drop(q);
                    *id = None;
                    return Poll::Ready(self.guard());
                }
                if let Some(e) = q.entries.iter_mut().find(|e| e.id == me) {
                    match &e.wake {
                        Wakeup::Task(w) if w.will_wake(waker) => {}
                        _ => e.wake = Wakeup::Task(waker.clone()),
                    }
                }
                Poll::Pending
            }
        }
    }

    /// Withdraws queue entry `id` (a dropped future): if the lock was
    /// handed to it meanwhile, it is handed on at once.
    pub(crate) fn cancel(&self, id: u64) {
        let mut q = self.queue();
        if q.granted == Some(id) {
            q.granted = None;
            drop(q);
            drop(self.guard());
            return;
        }
        self.remove(&mut q, id);
    }

    fn unlock(&self) {
        self.holder.store(0, Relaxed);
        if self
            .state
            .compare_exchange(LOCKED, 0, Release, Relaxed)
            .is_ok()
        {
            return;
        }
        self.unlock_slow();
    }

    #[cold]
    fn unlock_slow(&self) {
        let next = {
            let mut q = self.queue();
            match q.entries.pop_front() {
                Some(e) => {
                    // Hand over: the lock stays LOCKED, now the entry's.
                    q.granted = Some(e.id);
                    if q.entries.is_empty() {
                        self.state.store(LOCKED, Relaxed);
                    }
                    Some(e.wake)
                }
                None => {
                    self.state.store(0, Release);
                    None
                }
            }
        };
        // Outside the queue mutex: a waker may run arbitrary code.
        if let Some(w) = next {
            w.wake();
        }
    }
}

impl<T> std::ops::Deref for LocalGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `LocalLock`'s Sync).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> std::ops::DerefMut for LocalGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for LocalGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let f = Arc::new(Flag(AtomicBool::new(false)));
        (f.clone(), Waker::from(f))
    }

    #[test]
    fn tasks_are_served_in_order_and_cancel_cleanly() {
        let lock: LocalLock<u32> = LocalLock::default();
        let mut g = lock.try_lock().unwrap();
        *g = 1;
        let (fa, wa) = flag();
        let (fb, wb) = flag();
        let (fc, wc) = flag();
        let (mut a, mut b, mut c) = (None, None, None);
        assert!(lock.poll_lock(&mut a, &wa).is_pending());
        assert!(lock.poll_lock(&mut b, &wb).is_pending());
        assert!(lock.poll_lock(&mut c, &wc).is_pending());
        assert!(lock.try_lock().is_none(), "a newcomer never overtakes");
        // b gives up; a gets the lock first, then c.
        lock.cancel(b.take().unwrap());
        drop(g);
        assert!(fa.0.load(Ordering::SeqCst) && !fb.0.load(Ordering::SeqCst));
        let Poll::Ready(mut ga) = lock.poll_lock(&mut a, &wa) else {
            panic!("a was handed the lock")
        };
        assert_eq!(*ga, 1);
        *ga = 2;
        assert!(lock.poll_lock(&mut c, &wc).is_pending());
        drop(ga);
        assert!(fc.0.load(Ordering::SeqCst));
        // c was handed the lock but is dropped before it looks: handed on.
        lock.cancel(c.take().unwrap());
        let g = lock.try_lock().expect("free again");
        assert_eq!(*g, 2);
        drop(g);
    }

    #[test]
    fn a_blocking_lock_on_the_holding_thread_is_refused() {
        let lock: LocalLock<()> = LocalLock::default();
        let g = lock.lock(None).unwrap();
        assert!(matches!(lock.lock(None), Err(Error::TurnHeld)));
        drop(g);
        assert!(lock.lock(Some(Instant::now())).is_ok());
    }

    #[test]
    #[cfg_attr(miri, ignore = "parks threads with timeouts")]
    fn threads_time_out_and_hand_over() {
        let lock: LocalLock<u64> = LocalLock::default();
        let g = lock.lock(None).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let t0 = Instant::now();
                let r = lock.lock(Some(t0 + Duration::from_millis(20)));
                assert!(matches!(r, Err(Error::Timeout)));
            })
            .join()
            .unwrap();
            let h = s.spawn(|| {
                let mut g = lock.lock(None).unwrap();
                *g += 1;
            });
            while lock.queue().entries.is_empty() {
                std::thread::yield_now();
            }
            drop(g);
            h.join().unwrap();
        });
        assert_eq!(*lock.try_lock().unwrap(), 1);
    }
}
