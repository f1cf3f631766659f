//! One attachment to a segment, as Python sees it: the core `Segment`, the
//! turn this process holds (if any) and which thread holds it.
//!
//! Every shared object keeps an `Arc<Conn>` and its handle; each access
//! goes through [`Conn::with`], which hands out the turn only to the thread
//! that holds it and raises `NotInTurn` otherwise. The state lock is held
//! only while attached to the interpreter and never while waiting, so it is
//! never contended except by re-entrancy (which then also means "not your
//! turn") and no thread holds it at a `fork`.

use std::cell::{Cell, UnsafeCell};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use shmheap::{Error, Segment, SegmentOptions, Turn, TurnFuture};

use crate::errors::{Core, exc, not_in_turn, to_py};

/// A turn, or an async wait for one (which becomes the turn in place).
pub(crate) enum Stage<'a> {
    Waiting(TurnFuture<'a>),
    Held(Turn<'a>),
}

self_cell::self_cell!(
    /// A turn (or a wait for one) together with the segment it borrows.
    pub(crate) struct HeldTurn {
        owner: Arc<Segment>,
        #[covariant]
        dependent: Stage,
    }
);

/// A held turn that may move between threads inside the `Conn` mutex.
pub(crate) struct SendTurn(pub(crate) HeldTurn);

// `Send` without help: the core's `Turn` and `TurnFuture` are `Send` (the
// process-local lock's guard may be released on any thread).
const _: () = {
    const fn send<T: Send>() {}
    send::<SendTurn>();
};

/// How to attach again (in a forked child, or when unpickled elsewhere).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Where {
    Shm(String),
    File(PathBuf),
}

/// Options that a re-attach keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reopen {
    pub(crate) validate: bool,
    pub(crate) auto_recover: bool,
}

impl Where {
    pub(crate) fn attach(&self, r: Reopen) -> Result<Segment, Error> {
        let o = SegmentOptions::default()
            .validate_on_attach(r.validate)
            .auto_recover(r.auto_recover);
        match self {
            Where::Shm(name) => o.attach(name),
            Where::File(path) => o.attach_file(path),
        }
    }
}

/// Lets one thread of this process at a time hold or wait for the core
/// turn with a blocking wait, checked for signals while waiting. (The
/// core's own process-local FIFO lock, which async waits queue in, can time
/// out too; this gate predates it and keeps the blocking path as it was.)
#[derive(Default)]
struct Gate {
    busy: Mutex<bool>,
    freed: Condvar,
    /// Threads waiting on `freed` (a release wakes one only if some wait:
    /// `notify_one` is a system call).
    waiting: AtomicUsize,
}

impl Gate {
    /// Takes the gate if it is free, without waiting.
    fn try_take(&self) -> bool {
        match self.busy.try_lock() {
            Ok(mut busy) if !*busy => {
                *busy = true;
                true
            }
            _ => false,
        }
    }
}

pub(crate) struct State {
    seg: Option<Arc<Segment>>,
    turn: Option<SendTurn>,
    /// The thread holding the turn (`thread_mark`), 0 if none.
    owner: usize,
    gate: Arc<Gate>,
    /// Counts turns taken, so a `Turn` object of an ended turn is refused.
    pub(crate) turn_id: u64,
    /// The process that attached (0 after a fork: attach again on use).
    pid: u32,
    pub(crate) place: Option<Where>,
    pub(crate) reopen: Reopen,
    /// `Segment` objects open on this attachment (the last `close()`
    /// detaches).
    opens: usize,
    /// Taken tuple messages that hold live containers: freed by `t.free`.
    pub(crate) taken: Vec<(Py<PyAny>, shmheap::Handle)>,
}

/// A value used only while attached to the interpreter: the GIL (the
/// module declares `gil_used`, and abi3 modules do not load in
/// free-threaded builds) makes every access exclusive, and a borrow flag
/// catches re-entrancy (Python code run while the state is borrowed).
/// Cheaper than a mutex on the path of every shared-object access.
pub(crate) struct GilCell<T> {
    busy: Cell<bool>,
    v: UnsafeCell<T>,
}

// SAFETY: every access goes through `borrow`, which needs a `Python<'_>`
// token: only a thread attached to the interpreter gets one, and with the
// GIL one such thread runs at a time (its hand-offs are synchronising), so
// `busy` and `v` are never accessed concurrently. `T: Send` because the
// value may be used from any attached thread.
unsafe impl<T: Send> Sync for GilCell<T> {}

/// A borrow of a [`GilCell`]; ends when dropped.
pub(crate) struct GilRef<'a, T> {
    cell: &'a GilCell<T>,
}

impl<T> GilCell<T> {
    fn new(v: T) -> Self {
        GilCell {
            busy: Cell::new(false),
            v: UnsafeCell::new(v),
        }
    }

    /// The value, unless it is borrowed already (re-entrancy).
    #[inline]
    fn borrow(&self, _py: Python<'_>) -> Option<GilRef<'_, T>> {
        if self.busy.replace(true) {
            return None;
        }
        Some(GilRef { cell: self })
    }
}

impl<T> std::ops::Deref for GilRef<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `busy` was false and is true while this borrow lives, so
        // it is the only reference to the value (see `GilCell`'s Sync).
        unsafe { &*self.cell.v.get() }
    }
}

impl<T> std::ops::DerefMut for GilRef<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes it unique here too.
        unsafe { &mut *self.cell.v.get() }
    }
}

impl<T> Drop for GilRef<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.cell.busy.set(false);
    }
}

pub(crate) struct Conn {
    state: GilCell<State>,
    /// Buffer exports of shared bytearrays and views of shared arrays:
    /// ((offset, generation), count) (see `exports`). Its own lock: a view
    /// may be released while the state is locked.
    pub(crate) exports: Mutex<Vec<((u64, u64), usize)>>,
    /// The sum of the counts in `exports`, read without the lock on the
    /// paths that free (zero nearly always).
    pub(crate) exported: AtomicUsize,
}

/// Every live `Conn`, for the fork handler.
static CONNS: Mutex<Vec<Weak<Conn>>> = Mutex::new(Vec::new());

thread_local! {
    static MARK: u8 = const { 0 };
}

/// A cheap, non-zero id of the current thread.
#[inline]
fn thread_mark() -> usize {
    MARK.with(|m| m as *const u8 as usize)
}

/// Longest a wait goes without checking for signals (Ctrl-C).
const SLICE: Duration = Duration::from_millis(50);

pub(crate) fn closed(py: Python<'_>) -> PyErr {
    exc(py, "Error", "the segment is closed")
}

impl Conn {
    pub(crate) fn new(seg: Segment, place: Option<Where>, reopen: Reopen) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            state: GilCell::new(State {
                seg: Some(Arc::new(seg)),
                turn: None,
                owner: 0,
                gate: Arc::default(),
                turn_id: 0,
                pid: std::process::id(),
                place,
                reopen,
                opens: 1,
                taken: Vec::new(),
            }),
            exports: Mutex::new(Vec::new()),
            exported: AtomicUsize::new(0),
        });
        let mut all = CONNS.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&conn));
        conn
    }

    /// A live attachment of this process to `place`, if there is one
    /// (unpickling a segment and the shared objects of it gives them one
    /// attachment, as in the process that pickled them).
    pub(crate) fn find(py: Python<'_>, place: &Where) -> Option<Arc<Conn>> {
        let all = CONNS.lock().unwrap_or_else(|p| p.into_inner());
        let pid = std::process::id();
        all.iter().filter_map(Weak::upgrade).find(|c| {
            c.state.borrow(py).is_some_and(|mut st| {
                let same = st.seg.is_some() && st.pid == pid && st.place.as_ref() == Some(place);
                if same {
                    st.opens += 1;
                }
                same
            })
        })
    }

    /// The state, for bookkeeping that needs no turn.
    pub(crate) fn state(&self, py: Python<'_>) -> PyResult<GilRef<'_, State>> {
        self.state
            .borrow(py)
            .ok_or_else(|| exc(py, "Error", "shmheap object used re-entrantly"))
    }

    /// Runs `f` with this process's turn, if the calling thread holds it.
    #[inline]
    pub(crate) fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Turn<'_>, &mut State) -> PyResult<R>,
    ) -> PyResult<R> {
        let Some(mut guard) = self.state.borrow(py) else {
            return Err(not_in_turn(py, "the turn is in use by another thread"));
        };
        let st = &mut *guard;
        if st.owner != thread_mark() {
            return Err(not_in_turn(
                py,
                "this process holds no turn of the segment here: use it inside `with seg.turn():`",
            ));
        }
        let Some(mut turn) = st.turn.take() else {
            return Err(not_in_turn(py, "no turn is held"));
        };
        let r = turn.0.with_dependent_mut(|_, t| match t {
            Stage::Held(t) => f(t, st),
            Stage::Waiting(_) => Err(not_in_turn(py, "no turn is held")),
        });
        st.turn = Some(turn);
        r
    }

    /// The segment, attached again first if this is a forked child.
    pub(crate) fn segment(&self, py: Python<'_>) -> PyResult<Arc<Segment>> {
        let mut st = self.state(py)?;
        // The fork handler sets `pid` to 0 in a child (no getpid per turn).
        if st.pid == 0 {
            // A forked child: the parent's attachment is not ours to drop
            // (it would clear the parent's process record, or unlink).
            if let Some(t) = st.turn.take() {
                std::mem::forget(t);
            }
            if let Some(old) = st.seg.take() {
                std::mem::forget(old);
            }
            let place = st.place.clone().ok_or_else(|| {
                exc(
                    py,
                    "Error",
                    "an in-memory segment cannot be used after fork",
                )
            })?;
            st.seg = Some(Arc::new(place.attach(st.reopen).py(py)?));
            st.pid = std::process::id();
        }
        st.seg.clone().ok_or_else(|| closed(py))
    }

    /// Waits for the turn (`timeout` None: as long as it takes; `Some(0)`
    /// with `try_only`: only if free). Returns the new turn's id, or None
    /// when `try_only` and the turn is not free.
    pub(crate) fn acquire(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        try_only: bool,
    ) -> PyResult<Option<u64>> {
        let deadline = match timeout {
            Some(t) if !(t >= 0.0 && t.is_finite()) => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "timeout must be a non-negative number of seconds",
                ));
            }
            Some(t) => Some(Instant::now() + Duration::from_secs_f64(t)),
            None => None,
        };
        let seg = self.segment(py)?;
        let gate = {
            let st = self.state(py)?;
            if st.owner == thread_mark() {
                return Err(exc(
                    py,
                    "Error",
                    "this thread holds the turn already (turns do not nest)",
                ));
            }
            st.gate.clone()
        };
        // 1. The gate: one thread of this process at a time.
        while !gate.try_take() {
            let got = py.detach(|| {
                let mut busy = gate.busy.lock().unwrap_or_else(|p| p.into_inner());
                if *busy && !try_only {
                    let wait = remaining(deadline).map_or(SLICE, |r| r.min(SLICE));
                    gate.waiting.fetch_add(1, Ordering::SeqCst);
                    busy = gate
                        .freed
                        .wait_timeout(busy, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    gate.waiting.fetch_sub(1, Ordering::SeqCst);
                }
                if *busy {
                    false
                } else {
                    *busy = true;
                    true
                }
            });
            if got {
                break;
            }
            if try_only {
                return Ok(None);
            }
            if remaining(deadline) == Some(Duration::ZERO) {
                return Err(to_py(py, Error::Timeout));
            }
            py.check_signals()?;
        }
        // 2. The core turn, in slices so that signals are seen.
        let held = loop {
            let r = if try_only {
                HeldTurn::try_new(seg.clone(), |s| {
                    s.try_turn()?.ok_or(Error::Timeout).map(Stage::Held)
                })
            } else {
                // Uncontended: take it without letting go of the interpreter.
                match HeldTurn::try_new(seg.clone(), |s| {
                    s.try_turn()?.ok_or(Error::Timeout).map(Stage::Held)
                }) {
                    Ok(t) => Ok(t),
                    Err(Error::Timeout) => {
                        let wait = remaining(deadline).map_or(SLICE, |r| r.min(SLICE));
                        py.detach(|| {
                            HeldTurn::try_new(seg.clone(), |s| {
                                s.turn_timeout(wait).map(Stage::Held)
                            })
                            .map(SendTurn)
                        })
                        .map(|t| t.0)
                    }
                    Err(e) => Err(e),
                }
            };
            match r {
                Ok(t) => break t,
                Err(Error::Timeout) if !try_only && remaining(deadline) != Some(Duration::ZERO) => {
                    if let Err(e) = py.check_signals() {
                        open_gate(&gate);
                        return Err(e);
                    }
                }
                Err(Error::Timeout) if try_only => {
                    open_gate(&gate);
                    return Ok(None);
                }
                Err(e) => {
                    open_gate(&gate);
                    return Err(to_py(py, e));
                }
            }
        };
        self.install(py, SendTurn(held)).map(Some)
    }

    /// Makes `held` (a turn just obtained) this process's turn, held by
    /// the calling thread; returns its id.
    pub(crate) fn install(&self, py: Python<'_>, held: SendTurn) -> PyResult<u64> {
        let mut st = self.state(py)?;
        st.turn = Some(held);
        st.owner = thread_mark();
        st.turn_id += 1;
        Ok(st.turn_id)
    }

    /// An async wait for the turn (`timeout` in seconds, as `acquire`'s),
    /// to be polled by `aio::TurnWaiter`. It queues with every other wait
    /// of this process in the core's FIFO lock (not in the gate, which only
    /// blocking waits pass).
    pub(crate) fn wait_async(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<SendTurn> {
        let timeout = match timeout {
            Some(t) if !(t >= 0.0 && t.is_finite()) => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "timeout must be a non-negative number of seconds",
                ));
            }
            Some(t) => Some(Duration::from_secs_f64(t)),
            None => None,
        };
        let seg = self.segment(py)?;
        Ok(SendTurn(HeldTurn::new(seg, |s| {
            Stage::Waiting(match timeout {
                Some(d) => s.turn_async_timeout(d),
                None => s.turn_async(),
            })
        })))
    }

    /// Hands the turn `id` on (a no-op if that turn has ended already).
    pub(crate) fn release(&self, py: Python<'_>, id: u64) -> PyResult<()> {
        let (turn, gate) = {
            let mut st = self.state(py)?;
            if st.turn_id != id || st.turn.is_none() {
                return Ok(());
            }
            if st.owner != thread_mark() {
                return Err(exc(
                    py,
                    "Error",
                    "a turn can be released only by the thread that took it",
                ));
            }
            st.owner = 0;
            // Taken tuples not freed stay allocated, as in the core.
            st.taken.clear();
            (st.turn.take(), st.gate.clone())
        };
        drop(turn);
        open_gate(&gate);
        Ok(())
    }

    /// Whether turn `id` is the one held now.
    pub(crate) fn holds(&self, py: Python<'_>, id: u64) -> bool {
        self.state
            .borrow(py)
            .is_some_and(|st| st.turn_id == id && st.turn.is_some() && st.owner == thread_mark())
    }

    /// Closes one `Segment` object of this attachment; the last one
    /// releases a held turn and detaches.
    pub(crate) fn close(&self, py: Python<'_>) -> PyResult<()> {
        {
            let mut st = self.state(py)?;
            st.opens = st.opens.saturating_sub(1);
            if st.opens > 0 {
                return Ok(());
            }
        }
        let id = self.state(py)?.turn_id;
        self.release(py, id)?;
        let seg = {
            let mut st = self.state(py)?;
            if st.turn.is_some() {
                return Err(exc(
                    py,
                    "Error",
                    "another thread holds the turn: close the segment after it releases it",
                ));
            }
            st.seg.take()
        };
        drop(seg);
        Ok(())
    }

    pub(crate) fn is_closed(&self, py: Python<'_>) -> bool {
        self.state.borrow(py).is_some_and(|st| st.seg.is_none())
    }

    /// In a forked child: forget the parent's turn and attachment (they
    /// are the parent's; dropping them would hand the parent's turn on or
    /// clear its process record); the next use attaches again.
    fn forked(&self, py: Python<'_>) {
        let Some(mut st) = self.state.borrow(py) else {
            return;
        };
        if let Some(t) = st.turn.take() {
            std::mem::forget(t);
        }
        if let Some(s) = st.seg.take() {
            std::mem::forget(s);
            // `segment()` attaches again on next use.
            st.pid = 0;
        }
        st.owner = 0;
        st.gate = Arc::default();
        // The parent's taken tuples are the parent's to free.
        for (obj, _) in st.taken.drain(..) {
            std::mem::forget(obj);
        }
    }
}

fn open_gate(gate: &Gate) {
    *gate.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
    // A waiter raises `waiting` while holding `busy`'s lock, before it
    // waits; we cleared `busy` under that lock, so either it sees the gate
    // free or we see it waiting.
    if gate.waiting.load(Ordering::SeqCst) > 0 {
        gate.freed.notify_one();
    }
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// Called by `os.register_at_fork(after_in_child=...)`.
#[pyfunction]
pub(crate) fn _after_fork_in_child(py: Python<'_>) {
    let Ok(all) = CONNS.try_lock() else {
        return;
    };
    for c in all.iter().filter_map(Weak::upgrade) {
        c.forked(py);
    }
}
