//! What every shared object is: an attachment and a handle.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use shmheap::{Handle, Turn, Value};

use crate::conn::{Conn, State};
use crate::errors::Core;
use crate::segment::PySegment;

pub(crate) use crate::bytearray::SharedByteArray;
pub(crate) use crate::dict::SharedDict;
pub(crate) use crate::list::SharedList;
pub(crate) use crate::set::SharedSet;

/// A shared object's attachment and handle.
#[derive(Clone)]
pub(crate) struct Obj {
    pub(crate) conn: Arc<Conn>,
    pub(crate) h: Handle,
}

impl Obj {
    pub(crate) fn new(conn: &Arc<Conn>, h: Handle) -> Obj {
        Obj {
            conn: conn.clone(),
            h,
        }
    }

    /// The shared object inside `obj`, if it is one.
    pub(crate) fn of(obj: &Bound<'_, PyAny>) -> Option<Obj> {
        if let Ok(l) = obj.cast::<SharedList>() {
            return Some(l.get().o.clone());
        }
        if let Ok(d) = obj.cast::<SharedDict>() {
            return Some(d.get().o.clone());
        }
        if let Ok(s) = obj.cast::<SharedSet>() {
            return Some(s.get().o.clone());
        }
        if let Ok(b) = obj.cast::<SharedByteArray>() {
            return Some(b.get().o.clone());
        }
        None
    }

    /// Runs `f` with the turn (`NotInTurn` if this thread holds none).
    #[inline]
    pub(crate) fn with<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Turn<'_>, &mut State) -> PyResult<R>,
    ) -> PyResult<R> {
        self.conn.with(py, f)
    }

    /// A copy of the whole object.
    pub(crate) fn copy_out(&self, py: Python<'_>) -> PyResult<Value> {
        self.with(py, |t, _| t.get(self.h).py(py)?.to_value().py(py))
    }

    /// Whether `other` is a shared object of the same attachment.
    pub(crate) fn same_segment(&self, other: &Obj) -> bool {
        Arc::ptr_eq(&self.conn, &other.conn)
    }

    /// `__reduce__`: pickled as (segment, kind, handle); unpickled live.
    pub(crate) fn reduce<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let rebuild = py.import("shmheap._native")?.getattr("_rebuild")?;
        let seg = Py::new(py, PySegment::from_conn(self.conn.clone()))?;
        let (off, generation) = self.h.to_raw();
        let args = PyTuple::new(
            py,
            [
                seg.into_any(),
                kind.into_pyobject(py)?.into_any().unbind(),
                off.into_pyobject(py)?.into_any().unbind(),
                generation.into_pyobject(py)?.into_any().unbind(),
            ],
        )?;
        Ok((rebuild, args))
    }
}

/// Unpickles a shared object: `(segment, kind, offset, generation)`.
#[pyfunction]
pub(crate) fn _rebuild(
    py: Python<'_>,
    seg: &Bound<'_, PySegment>,
    kind: &str,
    offset: u64,
    generation: u64,
) -> PyResult<Py<PyAny>> {
    let conn = seg.get().conn.clone();
    let h = Handle::from_raw(offset, generation);
    match kind {
        "list" => SharedList::wrap(py, &conn, h),
        "dict" => SharedDict::wrap(py, &conn, h),
        "set" => SharedSet::wrap(py, &conn, h),
        "bytearray" => SharedByteArray::wrap(py, &conn, h),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown shared object kind {kind:?}"
        ))),
    }
}

/// Python's index normalisation: `i` (negative from the end) as a position
/// in `0..len`, or `IndexError` with `what`.
#[inline]
pub(crate) fn index(i: isize, len: usize, what: &str) -> PyResult<usize> {
    let j = if i < 0 { i + len as isize } else { i };
    if j < 0 || j as usize >= len {
        return Err(pyo3::exceptions::PyIndexError::new_err(what.to_owned()));
    }
    Ok(j as usize)
}

/// `list.insert`'s clamping of a position.
pub(crate) fn clamp(i: isize, len: usize) -> usize {
    if i < 0 {
        (i + len as isize).max(0) as usize
    } else {
        (i as usize).min(len)
    }
}

/// The positions a slice selects, in order.
pub(crate) fn positions(start: isize, step: isize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (start + k as isize * step) as usize)
}

/// `collections.abc` (for the dict views).
pub(crate) fn abc(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("collections.abc")
}

/// A sequence index: an int or a slice.
pub(crate) enum Idx<'py> {
    Int(isize),
    Slice(Bound<'py, pyo3::types::PySlice>),
}

/// Reads a sequence index the way `list` does (`__index__` accepted).
#[inline]
pub(crate) fn idx<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Idx<'py>> {
    use pyo3::types::{PyInt, PySlice};
    if let Ok(i) = obj.cast::<PyInt>() {
        return i.extract::<isize>().map(Idx::Int).map_err(|_| {
            pyo3::exceptions::PyIndexError::new_err("cannot fit 'int' into an index-sized integer")
        });
    }
    if let Ok(s) = obj.cast::<PySlice>() {
        return Ok(Idx::Slice(s.clone()));
    }
    if obj.hasattr("__index__")? {
        return Ok(Idx::Int(obj.call_method0("__index__")?.extract::<isize>()?));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "{what} indices must be integers or slices, not {}",
        obj.get_type().qualname()?
    )))
}
