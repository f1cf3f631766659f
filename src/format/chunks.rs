//! Storage that grows without moving what it holds: a relocating table of
//! chunk offsets, and chunks that never move. A list keeps its slots in
//! chunks, a dict or set its entries.
//!
//! Chunk `k` holds `8 << min(k, 9)` items (8, 16, ... 4096, then 4096
//! each), so small containers are small and big ones waste at most one
//! chunk. Growing adds a chunk and, when the table is full, moves the table
//! (a few words per chunk); items stay where they are.

use super::{K_LIST_TABLE, payload};
use crate::Error;
use crate::alloc::{HDR, Heap};
use crate::segment::{Mem, Offset};

/// Chunk geometry: first chunk's items and the cap.
const FIRST: u64 = 8;
const GEO_CHUNKS: u64 = 10;
const MAX_CHUNK: u64 = FIRST << (GEO_CHUNKS - 1);
const GEO_TOTAL: u64 = FIRST * ((1 << GEO_CHUNKS) - 1);
/// Offset of item 0 inside a chunk block (header, index, reserved).
pub(crate) const CHUNK_ITEMS: u64 = HDR + 16;
/// Offset of entry 0 inside a table block (header, capacity, reserved).
pub(crate) const TABLE_ENTRIES: u64 = HDR + 16;
/// Most chunks a table may name.
pub(crate) const MAX_CHUNKS: u64 = 1 << 32;

/// Items in chunk `k`.
#[inline]
pub(crate) fn chunk_cap(k: u64) -> u64 {
    FIRST << k.min(GEO_CHUNKS - 1)
}

/// Items that `n` chunks hold.
#[inline]
pub(crate) fn capacity(n: u64) -> u64 {
    if n <= GEO_CHUNKS {
        FIRST * ((1 << n) - 1)
    } else {
        GEO_TOTAL + (n - GEO_CHUNKS) * MAX_CHUNK
    }
}

/// Chunk number and index in the chunk of item `i`.
#[inline(always)]
pub(crate) fn locate(i: u64) -> (u64, u64) {
    if i < GEO_TOTAL {
        let x = i + FIRST;
        let k = 63 - x.leading_zeros() as u64 - 3;
        (k, x - (FIRST << k))
    } else {
        let r = i - GEO_TOTAL;
        (GEO_CHUNKS + r / MAX_CHUNK, r % MAX_CHUNK)
    }
}

/// The chunk that served the last lookup: items `lo..hi` of `S` bytes each
/// start at `base` (in bounds, checked when the cursor was made). Chunks
/// never move, so a cursor stays valid until its owner frees chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<const S: usize = 16> {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    pub(crate) base: *mut u8,
}

impl<const S: usize> Cursor<S> {
    /// A cursor that covers nothing.
    pub(crate) const EMPTY: Cursor<S> = Cursor {
        lo: 0,
        hi: 0,
        base: std::ptr::null_mut(),
    };

    /// The item `i` if this cursor covers it.
    #[inline(always)]
    pub(crate) fn get(&self, i: u64) -> Option<*mut u8> {
        let d = i.wrapping_sub(self.lo);
        if d < self.hi - self.lo {
            // SAFETY: `d` < chunk capacity, and `Chunks::cursor` checked
            // that the whole chunk of items is inside the segment.
            Some(unsafe { self.base.add(S * d as usize) })
        } else {
            None
        }
    }
}

/// A chunk table as its owner's header names it: `table` (a block of kind
/// 33, null iff `nchunks == 0`) and `nchunks`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Chunks {
    pub(crate) table: Offset,
    pub(crate) nchunks: u64,
}

impl Chunks {
    /// Whether the two words agree with each other.
    #[inline]
    pub(crate) fn consistent(&self) -> bool {
        self.nchunks <= MAX_CHUNKS && (self.nchunks > 0) != self.table.is_null()
    }

    /// Items the chunks hold.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        capacity(self.nchunks)
    }

    /// Block offset of chunk `k`.
    #[inline(always)]
    pub(crate) fn chunk(&self, heap: &Heap, k: u64) -> Result<Offset, Error> {
        let at = self
            .table
            .checked_add(TABLE_ENTRIES + 8 * k)
            .ok_or_else(|| beyond(self.table))?;
        Ok(Offset::new(heap.mem.u64(at)?))
    }

    /// Offset of item `i` of `stride` bytes (`i < capacity`).
    #[inline(always)]
    pub(crate) fn item(&self, heap: &Heap, i: u64, stride: u64) -> Result<Offset, Error> {
        let (k, j) = locate(i);
        if k >= self.nchunks {
            return Err(beyond(self.table));
        }
        let c = self.chunk(heap, k)?;
        c.checked_add(CHUNK_ITEMS + stride * j)
            .ok_or_else(|| Error::corrupt(c.get(), "chunk offset overflows"))
    }

    /// A cursor over the chunk that holds item `i` (`i < capacity`): its
    /// bounds are checked once here, so the items it covers can be reached
    /// without further checks.
    pub(crate) fn cursor<const S: usize>(&self, heap: &Heap, i: u64) -> Result<Cursor<S>, Error> {
        let (k, j) = locate(i);
        if k >= self.nchunks {
            return Err(beyond(self.table));
        }
        let c = self.chunk(heap, k)?;
        let cap = chunk_cap(k);
        let first = c
            .checked_add(CHUNK_ITEMS)
            .ok_or_else(|| Error::corrupt(c.get(), "chunk offset overflows"))?;
        let base = heap.mem.ptr(first, S as u64 * cap, 16)?;
        Ok(Cursor {
            lo: i - j,
            hi: i - j + cap,
            base,
        })
    }

    /// Adds chunk `nchunks` (of kind `kind`, for items of `stride` bytes),
    /// moving the table to one twice as large when it is full. `publish`
    /// stores the new `table` and `nchunks` in the owner's header: it runs
    /// once the new chunk (and table) are complete, and before the old table
    /// is freed. Out of memory leaves everything as it was.
    pub(crate) fn add(
        &mut self,
        heap: &Heap,
        stride: u64,
        kind: u8,
        publish: impl FnOnce(&Chunks) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let m = heap.mem;
        let k = self.nchunks;
        if k >= MAX_CHUNKS {
            return Err(Error::OutOfMemory {
                requested: u64::MAX,
                free: heap.stats().free,
            });
        }
        let c = heap.alloc(16 + stride * chunk_cap(k), kind)?;
        m.set_u64(payload(c), k)?;
        m.set_u64(payload(c).add(8), 0)?;
        let tcap = if self.table.is_null() {
            0
        } else {
            m.u64(payload(self.table))?
        };
        let old = self.table;
        let mut next = Chunks {
            table: old,
            nchunks: k + 1,
        };
        if k >= tcap {
            let ncap = (tcap * 2).max(4);
            let nt = match heap.alloc(16 + 8 * ncap, K_LIST_TABLE) {
                Ok(t) => t,
                Err(e) => {
                    heap.free(c)?;
                    return Err(e);
                }
            };
            m.set_u64(payload(nt), ncap)?;
            m.set_u64(payload(nt).add(8), 0)?;
            if !old.is_null() {
                m.copy_within(old.add(TABLE_ENTRIES), nt.add(TABLE_ENTRIES), 8 * k)?;
            }
            next.table = nt;
        }
        let entry = next.table.add(TABLE_ENTRIES + 8 * k);
        // In place, the entry past `nchunks` may be one a transaction
        // trimmed (committed before it).
        if next.table == old
            && let Err(e) = heap.save_in_txn(entry, 8)
        {
            heap.free(c)?;
            return Err(e);
        }
        m.set_u64(entry, c.get())?;
        // Publish the new chunk (and table), then free the old table.
        publish(&next)?;
        *self = next;
        if next.table != old && !old.is_null() {
            heap.free(old)?;
        }
        Ok(())
    }

    /// Frees the chunks and the table (not what the items own).
    pub(crate) fn free_storage(&self, heap: &Heap) -> Result<(), Error> {
        for k in 0..self.nchunks {
            heap.free(self.chunk(heap, k)?)?;
        }
        if !self.table.is_null() {
            heap.free(self.table)?;
        }
        Ok(())
    }
}

/// A chunk table whose entries were bounds-checked once, when it was made
/// (held by a view for as long as its owner's chunks do not change): item
/// `i` is then found by arithmetic, one load of its chunk's entry and one
/// bounds check of the item, with no cursor to hit or miss.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table {
    /// The table's entries (dangling when `nchunks` is 0).
    entries: *const u64,
    nchunks: u64,
}

impl Table {
    /// Checks that the table of `chunks` lies in the segment.
    #[inline]
    pub(crate) fn new(heap: &Heap, chunks: Chunks) -> Result<Table, Error> {
        let entries = if chunks.nchunks == 0 {
            std::ptr::NonNull::<u64>::dangling().as_ptr() as *const u64
        } else {
            let at = chunks
                .table
                .checked_add(TABLE_ENTRIES)
                .ok_or_else(|| beyond(chunks.table))?;
            let n = chunks
                .nchunks
                .checked_mul(8)
                .ok_or_else(|| beyond(chunks.table))?;
            heap.mem.ptr(at, n, 8)? as *const u64
        };
        Ok(Table {
            entries,
            nchunks: chunks.nchunks,
        })
    }

    /// Pointer to item `i` of `S` bytes in the segment `mem` the table was
    /// made in, and how many items from `i` on (at most `max`) follow it in
    /// its chunk. All of them are in bounds (and 16-aligned when `S` is
    /// 16); an error if `i` is beyond the chunks or its chunk's entry points
    /// outside the segment.
    #[inline(always)]
    pub(crate) fn run<const S: u64>(
        &self,
        mem: &Mem,
        i: u64,
        max: u64,
    ) -> Result<(*mut u8, u64), Error> {
        let (k, j) = locate(i);
        if k >= self.nchunks {
            return Err(beyond(Offset::new(0)));
        }
        let n = (chunk_cap(k) - j).min(max);
        // SAFETY: `k < nchunks`, and `new` checked that the `nchunks`
        // entries lie in the segment, 8-aligned; any bits are a valid u64.
        let c = unsafe { self.entries.add(k as usize).read() };
        // No overflow: `c` is checked against the segment's length (below
        // 2^63) first, and `j`, `n` are below a chunk's capacity.
        let at = c.wrapping_add(CHUNK_ITEMS + S * j);
        if c >= mem.len() || !c.is_multiple_of(16) || at + S * n > mem.len() {
            return Err(bad_chunk(c));
        }
        // SAFETY: `at + S * n <= len`: the items are inside the segment.
        Ok((unsafe { mem.base().add(at as usize) }, n))
    }

    /// Pointer to item `i` of `S` bytes, read-only and not necessarily
    /// aligned (read it with `read_unaligned`): two bounds checks of the
    /// chunk's entry, no check of `i` against the chunks.
    ///
    /// # Safety
    /// `i < capacity(nchunks)` (the caller checked it against a length
    /// that it checked against the capacity when it made the view).
    #[inline(always)]
    pub(crate) unsafe fn item_within<const S: u64>(
        &self,
        mem: &Mem,
        i: u64,
    ) -> Result<*const u8, Error> {
        let (k, j) = locate(i);
        debug_assert!(k < self.nchunks);
        // SAFETY: `k < nchunks` by the caller's contract, and `new` checked
        // that the `nchunks` entries lie in the segment, 8-aligned.
        let c = unsafe { self.entries.add(k as usize).read() };
        // No overflow: `c` is checked against the segment's length (below
        // 2^63) first, and `j` is below a chunk's capacity.
        let at = c.wrapping_add(CHUNK_ITEMS + S * j);
        if c >= mem.len() || at + S > mem.len() {
            return Err(bad_chunk(c));
        }
        // SAFETY: `at + S <= len`: the item is inside the segment.
        Ok(unsafe { mem.base().add(at as usize) })
    }
}

#[cold]
#[inline(never)]
fn bad_chunk(c: u64) -> Error {
    Error::corrupt(c, "chunk outside the segment or misaligned")
}

#[cold]
#[inline(never)]
fn beyond(table: Offset) -> Error {
    Error::corrupt(table.get(), "item beyond its chunks")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_contiguous() {
        assert_eq!(capacity(0), 0);
        for k in 0..40 {
            let (base, cap) = (capacity(k), chunk_cap(k));
            assert_eq!(
                capacity(k + 1),
                base + cap,
                "chunk {k} ends where {} starts",
                k + 1
            );
            // Every item outside Miri; under Miri (millions of items would
            // take minutes) the ends and the middle of each chunk.
            let sample = [0, 1, cap / 2, cap - 2, cap - 1];
            let js: Box<dyn Iterator<Item = u64>> = if cfg!(miri) {
                Box::new(sample.into_iter())
            } else {
                Box::new(0..cap)
            };
            for j in js {
                assert_eq!(locate(base + j), (k, j), "item {}", base + j);
            }
        }
    }
}
