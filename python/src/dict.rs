//! `SharedDict`: a live dict in the segment, with the whole `dict` API.

use std::sync::Arc;

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use shmheap::{DictMut, Handle, Value, ValueRef};

use crate::conn::Conn;
use crate::convert::{from_iter, from_py, to_py, to_python, value_to_py};
use crate::errors::Core;
use crate::exports;
use crate::objects::{Obj, abc};

/// A dict in a shared-memory segment, read and changed in place (a
/// `collections.abc.MutableMapping`; keys hash the same in every process).
/// Usable only inside a turn.
#[pyclass(frozen, module = "shmheap", name = "SharedDict")]
pub(crate) struct SharedDict {
    pub(crate) o: Obj,
}

/// The value of `key` as Python sees it.
#[inline]
fn value_of(
    py: Python<'_>,
    conn: &Arc<Conn>,
    d: &DictMut<'_>,
    key: &Value,
    v: ValueRef<'_>,
) -> PyResult<Py<PyAny>> {
    let ba = match v {
        ValueRef::ByteArray(_) => d.value_handle(key).py(py)?,
        _ => None,
    };
    to_py(py, conn, v, ba)
}

/// `(key, value)` pairs of a mapping or an iterable of pairs, as `dict`'s
/// constructor and `update` take them.
fn pairs(other: &Bound<'_, PyAny>) -> PyResult<Vec<(Value, Value)>> {
    let py = other.py();
    if let Ok(d) = other.cast::<PyDict>() {
        return d
            .iter()
            .map(|(k, v)| Ok((from_py(&k)?, from_py(&v)?)))
            .collect();
    }
    if other.hasattr("keys")? {
        let mut out = Vec::new();
        for k in other.call_method0("keys")?.try_iter()? {
            let k = k?;
            let v = other.get_item(&k)?;
            out.push((from_py(&k)?, from_py(&v)?));
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for (n, kv) in other.try_iter()?.enumerate() {
        let kv = from_iter(&kv?).map_err(|_| {
            PyTypeError::new_err(format!(
                "cannot convert dictionary update sequence element #{n} to a sequence"
            ))
        })?;
        let [k, v]: [Value; 2] = kv.try_into().map_err(|kv: Vec<Value>| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "dictionary update sequence element #{n} has length {}; 2 is required",
                kv.len()
            ))
        })?;
        out.push((k, v));
    }
    let _ = py;
    Ok(out)
}

impl SharedDict {
    pub(crate) fn wrap(py: Python<'_>, conn: &Arc<Conn>, h: Handle) -> PyResult<Py<PyAny>> {
        Ok(Py::new(
            py,
            SharedDict {
                o: Obj::new(conn, h),
            },
        )?
        .into_any())
    }

    /// Runs `f` on the dict, inside the turn.
    #[inline]
    fn dict<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut DictMut<'_>) -> PyResult<R>,
    ) -> PyResult<R> {
        self.o.with(py, |t, _| f(&mut t.dict_mut(self.o.h).py(py)?))
    }

    /// `BufferError` if the values of `keys`, about to be overwritten or
    /// removed, hold an array this process has a view of.
    fn leaving<'k>(
        &self,
        py: Python<'_>,
        d: &DictMut<'_>,
        keys: impl IntoIterator<Item = &'k Value>,
    ) -> PyResult<()> {
        if !exports::any(&self.o.conn) {
            return Ok(());
        }
        exports::check_free(
            py,
            &self.o.conn,
            keys.into_iter().filter_map(|k| d.get(k).transpose()),
        )
    }

    fn keys_list(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let conn = &self.o.conn;
        self.dict(py, |d| {
            d.keys()
                .py(py)?
                .map(|k| to_py(py, conn, k.py(py)?, None))
                .collect()
        })
    }

    fn local(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_python(slf.py(), slf.as_any())
    }

    fn update_with(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        // (While a view of an array exists, a shared source goes the
        // general way, so that the values it replaces are checked.)
        if let Some(src) = Obj::of(other).filter(|s| s.same_segment(&self.o))
            && other.is_instance_of::<SharedDict>()
            && !exports::any(&self.o.conn)
        {
            return self.dict(py, |d| d.update_from(src.h).py(py));
        }
        let entries = pairs(other)?;
        self.dict(py, |d| {
            self.leaving(py, d, entries.iter().map(|(k, _)| k))?;
            d.update(entries).py(py)
        })
    }

    fn is_mapping(other: &Bound<'_, PyAny>) -> bool {
        other.is_instance_of::<PyDict>() || other.is_instance_of::<SharedDict>()
    }
}

#[pymethods]
impl SharedDict {
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.dict(py, |d| Ok(d.len()))
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        self.dict(py, |d| Ok(!d.is_empty()))
    }

    fn __getitem__(&self, py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let key = from_py(k)?;
        let conn = &self.o.conn;
        self.dict(py, |d| match d.get(&key).py(py)? {
            Some(v) => value_of(py, conn, d, &key, v),
            None => Err(PyKeyError::new_err(k.clone().unbind())),
        })
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        k: &Bound<'_, PyAny>,
        v: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (key, v) = (from_py(k)?, from_py(v)?);
        self.dict(py, |d| {
            self.leaving(py, d, [&key])?;
            d.insert(key, v).py(py).map(drop)
        })
    }

    fn __delitem__(&self, py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = from_py(k)?;
        self.dict(py, |d| {
            self.leaving(py, d, [&key])?;
            d.remove(&key).py(py)
        })
        .and_then(|r| match r {
            Some(_) => Ok(()),
            None => Err(PyKeyError::new_err(k.clone().unbind())),
        })
    }

    fn __contains__(&self, py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(key) = from_py(k) else {
            return Ok(false);
        };
        self.dict(py, |d| d.contains_key(&key).py(py))
    }

    /// Iterates over a snapshot of the keys taken now.
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let keys = PyList::new(py, self.keys_list(py)?)?;
        Ok(keys.as_any().try_iter()?.into_any().unbind())
    }

    fn __reversed__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut keys = self.keys_list(py)?;
        keys.reverse();
        let keys = PyList::new(py, keys)?;
        Ok(keys.as_any().try_iter()?.into_any().unbind())
    }

    /// A live view of the keys (`collections.abc.KeysView`).
    fn keys(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(abc(slf.py())?.getattr("KeysView")?.call1((slf,))?.unbind())
    }

    /// A live view of the values.
    fn values(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(abc(slf.py())?
            .getattr("ValuesView")?
            .call1((slf,))?
            .unbind())
    }

    /// A live view of the items.
    fn items(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(abc(slf.py())?.getattr("ItemsView")?.call1((slf,))?.unbind())
    }

    #[pyo3(signature = (k, default = None, /))]
    fn get(
        &self,
        py: Python<'_>,
        k: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let key = from_py(k)?;
        let conn = &self.o.conn;
        self.dict(py, |d| match d.get(&key).py(py)? {
            Some(v) => value_of(py, conn, d, &key, v),
            None => Ok(default.unwrap_or_else(|| py.None())),
        })
    }

    #[pyo3(signature = (k, *default))]
    fn pop(
        &self,
        py: Python<'_>,
        k: &Bound<'_, PyAny>,
        default: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<PyAny>> {
        if default.len() > 1 {
            return Err(PyTypeError::new_err(format!(
                "pop expected at most 2 arguments, got {}",
                default.len() + 1
            )));
        }
        let key = from_py(k)?;
        match self.dict(py, |d| {
            self.leaving(py, d, [&key])?;
            d.remove(&key).py(py)
        })? {
            Some(v) => value_to_py(py, &v),
            None if default.len() == 1 => Ok(default.get_item(0)?.unbind()),
            None => Err(PyKeyError::new_err(k.clone().unbind())),
        }
    }

    fn popitem(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        match self.dict(py, |d| {
            if exports::any(&self.o.conn) {
                let last = d.iter().py(py)?.last().map(|kv| kv.map(|(_, v)| v));
                exports::check_free(py, &self.o.conn, last)?;
            }
            d.pop_item().py(py)
        })? {
            Some((k, v)) => Ok((value_to_py(py, &k)?, value_to_py(py, &v)?)),
            None => Err(PyKeyError::new_err("popitem(): dictionary is empty")),
        }
    }

    #[pyo3(signature = (k, default = None, /))]
    fn setdefault(
        &self,
        py: Python<'_>,
        k: &Bound<'_, PyAny>,
        default: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let key = from_py(k)?;
        let default = match default {
            Some(v) => from_py(v)?,
            None => Value::None,
        };
        let conn = &self.o.conn;
        self.dict(py, |d| {
            let v = d.get_or_insert(key.clone(), default).py(py)?;
            if matches!(v, ValueRef::ByteArray(_)) {
                let h = d.value_handle(&key).py(py)?;
                let v = d
                    .get(&key)
                    .py(py)?
                    .ok_or_else(|| PyKeyError::new_err("setdefault"))?;
                return to_py(py, conn, v, h);
            }
            to_py(py, conn, v, None)
        })
    }

    #[pyo3(signature = (other = None, /, **kw))]
    fn update(
        &self,
        py: Python<'_>,
        other: Option<&Bound<'_, PyAny>>,
        kw: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        if let Some(other) = other {
            self.update_with(py, other)?;
        }
        if let Some(kw) = kw {
            self.update_with(py, kw.as_any())?;
        }
        Ok(())
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.dict(py, |d| {
            if exports::any(&self.o.conn) {
                exports::check_free(py, &self.o.conn, d.values().py(py)?)?;
            }
            d.clear().py(py)
        })
    }

    /// A deep local copy (`dict`).
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

    /// `dict.fromkeys`: a new local dict (put it into a segment to share it).
    #[staticmethod]
    #[pyo3(signature = (it, value = None, /))]
    fn fromkeys(
        py: Python<'_>,
        it: &Bound<'_, PyAny>,
        value: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let value = value.unwrap_or_else(|| py.None());
        Ok(py
            .get_type::<PyDict>()
            .call_method1("fromkeys", (it, value))?
            .unbind())
    }

    fn __or__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !Self::is_mapping(other) {
            return Ok(py.NotImplemented());
        }
        let me = Self::local(slf)?;
        me.bind(py)
            .call_method1("update", (to_python(py, other)?,))?;
        Ok(me)
    }

    fn __ror__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !Self::is_mapping(other) {
            return Ok(py.NotImplemented());
        }
        let out = PyDict::new(py);
        out.update(other.cast::<pyo3::types::PyMapping>()?)?;
        out.call_method1("update", (Self::local(slf)?,))?;
        Ok(out.into_any().unbind())
    }

    fn __ior__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.update_with(py, other)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !Self::is_mapping(other) || !matches!(op, CompareOp::Eq | CompareOp::Ne) {
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

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        self.o.reduce(py, "dict")
    }
}
