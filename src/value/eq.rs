//! Python's equality and the stable hash for values.

use super::{Value, ValueRef};
use crate::Error;
use crate::format::hash;

/// Deepest nesting that writing, copying out and comparing follow (as
/// serde_json's limit: recursion stays far from the end of a 2 MiB thread
/// stack even in debug builds).
pub(crate) const MAX_DEPTH: u32 = 128;

#[derive(Clone, Copy)]
pub(crate) enum Num {
    I(i64),
    F(f64),
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

fn num(v: &Value) -> Option<Num> {
    match *v {
        Value::Bool(b) => Some(Num::I(b as i64)),
        Value::Int(i) => Some(Num::I(i)),
        Value::Float(f) => Some(Num::F(f)),
        _ => None,
    }
}

pub(crate) fn num_ref(v: &ValueRef<'_>) -> Option<Num> {
    match *v {
        ValueRef::Bool(b) => Some(Num::I(b as i64)),
        ValueRef::Int(i) => Some(Num::I(i)),
        ValueRef::Float(f) => Some(Num::F(f)),
        _ => None,
    }
}

/// `a == b` under Python's rules.
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return num_eq(x, y);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x) | Value::ByteArray(x), Value::Bytes(y) | Value::ByteArray(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Set(x), Value::Set(y)) => {
            x.len() == y.len() && x.iter().all(|p| y.iter().any(|q| py_eq(p, q)))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| py_eq(k, k2))
                        .is_some_and(|(_, v2)| py_eq(v, v2))
                })
        }
        _ => false,
    }
}

/// `r == v` under Python's rules, for a value in a segment.
pub(crate) fn ref_eq(r: &ValueRef<'_>, v: &Value, depth: u32) -> Result<bool, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::NestingTooDeep { limit: MAX_DEPTH });
    }
    if let (Some(x), Some(y)) = (num_ref(r), num(v)) {
        return Ok(num_eq(x, y));
    }
    Ok(match (r, v) {
        (ValueRef::None, Value::None) => true,
        (ValueRef::Str(x), Value::Str(y)) => *x == y,
        (ValueRef::Bytes(x) | ValueRef::ByteArray(x), Value::Bytes(y) | Value::ByteArray(y)) => {
            *x == y.as_slice()
        }
        (ValueRef::Tuple(x), Value::Tuple(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for (i, q) in y.iter().enumerate() {
                if !ref_eq(&x.get(i)?, q, depth + 1)? {
                    return Ok(false);
                }
            }
            true
        }
        (ValueRef::List(x), Value::List(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for (i, q) in y.iter().enumerate() {
                if !ref_eq(&x.get(i)?, q, depth + 1)? {
                    return Ok(false);
                }
            }
            true
        }
        (ValueRef::Set(x), Value::Set(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for q in y {
                if !x.contains(q)? {
                    return Ok(false);
                }
            }
            true
        }
        (ValueRef::Dict(x), Value::Dict(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for (k, q) in y {
                match x.get(k)? {
                    Some(p) if ref_eq(&p, q, depth + 1)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        _ => false,
    })
}

/// The stable hash of a hashable value; [`Error::Unhashable`] for list,
/// dict, set and bytearray (and tuples containing them).
pub(crate) fn hash_value(v: &Value) -> Result<u64, Error> {
    Ok(match v {
        Value::None => hash::NONE,
        Value::Bool(b) => hash::int(*b as i64),
        Value::Int(i) => hash::int(*i),
        Value::Float(f) => hash::float(*f),
        Value::Str(s) => hash::str(s),
        Value::Bytes(b) => hash::bytes(b),
        Value::Tuple(items) => {
            let hs = items
                .iter()
                .map(hash_value)
                .collect::<Result<Vec<_>, _>>()?;
            hash::combine(hs.into_iter(), true)
        }
        other => {
            return Err(Error::Unhashable {
                kind: other.type_name(),
            });
        }
    })
}
