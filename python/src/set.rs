//! `SharedSet`: a live set in the segment, with the whole `set` API.
//!
//! Changes happen in the segment; operations that make a new set (`|`,
//! `union`, ...) return a local `set`, as they would for a `set`.

use std::sync::Arc;

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyFrozenSet, PyList, PySet, PyTuple};
use shmheap::{Handle, Members, SetMut};

use crate::conn::Conn;
use crate::convert::{from_iter, from_py, to_py, to_python, value_to_py};
use crate::errors::Core;
use crate::objects::Obj;

/// A set in a shared-memory segment, changed in place (a
/// `collections.abc.MutableSet`). Usable only inside a turn.
#[pyclass(frozen, module = "shmheap", name = "SharedSet")]
pub(crate) struct SharedSet {
    pub(crate) o: Obj,
}

fn is_set(o: &Bound<'_, PyAny>) -> bool {
    o.is_instance_of::<PySet>()
        || o.is_instance_of::<PyFrozenSet>()
        || o.is_instance_of::<SharedSet>()
}

impl SharedSet {
    pub(crate) fn wrap(py: Python<'_>, conn: &Arc<Conn>, h: Handle) -> PyResult<Py<PyAny>> {
        Ok(Py::new(
            py,
            SharedSet {
                o: Obj::new(conn, h),
            },
        )?
        .into_any())
    }

    #[inline]
    fn set<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut SetMut<'_>) -> PyResult<R>,
    ) -> PyResult<R> {
        self.o.with(py, |t, _| f(&mut t.set_mut(self.o.h).py(py)?))
    }

    fn local(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_python(slf.py(), slf.as_any())
    }

    /// The members of `other` for a core set operation: the shared set
    /// itself if it lives in this segment, else its values.
    fn members(&self, other: &Bound<'_, PyAny>) -> PyResult<Members<'static>> {
        if let Some(o) = Obj::of(other).filter(|o| o.same_segment(&self.o))
            && other.is_instance_of::<SharedSet>()
        {
            return Ok(Members::Shared(o.h));
        }
        Ok(Members::from(from_iter(other)?))
    }

    /// Applies a local `set` method to a copy and returns the result.
    fn local_op(
        slf: &Bound<'_, Self>,
        name: &str,
        others: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let me = Self::local(slf)?;
        let others = others
            .iter()
            .map(|o| to_python(py, &o))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(me
            .bind(py)
            .call_method1(name, PyTuple::new(py, others)?)?
            .unbind())
    }

    /// An operator with another set: NotImplemented for anything else.
    fn operator(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        name: &str,
        reflected: bool,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !is_set(other) {
            return Ok(py.NotImplemented());
        }
        let me = Self::local(slf)?;
        let other = to_python(py, other)?;
        let (a, b) = if reflected { (other, me) } else { (me, other) };
        Ok(a.bind(py).call_method1(name, (b,))?.unbind())
    }

    fn update_each(
        &self,
        py: Python<'_>,
        others: &Bound<'_, PyTuple>,
        f: fn(&mut SetMut<'_>, Members<'static>) -> Result<(), shmheap::Error>,
    ) -> PyResult<()> {
        for other in others.iter() {
            let m = self.members(&other)?;
            self.set(py, |s| f(s, m).py(py))?;
        }
        Ok(())
    }

    /// An in-place operator (`|=`, ...): only with another set, as `set`.
    fn in_place(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: &str,
        f: fn(&mut SetMut<'_>, Members<'static>) -> Result<(), shmheap::Error>,
    ) -> PyResult<()> {
        if !is_set(other) {
            return Err(PyTypeError::new_err(format!(
                "unsupported operand type(s) for {op}: 'SharedSet' and '{}'",
                other.get_type().qualname()?
            )));
        }
        let m = self.members(other)?;
        self.set(py, |s| f(s, m).py(py))
    }
}

#[pymethods]
impl SharedSet {
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.set(py, |s| Ok(s.len()))
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        self.set(py, |s| Ok(!s.is_empty()))
    }

    fn __contains__(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(v) = from_py(v) else {
            return Ok(false);
        };
        self.set(py, |s| s.contains(&v).py(py))
    }

    /// Iterates over a snapshot of the members taken now.
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let conn = &self.o.conn;
        let items = self.set(py, |s| {
            s.iter()
                .py(py)?
                .map(|m| to_py(py, conn, m.py(py)?, None))
                .collect::<PyResult<Vec<_>>>()
        })?;
        Ok(PyList::new(py, items)?
            .as_any()
            .try_iter()?
            .into_any()
            .unbind())
    }

    fn add(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = from_py(v)?;
        self.set(py, |s| s.insert(v).py(py).map(drop))
    }

    fn discard(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let Ok(v) = from_py(v) else {
            return Ok(());
        };
        self.set(py, |s| s.remove(&v).py(py).map(drop))
    }

    fn remove(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let missing = || PyKeyError::new_err(v.clone().unbind());
        let x = from_py(v).map_err(|_| missing())?;
        if self.set(py, |s| s.remove(&x).py(py))? {
            Ok(())
        } else {
            Err(missing())
        }
    }

    fn pop(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.set(py, |s| s.pop().py(py))? {
            Some(v) => value_to_py(py, &v),
            None => Err(PyKeyError::new_err("pop from an empty set")),
        }
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.set(py, |s| s.clear().py(py))
    }

    #[pyo3(signature = (*others))]
    fn union(slf: &Bound<'_, Self>, others: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        Self::local_op(slf, "union", others)
    }

    #[pyo3(signature = (*others))]
    fn intersection(slf: &Bound<'_, Self>, others: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        Self::local_op(slf, "intersection", others)
    }

    #[pyo3(signature = (*others))]
    fn difference(slf: &Bound<'_, Self>, others: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        Self::local_op(slf, "difference", others)
    }

    fn symmetric_difference(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        Self::local_op(
            slf,
            "symmetric_difference",
            &PyTuple::new(slf.py(), [other])?,
        )
    }

    fn issubset(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::local_op(slf, "issubset", &PyTuple::new(slf.py(), [other])?)
    }

    fn issuperset(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::local_op(slf, "issuperset", &PyTuple::new(slf.py(), [other])?)
    }

    fn isdisjoint(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::local_op(slf, "isdisjoint", &PyTuple::new(slf.py(), [other])?)
    }

    #[pyo3(signature = (*others))]
    fn update(&self, py: Python<'_>, others: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.update_each(py, others, |s, m| s.union_update(m))
    }

    #[pyo3(signature = (*others))]
    fn intersection_update(&self, py: Python<'_>, others: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.update_each(py, others, |s, m| s.intersection_update(m))
    }

    #[pyo3(signature = (*others))]
    fn difference_update(&self, py: Python<'_>, others: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.update_each(py, others, |s, m| s.difference_update(m))
    }

    fn symmetric_difference_update(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let m = self.members(other)?;
        self.set(py, |s| s.symmetric_difference_update(m).py(py))
    }

    fn __or__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__or__", false)
    }
    fn __ror__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__or__", true)
    }
    fn __and__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__and__", false)
    }
    fn __rand__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__and__", true)
    }
    fn __sub__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__sub__", false)
    }
    fn __rsub__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__sub__", true)
    }
    fn __xor__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__xor__", false)
    }
    fn __rxor__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::operator(slf, o, "__xor__", true)
    }

    fn __ior__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, o, "|=", |s, m| s.union_update(m))
    }
    fn __iand__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, o, "&=", |s, m| s.intersection_update(m))
    }
    fn __isub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, o, "-=", |s, m| s.difference_update(m))
    }
    fn __ixor__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        self.in_place(py, o, "^=", |s, m| s.symmetric_difference_update(m))
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !is_set(other) {
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

    /// A deep local copy (`set`).
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
        self.o.reduce(py, "set")
    }
}
