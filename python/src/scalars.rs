//! Python's big ints, `complex`, `decimal.Decimal` and the `datetime`
//! types, to and from the core's scalar kinds.
//!
//! Reached only after the exact common types (int that fits, float, str,
//! ...) missed, so the hot paths pay nothing. `decimal` and `datetime` are
//! imported once, on first need, and their classes cached.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyComplex, PyDict, PyType};
use shmheap::{BigInt, Date, DateTime, Decimal, Time, TimeDelta, UtcOffset, Value};

use crate::errors::Core;

/// The classes this module converts, imported once.
struct Classes {
    decimal: Py<PyType>,
    datetime: Py<PyType>,
    date: Py<PyType>,
    time: Py<PyType>,
    timedelta: Py<PyType>,
    timezone: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let dt = py.import("datetime")?;
        let class = |m: &Bound<'_, PyModule>, name: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(Classes {
            decimal: class(&py.import("decimal")?, "Decimal")?,
            datetime: class(&dt, "datetime")?,
            date: class(&dt, "date")?,
            time: class(&dt, "time")?,
            timedelta: class(&dt, "timedelta")?,
            timezone: class(&dt, "timezone")?,
        })
    })
}

fn attr<'py, T: FromPyObjectOwned<'py>>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<T> {
    obj.getattr(name)?.extract().map_err(Into::into)
}

/// A Python int outside int64, as a big int.
pub(crate) fn big_int(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    Ok(Value::BigInt(obj.extract::<BigInt>()?))
}

/// A `timedelta`'s total microseconds.
fn delta_micros(d: &Bound<'_, PyAny>) -> PyResult<i128> {
    let days: i64 = attr(d, "days")?;
    let secs: i64 = attr(d, "seconds")?;
    let us: i64 = attr(d, "microseconds")?;
    Ok((days as i128 * 86_400 + secs as i128) * 1_000_000 + us as i128)
}

/// The UTC offset `obj.utcoffset()` gives now (a zoneinfo's current one:
/// the value keeps only the fixed offset).
fn offset(obj: &Bound<'_, PyAny>) -> PyResult<Option<UtcOffset>> {
    let o = obj.call_method0("utcoffset")?;
    if o.is_none() {
        return Ok(None);
    }
    let us = delta_micros(&o)?;
    let us = i64::try_from(us).map_err(|_| PyValueError::new_err("UTC offset out of range"))?;
    UtcOffset::from_micros(us).py(obj.py()).map(Some)
}

fn time_of(obj: &Bound<'_, PyAny>) -> PyResult<Time> {
    let t = Time::new(
        attr(obj, "hour")?,
        attr(obj, "minute")?,
        attr(obj, "second")?,
        attr(obj, "microsecond")?,
    )
    .py(obj.py())?;
    Ok(t.with_fold(attr::<u8>(obj, "fold")? != 0)
        .with_offset(offset(obj)?))
}

fn date_of(obj: &Bound<'_, PyAny>) -> PyResult<Date> {
    Date::new(attr(obj, "year")?, attr(obj, "month")?, attr(obj, "day")?).py(obj.py())
}

/// `complex`, `Decimal` and the datetime types as values; `None` for any
/// other object.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Option<Value>> {
    let py = obj.py();
    if let Ok(c) = obj.cast::<PyComplex>() {
        return Ok(Some(Value::complex(c.real(), c.imag())));
    }
    let k = classes(py)?;
    Ok(Some(if obj.is_instance(k.decimal.bind(py))? {
        let s = obj.str()?;
        Value::Decimal(s.to_str()?.parse::<Decimal>().py(py)?)
    } else if obj.is_instance(k.datetime.bind(py))? {
        Value::DateTime(DateTime::new(date_of(obj)?, time_of(obj)?))
    } else if obj.is_instance(k.date.bind(py))? {
        Value::Date(date_of(obj)?)
    } else if obj.is_instance(k.time.bind(py))? {
        Value::Time(time_of(obj)?)
    } else if obj.is_instance(k.timedelta.bind(py))? {
        Value::TimeDelta(TimeDelta::from_micros(delta_micros(obj)?).py(py)?)
    } else {
        return Ok(None);
    }))
}

/// `datetime.timezone(timedelta(microseconds=...))` of an offset.
fn tzinfo(py: Python<'_>, k: &Classes, o: Option<UtcOffset>) -> PyResult<Py<PyAny>> {
    match o {
        None => Ok(py.None()),
        Some(o) => {
            let kw = PyDict::new(py);
            kw.set_item("microseconds", o.as_micros())?;
            let d = k.timedelta.bind(py).call((), Some(&kw))?;
            Ok(k.timezone.bind(py).call1((d,))?.unbind())
        }
    }
}

fn time_kwargs<'py>(py: Python<'py>, k: &Classes, t: &Time) -> PyResult<Bound<'py, PyDict>> {
    let kw = PyDict::new(py);
    kw.set_item("tzinfo", tzinfo(py, k, t.offset())?)?;
    kw.set_item("fold", t.fold() as u8)?;
    Ok(kw)
}

/// The Python object of a scalar value of the kinds above (and big ints);
/// `None` for any other value.
pub(crate) fn to_py(py: Python<'_>, v: &Value) -> PyResult<Option<Py<PyAny>>> {
    Ok(Some(match v {
        Value::BigInt(b) => b.into_pyobject(py)?.into_any().unbind(),
        Value::Complex { re, im } => PyComplex::from_doubles(py, *re, *im).into_any().unbind(),
        Value::Decimal(d) => {
            let k = classes(py)?;
            k.decimal.bind(py).call1((d.to_string(),))?.unbind()
        }
        Value::Date(d) => {
            let k = classes(py)?;
            k.date
                .bind(py)
                .call1((d.year(), d.month(), d.day()))?
                .unbind()
        }
        Value::Time(t) => {
            let k = classes(py)?;
            let args = (t.hour(), t.minute(), t.second(), t.microsecond());
            k.time
                .bind(py)
                .call(args, Some(&time_kwargs(py, k, t)?))?
                .unbind()
        }
        Value::DateTime(dt) => {
            let k = classes(py)?;
            let (d, t) = (dt.date(), dt.time());
            let args = (
                d.year(),
                d.month(),
                d.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond(),
            );
            k.datetime
                .bind(py)
                .call(args, Some(&time_kwargs(py, k, &t)?))?
                .unbind()
        }
        Value::TimeDelta(d) => {
            let k = classes(py)?;
            k.timedelta
                .bind(py)
                .call1((d.days(), d.seconds(), d.microseconds()))?
                .unbind()
        }
        _ => return Ok(None),
    }))
}
