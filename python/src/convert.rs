//! Python objects to core values and back: in one module.
//!
//! Into the segment everything goes by value ([`from_py`], before the turn
//! is borrowed, since it may run Python code). Out of it, immutable values
//! come back as Python values and mutable containers as live shared
//! objects ([`to_py`]); [`value_to_py`] makes a deep local copy. Objects
//! of no built-in kind go through [`instances`] (plain class instances as
//! live objects, the rest pickled).

use std::sync::Arc;

use pyo3::exceptions::{PyRecursionError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};
use shmheap::{Handle, Value, ValueRef};

use crate::conn::Conn;
use crate::errors::Core;
use crate::instances;
use crate::objects::{Obj, SharedByteArray, SharedDict, SharedList, SharedSet};
use crate::scalars;

/// Nesting limit of conversions (the core's own limit is 128 too).
const MAX_DEPTH: u32 = 128;

/// A Python object as a value to write (a copy; shared objects are copied
/// out of their segment).
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    from_py_at(obj, 0)
}

pub(crate) fn from_py_at(obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyRecursionError::new_err(format!(
            "value nests deeper than {MAX_DEPTH} levels (or contains itself)"
        )));
    }
    let py = obj.py();
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy()?));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return match i.extract::<i64>() {
            Ok(v) => Ok(Value::Int(v)),
            Err(_) => scalars::big_int(i),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_owned()));
    }
    if obj.is_none() {
        return Ok(Value::None);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::ByteArray(b.to_vec()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(Value::Tuple(seq(t.iter(), depth)?));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(Value::List(seq(l.iter(), depth)?));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            out.push((from_py_at(&k, depth + 1)?, from_py_at(&v, depth + 1)?));
        }
        return Ok(Value::Dict(out));
    }
    if let Ok(s) = obj.cast::<PySet>() {
        return Ok(Value::Set(seq(s.iter(), depth)?));
    }
    if let Ok(s) = obj.cast::<PyFrozenSet>() {
        return Ok(Value::FrozenSet(seq(s.iter(), depth)?));
    }
    if let Some(o) = Obj::of(obj) {
        return o.copy_out(py);
    }
    if let Some(v) = scalars::from_py(obj)? {
        return Ok(v);
    }
    // numpy arrays, memoryview, array.array: a numeric array (bytes and
    // bytearray, and shared bytearrays, were taken above as bytes).
    if let Some(v) = crate::array::from_buffer(obj)? {
        return Ok(v);
    }
    // Last: any other object, as an object (plain class instances) or a
    // pickle.
    instances::object_value(obj, depth)
}

fn seq<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>, depth: u32) -> PyResult<Vec<Value>> {
    items.map(|x| from_py_at(&x, depth + 1)).collect()
}

/// Values of any Python iterable (e.g. the argument of `extend`).
pub(crate) fn from_iter(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    if let Ok(l) = obj.cast::<PyList>() {
        return seq(l.iter(), 0);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return seq(t.iter(), 0);
    }
    obj.try_iter()?.map(|x| from_py(&x?)).collect()
}

/// A value read from the segment, as Python sees it: a live object for a
/// list, dict, set (and a bytearray whose handle `bytearray` gives), the
/// Python value otherwise (a tuple's mutable items come back live).
pub(crate) fn to_py(
    py: Python<'_>,
    conn: &Arc<Conn>,
    v: ValueRef<'_>,
    bytearray: Option<Handle>,
) -> PyResult<Py<PyAny>> {
    Ok(match v {
        ValueRef::None => py.None(),
        ValueRef::Bool(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        ValueRef::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        ValueRef::Float(f) => PyFloat::new(py, f).into_any().unbind(),
        ValueRef::Str(s) => PyString::new(py, s).into_any().unbind(),
        ValueRef::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        ValueRef::ByteArray(b) => match bytearray {
            Some(h) => SharedByteArray::wrap(py, conn, h)?,
            None => PyByteArray::new(py, b).into_any().unbind(),
        },
        ValueRef::Tuple(t) => {
            let items = t
                .iter()
                .map(|x| to_py(py, conn, x.py(py)?, None))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any().unbind()
        }
        ValueRef::List(l) => SharedList::wrap(py, conn, handle(py, l.handle())?)?,
        ValueRef::Dict(d) => SharedDict::wrap(py, conn, handle(py, d.handle())?)?,
        ValueRef::Set(s) if s.is_frozen() => {
            let items = s
                .iter()
                .map(|x| to_py(py, conn, x.py(py)?, None))
                .collect::<PyResult<Vec<_>>>()?;
            PyFrozenSet::new(py, items)?.into_any().unbind()
        }
        ValueRef::Set(s) => SharedSet::wrap(py, conn, handle(py, s.handle())?)?,
        v @ (ValueRef::BigInt(_)
        | ValueRef::Complex { .. }
        | ValueRef::Decimal(_)
        | ValueRef::DateTime(_)
        | ValueRef::Date(_)
        | ValueRef::Time(_)
        | ValueRef::TimeDelta(_)) => value_to_py(py, &v.to_value().py(py)?)?,
        ValueRef::Array(a) => crate::array::to_py(py, conn, a)?,
        ValueRef::Typed(_) => {
            return Err(PyTypeError::new_err(
                "a typed snapshot (an rkyv archive of a Rust type) cannot be read from Python",
            ));
        }
        ValueRef::Pickled(b) => instances::unpickle(py, b)?,
        ValueRef::Object(o) => instances::live(py, conn, o)?,
    })
}

fn handle(py: Python<'_>, h: Option<Handle>) -> PyResult<Handle> {
    h.ok_or_else(|| crate::errors::exc(py, "Corrupt", "a container without a handle"))
}

/// A deep local copy of a value.
pub(crate) fn value_to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    let many = |items: &[Value]| -> PyResult<Vec<Py<PyAny>>> {
        items.iter().map(|x| value_to_py(py, x)).collect()
    };
    Ok(match v {
        Value::None => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Value::Float(f) => PyFloat::new(py, *f).into_any().unbind(),
        Value::Str(s) => PyString::new(py, s).into_any().unbind(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        Value::ByteArray(b) => PyByteArray::new(py, b).into_any().unbind(),
        Value::Tuple(t) => PyTuple::new(py, many(t)?)?.into_any().unbind(),
        Value::List(l) => PyList::new(py, many(l)?)?.into_any().unbind(),
        Value::Dict(d) => {
            let out = PyDict::new(py);
            for (k, v) in d {
                out.set_item(value_to_py(py, k)?, value_to_py(py, v)?)?;
            }
            out.into_any().unbind()
        }
        Value::Set(s) => PySet::new(py, many(s)?)?.into_any().unbind(),
        Value::FrozenSet(s) => PyFrozenSet::new(py, many(s)?)?.into_any().unbind(),
        Value::Array(a) => crate::array::copy_to_py(py, a)?,
        Value::Pickled(b) => instances::unpickle(py, b)?,
        Value::Object { class, attrs } => instances::local(py, class, attrs)?,
        v => match scalars::to_py(py, v)? {
            Some(o) => o,
            None => {
                return Err(PyTypeError::new_err(format!(
                    "a {} value cannot be read from Python",
                    v.type_name()
                )));
            }
        },
    })
}

/// `shmheap.to_python(x)`: a deep local copy of a shared object (and of
/// any shared object inside a tuple, list, dict or set); other values are
/// returned as they are.
#[pyfunction]
pub(crate) fn to_python(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if let Some(o) = Obj::of(obj) {
        return value_to_py(py, &o.copy_out(py)?);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let items = t
            .iter()
            .map(|x| to_python(py, &x))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(PyTuple::new(py, items)?.into_any().unbind());
    }
    if let Ok(l) = obj.cast_exact::<PyList>() {
        let items = l
            .iter()
            .map(|x| to_python(py, &x))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(PyList::new(py, items)?.into_any().unbind());
    }
    if let Ok(d) = obj.cast_exact::<PyDict>() {
        let out = PyDict::new(py);
        for (k, v) in d.iter() {
            out.set_item(k, to_python(py, &v)?)?;
        }
        return Ok(out.into_any().unbind());
    }
    if instances::is_live_instance(obj)? {
        return instances::to_local(obj);
    }
    Ok(obj.clone().unbind())
}
