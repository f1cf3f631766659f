//! Python's equality, ordering and the stable hash, written once for owned
//! values (`&Value`) and values in a segment (`ValueRef`) through the [`Py`]
//! trait.

use super::{Value, ValueRef};
use crate::Error;
use crate::format::hash;

/// Deepest nesting that writing, copying out and comparing follow (as
/// serde_json's limit: recursion stays far from the end of a 2 MiB thread
/// stack even in debug builds).
pub(crate) const MAX_DEPTH: u32 = 128;

/// A number, for cross-type comparison (`bool` counts as an int).
#[derive(Clone, Copy)]
pub(crate) enum Num {
    I(i64),
    F(f64),
}

/// What a value is, as far as comparison and hashing care.
pub(crate) enum Shape<'a> {
    None,
    Num(Num),
    Str(&'a str),
    Bytes(&'a [u8]),
    Tuple(usize),
    List(usize),
    Set(usize),
    Dict(usize),
}

/// A value that can be compared like Python's: `&Value` or `ValueRef`.
pub(crate) trait Py: Sized + Copy {
    /// The type name, for errors.
    fn type_name(self) -> &'static str;
    /// The shape, borrowing from `self`'s data.
    fn view<'a>(&'a self) -> Shape<'a>;
    /// Item `i` of a tuple, list or set (in stored order).
    fn item(self, i: usize) -> Result<Self, Error>;
    /// Entry `i` of a dict.
    fn entry(self, i: usize) -> Result<(Self, Self), Error>;
}

impl Py for &Value {
    fn type_name(self) -> &'static str {
        Value::type_name(self)
    }
    fn view<'a>(&'a self) -> Shape<'a> {
        match *self {
            Value::None => Shape::None,
            Value::Bool(b) => Shape::Num(Num::I(*b as i64)),
            Value::Int(i) => Shape::Num(Num::I(*i)),
            Value::Float(f) => Shape::Num(Num::F(*f)),
            Value::Str(s) => Shape::Str(s),
            Value::Bytes(b) | Value::ByteArray(b) => Shape::Bytes(b),
            Value::Tuple(v) => Shape::Tuple(v.len()),
            Value::List(v) => Shape::List(v.len()),
            Value::Set(v) => Shape::Set(v.len()),
            Value::Dict(v) => Shape::Dict(v.len()),
        }
    }
    fn item(self, i: usize) -> Result<Self, Error> {
        match self {
            Value::Tuple(v) | Value::List(v) | Value::Set(v) => {
                v.get(i).ok_or(Error::IndexOutOfRange {
                    index: i,
                    len: v.len(),
                })
            }
            _ => Err(Error::TypeMismatch {
                expected: "sequence",
                found: Value::type_name(self),
            }),
        }
    }
    fn entry(self, i: usize) -> Result<(Self, Self), Error> {
        match self {
            Value::Dict(v) => v.get(i).map(|(k, v)| (k, v)).ok_or(Error::IndexOutOfRange {
                index: i,
                len: v.len(),
            }),
            _ => Err(Error::TypeMismatch {
                expected: "dict",
                found: Value::type_name(self),
            }),
        }
    }
}

impl<'t> Py for ValueRef<'t> {
    fn type_name(self) -> &'static str {
        ValueRef::type_name(&self)
    }
    fn view<'a>(&'a self) -> Shape<'a> {
        match *self {
            ValueRef::None => Shape::None,
            ValueRef::Bool(b) => Shape::Num(Num::I(b as i64)),
            ValueRef::Int(i) => Shape::Num(Num::I(i)),
            ValueRef::Float(f) => Shape::Num(Num::F(f)),
            ValueRef::Str(s) => Shape::Str(s),
            ValueRef::Bytes(b) | ValueRef::ByteArray(b) => Shape::Bytes(b),
            ValueRef::Tuple(t) => Shape::Tuple(t.len()),
            ValueRef::List(l) => Shape::List(l.len()),
            ValueRef::Set(s) => Shape::Set(s.len()),
            ValueRef::Dict(d) => Shape::Dict(d.len()),
        }
    }
    fn item(self, i: usize) -> Result<Self, Error> {
        match self {
            ValueRef::Tuple(t) => t.get(i),
            ValueRef::List(l) => l.get(i),
            ValueRef::Set(s) => s.member(i),
            _ => Err(Error::TypeMismatch {
                expected: "sequence",
                found: ValueRef::type_name(&self),
            }),
        }
    }
    fn entry(self, i: usize) -> Result<(Self, Self), Error> {
        match self {
            ValueRef::Dict(d) => d.entry(i),
            _ => Err(Error::TypeMismatch {
                expected: "dict",
                found: ValueRef::type_name(&self),
            }),
        }
    }
}

fn deeper(depth: u32) -> Result<u32, Error> {
    if depth >= MAX_DEPTH {
        Err(Error::NestingTooDeep { limit: MAX_DEPTH })
    } else {
        Ok(depth + 1)
    }
}

pub(crate) fn num_eq(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x == y,
        (Num::F(x), Num::F(y)) => x == y,
        (Num::I(i), Num::F(f)) | (Num::F(f), Num::I(i)) => {
            f.fract() == 0.0 && (-hash::I64_BOUND..hash::I64_BOUND).contains(&f) && f as i64 == i
        }
    }
}

/// `i < f`, exactly (no rounding of `i` to a float).
fn int_lt_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        false
    } else if f >= hash::I64_BOUND {
        true
    } else if f < -hash::I64_BOUND {
        false
    } else {
        let fl = f.floor();
        let fi = fl as i64;
        i < fi || (i == fi && f > fl)
    }
}

/// `f < i`, exactly.
fn float_lt_int(f: f64, i: i64) -> bool {
    if f.is_nan() || f >= hash::I64_BOUND {
        false
    } else if f < -hash::I64_BOUND {
        true
    } else {
        let c = f.ceil();
        let ci = c as i64;
        ci < i || (ci == i && f < c)
    }
}

fn num_lt(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x < y,
        (Num::F(x), Num::F(y)) => x < y,
        (Num::I(i), Num::F(f)) => int_lt_float(i, f),
        (Num::F(f), Num::I(i)) => float_lt_int(f, i),
    }
}

/// `a == b` under Python's rules (`1 == 1.0 == True`, `b"a" ==
/// bytearray(b"a")`, sets and dicts by content, NaN unequal to itself).
pub(crate) fn eq<A: Py, B: Py>(a: A, b: B, depth: u32) -> Result<bool, Error> {
    let d = deeper(depth)?;
    Ok(match (a.view(), b.view()) {
        (Shape::None, Shape::None) => true,
        (Shape::Num(x), Shape::Num(y)) => num_eq(x, y),
        (Shape::Str(x), Shape::Str(y)) => x == y,
        (Shape::Bytes(x), Shape::Bytes(y)) => x == y,
        (Shape::Tuple(n), Shape::Tuple(m)) | (Shape::List(n), Shape::List(m)) => {
            if n != m {
                return Ok(false);
            }
            for i in 0..n {
                if !eq(a.item(i)?, b.item(i)?, d)? {
                    return Ok(false);
                }
            }
            true
        }
        (Shape::Set(n), Shape::Set(m)) => {
            if n != m {
                return Ok(false);
            }
            for i in 0..n {
                if !set_has(b, m, a.item(i)?, d)? {
                    return Ok(false);
                }
            }
            true
        }
        (Shape::Dict(n), Shape::Dict(m)) => {
            if n != m {
                return Ok(false);
            }
            for i in 0..n {
                let (k, v) = a.entry(i)?;
                match dict_find(b, m, k, d)? {
                    Some(w) if eq(v, w, d)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        _ => false,
    })
}

fn set_has<S: Py, K: Py>(set: S, n: usize, k: K, depth: u32) -> Result<bool, Error> {
    for j in 0..n {
        if eq(set.item(j)?, k, depth)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The value of key `k` in the dict `dict` of `n` entries (linear search).
pub(crate) fn dict_find<D: Py, K: Py>(
    dict: D,
    n: usize,
    k: K,
    depth: u32,
) -> Result<Option<D>, Error> {
    for j in 0..n {
        let (k2, v) = dict.entry(j)?;
        if eq(k2, k, depth)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// `a < b` under Python's rules: numbers across int/float/bool, str, bytes,
/// and tuples and lists lexicographically; anything else is
/// [`Error::TypeMismatch`] (Python's `TypeError`).
pub(crate) fn lt<A: Py, B: Py>(a: A, b: B, depth: u32) -> Result<bool, Error> {
    let d = deeper(depth)?;
    Ok(match (a.view(), b.view()) {
        (Shape::Num(x), Shape::Num(y)) => num_lt(x, y),
        (Shape::Str(x), Shape::Str(y)) => x < y,
        (Shape::Bytes(x), Shape::Bytes(y)) => x < y,
        (Shape::Tuple(n), Shape::Tuple(m)) | (Shape::List(n), Shape::List(m)) => {
            for i in 0..n.min(m) {
                let (x, y) = (a.item(i)?, b.item(i)?);
                if !eq(x, y, d)? {
                    return lt(x, y, d);
                }
            }
            n < m
        }
        _ => {
            return Err(Error::TypeMismatch {
                expected: a.type_name(),
                found: b.type_name(),
            });
        }
    })
}

/// `a == b` for owned values (deeper than the limit counts as unequal).
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    eq(a, b, 0).unwrap_or(false)
}

/// The stable hash of a hashable value; [`Error::Unhashable`] for list,
/// dict, set and bytearray (and tuples containing them).
pub(crate) fn hash<P: Py>(v: P, depth: u32) -> Result<u64, Error> {
    let d = deeper(depth)?;
    Ok(match v.view() {
        Shape::None => hash::NONE,
        Shape::Num(Num::I(i)) => hash::int(i),
        Shape::Num(Num::F(f)) => hash::float(f),
        Shape::Str(s) => hash::str(s),
        Shape::Bytes(b) if v.type_name() == "bytes" => hash::bytes(b),
        Shape::Tuple(n) => {
            let mut hs = Vec::with_capacity(n);
            for i in 0..n {
                hs.push(hash(v.item(i)?, d)?);
            }
            hash::combine(hs.into_iter(), true)
        }
        _ => {
            return Err(Error::Unhashable {
                kind: v.type_name(),
            });
        }
    })
}

/// The stable hash of an owned value.
pub(crate) fn hash_value(v: &Value) -> Result<u64, Error> {
    hash(v, 0)
}
