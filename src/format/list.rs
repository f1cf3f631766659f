//! The mutable list: a header, a relocating chunk table, and chunks of slots
//! that never move (the chunk geometry is in [`super::chunks`]).

use super::chunks::{CHUNK_ITEMS, Chunks, locate};
pub(crate) use super::chunks::{Cursor, TABLE_ENTRIES, Table, capacity, chunk_cap};
use super::{K_LIST_CHUNK, Slot, T_LIST, payload};
use crate::Error;
use crate::alloc::Heap;
use crate::segment::{Mem, Offset};

/// Payload bytes of a list header: len, table, nchunks, reserved.
pub(crate) const LIST_PAYLOAD: u64 = 32;
/// Offset of slot 0 inside a chunk block (header, index, reserved).
pub(crate) const CHUNK_SLOTS: u64 = CHUNK_ITEMS;

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
        if !l.chunks().consistent() || l.len > capacity(l.nchunks) {
            return Err(Error::corrupt(b.get(), "list header is inconsistent"));
        }
        Ok(l)
    }

    /// Saves the header words in the journal (before a change of several).
    #[inline]
    pub(crate) fn save_header(&self, heap: &Heap) -> Result<(), Error> {
        heap.save(payload(self.b), 24)
    }

    /// Saves the slots of items `from..to` in the journal, a chunk run at a
    /// time (before they are overwritten).
    pub(crate) fn save_slots(&self, heap: &Heap, from: u64, to: u64) -> Result<(), Error> {
        let mut i = from;
        while i < to {
            let (k, j) = locate(i);
            let run = (chunk_cap(k) - j).min(to - i);
            heap.save(self.slot(heap, i)?, 16 * run)?;
            i += run;
        }
        Ok(())
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

    /// The chunk table.
    #[inline]
    pub(crate) fn chunks(&self) -> Chunks {
        Chunks {
            table: self.table,
            nchunks: self.nchunks,
        }
    }

    /// Block offset of chunk `k`.
    #[inline]
    pub(crate) fn chunk(&self, heap: &Heap, k: u64) -> Result<Offset, Error> {
        self.chunks().chunk(heap, k)
    }

    /// The chunk table, checked to lie in the segment.
    #[inline]
    pub(crate) fn table(&self, heap: &Heap) -> Result<Table, Error> {
        Table::new(heap, self.chunks())
    }

    /// Offset of the slot of item `i` (`i < capacity`).
    #[inline]
    pub(crate) fn slot(&self, heap: &Heap, i: u64) -> Result<Offset, Error> {
        self.chunks().item(heap, i, 16)
    }

    /// A cursor over the chunk that holds item `i` (`i < capacity`): its
    /// bounds are checked once here, so the slots it covers can be reached
    /// without further checks.
    pub(crate) fn cursor(&self, heap: &Heap, i: u64) -> Result<Cursor, Error> {
        self.chunks().cursor(heap, i)
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

    /// Takes back a [`ListLayout::reserve`] that failed half-way (chunks
    /// added, then no memory for the next): rolls the journal back to
    /// `before` (the caller's journal holds only this operation's records)
    /// and frees the chunks and table it had added, so that running out of
    /// memory changes nothing, not even the space in use.
    pub(crate) fn undo_reserve(&mut self, heap: &Heap, before: ListLayout) -> Result<(), Error> {
        if heap.rollback(true)? == 0 {
            return Ok(());
        }
        let failed = std::mem::replace(self, before);
        for k in before.nchunks..failed.nchunks {
            heap.free_now(failed.chunk(heap, k)?)?;
        }
        if failed.table != before.table && !failed.table.is_null() {
            heap.free_now(failed.table)?;
        }
        Ok(())
    }

    fn add_chunk(&mut self, heap: &Heap) -> Result<(), Error> {
        let mut c = self.chunks();
        let (b, len) = (self.b, self.len);
        c.add(heap, 16, K_LIST_CHUNK, |c| {
            ListLayout {
                b,
                len,
                table: c.table,
                nchunks: c.nchunks,
            }
            .store(heap)
        })?;
        self.table = c.table;
        self.nchunks = c.nchunks;
        Ok(())
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
        self.chunks().free_storage(heap)
    }
}

impl Table {
    /// Calls `f(k, run)` for the slots of items `start..start + n` (below
    /// the capacity), a chunk's run at a time, each run bounds-checked once
    /// (`k`: the run's first item, counted from `start`).
    ///
    /// # Safety
    /// Nothing may write those slots while `f` runs (the caller holds the
    /// turn); `mem` is the segment the table was made in.
    pub(crate) unsafe fn slots(
        &self,
        mem: &Mem,
        start: u64,
        n: u64,
        mut f: impl FnMut(u64, &[Slot]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut done = 0;
        while done < n {
            let (p, run) = self.run::<16>(mem, start + done, n - done)?;
            // SAFETY: `run` checked that the `run` slots at `p` are in
            // bounds and 16-aligned; any bytes are valid `Slot`s; nothing
            // writes them (the caller's contract).
            f(done, unsafe {
                std::slice::from_raw_parts(p as *const Slot, run as usize)
            })?;
            done += run;
        }
        Ok(())
    }

    /// [`Table::slots`], the runs writable.
    ///
    /// # Safety
    /// Nothing else may access those slots while `f` runs (the caller holds
    /// the turn mutably); `mem` is the segment the table was made in.
    pub(crate) unsafe fn slots_mut(
        &self,
        mem: &Mem,
        start: u64,
        n: u64,
        mut f: impl FnMut(u64, &mut [Slot]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut done = 0;
        while done < n {
            let (p, run) = self.run::<16>(mem, start + done, n - done)?;
            // SAFETY: as in `slots`, and the access is exclusive (the
            // caller's contract).
            f(done, unsafe {
                std::slice::from_raw_parts_mut(p as *mut Slot, run as usize)
            })?;
            done += run;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_slots_matches_a_vec_model() {
        let seg = crate::test_segment(1 << 20);
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
}
