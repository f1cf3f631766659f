//! The mutable list: a header, a relocating chunk table, and chunks of slots
//! that never move.
//!
//! Chunk `k` holds `8 << min(k, 9)` slots (8, 16, ... 4096, then 4096 each),
//! so small lists are small and big ones waste at most one chunk. Growing
//! adds a chunk and, when the table is full, moves the table (a few words per
//! chunk); items stay where they are.

use super::{K_LIST_CHUNK, K_LIST_TABLE, T_LIST, payload};
use crate::Error;
use crate::alloc::{HDR, Heap};
use crate::segment::Offset;

/// Payload bytes of a list header: len, table, nchunks, reserved.
pub(crate) const LIST_PAYLOAD: u64 = 32;
/// Chunk geometry: first chunk's slots and the cap.
const FIRST: u64 = 8;
const GEO_CHUNKS: u64 = 10;
const MAX_CHUNK: u64 = FIRST << (GEO_CHUNKS - 1);
const GEO_TOTAL: u64 = FIRST * ((1 << GEO_CHUNKS) - 1);
/// Offset of slot 0 inside a chunk block (header, index, reserved).
pub(crate) const CHUNK_SLOTS: u64 = HDR + 16;
/// Offset of entry 0 inside a table block (header, capacity, reserved).
pub(crate) const TABLE_ENTRIES: u64 = HDR + 16;

/// Slots in chunk `k`.
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
#[inline]
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

/// The chunk that served the last lookup: items `lo..hi` are the slots
/// starting at `base` (in bounds, checked when the cursor was made). Chunks
/// never move, so a cursor stays valid until the list frees chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    pub(crate) base: *mut u8,
}

impl Cursor {
    /// A cursor that covers nothing.
    pub(crate) const EMPTY: Cursor = Cursor {
        lo: 0,
        hi: 0,
        base: std::ptr::null_mut(),
    };

    /// The slot of item `i` if this cursor covers it.
    #[inline(always)]
    pub(crate) fn get(&self, i: u64) -> Option<*mut u8> {
        let d = i.wrapping_sub(self.lo);
        if d < self.hi - self.lo {
            // SAFETY: `d` < chunk capacity, and `new` checked that the whole
            // chunk of slots is inside the segment.
            Some(unsafe { self.base.add(16 * d as usize) })
        } else {
            None
        }
    }
}

/// A list header as read from the segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListLayout {
    pub(crate) b: Offset,
    pub(crate) len: u64,
    pub(crate) table: Offset,
    pub(crate) nchunks: u64,
}

impl ListLayout {
    /// Allocates an empty list.
    pub(crate) fn create(heap: &Heap) -> Result<Offset, Error> {
        let b = heap.alloc(LIST_PAYLOAD, T_LIST)?;
        heap.mem.zero(payload(b), LIST_PAYLOAD)?;
        Ok(b)
    }

    /// Reads the header of the list at `b` and checks its numbers agree.
    #[inline]
    pub(crate) fn read(heap: &Heap, b: Offset) -> Result<ListLayout, Error> {
        let m = heap.mem;
        let p = payload(b);
        let l = ListLayout {
            b,
            len: m.u64(p)?,
            table: Offset::new(m.u64(p.add(8))?),
            nchunks: m.u64(p.add(16))?,
        };
        if l.nchunks > 1 << 32
            || l.len > capacity(l.nchunks)
            || (l.nchunks > 0) == l.table.is_null()
        {
            return Err(Error::corrupt(b.get(), "list header is inconsistent"));
        }
        Ok(l)
    }

    /// Writes len, table and nchunks back (publishes a change).
    #[inline]
    pub(crate) fn store(&self, heap: &Heap) -> Result<(), Error> {
        let m = heap.mem;
        let p = payload(self.b);
        m.set_u64(p, self.len)?;
        m.set_u64(p.add(8), self.table.get())?;
        m.set_u64(p.add(16), self.nchunks)
    }

    /// Items the list can hold without growing.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        capacity(self.nchunks)
    }

    /// Block offset of chunk `k`.
    #[inline]
    pub(crate) fn chunk(&self, heap: &Heap, k: u64) -> Result<Offset, Error> {
        Ok(Offset::new(
            heap.mem.u64(self.table.add(TABLE_ENTRIES + 8 * k))?,
        ))
    }

    /// Offset of the slot of item `i` (`i < capacity`).
    #[inline]
    pub(crate) fn slot(&self, heap: &Heap, i: u64) -> Result<Offset, Error> {
        let (k, j) = locate(i);
        if k >= self.nchunks {
            return Err(Error::corrupt(self.b.get(), "list item beyond its chunks"));
        }
        let c = self.chunk(heap, k)?;
        c.checked_add(CHUNK_SLOTS + 16 * j)
            .ok_or_else(|| Error::corrupt(c.get(), "chunk offset overflows"))
    }

    /// A cursor over the chunk that holds item `i` (`i < capacity`): its
    /// bounds are checked once here, so the slots it covers can be reached
    /// without further checks.
    pub(crate) fn cursor(&self, heap: &Heap, i: u64) -> Result<Cursor, Error> {
        let (k, j) = locate(i);
        if k >= self.nchunks {
            return Err(Error::corrupt(self.b.get(), "list item beyond its chunks"));
        }
        let c = self.chunk(heap, k)?;
        let cap = chunk_cap(k);
        let first = c
            .checked_add(CHUNK_SLOTS)
            .ok_or_else(|| Error::corrupt(c.get(), "chunk offset overflows"))?;
        let base = heap.mem.ptr(first, 16 * cap, 16)?;
        Ok(Cursor {
            lo: i - j,
            hi: i - j + cap,
            base,
        })
    }

    /// Moves the `n` slots at `src..src+n` to `dst..dst+n` (the ranges may
    /// overlap), a chunk-bounded run at a time. Both ranges must be below the
    /// capacity.
    pub(crate) fn move_slots(&self, heap: &Heap, src: u64, dst: u64, n: u64) -> Result<(), Error> {
        let run_at = |s: u64, d: u64, max: u64, backward: bool| {
            let (ks, js) = locate(s);
            let (kd, jd) = locate(d);
            if backward {
                max.min(js + 1).min(jd + 1)
            } else {
                max.min(chunk_cap(ks) - js).min(chunk_cap(kd) - jd)
            }
        };
        if dst < src {
            let mut i = 0;
            while i < n {
                let run = run_at(src + i, dst + i, n - i, false);
                heap.mem.copy_within(
                    self.slot(heap, src + i)?,
                    self.slot(heap, dst + i)?,
                    16 * run,
                )?;
                i += run;
            }
        } else if dst > src {
            let mut i = n;
            while i > 0 {
                let run = run_at(src + i - 1, dst + i - 1, i, true);
                heap.mem.copy_within(
                    self.slot(heap, src + i - run)?,
                    self.slot(heap, dst + i - run)?,
                    16 * run,
                )?;
                i -= run;
            }
        }
        Ok(())
    }

    /// Makes room for `extra` more items (adds chunks, moves the table if
    /// full). Items never move. On out of memory the list is unchanged in
    /// content (chunks already added stay as spare capacity).
    pub(crate) fn reserve(&mut self, heap: &Heap, extra: u64) -> Result<(), Error> {
        let want = self.len.checked_add(extra).ok_or(Error::OutOfMemory {
            requested: u64::MAX,
            free: heap.stats().free,
        })?;
        while self.capacity() < want {
            self.add_chunk(heap)?;
        }
        Ok(())
    }

    fn add_chunk(&mut self, heap: &Heap) -> Result<(), Error> {
        let m = heap.mem;
        let k = self.nchunks;
        let c = heap.alloc(16 + 16 * chunk_cap(k), K_LIST_CHUNK)?;
        m.set_u64(payload(c), k)?;
        m.set_u64(payload(c).add(8), 0)?;
        let tcap = if self.table.is_null() {
            0
        } else {
            m.u64(payload(self.table))?
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
            let old = self.table;
            if !old.is_null() {
                m.copy_within(old.add(TABLE_ENTRIES), nt.add(TABLE_ENTRIES), 8 * k)?;
            }
            m.set_u64(nt.add(TABLE_ENTRIES + 8 * k), c.get())?;
            // Publish the new table, then free the old one.
            self.table = nt;
            self.nchunks = k + 1;
            self.store(heap)?;
            if !old.is_null() {
                heap.free(old)?;
            }
            return Ok(());
        }
        m.set_u64(self.table.add(TABLE_ENTRIES + 8 * k), c.get())?;
        self.nchunks = k + 1;
        self.store(heap)
    }

    /// Frees trailing chunks that are not needed (keeping one spare chunk of
    /// hysteresis so push/pop at a boundary does not thrash); all of them
    /// when the list is empty.
    pub(crate) fn trim(&mut self, heap: &Heap) -> Result<(), Error> {
        if self.len == 0 {
            // Unpublish the storage, then free it.
            let storage = *self;
            self.table = Offset::NULL;
            self.nchunks = 0;
            self.store(heap)?;
            return storage.free_storage(heap);
        }
        while self.nchunks >= 2
            && capacity(self.nchunks - 2) >= self.len + chunk_cap(self.nchunks - 2) / 2
        {
            let c = self.chunk(heap, self.nchunks - 1)?;
            self.nchunks -= 1;
            self.store(heap)?;
            heap.free(c)?;
        }
        Ok(())
    }

    /// Frees the chunks and the table (not the items, nor the header).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_slots_matches_a_vec_model() {
        let seg = crate::Segment::options()
            .size(1 << 20)
            .create_in_memory()
            .unwrap();
        let turn = seg.turn().unwrap();
        let heap = turn.heap();
        let b = ListLayout::create(&heap).unwrap();
        let mut l = ListLayout::read(&heap, b).unwrap();
        let n = if cfg!(miri) { 40 } else { 300 };
        l.reserve(&heap, n).unwrap();
        l.len = n;
        let put = |model: &[u64]| {
            for (i, v) in model.iter().enumerate() {
                heap.mem
                    .set_u64(l.slot(&heap, i as u64).unwrap().add(8), *v)
                    .unwrap();
            }
        };
        let get = || -> Vec<u64> {
            (0..n)
                .map(|i| heap.mem.u64(l.slot(&heap, i).unwrap().add(8)).unwrap())
                .collect()
        };
        let cases: &[(u64, u64, u64)] = if cfg!(miri) {
            &[(0, 1, 30), (1, 0, 30), (5, 20, 10), (20, 5, 10)]
        } else {
            &[
                (0, 1, 299),
                (1, 0, 299),
                (7, 100, 150),
                (100, 7, 150),
                (3, 9, 40),
                (250, 0, 50),
            ]
        };
        for &(src, dst, cnt) in cases {
            let mut model: Vec<u64> = (0..n).map(|i| i * 7 + 1).collect();
            put(&model);
            l.move_slots(&heap, src, dst, cnt).unwrap();
            model.copy_within(src as usize..(src + cnt) as usize, dst as usize);
            assert_eq!(get(), model, "move {src} -> {dst} x{cnt}");
        }
    }

    #[test]
    fn geometry_is_contiguous() {
        let mut i = 0u64;
        for k in 0..40 {
            for j in 0..chunk_cap(k) {
                assert_eq!(locate(i), (k, j), "item {i}");
                i += 1;
            }
            assert_eq!(capacity(k + 1), i);
        }
    }
}
