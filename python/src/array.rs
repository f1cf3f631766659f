//! Numeric arrays in Python: numpy arrays and other buffer-protocol
//! objects (memoryview, array.array) go in as shared arrays (one copy, in
//! C order); a shared array comes out as a `numpy.ndarray` over the
//! segment's bytes (no copy), or a `memoryview` when numpy is not
//! installed.
//!
//! The ndarray is made by numpy from a small exporter object
//! ([`ArrayBuffer`]) that gives the buffer protocol over the array's data
//! and, while it lives, counts as an export of the array (`exports`), so
//! this process refuses to free the array under it (`BufferError`). numpy
//! is imported the first time an array is read, never by `import shmheap`.

use std::ffi::{CStr, c_int};
use std::sync::Arc;

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyMemoryView, PyModule};
use shmheap::{AnyArrayRef, Array, Dtype, Handle, Value};

use crate::conn::Conn;
use crate::errors::Core;
use crate::exports;

/// numpy, once imported (None if it cannot be).
static NUMPY: PyOnceLock<Option<Py<PyModule>>> = PyOnceLock::new();

fn numpy(py: Python<'_>) -> Option<&Bound<'_, PyModule>> {
    NUMPY
        .get_or_init(py, || py.import("numpy").ok().map(Bound::unbind))
        .as_ref()
        .map(|m| m.bind(py))
}

/// The buffer-protocol format of an element type (native order, which is
/// little-endian on every target the core builds for).
fn format(d: Dtype) -> &'static CStr {
    match d {
        Dtype::Bool => c"?",
        Dtype::I8 => c"b",
        Dtype::I16 => c"h",
        Dtype::I32 => c"i",
        Dtype::I64 => c"q",
        Dtype::U8 => c"B",
        Dtype::U16 => c"H",
        Dtype::U32 => c"I",
        Dtype::U64 => c"Q",
        Dtype::F32 => c"f",
        Dtype::F64 => c"d",
        _ => c"",
    }
}

/// The element type of a buffer format (struct syntax) and item size, and
/// whether its elements are big-endian; None if it is not one we store.
fn dtype_of(fmt: &str, itemsize: usize) -> Option<(Dtype, bool)> {
    let (big, rest) = match fmt.as_bytes().first() {
        Some(b'@' | b'=' | b'<') => (false, &fmt[1..]),
        Some(b'>' | b'!') => (true, &fmt[1..]),
        _ => (false, fmt),
    };
    let int = |signed: bool| {
        Some(match (signed, itemsize) {
            (true, 1) => Dtype::I8,
            (true, 2) => Dtype::I16,
            (true, 4) => Dtype::I32,
            (true, 8) => Dtype::I64,
            (false, 1) => Dtype::U8,
            (false, 2) => Dtype::U16,
            (false, 4) => Dtype::U32,
            (false, 8) => Dtype::U64,
            _ => return None,
        })
    };
    let d = match (rest, itemsize) {
        ("?", 1) => Dtype::Bool,
        ("b" | "h" | "i" | "l" | "q" | "n", _) => int(true)?,
        ("B" | "H" | "I" | "L" | "Q" | "N", _) => int(false)?,
        ("f", 4) => Dtype::F32,
        ("d", 8) => Dtype::F64,
        _ => return None,
    };
    Some((d, big && itemsize > 1))
}

/// The supported element types, for error messages.
const SUPPORTED: &str = "bool, int8..int64, uint8..uint64, float32, float64";

/// Whether `obj` is a numpy array (without importing numpy: if it was
/// never imported, nothing is an ndarray).
fn is_ndarray(obj: &Bound<'_, PyAny>) -> bool {
    let py = obj.py();
    let Ok(modules) = py.import("sys").and_then(|s| s.getattr("modules")) else {
        return false;
    };
    modules
        .get_item("numpy")
        .and_then(|np| np.getattr("ndarray"))
        .is_ok_and(|t| obj.is_instance(&t).unwrap_or(false))
}

fn refused(obj: &Bound<'_, PyAny>, what: String) -> PyErr {
    let what = if is_ndarray(obj) {
        match obj.getattr("dtype").and_then(|d| d.str()) {
            Ok(d) => format!("a numpy array of dtype {d}"),
            Err(_) => what,
        }
    } else {
        what
    };
    PyTypeError::new_err(format!(
        "shmheap cannot store {what} (arrays of {SUPPORTED} are supported)"
    ))
}

/// A buffer obtained with `PyObject_GetBuffer`, released when dropped.
struct Buffer(ffi::Py_buffer);

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: the buffer was filled by a successful
        // `PyObject_GetBuffer` and is released exactly once; the GIL is
        // held (the `Buffer` lives inside a function holding `Python`).
        unsafe { ffi::PyBuffer_Release(&mut self.0) };
    }
}

/// A buffer-protocol object (other than bytes and bytearray, which the
/// caller has handled) as an array value: copied once, in C order, into
/// an owned array. `None` if `obj` has no buffer protocol; `TypeError`
/// naming the type for an element type we do not store (complex, object,
/// datetime64, half floats, structured ...).
pub(crate) fn from_buffer(obj: &Bound<'_, PyAny>) -> PyResult<Option<Value>> {
    let py = obj.py();
    // SAFETY: `obj` is a valid object; the GIL is held.
    if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
        return Ok(None);
    }
    let mut view = ffi::Py_buffer::new();
    // SAFETY: `view` is a fresh buffer struct for the exporter to fill;
    // the GIL is held.
    if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, ffi::PyBUF_RECORDS_RO) } != 0 {
        // numpy refuses to export some dtypes (datetime64, ...).
        let e = PyErr::fetch(py);
        return Err(refused(obj, format!("this buffer ({e})")));
    }
    let buf = Buffer(view);
    let v = &buf.0;
    let fmt = if v.format.is_null() {
        "B".to_owned()
    } else {
        // SAFETY: a non-null format is a NUL-terminated string owned by
        // the exporter while the buffer is held.
        unsafe { CStr::from_ptr(v.format) }
            .to_string_lossy()
            .into_owned()
    };
    let itemsize = v.itemsize.max(0) as usize;
    let Some((dtype, big)) = dtype_of(&fmt, itemsize) else {
        return Err(refused(
            obj,
            format!("a buffer of format '{fmt}' (item size {itemsize})"),
        ));
    };
    if !v.suboffsets.is_null() {
        return Err(PyTypeError::new_err(
            "shmheap cannot store an indirect (suboffsets) buffer",
        ));
    }
    let ndim = v.ndim.max(0) as usize;
    let shape: Vec<usize> = if ndim == 0 {
        Vec::new()
    } else if v.shape.is_null() {
        vec![v.len.max(0) as usize / itemsize.max(1)]
    } else {
        // SAFETY: a non-null shape holds `ndim` entries while the buffer
        // is held.
        unsafe { std::slice::from_raw_parts(v.shape, ndim) }
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect()
    };
    let mut a = Array::zeroed(dtype, &shape).py(py)?;
    let out = a.as_bytes_mut();
    if out.len() != v.len.max(0) as usize {
        return Err(PyBufferError::new_err(
            "buffer length disagrees with its shape",
        ));
    }
    if !out.is_empty() {
        // SAFETY: `out` holds exactly `len` bytes; `buf` is a held buffer
        // of `len` bytes; 'C' copies it in C order whatever its strides.
        let r = unsafe {
            ffi::PyBuffer_ToContiguous(out.as_mut_ptr().cast(), &buf.0, buf.0.len, b'C' as _)
        };
        if r != 0 {
            return Err(PyErr::fetch(py));
        }
    }
    drop(buf);
    if big {
        for e in out.chunks_exact_mut(dtype.itemsize()) {
            e.reverse();
        }
    }
    Ok(Some(Value::Array(a)))
}

/// The buffer protocol over a shared array's data, and a pin: while it
/// lives, this process does not free the array (see `exports`). numpy
/// holds it (through a memoryview) as the ndarray's base.
#[pyclass(frozen, module = "shmheap", name = "_ArrayBuffer")]
pub(crate) struct ArrayBuffer {
    conn: Arc<Conn>,
    h: Handle,
    /// The data's address (a pointer kept as an integer: the object must
    /// be `Send`); it never moves while the array lives.
    ptr: usize,
    nbytes: usize,
    dtype: Dtype,
    shape: Vec<ffi::Py_ssize_t>,
    strides: Vec<ffi::Py_ssize_t>,
}

impl Drop for ArrayBuffer {
    fn drop(&mut self) {
        exports::release(&self.conn, self.h);
    }
}

impl ArrayBuffer {
    /// An exporter of the array `a` (read inside the turn, so it is live
    /// now), counted as an export from now on.
    fn new(py: Python<'_>, conn: &Arc<Conn>, a: &AnyArrayRef<'_>) -> PyResult<ArrayBuffer> {
        let h = a
            .handle()
            .ok_or_else(|| crate::errors::exc(py, "Corrupt", "an array without a handle"))?;
        let ptr = a.as_mut_ptr().py(py)? as usize;
        let item = a.dtype().itemsize() as ffi::Py_ssize_t;
        let shape: Vec<ffi::Py_ssize_t> = a.shape().iter().map(|&d| d as _).collect();
        let mut strides = vec![item; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1].max(1);
        }
        exports::add(conn, h);
        Ok(ArrayBuffer {
            conn: conn.clone(),
            h,
            ptr,
            nbytes: a.len() * a.dtype().itemsize(),
            dtype: a.dtype(),
            shape,
            strides,
        })
    }
}

#[pymethods]
impl ArrayBuffer {
    /// The buffer protocol: the array's data in the segment, writable, C
    /// order, with its format, shape and strides. Valid while the array
    /// lives (this object keeps this process from freeing it); it is
    /// synchronised only when used inside a turn.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let me = slf.get();
        let fortran = flags & ffi::PyBUF_F_CONTIGUOUS == ffi::PyBUF_F_CONTIGUOUS;
        if fortran && me.shape.iter().filter(|&&d| d > 1).count() > 1 {
            return Err(PyBufferError::new_err(
                "a shared array is C-contiguous, not Fortran",
            ));
        }
        let nd = flags & ffi::PyBUF_ND == ffi::PyBUF_ND;
        let strided = flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES;
        // SAFETY: `view` is the buffer struct Python asks us to fill. The
        // pointers stored in it (data, format, shape, strides) stay valid
        // while it is held: it holds a reference to this object (`obj`),
        // whose fields never change, and while this object lives the
        // process does not free the array, whose data never moves.
        unsafe {
            (*view).buf = me.ptr as *mut std::ffi::c_void;
            (*view).obj = slf.clone().into_any().into_ptr();
            (*view).len = me.nbytes as ffi::Py_ssize_t;
            (*view).itemsize = me.dtype.itemsize() as ffi::Py_ssize_t;
            (*view).readonly = 0;
            (*view).ndim = if nd { me.shape.len() as c_int } else { 1 };
            (*view).format = if flags & ffi::PyBUF_FORMAT != 0 {
                format(me.dtype).as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).shape = if nd {
                me.shape.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if strided {
                me.strides.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __repr__(&self) -> String {
        format!(
            "<shmheap._ArrayBuffer {} {:?} at {:#x}>",
            self.dtype.name(),
            self.shape,
            self.ptr
        )
    }
}

/// A shared array as Python sees it: a `numpy.ndarray` over the segment's
/// bytes (no copy), or a `memoryview` of them without numpy.
pub(crate) fn to_py(py: Python<'_>, conn: &Arc<Conn>, a: AnyArrayRef<'_>) -> PyResult<Py<PyAny>> {
    let exporter = Bound::new(py, ArrayBuffer::new(py, conn, &a)?)?;
    match numpy(py) {
        Some(np) => Ok(np.call_method1("asarray", (exporter,))?.unbind()),
        None => Ok(PyMemoryView::from(exporter.as_any())?.into_any().unbind()),
    }
}

/// A local copy of an array: a `numpy.ndarray` of its own (a `memoryview`
/// of a `bytearray` without numpy).
pub(crate) fn copy_to_py(py: Python<'_>, a: &Array) -> PyResult<Py<PyAny>> {
    let bytes = PyByteArray::new(py, a.as_bytes());
    match numpy(py) {
        Some(np) => Ok(np
            .call_method1("frombuffer", (bytes, a.dtype().name()))?
            .call_method1("reshape", (a.shape().to_vec(),))?
            .unbind()),
        None => {
            let fmt = format(a.dtype()).to_str().unwrap_or("B");
            Ok(PyMemoryView::from(bytes.as_any())?
                .call_method1("cast", (fmt, a.shape().to_vec()))?
                .unbind())
        }
    }
}
