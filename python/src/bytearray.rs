//! `SharedByteArray`: a live bytearray in the segment, with the buffer
//! protocol (a `memoryview` of it is the segment's bytes, no copy).

use std::os::raw::c_int;
use std::sync::Arc;

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyAttributeError, PyBufferError, PyIndexError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyInt, PyTuple};
use shmheap::{BytesMut, Handle};

use crate::conn::Conn;
use crate::errors::Core;
use crate::exports;
use crate::list::slice_of;
use crate::objects::{Idx, Obj, clamp, idx, index, positions};

/// A bytearray in a shared-memory segment, changed in place. Usable only
/// inside a turn; a `memoryview` of it reads and writes the segment's bytes
/// directly (synchronised only when used inside a turn, as with numpy over
/// `multiprocessing.shared_memory`). While a view is exported, resizing
/// raises `BufferError`, as `bytearray` does.
#[pyclass(frozen, module = "shmheap", name = "SharedByteArray")]
pub(crate) struct SharedByteArray {
    pub(crate) o: Obj,
}

/// Non-mutating `bytearray` methods served from a copy of the bytes.
const READ_METHODS: &[&str] = &[
    "capitalize",
    "center",
    "count",
    "decode",
    "endswith",
    "expandtabs",
    "find",
    "hex",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdigit",
    "islower",
    "isspace",
    "istitle",
    "isupper",
    "join",
    "ljust",
    "lower",
    "lstrip",
    "partition",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rjust",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "translate",
    "upper",
    "zfill",
];

fn no_resize() -> PyErr {
    PyBufferError::new_err("Existing exports of data: object cannot be re-sized")
}

/// Bytes of a bytes-like argument (bytes, bytearray, memoryview, shared
/// bytearray, or an iterable of ints).
fn bytes_of(v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err("can't extend bytearray with int"));
    }
    // bytes() takes the buffer protocol (memoryview, SharedByteArray) and
    // iterables of ints in 0..256, with Python's own errors.
    let b = v.py().get_type::<PyBytes>().call1((v,))?;
    Ok(b.cast::<PyBytes>()?.as_bytes().to_vec())
}

fn byte(v: &Bound<'_, PyAny>) -> PyResult<u8> {
    let i: i64 = v.extract()?;
    u8::try_from(i).map_err(|_| PyValueError::new_err("byte must be in range(0, 256)"))
}

impl SharedByteArray {
    pub(crate) fn wrap(py: Python<'_>, conn: &Arc<Conn>, h: Handle) -> PyResult<Py<PyAny>> {
        Ok(Py::new(
            py,
            SharedByteArray {
                o: Obj::new(conn, h),
            },
        )?
        .into_any())
    }

    #[inline]
    fn bytes<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut BytesMut<'_>, &Conn) -> PyResult<R>,
    ) -> PyResult<R> {
        let conn = &self.o.conn;
        self.o
            .with(py, |t, _| f(&mut t.bytes_mut(self.o.h).py(py)?, conn))
    }

    /// Runs a change of length, refused while a view is exported.
    fn resize<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut BytesMut<'_>) -> PyResult<R>,
    ) -> PyResult<R> {
        let h = self.o.h;
        self.bytes(py, |b, conn| {
            if exports::is_exported(conn, h) {
                return Err(no_resize());
            }
            f(b)
        })
    }

    fn snapshot(&self, py: Python<'_>) -> PyResult<Vec<u8>> {
        self.bytes(py, |b, _| b.to_vec().py(py))
    }

    /// Replaces `start..stop` by `new` (one resize at most).
    fn splice(
        b: &mut BytesMut<'_>,
        py: Python<'_>,
        start: usize,
        stop: usize,
        new: &[u8],
    ) -> PyResult<()> {
        let mut all = b.to_vec().py(py)?;
        all.splice(start..stop, new.iter().copied());
        let n = all.len();
        b.resize(n, 0).py(py)?;
        b.as_mut_slice().py(py)?.copy_from_slice(&all);
        Ok(())
    }
}

#[pymethods]
impl SharedByteArray {
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.bytes(py, |b, _| Ok(b.len()))
    }

    fn __getitem__(&self, py: Python<'_>, i: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match idx(i, "bytearray")? {
            Idx::Int(i) => {
                let v = self.bytes(py, |b, _| {
                    let s = b.as_slice().py(py)?;
                    Ok(s[index(i, s.len(), "bytearray index out of range")?])
                })?;
                Ok(v.into_pyobject(py)?.into_any().unbind())
            }
            Idx::Slice(s) => {
                let out = self.bytes(py, |b, _| {
                    let all = b.as_slice().py(py)?;
                    let ind = slice_of(&s, all.len())?;
                    Ok(positions(ind.start, ind.step, ind.slicelength)
                        .map(|j| all[j])
                        .collect::<Vec<u8>>())
                })?;
                Ok(PyByteArray::new(py, &out).into_any().unbind())
            }
        }
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        i: &Bound<'_, PyAny>,
        v: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let h = self.o.h;
        match idx(i, "bytearray")? {
            Idx::Int(i) => {
                let x = byte(v)?;
                self.bytes(py, |b, _| {
                    let s = b.as_mut_slice().py(py)?;
                    let j = index(i, s.len(), "bytearray index out of range")?;
                    s[j] = x;
                    Ok(())
                })
            }
            Idx::Slice(s) => {
                let new = bytes_of(v)?;
                self.bytes(py, |b, conn| {
                    let ind = slice_of(&s, b.len())?;
                    if ind.step == 1 {
                        let start = ind.start as usize;
                        let stop = (ind.stop as usize).max(start);
                        if new.len() == stop - start {
                            b.as_mut_slice().py(py)?[start..stop].copy_from_slice(&new);
                            return Ok(());
                        }
                        if exports::is_exported(conn, h) {
                            return Err(no_resize());
                        }
                        return Self::splice(b, py, start, stop, &new);
                    }
                    if new.len() != ind.slicelength {
                        return Err(PyValueError::new_err(format!(
                            "attempt to assign bytes of size {} to extended slice of size {}",
                            new.len(),
                            ind.slicelength
                        )));
                    }
                    let all = b.as_mut_slice().py(py)?;
                    for (j, x) in positions(ind.start, ind.step, ind.slicelength).zip(new) {
                        all[j] = x;
                    }
                    Ok(())
                })
            }
        }
    }

    fn __delitem__(&self, py: Python<'_>, i: &Bound<'_, PyAny>) -> PyResult<()> {
        match idx(i, "bytearray")? {
            Idx::Int(i) => self.resize(py, |b| {
                let j = index(i, b.len(), "bytearray index out of range")?;
                Self::splice(b, py, j, j + 1, &[])
            }),
            Idx::Slice(s) => self.resize(py, |b| {
                let ind = slice_of(&s, b.len())?;
                let mut all = b.to_vec().py(py)?;
                let mut js: Vec<usize> = positions(ind.start, ind.step, ind.slicelength).collect();
                js.sort_unstable_by(|a, b| b.cmp(a));
                for j in js {
                    all.remove(j);
                }
                let n = all.len();
                b.truncate(n).py(py)?;
                b.as_mut_slice().py(py)?.copy_from_slice(&all);
                Ok(())
            }),
        }
    }

    fn __contains__(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        let all = self.snapshot(py)?;
        PyByteArray::new(py, &all).as_any().contains(v)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let all = self.snapshot(py)?;
        Ok(PyBytes::new(py, &all)
            .as_any()
            .try_iter()?
            .into_any()
            .unbind())
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let Ok(theirs) = bytes_of(other).map(|b| PyBytes::new(py, &b)) else {
            return Ok(py.NotImplemented());
        };
        if other.is_instance_of::<PyInt>() {
            return Ok(py.NotImplemented());
        }
        let mine = PyBytes::new(py, &self.snapshot(py)?);
        Ok(mine.rich_compare(theirs, op)?.unbind())
    }

    /// Unhashable, as a mutable container is (`__hash__ = None`).
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let all = self.snapshot(py)?;
        Ok(PyByteArray::new(py, &all).repr()?.to_string())
    }

    fn __bytes__(&self, py: Python<'_>) -> PyResult<Py<PyBytes>> {
        Ok(PyBytes::new(py, &self.snapshot(py)?).unbind())
    }

    fn __iadd__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.extend(py, other)
    }

    fn __imul__(&self, py: Python<'_>, n: isize) -> PyResult<()> {
        self.resize(py, |b| {
            let all = b.to_vec().py(py)?;
            let rep = all.repeat(n.max(0) as usize);
            b.resize(rep.len(), 0).py(py)?;
            b.as_mut_slice().py(py)?.copy_from_slice(&rep);
            Ok(())
        })
    }

    fn append(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let x = byte(v)?;
        self.resize(py, |b| b.push(x).py(py))
    }

    fn extend(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let new = bytes_of(other)?;
        self.resize(py, |b| b.extend_from_slice(&new).py(py))
    }

    #[pyo3(signature = (i, v, /))]
    fn insert(&self, py: Python<'_>, i: isize, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let x = byte(v)?;
        self.resize(py, |b| {
            let j = clamp(i, b.len());
            Self::splice(b, py, j, j, &[x])
        })
    }

    #[pyo3(signature = (i = -1, /))]
    fn pop(&self, py: Python<'_>, i: isize) -> PyResult<u8> {
        self.resize(py, |b| {
            if b.is_empty() {
                return Err(PyIndexError::new_err("pop from empty bytearray"));
            }
            let j = index(i, b.len(), "pop index out of range")?;
            let x = b.as_slice().py(py)?[j];
            Self::splice(b, py, j, j + 1, &[])?;
            Ok(x)
        })
    }

    fn remove(&self, py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let x = byte(v)?;
        self.resize(py, |b| {
            let Some(j) = b.as_slice().py(py)?.iter().position(|&c| c == x) else {
                return Err(PyValueError::new_err("value not found in bytearray"));
            };
            Self::splice(b, py, j, j + 1, &[])
        })
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.resize(py, |b| b.clear().py(py))
    }

    fn reverse(&self, py: Python<'_>) -> PyResult<()> {
        self.bytes(py, |b, _| {
            b.as_mut_slice().py(py)?.reverse();
            Ok(())
        })
    }

    /// A local copy (`bytearray`).
    fn copy(&self, py: Python<'_>) -> PyResult<Py<PyByteArray>> {
        Ok(PyByteArray::new(py, &self.snapshot(py)?).unbind())
    }

    /// `bytearray`'s other methods (those that do not change it), on a copy.
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        if !READ_METHODS.contains(&name) {
            return Err(PyAttributeError::new_err(format!(
                "'SharedByteArray' object has no attribute '{name}'"
            )));
        }
        Ok(self.copy(py)?.bind(py).getattr(name)?.unbind())
    }

    /// The buffer protocol: the segment's bytes, writable, no copy. Taken
    /// inside a turn; the view stays valid while the object lives and is
    /// not resized (resizing is refused while a view exists).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let py = slf.py();
        let me = slf.get();
        let h = me.o.h;
        let (ptr, len) = me.o.with(py, |t, _| {
            let mut b = t.bytes_mut(h).py(py)?;
            let s = b.as_mut_slice().py(py)?;
            let p = if s.is_empty() {
                std::ptr::NonNull::dangling().as_ptr()
            } else {
                s.as_mut_ptr()
            };
            let n = s.len();
            exports::add(&me.o.conn, h);
            Ok((p, n))
        })?;
        // SAFETY: `view` is the buffer Python asks us to fill; `ptr` points
        // to `len` bytes in the segment's mapping, which outlives the view
        // (the view holds a reference to this object, which holds the
        // attachment), and which is not resized while the view is exported.
        let r = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr.cast(),
                len as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if r != 0 {
            me.release_export();
            return Err(PyErr::fetch(py));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.release_export();
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        self.o.reduce(py, "bytearray")
    }
}

impl SharedByteArray {
    fn release_export(&self) {
        exports::release(&self.o.conn, self.o.h);
    }
}
