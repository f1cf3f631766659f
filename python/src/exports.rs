//! Local views that point into the segment: the buffer exports of shared
//! bytearrays and the numpy views of shared arrays, counted per object
//! (by handle) in the attachment's [`Conn::exports`].
//!
//! While an object has exports, this process refuses to resize it (a
//! bytearray) or to free it (an array: `t.free`, or overwriting or removing
//! the slot that owns it raises `BufferError`), so a view never points
//! into freed memory because of this process. Another process is not
//! stopped (DESIGN.md: such views are the user's discipline, as with
//! numpy over `multiprocessing.shared_memory`).

use std::sync::atomic::Ordering;

use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use shmheap::{Error, Handle, ValueRef};

use crate::conn::Conn;
use crate::errors::Core;

fn key(h: Handle) -> (u64, u64) {
    h.to_raw()
}

/// Counts one more export of the object `h`.
pub(crate) fn add(conn: &Conn, h: Handle) {
    let mut ex = conn.exports.lock().unwrap_or_else(|p| p.into_inner());
    match ex.iter_mut().find(|(k, _)| *k == key(h)) {
        Some((_, c)) => *c += 1,
        None => ex.push((key(h), 1)),
    }
    conn.exported.fetch_add(1, Ordering::Relaxed);
}

/// Counts one export of `h` less.
pub(crate) fn release(conn: &Conn, h: Handle) {
    let mut ex = conn.exports.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = ex.iter_mut().find(|(k, _)| *k == key(h))
        && *c > 0
    {
        *c -= 1;
        conn.exported.fetch_sub(1, Ordering::Relaxed);
    }
    ex.retain(|&(_, c)| c > 0);
}

/// Whether the object `h` has exports.
pub(crate) fn is_exported(conn: &Conn, h: Handle) -> bool {
    if conn.exported.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let ex = conn.exports.lock().unwrap_or_else(|p| p.into_inner());
    ex.iter().any(|&(k, n)| k == key(h) && n > 0)
}

fn exported_array() -> PyErr {
    PyBufferError::new_err(
        "a numpy view (or memoryview) of a shared array in it is alive in this process: \
         delete the views before freeing the array",
    )
}

/// `BufferError` if freeing the values (the ones an operation is about
/// to overwrite, remove or free) would free an array this process has a
/// view of; nothing is checked while no view exists (one relaxed load).
pub(crate) fn check_free<'a>(
    py: Python<'_>,
    conn: &Conn,
    values: impl IntoIterator<Item = Result<ValueRef<'a>, Error>>,
) -> PyResult<()> {
    if conn.exported.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    let mut stack: Vec<ValueRef<'a>> = Vec::new();
    for v in values {
        stack.push(v.py(py)?);
        while let Some(v) = stack.pop() {
            match v {
                ValueRef::Array(a) if a.handle().is_some_and(|h| is_exported(conn, h)) => {
                    return Err(exported_array());
                }
                ValueRef::List(l) => {
                    for x in l.iter() {
                        stack.push(x.py(py)?);
                    }
                }
                ValueRef::Tuple(t) => {
                    for x in t.iter() {
                        stack.push(x.py(py)?);
                    }
                }
                ValueRef::Dict(d) => {
                    for kv in d.iter() {
                        stack.push(kv.py(py)?.1);
                    }
                }
                // An instance's attributes hold values as a dict does.
                ValueRef::Object(o) => {
                    for kv in o.attrs().iter() {
                        stack.push(kv.py(py)?.1);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Whether anything is exported at all (a fast check for callers that
/// would otherwise collect the values to check).
pub(crate) fn any(conn: &Conn) -> bool {
    conn.exported.load(Ordering::Relaxed) != 0
}
