//! The in-segment allocator. All of its state is in the segment header
//! ([`AllocState`]) and in block headers; it speaks in offsets only.
//!
//! The heap is a sequence of blocks from `HEAP_START` up to `top`; above
//! `top` the segment is untouched (and so costs no memory). Each block starts
//! with a 16-byte header:
//!
//! - word 0: block size (a multiple of 16, at least 32) | flags
//!   (`ALLOC`, `PREV_ALLOC`, `ROOT`, `QUEUED`);
//! - word 1: allocated: `generation << 8 | kind`; free: next free block.
//!
//! A free block also holds the previous free block in word 2 and its size in
//! its last word (the footer), so that freeing coalesces with both
//! neighbours. Free blocks of up to 1024 bytes sit in exact-size bins (size
//! classes, O(1)); larger ones in one bin per power of two, searched best fit.
//! A free block that reaches `top` lowers `top` instead.

use crate::Error;
use crate::segment::{AllocState, HEAP_START, Handle, Mem, NLARGE, NSMALL, Offset, Word};
use std::sync::atomic::AtomicU64;

/// Block header size.
pub(crate) const HDR: u64 = 16;
/// Smallest block.
pub(crate) const MIN_BLOCK: u64 = 32;
/// Largest block size kept in the exact-size bins.
pub(crate) const SMALL_MAX: u64 = 1024;

/// Kind of a freed small block parked in a fast bin (its `ALLOC` flag stays
/// set so neighbours do not coalesce with it; its generation is 0).
pub(crate) const K_FAST: u8 = 0xFF;
/// Kind of the undo journal's block (see [`journal`]).
pub(crate) const K_JOURNAL: u8 = 39;

/// Block flag: allocated.
pub(crate) const ALLOC: u64 = 1;
/// Block flag: the block before this one is allocated (or there is none).
pub(crate) const PREV_ALLOC: u64 = 2;
/// Block flag: the object is a root (a message, queued or taken).
pub(crate) const ROOT: u64 = 4;
/// Block flag: the root is in the message queue.
pub(crate) const QUEUED: u64 = 8;
const FLAGS: u64 = 15;

thread_local! {
    /// Crash injection for the tests (`__test::crash_after`): when armed
    /// (not 0), every allocator step and journal step of this thread counts
    /// it down, and the one that brings it to 1 kills this process with
    /// SIGKILL (or panics, see [`CRASH_PANICS`]). Disarmed, the cost is one
    /// thread-local load per step. Per thread, so that tests running in
    /// parallel threads do not fire each other's.
    pub(crate) static CRASH_AT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether an injected crash panics (with [`crate::__test::InjectedCrash`])
    /// instead of killing the process: in-process tests and the fuzzer
    /// simulate deaths this way (the turn's drop then recovers, as a
    /// survivor would).
    pub(crate) static CRASH_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A point where a process may die (see [`CRASH_AT`]).
#[inline(always)]
pub(crate) fn crash_point() {
    if CRASH_AT.with(|c| c.get()) != 0 {
        crash_step();
    }
}

#[cold]
#[inline(never)]
fn crash_step() {
    let left = CRASH_AT.with(|c| {
        let left = c.get() - 1;
        // One-shot: 0 (disarmed) after the step that fires.
        c.set(left);
        left
    });
    if left == 0 {
        if CRASH_PANICS.with(|p| p.get()) {
            std::panic::panic_any(crate::__test::InjectedCrash);
        }
        crate::os::kill_self();
    }
}

/// Space usage of a segment, from [`crate::Turn::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Segment size in bytes.
    pub size: u64,
    /// Bytes in allocated blocks (headers included).
    pub used: u64,
    /// Bytes that can still be allocated (free blocks plus untouched space;
    /// the undo journal's scratch block counts as free).
    pub free: u64,
    /// Number of allocated blocks (values and their internal parts).
    pub blocks: u64,
    /// Bytes in free blocks below the high-water mark (fragmentation).
    pub free_in_bins: u64,
    /// The high-water mark: bytes from the segment start to the heap's top.
    pub high_water: u64,
}

#[cold]
#[inline(never)]
fn not_a_block(o: u64) -> Error {
    Error::corrupt(o, "offset is not a block in the heap")
}

#[cold]
#[inline(never)]
fn bad_size(o: u64, size: u64) -> Error {
    Error::corrupt(o, format!("block size {size} out of range"))
}

#[cold]
#[inline(never)]
fn free_block(o: u64) -> Error {
    Error::corrupt(o, "points to a free block")
}

#[cold]
#[inline(never)]
fn stale(h: Handle) -> Error {
    Error::StaleHandle {
        offset: h.offset.get(),
        generation: h.generation,
    }
}

#[cold]
#[inline(never)]
fn bad_fast_block(o: u64) -> Error {
    Error::corrupt(o, "wrong block in a fast bin")
}

#[inline(always)]
fn small_index(size: u64) -> usize {
    ((size - MIN_BLOCK) / 16) as usize
}

fn large_index(size: u64) -> usize {
    let k = 63 - size.leading_zeros() as usize;
    (k - 10).min(NLARGE - 1)
}

/// The allocator, bound to one segment's memory. Only a turn holder makes
/// one, and only one exists per turn at a time (the views borrow the turn).
#[derive(Clone, Copy)]
pub(crate) struct Heap {
    pub(crate) mem: Mem,
    /// The allocator state; bit 0 set for a heap that builds a new,
    /// unreachable object (see [`Heap::fresh`]), bit 1 set if the turn was
    /// a transaction when this heap was made (see [`Heap::txn_hint`]),
    /// which keeps `Heap` at three words (views hold one, on hot paths).
    st: *const AllocState,
}

/// A block [`Heap::block`] checked: a header inside the segment whose size
/// keeps the whole block below `top` (so inside the segment too).
#[derive(Clone, Copy)]
pub(crate) struct Block {
    /// The block's first word.
    p: *mut u64,
    /// Its offset.
    pub(crate) at: Offset,
    /// Its size (word 0 without the flags).
    pub(crate) size: u64,
    /// Its flags (word 0's low bits).
    pub(crate) flags: u64,
}

impl Block {
    /// Word `i` of the block (`i < 4`: a block is at least 32 bytes).
    #[inline(always)]
    pub(crate) fn word(&self, i: usize) -> u64 {
        assert!(i < (MIN_BLOCK / 8) as usize);
        // SAFETY: `Heap::block` checked that the block's `size >= 32`
        // bytes lie inside the segment, 16-aligned; the turn's holder alone
        // accesses them.
        unsafe { self.p.add(i).read() }
    }

    /// Sets word `i` of the block (`i < 4`).
    #[inline(always)]
    pub(crate) fn set_word(&self, i: usize, v: u64) {
        assert!(i < (MIN_BLOCK / 8) as usize);
        // SAFETY: as in `word`.
        unsafe { self.p.add(i).write(v) }
    }

    /// The block's generation (word 1 of an allocated block).
    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.word(1) >> 8
    }

    /// The first `n` payload bytes, if the block holds them.
    ///
    /// # Safety
    /// Nothing else may access those bytes while the slice lives (the
    /// caller holds the turn, and the block is its own new one).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn payload_mut<'a>(&self, n: u64) -> Option<&'a mut [u8]> {
        if n > self.size - HDR {
            return None;
        }
        // SAFETY: `HDR + n <= size`, and the block lies inside the
        // segment (`Heap::block`); exclusivity is the caller's contract.
        Some(unsafe {
            std::slice::from_raw_parts_mut((self.p as *mut u8).add(HDR as usize), n as usize)
        })
    }

    /// Rewrites the flags in word 0 (the size stays).
    #[inline(always)]
    pub(crate) fn set_flags(&self, flags: u64) {
        self.set_word(0, self.size | (flags & FLAGS));
    }
}

impl Heap {
    /// # Safety
    /// `st` must point to the allocator state inside `mem`'s header, and the
    /// caller must hold the turn (nobody else touches the state or blocks).
    pub(crate) unsafe fn new(mem: Mem, st: *const AllocState) -> Heap {
        let h = Heap { mem, st };
        // The turn's transaction state, read once per heap (per view): a
        // turn becomes or stops being a transaction only through `&mut
        // Turn`, which no view outlives.
        Heap {
            st: st.map_addr(|a| a | ((h.in_transaction() as usize) << 1)),
            ..h
        }
    }

    /// Whether the turn was a transaction when this heap was made: the hot
    /// paths' check (a bit of a word the view holds, which the compiler can
    /// keep in a register across a loop), where [`Heap::in_transaction`]
    /// reads the segment.
    #[inline(always)]
    pub(crate) fn txn_hint(&self) -> bool {
        self.st.addr() & 2 != 0
    }

    #[inline]
    fn st(&self) -> &AllocState {
        // SAFETY: `new`'s contract: the state lives in the mapped header as
        // long as the segment (bit 0 of the pointer is a flag, the state is
        // 8-aligned); its words are atomics, so shared references to them
        // are sound while we change them.
        unsafe { &*self.st.map_addr(|a| a & !3) }
    }

    /// Whether this heap journals (see [`Heap::fresh`]).
    #[inline(always)]
    fn journaled(&self) -> bool {
        self.st.addr() & 1 == 0
    }

    /// Current `top`.
    pub(crate) fn top(&self) -> u64 {
        self.st().top.get()
    }

    /// Bytes parked in the fast bins (for the tests).
    #[cfg(test)]
    pub(crate) fn fast_bytes(&self) -> u64 {
        self.st().fast_bytes.get()
    }

    /// `top`, checked to lie in the heap (for walks of the whole heap).
    fn checked_top(&self) -> Result<u64, Error> {
        let top = self.st().top.get();
        if top < HEAP_START || top > self.mem.len() || !top.is_multiple_of(16) {
            return Err(Error::corrupt(
                std::mem::offset_of!(crate::segment::Header, alloc) as u64,
                "heap top out of range",
            ));
        }
        Ok(top)
    }

    /// Space usage.
    pub(crate) fn stats(&self) -> Stats {
        let st = self.st();
        // The undo journal's block is bookkeeping, like the header: not
        // counted as used, but as free (scratch space that grows with an
        // operation or transaction and is given back after one), so that
        // `used + free` does not move when the journal does.
        let journal = self.journal_block_size();
        Stats {
            size: self.mem.len(),
            used: st.used.get().saturating_sub(journal),
            free: self.mem.len() - st.top.get()
                + st.free_in_bins.get()
                + st.fast_bytes.get()
                + journal,
            blocks: st.blocks.get().saturating_sub((journal != 0) as u64),
            free_in_bins: st.free_in_bins.get() + st.fast_bytes.get(),
            high_water: st.top.get(),
        }
    }

    /// Reads a block's word 0 and checks that it is a plausible block start.
    #[inline(always)]
    pub(crate) fn header(&self, b: Offset) -> Result<(u64, u64), Error> {
        self.header_below(b, self.st().top.get())
    }

    /// [`Heap::header`] with `top` already read (a walk reads it once).
    #[inline(always)]
    fn header_below(&self, b: Offset, top: u64) -> Result<(u64, u64), Error> {
        let o = b.get();
        if o < HEAP_START || !o.is_multiple_of(16) || o > top.saturating_sub(HDR) {
            return Err(not_a_block(o));
        }
        let w0 = self.mem.u64(b)?;
        let size = w0 & !FLAGS;
        if size < MIN_BLOCK || size > top - o {
            return Err(bad_size(o, size));
        }
        Ok((size, w0 & FLAGS))
    }

    /// [`Heap::header`] as an `Option` (for the callers that turn a bad
    /// header into an error of their own: no error is built and dropped),
    /// with the block: `b` is a 16-aligned block start in the heap whose
    /// size word keeps it below `top`, and `top` is inside the segment, so
    /// every word of the block can be accessed through [`Block`] without
    /// another bounds check.
    #[inline(always)]
    pub(crate) fn block(&self, b: Offset) -> Option<Block> {
        let o = b.get();
        let top = self.st().top.get();
        if o < HEAP_START
            || !o.is_multiple_of(16)
            || o > top.saturating_sub(HDR)
            || top > self.mem.len()
        {
            return None;
        }
        // SAFETY: `o + 16 <= top <= len`: the header is in bounds, and
        // 16-aligned (the base is); we hold the turn.
        let p = unsafe { self.mem.base().add(o as usize) } as *mut u64;
        // SAFETY: as above.
        let w0 = unsafe { p.read() };
        let size = w0 & !FLAGS;
        if size < MIN_BLOCK || size > top - o {
            return None;
        }
        Some(Block {
            p,
            at: b,
            size,
            flags: w0 & FLAGS,
        })
    }

    /// Checks that `b` is an allocated block and returns (size, flags, kind).
    #[inline(always)]
    pub(crate) fn live(&self, b: Offset) -> Result<(u64, u64, u8), Error> {
        let (k, kind) = self.live_block(b)?;
        Ok((k.size, k.flags, kind))
    }

    /// [`Heap::live`], with the block.
    #[inline(always)]
    pub(crate) fn live_block(&self, b: Offset) -> Result<(Block, u8), Error> {
        let Some(k) = self.block(b) else {
            // (The specific error.)
            return Err(self.header(b).err().unwrap_or_else(|| not_a_block(b.get())));
        };
        if k.flags & ALLOC == 0 {
            return Err(free_block(b.get()));
        }
        Ok((k, k.word(1) as u8))
    }

    /// The size and kind of block `b`, which the validator's walk of the
    /// blocks ([`Heap::walk`]) found allocated (so its header is not
    /// checked again; the reads still are).
    #[inline(always)]
    pub(crate) fn allocated_block(&self, b: Offset) -> Result<(u64, u8), Error> {
        let w0 = self.mem.u64(b)?;
        let w1 = self.mem.u64(b.add(8))?;
        Ok((w0 & !FLAGS, w1 as u8))
    }

    /// Checks a user's handle: an allocated block of that generation.
    #[inline(always)]
    pub(crate) fn check_handle(&self, h: Handle) -> Result<(u64, u64, u8), Error> {
        let (k, kind) = self.check_block(h)?;
        Ok((k.size, k.flags, kind))
    }

    /// [`Heap::check_handle`], with the block (for a caller that goes on
    /// to change its header).
    #[inline(always)]
    pub(crate) fn check_block(&self, h: Handle) -> Result<(Block, u8), Error> {
        let Some(k) = self.block(h.offset) else {
            return Err(stale(h));
        };
        let w1 = k.word(1);
        if k.flags & ALLOC == 0 || w1 >> 8 != h.generation {
            return Err(stale(h));
        }
        Ok((k, w1 as u8))
    }

    /// The handle of the allocated block `b`.
    pub(crate) fn handle(&self, b: Offset) -> Result<Handle, Error> {
        let w1 = self.mem.u64(b.add(8))?;
        Ok(Handle {
            offset: b,
            generation: w1 >> 8,
        })
    }

    /// Sets and clears flags of block `b`.
    #[inline]
    pub(crate) fn set_flags(&self, b: Offset, set: u64, clear: u64) -> Result<(), Error> {
        let w0 = self.mem.u64(b)?;
        self.mem.set_u64(b, (w0 | set) & !clear)
    }

    #[inline]
    fn bin_head(&self, size: u64) -> (&AtomicU64, &AtomicU64, u64) {
        let st = self.st();
        if size <= SMALL_MAX {
            let i = small_index(size);
            (&st.small[i], &st.small_map, 1 << i)
        } else {
            let i = large_index(size);
            (&st.large[i], &st.large_map, 1 << i)
        }
    }

    /// Puts the free block `b` of `size` into its bin and writes its footer.
    #[inline]
    fn insert_free(&self, b: Offset, size: u64, prev_alloc: u64) -> Result<(), Error> {
        let m = self.mem;
        m.set_u64(b, size | prev_alloc)?;
        m.set_u64(b.add(size - 8), size)?;
        let (head, map, bit) = self.bin_head(size);
        let old = head.get();
        m.set_u64(b.add(8), old)?;
        m.set_u64(b.add(16), 0)?;
        if old != 0 {
            m.set_u64(Offset::new(old).add(16), b.get())?;
        }
        head.set(b.get());
        map.set(map.get() | bit);
        let f = &self.st().free_in_bins;
        f.set(f.get() + size);
        Ok(())
    }

    /// Takes the free block `b` of `size` out of its bin.
    #[inline]
    fn unlink_free(&self, b: Offset, size: u64) -> Result<(), Error> {
        let m = self.mem;
        let next = m.u64(b.add(8))?;
        let prev = m.u64(b.add(16))?;
        if prev != 0 {
            m.set_u64(Offset::new(prev).add(8), next)?;
        } else {
            let (head, map, bit) = self.bin_head(size);
            if head.get() != b.get() {
                return Err(Error::corrupt(b.get(), "free list head does not match"));
            }
            head.set(next);
            if next == 0 {
                map.set(map.get() & !bit);
            }
        }
        if next != 0 {
            m.set_u64(Offset::new(next).add(16), prev)?;
        }
        let f = &self.st().free_in_bins;
        f.set(f.get() - size);
        Ok(())
    }

    /// Finds and unlinks a free block of at least `need` bytes.
    fn take_free(&self, need: u64) -> Result<Option<(Offset, u64)>, Error> {
        let st = self.st();
        if need <= SMALL_MAX {
            let i = small_index(need);
            let m = st.small_map.get() & (!0u64 << i);
            if m != 0 {
                let b = Offset::new(st.small[m.trailing_zeros() as usize].get());
                let size = self.header(b)?.0;
                self.unlink_free(b, size)?;
                return Ok(Some((b, size)));
            }
        }
        let i = if need <= SMALL_MAX {
            0
        } else {
            large_index(need)
        };
        if st.large_map.get() & (1 << i) != 0 {
            // Best fit inside the bin.
            let mut best: Option<(Offset, u64)> = None;
            let mut cur = st.large[i].get();
            let mut steps = 0u64;
            while cur != 0 {
                let b = Offset::new(cur);
                let size = self.header(b)?.0;
                if size >= need && best.is_none_or(|(_, s)| size < s) {
                    best = Some((b, size));
                    if size == need {
                        break;
                    }
                }
                cur = self.mem.u64(b.add(8))?;
                steps += 1;
                if steps > st.blocks.get() + st.free_in_bins.get() / MIN_BLOCK + 1 {
                    return Err(Error::corrupt(b.get(), "cycle in a free list"));
                }
            }
            if let Some((b, size)) = best {
                self.unlink_free(b, size)?;
                return Ok(Some((b, size)));
            }
        }
        let higher = if i + 1 >= NLARGE {
            0
        } else {
            st.large_map.get() & (!0u64 << (i + 1))
        };
        if higher != 0 {
            let b = Offset::new(st.large[higher.trailing_zeros() as usize].get());
            let size = self.header(b)?.0;
            self.unlink_free(b, size)?;
            return Ok(Some((b, size)));
        }
        Ok(None)
    }

    /// Allocates a block with at least `payload` bytes after its header and
    /// returns its offset. The payload is not initialised. Out of memory
    /// leaves everything as it was.
    #[inline]
    pub(crate) fn alloc(&self, payload: u64, kind: u8) -> Result<Offset, Error> {
        self.alloc_block(payload, kind).map(|k| k.at)
    }

    /// [`Heap::alloc`], giving the new block (for a caller that writes it
    /// at once). The common case, a small block popped from its fast bin,
    /// is inline (a few loads and stores); everything else is out of line.
    #[inline(always)]
    pub(crate) fn alloc_block(&self, payload: u64, kind: u8) -> Result<Block, Error> {
        crash_point();
        if payload <= SMALL_MAX - HDR {
            let need = ((payload + HDR + 15) & !15).max(MIN_BLOCK);
            let i = small_index(need);
            let head = self.st().fast[i].get();
            if head != 0 {
                return self.take_fast(i, Offset::new(head), need, kind);
            }
        }
        self.alloc_cold(payload, kind)
    }

    /// [`Heap::alloc`] past the fast bins.
    #[inline(never)]
    fn alloc_cold(&self, payload: u64, kind: u8) -> Result<Block, Error> {
        let Some(need) = payload
            .checked_add(HDR + 15)
            .map(|n| (n & !15).max(MIN_BLOCK))
        else {
            return Err(Error::OutOfMemory {
                requested: payload,
                free: 0,
            });
        };
        let b = match self.alloc_slow(need, kind) {
            Err(Error::OutOfMemory { .. }) if self.st().fast_bytes.get() > 0 => {
                self.consolidate()?;
                self.alloc_slow(need, kind)
            }
            r => r,
        }?;
        self.block(b).ok_or_else(|| not_a_block(b.get()))
    }

    /// Pops the fast block `b` (head of fast bin `i`, of size `need`).
    #[inline(always)]
    fn take_fast(&self, i: usize, b: Offset, need: u64, kind: u8) -> Result<Block, Error> {
        let st = self.st();
        // One check covers the words read and written.
        let Some(k) = self.block(b) else {
            return Err(bad_fast_block(b.get()));
        };
        if k.size != need || k.flags & ALLOC == 0 || k.word(1) != K_FAST as u64 {
            return Err(bad_fast_block(b.get()));
        }
        let next = k.word(2);
        st.fast[i].set(next);
        if next == 0 {
            st.fast_map.set(st.fast_map.get() & !(1 << i));
        }
        st.fast_bytes.set(st.fast_bytes.get().wrapping_sub(need));
        self.stamp_block(k, k.flags & PREV_ALLOC, kind);
        Ok(Block {
            flags: ALLOC | (k.flags & PREV_ALLOC),
            ..k
        })
    }

    /// Writes an allocated block's header and counts it.
    #[inline(always)]
    fn stamp(&self, b: Offset, size: u64, prev_alloc: u64, kind: u8) -> Result<(), Error> {
        let m = self.mem;
        let st = self.st();
        m.set_u64(b, size | ALLOC | prev_alloc)?;
        crash_point();
        let generation = st.next_gen.get();
        m.set_u64(b.add(8), generation << 8 | kind as u64)?;
        self.count_stamp(generation, size);
        Ok(())
    }

    /// [`Heap::stamp`] of a checked block (its size stays).
    #[inline(always)]
    fn stamp_block(&self, k: Block, prev_alloc: u64, kind: u8) {
        k.set_word(0, k.size | ALLOC | prev_alloc);
        crash_point();
        let generation = self.st().next_gen.get();
        k.set_word(1, generation << 8 | kind as u64);
        self.count_stamp(generation, k.size);
    }

    /// The counters' part of a stamp: the generation used, a block more.
    #[inline(always)]
    fn count_stamp(&self, generation: u64, size: u64) {
        let st = self.st();
        // Generations are 56 bits and never 0 (0 marks a cleared header).
        // (wrapping: the word comes from the segment and may be anything.)
        st.next_gen
            .set((generation.wrapping_add(1) & ((1 << 56) - 1)).max(1));
        st.used.set(st.used.get().wrapping_add(size));
        st.blocks.set(st.blocks.get().wrapping_add(1));
    }

    /// Returns every fast block to the coalescing bins (when memory runs
    /// short, so that parked small blocks can serve any size again).
    pub(crate) fn consolidate(&self) -> Result<(), Error> {
        let st = self.st();
        let mut map = st.fast_map.get();
        while map != 0 {
            let i = map.trailing_zeros() as usize;
            map &= map - 1;
            let mut cur = st.fast[i].get();
            st.fast[i].set(0);
            while cur != 0 {
                let b = Offset::new(cur);
                let (size, flags) = self.header(b)?;
                if size != MIN_BLOCK + 16 * i as u64 || self.mem.u64(b.add(8))? != K_FAST as u64 {
                    return Err(Error::corrupt(cur, "wrong block in a fast bin"));
                }
                cur = self.mem.u64(b.add(16))?;
                st.fast_bytes.set(st.fast_bytes.get() - size);
                self.release(b, size, flags)?;
            }
        }
        st.fast_map.set(0);
        Ok(())
    }

    fn alloc_slow(&self, need: u64, kind: u8) -> Result<Offset, Error> {
        let m = self.mem;
        let (b, size, prev_alloc) = match self.take_free(need)? {
            Some((b, size)) => {
                let w0 = m.u64(b)?;
                let rest = size - need;
                if rest >= MIN_BLOCK {
                    // Split: the remainder stays free (its next neighbour's
                    // PREV_ALLOC is already clear).
                    self.insert_free(b.add(need), rest, PREV_ALLOC)?;
                    (b, need, w0 & PREV_ALLOC)
                } else {
                    self.mark_next_prev_alloc(b, size, true)?;
                    (b, size, w0 & PREV_ALLOC)
                }
            }
            None => {
                let st = self.st();
                let top = st.top.get();
                if need > m.len() - top {
                    return Err(Error::OutOfMemory {
                        requested: need,
                        free: m.len() - top + st.free_in_bins.get() + st.fast_bytes.get(),
                    });
                }
                let b = Offset::new(top);
                let pa = if st.top_prev_alloc.get() != 0 {
                    PREV_ALLOC
                } else {
                    0
                };
                // The header first, then `top` takes the block in (a death
                // in between leaves the heap walk as it was).
                self.stamp(b, need, pa, kind)?;
                st.top.set(top + need);
                st.top_prev_alloc.set(1);
                return Ok(b);
            }
        };
        self.stamp(b, size, prev_alloc, kind)?;
        Ok(b)
    }

    #[inline]
    fn mark_next_prev_alloc(&self, b: Offset, size: u64, alloc: bool) -> Result<(), Error> {
        let next = b.get() + size;
        let st = self.st();
        if next == st.top.get() {
            st.top_prev_alloc.set(alloc as u64);
            return Ok(());
        }
        let n = Offset::new(next);
        if alloc {
            self.set_flags(n, PREV_ALLOC, 0)
        } else {
            self.set_flags(n, 0, PREV_ALLOC)
        }
    }

    /// Frees the allocated block `b` (not what it points to) at once; see
    /// [`Heap::free`] for the journal-aware free operations use.
    pub(crate) fn free_now(&self, b: Offset) -> Result<(), Error> {
        crash_point();
        let (k, kind) = self.live_block(b)?;
        if kind == K_FAST {
            return Err(Error::corrupt(b.get(), "block is free already"));
        }
        self.free_live(k)
    }

    /// [`Heap::free_now`] of a block the caller has just checked: an
    /// allocated block (not parked), as [`Heap::live_block`] gives it.
    #[inline(always)]
    pub(crate) fn free_live(&self, k: Block) -> Result<(), Error> {
        let st = self.st();
        let (b, size, flags) = (k.at, k.size, k.flags);
        st.used.set(st.used.get().wrapping_sub(size));
        st.blocks.set(st.blocks.get().wrapping_sub(1));
        if size <= SMALL_MAX && b.get() + size != st.top.get() {
            // Park it in its fast bin: O(1), no coalescing. The generation
            // goes to 0, so old handles are stale; object flags are cleared.
            let i = small_index(k.size);
            k.set_word(0, k.size | ALLOC | (flags & PREV_ALLOC));
            k.set_word(1, K_FAST as u64);
            k.set_word(2, st.fast[i].get());
            st.fast[i].set(b.get());
            st.fast_map.set(st.fast_map.get() | 1 << i);
            st.fast_bytes.set(st.fast_bytes.get().wrapping_add(k.size));
            return Ok(());
        }
        self.release(b, size, flags)
    }

    /// Gives the (already uncounted) block `b` back: coalesces it with free
    /// neighbours and bins it, or lowers `top`.
    #[inline(never)]
    fn release(&self, b: Offset, size: u64, flags: u64) -> Result<(), Error> {
        let m = self.mem;
        let st = self.st();
        let mut start = b;
        let mut total = size;
        let next = b.get() + size;
        if next < st.top.get() {
            let (nsize, nflags) = self.header(Offset::new(next))?;
            if nflags & ALLOC == 0 {
                self.unlink_free(Offset::new(next), nsize)?;
                total += nsize;
            }
        }
        if flags & PREV_ALLOC == 0 {
            let psize = m.u64(Offset::new(b.get() - 8))?;
            let prev = b
                .get()
                .checked_sub(psize)
                .filter(|&p| p >= HEAP_START)
                .ok_or_else(|| Error::corrupt(b.get(), "bad footer of previous block"))?;
            self.unlink_free(Offset::new(prev), psize)?;
            start = Offset::new(prev);
            total += psize;
        }
        // The block before `start` is allocated (free neighbours coalesce).
        // Clear the freed block's generation (even when it is absorbed into
        // a neighbour or into top), so an old handle can never match it,
        // whatever is later written around it.
        m.set_u64(b.add(8), 0)?;
        crash_point();
        if start.get() + total == st.top.get() {
            st.top.set(start.get());
            st.top_prev_alloc.set(1);
            m.set_u64(start, 0)?;
            m.set_u64(start.add(8), 0)?;
            return Ok(());
        }
        self.insert_free(start, total, PREV_ALLOC)?;
        self.mark_next_prev_alloc(start, total, false)
    }

    /// Walks every block from the heap start to `top`, checking headers,
    /// footers, flags, coalescing and the bins; calls `f(block, size,
    /// flags, kind)` for each allocated block. Cost: one step per block.
    pub(crate) fn walk(
        &self,
        mut f: impl FnMut(Offset, u64, u64, u8) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let st = self.st();
        let top = self.checked_top()?;
        let mut o = HEAP_START;
        let mut prev_alloc = true;
        let (mut blocks, mut free_bytes, mut free_blocks) = (0u64, 0u64, 0u64);
        let (mut fast_bytes, mut fast_blocks) = (0u64, 0u64);
        // Each header's address comes from the one before (a chain of
        // loads): keep the lines `Mem::AHEAD` bytes ahead on their way in.
        let mut ahead = o;
        while o < top {
            while ahead < o + Mem::AHEAD {
                self.mem.prefetch(ahead);
                ahead += 64;
            }
            let b = Offset::new(o);
            let (size, flags) = self.header_below(b, top)?;
            if (flags & PREV_ALLOC != 0) != prev_alloc {
                return Err(Error::corrupt(
                    o,
                    "PREV_ALLOC flag disagrees with the previous block",
                ));
            }
            if flags & ALLOC != 0 {
                let w1 = self.mem.u64(b.add(8))?;
                if w1 == K_FAST as u64 {
                    if size > SMALL_MAX || flags & (ROOT | QUEUED) != 0 {
                        return Err(Error::corrupt(o, "malformed fast block"));
                    }
                    fast_bytes += size;
                    fast_blocks += 1;
                } else {
                    blocks += 1;
                    f(b, size, flags, w1 as u8)?;
                }
                prev_alloc = true;
            } else {
                if !prev_alloc {
                    return Err(Error::corrupt(o, "two adjacent free blocks"));
                }
                if flags & (ROOT | QUEUED) != 0 {
                    return Err(Error::corrupt(o, "free block with object flags"));
                }
                if self.mem.u64(b.add(size - 8))? != size {
                    return Err(Error::corrupt(
                        o,
                        "free block footer does not match its size",
                    ));
                }
                free_bytes += size;
                free_blocks += 1;
                prev_alloc = false;
            }
            o += size;
        }
        // The blocks tile `HEAP_START..top` (each ends at or below `top`):
        // the bytes neither free nor parked are allocated.
        let used = top - HEAP_START - free_bytes - fast_bytes;
        let next_gen = st.next_gen.get();
        if next_gen == 0 || next_gen >= 1 << 56 {
            return Err(Error::corrupt(
                std::mem::offset_of!(crate::segment::Header, alloc.next_gen) as u64,
                format!("next generation {next_gen:#x} out of range"),
            ));
        }
        if (st.top_prev_alloc.get() != 0) != prev_alloc {
            return Err(Error::corrupt(
                o,
                "top_prev_alloc disagrees with the last block",
            ));
        }
        let (st_used, st_blocks, st_free) = (st.used.get(), st.blocks.get(), st.free_in_bins.get());
        if used != st_used || blocks != st_blocks || free_bytes != st_free {
            return Err(Error::corrupt(
                std::mem::offset_of!(crate::segment::Header, alloc) as u64,
                format!(
                    "allocator counters (used {}, blocks {}, free {}) disagree with the heap \
                     (used {used}, blocks {blocks}, free {free_bytes})",
                    st_used, st_blocks, st_free
                ),
            ));
        }
        // Every bin: a proper doubly-linked list of free blocks of its class;
        // together they hold exactly the free blocks found above.
        let mut listed = 0u64;
        let check_list = |head: u64, bit_set: bool, in_class: &dyn Fn(u64) -> bool| {
            let mut n = 0u64;
            let mut cur = head;
            let mut prev = 0u64;
            if (head != 0) != bit_set {
                return Err(Error::corrupt(head, "bin bitmap disagrees with the bin"));
            }
            while cur != 0 {
                let b = Offset::new(cur);
                let (size, flags) = self.header(b)?;
                if flags & ALLOC != 0 || !in_class(size) {
                    return Err(Error::corrupt(cur, "wrong block in a free list"));
                }
                if self.mem.u64(b.add(16))? != prev {
                    return Err(Error::corrupt(cur, "free list back link is wrong"));
                }
                n += 1;
                if n > free_blocks {
                    return Err(Error::corrupt(
                        cur,
                        "free lists hold more blocks than the heap",
                    ));
                }
                prev = cur;
                cur = self.mem.u64(b.add(8))?;
            }
            Ok(n)
        };
        for i in 0..NSMALL {
            let want = MIN_BLOCK + 16 * i as u64;
            listed += check_list(
                st.small[i].get(),
                st.small_map.get() & (1 << i) != 0,
                &|s| s == want && s <= SMALL_MAX,
            )?;
        }
        for i in 0..NLARGE {
            listed += check_list(
                st.large[i].get(),
                st.large_map.get() & (1 << i) != 0,
                &|s| s > SMALL_MAX && large_index(s) == i,
            )?;
        }
        // Fast bins: singly linked parked blocks of their exact size.
        let mut parked = 0u64;
        for i in 0..NSMALL {
            let mut cur = st.fast[i].get();
            if (cur != 0) != (st.fast_map.get() & (1 << i) != 0) {
                return Err(Error::corrupt(
                    cur,
                    "fast bin bitmap disagrees with the bin",
                ));
            }
            while cur != 0 {
                let b = Offset::new(cur);
                let (size, flags) = self.header(b)?;
                if flags & ALLOC == 0
                    || self.mem.u64(b.add(8))? != K_FAST as u64
                    || size != MIN_BLOCK + 16 * i as u64
                {
                    return Err(Error::corrupt(cur, "wrong block in a fast bin"));
                }
                parked += 1;
                if parked > fast_blocks {
                    return Err(Error::corrupt(
                        cur,
                        "fast bins hold more blocks than the heap",
                    ));
                }
                cur = self.mem.u64(b.add(16))?;
            }
        }
        if parked != fast_blocks || fast_bytes != st.fast_bytes.get() {
            return Err(Error::corrupt(
                HEAP_START,
                format!("{fast_blocks} parked blocks in the heap but {parked} in the fast bins"),
            ));
        }
        if listed != free_blocks {
            return Err(Error::corrupt(
                HEAP_START,
                format!("{free_blocks} free blocks in the heap but {listed} in the bins"),
            ));
        }
        Ok(())
    }
}

/// What [`Heap::rebuild`] reclaimed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rebuilt {
    /// Allocated blocks that were not kept, now free.
    pub(crate) blocks: u64,
    /// Their bytes.
    pub(crate) bytes: u64,
}

impl Heap {
    /// Rebuilds the allocator's state from the block headers alone (after a
    /// process died inside an allocator step): keeps the allocated blocks
    /// for which `keep` holds, turns every other block (free, parked in a
    /// fast bin, or allocated but not kept) into free space, merges
    /// neighbours, and rewrites flags, footers, bins and counters. It needs
    /// only each block's size word to be sound, which every allocator step
    /// preserves (a block's size changes with one store, and a block is
    /// written before `top` takes it in). Running it again after a death
    /// half-way gives the same result.
    pub(crate) fn rebuild(&self, keep: impl Fn(Offset) -> bool) -> Result<Rebuilt, Error> {
        let st = self.st();
        let top = self.checked_top()?;
        // Check the whole chain of sizes before changing anything.
        let mut o = HEAP_START;
        while o < top {
            o += self.header(Offset::new(o))?.0;
        }
        for w in st.small.iter().chain(&st.large).chain(&st.fast) {
            w.set(0);
        }
        for w in [
            &st.small_map,
            &st.large_map,
            &st.fast_map,
            &st.free_in_bins,
            &st.fast_bytes,
            &st.used,
            &st.blocks,
        ] {
            w.set(0);
        }
        let mut out = Rebuilt::default();
        let mut run: Option<u64> = None;
        let m = self.mem;
        let mut o = HEAP_START;
        while o < top {
            crash_point();
            let b = Offset::new(o);
            let (size, flags) = self.header(b)?;
            let w1 = m.u64(b.add(8))?;
            // Generation 0 marks a header being freed (`release` clears it
            // first): a death there leaves a block that is no longer live.
            let allocated = flags & ALLOC != 0 && w1 != K_FAST as u64 && w1 >> 8 != 0;
            if allocated && keep(b) {
                // The block before is kept (or none), unless a free run
                // ends here.
                let pa = match run.take() {
                    Some(r) => {
                        self.insert_free(Offset::new(r), o - r, PREV_ALLOC)?;
                        0
                    }
                    None => PREV_ALLOC,
                };
                m.set_u64(b, size | ALLOC | (flags & (ROOT | QUEUED)) | pa)?;
                st.used.set(st.used.get() + size);
                st.blocks.set(st.blocks.get() + 1);
            } else {
                if allocated {
                    out.blocks += 1;
                    out.bytes += size;
                }
                // No old handle may match this block again.
                m.set_u64(b.add(8), 0)?;
                run.get_or_insert(o);
            }
            o += size;
        }
        match run {
            Some(r) => {
                st.top.set(r);
                st.top_prev_alloc.set(1);
                m.set_u64(Offset::new(r), 0)?;
                m.set_u64(Offset::new(r).add(8), 0)?;
            }
            None => st.top_prev_alloc.set(1),
        }
        // A death inside `stamp` may have handed out the current generation.
        let g = st.next_gen.get();
        st.next_gen
            .set((g.wrapping_add(1) & ((1 << 56) - 1)).max(1));
        Ok(out)
    }
}

#[cfg(test)]
mod tests;

mod classes;
pub use classes::{BlockStats, SizeClass};

mod journal;
