//! `ListMut`: a shared list, mutated in place, with the API of `Vec` and of
//! Python's `list`.
//!
//! Every operation is all-or-nothing: new items are written first, then the
//! list is changed, then what it no longer owns is freed. Out of memory, a
//! type error in `sort`, or a range error leaves the list as it was.

use std::marker::PhantomData;
use std::ops::{Range, RangeBounds};

use super::bytes::BytesMut;
use super::eq::lt;
use super::{
    DictMut, ListRef, SetMut, Value, ValueRef, copy_slot, free_slot, into_slot, write_slot,
};
use crate::Error;
use crate::alloc::Heap;
use crate::format::list::{Cursor, ListLayout, Table};
use crate::format::{Slot, T_BOOL, T_BYTEARRAY, T_DICT, T_FLOAT, T_INT, T_LIST, T_SET, type_name};
use crate::segment::{Handle, Offset};

/// Resolves a range against a length, Python-slice style but strict:
/// `start > end` or `end > len` is [`Error::IndexOutOfRange`].
pub(crate) fn bounds(range: impl RangeBounds<usize>, len: usize) -> Result<Range<usize>, Error> {
    use std::ops::Bound::*;
    let start = match range.start_bound() {
        Included(&s) => s,
        Excluded(&s) => s.saturating_add(1),
        Unbounded => 0,
    };
    let end = match range.end_bound() {
        Included(&e) => e.saturating_add(1),
        Excluded(&e) => e,
        Unbounded => len,
    };
    if end > len {
        return Err(Error::IndexOutOfRange { index: end, len });
    }
    if start > end {
        return Err(Error::IndexOutOfRange {
            index: start,
            len: end,
        });
    }
    Ok(start..end)
}

/// A mutable view of a shared list, borrowing the turn mutably.
///
/// Items live in chunks that never move while the list grows, so the
/// `&mut i64` that [`ListMut::int_mut`] gives points straight at the item
/// in the segment. (Inserting or removing before an item shifts it, as in
/// any list.)
pub struct ListMut<'t> {
    pub(crate) heap: Heap,
    pub(crate) b: Offset,
    /// The list's `len` word (the header block never moves).
    pub(crate) len_word: *mut u64,
    /// The chunk of the last item reached (reset when chunks may be freed).
    cur: Cursor,
    /// How many items from `cur.lo` are live (`min(cur.hi, len) - cur.lo`):
    /// one range check serves both the length and the cursor.
    live: u64,
    /// The chunk table as last read and checked (None once this view
    /// changed it), so that moving the cursor to another chunk is one table
    /// lookup.
    table: Option<Table>,
    _t: PhantomData<&'t mut ()>,
}

impl std::fmt::Debug for ListMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListMut({:?}, len {})", self.b, self.len())
    }
}

impl<'t> ListMut<'t> {
    /// # Safety
    /// `b` must be a live list block, and `'t` a mutable borrow of the turn.
    pub(crate) unsafe fn new(heap: Heap, b: Offset) -> Result<ListMut<'t>, Error> {
        let len_word = heap.mem.ptr(crate::format::payload(b), 8, 8)? as *mut u64;
        Ok(ListMut {
            heap,
            b,
            len_word,
            cur: Cursor::EMPTY,
            live: 0,
            table: None,
            _t: PhantomData,
        })
    }

    /// Pointer to the slot of item `i`, through the cursor when it covers
    /// `i` (the hot path of `int_mut` and friends: one length check, one
    /// range check, no table lookup).
    #[inline(always)]
    fn slot_ptr(&mut self, i: usize) -> Result<*mut u8, Error> {
        let d = (i as u64).wrapping_sub(self.cur.lo);
        if d < self.live {
            // SAFETY: `d` is below the cursor's chunk capacity (`live <=
            // hi - lo`), whose slots `cursor` checked to be in bounds.
            return Ok(unsafe { self.cur.base.add(16 * d as usize) });
        }
        self.slot_ptr_slow(i as u64)
    }

    /// Checks `i` against the length and points the cursor at its chunk's
    /// items from `i` on: arithmetic and one load of the chunk table the
    /// view holds, so random access costs little more than a cursor hit.
    #[inline]
    fn slot_ptr_slow(&mut self, i: u64) -> Result<*mut u8, Error> {
        // SAFETY: `len_word` points into the live header block.
        let len = unsafe { self.len_word.read() };
        if i >= len {
            return Err(Error::IndexOutOfRange {
                index: i as usize,
                len: len as usize,
            });
        }
        let table = match self.table {
            Some(t) => t,
            None => self.load_table()?,
        };
        // A length beyond the chunks (a damaged header) fails in `run`.
        let (p, n) = table.run::<16>(&self.heap.mem, i, u64::MAX)?;
        self.cur = Cursor {
            lo: i,
            hi: i + n,
            base: p,
        };
        self.live = n.min(len - i);
        Ok(p)
    }

    /// Reads and checks the chunk table, and keeps it until the chunks
    /// change.
    #[cold]
    #[inline(never)]
    fn load_table(&mut self) -> Result<Table, Error> {
        let t = self.layout()?.table(&self.heap)?;
        self.table = Some(t);
        Ok(t)
    }

    #[inline]
    fn layout(&self) -> Result<ListLayout, Error> {
        ListLayout::read(&self.heap, self.b)
    }

    fn check(l: &ListLayout, i: usize) -> Result<(), Error> {
        if i as u64 >= l.len {
            return Err(Error::IndexOutOfRange {
                index: i,
                len: l.len as usize,
            });
        }
        Ok(())
    }

    fn slot_at(&self, l: &ListLayout, i: usize) -> Result<(Offset, Slot), Error> {
        Self::check(l, i)?;
        let at = l.slot(&self.heap, i as u64)?;
        Ok((at, Slot::read(&self.heap.mem, at)?))
    }

    /// Number of items.
    #[inline]
    pub fn len(&self) -> usize {
        self.layout().map_or(0, |l| l.len as usize)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The list's handle (keep it across turns).
    pub fn handle(&self) -> Result<Handle, Error> {
        self.heap.handle(self.b)
    }

    /// A read-only view (borrowing this `ListMut`): `index_of`, `count`,
    /// `get_range`, `iter`, ...
    pub fn as_ref(&self) -> Result<ListRef<'_>, Error> {
        ListRef::new(self.heap, self.layout()?)
    }

    /// Item `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Result<ValueRef<'_>, Error> {
        self.as_ref()?.get(i)
    }

    /// The items in order.
    pub fn iter(&self) -> Result<super::ListIter<'_>, Error> {
        Ok(self.as_ref()?.iter())
    }

    /// The items in `range`, in place.
    pub fn get_range(&self, range: impl RangeBounds<usize>) -> Result<Vec<ValueRef<'_>>, Error> {
        self.as_ref()?.get_range(range)
    }

    /// Position of the first item equal to `v` (Python equality).
    pub fn index_of(&self, v: &Value) -> Result<Option<usize>, Error> {
        self.as_ref()?.index_of(v)
    }

    /// Whether an item equals `v`.
    pub fn contains(&self, v: &Value) -> Result<bool, Error> {
        self.as_ref()?.contains(v)
    }

    /// How many items equal `v`.
    pub fn count(&self, v: &Value) -> Result<usize, Error> {
        self.as_ref()?.count(v)
    }

    /// Copies the whole list out.
    pub fn to_value(&self) -> Result<Value, Error> {
        self.as_ref()?.to_value()
    }

    /// The handle of the object at item `i` (None for inline scalars).
    pub fn item_handle(&self, i: usize) -> Result<Option<Handle>, Error> {
        let l = self.layout()?;
        let (_, s) = self.slot_at(&l, i)?;
        match s.ptr() {
            Some(b) => {
                self.heap.live(b)?;
                Ok(Some(self.heap.handle(b)?))
            }
            None => Ok(None),
        }
    }

    /// Copies the values the slots own out of the segment.
    fn values_of(&self, slots: &[Slot]) -> Result<Vec<Value>, Error> {
        slots
            .iter()
            // SAFETY: read while we hold the turn mutably; the views die here.
            .map(|&s| unsafe { ValueRef::from_slot(self.heap, s) }?.to_value())
            .collect()
    }

    /// Writes `values` as new slots; on error frees the ones written.
    fn write_all(&self, values: impl IntoIterator<Item = Value>) -> Result<Vec<Slot>, Error> {
        let mut out = Vec::new();
        for v in values {
            match write_slot(&self.heap, &v) {
                Ok(s) => out.push(s),
                Err(e) => {
                    self.free_all(&out)?;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    fn free_all(&self, slots: &[Slot]) -> Result<(), Error> {
        for &s in slots {
            free_slot(&self.heap, s)?;
        }
        Ok(())
    }

    /// The one primitive behind every change of length: replaces the slots
    /// in `range` by `new` and returns the slots taken out (still owning
    /// their objects). On error the list is unchanged and `new` is freed.
    fn replace(&mut self, range: Range<usize>, new: Vec<Slot>) -> Result<Vec<Slot>, Error> {
        self.forget_cursor();
        let mut l = self.layout()?;
        let len = l.len;
        let (start, end) = (range.start as u64, range.end as u64);
        let n = new.len() as u64;
        let new_len = len - (end - start) + n;
        // Journal: the header, and the committed slots that get overwritten
        // (those below both lengths), before any change.
        let moved = len.min(new_len).saturating_sub(start);
        // The journal holds only this operation's records from here (see
        // `undo_reserve`).
        self.heap.commit()?;
        let before = l;
        if let Err(e) = self
            .heap
            // One record per chunk run: room for all at once, so that a big
            // move grows the journal once, not by doubling.
            .journal_room(40 + 16 * moved + 16 * (l.nchunks + 1))
            .and_then(|()| l.save_header(&self.heap))
            .and_then(|()| l.save_slots(&self.heap, start, len.min(new_len)))
            // In a transaction the slots past `len` may be committed too
            // (the transaction shrank the list).
            .and_then(|()| match self.heap.in_transaction() && new_len > len {
                true => l.save_slots(&self.heap, len, new_len.min(l.capacity())),
                false => Ok(()),
            })
        {
            self.heap.commit()?;
            self.free_all(&new)?;
            return Err(e);
        }
        if new_len > len
            && let Err(e) = l.reserve(&self.heap, new_len - len)
        {
            l.undo_reserve(&self.heap, before)?;
            self.free_all(&new)?;
            return Err(e);
        }
        let m = self.heap.mem;
        let mut old = Vec::with_capacity((end - start) as usize);
        for i in start..end {
            old.push(Slot::read(&m, l.slot(&self.heap, i)?)?);
        }
        l.move_slots(&self.heap, end, start + n, len - end)?;
        for (i, s) in new.into_iter().enumerate() {
            s.write(&m, l.slot(&self.heap, start + i as u64)?)?;
        }
        l.len = new_len;
        l.store(&self.heap)?;
        if new_len < len {
            l.trim(&self.heap)?;
        }
        self.heap.commit()?;
        Ok(old)
    }

    /// Replaces item `i` (freeing what the old item owned). Another type
    /// re-tags the item.
    pub fn set(&mut self, i: usize, v: impl Into<Value>) -> Result<(), Error> {
        let l = self.layout()?;
        let (at, old) = self.slot_at(&l, i)?;
        let new = into_slot(&self.heap, v.into())?;
        if old.tag == new.tag && old.ptr().is_none() && new.ptr().is_none() {
            // Same scalar type: one 8-byte store, atomic.
            self.heap.save_in_txn(at.add(8), 8)?;
            return self.heap.mem.set_u64(at.add(8), new.payload);
        }
        if let Err(e) = self.heap.save(at, 16) {
            free_slot(&self.heap, new)?;
            return Err(e);
        }
        new.write(&self.heap.mem, at)?;
        self.heap.commit()?;
        free_slot(&self.heap, old)
    }

    /// Appends `v`. Amortised O(1); no item moves.
    #[inline]
    pub fn push(&mut self, v: impl Into<Value>) -> Result<(), Error> {
        let s = into_slot(&self.heap, v.into())?;
        // SAFETY: `len_word` points into the live header block.
        let len = unsafe { self.len_word.read() };
        let p = match self.cur.get(len) {
            Some(p) => p,
            None => match self.grow_to(len) {
                Ok(p) => p,
                Err(e) => {
                    free_slot(&self.heap, s)?;
                    return Err(e);
                }
            },
        };
        if self.heap.txn_hint()
            && let Err(e) = self.save_push(p)
        {
            free_slot(&self.heap, s)?;
            return Err(e);
        }
        // SAFETY: `p` is the in-bounds, 16-aligned slot of item `len`
        // (below the capacity), and `len_word` the header's len word; we
        // hold the turn mutably. The slot is written before `len` publishes
        // it.
        unsafe {
            (p as *mut Slot).write(s);
            self.len_word.write(len + 1);
        }
        self.live = self.cur.hi.min(len + 1) - self.cur.lo;
        Ok(())
    }

    /// Journals what a push in a transaction overwrites: the slot past
    /// `len` (committed if the transaction shrank the list) and `len`.
    #[cold]
    #[inline(never)]
    fn save_push(&self, p: *mut u8) -> Result<(), Error> {
        self.heap.save_ptr(p, 16)?;
        self.heap.save_ptr(self.len_word as *const u8, 8)
    }

    /// Makes sure item `len` has a slot (adding a chunk if needed) and
    /// points the cursor at it.
    #[cold]
    fn grow_to(&mut self, len: u64) -> Result<*mut u8, Error> {
        let mut l = self.layout()?;
        if l.len != len {
            return Err(Error::corrupt(
                self.b.get(),
                "list length changed under a view",
            ));
        }
        self.table = None;
        l.save_header(&self.heap)?;
        let r = l.reserve(&self.heap, 1);
        self.heap.commit()?;
        r?;
        let c = l.cursor(&self.heap, len)?;
        self.cur = c;
        c.get(len)
            .ok_or_else(|| Error::corrupt(self.b.get(), "cursor does not cover its item"))
    }

    /// Makes room for at least `extra` more items, adding chunks now (no
    /// item moves). Out of memory changes nothing, not even the space in
    /// use.
    pub fn reserve(&mut self, extra: usize) -> Result<(), Error> {
        let mut l = self.layout()?;
        if l.capacity() - l.len >= extra as u64 {
            return Ok(());
        }
        self.forget_cursor();
        // The journal holds only this operation's records from here (see
        // `undo_reserve`).
        self.heap.commit()?;
        let before = l;
        l.save_header(&self.heap)?;
        if let Err(e) = l.reserve(&self.heap, extra as u64) {
            l.undo_reserve(&self.heap, before)?;
            return Err(e);
        }
        self.heap.commit()
    }

    /// Forgets the cursor and the chunk table (before the chunks change).
    #[inline]
    pub(crate) fn forget_cursor(&mut self) {
        self.cur = Cursor::EMPTY;
        self.live = 0;
        self.table = None;
    }

    /// Removes and returns the last item.
    pub fn pop(&mut self) -> Result<Option<Value>, Error> {
        let len = self.len();
        if len == 0 {
            return Ok(None);
        }
        self.remove(len - 1).map(Some)
    }

    /// Inserts `v` before item `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, v: impl Into<Value>) -> Result<(), Error> {
        let len = self.len();
        if i > len {
            return Err(Error::IndexOutOfRange { index: i, len });
        }
        let s = into_slot(&self.heap, v.into())?;
        self.replace(i..i, vec![s]).map(drop)
    }

    /// Removes item `i` and returns it.
    pub fn remove(&mut self, i: usize) -> Result<Value, Error> {
        let l = self.layout()?;
        let (_, s) = self.slot_at(&l, i)?;
        let v = self.values_of(&[s])?.remove(0);
        let old = self.replace(i..i + 1, Vec::new())?;
        self.free_all(&old)?;
        Ok(v)
    }

    /// Appends every value (all or nothing).
    pub fn extend<I>(&mut self, values: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Into<Value>,
    {
        let slots = self.write_all(values.into_iter().map(Into::into))?;
        let len = self.len();
        self.replace(len..len, slots).map(drop)
    }

    /// Appends copies of the items of the shared list, tuple or set at `src`
    /// (the keys, for a dict). `src` may be this very list (`l += l`).
    pub fn extend_from(&mut self, src: Handle) -> Result<(), Error> {
        let (_, _, kind) = self.heap.check_handle(src)?;
        // SAFETY: read while we hold the turn mutably; the views die before
        // anything is written.
        let v = unsafe { ValueRef::from_object(self.heap, src.offset, kind)? };
        let items: Box<dyn Iterator<Item = Result<ValueRef<'_>, Error>>> = match v {
            ValueRef::List(l) => Box::new(l.iter()),
            ValueRef::Tuple(t) => Box::new(t.iter()),
            ValueRef::Set(s) => Box::new(s.iter()),
            ValueRef::Dict(d) => Box::new(d.keys()),
            other => {
                return Err(Error::TypeMismatch {
                    expected: "list, tuple, set or dict",
                    found: other.type_name(),
                });
            }
        };
        let mut slots = Vec::with_capacity(items.size_hint().0);
        for item in items {
            match item.and_then(|item| copy_slot(&self.heap, item)) {
                Ok(s) => slots.push(s),
                Err(e) => {
                    self.free_all(&slots)?;
                    return Err(e);
                }
            }
        }
        let len = self.len();
        self.replace(len..len, slots).map(drop)
    }

    /// Removes every item (freeing what they owned) and the list's storage.
    pub fn clear(&mut self) -> Result<(), Error> {
        self.truncate(0)
    }

    /// Keeps the first `n` items (no-op if `n >= len`).
    pub fn truncate(&mut self, n: usize) -> Result<(), Error> {
        let len = self.len();
        if n >= len {
            return Ok(());
        }
        let old = self.replace(n..len, Vec::new())?;
        self.free_all(&old)
    }

    /// Swaps items `i` and `j`.
    pub fn swap(&mut self, i: usize, j: usize) -> Result<(), Error> {
        let l = self.layout()?;
        let (ai, si) = self.slot_at(&l, i)?;
        let (aj, sj) = self.slot_at(&l, j)?;
        self.heap.save(ai, 16)?;
        self.heap.save(aj, 16)?;
        si.write(&self.heap.mem, aj)?;
        sj.write(&self.heap.mem, ai)?;
        self.heap.commit()
    }

    /// Reverses the order of the items.
    pub fn reverse(&mut self) -> Result<(), Error> {
        let l = self.layout()?;
        l.save_slots(&self.heap, 0, l.len)?;
        let m = self.heap.mem;
        for i in 0..l.len / 2 {
            let (ai, aj) = (l.slot(&self.heap, i)?, l.slot(&self.heap, l.len - 1 - i)?);
            let (si, sj) = (Slot::read(&m, ai)?, Slot::read(&m, aj)?);
            si.write(&m, aj)?;
            sj.write(&m, ai)?;
        }
        self.heap.commit()
    }

    /// Sorts in place, stably, by Python's ordering (numbers across
    /// int/float/bool, str, bytes, tuples and lists of them). Items Python
    /// cannot order give [`Error::TypeMismatch`] and the list is unchanged.
    pub fn sort(&mut self) -> Result<(), Error> {
        self.sort_impl(false)
    }

    /// Sorts in descending order, stably (Python's `sort(reverse=True)`).
    pub fn sort_reverse(&mut self) -> Result<(), Error> {
        self.sort_impl(true)
    }

    fn sort_impl(&mut self, reverse: bool) -> Result<(), Error> {
        let l = self.layout()?;
        let n = l.len as usize;
        let slots = self.all_slots(&l)?;
        let order = {
            let items: Vec<ValueRef<'_>> = slots
                .iter()
                // SAFETY: nothing is written while the views live (this
                // block); we hold the turn mutably.
                .map(|&s| unsafe { ValueRef::from_slot(self.heap, s) })
                .collect::<Result<_, _>>()?;
            let less = |a: usize, b: usize| {
                if reverse {
                    lt(items[b], items[a], 0)
                } else {
                    lt(items[a], items[b], 0)
                }
            };
            merge_sort(n, less)?
        };
        self.write_order(&l, &slots, &order)
    }

    /// Reorders the items: item `i` becomes the old item `order[i]`.
    /// `order` must be a permutation of `0..len` (else
    /// [`Error::IndexOutOfRange`] names the first index that is out of
    /// range or repeated, and the list is unchanged). Items move as slots,
    /// so nested containers keep their handles. This is what a sort by keys
    /// computed outside the segment needs (Python's `sort(key=...)`).
    pub fn permute(&mut self, order: &[usize]) -> Result<(), Error> {
        let l = self.layout()?;
        let n = l.len as usize;
        if order.len() != n {
            return Err(Error::IndexOutOfRange {
                index: order.len(),
                len: n,
            });
        }
        let mut seen = vec![false; n];
        for &j in order {
            if j >= n || std::mem::replace(&mut seen[j], true) {
                return Err(Error::IndexOutOfRange { index: j, len: n });
            }
        }
        let slots = self.all_slots(&l)?;
        self.write_order(&l, &slots, order)
    }

    /// Every item's slot, in order.
    fn all_slots(&self, l: &ListLayout) -> Result<Vec<Slot>, Error> {
        let m = self.heap.mem;
        (0..l.len)
            .map(|i| Slot::read(&m, l.slot(&self.heap, i)?))
            .collect()
    }

    /// Writes `slots[order[i]]` to item `i` for every `i`, journaled.
    fn write_order(
        &mut self,
        l: &ListLayout,
        slots: &[Slot],
        order: &[usize],
    ) -> Result<(), Error> {
        let m = self.heap.mem;
        l.save_slots(&self.heap, 0, l.len)?;
        for (i, &j) in order.iter().enumerate() {
            slots[j].write(&m, l.slot(&self.heap, i as u64)?)?;
        }
        self.heap.commit()
    }

    /// Replaces the items in `range` by `values` (any number) and returns
    /// the removed items.
    pub fn splice<I>(
        &mut self,
        range: impl RangeBounds<usize>,
        values: I,
    ) -> Result<Vec<Value>, Error>
    where
        I: IntoIterator,
        I::Item: Into<Value>,
    {
        let r = bounds(range, self.len())?;
        let removed = self.values_of(&self.as_ref()?.raw_slots(r.clone())?)?;
        let new = self.write_all(values.into_iter().map(Into::into))?;
        let old = self.replace(r, new)?;
        self.free_all(&old)?;
        Ok(removed)
    }

    /// Replaces the items in `range` by `values` (Python's `l[a:b] = ...`).
    pub fn set_range<I>(&mut self, range: impl RangeBounds<usize>, values: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Into<Value>,
    {
        let r = bounds(range, self.len())?;
        let new = self.write_all(values.into_iter().map(Into::into))?;
        let old = self.replace(r, new)?;
        self.free_all(&old)
    }

    /// Removes the items in `range` and returns them.
    pub fn drain(&mut self, range: impl RangeBounds<usize>) -> Result<Vec<Value>, Error> {
        self.splice(range, std::iter::empty::<Value>())
    }

    /// Removes the items in `range` (Python's `del l[a:b]`).
    pub fn delete_range(&mut self, range: impl RangeBounds<usize>) -> Result<(), Error> {
        self.set_range(range, std::iter::empty::<Value>())
    }

    /// Repeats the items `n` times in place (Python's `l *= n`; `n == 0`
    /// clears). The copies are deep: each object has one owner.
    pub fn repeat(&mut self, n: usize) -> Result<(), Error> {
        if n == 0 {
            return self.clear();
        }
        let len = self.len();
        let mut new = Vec::with_capacity(len * (n - 1));
        for _ in 1..n {
            for i in 0..len {
                let item = self.get(i)?;
                match copy_slot(&self.heap, item) {
                    Ok(s) => new.push(s),
                    Err(e) => {
                        self.free_all(&new)?;
                        return Err(e);
                    }
                }
            }
        }
        self.replace(len..len, new).map(drop)
    }

    #[inline(always)]
    fn scalar_mut(&mut self, i: usize, tag: u8) -> Result<*mut u64, Error> {
        let p = self.slot_ptr(i)?;
        // SAFETY: `p` is an in-bounds, 16-aligned slot of this list.
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

    /// `&mut` to the int item `i`, in the segment: `*list.int_mut(1)? += 1`.
    #[inline]
    pub fn int_mut(&mut self, i: usize) -> Result<&mut i64, Error> {
        let p = self.scalar_mut(i, T_INT)?;
        // SAFETY: `p` is the 8-aligned, in-bounds payload of an int slot;
        // the slot does not move while the list lives, and `&mut self`
        // (borrowing the turn) makes the reference exclusive.
        Ok(unsafe { &mut *(p as *mut i64) })
    }

    /// `&mut` to the float item `i`, in the segment.
    #[inline]
    pub fn float_mut(&mut self, i: usize) -> Result<&mut f64, Error> {
        let p = self.scalar_mut(i, T_FLOAT)?;
        // SAFETY: as in `int_mut`; any bits are a valid f64.
        Ok(unsafe { &mut *(p as *mut f64) })
    }

    /// `&mut` to the bool item `i`, in the segment.
    #[inline]
    pub fn bool_mut(&mut self, i: usize) -> Result<&mut bool, Error> {
        let p = self.scalar_mut(i, T_BOOL)?;
        // SAFETY: as in `int_mut`. A bool slot's payload is 0 or 1
        // (validated), so its first (little-endian low) byte is a valid
        // bool and the other seven bytes are zero; writing a bool through
        // the reference keeps the payload 0 or 1.
        Ok(unsafe { &mut *(p as *mut bool) })
    }

    /// The bytearray item `i`, for mutation in place.
    pub fn bytes_mut(&mut self, i: usize) -> Result<BytesMut<'_>, Error> {
        let l = self.layout()?;
        let (_, s) = self.slot_at(&l, i)?;
        if s.tag != T_BYTEARRAY {
            return Err(Error::TypeMismatch {
                expected: "bytearray",
                found: type_name(s.tag),
            });
        }
        let b = Offset::new(s.payload);
        self.heap.live(b)?;
        // SAFETY: a live bytearray block, borrowed mutably through `self`.
        Ok(unsafe { BytesMut::new(self.heap, b) })
    }

    /// The object at item `i`, checked to be of kind `tag`.
    fn object_at(&self, i: usize, tag: u8) -> Result<Offset, Error> {
        let l = self.layout()?;
        let (_, s) = self.slot_at(&l, i)?;
        if s.tag != tag {
            return Err(Error::TypeMismatch {
                expected: type_name(tag),
                found: type_name(s.tag),
            });
        }
        let b = Offset::new(s.payload);
        self.heap.live(b)?;
        Ok(b)
    }

    /// The numeric array item `i` (of element type `T`), for mutation in
    /// place: `list.array_mut::<f64>(0)?[3] += 1.0`.
    pub fn array_mut<T: crate::Element>(
        &mut self,
        i: usize,
    ) -> Result<crate::ArrayMut<'_, T>, Error> {
        let b = self.object_at(i, crate::format::T_ARRAY)?;
        // SAFETY: a live array block, borrowed mutably through `self`.
        unsafe { crate::ArrayMut::new(self.heap, b) }
    }

    /// The dict item `i`, for mutation in place.
    pub fn dict_mut(&mut self, i: usize) -> Result<DictMut<'_>, Error> {
        let b = self.object_at(i, T_DICT)?;
        // SAFETY: a live dict block, borrowed mutably through `self`.
        Ok(unsafe { DictMut::new(self.heap, b) })
    }

    /// The attribute dict of the object item `i`, for mutation in place.
    pub fn attrs_mut(&mut self, i: usize) -> Result<DictMut<'_>, Error> {
        let b = self.object_at(i, crate::format::T_OBJECT)?;
        let d = super::attrs_block(self.heap, b)?;
        // SAFETY: a live dict block, borrowed mutably through `self`.
        Ok(unsafe { DictMut::new(self.heap, d) })
    }

    /// The set item `i`, for mutation in place.
    pub fn set_mut(&mut self, i: usize) -> Result<SetMut<'_>, Error> {
        let b = self.object_at(i, T_SET)?;
        // SAFETY: a live set block, borrowed mutably through `self`.
        Ok(unsafe { SetMut::new(self.heap, b) })
    }

    /// The list item `i`, itself a mutable shared list.
    pub fn list_mut(&mut self, i: usize) -> Result<ListMut<'_>, Error> {
        let l = self.layout()?;
        let (_, s) = self.slot_at(&l, i)?;
        if s.tag != T_LIST {
            return Err(Error::TypeMismatch {
                expected: "list",
                found: type_name(s.tag),
            });
        }
        let b = Offset::new(s.payload);
        self.heap.live(b)?;
        // SAFETY: a live list block, borrowed mutably through `self`.
        unsafe { ListMut::new(self.heap, b) }
    }
}

impl<'t> ListRef<'t> {
    /// The raw slots in `range` (still owned by the list).
    pub(crate) fn raw_slots(&self, range: Range<usize>) -> Result<Vec<Slot>, Error> {
        range.map(|i| self.slot_of(i as u64)).collect()
    }
}

/// A stable bottom-up merge sort of `0..n` that only asks `less(a, b)` (like
/// Python's sort asks only `<`), so an inconsistent order can misplace but
/// never panic. Returns the sorted permutation.
fn merge_sort(
    n: usize,
    less: impl Fn(usize, usize) -> Result<bool, Error>,
) -> Result<Vec<usize>, Error> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut buf = idx.clone();
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j) = (lo, mid);
            for slot in buf.iter_mut().take(hi).skip(lo) {
                // Take from the right only if strictly less: stability.
                let right = j < hi && (i >= mid || less(idx[j], idx[i])?);
                if right {
                    *slot = idx[j];
                    j += 1;
                } else {
                    *slot = idx[i];
                    i += 1;
                }
            }
            lo = hi;
        }
        std::mem::swap(&mut idx, &mut buf);
        width *= 2;
    }
    Ok(idx)
}
