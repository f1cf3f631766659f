//! The hashed layout of a mutable dict or set.
//!
//! A header block that never moves (so handles to the dict and the slot
//! that owns it stay valid) names three things:
//!
//! - the **entries**, in chunks that never move (the list's chunk geometry,
//!   [`super::chunks`]): each holds the key's stored hash, the links of a
//!   doubly linked list in insertion order, the key slot and (dicts) the
//!   value slot. A removed entry is unlinked and put on a free list for
//!   reuse, so entries never move: `&mut i64` into a value slot stays valid
//!   across rehashes, and removal-heavy workloads reuse their entries;
//! - the **index**, an open-addressing table (linear probing) of `u32`
//!   entry numbers plus one, with `EMPTY` (0) and `DELETED` (`u32::MAX`)
//!   markers. It is the only part that is reallocated: on growth, on
//!   shrinking, and when tombstones would push the load past 5/8;
//! - the counters: `len`, entries handed out, tombstones, list heads.
//!
//! Entry numbers and links are stored as `e + 1`, 0 meaning "none".

mod probe;

pub(crate) use probe::{E_KEY, E_VALUE, Entry, Index, Lookup, Probe};

use super::chunks::{Chunks, capacity};
use super::{K_HASH_CHUNK, K_HASH_INDEX, Slot, T_DICT, payload, type_name};
use crate::Error;
use crate::alloc::Heap;
use crate::segment::Offset;

/// Payload bytes of a dict or set header: ten words.
pub(crate) const HASH_PAYLOAD: u64 = 80;
/// Index marker: never used (a probe stops here).
pub(crate) const EMPTY: u32 = 0;
/// Index marker: the entry was removed (a probe goes on).
pub(crate) const DELETED: u32 = u32::MAX;
/// Most entries a dict or set may hand out (entry numbers plus one must
/// stay below `DELETED`).
pub(crate) const MAX_ENTRIES: u64 = u32::MAX as u64 - 1;
/// Smallest index (slots).
pub(crate) const MIN_INDEX: u64 = 8;
/// Largest index (slots): enough for `MAX_ENTRIES` at load 1/2.
pub(crate) const MAX_INDEX: u64 = 1 << 33;

/// Bytes per entry: 48 for a dict, 32 for a set (no value slot).
#[inline]
pub(crate) fn stride_of(kind: u8) -> u64 {
    if kind == T_DICT { 48 } else { 32 }
}

/// Whether `n` occupied slots (live entries plus tombstones) overfill an
/// index of `cap` slots (load above 5/8).
#[inline]
fn overfull(n: u64, cap: u64) -> bool {
    n.saturating_mul(8) > cap.saturating_mul(5)
}

/// The index size for `n` live entries: load below 1/2 (0 for none).
#[inline]
pub(crate) fn target_cap(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        (2 * n + 1).next_power_of_two().max(MIN_INDEX)
    }
}

/// A dict or set header as read from the segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashLayout {
    pub(crate) b: Offset,
    pub(crate) kind: u8,
    pub(crate) stride: u64,
    /// Live entries.
    pub(crate) len: u64,
    /// Entries handed out (live or free); the rest of the chunks is fresh.
    pub(crate) used: u64,
    /// The index block (kind 37), null iff `cap == 0`.
    pub(crate) index: Offset,
    /// Index slots: 0 or a power of two `>= 8`.
    pub(crate) cap: u64,
    /// `DELETED` markers in the index.
    pub(crate) tombs: u64,
    /// The entries' chunk table.
    pub(crate) chunks: Chunks,
    /// First free entry (`e + 1`, 0: none), linked through `next`.
    pub(crate) free: u64,
    /// First and last entry in insertion order (`e + 1`, 0: none).
    pub(crate) head: u64,
    pub(crate) tail: u64,
}

#[cold]
#[inline(never)]
fn corrupt(b: Offset, kind: u8, what: &str) -> Error {
    Error::corrupt(b.get(), format!("{}: {what}", type_name(kind)))
}

fn too_many(heap: &Heap) -> Error {
    Error::OutOfMemory {
        requested: u64::MAX,
        free: heap.stats().free,
    }
}

impl HashLayout {
    /// A layout of nothing (for a walk that has nothing to walk).
    pub(crate) fn empty() -> HashLayout {
        HashLayout {
            b: Offset::NULL,
            kind: T_DICT,
            stride: 0,
            len: 0,
            used: 0,
            index: Offset::NULL,
            cap: 0,
            tombs: 0,
            chunks: Chunks::default(),
            free: 0,
            head: 0,
            tail: 0,
        }
    }

    /// Allocates an empty dict (`kind` 9) or set (`kind` 11).
    pub(crate) fn create(heap: &Heap, kind: u8) -> Result<Offset, Error> {
        let b = heap.alloc(HASH_PAYLOAD, kind)?;
        heap.mem.zero(payload(b), HASH_PAYLOAD)?;
        Ok(b)
    }

    /// Reads the header at `b` (a block of kind `kind`) and checks that its
    /// numbers agree.
    #[inline]
    pub(crate) fn read(heap: &Heap, b: Offset, kind: u8) -> Result<HashLayout, Error> {
        let p = heap.mem.ptr(payload(b), HASH_PAYLOAD, 8)? as *const u64;
        // SAFETY: `HASH_PAYLOAD` bytes in bounds, 8-aligned (checked above).
        let w = |i: usize| unsafe { p.add(i).read() };
        let l = HashLayout {
            b,
            kind,
            stride: stride_of(kind),
            len: w(0),
            used: w(1),
            index: Offset::new(w(2)),
            cap: w(3),
            tombs: w(4),
            chunks: Chunks {
                table: Offset::new(w(5)),
                nchunks: w(6),
            },
            free: w(7),
            head: w(8),
            tail: w(9),
        };
        if !l.consistent() {
            return Err(corrupt(b, kind, "header is inconsistent"));
        }
        Ok(l)
    }

    fn consistent(&self) -> bool {
        let index_ok = if self.cap == 0 {
            self.index.is_null() && self.len == 0 && self.tombs == 0
        } else {
            !self.index.is_null()
                && self.cap.is_power_of_two()
                && (MIN_INDEX..=MAX_INDEX).contains(&self.cap)
                && self
                    .len
                    .checked_add(self.tombs)
                    .is_some_and(|n| n < self.cap)
        };
        index_ok
            && self.chunks.consistent()
            && self.used <= capacity(self.chunks.nchunks)
            && self.used <= MAX_ENTRIES
            && self.len <= self.used
            && self.free <= self.used
            && self.head <= self.used
            && self.tail <= self.used
            && (self.len == 0) == (self.head == 0)
            && (self.len == 0) == (self.tail == 0)
    }

    /// Journal bytes one insertion may save: the new entry, the old tail,
    /// an index slot, and header stores (its own, and those of a rehash and
    /// of added chunks while reserving room).
    pub(crate) fn insert_journal(&self) -> u64 {
        2 * (16 + self.stride) + 24 + 4 * (16 + HASH_PAYLOAD)
    }

    /// Journal bytes `n` removals may save: index slots (each tombstone
    /// may be cleared once), three entries each, header stores, and the
    /// settling rehash or release.
    pub(crate) fn remove_journal(&self, n: u64) -> u64 {
        n * (24 + 3 * (16 + self.stride) + 16 + HASH_PAYLOAD)
            + 24 * self.tombs
            + 2 * (16 + HASH_PAYLOAD)
    }

    /// Journals entry `e` (before it is rewritten).
    fn save_entry(&self, heap: &Heap, e: u64) -> Result<(), Error> {
        heap.save(self.entry_offset(heap, e)?, self.stride)
    }

    /// Journals the `u32` link at `field` (`E_PREV` or `E_NEXT`) of entry
    /// `e` (before it changes).
    fn save_link(&self, heap: &Heap, e: u64, field: usize) -> Result<(), Error> {
        heap.save(self.entry_offset(heap, e)?.add(field as u64), 4)
    }

    /// Journals index slot `pos` (before it changes).
    fn save_ix(heap: &Heap, ix: &Index, pos: u64) -> Result<(), Error> {
        // SAFETY: `pos & mask` is in bounds of the index (see `Index::get`).
        heap.save_ptr(
            unsafe { ix.p.add((pos & ix.mask) as usize) } as *const u8,
            4,
        )
    }

    /// Writes the header back (publishes a change), journaling the old one
    /// first: an operation's header stores are its publishing steps.
    pub(crate) fn store(&self, heap: &Heap) -> Result<(), Error> {
        heap.save(payload(self.b), HASH_PAYLOAD)?;
        let p = heap.mem.ptr(payload(self.b), HASH_PAYLOAD, 8)? as *mut u64;
        let words = [
            self.len,
            self.used,
            self.index.get(),
            self.cap,
            self.tombs,
            self.chunks.table.get(),
            self.chunks.nchunks,
            self.free,
            self.head,
            self.tail,
        ];
        // SAFETY: `HASH_PAYLOAD` bytes in bounds, 8-aligned; we hold the
        // turn.
        unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), p, words.len()) };
        Ok(())
    }

    /// Whether entries carry a value slot (a dict).
    #[inline]
    pub(crate) fn has_values(&self) -> bool {
        self.kind == T_DICT
    }

    /// Offset of entry `e` (`e < used`).
    #[inline(always)]
    pub(crate) fn entry_offset(&self, heap: &Heap, e: u64) -> Result<Offset, Error> {
        if e >= self.used {
            return Err(corrupt(
                self.b,
                self.kind,
                "link to an entry never handed out",
            ));
        }
        self.chunks.item(heap, e, self.stride)
    }

    /// Entry `e` (`e < used`), in place.
    #[inline(always)]
    pub(crate) fn entry(&self, heap: &Heap, e: u64) -> Result<Entry, Error> {
        let off = self.entry_offset(heap, e)?;
        let p = heap.mem.ptr(off, self.stride, 16)?;
        // SAFETY: `stride` bytes in bounds and 16-aligned, checked above;
        // chunks are only freed when the table becomes empty.
        Ok(unsafe { Entry::from_ptr(p, self.has_values()) })
    }

    /// The index, in place (`cap > 0`).
    #[inline(always)]
    pub(crate) fn index(&self, heap: &Heap) -> Result<Index, Error> {
        let at = self
            .index
            .checked_add(crate::alloc::HDR)
            .filter(|_| self.cap > 0)
            .ok_or_else(|| corrupt(self.b, self.kind, "no index"))?;
        let p = heap.mem.ptr(at, 4 * self.cap, 4)?;
        Ok(Index {
            p: p as *mut u32,
            mask: self.cap - 1,
        })
    }

    /// Looks for the key of hash `h`: `is_key` is asked about each entry
    /// whose stored hash is `h`.
    #[inline]
    pub(crate) fn probe(
        &self,
        heap: &Heap,
        h: u64,
        is_key: impl FnMut(Entry) -> Result<bool, Error>,
    ) -> Result<Probe, Error> {
        self.lookup(heap)?.probe(h, is_key)
    }

    /// What a lookup needs, from this header.
    #[inline]
    pub(crate) fn lookup(&self, heap: &Heap) -> Result<Lookup, Error> {
        Lookup::new(
            heap,
            self.b,
            self.kind,
            self.used,
            self.index,
            self.cap,
            self.chunks,
        )
    }

    /// What a lookup needs, read straight from the header at `b` (five
    /// words, without [`HashLayout::read`]'s full consistency check: every
    /// access it makes is bounds-checked anyway). The fast path of `get`.
    #[inline(always)]
    pub(crate) fn lookup_at(heap: &Heap, b: Offset, kind: u8) -> Result<Lookup, Error> {
        let p = heap.mem.ptr(payload(b), HASH_PAYLOAD, 8)? as *const u64;
        // SAFETY: `HASH_PAYLOAD` bytes in bounds, 8-aligned (checked above).
        let w = |i: usize| unsafe { p.add(i).read() };
        let chunks = Chunks {
            table: Offset::new(w(5)),
            nchunks: w(6),
        };
        Lookup::new(heap, b, kind, w(1), Offset::new(w(2)), w(3), chunks)
    }

    /// Where a new key of hash `h` goes (the first free index slot on its
    /// probe sequence; the key must be absent).
    fn vacancy(&self, heap: &Heap, h: u64) -> Result<u64, Error> {
        let ix = self.index(heap)?;
        let mut pos = h & ix.mask;
        for _ in 0..self.cap {
            if matches!(ix.get(pos), EMPTY | DELETED) {
                return Ok(pos);
            }
            pos = (pos + 1) & ix.mask;
        }
        Err(corrupt(self.b, self.kind, "index has no empty slot"))
    }

    /// The index slot that names entry `e` of hash `h`.
    pub(crate) fn position_of(&self, heap: &Heap, e: u64, h: u64) -> Result<u64, Error> {
        if self.cap > 0 {
            let ix = self.index(heap)?;
            let mut pos = h & ix.mask;
            for _ in 0..self.cap {
                match ix.get(pos) {
                    EMPTY => break,
                    v if v as u64 == e + 1 => return Ok(pos),
                    _ => pos = (pos + 1) & ix.mask,
                }
            }
        }
        Err(corrupt(
            self.b,
            self.kind,
            "live entry missing from the index",
        ))
    }

    /// Calls `f(e, entry)` for each live entry in insertion order (at most
    /// `len` steps, so a damaged list cannot loop).
    pub(crate) fn walk(
        &self,
        heap: &Heap,
        mut f: impl FnMut(u64, Entry) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut cur = self.head;
        for _ in 0..self.len {
            if cur == 0 {
                return Err(corrupt(self.b, self.kind, "order list shorter than len"));
            }
            let entry = self.entry(heap, cur - 1)?;
            let next = entry.next();
            f(cur - 1, entry)?;
            cur = next;
        }
        if cur != 0 {
            return Err(corrupt(self.b, self.kind, "order list longer than len"));
        }
        Ok(())
    }

    /// Makes room for `extra` more entries: grows (or cleans) the index if
    /// they would load it past 5/8, adds chunks if the free and fresh
    /// entries are too few. Returns whether the index moved (positions from
    /// an earlier probe are stale then). On out of memory the content is
    /// unchanged (a new index or chunks may stay as spare room).
    pub(crate) fn reserve(&mut self, heap: &Heap, extra: u64) -> Result<bool, Error> {
        if extra == 0 {
            return Ok(false);
        }
        let want = self
            .len
            .checked_add(extra)
            .filter(|&n| n <= MAX_ENTRIES)
            .ok_or_else(|| too_many(heap))?;
        let mut moved = false;
        if self.cap == 0 || overfull(self.len + self.tombs + extra, self.cap) {
            self.rehash(heap, target_cap(want))?;
            moved = true;
        }
        while self.chunks.capacity() < want {
            let mut c = self.chunks;
            let before = *self;
            c.add(heap, self.stride, K_HASH_CHUNK, |c| {
                HashLayout {
                    chunks: *c,
                    ..before
                }
                .store(heap)
            })?;
            self.chunks = c;
        }
        Ok(moved)
    }

    /// Takes back a [`HashLayout::reserve`] that failed half-way (a new
    /// index published, then no memory for a chunk): rolls the journal back
    /// to `before` (the caller committed just before reserving, so the
    /// journal holds only the reserve's records) and frees what it had
    /// allocated, so that running out of memory changes nothing, not even
    /// the space in use.
    pub(crate) fn undo_reserve(&mut self, heap: &Heap, before: HashLayout) -> Result<(), Error> {
        if heap.rollback(true)? == 0 {
            // Nothing was published (or a new object is being built, whose
            // caller frees it whole).
            return Ok(());
        }
        let failed = std::mem::replace(self, before);
        if failed.index != before.index && !failed.index.is_null() {
            heap.free_now(failed.index)?;
        }
        for k in before.chunks.nchunks..failed.chunks.nchunks {
            heap.free_now(failed.chunks.chunk(heap, k)?)?;
        }
        if failed.chunks.table != before.chunks.table && !failed.chunks.table.is_null() {
            heap.free_now(failed.chunks.table)?;
        }
        Ok(())
    }

    /// Builds a new index of `new_cap` slots from the order list, publishes
    /// it, then frees the old one. Entries do not move.
    pub(crate) fn rehash(&mut self, heap: &Heap, new_cap: u64) -> Result<(), Error> {
        let old = self.index;
        if new_cap == 0 {
            if self.len != 0 {
                return Err(corrupt(self.b, self.kind, "no index for live entries"));
            }
            self.index = Offset::NULL;
            self.cap = 0;
        } else {
            if new_cap <= self.len || !new_cap.is_power_of_two() || new_cap > MAX_INDEX {
                return Err(corrupt(self.b, self.kind, "index size out of range"));
            }
            let nb = heap.alloc(4 * new_cap, K_HASH_INDEX)?;
            let built = heap.mem.zero(payload(nb), 4 * new_cap).and_then(|()| {
                let ix = HashLayout {
                    index: nb,
                    cap: new_cap,
                    ..*self
                }
                .index(heap)?;
                self.walk(heap, |e, entry| {
                    let mut pos = entry.hash() & ix.mask;
                    while ix.get(pos) != EMPTY {
                        pos = (pos + 1) & ix.mask;
                    }
                    ix.set(pos, (e + 1) as u32);
                    Ok(())
                })
            });
            if let Err(e) = built {
                heap.free(nb)?;
                return Err(e);
            }
            self.index = nb;
            self.cap = new_cap;
        }
        self.tombs = 0;
        self.store(heap)?;
        if !old.is_null() {
            heap.free(old)?;
        }
        Ok(())
    }

    /// Takes a free entry, or a fresh one (room must have been reserved).
    fn take_entry(&mut self, heap: &Heap) -> Result<u64, Error> {
        if self.free != 0 {
            let e = self.free - 1;
            self.free = self.entry(heap, e)?.next();
            Ok(e)
        } else if self.used < self.chunks.capacity() && self.used < MAX_ENTRIES {
            self.used += 1;
            Ok(self.used - 1)
        } else {
            Err(corrupt(self.b, self.kind, "no room reserved for an entry"))
        }
    }

    /// Adds a new entry (key absent, room reserved, `pos` from a probe or
    /// [`HashLayout::vacancy`] after the reserve) and returns its number.
    /// The entry is written completely before it is linked; the header
    /// store publishes it.
    pub(crate) fn insert_entry(
        &mut self,
        heap: &Heap,
        h: u64,
        key: Slot,
        value: Slot,
        pos: u64,
    ) -> Result<u64, Error> {
        let ix = self.index(heap)?;
        let was = ix.get(pos);
        if was != EMPTY && was != DELETED {
            return Err(corrupt(self.b, self.kind, "insert into a used index slot"));
        }
        let reused = self.free != 0;
        let e = self.take_entry(heap)?;
        let entry = self.entry(heap, e)?;
        if reused {
            // A free-list entry is committed (the list links through it);
            // a fresh one past `used` is not.
            self.save_entry(heap, e)?;
        }
        entry.write(h, self.tail, 0, key, value);
        if self.tail != 0 {
            self.save_link(heap, self.tail - 1, probe::E_NEXT)?;
            self.entry(heap, self.tail - 1)?.set_next(e + 1);
        } else {
            self.head = e + 1;
        }
        self.tail = e + 1;
        Self::save_ix(heap, &ix, pos)?;
        ix.set(pos, (e + 1) as u32);
        if was == DELETED {
            self.tombs = self
                .tombs
                .checked_sub(1)
                .ok_or_else(|| corrupt(self.b, self.kind, "tombstone count is wrong"))?;
        }
        self.len += 1;
        self.store(heap)?;
        Ok(e)
    }

    /// Adds a new entry whose key is known to be absent: finds its index
    /// slot after [`HashLayout::reserve`].
    pub(crate) fn insert_absent(
        &mut self,
        heap: &Heap,
        h: u64,
        key: Slot,
        value: Slot,
    ) -> Result<u64, Error> {
        let pos = self.vacancy(heap, h)?;
        self.insert_entry(heap, h, key, value, pos)
    }

    /// Removes entry `e` (named by index slot `pos`): marks the index slot
    /// (`EMPTY` when the probe run ends after it, clearing the tombstones
    /// before it too; else `DELETED`), unlinks the entry from the order
    /// list, puts it on the free list, stores the header. Returns the key
    /// and value slots, which still own their objects: the caller frees
    /// them.
    pub(crate) fn remove_entry(
        &mut self,
        heap: &Heap,
        e: u64,
        pos: u64,
    ) -> Result<(Slot, Slot), Error> {
        let entry = self.entry(heap, e)?;
        let (key, value) = (entry.key(), entry.value());
        let ix = self.index(heap)?;
        if ix.get(pos) as u64 != e + 1 {
            return Err(corrupt(
                self.b,
                self.kind,
                "index slot does not name the entry",
            ));
        }
        let (b, kind) = (self.b, self.kind);
        let broken = || corrupt(b, kind, "tombstone count is wrong");
        if ix.get(pos + 1) == EMPTY {
            Self::save_ix(heap, &ix, pos)?;
            ix.set(pos, EMPTY);
            let mut q = pos.wrapping_sub(1) & ix.mask;
            while ix.get(q) == DELETED {
                Self::save_ix(heap, &ix, q)?;
                ix.set(q, EMPTY);
                self.tombs = self.tombs.checked_sub(1).ok_or_else(broken)?;
                q = q.wrapping_sub(1) & ix.mask;
            }
        } else {
            Self::save_ix(heap, &ix, pos)?;
            ix.set(pos, DELETED);
            self.tombs += 1;
        }
        let (p, n) = (entry.prev(), entry.next());
        if p != 0 {
            self.save_link(heap, p - 1, probe::E_NEXT)?;
            self.entry(heap, p - 1)?.set_next(n);
        } else {
            self.head = n;
        }
        if n != 0 {
            self.save_link(heap, n - 1, probe::E_PREV)?;
            self.entry(heap, n - 1)?.set_prev(p);
        } else {
            self.tail = p;
        }
        self.save_entry(heap, e)?;
        entry.write(0, 0, self.free, Slot::NONE, Slot::NONE);
        self.free = e + 1;
        self.len -= 1;
        self.store(heap)?;
        Ok((key, value))
    }

    /// After removals: frees all storage when empty, or shrinks the index
    /// when it is less than 1/8 full (skipped if memory is short).
    pub(crate) fn settle(&mut self, heap: &Heap) -> Result<(), Error> {
        if self.len == 0 {
            return self.release(heap);
        }
        if self.cap > MIN_INDEX && self.len * 8 < self.cap {
            match self.rehash(heap, target_cap(self.len)) {
                Err(Error::OutOfMemory { .. }) => {}
                r => r?,
            }
        }
        Ok(())
    }

    /// Unpublishes the index and the entries (the header says empty), then
    /// frees them. What the entries owned must have been taken already.
    pub(crate) fn release(&mut self, heap: &Heap) -> Result<(), Error> {
        let old = *self;
        *self = HashLayout {
            b: old.b,
            kind: old.kind,
            stride: old.stride,
            ..HashLayout::empty()
        };
        self.store(heap)?;
        old.free_storage(heap)
    }

    /// Frees the index, the chunks and their table (not the header, nor
    /// what the entries own).
    pub(crate) fn free_storage(&self, heap: &Heap) -> Result<(), Error> {
        if !self.index.is_null() {
            heap.free(self.index)?;
        }
        self.chunks.free_storage(heap)
    }

    /// The objects the live entries own (keys, then values), for freeing.
    pub(crate) fn owned(&self, heap: &Heap, out: &mut Vec<Offset>) -> Result<(), Error> {
        self.walk(heap, |_, entry| {
            out.extend(entry.key().ptr());
            out.extend(entry.value().ptr());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
