//! What shared dicts and sets have in common in the value layer: hashed
//! lookups with Python's equality, the walk in insertion order, and adding
//! and removing entries all-or-nothing.

use std::collections::HashMap;
use std::marker::PhantomData;

use super::eq::{Py, eq, hash};
use super::{Value, ValueRef, free_slot, hash_value, py_eq};
use crate::Error;
use crate::alloc::Heap;
use crate::format::chunks::Cursor;
use crate::format::hashed::{Entry, HashLayout, Lookup, Probe};
use crate::format::{Slot, T_BOOL, T_BYTES, T_FLOAT, T_INT, T_NONE, T_STR, payload};
use crate::segment::Offset;

/// The value a slot holds, in place.
///
/// # Safety
/// As [`ValueRef::from_slot`]: `'t` must not outlive the caller's borrow of
/// the turn, and nothing may write the value while the view lives.
#[inline(always)]
pub(crate) unsafe fn view<'t>(heap: Heap, s: Slot) -> Result<ValueRef<'t>, Error> {
    // Scalars built here, in the caller's frame (the hot path of `get`).
    Ok(match s.tag {
        T_NONE => ValueRef::None,
        T_BOOL => ValueRef::Bool(s.payload != 0),
        T_INT => ValueRef::Int(s.payload as i64),
        T_FLOAT => ValueRef::Float(f64::from_bits(s.payload)),
        // SAFETY: forwarded contract.
        _ => return unsafe { ValueRef::from_slot(heap, s) },
    })
}

/// Copies the value a slot holds out of the segment.
pub(crate) fn copy_out(heap: Heap, s: Slot) -> Result<Value, Error> {
    // SAFETY: the view dies in this statement; the caller holds the turn.
    unsafe { ValueRef::from_slot(heap, s) }?.to_value()
}

/// Whether the key in slot `s` equals `key`: ints, strs and bytes compared
/// in place, anything else through Python's equality.
#[inline]
fn key_eq(heap: &Heap, s: Slot, key: &Value) -> Result<bool, Error> {
    let blob = |want: &[u8]| -> Result<bool, Error> {
        let b = Offset::new(s.payload);
        let m = heap.mem;
        if m.u64(payload(b))? != want.len() as u64 {
            return Ok(false);
        }
        // SAFETY: bounds-checked; the slice dies in this closure while we
        // hold the turn.
        Ok(unsafe { m.bytes(payload(b).add(8), want.len() as u64)? } == want)
    };
    match (key, s.tag) {
        (Value::Int(i), T_INT) => Ok(s.payload as i64 == *i),
        (Value::Str(x), T_STR) => blob(x.as_bytes()),
        (Value::Bytes(x), T_BYTES) => blob(x),
        _ => {
            // SAFETY: the view dies in this statement; we hold the turn.
            let k = unsafe { ValueRef::from_slot(*heap, s)? };
            eq(k, key, 0)
        }
    }
}

/// Looks up an owned key of hash `h`.
#[inline]
pub(crate) fn find_value(heap: &Heap, l: &HashLayout, key: &Value, h: u64) -> Result<Probe, Error> {
    find_in(heap, &l.lookup(heap)?, key, h)
}

/// Looks up an owned key of hash `h` through `lk`.
#[inline(always)]
pub(crate) fn find_in(heap: &Heap, lk: &Lookup, key: &Value, h: u64) -> Result<Probe, Error> {
    lk.probe(h, |entry| key_eq(heap, entry.key(), key))
}

/// Looks up any key (owned or in a segment); an unhashable key is absent.
pub(crate) fn find_py<K: Py>(
    heap: &Heap,
    l: &HashLayout,
    key: K,
    depth: u32,
) -> Result<Option<Entry>, Error> {
    let h = match hash(key, depth) {
        Ok(h) => h,
        Err(Error::Unhashable { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let probe = l.probe(heap, h, |entry| {
        // SAFETY: the view dies in this closure; we hold the turn.
        let k = unsafe { ValueRef::from_slot(*heap, entry.key())? };
        eq(k, key, depth)
    })?;
    Ok(match probe {
        Probe::Found { entry, .. } => Some(entry),
        Probe::Absent { .. } => None,
    })
}

/// The live entries of a dict or set in insertion order, through a cursor
/// over the chunk of the last one (`S`: the entry size).
pub(crate) struct Order<'t, const S: usize> {
    heap: Heap,
    l: HashLayout,
    next: u64,
    left: u64,
    cur: Cursor<S>,
    broken: Option<Error>,
    _t: PhantomData<&'t ()>,
}

impl<'t, const S: usize> Order<'t, S> {
    /// The walk over `l` (a header that did not read gives one error).
    pub(crate) fn new(heap: Heap, l: Result<HashLayout, Error>) -> Order<'t, S> {
        let (l, broken) = match l {
            Ok(l) => (l, None),
            Err(e) => (HashLayout::empty(), Some(e)),
        };
        debug_assert!(broken.is_some() || S as u64 == l.stride);
        Order {
            heap,
            l,
            next: l.head,
            left: l.len + broken.is_some() as u64,
            cur: Cursor::EMPTY,
            broken,
            _t: PhantomData,
        }
    }

    /// Entries not yet reached.
    pub(crate) fn left(&self) -> usize {
        self.left as usize
    }

    /// The next entry.
    #[inline]
    pub(crate) fn next_entry(&mut self) -> Option<Result<Entry, Error>> {
        if self.left == 0 {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }

    fn step(&mut self) -> Result<Entry, Error> {
        if let Some(e) = self.broken.take() {
            return Err(e);
        }
        if self.next == 0 || self.next > self.l.used {
            return Err(Error::corrupt(
                self.l.b.get(),
                "order list shorter than len",
            ));
        }
        let e = self.next - 1;
        let p = match self.cur.get(e) {
            Some(p) => p,
            None => {
                self.cur = self.l.chunks.cursor::<S>(&self.heap, e)?;
                self.cur
                    .get(e)
                    .ok_or_else(|| Error::corrupt(self.l.b.get(), "cursor misses its entry"))?
            }
        };
        // SAFETY: the cursor checked that its chunk of `S`-byte entries is
        // in bounds (16-aligned: chunks are blocks, entries 16·k bytes);
        // chunks are not freed while `'t` (a borrow of the turn) lives.
        let entry = unsafe { Entry::from_ptr(p, self.l.has_values()) };
        self.next = entry.next();
        self.left -= 1;
        Ok(entry)
    }
}

/// A batch of keys (and values, for a dict) to put into a table.
pub(crate) type Items<'a> = [(&'a Value, Option<&'a Value>)];

/// Indices of the distinct keys of `items` (first occurrence) and, for
/// each, the index of its last occurrence (whose value counts), with the
/// keys' hashes.
fn distinct(items: &Items<'_>) -> Result<Vec<(usize, usize, u64)>, Error> {
    let mut out: Vec<(usize, usize, u64)> = Vec::with_capacity(items.len());
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, (k, _)) in items.iter().enumerate() {
        let h = hash_value(k)?;
        let slot = if items.len() <= 16 {
            out.iter_mut()
                .find(|(first, _, h2)| *h2 == h && py_eq(items[*first].0, k))
        } else {
            let bucket = by_hash.entry(h).or_default();
            match bucket.iter().find(|&&u| py_eq(items[out[u].0].0, k)) {
                Some(&u) => Some(&mut out[u]),
                None => {
                    bucket.push(out.len());
                    None
                }
            }
        };
        match slot {
            Some(found) => found.1 = i,
            None => out.push((i, i, h)),
        }
    }
    Ok(out)
}

/// Puts every key of `items` into the table `l` (a dict also stores the
/// value; a key given twice keeps its first position and its last value,
/// and a key already present keeps its place and gets the new value). All
/// or nothing: every new key and value is written first (by `write`), room
/// is reserved, and only then is anything linked. Returns the slots of the
/// values replaced, which the caller frees.
pub(crate) fn put_all(
    heap: &Heap,
    l: &mut HashLayout,
    items: &Items<'_>,
    write: &dyn Fn(&Value) -> Result<Slot, Error>,
) -> Result<Vec<Slot>, Error> {
    let keys = distinct(items)?;
    // Where each distinct key is now.
    let mut found: Vec<Option<Entry>> = Vec::with_capacity(keys.len());
    for &(first, _, h) in &keys {
        found.push(if l.len == 0 {
            None
        } else {
            match find_value(heap, l, items[first].0, h)? {
                Probe::Found { entry, .. } => Some(entry),
                Probe::Absent { .. } => None,
            }
        });
    }
    // Write what goes in.
    let mut written: Vec<(Slot, Slot)> = Vec::with_capacity(keys.len());
    let free_written = |written: &[(Slot, Slot)]| -> Result<(), Error> {
        for &(k, v) in written {
            free_slot(heap, k)?;
            free_slot(heap, v)?;
        }
        Ok(())
    };
    for (&(first, last, _), at) in keys.iter().zip(&found) {
        let value = |v: Option<&Value>| match v {
            Some(v) if l.has_values() => write(v),
            _ => Ok(Slot::NONE),
        };
        let r = match at {
            Some(_) => value(items[last].1).map(|v| (Slot::NONE, v)),
            None => write(items[first].0).and_then(|k| match value(items[last].1) {
                Ok(v) => Ok((k, v)),
                Err(e) => {
                    free_slot(heap, k)?;
                    Err(e)
                }
            }),
        };
        match r {
            Ok(s) => written.push(s),
            Err(e) => {
                free_written(&written)?;
                return Err(e);
            }
        }
    }
    let new = found.iter().filter(|f| f.is_none()).count() as u64;
    let room = new * l.insert_journal() + 32 * (keys.len() as u64 - new) + 64 * (16 + 80);
    heap.commit()?;
    let before = *l;
    if let Err(e) = heap.journal_room(room).and_then(|()| l.reserve(heap, new)) {
        l.undo_reserve(heap, before)?;
        free_written(&written)?;
        return Err(e);
    }
    // Link: nothing can run out of memory from here on.
    let mut old = Vec::new();
    for ((&(_, _, h), at), &(k, v)) in keys.iter().zip(&found).zip(&written) {
        match at {
            Some(entry) if l.has_values() => {
                old.push(entry.value());
                save_value(heap, *entry)?;
                entry.set_value(v);
            }
            Some(_) => {}
            None => {
                l.insert_absent(heap, h, k, v)?;
            }
        }
    }
    heap.commit()?;
    Ok(old)
}

/// Journals a dict entry's value slot (before it is replaced).
fn save_value(heap: &Heap, entry: Entry) -> Result<(), Error> {
    match entry.value_ptr() {
        Some(p) => heap.save_ptr(p, 16),
        None => Ok(()),
    }
}

/// What [`put`] did.
pub(crate) enum Put {
    /// The key was new: entry `e`.
    Added(u64),
    /// The key was there (its old value, for a dict; with `replace`).
    Present(Option<Value>, Entry),
}

/// Puts one key (and value, for a dict): the fast path of [`put_all`].
/// A present key keeps its place; with `replace` a dict stores the new
/// value and gives the old one back.
#[inline]
pub(crate) fn put(
    heap: &Heap,
    l: &mut HashLayout,
    key: Value,
    value: Value,
    replace: bool,
    write: impl Fn(Value) -> Result<Slot, Error>,
) -> Result<Put, Error> {
    let h = hash_value(&key)?;
    match find_value(heap, l, &key, h)? {
        Probe::Found { entry, .. } => {
            if !l.has_values() || !replace {
                return Ok(Put::Present(None, entry));
            }
            let old = entry.value();
            let out = copy_out(*heap, old)?;
            let new = write(value)?;
            if let Err(e) = save_value(heap, entry) {
                free_slot(heap, new)?;
                return Err(e);
            }
            entry.set_value(new);
            heap.commit()?;
            free_slot(heap, old)?;
            Ok(Put::Present(Some(out), entry))
        }
        Probe::Absent { pos } => {
            let k = write(key)?;
            let v = if l.has_values() {
                match write(value) {
                    Ok(v) => v,
                    Err(e) => {
                        free_slot(heap, k)?;
                        return Err(e);
                    }
                }
            } else {
                Slot::NONE
            };
            heap.commit()?;
            let before = *l;
            let e = match heap
                .journal_room(l.insert_journal())
                .and_then(|()| l.reserve(heap, 1))
            {
                Ok(moved) => match pos {
                    Some(pos) if !moved => l.insert_entry(heap, h, k, v, pos)?,
                    _ => l.insert_absent(heap, h, k, v)?,
                },
                Err(e) => {
                    l.undo_reserve(heap, before)?;
                    free_slot(heap, k)?;
                    free_slot(heap, v)?;
                    return Err(e);
                }
            };
            heap.commit()?;
            Ok(Put::Added(e))
        }
    }
}

/// Removes entry `e` (index slot `pos`), then shrinks or releases the
/// table; returns the key and value slots (still owning their objects).
pub(crate) fn take(
    heap: &Heap,
    l: &mut HashLayout,
    e: u64,
    pos: u64,
) -> Result<(Slot, Slot), Error> {
    heap.journal_room(l.remove_journal(1))?;
    let slots = l.remove_entry(heap, e, pos)?;
    l.settle(heap)?;
    heap.commit()?;
    Ok(slots)
}

/// Removes every entry: unpublishes the storage, then frees it and what
/// the entries owned.
pub(crate) fn clear(heap: &Heap, l: &mut HashLayout) -> Result<(), Error> {
    let mut owned = Vec::new();
    l.owned(heap, &mut owned)?;
    l.release(heap)?;
    heap.commit()?;
    for b in owned {
        crate::format::free_object(heap, b)?;
    }
    Ok(())
}
