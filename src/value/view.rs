//! Zero-copy views of values in a segment. Each borrows the turn (`'t`).

use std::marker::PhantomData;

use super::Value;
use super::eq::{MAX_DEPTH, dict_find, eq, hash};
use crate::Error;
use crate::alloc::Heap;
use crate::format::bytearray::ByteArrayLayout;
use crate::format::list::{Cursor, ListLayout};
use crate::format::{
    SEQ_SLOTS, Slot, T_BOOL, T_BYTEARRAY, T_BYTES, T_DICT, T_FLOAT, T_INT, T_LIST, T_NONE, T_SET,
    T_STR, T_TUPLE, payload, type_name,
};
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
}

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
    pub(crate) unsafe fn from_slot(heap: Heap, s: Slot) -> Result<ValueRef<'t>, Error> {
        Ok(match s.tag {
            T_NONE => ValueRef::None,
            T_BOOL => ValueRef::Bool(s.payload != 0),
            T_INT => ValueRef::Int(s.payload as i64),
            T_FLOAT => ValueRef::Float(f64::from_bits(s.payload)),
            tag => {
                let b = Offset::new(s.payload);
                // SAFETY: forwarded contract.
                unsafe { ValueRef::from_object(heap, b, tag)? }
            }
        })
    }

    /// A view of the object at `b`, which must be of kind `tag`.
    ///
    /// # Safety
    /// As [`ValueRef::from_slot`].
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
            T_BYTEARRAY => {
                let l = ByteArrayLayout::read(&heap, b)?;
                // SAFETY: forwarded contract of `from_slot`.
                ValueRef::ByteArray(unsafe { l.bytes(&heap)? })
            }
            T_TUPLE => ValueRef::Tuple(TupleRef::new(heap, b, seq(16)?)),
            T_SET => ValueRef::Set(SetRef(TupleRef::new(heap, b, seq(16)?))),
            T_DICT => ValueRef::Dict(DictRef(TupleRef::new(heap, b, seq(32)?))),
            T_LIST => ValueRef::List(ListRef {
                heap,
                l: ListLayout::read(&heap, b)?,
                _t: PhantomData,
            }),
            _ => {
                return Err(Error::corrupt(
                    b.get(),
                    format!("{} block where a value was expected", type_name(kind)),
                ));
            }
        })
    }

    /// The Python name of the value's type.
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
            ValueRef::Set(_) => "frozenset",
        }
    }

    /// Whether the value is None.
    pub fn is_none(&self) -> bool {
        matches!(self, ValueRef::None)
    }

    /// The int (bools count as 0 and 1, like Python's).
    pub fn as_int(&self) -> Result<i64, Error> {
        match *self {
            ValueRef::Int(i) => Ok(i),
            ValueRef::Bool(b) => Ok(b as i64),
            _ => mismatch("int", self),
        }
    }

    /// The float (ints convert, like Python's arithmetic).
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
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::ByteArray(b) => Value::ByteArray(b.to_vec()),
            ValueRef::Tuple(t) => Value::Tuple(
                (0..t.len())
                    .map(|i| t.get(i)?.copy_out(depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            ValueRef::Set(s) => Value::Set(
                (0..s.len())
                    .map(|i| s.0.get(i)?.copy_out(depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            ValueRef::List(l) => Value::List(
                l.iter()
                    .map(|v| v?.copy_out(depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            ValueRef::Dict(d) => Value::Dict(
                (0..d.len())
                    .map(|i| {
                        let (k, v) = d.entry(i)?;
                        Ok((k.copy_out(depth + 1)?, v.copy_out(depth + 1)?))
                    })
                    .collect::<Result<_, Error>>()?,
            ),
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

    /// The handle of the container this value is (a list, tuple, dict or
    /// set): keep it across turns and reopen it with [`crate::Turn::get`] or
    /// [`crate::Turn::list_mut`]. None for scalars, and for str, bytes and
    /// bytearray views (they are bare slices: ask their container, e.g.
    /// [`crate::ListMut::item_handle`]).
    pub fn handle(&self) -> Option<crate::Handle> {
        self.block().and_then(|(heap, b)| heap.handle(b).ok())
    }

    fn block(&self) -> Option<(Heap, Offset)> {
        match self {
            ValueRef::Tuple(t) => Some((t.heap, t.b)),
            ValueRef::Set(s) => Some((s.0.heap, s.0.b)),
            ValueRef::Dict(d) => Some((d.0.heap, d.0.b)),
            ValueRef::List(l) => Some((l.heap, l.l.b)),
            _ => None,
        }
    }
}

/// A tuple in a segment.
#[derive(Clone, Copy)]
pub struct TupleRef<'t> {
    heap: Heap,
    b: Offset,
    len: u64,
    _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for TupleRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TupleRef({:?}, len {})", self.b, self.len)
    }
}

impl<'t> TupleRef<'t> {
    fn new(heap: Heap, b: Offset, len: u64) -> TupleRef<'t> {
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

/// A list in a segment (read-only view; see [`crate::ListMut`]).
#[derive(Clone, Copy)]
pub struct ListRef<'t> {
    pub(crate) heap: Heap,
    pub(crate) l: ListLayout,
    pub(crate) _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for ListRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListRef({:?}, len {})", self.l.b, self.l.len)
    }
}

impl<'t> ListRef<'t> {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.l.len as usize
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.l.len == 0
    }

    /// Item `i`.
    pub fn get(&self, i: usize) -> Result<ValueRef<'t>, Error> {
        if i as u64 >= self.l.len {
            return Err(Error::IndexOutOfRange {
                index: i,
                len: self.l.len as usize,
            });
        }
        let s = Slot::read(&self.heap.mem, self.l.slot(&self.heap, i as u64)?)?;
        // SAFETY: `'t` is the turn borrow this view was made under.
        unsafe { ValueRef::from_slot(self.heap, s) }
    }

    /// The items in order, walking the chunks (one bounds check per chunk,
    /// not per item).
    pub fn iter(&self) -> ListIter<'t> {
        ListIter {
            heap: self.heap,
            l: self.l,
            i: 0,
            cur: Cursor::EMPTY,
            _t: PhantomData,
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

/// Iterator over a shared list's items ([`ListRef::iter`]).
pub struct ListIter<'t> {
    heap: Heap,
    l: ListLayout,
    i: u64,
    cur: Cursor,
    _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for ListIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ListIter({:?}, at {} of {})",
            self.l.b, self.i, self.l.len
        )
    }
}

impl<'t> Iterator for ListIter<'t> {
    type Item = Result<ValueRef<'t>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.l.len {
            return None;
        }
        let p = match self.cur.get(self.i) {
            Some(p) => p,
            None => match self.l.cursor(&self.heap, self.i) {
                Ok(c) => {
                    self.cur = c;
                    c.get(self.i)?
                }
                Err(e) => {
                    self.i = self.l.len;
                    return Some(Err(e));
                }
            },
        };
        self.i += 1;
        // SAFETY: `p` is an in-bounds, 16-aligned slot (the cursor checked
        // its chunk); any bytes are a valid `Slot`; nothing writes while
        // `'t` (a borrow of the turn) lives.
        let s = unsafe { (p as *const Slot).read() };
        // SAFETY: as above.
        Some(unsafe { ValueRef::from_slot(self.heap, s) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.l.len - self.i) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ListIter<'_> {}

/// A dict in a segment (immutable; entries in insertion order).
#[derive(Clone, Copy, Debug)]
pub struct DictRef<'t>(TupleRef<'t>);

impl<'t> DictRef<'t> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entry `i` in insertion order.
    pub fn entry(&self, i: usize) -> Result<(ValueRef<'t>, ValueRef<'t>), Error> {
        if i >= self.len() {
            return Err(Error::IndexOutOfRange {
                index: i,
                len: self.len(),
            });
        }
        Ok((self.0.slot(2 * i as u64)?, self.0.slot(2 * i as u64 + 1)?))
    }

    /// The value for `key` (Python key equality: `1`, `1.0`, `True` are one
    /// key).
    pub fn get(&self, key: &Value) -> Result<Option<ValueRef<'t>>, Error> {
        hash(key, 0)?;
        dict_find(ValueRef::Dict(*self), self.len(), key, 0)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &Value) -> Result<bool, Error> {
        Ok(self.get(key)?.is_some())
    }

    /// The entries in insertion order.
    pub fn iter(
        &self,
    ) -> impl Iterator<Item = Result<(ValueRef<'t>, ValueRef<'t>), Error>> + use<'t> {
        let d = *self;
        (0..self.len()).map(move |i| d.entry(i))
    }
}

/// A frozen set in a segment.
#[derive(Clone, Copy, Debug)]
pub struct SetRef<'t>(TupleRef<'t>);

impl<'t> SetRef<'t> {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `v` is a member (Python equality).
    pub fn contains(&self, v: &Value) -> Result<bool, Error> {
        hash(v, 0)?;
        for m in self.0.iter() {
            if eq(m?, v, 0)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Member `i` in stored order.
    pub fn member(&self, i: usize) -> Result<ValueRef<'t>, Error> {
        self.0.get(i)
    }

    /// The members.
    pub fn iter(&self) -> impl Iterator<Item = Result<ValueRef<'t>, Error>> + use<'t> {
        self.0.iter()
    }
}
