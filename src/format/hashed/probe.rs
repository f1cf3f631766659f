//! Dict and set entries and the index, in place, and the lookup over
//! them: the pointers here were bounds-checked when they were made, so the
//! hot path of a lookup reads without further checks.

use super::super::chunks::{CHUNK_ITEMS, Chunks, MAX_CHUNKS, TABLE_ENTRIES, locate};
use super::super::{Slot, T_DICT};
use super::{DELETED, EMPTY, MAX_ENTRIES, MAX_INDEX, corrupt, stride_of};
use crate::Error;
use crate::alloc::Heap;
use crate::segment::Offset;

/// Entry fields: stored hash, order links (`u32` each), key slot, value slot.
const E_HASH: usize = 0;
pub(super) const E_PREV: usize = 8;
pub(super) const E_NEXT: usize = 12;
/// Offset of the key slot in an entry.
pub(crate) const E_KEY: u64 = 16;
/// Offset of the value slot in a dict entry.
pub(crate) const E_VALUE: u64 = 32;

/// One entry, in place: the pointer is to `stride` bytes inside the
/// segment, checked when the entry was looked up. Valid while the turn is
/// held and the entry's chunk is not freed (the table's storage is only
/// freed when it becomes empty).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    p: *mut u8,
    has_value: bool,
}

impl Entry {
    /// # Safety
    /// `p` must point to an entry's `stride` bytes inside the segment,
    /// 16-aligned, and stay valid (and exclusively ours during the turn)
    /// while the `Entry` is used; `has_value` says whether it is a dict's.
    #[inline(always)]
    pub(crate) unsafe fn from_ptr(p: *mut u8, has_value: bool) -> Entry {
        Entry { p, has_value }
    }

    #[inline(always)]
    fn u64_at(&self, at: usize) -> u64 {
        // SAFETY: `at + 8 <= 16 <= stride`, 8-aligned (see `from_ptr`).
        unsafe { (self.p.add(at) as *const u64).read() }
    }

    #[inline(always)]
    fn u32_at(&self, at: usize) -> u64 {
        // SAFETY: as in `u64_at`.
        unsafe { (self.p.add(at) as *const u32).read() as u64 }
    }

    #[inline(always)]
    fn set_u32(&self, at: usize, v: u64) {
        // SAFETY: as in `u64_at`; the turn makes the write exclusive.
        unsafe { (self.p.add(at) as *mut u32).write(v as u32) }
    }

    /// The stored hash of the key.
    #[inline(always)]
    pub(crate) fn hash(&self) -> u64 {
        self.u64_at(E_HASH)
    }

    /// The previous entry in insertion order (`e + 1`; 0: none).
    #[inline]
    pub(crate) fn prev(&self) -> u64 {
        self.u32_at(E_PREV)
    }

    /// The next entry in insertion order (or on the free list).
    #[inline]
    pub(crate) fn next(&self) -> u64 {
        self.u32_at(E_NEXT)
    }

    pub(super) fn set_prev(&self, v: u64) {
        self.set_u32(E_PREV, v)
    }

    pub(super) fn set_next(&self, v: u64) {
        self.set_u32(E_NEXT, v)
    }

    /// Pointer to the key slot.
    #[inline(always)]
    pub(crate) fn key_ptr(&self) -> *mut u8 {
        // SAFETY: the key slot is inside the entry.
        unsafe { self.p.add(E_KEY as usize) }
    }

    /// Pointer to the value slot (a set entry has none: `None`).
    #[inline(always)]
    pub(crate) fn value_ptr(&self) -> Option<*mut u8> {
        // SAFETY: a dict entry's value slot is inside the entry.
        self.has_value
            .then(|| unsafe { self.p.add(E_VALUE as usize) })
    }

    /// The key slot.
    #[inline(always)]
    pub(crate) fn key(&self) -> Slot {
        // SAFETY: 16 bytes inside the entry, 16-aligned; any bytes are a
        // valid `Slot`.
        unsafe { (self.key_ptr() as *const Slot).read() }
    }

    /// The value slot (None for a set entry).
    #[inline(always)]
    pub(crate) fn value(&self) -> Slot {
        match self.value_ptr() {
            // SAFETY: as in `key`.
            Some(p) => unsafe { (p as *const Slot).read() },
            None => Slot::NONE,
        }
    }

    /// Stores the value slot (ignored for a set entry).
    #[inline]
    pub(crate) fn set_value(&self, s: Slot) {
        if let Some(p) = self.value_ptr() {
            // SAFETY: as in `key`; the turn makes the write exclusive.
            unsafe { (p as *mut Slot).write(s) }
        }
    }

    /// Writes every field.
    pub(super) fn write(&self, hash: u64, prev: u64, next: u64, key: Slot, value: Slot) {
        // SAFETY: as in `u64_at`; the turn makes the writes exclusive.
        unsafe {
            (self.p.add(E_HASH) as *mut u64).write(hash);
            (self.key_ptr() as *mut Slot).write(key);
        }
        self.set_prev(prev);
        self.set_next(next);
        self.set_value(value);
    }
}

/// The index, in place: `mask + 1` `u32` slots, checked when it was made.
/// Valid until the index is replaced (rehash) or freed.
#[derive(Clone, Copy)]
pub(crate) struct Index {
    pub(super) p: *mut u32,
    pub(super) mask: u64,
}

impl Index {
    /// Slot `pos` (modulo the size).
    #[inline(always)]
    pub(crate) fn get(&self, pos: u64) -> u32 {
        // SAFETY: `pos & mask < cap`, and `HashLayout::index` checked that
        // `cap` slots are in bounds.
        unsafe { self.p.add((pos & self.mask) as usize).read() }
    }

    #[inline(always)]
    pub(super) fn set(&self, pos: u64, v: u32) {
        // SAFETY: as in `get`; the turn makes the write exclusive.
        unsafe { self.p.add((pos & self.mask) as usize).write(v) }
    }
}

/// The parts of a dict or set that a lookup reads, in place: the index and
/// the chunk table, checked once when made. Valid until the table changes
/// (a lookup is made for one operation).
#[derive(Clone, Copy)]
pub(crate) struct Lookup {
    mem: crate::segment::Mem,
    b: Offset,
    kind: u8,
    ix: Index,
    cap: u64,
    used: u64,
    table: *const u64,
    nchunks: u64,
    stride: u64,
}

impl Lookup {
    #[inline(always)]
    pub(super) fn new(
        heap: &Heap,
        b: Offset,
        kind: u8,
        used: u64,
        index: Offset,
        cap: u64,
        chunks: Chunks,
    ) -> Result<Lookup, Error> {
        if (cap != 0 && !cap.is_power_of_two())
            || cap > MAX_INDEX
            || chunks.nchunks > MAX_CHUNKS
            || used > MAX_ENTRIES
        {
            return Err(corrupt(b, kind, "header is inconsistent"));
        }
        let m = heap.mem;
        let ix = if cap == 0 {
            Index {
                p: std::ptr::null_mut(),
                mask: 0,
            }
        } else {
            let at = index
                .checked_add(crate::alloc::HDR)
                .ok_or_else(|| corrupt(b, kind, "index offset overflows"))?;
            Index {
                p: m.ptr(at, 4 * cap, 4)? as *mut u32,
                mask: cap - 1,
            }
        };
        let table = if chunks.nchunks == 0 {
            std::ptr::null()
        } else {
            let at = chunks
                .table
                .checked_add(TABLE_ENTRIES)
                .ok_or_else(|| corrupt(b, kind, "chunk table offset overflows"))?;
            m.ptr(at, 8 * chunks.nchunks, 8)? as *const u64
        };
        Ok(Lookup {
            mem: m,
            b,
            kind,
            ix,
            cap,
            used,
            table,
            nchunks: chunks.nchunks,
            stride: stride_of(kind),
        })
    }

    /// Entry `e` (`e < used`), in place.
    #[inline(always)]
    pub(crate) fn entry(&self, e: u64) -> Result<Entry, Error> {
        let (k, j) = locate(e);
        if e >= self.used || k >= self.nchunks {
            return Err(corrupt(
                self.b,
                self.kind,
                "link to an entry never handed out",
            ));
        }
        // SAFETY: `k < nchunks`, and `new` checked that the table's
        // `nchunks` entries are in bounds.
        let c = unsafe { self.table.add(k as usize).read() };
        let off = c
            .checked_add(CHUNK_ITEMS + self.stride * j)
            .ok_or_else(|| corrupt(self.b, self.kind, "chunk offset overflows"))?;
        let p = self.mem.ptr(Offset::new(off), self.stride, 16)?;
        // SAFETY: `stride` bytes in bounds and 16-aligned, checked above;
        // chunks are only freed when the table becomes empty.
        Ok(unsafe { Entry::from_ptr(p, self.kind == T_DICT) })
    }

    /// Looks for the key of hash `h`: `is_key` is asked about each entry
    /// whose stored hash is `h`.
    #[inline(always)]
    pub(crate) fn probe(
        &self,
        h: u64,
        mut is_key: impl FnMut(Entry) -> Result<bool, Error>,
    ) -> Result<Probe, Error> {
        if self.cap == 0 {
            return Ok(Probe::Absent { pos: None });
        }
        let ix = self.ix;
        let mut pos = h & ix.mask;
        let mut tomb = None;
        for _ in 0..self.cap {
            match ix.get(pos) {
                EMPTY => {
                    return Ok(Probe::Absent {
                        pos: Some(tomb.unwrap_or(pos)),
                    });
                }
                DELETED => {
                    tomb.get_or_insert(pos);
                }
                v => {
                    let e = v as u64 - 1;
                    let entry = self.entry(e)?;
                    if entry.hash() == h && is_key(entry)? {
                        return Ok(Probe::Found { pos, e, entry });
                    }
                }
            }
            pos = (pos + 1) & ix.mask;
        }
        Err(corrupt(self.b, self.kind, "index has no empty slot"))
    }
}

/// What a probe found.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Probe {
    /// The key is entry `e`, named by index slot `pos`.
    Found { pos: u64, e: u64, entry: Entry },
    /// The key is absent; `pos` is where it would go (None: no index yet).
    Absent { pos: Option<u64> },
}
