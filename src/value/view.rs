//! Zero-copy views of values in a segment. Each borrows the turn (`'t`).

use std::marker::PhantomData;

use super::eq::{MAX_DEPTH, eq};
use super::{AnyArrayRef, ArrayRef, DictRef, Element, SetRef, Value};
use crate::Error;
use crate::alloc::Heap;
use crate::format::bytearray::ByteArrayLayout;
use crate::format::list::{ListLayout, Table};
use crate::format::scalar::{self, Scalar};
use crate::format::typed::TypedLayout;
use crate::format::{
    SEQ_SLOTS, Slot, T_ARRAY, T_BOOL, T_BYTEARRAY, T_BYTES, T_DICT, T_FLOAT, T_FROZENSET, T_INT,
    T_LIST, T_NONE, T_OBJECT, T_PICKLED, T_SET, T_STR, T_TUPLE, T_TYPED, object, payload,
    type_name,
};
use crate::scalar::{BigInt, BigIntRef, Date, DateTime, Decimal, DecimalRef, Time, TimeDelta};
use crate::segment::Offset;

/// A value in a segment, borrowed for the turn `'t`: scalars by value,
/// strings and bytes as slices into the segment, containers as views.
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'t> {
    /// None.
    None,
    /// A bool.
    Bool(bool),
    /// An int64.
    Int(i64),
    /// A float64.
    Float(f64),
    /// A str, in place.
    Str(&'t str),
    /// bytes, in place.
    Bytes(&'t [u8]),
    /// A bytearray, in place.
    ByteArray(&'t [u8]),
    /// A tuple.
    Tuple(TupleRef<'t>),
    /// A list.
    List(ListRef<'t>),
    /// A dict.
    Dict(DictRef<'t>),
    /// A frozen set.
    Set(SetRef<'t>),
    /// A typed snapshot (read it with [`ValueRef::as_archived`]).
    Typed(TypedRef<'t>),
    /// An integer outside int64, in place.
    BigInt(BigIntRef<'t>),
    /// A complex number.
    Complex {
        /// The real part.
        re: f64,
        /// The imaginary part.
        im: f64,
    },
    /// A decimal, in place.
    Decimal(DecimalRef<'t>),
    /// A datetime.
    DateTime(DateTime),
    /// A date.
    Date(Date),
    /// A time of day.
    Time(Time),
    /// A duration.
    TimeDelta(TimeDelta),
    /// A numeric array (read it as `&[T]` with [`ValueRef::as_array`]).
    Array(AnyArrayRef<'t>),
    /// A pickled Python object: its opaque bytes, in place.
    Pickled(&'t [u8]),
    /// An instance of a class: its class path and attribute dict.
    Object(ObjectRef<'t>),
}

/// Inline, so that no reference to the value escapes into a call (the type
/// name is looked up by the variant): a list read of an int then compiles
/// to tag tests.
#[inline(always)]
fn mismatch<T>(expected: &'static str, found: &ValueRef<'_>) -> Result<T, Error> {
    Err(Error::TypeMismatch {
        expected,
        found: found.type_name(),
    })
}

impl<'t> ValueRef<'t> {
    /// Reads the value a slot holds.
    ///
    /// # Safety
    /// `'t` must not outlive the caller's borrow of the turn, and nothing
    /// may write the value while the result lives.
    ///
    /// The inline scalars are decoded in the caller (the hot path of list
    /// reads), objects out of line.
    #[inline(always)]
    pub(crate) unsafe fn from_slot(heap: Heap, s: Slot) -> Result<ValueRef<'t>, Error> {
        Ok(match s.tag {
            T_NONE => ValueRef::None,
            T_BOOL => ValueRef::Bool(s.payload != 0),
            T_INT => ValueRef::Int(s.payload as i64),
            T_FLOAT => ValueRef::Float(f64::from_bits(s.payload)),
            // SAFETY: forwarded contract.
            _ => return unsafe { Self::from_object_slot(&heap, s) },
        })
    }

    /// The object a pointer slot names (out of line, so that the callers'
    /// scalar paths set up no call).
    ///
    /// # Safety
    /// As [`ValueRef::from_slot`].
    #[cold]
    #[inline(never)]
    unsafe fn from_object_slot(heap: &Heap, s: Slot) -> Result<ValueRef<'t>, Error> {
        // SAFETY: forwarded contract.
        unsafe { ValueRef::from_object(*heap, Offset::new(s.payload), s.tag) }
    }

    /// A view of the object at `b`, which must be of kind `tag`.
    ///
    /// # Safety
    /// As [`ValueRef::from_slot`].
    #[inline(never)]
    pub(crate) unsafe fn from_object(
        heap: Heap,
        b: Offset,
        tag: u8,
    ) -> Result<ValueRef<'t>, Error> {
        let (size, _, kind) = heap.live(b)?;
        if kind != tag {
            return Err(Error::corrupt(
                b.get(),
                format!(
                    "slot says {} but block is {}",
                    type_name(tag),
                    type_name(kind)
                ),
            ));
        }
        let m = heap.mem;
        let cap = size - crate::alloc::HDR;
        let blob = || -> Result<&'t [u8], Error> {
            let len = m.u64(payload(b))?;
            if len > cap - 8 {
                return Err(Error::corrupt(b.get(), "length longer than its block"));
            }
            // SAFETY: forwarded contract of `from_slot`.
            unsafe { m.bytes(payload(b).add(8), len) }
        };
        let seq = |per: u64| -> Result<u64, Error> {
            let len = m.u64(payload(b))?;
            if len.checked_mul(per).is_none_or(|n| n > cap - 16) {
                return Err(Error::corrupt(b.get(), "length longer than its block"));
            }
            Ok(len)
        };
        Ok(match kind {
            T_STR => ValueRef::Str(
                std::str::from_utf8(blob()?)
                    .map_err(|_| Error::corrupt(b.get(), "str is not UTF-8"))?,
            ),
            T_BYTES => ValueRef::Bytes(blob()?),
            T_PICKLED => ValueRef::Pickled(blob()?),
            T_OBJECT => {
                let (c, d) = object::check(&m, b, seq(16)?)?;
                // SAFETY: forwarded contract of `from_slot`.
                let class = unsafe { ValueRef::from_object(heap, c, T_STR)? };
                let ValueRef::Str(class) = class else {
                    return Err(Error::corrupt(b.get(), "object class is not a str"));
                };
                let attrs = DictRef::new(heap, d)?;
                ValueRef::Object(ObjectRef {
                    heap,
                    b,
                    class,
                    attrs,
                })
            }
            T_BYTEARRAY => {
                let l = ByteArrayLayout::read(&heap, b)?;
                // SAFETY: forwarded contract of `from_slot`.
                ValueRef::ByteArray(unsafe { l.bytes(&heap)? })
            }
            T_TUPLE => ValueRef::Tuple(TupleRef::new(heap, b, seq(16)?)),
            T_FROZENSET => ValueRef::Set(SetRef::frozen(heap, TupleRef::new(heap, b, seq(16)?))),
            T_SET => ValueRef::Set(SetRef::hashed(heap, b)?),
            T_DICT => ValueRef::Dict(DictRef::new(heap, b)?),
            T_TYPED => {
                TypedLayout::read(&heap, b)?;
                ValueRef::Typed(TypedRef {
                    heap,
                    b,
                    _t: PhantomData,
                })
            }
            k if scalar::is_scalar_kind(k) => {
                // SAFETY: forwarded contract of `from_slot`.
                match unsafe { scalar::read(&heap, b, k, cap)? } {
                    Scalar::BigInt(r) => ValueRef::BigInt(r),
                    Scalar::Complex(re, im) => ValueRef::Complex { re, im },
                    Scalar::Decimal(r) => ValueRef::Decimal(r),
                    Scalar::DateTime(v) => ValueRef::DateTime(v),
                    Scalar::Date(v) => ValueRef::Date(v),
                    Scalar::Time(v) => ValueRef::Time(v),
                    Scalar::TimeDelta(v) => ValueRef::TimeDelta(v),
                }
            }
            // SAFETY: forwarded contract of `from_slot`.
            T_ARRAY => ValueRef::Array(unsafe { AnyArrayRef::new(heap, b)? }),
            T_LIST => ValueRef::List(ListRef::new(heap, ListLayout::read(&heap, b)?)?),
            _ => {
                return Err(Error::corrupt(
                    b.get(),
                    format!("{} block where a value was expected", type_name(kind)),
                ));
            }
        })
    }

    /// The Python name of the value's type.
    #[inline]
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::None => "None",
            ValueRef::Bool(_) => "bool",
            ValueRef::Int(_) => "int",
            ValueRef::Float(_) => "float",
            ValueRef::Str(_) => "str",
            ValueRef::Bytes(_) => "bytes",
            ValueRef::ByteArray(_) => "bytearray",
            ValueRef::Tuple(_) => "tuple",
            ValueRef::List(_) => "list",
            ValueRef::Dict(_) => "dict",
            ValueRef::Set(s) if s.is_frozen() => "frozenset",
            ValueRef::Set(_) => "set",
            ValueRef::Typed(_) => "typed",
            ValueRef::BigInt(_) => "int",
            ValueRef::Complex { .. } => "complex",
            ValueRef::Decimal(_) => "Decimal",
            ValueRef::DateTime(_) => "datetime",
            ValueRef::Date(_) => "date",
            ValueRef::Time(_) => "time",
            ValueRef::TimeDelta(_) => "timedelta",
            ValueRef::Array(_) => "array",
            ValueRef::Pickled(_) => "pickled object",
            ValueRef::Object(_) => "object",
        }
    }

    /// Whether the value is None.
    pub fn is_none(&self) -> bool {
        matches!(self, ValueRef::None)
    }

    /// The int (bools count as 0 and 1, like Python's).
    #[inline]
    pub fn as_int(&self) -> Result<i64, Error> {
        match *self {
            ValueRef::Int(i) => Ok(i),
            ValueRef::Bool(b) => Ok(b as i64),
            _ => mismatch("int", self),
        }
    }

    /// The float (ints convert, like Python's arithmetic).
    #[inline]
    pub fn as_float(&self) -> Result<f64, Error> {
        match *self {
            ValueRef::Float(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            _ => mismatch("float", self),
        }
    }

    /// The bool.
    pub fn as_bool(&self) -> Result<bool, Error> {
        match *self {
            ValueRef::Bool(b) => Ok(b),
            _ => mismatch("bool", self),
        }
    }

    /// The str, in place.
    pub fn as_str(&self) -> Result<&'t str, Error> {
        match *self {
            ValueRef::Str(s) => Ok(s),
            _ => mismatch("str", self),
        }
    }

    /// The bytes (of bytes or bytearray), in place.
    pub fn as_bytes(&self) -> Result<&'t [u8], Error> {
        match *self {
            ValueRef::Bytes(b) | ValueRef::ByteArray(b) => Ok(b),
            _ => mismatch("bytes", self),
        }
    }

    /// The integer, of any size (ints and bools too).
    pub fn as_bigint(&self) -> Result<BigInt, Error> {
        match *self {
            ValueRef::BigInt(r) => Ok(r.to_bigint()),
            ValueRef::Int(i) => Ok(i.into()),
            ValueRef::Bool(b) => Ok((b as i64).into()),
            _ => mismatch("int", self),
        }
    }

    /// The complex number as `(re, im)` (ints and floats convert, with
    /// `im == 0`).
    pub fn as_complex(&self) -> Result<(f64, f64), Error> {
        match *self {
            ValueRef::Complex { re, im } => Ok((re, im)),
            ValueRef::Float(f) => Ok((f, 0.0)),
            ValueRef::Int(i) => Ok((i as f64, 0.0)),
            _ => mismatch("complex", self),
        }
    }

    /// The decimal, copied out.
    pub fn as_decimal(&self) -> Result<Decimal, Error> {
        match *self {
            ValueRef::Decimal(r) => Ok(r.to_decimal()),
            _ => mismatch("Decimal", self),
        }
    }

    /// The datetime.
    pub fn as_datetime(&self) -> Result<DateTime, Error> {
        match *self {
            ValueRef::DateTime(v) => Ok(v),
            _ => mismatch("datetime", self),
        }
    }

    /// The date.
    pub fn as_date(&self) -> Result<Date, Error> {
        match *self {
            ValueRef::Date(v) => Ok(v),
            _ => mismatch("date", self),
        }
    }

    /// The time of day.
    pub fn as_time(&self) -> Result<Time, Error> {
        match *self {
            ValueRef::Time(v) => Ok(v),
            _ => mismatch("time", self),
        }
    }

    /// The duration.
    pub fn as_timedelta(&self) -> Result<TimeDelta, Error> {
        match *self {
            ValueRef::TimeDelta(v) => Ok(v),
            _ => mismatch("timedelta", self),
        }
    }

    /// The list view.
    pub fn as_list(&self) -> Result<ListRef<'t>, Error> {
        match *self {
            ValueRef::List(l) => Ok(l),
            _ => mismatch("list", self),
        }
    }

    /// The tuple view.
    pub fn as_tuple(&self) -> Result<TupleRef<'t>, Error> {
        match *self {
            ValueRef::Tuple(t) => Ok(t),
            _ => mismatch("tuple", self),
        }
    }

    /// The dict view.
    pub fn as_dict(&self) -> Result<DictRef<'t>, Error> {
        match *self {
            ValueRef::Dict(d) => Ok(d),
            _ => mismatch("dict", self),
        }
    }

    /// The frozen set view.
    pub fn as_set(&self) -> Result<SetRef<'t>, Error> {
        match *self {
            ValueRef::Set(s) => Ok(s),
            _ => mismatch("frozenset", self),
        }
    }

    /// The numeric array's elements as `&[T]`, in place, with its shape;
    /// [`Error::TypeMismatch`] if this is not an array of `T`.
    pub fn as_array<T: Element>(&self) -> Result<ArrayRef<'t, T>, Error> {
        match *self {
            ValueRef::Array(a) => a.typed::<T>(),
            _ => mismatch("array", self),
        }
    }

    /// The bytes of a pickled object, in place.
    pub fn as_pickled(&self) -> Result<&'t [u8], Error> {
        match *self {
            ValueRef::Pickled(b) => Ok(b),
            _ => mismatch("pickled object", self),
        }
    }

    /// The object view (class path and attribute dict).
    pub fn as_object(&self) -> Result<ObjectRef<'t>, Error> {
        match *self {
            ValueRef::Object(o) => Ok(o),
            _ => mismatch("object", self),
        }
    }

    /// Copies the value out of the segment.
    pub fn to_value(&self) -> Result<Value, Error> {
        self.copy_out(0)
    }

    fn copy_out(&self, depth: u32) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::NestingTooDeep { limit: MAX_DEPTH });
        }
        Ok(match self {
            ValueRef::None => Value::None,
            ValueRef::Bool(b) => Value::Bool(*b),
            ValueRef::Int(i) => Value::Int(*i),
            ValueRef::Float(f) => Value::Float(*f),
            ValueRef::Str(s) => Value::Str((*s).to_owned()),
            ValueRef::BigInt(r) => Value::BigInt(r.to_bigint()),
            ValueRef::Complex { re, im } => Value::Complex { re: *re, im: *im },
            ValueRef::Decimal(r) => Value::Decimal(r.to_decimal()),
            ValueRef::DateTime(v) => Value::DateTime(*v),
            ValueRef::Date(v) => Value::Date(*v),
            ValueRef::Time(v) => Value::Time(*v),
            ValueRef::TimeDelta(v) => Value::TimeDelta(*v),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::ByteArray(b) => Value::ByteArray(b.to_vec()),
            ValueRef::Tuple(t) => Value::Tuple(
                (0..t.len())
                    .map(|i| t.get(i)?.copy_out(depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            ValueRef::Set(s) => {
                let members = s
                    .iter()
                    .map(|v| v?.copy_out(depth + 1))
                    .collect::<Result<_, _>>()?;
                if s.is_frozen() {
                    Value::FrozenSet(members)
                } else {
                    Value::Set(members)
                }
            }
            ValueRef::Typed(t) => {
                let l = t.layout()?;
                let mut bytes = rkyv::util::AlignedVec::<16>::new();
                bytes.extend_from_slice(t.as_bytes()?);
                Value::Typed(super::TypedValue {
                    fingerprint: l.fingerprint,
                    root: l.root,
                    bytes,
                })
            }
            ValueRef::Array(a) => Value::Array(a.to_array()?),
            ValueRef::List(l) => Value::List(
                l.iter()
                    .map(|v| v?.copy_out(depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            ValueRef::Dict(d) => Value::Dict(entries_out(*d, depth)?),
            ValueRef::Pickled(b) => Value::Pickled(b.to_vec()),
            ValueRef::Object(o) => Value::Object {
                class: o.class.to_owned(),
                attrs: entries_out(o.attrs, depth)?,
            },
        })
    }

    /// Whether this equals `v` under Python's rules (`1 == 1.0 == True`).
    pub fn py_eq(&self, v: &Value) -> Result<bool, Error> {
        eq(*self, v, 0)
    }

    /// Whether this is less than `other` under Python's ordering (numbers,
    /// str, bytes, tuples and lists of them); [`Error::TypeMismatch`] for
    /// types Python cannot order.
    pub fn py_lt(&self, other: &ValueRef<'_>) -> Result<bool, Error> {
        super::eq::lt(*self, *other, 0)
    }

    /// The handle of the container this value is (a list, tuple, dict,
    /// set or array): keep it across turns and reopen it with [`crate::Turn::get`] or
    /// [`crate::Turn::list_mut`]. None for scalars, and for str, bytes and
    /// bytearray views (they are bare slices: ask their container, e.g.
    /// [`crate::ListMut::item_handle`]).
    pub fn handle(&self) -> Option<crate::Handle> {
        self.block().and_then(|(heap, b)| heap.handle(b).ok())
    }

    fn block(&self) -> Option<(Heap, Offset)> {
        match self {
            ValueRef::Tuple(t) => Some((t.heap, t.b)),
            ValueRef::Set(s) => Some(s.block()),
            ValueRef::Dict(d) => Some((d.heap, d.b)),
            ValueRef::List(l) => Some((l.heap, l.l.b)),
            ValueRef::Typed(t) => Some((t.heap, t.b)),
            ValueRef::Array(a) => Some((a.heap, a.b)),
            ValueRef::Object(o) => Some((o.heap, o.b)),
            _ => None,
        }
    }
}

/// Copies a dict's entries out (depth `depth` is the dict's own).
fn entries_out(d: DictRef<'_>, depth: u32) -> Result<Vec<(Value, Value)>, Error> {
    d.iter()
        .map(|kv| {
            let (k, v) = kv?;
            Ok((k.copy_out(depth + 1)?, v.copy_out(depth + 1)?))
        })
        .collect()
}

/// An instance of a class in a segment ([`Value::Object`]): its class path
/// and its attribute dict, which the object owns. The dict is a shared
/// dict like any other: read it with [`ObjectRef::attrs`], change it in
/// place with [`crate::Turn::attrs_mut`] (or [`crate::ListMut::attrs_mut`],
/// [`crate::DictMut::attrs_mut`] for an object inside a container).
#[derive(Clone, Copy)]
pub struct ObjectRef<'t> {
    heap: Heap,
    b: Offset,
    class: &'t str,
    attrs: DictRef<'t>,
}

impl std::fmt::Debug for ObjectRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ObjectRef({:?}, {:?}, {:?})",
            self.b, self.class, self.attrs
        )
    }
}

impl<'t> ObjectRef<'t> {
    /// The class's import path (Python writes `"module:qualname"`).
    pub fn class(&self) -> &'t str {
        self.class
    }

    /// The attribute dict, read-only.
    pub fn attrs(&self) -> DictRef<'t> {
        self.attrs
    }

    /// The object's handle (keep it across turns; [`crate::Turn::attrs_mut`]
    /// opens its attributes for mutation).
    pub fn handle(&self) -> Option<crate::Handle> {
        self.heap.handle(self.b).ok()
    }

    /// Copies the object out.
    pub fn to_value(&self) -> Result<Value, Error> {
        ValueRef::Object(*self).to_value()
    }
}

/// The attribute dict of the object at `b` (a live block of kind 22),
/// checked: for the mutable accessors, which hand it out as a `DictMut`.
pub(crate) fn attrs_block(heap: Heap, b: Offset) -> Result<Offset, Error> {
    let (_, _, kind) = heap.live(b)?;
    if kind != T_OBJECT {
        return Err(Error::TypeMismatch {
            expected: "object",
            found: type_name(kind),
        });
    }
    // SAFETY: the view lives only in this statement, inside the caller's
    // borrow of the turn.
    match unsafe { ValueRef::from_object(heap, b, T_OBJECT)? } {
        ValueRef::Object(o) => Ok(o.attrs.b),
        _ => Err(Error::corrupt(b.get(), "object block read as another kind")),
    }
}

/// A tuple in a segment.
#[derive(Clone, Copy)]
pub struct TupleRef<'t> {
    pub(crate) heap: Heap,
    pub(crate) b: Offset,
    len: u64,
    _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for TupleRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TupleRef({:?}, len {})", self.b, self.len)
    }
}

impl<'t> TupleRef<'t> {
    pub(crate) fn new(heap: Heap, b: Offset, len: u64) -> TupleRef<'t> {
        TupleRef {
            heap,
            b,
            len,
            _t: PhantomData,
        }
    }

    fn slot(&self, i: u64) -> Result<ValueRef<'t>, Error> {
        let s = Slot::read(&self.heap.mem, self.b.add(SEQ_SLOTS + 16 * i))?;
        // SAFETY: `'t` is the turn borrow this view was made under.
        unsafe { ValueRef::from_slot(self.heap, s) }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Item `i`.
    pub fn get(&self, i: usize) -> Result<ValueRef<'t>, Error> {
        if i as u64 >= self.len {
            return Err(Error::IndexOutOfRange {
                index: i,
                len: self.len as usize,
            });
        }
        self.slot(i as u64)
    }

    /// The items in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<ValueRef<'t>, Error>> + use<'t> {
        let t = *self;
        (0..self.len).map(move |i| t.slot(i))
    }
}

#[cold]
#[inline(never)]
fn beyond_capacity(l: ListLayout) -> Error {
    Error::corrupt(l.b.get(), "list length beyond its chunks")
}

/// A list in a segment (read-only view; see [`crate::ListMut`]).
///
/// The view holds the list's length and its chunk table (checked once,
/// when the view is made), so reading item `i` is arithmetic: one range
/// check, one load of the chunk's entry, one bounds check and the slot.
#[derive(Clone, Copy)]
pub struct ListRef<'t> {
    pub(crate) heap: Heap,
    pub(crate) l: ListLayout,
    pub(crate) table: Table,
    pub(crate) _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for ListRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListRef({:?}, len {})", self.l.b, self.l.len)
    }
}

impl<'t> ListRef<'t> {
    /// A view of the list whose header reads `l` (checks its table, and
    /// that the length is within the chunks' capacity, so that an item
    /// below the length needs no check against the chunks).
    #[inline]
    pub(crate) fn new(heap: Heap, l: ListLayout) -> Result<ListRef<'t>, Error> {
        if l.len > l.capacity() {
            return Err(beyond_capacity(l));
        }
        Ok(ListRef {
            heap,
            l,
            table: l.table(&heap)?,
            _t: PhantomData,
        })
    }

    /// Number of items.
    #[inline]
    pub fn len(&self) -> usize {
        self.l.len as usize
    }

    /// Whether it has no items.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.l.len == 0
    }

    /// The slot of item `i < len`.
    #[inline(always)]
    pub(crate) fn slot_of(&self, i: u64) -> Result<Slot, Error> {
        debug_assert!(i < self.l.len);
        // SAFETY: `i < len <= capacity(nchunks)` (checked in `new`).
        let p = unsafe { self.table.item_within::<16>(&self.heap.mem, i)? };
        // SAFETY: `p` is an in-bounds slot (checked by `item_within`); any
        // bytes are a valid `Slot`; nothing writes while `'t` (a borrow of
        // the turn) lives.
        Ok(unsafe { (p as *const Slot).read_unaligned() })
    }

    /// Item `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Result<ValueRef<'t>, Error> {
        if i as u64 >= self.l.len {
            return Err(Error::IndexOutOfRange {
                index: i,
                len: self.l.len as usize,
            });
        }
        let s = self.slot_of(i as u64)?;
        Ok(match s.tag {
            T_NONE => ValueRef::None,
            T_BOOL => ValueRef::Bool(s.payload != 0),
            T_INT => ValueRef::Int(s.payload as i64),
            T_FLOAT => ValueRef::Float(f64::from_bits(s.payload)),
            _ => return self.object(s),
        })
    }

    /// The object item a pointer slot names (out of line, so that the
    /// scalar reads set up no call).
    #[cold]
    #[inline(never)]
    fn object(&self, s: Slot) -> Result<ValueRef<'t>, Error> {
        // SAFETY: `'t` is the turn borrow this view was made under.
        unsafe { ValueRef::from_slot(self.heap, s) }
    }

    /// The items in order, walking the chunks (one bounds check per chunk,
    /// not per item).
    pub fn iter(&self) -> ListIter<'t> {
        ListIter {
            list: *self,
            i: 0,
            p: std::ptr::null(),
            run_end: 0,
        }
    }

    /// Copies the list out.
    pub fn to_value(&self) -> Result<Value, Error> {
        ValueRef::List(*self).to_value()
    }

    /// The list's handle (keep it across turns).
    pub fn handle(&self) -> Option<crate::Handle> {
        self.heap.handle(self.l.b).ok()
    }

    /// Position of the first item equal to `v` (Python equality).
    pub fn index_of(&self, v: &Value) -> Result<Option<usize>, Error> {
        for i in 0..self.len() {
            if eq(self.get(i)?, v, 0)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Whether an item equals `v`.
    pub fn contains(&self, v: &Value) -> Result<bool, Error> {
        Ok(self.index_of(v)?.is_some())
    }

    /// How many items equal `v`.
    pub fn count(&self, v: &Value) -> Result<usize, Error> {
        let mut n = 0;
        for i in 0..self.len() {
            n += eq(self.get(i)?, v, 0)? as usize;
        }
        Ok(n)
    }

    /// The items in `range`, in place.
    pub fn get_range(
        &self,
        range: impl std::ops::RangeBounds<usize>,
    ) -> Result<Vec<ValueRef<'t>>, Error> {
        let r = crate::value::list::bounds(range, self.len())?;
        r.map(|i| self.get(i)).collect()
    }
}

/// A typed snapshot in a segment: an rkyv archive and its type's
/// fingerprint. [`ValueRef::as_archived`] gives `&T::Archived` in place.
#[derive(Clone, Copy)]
pub struct TypedRef<'t> {
    pub(crate) heap: Heap,
    pub(crate) b: Offset,
    pub(crate) _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for TypedRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TypedRef({:?}, fingerprint {:#x})",
            self.b,
            self.fingerprint()
        )
    }
}

impl<'t> TypedRef<'t> {
    /// The fingerprint of the archived type.
    pub fn fingerprint(&self) -> u64 {
        self.layout().map_or(0, |l| l.fingerprint)
    }

    /// The block's header (checked when the view was made).
    pub(crate) fn layout(&self) -> Result<TypedLayout, Error> {
        TypedLayout::read(&self.heap, self.b)
    }

    /// The archive's bytes, in place.
    pub fn as_bytes(&self) -> Result<&'t [u8], Error> {
        // SAFETY: `'t` is a borrow of the turn; nothing writes meanwhile.
        unsafe { self.layout()?.data(&self.heap, self.b) }
    }

    /// The snapshot's handle (keep it across turns).
    pub fn handle(&self) -> Option<crate::Handle> {
        self.heap.handle(self.b).ok()
    }
}

/// Iterator over a shared list's items ([`ListRef::iter`]).
pub struct ListIter<'t> {
    list: ListRef<'t>,
    /// Index of the next item.
    i: u64,
    /// Its slot, valid while `i < run_end` (the end of the current chunk,
    /// or of the list).
    p: *const Slot,
    run_end: u64,
}

impl std::fmt::Debug for ListIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ListIter({:?}, at {} of {})",
            self.list.l.b, self.i, self.list.l.len
        )
    }
}

impl<'t> ListIter<'t> {
    /// Ends the iteration.
    pub(crate) fn finish(&mut self) {
        self.i = self.list.l.len;
        self.run_end = self.i;
    }

    /// The next slot, a chunk's run of them at a time.
    #[inline(always)]
    pub(crate) fn next_slot(&mut self) -> Option<Result<Slot, Error>> {
        if self.i >= self.run_end {
            let len = self.list.l.len;
            if self.i >= len {
                return None;
            }
            // Next chunk: one table lookup and bounds check for all of it.
            match self
                .list
                .table
                .run::<16>(&self.list.heap.mem, self.i, len - self.i)
            {
                Ok((p, n)) => {
                    self.p = p as *const Slot;
                    self.run_end = self.i + n;
                }
                Err(e) => {
                    self.finish();
                    return Some(Err(e));
                }
            }
        }
        // SAFETY: `p` is the in-bounds, 16-aligned slot of item `i` (`run`
        // checked the whole run and `i < run_end`); any bytes are a valid
        // `Slot`; nothing writes while `'t` (a borrow of the turn) lives.
        let s = unsafe { self.p.read() };
        // SAFETY: still inside the run, or one past its last slot.
        self.p = unsafe { self.p.add(1) };
        self.i += 1;
        Some(Ok(s))
    }
}

impl<'t> Iterator for ListIter<'t> {
    type Item = Result<ValueRef<'t>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let s = match self.next_slot()? {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        // SAFETY: `'t` is the turn borrow the list view was made under.
        Some(unsafe { ValueRef::from_slot(self.list.heap, s) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.list.l.len - self.i) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ListIter<'_> {}
