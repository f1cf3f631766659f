//! `SharedList`: a live list in the segment, with the whole `list` API.

use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::slice::PySliceIndices;
use pyo3::types::{PyList, PySlice, PyTuple};
use shmheap::{Error, Handle, ListMut, ValueRef};

use crate::conn::Conn;
use crate::convert::{from_iter, from_py, to_py, to_python, value_to_py};
use crate::errors::Core;
use crate::exports;
use crate::objects::{Idx, Obj, clamp, idx, index, positions};

/// A list in a shared-memory segment, read and changed in place (a
/// `collections.abc.MutableSequence`). Usable only inside a turn.
#[pyclass(frozen, module = "shmheap", name = "SharedList")]
pub(crate) struct SharedList {
    pub(crate) o: Obj,
}

/// Item `j` of `l` as Python sees it.
#[inline]
fn item(py: Python<'_>, conn: &Arc<Conn>, l: &ListMut<'_>, j: usize) -> PyResult<Py<PyAny>> {
    let v = l.get(j).py(py)?;
    let ba = match v {
        ValueRef::ByteArray(_) => l.item_handle(j).py(py)?,
        _ => None,
    };
    to_py(py, conn, v, ba)
}

/// The positions a slice selects in a sequence of `len` items.
pub(crate) fn slice_of(s: &Bound<'_, PySlice>, len: usize) -> PyResult<PySliceIndices> {
    s.indices(len as isize)
}

impl SharedList {
    pub(crate) fn wrap(py: Python<'_>, conn: &Arc<Conn>, h: Handle) -> PyResult<Py<PyAny>> {
        Ok(Py::new(
            py,
            SharedList {
                o: Obj::new(conn, h),
            },
        )?
        .into_any())
    }

    /// Runs `f` on the list, inside the turn.
    #[inline]
    fn list<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut ListMut<'_>) -> PyResult<R>,
    ) -> PyResult<R> {
        self.o.with(py, |t, _| f(&mut t.list_mut(self.o.h).py(py)?))
    }

    /// `BufferError` if the items `js`, about to be overwritten or
    /// removed, hold an array this process has a view of.
    fn leaving(
        &self,
        py: Python<'_>,
        l: &ListMut<'_>,
        js: impl IntoIterator<Item = usize>,
    ) -> PyResult<()> {
        if !exports::any(&self.o.conn) {
            return Ok(());
        }
        exports::check_free(py, &self.o.conn, js.into_iter().map(|j| l.get(j)))
    }

    /// Every item, as Python sees them.
    fn items(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let conn = &self.o.conn;
        self.list(py, |l| (0..l.len()).map(|j| item(py, conn, l, j)).collect())
    }

    fn extend_with(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Some(src) = Obj::of(other).filter(|s| s.same_segment(&self.o))
            && other.is_instance_of::<SharedList>()
        {
            return self.list(py, |l| l.extend_from(src.h).py(py));
        }
        let values = from_iter(other)?;
        self.list(py, |l| l.extend(values).py(py))
    }

    fn local(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_python(slf.py(), slf.as_any())
    }
}

#[pymethods]
impl SharedList {
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.list(py, |l| Ok(l.len()))
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        self.list(py, |l| Ok(!l.is_empty()))
    }

    fn __getitem__(&self, py: Python<'_>, i: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let conn = &self.o.conn;
        match idx(i, "list")? {
            Idx::Int(i) => self.list(py, |l| {
                let j = index(i, l.len(), "list index out of range")?;
                item(py, conn, l, j)
            }),
            Idx::Slice(s) => {
                let items = self.list(py, |l| {
                    let ind = slice_of(&s, l.len())?;
                    positions(ind.start, ind.step, ind.slicelength)
                        .map(|j| item(py, conn, l, j))
                        .collect::<PyResult<Vec<_>>>()
                })?;
                Ok(PyList::new(py, items)?.into_any().unbind())
            }
        }
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        i: &Bound<'_, PyAny>,
        v: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        match idx(i, "list")? {
            Idx::Int(i) => {
                let v = from_py(v)?;
                self.list(py, |l| {
                    let j = index(i, l.len(), "list assignment index out of range")?;
                    self.leaving(py, l, [j])?;
                    l.set(j, v).py(py)
                })
            }
            Idx::Slice(s) => {
                let values = from_iter(v).map_err(|e| {
                    if e.is_instance_of::<PyTypeError>(py) {
                        PyTypeError::new_err("must assign iterable to extended slice")
                    } else {
                        e
                    }
                })?;
                self.list(py, |l| {
                    let ind = slice_of(&s, l.len())?;
                    if ind.step == 1 {
                        let start = ind.start as usize;
                        let stop = (ind.stop as usize).max(start);
                        self.leaving(py, l, start..stop)?;
                        return l.set_range(start..stop, values).py(py);
                    }
                    if values.len() != ind.slicelength {
                        return Err(PyValueError::new_err(format!(
                            "attempt to assign sequence of size {} to extended slice of size {}",
                            values.len(),
                            ind.slicelength
                        )));
                    }
                    self.leaving(py, l, positions(ind.start, ind.step, ind.slicelength))?;
                    for (j, v) in positions(ind.start, ind.step, ind.slicelength).zip(values) {
                        l.set(j, v).py(py)?;
                    }
                    Ok(())
                })
            }
        }
    }

    fn __delitem__(&self, py: Python<'_>, i: &Bound<'_, PyAny>) -> PyResult<()> {
        match idx(i, "list")? {
            Idx::Int(i) => self.list(py, |l| {
                let j = index(i, l.len(), "list assignment index out of range")?;
                self.leaving(py, l, [j])?;
                l.delete_range(j..j + 1).py(py)
            }),
            Idx::Slice(s) => self.list(py, |l| {
                let ind = slice_of(&s, l.len())?;
                if ind.slicelength == 0 {
                    return Ok(());
                }
                if ind.step == 1 {
                    let start = ind.start as usize;
                    self.leaving(py, l, start..start + ind.slicelength)?;
                    return l.delete_range(start..start + ind.slicelength).py(py);
                }
                let mut js: Vec<usize> = positions(ind.start, ind.step, ind.slicelength).collect();
                self.leaving(py, l, js.iter().copied())?;
                js.sort_unstable_by(|a, b| b.cmp(a));
                for j in js {
                    l.delete_range(j..j + 1).py(py)?;
                }
                Ok(())
            }),
        }
    }

    fn __contains__(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(v) = from_py(v) else {
            // A value shmheap cannot store is in no shared list.
            return Ok(false);
        };
        self.list(py, |l| l.contains(&v).py(py))
    }

    fn __iter__(slf: &Bound<'_, Self>) -> SharedListIter {
        SharedListIter {
            o: slf.get().o.clone(),
            next: AtomicIsize::new(0),
            reverse: false,
        }
    }

    fn __reversed__(&self, py: Python<'_>) -> PyResult<SharedListIter> {
        let n = self.__len__(py)?;
        Ok(SharedListIter {
            o: self.o.clone(),
            next: AtomicIsize::new(n as isize - 1),
            reverse: true,
        })
    }

    fn append(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = from_py(v)?;
        self.list(py, |l| l.push(v).py(py))
    }

    fn extend(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.extend_with(py, other)
    }

    fn __iadd__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.extend_with(py, other)
    }

    fn __imul__(&self, py: Python<'_>, n: isize) -> PyResult<()> {
        self.list(py, |l| {
            if n <= 0 {
                self.leaving(py, l, 0..l.len())?;
                l.clear().py(py)
            } else {
                l.repeat(n as usize).py(py)
            }
        })
    }

    fn __add__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !(other.is_instance_of::<PyList>() || other.is_instance_of::<SharedList>()) {
            return Ok(py.NotImplemented());
        }
        let me = Self::local(slf)?;
        let other = to_python(py, other)?;
        Ok(me.bind(py).add(other)?.unbind())
    }

    fn __radd__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !other.is_instance_of::<PyList>() {
            return Ok(py.NotImplemented());
        }
        let me = Self::local(slf)?;
        Ok(other.add(me)?.unbind())
    }

    fn __mul__(slf: &Bound<'_, Self>, n: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(n) = n.extract::<isize>() else {
            return Ok(py.NotImplemented());
        };
        Ok(Self::local(slf)?.bind(py).mul(n)?.unbind())
    }

    fn __rmul__(slf: &Bound<'_, Self>, n: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::__mul__(slf, n)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !(other.is_instance_of::<PyList>() || other.is_instance_of::<SharedList>()) {
            return Ok(py.NotImplemented());
        }
        let me = Self::local(slf)?;
        let other = to_python(py, other)?;
        Ok(me.bind(py).rich_compare(other, op)?.unbind())
    }

    /// Unhashable, as a mutable container is (`__hash__ = None`).
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(Self::local(slf)?.bind(slf.py()).repr()?.to_string())
    }

    #[pyo3(signature = (i, v, /))]
    fn insert(&self, py: Python<'_>, i: isize, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = from_py(v)?;
        self.list(py, |l| {
            let j = clamp(i, l.len());
            l.insert(j, v).py(py)
        })
    }

    #[pyo3(signature = (i = -1, /))]
    fn pop(&self, py: Python<'_>, i: isize) -> PyResult<Py<PyAny>> {
        let v = self.list(py, |l| {
            if l.is_empty() {
                return Err(PyIndexError::new_err("pop from empty list"));
            }
            let j = index(i, l.len(), "pop index out of range")?;
            self.leaving(py, l, [j])?;
            l.remove(j).py(py)
        })?;
        value_to_py(py, &v)
    }

    fn remove(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let not_in = || PyValueError::new_err("list.remove(x): x not in list");
        let v = from_py(v).map_err(|_| not_in())?;
        self.list(py, |l| match l.index_of(&v).py(py)? {
            Some(j) => {
                self.leaving(py, l, [j])?;
                l.delete_range(j..j + 1).py(py)
            }
            None => Err(not_in()),
        })
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.list(py, |l| {
            self.leaving(py, l, 0..l.len())?;
            l.clear().py(py)
        })
    }

    #[pyo3(signature = (v, start = 0, stop = isize::MAX, /))]
    fn index(
        &self,
        py: Python<'_>,
        v: &Bound<'_, PyAny>,
        start: isize,
        stop: isize,
    ) -> PyResult<usize> {
        let missing = || -> PyResult<PyErr> {
            Ok(PyValueError::new_err(format!(
                "{} is not in list",
                v.repr()?
            )))
        };
        let Ok(x) = from_py(v) else {
            return Err(missing()?);
        };
        let found = self.list(py, |l| {
            let n = l.len();
            let a = clamp(start, n);
            let b = clamp(stop, n);
            for j in a..b {
                if l.get(j).py(py)?.py_eq(&x).py(py)? {
                    return Ok(Some(j));
                }
            }
            Ok(None)
        })?;
        found.ok_or_else(|| missing().unwrap_or_else(|e| e))
    }

    fn count(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<usize> {
        let Ok(v) = from_py(v) else {
            return Ok(0);
        };
        self.list(py, |l| l.count(&v).py(py))
    }

    fn reverse(&self, py: Python<'_>) -> PyResult<()> {
        self.list(py, |l| l.reverse().py(py))
    }

    /// Sorts in place, stably, as `list.sort` does. Without a key the
    /// segment sorts itself by Python's ordering; with one, the keys are
    /// computed here and the items are moved, not copied (nested shared
    /// objects stay the same objects).
    #[pyo3(signature = (*, key = None, reverse = false))]
    fn sort(&self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>, reverse: bool) -> PyResult<()> {
        let Some(key) = key.filter(|k| !k.is_none()) else {
            return self.list(py, |l| {
                if reverse { l.sort_reverse() } else { l.sort() }.py(py)
            });
        };
        let items = self.items(py)?;
        let keys = items
            .iter()
            .map(|x| key.call1((x,)).map(Bound::unbind))
            .collect::<PyResult<Vec<_>>>()?;
        let keys = PyList::new(py, keys)?;
        let range = py
            .import("builtins")?
            .getattr("range")?
            .call1((items.len(),))?;
        let kw = pyo3::types::PyDict::new(py);
        kw.set_item("key", keys.getattr("__getitem__")?)?;
        kw.set_item("reverse", reverse)?;
        let order: Vec<usize> = py
            .import("builtins")?
            .getattr("sorted")?
            .call((range,), Some(&kw))?
            .extract()?;
        self.list(py, |l| match l.permute(&order) {
            Err(Error::IndexOutOfRange { .. }) => {
                Err(PyValueError::new_err("list modified during sort"))
            }
            r => r.py(py),
        })
    }

    /// A deep local copy (`list`).
    fn copy(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::local(slf)
    }

    fn __copy__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::local(slf)
    }

    #[pyo3(signature = (_memo = None))]
    fn __deepcopy__(
        slf: &Bound<'_, Self>,
        _memo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Self::local(slf)
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        self.o.reduce(py, "list")
    }
}

/// The iterator of a `SharedList`: by position, like `list`'s own (it
/// sees changes made while iterating; it stops at the end).
#[pyclass(frozen, module = "shmheap")]
pub(crate) struct SharedListIter {
    o: Obj,
    next: AtomicIsize,
    reverse: bool,
}

#[pymethods]
impl SharedListIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let i = self.next.load(Ordering::Relaxed);
        if i < 0 {
            return Ok(None);
        }
        let conn = &self.o.conn;
        let got = self.o.with(py, |t, _| {
            let l = t.list_mut(self.o.h).py(py)?;
            if i as usize >= l.len() {
                return Ok(None);
            }
            item(py, conn, &l, i as usize).map(Some)
        })?;
        match got {
            Some(v) => {
                self.next
                    .store(if self.reverse { i - 1 } else { i + 1 }, Ordering::Relaxed);
                Ok(Some(v))
            }
            None => {
                self.next.store(-1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }
}
