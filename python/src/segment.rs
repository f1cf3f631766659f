//! `shmheap.Segment` and `shmheap.Turn`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use shmheap::{Error, Handle, Recovery, Report, Segment, SegmentOptions, Stats, Turn, ValueRef};

use crate::aio::TurnWaiter;
use crate::conn::{Conn, Reopen, State, Where};
use crate::convert::{from_py, to_py, value_to_py};
use crate::errors::{Core, exc, not_in_turn};
use crate::objects::{Obj, SharedByteArray, SharedDict};

/// A shared-memory segment this process is attached to.
///
/// `Segment.create(name, size)` makes one (`NameTaken` if the name
/// exists), `Segment.attach(name)` attaches and validates it. Use it as a
/// `with` block to detach at the end (the creator also removes the name,
/// unless created with `keep=True`). A `Segment` pickles by name: a
/// `multiprocessing` child attaches by itself (after `fork` too, as a
/// process of its own).
#[pyclass(frozen, module = "shmheap", name = "Segment")]
pub(crate) struct PySegment {
    pub(crate) conn: Arc<Conn>,
    /// This object was closed (the attachment lives on while other
    /// `Segment` objects of it are open).
    closed: AtomicBool,
}

fn options(
    max_processes: u32,
    mode: u32,
    keep: bool,
    auto_recover: bool,
    size: u64,
) -> SegmentOptions {
    Segment::options()
        .size(size)
        .max_processes(max_processes)
        .mode(mode)
        .keep(keep)
        .auto_recover(auto_recover)
}

fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("size", s.size)?;
    d.set_item("used", s.used)?;
    d.set_item("free", s.free)?;
    d.set_item("blocks", s.blocks)?;
    d.set_item("free_in_bins", s.free_in_bins)?;
    d.set_item("high_water", s.high_water)?;
    Ok(d)
}

fn report_into(d: &Bound<'_, PyDict>, r: &Report) -> PyResult<()> {
    d.set_item("heap_bytes", r.heap_bytes)?;
    d.set_item("blocks", r.blocks)?;
    d.set_item("roots", r.roots)?;
    d.set_item("messages", r.messages)?;
    d.set_item("reachable", r.reachable)?;
    d.set_item("orphans", r.orphans)?;
    Ok(())
}

fn recovery_dict<'py>(py: Python<'py>, r: &Recovery) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("dead_pid", r.dead_pid)?;
    d.set_item("records_undone", r.records_undone)?;
    d.set_item("blocks_reclaimed", r.blocks_reclaimed)?;
    d.set_item("bytes_reclaimed", r.bytes_reclaimed)?;
    let report = PyDict::new(py);
    report_into(&report, &r.report)?;
    d.set_item("report", report)?;
    Ok(d)
}

impl PySegment {
    pub(crate) fn from_conn(conn: Arc<Conn>) -> PySegment {
        PySegment {
            conn,
            closed: AtomicBool::new(false),
        }
    }

    /// The attachment, unless this object was closed.
    fn conn(&self, py: Python<'_>) -> PyResult<&Arc<Conn>> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(crate::conn::closed(py));
        }
        Ok(&self.conn)
    }

    /// Attaches to `place` (the one path of `attach`, `attach_file` and
    /// unpickling).
    fn attach_at(
        py: Python<'_>,
        place: Where,
        validate: bool,
        auto_recover: bool,
    ) -> PyResult<PySegment> {
        let r = Reopen {
            validate,
            auto_recover,
        };
        let seg = py.detach(|| place.attach(r)).py(py)?;
        Ok(Self::open(seg, place, validate, auto_recover))
    }

    fn open(seg: Segment, place: Where, validate: bool, auto_recover: bool) -> PySegment {
        PySegment::from_conn(Conn::new(
            seg,
            Some(place),
            Reopen {
                validate,
                auto_recover,
            },
        ))
    }
}

#[pymethods]
impl PySegment {
    /// Creates the named segment (`/dev/shm/NAME`) of `size` bytes.
    #[staticmethod]
    #[pyo3(signature = (name, size, *, max_processes = 64, mode = 0o600, keep = false, auto_recover = false))]
    fn create(
        py: Python<'_>,
        name: &str,
        size: u64,
        max_processes: u32,
        mode: u32,
        keep: bool,
        auto_recover: bool,
    ) -> PyResult<PySegment> {
        let o = options(max_processes, mode, keep, auto_recover, size);
        let seg = py.detach(|| o.create(name)).py(py)?;
        Ok(Self::open(
            seg,
            Where::Shm(name.to_owned()),
            true,
            auto_recover,
        ))
    }

    /// Attaches to the named segment, validating it (`Corrupt` if damaged).
    #[staticmethod]
    #[pyo3(signature = (name, *, validate = true, auto_recover = false))]
    fn attach(
        py: Python<'_>,
        name: &str,
        validate: bool,
        auto_recover: bool,
    ) -> PyResult<PySegment> {
        Self::attach_at(py, Where::Shm(name.to_owned()), validate, auto_recover)
    }

    /// Creates a segment backed by the file at `path` (it outlives the
    /// processes with `keep=True`; `flush()` makes it durable).
    #[staticmethod]
    #[pyo3(signature = (path, size, *, max_processes = 64, mode = 0o600, keep = false, auto_recover = false))]
    fn create_file(
        py: Python<'_>,
        path: PathBuf,
        size: u64,
        max_processes: u32,
        mode: u32,
        keep: bool,
        auto_recover: bool,
    ) -> PyResult<PySegment> {
        let o = options(max_processes, mode, keep, auto_recover, size);
        let seg = py.detach(|| o.create_file(&path)).py(py)?;
        Ok(Self::open(seg, Where::File(path), true, auto_recover))
    }

    /// Attaches to a file-backed segment, validating it.
    #[staticmethod]
    #[pyo3(signature = (path, *, validate = true, auto_recover = false))]
    fn attach_file(
        py: Python<'_>,
        path: PathBuf,
        validate: bool,
        auto_recover: bool,
    ) -> PyResult<PySegment> {
        Self::attach_at(py, Where::File(path), validate, auto_recover)
    }

    /// Removes a segment's name from the system.
    #[staticmethod]
    fn unlink(py: Python<'_>, name: &str) -> PyResult<()> {
        Segment::unlink(name).py(py)
    }

    /// The name (or file path) the segment was opened by.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.conn(py)?.segment(py)?.name())
    }

    /// Size in bytes.
    #[getter]
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.conn(py)?.segment(py)?.size())
    }

    /// `(start, end)`: the addresses of the segment's mapping in this
    /// process (for tests that check a numpy view points into it).
    fn _mapping_range(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        let seg = self.conn(py)?.segment(py)?;
        let start = seg.base_address();
        Ok((start, start + seg.size() as usize))
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.closed.load(Ordering::Relaxed) || self.conn.is_closed(py)
    }

    /// How many turns in a row this process may take while the process
    /// next in line is not running (1, the default, is strict FIFO): with
    /// more processes than cores, a larger batch lets turns go by in runs;
    /// a waiting process then waits at most `batch` turns of each process
    /// ahead of it.
    #[getter]
    fn batch(&self, py: Python<'_>) -> PyResult<u32> {
        Ok(self.conn(py)?.segment(py)?.batch())
    }

    #[setter]
    fn set_batch(&self, py: Python<'_>, turns: u32) -> PyResult<()> {
        self.conn(py)?.segment(py)?.set_batch(turns);
        Ok(())
    }

    /// What the last recovery made by this process did, or None.
    #[getter]
    fn last_recovery<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.conn
            .segment(py)?
            .last_recovery()
            .map(|r| recovery_dict(py, &r))
            .transpose()
    }

    /// Pids of the processes attached now.
    fn processes(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        Ok(self.conn(py)?.segment(py)?.processes())
    }

    /// Waits for this process's turn (with the GIL released; Ctrl-C
    /// interrupts). `Timeout` after `timeout` seconds (the turn is then
    /// not entered). Use it as `with seg.turn() as t:`.
    #[pyo3(signature = (timeout = None))]
    fn turn(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PyTurn> {
        let id = self
            .conn(py)?
            .acquire(py, timeout, false)?
            .unwrap_or_default();
        Ok(PyTurn {
            conn: self.conn.clone(),
            id,
        })
    }

    /// A transactional turn: as `turn()`, but every change made in it is
    /// undone unless it commits. Use it as `with seg.transaction() as t:`:
    /// an exception leaving the block rolls the whole turn back (and
    /// propagates); a normal exit commits. A process that dies inside it
    /// leaves nothing of it behind either.
    #[pyo3(signature = (timeout = None))]
    fn transaction(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PyTurn> {
        let t = self.turn(py, timeout)?;
        if let Err(e) = t.with(py, |t, _| t.begin_transaction().py(py)) {
            t.release(py)?;
            return Err(e);
        }
        Ok(t)
    }

    /// Waits for this process's turn without blocking the event loop:
    /// `async with seg.turn_async() as t:` (or `t = await
    /// seg.turn_async()`, then `t.release()`), on asyncio. `Timeout` after
    /// `timeout` seconds. Cancelling the awaiting task (`wait_for`, a
    /// `TaskGroup`) never enters the turn and never blocks the others. The
    /// turn is held by the event loop's thread.
    #[pyo3(signature = (timeout = None))]
    fn turn_async<'py>(
        slf: &Bound<'py, Self>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if timeout.is_some_and(|t| !(t >= 0.0 && t.is_finite())) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "timeout must be a non-negative number of seconds",
            ));
        }
        py.import("shmheap._aio")?
            .getattr("AsyncTurn")?
            .call1((slf, timeout))
    }

    /// The core of `turn_async`: a wait to poll (see `shmheap._aio`).
    #[pyo3(signature = (timeout = None))]
    fn _turn_waiter(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<TurnWaiter> {
        let conn = self.conn(py)?;
        let wait = conn.wait_async(py, timeout)?;
        Ok(TurnWaiter::new(conn.clone(), wait))
    }

    /// The turn if it is free and nobody waits, else None (never blocks).
    fn try_turn(&self, py: Python<'_>) -> PyResult<Option<PyTurn>> {
        Ok(self
            .conn(py)?
            .acquire(py, Some(0.0), true)?
            .map(|id| PyTurn {
                conn: self.conn.clone(),
                id,
            }))
    }

    /// Recovers after `PeerDied`: takes the turn over from the dead
    /// holder, rolls back its interrupted operation, reclaims what nothing
    /// reaches, validates, and hands the turn on. None if there was nothing
    /// to recover (the holder is alive).
    fn recover<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let seg = self.conn(py)?.segment(py)?;
        let r = py.detach(|| seg.recover()).py(py)?;
        r.map(|r| recovery_dict(py, &r)).transpose()
    }

    /// Makes a file-backed segment durable (msync); nothing to do for
    /// shared memory.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let seg = self.conn(py)?.segment(py)?;
        py.detach(|| seg.flush()).py(py)
    }

    /// Detaches (releasing a turn this thread holds); the creator also
    /// removes the name unless it was created with `keep=True`. Shared
    /// objects of this segment are unusable afterwards.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.conn.close(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let f = py.import("shmheap._native")?.getattr("_reattach")?;
        let st = self.conn.state(py)?;
        let (kind, place) = match &st.place {
            Some(Where::Shm(n)) => ("shm", n.clone()),
            Some(Where::File(p)) => ("file", p.display().to_string()),
            None => return Err(exc(py, "Error", "an in-memory segment cannot be pickled")),
        };
        let args = (kind, place, st.reopen.validate, st.reopen.auto_recover).into_pyobject(py)?;
        Ok((f, args))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.conn(py).and_then(|c| c.segment(py)) {
            Ok(s) => format!(
                "<shmheap.Segment {:?} size={}>",
                s.name().unwrap_or_default(),
                s.size()
            ),
            Err(_) => "<shmheap.Segment (closed)>".to_owned(),
        }
    }
}

/// Unpickles a `Segment`: attaches again by name or path.
#[pyfunction]
pub(crate) fn _reattach(
    py: Python<'_>,
    kind: &str,
    place: String,
    validate: bool,
    auto_recover: bool,
) -> PyResult<PySegment> {
    let place = match kind {
        "shm" => Where::Shm(place),
        _ => Where::File(PathBuf::from(place)),
    };
    if let Some(conn) = Conn::find(py, &place) {
        return Ok(PySegment::from_conn(conn));
    }
    PySegment::attach_at(py, place, validate, auto_recover)
}

/// The turn of a segment, held by this thread until `release()` or the
/// end of its `with` block. Every shared object is usable only while its
/// segment's turn is held.
#[pyclass(frozen, module = "shmheap", name = "Turn")]
pub(crate) struct PyTurn {
    conn: Arc<Conn>,
    id: u64,
}

/// Whether a value holds mutable containers (which come back live).
fn has_live(v: &ValueRef<'_>) -> Result<bool, Error> {
    Ok(match v {
        ValueRef::List(_) | ValueRef::Dict(_) | ValueRef::ByteArray(_) | ValueRef::Object(_) => {
            true
        }
        ValueRef::Set(s) => !s.is_frozen(),
        ValueRef::Tuple(t) => {
            for x in t.iter() {
                if has_live(&x?)? {
                    return Ok(true);
                }
            }
            false
        }
        _ => false,
    })
}

/// Whether a message holds a numeric array outside any live container
/// (bare, or in tuples).
fn has_array(v: &ValueRef<'_>) -> Result<bool, Error> {
    Ok(match v {
        ValueRef::Array(_) => true,
        ValueRef::Tuple(t) => {
            for x in t.iter() {
                if has_array(&x?)? {
                    return Ok(true);
                }
            }
            false
        }
        _ => false,
    })
}

/// A message (or any root object) as Python sees it.
fn message(py: Python<'_>, conn: &Arc<Conn>, t: &Turn<'_>, h: Handle) -> PyResult<Py<PyAny>> {
    let v = t.get(h).py(py)?;
    match v {
        ValueRef::ByteArray(_) => SharedByteArray::wrap(py, conn, h),
        v => to_py(py, conn, v, None),
    }
}

impl PyTurn {
    pub(crate) fn new(conn: Arc<Conn>, id: u64) -> PyTurn {
        PyTurn { conn, id }
    }

    #[inline]
    fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Turn<'_>, &mut State) -> PyResult<R>,
    ) -> PyResult<R> {
        let id = self.id;
        self.conn.with(py, |t, st| {
            if st.turn_id != id {
                return Err(not_in_turn(py, "this turn has ended"));
            }
            f(t, st)
        })
    }
}

#[pymethods]
impl PyTurn {
    /// Whether this turn is still held.
    #[getter]
    fn held(&self, py: Python<'_>) -> bool {
        self.conn.holds(py, self.id)
    }

    /// The root namespace: a `SharedDict` every process finds by itself.
    #[getter]
    fn root(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let conn = &self.conn;
        self.with(py, |t, _| {
            let h = t.root().py(py)?.handle().py(py)?;
            SharedDict::wrap(py, conn, h)
        })
    }

    /// Processes waiting for the turn now.
    #[getter]
    fn waiters(&self, py: Python<'_>) -> PyResult<u32> {
        self.with(py, |t, _| Ok(t.waiters()))
    }

    /// Puts `obj` at the end of the message queue (a copy written into the
    /// segment) and returns it as a live object (containers) or a Python
    /// value. A taken message given back is enqueued again, not copied.
    fn put_message(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Some(o) = Obj::of(obj).filter(|o| Arc::ptr_eq(&o.conn, &self.conn)) {
            match self.with(py, |t, _| Ok(t.put_handle(o.h)))? {
                Ok(()) => return Ok(obj.clone().unbind()),
                Err(Error::NotOwned { .. }) => {} // nested: put a copy
                Err(e) => return Err(crate::errors::to_py(py, e)),
            }
        }
        let v = from_py(obj)?;
        let conn = &self.conn;
        self.with(py, |t, _| {
            let h = t.put_message(&v).py(py)?;
            message(py, conn, t, h)
        })
    }

    /// Takes the oldest message (`NoMessages` if the queue is empty). A
    /// container comes back live and is freed with `free()`; an immutable
    /// value comes back as a Python value and is freed now.
    fn take_message(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let conn = &self.conn;
        self.with(py, |t, st| {
            let Some(h) = t.take_message().py(py)? else {
                return Err(exc(py, "NoMessages", "the message queue is empty"));
            };
            let (obj, live, tuple) = {
                let v = t.get(h).py(py)?;
                let live = has_live(&v).py(py)?;
                // A message freed now (no live container in it) comes back
                // as a local copy: its arrays are copied too, since the
                // segment's are freed below.
                let obj = if !live && has_array(&v).py(py)? {
                    value_to_py(py, &v.to_value().py(py)?)?
                } else {
                    message(py, conn, t, h)?
                };
                // Tuples and objects are freed by identity later (no
                // handle of their own).
                (
                    obj,
                    live,
                    matches!(v, ValueRef::Tuple(_) | ValueRef::Object(_)),
                )
            };
            if !live {
                t.free(h).py(py)?;
            } else if tuple {
                st.taken.push((obj.clone_ref(py), h));
            }
            Ok(obj)
        })
    }

    /// The oldest message, left in the queue (`NoMessages` if empty).
    fn read_message(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let conn = &self.conn;
        self.with(py, |t, _| {
            let Some(h) = t.read_message().py(py)? else {
                return Err(exc(py, "NoMessages", "the message queue is empty"));
            };
            message(py, conn, t, h)
        })
    }

    fn has_messages(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |t, _| t.has_messages().py(py))
    }

    fn message_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |t, _| Ok(t.message_count()))
    }

    /// Frees a taken message and everything in it (a plain Python value,
    /// already freed when taken, is left alone).
    fn free(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        let o = Obj::of(obj);
        self.with(py, |t, st| {
            if let Some(o) = o {
                if !Arc::ptr_eq(&o.conn, &self.conn) {
                    return Err(exc(py, "Error", "the object belongs to another segment"));
                }
                crate::exports::check_free(py, &self.conn, [t.get(o.h)])?;
                return t.free(o.h).py(py);
            }
            if let Some(i) = st.taken.iter().position(|(x, _)| x.is(obj)) {
                crate::exports::check_free(py, &self.conn, [t.get(st.taken[i].1)])?;
                let (_, h) = st.taken.swap_remove(i);
                return t.free(h).py(py);
            }
            Ok(())
        })
    }

    /// Space usage: size, used, free, blocks, free_in_bins, high_water.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with(py, |t, _| Ok(t.stats()))?;
        stats_dict(py, &s)
    }

    /// Validates the whole segment now; the report as a dict.
    fn validate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = self.with(py, |t, _| t.validate().py(py))?;
        let d = PyDict::new(py);
        report_into(&d, &r)?;
        Ok(d)
    }

    /// Hands the turn on (a no-op if it has ended already).
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.conn.release(py, self.id)
    }

    /// Whether this turn is a transaction (from `seg.transaction()`).
    #[getter]
    fn is_transaction(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |t, _| Ok(t.is_transaction()))
    }

    /// Commits the transaction and hands the turn on (for a plain turn:
    /// only hands it on).
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        if self.conn.holds(py, self.id) {
            self.with(py, |t, _| t.commit_transaction().py(py))?;
        }
        self.release(py)
    }

    /// Undoes every change of the transaction so far and keeps the turn
    /// (still a transaction). Objects the transaction created are gone.
    fn rollback(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |t, _| t.rollback().py(py))
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        if !slf.get().held(slf.py()) {
            return Err(not_in_turn(slf.py(), "this turn has ended"));
        }
        Ok(slf)
    }

    /// Ends the turn; a transaction commits, or rolls back if an exception
    /// is leaving the block (which then propagates).
    #[pyo3(signature = (*exc))]
    fn __exit__(&self, py: Python<'_>, exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let raised = exc.get_item(0).is_ok_and(|e| !e.is_none());
        if self.conn.holds(py, self.id) {
            let r = self.with(py, |t, _| {
                if !t.is_transaction() {
                    Ok(())
                } else if raised {
                    // (Then nothing is left to commit: the turn ends plain.)
                    t.rollback().py(py)?;
                    t.commit_transaction().py(py)
                } else {
                    t.commit_transaction().py(py)
                }
            });
            if let Err(e) = r {
                // (Dropping the turn rolls an uncommitted transaction back.)
                self.release(py)?;
                return Err(e);
            }
        }
        self.release(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<shmheap.Turn {}>",
            if self.conn.holds(py, self.id) {
                "held"
            } else {
                "ended"
            }
        )
    }
}
