//! Owned values, the `value!` macro, and the views into a segment.

mod array;
mod bytes;
mod dict;
mod display;
mod eq;
mod hashed;
pub(crate) mod list;
mod scalars;
mod set;
mod view;
mod write;

pub use array::{AnyArrayRef, Array, ArrayMut, ArrayRef, Element};
pub use bytes::BytesMut;
pub use dict::{DictIter, DictMut, DictRef};
pub use display::Repr;
pub use list::ListMut;
pub use scalars::{ScalarItem, Scalars};
pub use set::{Members, SetIter, SetMut, SetRef};
pub use view::{ListIter, ListRef, ObjectRef, TupleRef, TypedRef, ValueRef};

#[cfg(feature = "serde")]
pub(crate) use eq::MAX_DEPTH;
pub(crate) use eq::{hash_value, py_eq};
pub(crate) use view::attrs_block;
pub(crate) use write::{copy_slot, free_slot, into_slot, write_blob_block, write_slot};

/// An owned, dynamically typed value: what goes into a segment and what
/// comes out of it by copy.
///
/// `PartialEq` is structural (`Int(1) != Float(1.0)`); shared dict keys and
/// set members compare like Python's (`1 == 1.0 == True`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Python's `None`.
    None,
    /// A bool.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Immutable bytes.
    Bytes(Vec<u8>),
    /// Mutable bytes.
    ByteArray(Vec<u8>),
    /// An immutable sequence.
    Tuple(Vec<Value>),
    /// A mutable, resizable sequence.
    List(Vec<Value>),
    /// A mapping, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A mutable set of hashable values (written as a shared set that
    /// [`crate::SetMut`] changes in place).
    Set(Vec<Value>),
    /// An immutable set of hashable values (Python's `frozenset`; itself
    /// hashable, so it can be a dict key or a set member).
    FrozenSet(Vec<Value>),
    /// A typed snapshot: the rkyv archive of a Rust value and the
    /// fingerprint of its type (see [`TypedValue`]).
    Typed(TypedValue),
    /// An integer outside int64 (Python's `int` beyond 64 bits). Written
    /// normalised: one that fits in i64 is stored (and read back) as
    /// [`Value::Int`]; either compares and hashes equal to the other.
    BigInt(crate::BigInt),
    /// A complex number (Python's `complex`; equal to a real number when
    /// `im == 0`).
    Complex {
        /// The real part.
        re: f64,
        /// The imaginary part.
        im: f64,
    },
    /// Python's `decimal.Decimal`, exact (compares by value with every
    /// number: `Decimal('1.0') == 1`, `Decimal('0.1') != 0.1`).
    Decimal(crate::Decimal),
    /// A datetime, naive or with a fixed UTC offset (naive and aware ones
    /// are never equal; aware ones compare by instant).
    DateTime(crate::DateTime),
    /// A date (never equal to a datetime).
    Date(crate::Date),
    /// A time of day, with an optional UTC offset.
    Time(crate::Time),
    /// A duration (Python's `timedelta`).
    TimeDelta(crate::TimeDelta),
    /// A numeric array (element type, shape, data; see [`Value::array`]):
    /// written as a fixed-size shared array that [`crate::ArrayMut`]
    /// changes in place.
    Array(Array),
    /// An opaque pickle of a Python object (what the Python package stores
    /// for an object it has no other kind for; it reads back as an
    /// unpickled copy). Rust sees only the bytes. Two pickled values are
    /// equal iff their bytes are (a Python reader that wants Python's
    /// equality compares the unpickled objects instead); unhashable.
    Pickled(Vec<u8>),
    /// An instance of a class: the class's import path (Python writes
    /// `"module:qualname"`, e.g. `"mypkg.models:Point"`; 1..=1024 bytes)
    /// and its attributes, a dict that the object owns and that stays
    /// mutable in the segment ([`crate::Turn::attrs_mut`]). Equal iff the
    /// class paths are equal and the attribute dicts are; unhashable.
    Object {
        /// The class's import path.
        class: String,
        /// The attributes (name, value), in insertion order.
        attrs: Vec<(Value, Value)>,
    },
}

/// An owned rkyv archive of a Rust value, tagged with its type's
/// fingerprint: what a typed snapshot is outside a segment. Make one with
/// [`TypedValue::new`]; read it with [`TypedValue::access`].
#[derive(Clone, Debug)]
pub struct TypedValue {
    pub(crate) fingerprint: u64,
    pub(crate) root: u64,
    pub(crate) bytes: rkyv::util::AlignedVec<16>,
}

impl PartialEq for TypedValue {
    fn eq(&self, other: &TypedValue) -> bool {
        self.fingerprint == other.fingerprint
            && self.root == other.root
            && self.bytes.as_slice() == other.bytes.as_slice()
    }
}

impl TypedValue {
    /// The fingerprint of the archived type.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The archive's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Value {
    /// An empty dict.
    pub fn dict() -> Value {
        Value::Dict(Vec::new())
    }

    /// An empty set.
    pub fn set() -> Value {
        Value::Set(Vec::new())
    }

    /// A bytearray (mutable bytes) holding `bytes`.
    pub fn bytearray(bytes: impl Into<Vec<u8>>) -> Value {
        Value::ByteArray(bytes.into())
    }

    /// A numeric array of `shape` (C order) holding `data`, e.g.
    /// `Value::array(&[2, 3], &[0.0f64; 6])?`. The shape's product must be
    /// `data.len()` and it may have at most 32 dimensions, else
    /// [`Error::InvalidArray`](crate::Error::InvalidArray) (a checked
    /// constructor rather than a panic: shapes often come from outside).
    pub fn array<T: Element>(shape: &[usize], data: &[T]) -> Result<Value, crate::Error> {
        Array::new(shape, data).map(Value::Array)
    }

    /// An instance of the class at `class` (an import path) with the
    /// attributes `attrs`.
    pub fn object(class: impl Into<String>, attrs: Vec<(Value, Value)>) -> Value {
        Value::Object {
            class: class.into(),
            attrs,
        }
    }

    /// The Python name of this value's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Typed(_) => "typed",
            Value::Pickled(_) => "pickled object",
            Value::Object { .. } => "object",
            Value::Array(_) => "array",
            Value::BigInt(_) => "int",
            Value::Complex { .. } => "complex",
            Value::Decimal(_) => "Decimal",
            Value::DateTime(_) => "datetime",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::TimeDelta(_) => "timedelta",
        }
    }

    /// The complex number `re + im·j`.
    pub fn complex(re: f64, im: f64) -> Value {
        Value::Complex { re, im }
    }

    /// An integer of any size: [`Value::Int`] if it fits in i64, else
    /// [`Value::BigInt`] (the form a segment gives back).
    pub fn int(v: impl Into<crate::BigInt>) -> Value {
        let v = v.into();
        match i64::try_from(&v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigInt(v),
        }
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::None
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(v as i64)
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);
macro_rules! from_wide_int {
    ($($t:ty),*) => {$(
        /// An int if it fits in i64, else a big int.
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::int(v)
            }
        }
    )*};
}
from_wide_int!(u64, i128, u128, crate::BigInt, crate::BigUint);
macro_rules! from_scalar {
    ($($t:ident),*) => {$(
        impl From<crate::$t> for Value {
            fn from(v: crate::$t) -> Value {
                Value::$t(v)
            }
        }
    )*};
}
from_scalar!(Decimal, DateTime, Date, Time, TimeDelta);
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(v as f64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Str(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}
impl<const N: usize> From<&[u8; N]> for Value {
    fn from(v: &[u8; N]) -> Value {
        Value::Bytes(v.to_vec())
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::List(v)
    }
}
impl From<&Value> for Value {
    fn from(v: &Value) -> Value {
        v.clone()
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::None, Into::into)
    }
}
macro_rules! from_tuple {
    ($($n:ident),+) => {
        impl<$($n: Into<Value>),+> From<($($n,)+)> for Value {
            #[allow(non_snake_case)]
            fn from(($($n,)+): ($($n,)+)) -> Value {
                Value::Tuple(vec![$($n.into()),+])
            }
        }
    };
}
from_tuple!(A);
from_tuple!(A, B);
from_tuple!(A, B, C);
from_tuple!(A, B, C, D);
from_tuple!(A, B, C, D, E);
from_tuple!(A, B, C, D, E, F);

/// Builds a [`Value`] with Python-like syntax: `[..]` a list, `(..)` a
/// tuple, `{k: v, ..}` a dict, `None`, and any other expression through
/// `From` (`b"..."` gives bytes).
///
/// ```
/// use shmheap::{value, Value};
/// let v = value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}, None]);
/// let Value::List(items) = &v else { panic!() };
/// assert_eq!(items[1], Value::Int(0));
/// assert_eq!(items[4], Value::None);
/// ```
#[macro_export]
macro_rules! value {
    (None) => { $crate::Value::None };
    ([]) => { $crate::Value::List(::std::vec::Vec::new()) };
    ([ $($tt:tt)+ ]) => { $crate::Value::List($crate::__value_seq!(@acc [] [] $($tt)+)) };
    (()) => { $crate::Value::Tuple(::std::vec::Vec::new()) };
    (( $($tt:tt)+ )) => { $crate::Value::Tuple($crate::__value_seq!(@acc [] [] $($tt)+)) };
    ({}) => { $crate::Value::Dict(::std::vec::Vec::new()) };
    ({ $($tt:tt)+ }) => { $crate::Value::Dict($crate::__value_map!(@k [] [] $($tt)+)) };
    ($e:expr) => { $crate::Value::from($e) };
}

/// Internal: splits a `value!` sequence at top-level commas.
#[doc(hidden)]
#[macro_export]
macro_rules! __value_seq {
    (@acc [$($out:expr,)*] []) => { ::std::vec![$($out,)*] };
    (@acc [$($out:expr,)*] [$($cur:tt)+]) => { ::std::vec![$($out,)* $crate::value!($($cur)+),] };
    (@acc [$($out:expr,)*] [] $t:tt , $($rest:tt)*) => {
        $crate::__value_seq!(@acc [$($out,)* $crate::value!($t),] [] $($rest)*)
    };
    (@acc [$($out:expr,)*] [$($cur:tt)+] , $($rest:tt)*) => {
        $crate::__value_seq!(@acc [$($out,)* $crate::value!($($cur)+),] [] $($rest)*)
    };
    (@acc [$($out:expr,)*] [$($cur:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__value_seq!(@acc [$($out,)*] [$($cur)* $t] $($rest)*)
    };
}

/// Internal: splits a `value!` dict into `key: value` pairs.
#[doc(hidden)]
#[macro_export]
macro_rules! __value_map {
    (@k [$($out:expr,)*] []) => { ::std::vec![$($out,)*] };
    (@k [$($out:expr,)*] [$($k:tt)+] : $($rest:tt)*) => {
        $crate::__value_map!(@v [$($out,)*] [$($k)+] [] $($rest)*)
    };
    (@k [$($out:expr,)*] [$($k:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__value_map!(@k [$($out,)*] [$($k)* $t] $($rest)*)
    };
    (@v [$($out:expr,)*] [$($k:tt)+] [$($v:tt)+]) => {
        ::std::vec![$($out,)* ($crate::value!($($k)+), $crate::value!($($v)+)),]
    };
    (@v [$($out:expr,)*] [$($k:tt)+] [$($v:tt)+] , $($rest:tt)*) => {
        $crate::__value_map!(@k [$($out,)* ($crate::value!($($k)+), $crate::value!($($v)+)),] [] $($rest)*)
    };
    (@v [$($out:expr,)*] [$($k:tt)+] [$($v:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__value_map!(@v [$($out,)*] [$($k)+] [$($v)* $t] $($rest)*)
    };
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn macro_builds_the_seed() {
        let v = value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}]);
        assert_eq!(
            v,
            Value::List(vec![
                Value::Str("hello".into()),
                Value::Int(0),
                Value::Tuple(vec![Value::Int(8), Value::Float(2.0), Value::Bool(false)]),
                Value::Dict(vec![
                    (Value::Bytes(b"world".to_vec()), Value::Int(-6)),
                    (Value::Int(5), Value::Int(4)),
                ]),
            ])
        );
        assert_eq!(value!([]), Value::List(vec![]));
        assert_eq!(value!({}), Value::Dict(vec![]));
        assert_eq!(value!(None), Value::None);
        assert_eq!(
            value!([[1, 2], [], (3,)]),
            Value::List(vec![
                Value::List(vec![Value::Int(1), Value::Int(2)]),
                Value::List(vec![]),
                Value::Tuple(vec![Value::Int(3)]),
            ])
        );
        let x = 7;
        assert_eq!(
            value!({"k": x + 1, "n": None}),
            Value::Dict(vec![
                (Value::Str("k".into()), Value::Int(8)),
                (Value::Str("n".into()), Value::None),
            ])
        );
    }
}

#[cfg(test)]
mod array_tests;
#[cfg(test)]
mod dict_tests;
#[cfg(test)]
mod display_tests;
#[cfg(test)]
mod list_tests;
#[cfg(test)]
mod object_tests;
#[cfg(test)]
mod oom_tests;
#[cfg(test)]
mod scalar_tests;
