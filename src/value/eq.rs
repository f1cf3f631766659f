//! Python's equality, ordering and the stable hash, written once for owned
//! values (`&Value`) and values in a segment (`ValueRef`) through the [`Py`]
//! trait.

use super::{Value, ValueRef};
use crate::Error;
use std::borrow::Cow;
use std::cmp::Ordering;

use crate::format::array::Dtype;
use crate::format::hash;
use crate::scalar::real::{self, Real};
use crate::scalar::{BigInt, Date, DateTime, Decimal, Time, TimeDelta, cmp_keys};

/// Deepest nesting that writing, copying out and comparing follow (as
/// serde_json's limit: recursion stays far from the end of a 2 MiB thread
/// stack even in debug builds).
pub(crate) const MAX_DEPTH: u32 = 128;

/// A number, for cross-type comparison (`bool` counts as an int).
#[derive(Clone)]
pub(crate) enum Num<'a> {
    I(i64),
    F(f64),
    Big(Cow<'a, BigInt>),
    Dec(Cow<'a, Decimal>),
    C(f64, f64),
}

impl Num<'_> {
    /// The real number this is; `None` for a complex number.
    fn real(&self) -> Option<Real<'_>> {
        Some(match self {
            Num::I(i) => Real::Int(*i),
            Num::F(f) => Real::Float(*f),
            Num::Big(b) => Real::Big(Cow::Borrowed(b)),
            Num::Dec(d) => Real::Dec(Cow::Borrowed(d)),
            Num::C(..) => return None,
        })
    }
}

/// What a value is, as far as comparison and hashing care.
pub(crate) enum Shape<'a> {
    None,
    Num(Num<'a>),
    Str(&'a str),
    Bytes(&'a [u8]),
    Tuple(usize),
    List(usize),
    Set(usize),
    Dict(usize),
    /// A typed snapshot: fingerprint and archive bytes (equal iff both are).
    Typed(u64, &'a [u8]),
    DateTime(DateTime),
    Date(Date),
    Time(Time),
    TimeDelta(TimeDelta),
    /// A numeric array: element type, shape and data (equal iff the type
    /// and shape are and the elements are equal numbers).
    Array(Dtype, &'a [usize], &'a [u8]),
    /// A pickled object's bytes (equal iff the bytes are).
    Pickled(&'a [u8]),
    /// An object: its class path and number of attributes; its attributes
    /// are reached as a dict's entries ([`Py::each`], [`Py::find`]).
    Object(&'a str, usize),
}

/// A value that can be compared like Python's: `&Value` or `ValueRef`.
pub(crate) trait Py: Sized + Copy {
    /// The type name, for errors.
    fn type_name(self) -> &'static str;
    /// The shape, borrowing from `self`'s data.
    fn view<'a>(&'a self) -> Shape<'a>;
    /// Item `i` of a tuple or list (in stored order).
    fn item(self, i: usize) -> Result<Self, Error>;
    /// Whether [`Py::find`] is a hashed lookup (a dict or set in a segment).
    fn hashed(self) -> bool;
    /// Calls `f` with each member of a set (twice: as key and value) or
    /// each key and value of a dict, in order, until it returns false;
    /// returns whether it went through.
    fn each(self, f: &mut dyn FnMut(Self, Self) -> Result<bool, Error>) -> Result<bool, Error>;
    /// The member of a set equal to `k`, or the value of key `k` in a dict.
    fn find<K: Py>(self, k: K, depth: u32) -> Result<Option<Self>, Error>;
}

fn not_a_container<T>(found: &'static str) -> Result<T, Error> {
    Err(Error::TypeMismatch {
        expected: "dict or set",
        found,
    })
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
            Value::Set(v) | Value::FrozenSet(v) => Shape::Set(v.len()),
            Value::Dict(v) => Shape::Dict(v.len()),
            Value::Typed(t) => Shape::Typed(t.fingerprint, &t.bytes),
            Value::BigInt(b) => Shape::Num(Num::Big(Cow::Borrowed(b))),
            Value::Decimal(d) => Shape::Num(Num::Dec(Cow::Borrowed(d))),
            Value::Complex { re, im } => Shape::Num(Num::C(*re, *im)),
            Value::DateTime(v) => Shape::DateTime(*v),
            Value::Date(v) => Shape::Date(*v),
            Value::Time(v) => Shape::Time(*v),
            Value::TimeDelta(v) => Shape::TimeDelta(*v),
            Value::Array(a) => Shape::Array(a.dtype, &a.shape, &a.data),
            Value::Pickled(b) => Shape::Pickled(b),
            Value::Object { class, attrs } => Shape::Object(class, attrs.len()),
        }
    }
    fn item(self, i: usize) -> Result<Self, Error> {
        match self {
            Value::Tuple(v) | Value::List(v) | Value::Set(v) | Value::FrozenSet(v) => {
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
    fn hashed(self) -> bool {
        false
    }
    fn each(self, f: &mut dyn FnMut(Self, Self) -> Result<bool, Error>) -> Result<bool, Error> {
        match self {
            Value::Set(v) | Value::FrozenSet(v) => {
                for x in v {
                    if !f(x, x)? {
                        return Ok(false);
                    }
                }
            }
            Value::Dict(v) | Value::Object { attrs: v, .. } => {
                for (k, x) in v {
                    if !f(k, x)? {
                        return Ok(false);
                    }
                }
            }
            _ => return not_a_container(Value::type_name(self)),
        }
        Ok(true)
    }
    fn find<K: Py>(self, k: K, depth: u32) -> Result<Option<Self>, Error> {
        match self {
            Value::Set(v) | Value::FrozenSet(v) => {
                for x in v {
                    if eq(x, k, depth)? {
                        return Ok(Some(x));
                    }
                }
            }
            // A repeated key: the last value counts (as when written).
            Value::Dict(v) | Value::Object { attrs: v, .. } => {
                for (k2, x) in v.iter().rev() {
                    if eq(k2, k, depth)? {
                        return Ok(Some(x));
                    }
                }
            }
            _ => return not_a_container(Value::type_name(self)),
        }
        Ok(None)
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
            // An archive that cannot be read compares unequal to everything.
            ValueRef::Typed(t) => Shape::Typed(t.fingerprint(), t.as_bytes().unwrap_or(&[])),
            ValueRef::BigInt(r) => Shape::Num(Num::Big(Cow::Owned(r.to_bigint()))),
            ValueRef::Decimal(r) => Shape::Num(Num::Dec(Cow::Owned(r.to_decimal()))),
            ValueRef::Complex { re, im } => Shape::Num(Num::C(re, im)),
            ValueRef::DateTime(v) => Shape::DateTime(v),
            ValueRef::Date(v) => Shape::Date(v),
            ValueRef::Time(v) => Shape::Time(v),
            ValueRef::TimeDelta(v) => Shape::TimeDelta(v),
            // Its bounds were checked when the view was made; an error
            // (never expected) leaves no data, which no shape matches
            // but an empty one.
            ValueRef::Array(a) => Shape::Array(a.dtype(), a.shape(), a.as_bytes().unwrap_or(&[])),
            ValueRef::Pickled(b) => Shape::Pickled(b),
            ValueRef::Object(o) => Shape::Object(o.class(), o.attrs().len()),
        }
    }
    fn item(self, i: usize) -> Result<Self, Error> {
        match self {
            ValueRef::Tuple(t) => t.get(i),
            ValueRef::List(l) => l.get(i),
            _ => Err(Error::TypeMismatch {
                expected: "sequence",
                found: ValueRef::type_name(&self),
            }),
        }
    }
    fn hashed(self) -> bool {
        match self {
            ValueRef::Dict(_) | ValueRef::Object(_) => true,
            ValueRef::Set(s) => s.is_hashed(),
            _ => false,
        }
    }
    fn each(self, f: &mut dyn FnMut(Self, Self) -> Result<bool, Error>) -> Result<bool, Error> {
        match self {
            ValueRef::Set(s) => {
                for x in s.iter() {
                    let x = x?;
                    if !f(x, x)? {
                        return Ok(false);
                    }
                }
            }
            ValueRef::Dict(d) => {
                for kv in d.iter() {
                    let (k, x) = kv?;
                    if !f(k, x)? {
                        return Ok(false);
                    }
                }
            }
            ValueRef::Object(o) => return ValueRef::Dict(o.attrs()).each(f),
            _ => return not_a_container(ValueRef::type_name(&self)),
        }
        Ok(true)
    }
    fn find<K: Py>(self, k: K, depth: u32) -> Result<Option<Self>, Error> {
        match self {
            ValueRef::Set(s) => s.find_py(k, depth),
            ValueRef::Dict(d) => d.find_py(k, depth),
            ValueRef::Object(o) => o.attrs().find_py(k, depth),
            _ => not_a_container(ValueRef::type_name(&self)),
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

pub(crate) fn num_eq(a: &Num<'_>, b: &Num<'_>) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x == y,
        (Num::F(x), Num::F(y)) => x == y,
        (Num::I(i), Num::F(f)) | (Num::F(f), Num::I(i)) => {
            f.fract() == 0.0 && (-hash::I64_BOUND..hash::I64_BOUND).contains(f) && *f as i64 == *i
        }
        (Num::C(r, i), Num::C(r2, i2)) => r == r2 && i == i2,
        // complex(x, 0) == x
        (Num::C(re, im), x) | (x, Num::C(re, im)) => *im == 0.0 && num_eq(&Num::F(*re), x),
        _ => match (a.real(), b.real()) {
            (Some(x), Some(y)) => real::cmp(&x, &y) == Some(Ordering::Equal),
            _ => false,
        },
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

/// `a < b` for numbers; complex numbers are unordered (Python's
/// `TypeError`), a NaN is less than nothing.
fn num_lt(a: &Num<'_>, b: &Num<'_>) -> Result<bool, Error> {
    Ok(match (a, b) {
        (Num::I(x), Num::I(y)) => x < y,
        (Num::F(x), Num::F(y)) => x < y,
        (Num::I(i), Num::F(f)) => int_lt_float(*i, *f),
        (Num::F(f), Num::I(i)) => float_lt_int(*f, *i),
        _ => match (a.real(), b.real()) {
            (Some(x), Some(y)) => real::cmp(&x, &y) == Some(Ordering::Less),
            _ => {
                return Err(Error::TypeMismatch {
                    expected: "a real number (complex numbers are unordered)",
                    found: "complex",
                });
            }
        },
    })
}

/// `a == b` under Python's rules (`1 == 1.0 == True`, `b"a" ==
/// bytearray(b"a")`, sets and dicts by content, NaN unequal to itself).
pub(crate) fn eq<A: Py, B: Py>(a: A, b: B, depth: u32) -> Result<bool, Error> {
    let d = deeper(depth)?;
    Ok(match (a.view(), b.view()) {
        (Shape::None, Shape::None) => true,
        (Shape::Num(x), Shape::Num(y)) => num_eq(&x, &y),
        (Shape::Str(x), Shape::Str(y)) => x == y,
        (Shape::DateTime(x), Shape::DateTime(y)) => x.key() == y.key(),
        (Shape::Date(x), Shape::Date(y)) => x == y,
        (Shape::Time(x), Shape::Time(y)) => x.key() == y.key(),
        (Shape::TimeDelta(x), Shape::TimeDelta(y)) => x == y,
        (Shape::Bytes(x), Shape::Bytes(y)) => x == y,
        (Shape::Typed(f, x), Shape::Typed(g, y)) => f == g && x == y,
        (Shape::Array(d, s, x), Shape::Array(e, t, y)) => {
            d == e && s == t && super::array::elements_eq(d, x, y)
        }
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
        // Two shared (hashed) containers hold distinct keys: equal sizes
        // and one inclusion suffice. A local one may repeat a key, so both
        // inclusions are checked.
        (Shape::Set(n), Shape::Set(m)) => {
            if a.hashed() && b.hashed() {
                n == m && included(a, b, false, d)?
            } else {
                included(a, b, false, d)? && included(b, a, false, d)?
            }
        }
        (Shape::Dict(n), Shape::Dict(m)) => dict_eq(a, b, n, m, d)?,
        // An object: the same class and equal attribute dicts.
        (Shape::Object(c, n), Shape::Object(k, m)) => c == k && dict_eq(a, b, n, m, d)?,
        (Shape::Pickled(x), Shape::Pickled(y)) => x == y,
        _ => false,
    })
}

/// Two dicts (or two objects' attributes) of `n` and `m` entries, equal.
fn dict_eq<A: Py, B: Py>(a: A, b: B, n: usize, m: usize, d: u32) -> Result<bool, Error> {
    Ok(if a.hashed() && b.hashed() {
        n == m && included(a, b, true, d)?
    } else {
        included(a, b, true, d)? && included(b, a, true, d)?
    })
}

/// Whether every member (key) of `x` is in `y` (with an equal value, for
/// dicts: `values`).
fn included<X: Py, Y: Py>(x: X, y: Y, values: bool, depth: u32) -> Result<bool, Error> {
    x.each(&mut |k, v| {
        let Some(w) = y.find(k, depth)? else {
            return Ok(false);
        };
        if !values {
            return Ok(true);
        }
        // A local dict may repeat a key: its last value counts.
        let v = if x.hashed() {
            v
        } else {
            x.find(k, depth)?.unwrap_or(v)
        };
        eq(v, w, depth)
    })
}

/// `Less` from an ordering of datetimes or times; `None` (naive against
/// aware) is Python's `TypeError`.
fn aware_lt(o: Option<Ordering>, what: &'static str) -> Result<bool, Error> {
    match o {
        Some(o) => Ok(o == Ordering::Less),
        None => Err(Error::TypeMismatch {
            expected: what,
            found: "a naive and an aware value (unordered)",
        }),
    }
}

/// `a < b` under Python's rules: numbers across int/float/bool, str, bytes,
/// and tuples and lists lexicographically; anything else is
/// [`Error::TypeMismatch`] (Python's `TypeError`).
pub(crate) fn lt<A: Py, B: Py>(a: A, b: B, depth: u32) -> Result<bool, Error> {
    let d = deeper(depth)?;
    Ok(match (a.view(), b.view()) {
        (Shape::Num(x), Shape::Num(y)) => num_lt(&x, &y)?,
        (Shape::Str(x), Shape::Str(y)) => x < y,
        (Shape::Date(x), Shape::Date(y)) => x < y,
        (Shape::TimeDelta(x), Shape::TimeDelta(y)) => x < y,
        (Shape::DateTime(x), Shape::DateTime(y)) => {
            aware_lt(cmp_keys(x.key(), y.key()), "datetime")?
        }
        (Shape::Time(x), Shape::Time(y)) => aware_lt(cmp_keys(x.key(), y.key()), "time")?,
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
/// dict, set, bytearray, pickled objects and objects (and tuples
/// containing them).
pub(crate) fn hash<P: Py>(v: P, depth: u32) -> Result<u64, Error> {
    let d = deeper(depth)?;
    Ok(match v.view() {
        Shape::None => hash::NONE,
        Shape::Num(Num::I(i)) => hash::int(i),
        Shape::Num(Num::F(f)) => hash::float(f),
        Shape::Num(Num::C(re, im)) => hash::complex(re, im),
        Shape::Num(n) => {
            let r = n.real().expect("a real number");
            hash::real(real::hash_form(&r)).ok_or(Error::Unhashable {
                kind: "Decimal (signalling NaN)",
            })?
        }
        Shape::DateTime(x) => hash::datetime(&x),
        Shape::Date(x) => hash::date(&x),
        Shape::Time(x) => hash::time(&x),
        Shape::TimeDelta(x) => hash::timedelta(&x),
        Shape::Str(s) => hash::str(s),
        Shape::Bytes(b) if v.type_name() == "bytes" => hash::bytes(b),
        Shape::Tuple(n) => {
            let mut hs = Vec::with_capacity(n);
            for i in 0..n {
                hs.push(hash(v.item(i)?, d)?);
            }
            hash::combine(hs.into_iter(), true)
        }
        Shape::Set(_) if v.type_name() == "frozenset" => {
            // Unordered; members that are equal (a local value may repeat
            // one) count once, as in the written frozenset.
            let mut hs: Vec<(u64, P)> = Vec::new();
            v.each(&mut |m, _| {
                hs.push((hash(m, d)?, m));
                Ok(true)
            })?;
            hs.sort_by_key(|x| x.0);
            let mut distinct = Vec::with_capacity(hs.len());
            for (i, &(h, m)) in hs.iter().enumerate() {
                let mut seen = false;
                for &(h2, m2) in hs[..i].iter().rev() {
                    if h2 != h {
                        break;
                    }
                    if eq(m2, m, d)? {
                        seen = true;
                        break;
                    }
                }
                if !seen {
                    distinct.push(h);
                }
            }
            hash::combine(distinct.into_iter(), false)
        }
        _ => {
            return Err(Error::Unhashable {
                kind: v.type_name(),
            });
        }
    })
}

/// The stable hash of an owned value (ints and strs, the common keys,
/// without the general walk).
#[inline]
pub(crate) fn hash_value(v: &Value) -> Result<u64, Error> {
    match v {
        Value::Int(i) => Ok(hash::int(*i)),
        Value::Str(s) => Ok(hash::str(s)),
        _ => hash(v, 0),
    }
}
