//! Shared dicts: [`DictRef`] to read one, [`DictMut`] to change one in
//! place, with the API of Python's `dict` (and of `HashMap` where Python
//! has no word for it).
//!
//! Keys compare like Python's: `1`, `1.0` and `True` are one key, `0`,
//! `0.0`, `-0.0` and `False` another; NaN equals nothing, not even itself
//! (so a NaN key, once in, is found only by iteration). Keys hash with the
//! stable hash of FORMAT.md §10, the same in every process. Iteration is in
//! insertion order; a replaced value keeps its key's place.
//!
//! Every change is all-or-nothing on [`Error::OutOfMemory`]: new keys and
//! values are written first, then linked; what a change removes is freed
//! last.
//!
//! ```
//! use shmheap::{Segment, Value, value};
//! # fn main() -> Result<(), shmheap::Error> {
//! let seg = Segment::options().size(1 << 20).create_in_memory()?;
//! let mut turn = seg.turn()?;
//! let h = turn.put_message(&value!({"hits": 0, 1: "one"}))?;
//! let mut d = turn.dict_mut(h)?;
//! *d.int_mut(&"hits".into())? += 1; // in place, in the segment
//! assert_eq!(d.get(&Value::Float(1.0))?.unwrap().as_str()?, "one"); // 1.0 finds 1
//! d.insert((2, "b"), value!([1, 2]))?;
//! d.list_mut(&value!((2.0, "b")))?.push(3)?;
//! assert_eq!(d.remove(&"hits".into())?, Some(Value::Int(1)));
//! assert_eq!(d.to_value()?, value!({1: "one", (2, "b"): [1, 2, 3]}));
//! # Ok(()) }
//! ```

use std::marker::PhantomData;

use super::bytes::BytesMut;
use super::hashed::{Order, Put, copy_out, find_in, find_py, find_value, put, put_all, take, view};
use super::set::SetMut;
use super::{ListMut, Value, ValueRef, free_slot, hash_value, into_slot, write_slot};
use crate::Error;
use crate::alloc::Heap;
use crate::format::hashed::{Entry, HashLayout, Probe};
use crate::format::{T_BOOL, T_BYTEARRAY, T_DICT, T_FLOAT, T_INT, T_LIST, T_SET, type_name};
use crate::segment::{Handle, Offset};

/// A dict in a segment, read-only (see [`DictMut`] to change it). Lookups
/// are hashed; iteration is in insertion order.
///
/// The view is small (it is a variant of [`ValueRef`]): it reads the
/// dict's header on each call.
#[derive(Clone, Copy)]
pub struct DictRef<'t> {
    pub(crate) heap: Heap,
    pub(crate) b: Offset,
    len: u64,
    _t: PhantomData<&'t ()>,
}

impl std::fmt::Debug for DictRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DictRef({:?}, len {})", self.b, self.len)
    }
}

impl<'t> DictRef<'t> {
    /// The dict at `b` (a live dict block).
    pub(crate) fn new(heap: Heap, b: Offset) -> Result<DictRef<'t>, Error> {
        let l = HashLayout::read(&heap, b, T_DICT)?;
        Ok(DictRef {
            heap,
            b,
            len: l.len,
            _t: PhantomData,
        })
    }

    #[inline]
    fn layout(&self) -> Result<HashLayout, Error> {
        HashLayout::read(&self.heap, self.b, T_DICT)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The dict's handle (keep it across turns; reopen it with
    /// [`crate::Turn::dict_mut`]).
    pub fn handle(&self) -> Option<Handle> {
        self.heap.handle(self.b).ok()
    }

    /// The value for `key` (Python key equality: `1`, `1.0`, `True` are one
    /// key). An unhashable key is [`Error::Unhashable`].
    #[inline]
    pub fn get(&self, key: &Value) -> Result<Option<ValueRef<'t>>, Error> {
        let h = hash_value(key)?;
        let lk = HashLayout::lookup_at(&self.heap, self.b, T_DICT)?;
        match find_in(&self.heap, &lk, key, h)? {
            // SAFETY: `'t` is the turn borrow this view was made under.
            Probe::Found { entry, .. } => Ok(Some(unsafe { view(self.heap, entry.value()) }?)),
            Probe::Absent { .. } => Ok(None),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &Value) -> Result<bool, Error> {
        Ok(self.get(key)?.is_some())
    }

    /// The value for a key that is itself in a segment (or any value);
    /// unhashable keys are absent.
    pub(crate) fn find_py<K: super::eq::Py>(
        &self,
        key: K,
        depth: u32,
    ) -> Result<Option<ValueRef<'t>>, Error> {
        match find_py(&self.heap, &self.layout()?, key, depth)? {
            // SAFETY: `'t` is the turn borrow this view was made under.
            Some(entry) => Ok(Some(unsafe { view(self.heap, entry.value()) }?)),
            None => Ok(None),
        }
    }

    /// Entry `i` in insertion order (walks the order list: O(i); prefer
    /// [`DictRef::iter`]).
    pub fn entry(&self, i: usize) -> Result<(ValueRef<'t>, ValueRef<'t>), Error> {
        match self.iter().nth(i) {
            Some(kv) => kv,
            None => Err(Error::IndexOutOfRange {
                index: i,
                len: self.len(),
            }),
        }
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> DictIter<'t> {
        DictIter {
            heap: self.heap,
            order: Order::new(self.heap, self.layout()),
        }
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = Result<ValueRef<'t>, Error>> + use<'t> {
        self.iter().map(|kv| kv.map(|(k, _)| k))
    }

    /// The values in insertion order.
    pub fn values(&self) -> impl Iterator<Item = Result<ValueRef<'t>, Error>> + use<'t> {
        self.iter().map(|kv| kv.map(|(_, v)| v))
    }

    /// Copies the dict out.
    pub fn to_value(&self) -> Result<Value, Error> {
        ValueRef::Dict(*self).to_value()
    }
}

/// Iterator over a shared dict's entries in insertion order.
pub struct DictIter<'t> {
    heap: Heap,
    order: Order<'t, 48>,
}

impl std::fmt::Debug for DictIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DictIter({} left)", self.order.left())
    }
}

impl<'t> Iterator for DictIter<'t> {
    type Item = Result<(ValueRef<'t>, ValueRef<'t>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.order.next_entry()?;
        // SAFETY: `'t` is the turn borrow the iterator was made under.
        Some(
            entry.and_then(|e| unsafe {
                Ok((view(self.heap, e.key())?, view(self.heap, e.value())?))
            }),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.order.left(), Some(self.order.left()))
    }
}

impl ExactSizeIterator for DictIter<'_> {}

/// A mutable view of a shared dict, borrowing the turn mutably.
///
/// Entries never move: growing or shrinking rehashes only the index, so
/// `int_mut` hands out `&mut i64` straight into the value's slot, and
/// handles to the dict and to the values in it stay valid.
pub struct DictMut<'t> {
    heap: Heap,
    b: Offset,
    _t: PhantomData<&'t mut ()>,
}

impl std::fmt::Debug for DictMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DictMut({:?}, len {})", self.b, self.len())
    }
}

fn missing(key: &Value) -> Error {
    Error::KeyNotFound {
        key: format!("{key:?}"),
    }
}

impl<'t> DictMut<'t> {
    /// # Safety
    /// `b` must be a live dict block, and `'t` a mutable borrow of the turn.
    pub(crate) unsafe fn new(heap: Heap, b: Offset) -> DictMut<'t> {
        DictMut {
            heap,
            b,
            _t: PhantomData,
        }
    }

    #[inline]
    fn layout(&self) -> Result<HashLayout, Error> {
        HashLayout::read(&self.heap, self.b, T_DICT)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.layout().map_or(0, |l| l.len as usize)
    }

    /// Whether the dict is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dict's handle (keep it across turns).
    pub fn handle(&self) -> Result<Handle, Error> {
        self.heap.handle(self.b)
    }

    /// Bytes in use in the segment (for tests that hold a view).
    #[cfg(test)]
    pub(crate) fn heap_used(&self) -> u64 {
        self.heap.stats().used
    }

    /// A read-only view (borrowing this `DictMut`).
    pub fn as_ref(&self) -> Result<DictRef<'_>, Error> {
        DictRef::new(self.heap, self.b)
    }

    /// The value for `key`.
    #[inline]
    pub fn get(&self, key: &Value) -> Result<Option<ValueRef<'_>>, Error> {
        self.as_ref()?.get(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &Value) -> Result<bool, Error> {
        self.as_ref()?.contains_key(key)
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> Result<DictIter<'_>, Error> {
        Ok(self.as_ref()?.iter())
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> Result<impl Iterator<Item = Result<ValueRef<'_>, Error>>, Error> {
        Ok(self.as_ref()?.keys())
    }

    /// The values in insertion order.
    pub fn values(&self) -> Result<impl Iterator<Item = Result<ValueRef<'_>, Error>>, Error> {
        Ok(self.as_ref()?.values())
    }

    /// Copies the whole dict out.
    pub fn to_value(&self) -> Result<Value, Error> {
        self.as_ref()?.to_value()
    }

    /// Finds `key`: the entry, or [`Error::KeyNotFound`].
    #[inline]
    fn entry_of(&self, key: &Value) -> Result<Entry, Error> {
        let h = hash_value(key)?;
        let lk = HashLayout::lookup_at(&self.heap, self.b, T_DICT)?;
        match find_in(&self.heap, &lk, key, h)? {
            Probe::Found { entry, .. } => Ok(entry),
            Probe::Absent { .. } => Err(missing(key)),
        }
    }

    /// The handle of the object that is the value of `key` (None for inline
    /// scalars); [`Error::KeyNotFound`] if absent.
    pub fn value_handle(&self, key: &Value) -> Result<Option<Handle>, Error> {
        match self.entry_of(key)?.value().ptr() {
            Some(b) => {
                self.heap.live(b)?;
                Ok(Some(self.heap.handle(b)?))
            }
            None => Ok(None),
        }
    }

    /// Sets `key` to `value`. Returns the old value if the key was present
    /// (the key keeps its place and its first form: after `d[1] = a; d[1.0]
    /// = b` the key is still `1`, as in Python).
    #[inline]
    pub fn insert(
        &mut self,
        key: impl Into<Value>,
        value: impl Into<Value>,
    ) -> Result<Option<Value>, Error> {
        let mut l = self.layout()?;
        let heap = self.heap;
        match put(&heap, &mut l, key.into(), value.into(), true, |v| {
            into_slot(&heap, v)
        })? {
            Put::Added(_) => Ok(None),
            Put::Present(old, _) => Ok(old),
        }
    }

    /// Removes `key` and returns its value (None if absent).
    pub fn remove(&mut self, key: &Value) -> Result<Option<Value>, Error> {
        let h = hash_value(key)?;
        let mut l = self.layout()?;
        let Probe::Found { pos, e, entry } = find_value(&self.heap, &l, key, h)? else {
            return Ok(None);
        };
        let out = copy_out(self.heap, entry.value())?;
        let (k, v) = take(&self.heap, &mut l, e, pos)?;
        free_slot(&self.heap, k)?;
        free_slot(&self.heap, v)?;
        Ok(Some(out))
    }

    /// Removes and returns the last inserted entry (Python's `popitem`:
    /// LIFO); None if empty.
    pub fn pop_item(&mut self) -> Result<Option<(Value, Value)>, Error> {
        let mut l = self.layout()?;
        if l.len == 0 {
            return Ok(None);
        }
        let e = l.tail - 1;
        let entry = l.entry(&self.heap, e)?;
        let pos = l.position_of(&self.heap, e, entry.hash())?;
        let out = (
            copy_out(self.heap, entry.key())?,
            copy_out(self.heap, entry.value())?,
        );
        let (k, v) = take(&self.heap, &mut l, e, pos)?;
        free_slot(&self.heap, k)?;
        free_slot(&self.heap, v)?;
        Ok(Some(out))
    }

    /// The value of `key`, inserting `default` first if the key is absent
    /// (Python's `setdefault`).
    pub fn get_or_insert(
        &mut self,
        key: impl Into<Value>,
        default: impl Into<Value>,
    ) -> Result<ValueRef<'_>, Error> {
        let mut l = self.layout()?;
        let heap = self.heap;
        let entry = match put(&heap, &mut l, key.into(), default.into(), false, |v| {
            into_slot(&heap, v)
        })? {
            Put::Added(e) => l.entry(&heap, e)?,
            Put::Present(_, entry) => entry,
        };
        // SAFETY: the view borrows `self`, which borrows the turn mutably.
        unsafe { view(heap, entry.value()) }
    }

    /// Sets every `(key, value)` (Python's `update`), all or nothing: on
    /// any error the dict is as it was. A key given twice keeps its first
    /// position and its last value.
    pub fn update<I, K, V>(&mut self, entries: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Value>,
        V: Into<Value>,
    {
        let owned: Vec<(Value, Value)> = entries
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.put_owned(&owned)
    }

    /// The same as [`DictMut::update`] (`Extend`'s name).
    pub fn extend<I, K, V>(&mut self, entries: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Value>,
        V: Into<Value>,
    {
        self.update(entries)
    }

    /// Updates from another shared dict (copies of its entries; `src` may
    /// be this very dict).
    pub fn update_from(&mut self, src: Handle) -> Result<(), Error> {
        let (_, _, kind) = self.heap.check_handle(src)?;
        if kind != T_DICT {
            return Err(Error::TypeMismatch {
                expected: "dict",
                found: type_name(kind),
            });
        }
        let v = DictRef::new(self.heap, src.offset)?.to_value()?;
        let Value::Dict(entries) = v else {
            return Err(Error::corrupt(
                src.offset.get(),
                "dict copied out as another type",
            ));
        };
        self.put_owned(&entries)
    }

    fn put_owned(&mut self, entries: &[(Value, Value)]) -> Result<(), Error> {
        let items: Vec<(&Value, Option<&Value>)> =
            entries.iter().map(|(k, v)| (k, Some(v))).collect();
        let mut l = self.layout()?;
        let heap = self.heap;
        let old = put_all(&heap, &mut l, &items, &|v| write_slot(&heap, v))?;
        for s in old {
            free_slot(&heap, s)?;
        }
        Ok(())
    }

    /// Removes every entry (freeing what they owned) and the dict's
    /// storage (the header stays: handles remain valid).
    pub fn clear(&mut self) -> Result<(), Error> {
        let mut l = self.layout()?;
        super::hashed::clear(&self.heap, &mut l)
    }

    #[inline(always)]
    fn scalar_mut(&mut self, key: &Value, tag: u8) -> Result<*mut u64, Error> {
        let entry = self.entry_of(key)?;
        let p = entry
            .value_ptr()
            .ok_or_else(|| Error::corrupt(self.b.get(), "dict entry without a value"))?;
        // SAFETY: `p` is the in-bounds, 16-aligned value slot of an entry.
        let found = unsafe { p.read() };
        if found != tag {
            return Err(Error::TypeMismatch {
                expected: type_name(tag),
                found: type_name(found),
            });
        }
        // SAFETY: the payload is the second word of the slot, in bounds.
        let w = unsafe { p.add(8) } as *mut u64;
        // In a transaction, what the `&mut` hands out is journaled now.
        self.heap.save_ptr_in_txn(w as *const u8, 8)?;
        Ok(w)
    }

    /// `&mut` to the int value of `key`, in the segment:
    /// `*dict.int_mut(&"hits".into())? += 1`.
    #[inline]
    pub fn int_mut(&mut self, key: &Value) -> Result<&mut i64, Error> {
        let p = self.scalar_mut(key, T_INT)?;
        // SAFETY: `p` is the 8-aligned, in-bounds payload of an int slot;
        // entries do not move while the dict lives, and `&mut self`
        // (borrowing the turn) makes the reference exclusive.
        Ok(unsafe { &mut *(p as *mut i64) })
    }

    /// `&mut` to the float value of `key`, in the segment.
    #[inline]
    pub fn float_mut(&mut self, key: &Value) -> Result<&mut f64, Error> {
        let p = self.scalar_mut(key, T_FLOAT)?;
        // SAFETY: as in `int_mut`; any bits are a valid f64.
        Ok(unsafe { &mut *(p as *mut f64) })
    }

    /// `&mut` to the bool value of `key`, in the segment.
    #[inline]
    pub fn bool_mut(&mut self, key: &Value) -> Result<&mut bool, Error> {
        let p = self.scalar_mut(key, T_BOOL)?;
        // SAFETY: as in `int_mut`. A bool slot's payload is 0 or 1, so its
        // first (little-endian low) byte is a valid bool and the other
        // seven are zero; writing a bool keeps the payload 0 or 1.
        Ok(unsafe { &mut *(p as *mut bool) })
    }

    /// The object that is the value of `key`, checked to be of kind `tag`.
    fn object_of(&self, key: &Value, tag: u8, expected: &'static str) -> Result<Offset, Error> {
        let s = self.entry_of(key)?.value();
        if s.tag != tag {
            return Err(Error::TypeMismatch {
                expected,
                found: type_name(s.tag),
            });
        }
        let b = Offset::new(s.payload);
        self.heap.live(b)?;
        Ok(b)
    }

    /// The list that is the value of `key`, for mutation in place.
    pub fn list_mut(&mut self, key: &Value) -> Result<ListMut<'_>, Error> {
        let b = self.object_of(key, T_LIST, "list")?;
        // SAFETY: a live list block, borrowed mutably through `self`.
        unsafe { ListMut::new(self.heap, b) }
    }

    /// The dict that is the value of `key`, for mutation in place.
    pub fn dict_mut(&mut self, key: &Value) -> Result<DictMut<'_>, Error> {
        let b = self.object_of(key, T_DICT, "dict")?;
        // SAFETY: a live dict block, borrowed mutably through `self`.
        Ok(unsafe { DictMut::new(self.heap, b) })
    }

    /// The attribute dict of the object that is the value of `key`, for
    /// mutation in place.
    pub fn attrs_mut(&mut self, key: &Value) -> Result<DictMut<'_>, Error> {
        let b = self.object_of(key, crate::format::T_OBJECT, "object")?;
        let d = super::attrs_block(self.heap, b)?;
        // SAFETY: a live dict block, borrowed mutably through `self`.
        Ok(unsafe { DictMut::new(self.heap, d) })
    }

    /// The set that is the value of `key`, for mutation in place.
    pub fn set_mut(&mut self, key: &Value) -> Result<SetMut<'_>, Error> {
        let b = self.object_of(key, T_SET, "set")?;
        // SAFETY: a live set block, borrowed mutably through `self`.
        Ok(unsafe { SetMut::new(self.heap, b) })
    }

    /// The numeric array (of element type `T`) that is the value of `key`,
    /// for mutation in place: `root.array_mut::<f64>(&"w".into())?[0] = 1.0`.
    pub fn array_mut<T: crate::Element>(
        &mut self,
        key: &Value,
    ) -> Result<crate::ArrayMut<'_, T>, Error> {
        let b = self.object_of(key, crate::format::T_ARRAY, "array")?;
        // SAFETY: a live array block, borrowed mutably through `self`.
        unsafe { crate::ArrayMut::new(self.heap, b) }
    }

    /// The bytearray that is the value of `key`, for mutation in place.
    pub fn bytes_mut(&mut self, key: &Value) -> Result<BytesMut<'_>, Error> {
        let b = self.object_of(key, T_BYTEARRAY, "bytearray")?;
        // SAFETY: a live bytearray block, borrowed mutably through `self`.
        Ok(unsafe { BytesMut::new(self.heap, b) })
    }
}
