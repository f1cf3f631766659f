//! shmheap's Python binding: live Python objects shared between processes
//! in one shared-memory segment, read and mutated in place, turn by turn.
//!
//! A thin layer over the core crate's public API (STYLE.md 13): Python
//! objects to values and back in `convert`, core errors to exceptions in
//! `errors`, the turn held per attachment in `conn`, one `#[pyclass]` per
//! shared type. The Python package (`python/shmheap/`) adds the exception
//! classes, the ABC registrations and `shmheap.cengal`.

mod aio;
mod array;
mod bytearray;
mod conn;
mod convert;
mod dict;
mod errors;
mod exports;
mod instances;
mod list;
mod objects;
mod scalars;
mod segment;
mod set;

use pyo3::prelude::*;

/// The native part of the `shmheap` package.
#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<segment::PySegment>()?;
    m.add_class::<segment::PyTurn>()?;
    m.add_class::<aio::TurnWaiter>()?;
    m.add_class::<list::SharedList>()?;
    m.add_class::<list::SharedListIter>()?;
    m.add_class::<dict::SharedDict>()?;
    m.add_class::<set::SharedSet>()?;
    m.add_class::<bytearray::SharedByteArray>()?;
    m.add_class::<array::ArrayBuffer>()?;
    m.add_function(wrap_pyfunction!(convert::to_python, m)?)?;
    m.add_function(wrap_pyfunction!(conn::_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(objects::_rebuild, m)?)?;
    m.add_function(wrap_pyfunction!(segment::_reattach, m)?)?;
    Ok(())
}
