//! Async turns for asyncio: the core's `TurnFuture`, polled from Python.
//!
//! `Segment._turn_waiter(timeout)` gives a [`TurnWaiter`]; the coroutine in
//! `shmheap/_aio.py` calls `poll(wake)` on the event loop's thread and,
//! while it returns None, awaits an asyncio future that `wake` resolves
//! (through `loop.call_soon_threadsafe`). The core future's waker calls
//! `wake` from whichever thread wakes it (the segment's waiter thread, or a
//! thread handing the turn on), taking the GIL for that call only. When
//! the core future resolves, the turn becomes this process's turn held by
//! the event loop's thread (as `Segment.turn()` makes it the calling
//! thread's). `cancel()` (the coroutine's `finally`) drops a wait that did
//! not finish: the core's cancellation guarantees apply (never entered,
//! the queue never blocked, no registration left).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use pyo3::prelude::*;

use crate::conn::{Conn, SendTurn, Stage};
use crate::errors::{exc, to_py};
use crate::segment::PyTurn;

/// Calls a Python callable when the core future is woken.
struct PyWaker {
    callback: Py<PyAny>,
}

impl Wake for PyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        Python::attach(|py| {
            // A closed event loop refuses the call: nobody waits then.
            if let Err(e) = self.callback.call0(py) {
                drop(e);
            }
        });
    }
}

/// An async wait for a segment's turn (see the module documentation).
#[pyclass(frozen, module = "shmheap", name = "_TurnWaiter")]
pub(crate) struct TurnWaiter {
    conn: Arc<Conn>,
    wait: Mutex<Option<SendTurn>>,
}

impl TurnWaiter {
    pub(crate) fn new(conn: Arc<Conn>, wait: SendTurn) -> TurnWaiter {
        TurnWaiter {
            conn,
            wait: Mutex::new(Some(wait)),
        }
    }
}

#[pymethods]
impl TurnWaiter {
    /// Polls the wait once: the `Turn` if it came (now held by this
    /// thread), None if not yet (`wake()` will be called when it may
    /// have); raises `Timeout`, `PeerDied`, ... if the wait failed.
    fn poll(&self, py: Python<'_>, wake: Py<PyAny>) -> PyResult<Option<PyTurn>> {
        let mut slot = self.wait.lock().unwrap_or_else(|p| p.into_inner());
        let Some(wait) = slot.as_mut() else {
            return Err(exc(py, "Error", "this wait for the turn has ended"));
        };
        let waker = Waker::from(Arc::new(PyWaker { callback: wake }));
        // The poll does not block (a recovery after a dead holder, with
        // `auto_recover`, is the exception): done with the GIL released,
        // so that the waker may take it.
        let r = py.detach(move || {
            let mut cx = Context::from_waker(&waker);
            wait.0.with_dependent_mut(|_, stage| match stage {
                Stage::Waiting(f) => match Pin::new(f).poll(&mut cx) {
                    Poll::Ready(Ok(t)) => {
                        *stage = Stage::Held(t);
                        Poll::Ready(Ok(()))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                },
                Stage::Held(_) => Poll::Ready(Ok(())),
            })
        });
        match r {
            Poll::Pending => Ok(None),
            Poll::Ready(Err(e)) => {
                *slot = None;
                Err(to_py(py, e))
            }
            Poll::Ready(Ok(())) => {
                let Some(held) = slot.take() else {
                    return Err(exc(py, "Error", "this wait for the turn has ended"));
                };
                drop(slot);
                let id = self.conn.install(py, held)?;
                Ok(Some(PyTurn::new(self.conn.clone(), id)))
            }
        }
    }

    /// Gives the wait up (a no-op once it resolved): never enters the
    /// turn, never blocks the other waiters.
    fn cancel(&self, py: Python<'_>) {
        let wait = self.wait.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Dropping may wake the next local waiter (its waker takes the GIL).
        py.detach(|| drop(wait));
    }
}
