//! Python objects of no built-in kind: instances of plain classes as
//! objects (a class path and a shared attribute dict, read back as a live
//! instance), everything else pickled (read back as an unpickled copy).
//!
//! Which objects are which, and the live-instance classes, are decided in
//! Python (`shmheap/_objects.py`, imported on first use); this module is
//! the glue between it and the values.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyModule, PyType};
use shmheap::{ObjectRef, Value};

use crate::conn::Conn;
use crate::convert::{from_py_at, value_to_py};
use crate::objects::SharedDict;

static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static PROXY: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `shmheap._objects.<name>`.
fn helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    MODULE
        .get_or_try_init(py, || py.import("shmheap._objects").map(Bound::unbind))?
        .bind(py)
        .getattr(name)
}

/// Whether `obj` is a live instance (an object read from a segment).
pub(crate) fn is_live_instance(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = obj.py();
    let base = PROXY.get_or_try_init(py, || {
        helper(py, "_Proxy")?
            .cast_into::<PyType>()
            .map(Bound::unbind)
            .map_err(PyErr::from)
    })?;
    obj.is_instance(base.bind(py))
}

/// The value of an object no built-in kind takes (the last case of
/// `from_py`): an object (class path and attributes, converted like any
/// dict's values at `depth + 1`) or a pickle.
pub(crate) fn object_value(obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<Value> {
    let stored = helper(obj.py(), "_store")?.call1((obj,))?;
    if let Ok(b) = stored.cast::<PyBytes>() {
        return Ok(Value::Pickled(b.as_bytes().to_vec()));
    }
    let (class, attrs): (String, Bound<'_, PyAny>) = stored.extract()?;
    match from_py_at(&attrs, depth + 1)? {
        Value::Dict(attrs) => Ok(Value::Object { class, attrs }),
        v => Err(PyTypeError::new_err(format!(
            "the attributes of a {class} are a {}, not a dict",
            v.type_name()
        ))),
    }
}

/// A live instance of an object in the segment.
pub(crate) fn live(py: Python<'_>, conn: &Arc<Conn>, o: ObjectRef<'_>) -> PyResult<Py<PyAny>> {
    let h = o
        .attrs()
        .handle()
        .ok_or_else(|| crate::errors::exc(py, "Corrupt", "an object's dict without a handle"))?;
    let attrs = SharedDict::wrap(py, conn, h)?;
    Ok(helper(py, "_wrap")?.call1((o.class(), attrs))?.unbind())
}

/// A pickled value, unpickled.
pub(crate) fn unpickle(py: Python<'_>, bytes: &[u8]) -> PyResult<Py<PyAny>> {
    Ok(helper(py, "_unpickle")?
        .call1((PyBytes::new(py, bytes),))?
        .unbind())
}

/// A local instance of an object copied out of the segment.
pub(crate) fn local(py: Python<'_>, class: &str, attrs: &[(Value, Value)]) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    for (k, v) in attrs {
        d.set_item(value_to_py(py, k)?, value_to_py(py, v)?)?;
    }
    Ok(helper(py, "_local")?.call1((class, d))?.unbind())
}

/// `shmheap.to_python` of a live instance: a local instance.
pub(crate) fn to_local(obj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    Ok(helper(obj.py(), "_to_local")?.call1((obj,))?.unbind())
}
