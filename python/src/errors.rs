//! Core errors to Python exceptions, in one place.
//!
//! The exception classes are defined in Python (`shmheap/_errors.py`),
//! because several of them have two bases (`NameTaken` is also a
//! `FileExistsError`, `Timeout` a `TimeoutError`, ...), which
//! `create_exception!` cannot express.

use pyo3::exceptions::{PyIndexError, PyKeyError, PyRecursionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};
use shmheap::Error;

static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// An exception of `shmheap._errors` by name, with `args`.
fn raise<A>(py: Python<'_>, name: &str, args: A) -> PyErr
where
    A: pyo3::PyErrArguments + Send + Sync + 'static,
{
    let class = MODULE
        .get_or_try_init(py, || py.import("shmheap._errors").map(Bound::unbind))
        .and_then(|m| m.bind(py).getattr(name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(c) => PyErr::from_type(c, args),
        Err(e) => e,
    }
}

/// `shmheap.<name>(msg)`.
pub(crate) fn exc(py: Python<'_>, name: &str, msg: impl Into<String>) -> PyErr {
    raise(py, name, (msg.into(),))
}

/// `shmheap.NotInTurn`.
pub(crate) fn not_in_turn(py: Python<'_>, why: &str) -> PyErr {
    exc(py, "NotInTurn", why)
}

/// The Python exception for a core error (DESIGN.md, "The Python package").
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::NameTaken { .. } => exc(py, "NameTaken", msg),
        Error::NotFound { .. } => exc(py, "NotFound", msg),
        Error::Timeout => exc(py, "Timeout", msg),
        Error::OutOfMemory { .. } => exc(py, "OutOfMemory", msg),
        Error::PeerDied { pid } => raise(py, "PeerDied", (msg, pid)),
        Error::Corrupt { .. }
        | Error::BadMagic
        | Error::UnsupportedVersion { .. }
        | Error::Truncated { .. } => exc(py, "Corrupt", msg),
        Error::StaleHandle { .. } => exc(py, "StaleHandle", msg),
        Error::IndexOutOfRange { .. } => PyIndexError::new_err(msg),
        Error::KeyNotFound { key } => PyKeyError::new_err(key),
        Error::TypeMismatch { .. } | Error::Convert { .. } => PyTypeError::new_err(msg),
        Error::Unhashable { kind } => PyTypeError::new_err(format!("unhashable type: '{kind}'")),
        Error::InvalidName { .. }
        | Error::InvalidSize { .. }
        | Error::InvalidArray { .. }
        | Error::InvalidObject { .. } => PyValueError::new_err(msg),
        Error::NestingTooDeep { .. } => PyRecursionError::new_err(msg),
        Error::Io { source, .. } => {
            let kind = source.kind();
            let errno = source.raw_os_error();
            let err = PyErr::from(source);
            // Keep the OS error class (PermissionError, ...) and say what
            // shmheap was doing.
            match errno {
                Some(n) if kind != std::io::ErrorKind::Other => {
                    pyo3::exceptions::PyOSError::new_err((n, msg))
                }
                _ => err,
            }
        }
        _ => exc(py, "Error", msg),
    }
}

/// Result of a core call, turned into a `PyResult`.
pub(crate) trait Core<T> {
    /// The core error as its Python exception.
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> Core<T> for Result<T, Error> {
    #[inline]
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
