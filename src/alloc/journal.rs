//! The undo journal: what makes an operation all-or-nothing when its process
//! dies in the middle of it.
//!
//! An operation writes new objects into freshly allocated blocks (nothing
//! reaches them yet), then *publishes* them by overwriting words of objects
//! that are already reachable ("committed" bytes). Before it overwrites
//! committed bytes it [`save`](Heap::save)s them: the journal record (offset,
//! length, old bytes) is written first, then the journal's length is bumped
//! (one 8-byte store publishes the record). While the journal is not empty,
//! [`free`](Heap::free) only records the block: a block freed by an
//! unfinished operation might be reachable again after a rollback. When the
//! structure is consistent again the operation [`commit`](Heap::commit)s:
//! one store empties the journal, then the recorded blocks are freed.
//!
//! Recovery after a death ([`Heap::rollback`]) writes the saved bytes back,
//! newest record first, which restores every committed byte the operation
//! touched; the blocks it had allocated are then unreachable and the
//! allocator rebuild reclaims them. An operation whose only committed write
//! is a single aligned 8-byte store (a list push publishing `len`, `+=`
//! through `int_mut`) needs no record: the store is atomic.
//!
//! Records: `[offset: u64][n: u64][n bytes, padded to 8]`; a record with
//! [`FREE_BIT`] set in `n` (and no bytes) is a deferred free of the block at
//! `offset`.

use super::{HDR, Heap};
use crate::Error;
use crate::format::K_JOURNAL;
use crate::segment::{HEAP_START, Header, JournalState, Offset, Word};

/// `journal.txn` of a transaction that can no longer commit (a free it
/// could not record): its commit rolls it back.
pub(crate) const TXN_DOOMED: u64 = 2;

/// Marks a record as a deferred free.
const FREE_BIT: u64 = 1 << 63;
/// Smallest journal block payload (most operations write a few records of
/// tens of bytes).
const MIN_CAP: u64 = 1024;
/// A journal grown beyond this (by an operation moving many items) is given
/// back at commit.
const KEEP_CAP: u64 = 64 << 10;

/// Where the queue state lives: the only header bytes a record may target.
const QUEUE_AT: u64 = std::mem::offset_of!(Header, queue) as u64;
const QUEUE_LEN: u64 = std::mem::size_of::<crate::segment::QueueState>() as u64;
/// The root-namespace word, which a transaction may journal too.
const ROOT_AT: u64 = std::mem::offset_of!(Header, root) as u64;

#[cold]
#[inline(never)]
fn bad_record(at: u64, what: &str) -> Error {
    Error::corrupt(
        std::mem::offset_of!(Header, journal) as u64,
        format!("journal record at {at}: {what}"),
    )
}

impl Heap {
    #[inline(always)]
    pub(crate) fn journal(&self) -> &JournalState {
        // SAFETY: `Heap::new`'s contract: `mem` starts with the segment
        // header, which holds the journal state; its words are atomics.
        unsafe {
            &*(self.mem.base().add(std::mem::offset_of!(Header, journal)) as *const JournalState)
        }
    }

    /// This heap, for building a new object that nothing reaches yet: its
    /// writes need no journal (a rollback leaves the object unreachable),
    /// its frees happen at once, and it never commits the enclosing
    /// operation.
    #[inline]
    pub(crate) fn fresh(&self) -> Heap {
        Heap {
            st: self.st.map_addr(|a| a | 1),
            ..*self
        }
    }

    /// Size of the journal's block (0 if none).
    pub(crate) fn journal_block_size(&self) -> u64 {
        match self.journal().block.get() {
            0 => 0,
            b => self.header(Offset::new(b)).map_or(0, |(size, _)| size),
        }
    }

    /// Whether an operation has saved bytes or deferred frees not yet
    /// committed.
    #[inline(always)]
    pub(crate) fn in_operation(&self) -> bool {
        self.journal().len.get() != 0
    }

    /// Saves the committed bytes `off..off+n` before the caller overwrites
    /// them (`n` > 0; the range must be inside the segment).
    #[inline]
    pub(crate) fn save(&self, off: Offset, n: u64) -> Result<(), Error> {
        if !self.journaled() {
            return Ok(());
        }
        let src = self.mem.ptr(off, n, 1)?;
        let txn = self.in_transaction();
        if txn && self.saved_last(off, n) {
            return Ok(());
        }
        let rec = 16 + n.next_multiple_of(8);
        let pos = self.journal().len.get();
        let at = self.reserve_journal(rec)?;
        // One bounds check for the whole record.
        let dst = self.mem.ptr(at, rec, 8)?;
        // SAFETY: `dst..dst+rec` and `src..src+n` are in bounds (checked
        // above) and 8- and 1-aligned; the journal block is not part of any
        // value, so they do not overlap; we hold the turn.
        unsafe {
            (dst as *mut u64).write(off.get());
            (dst as *mut u64).add(1).write(n);
            crate::segment::copy_bytes(src, dst.add(16), n as usize);
        }
        super::crash_point();
        let j = self.journal();
        j.len.set(j.len.get() + rec);
        if txn {
            j.last.set(pos + 1);
        }
        super::crash_point();
        Ok(())
    }

    /// Whether the newest record of the operation in progress (in a
    /// transaction) saved exactly `off..off+n`: then the bytes it holds are
    /// older than anything since, and a second record would add nothing.
    #[inline]
    fn saved_last(&self, off: Offset, n: u64) -> bool {
        let j = self.journal();
        let last = j.last.get();
        if last == 0 || last - 1 < j.op_mark.get() || last - 1 + 16 > j.len.get() {
            return false;
        }
        let at = payload_of(j.block.get()).add(last - 1);
        self.mem.u64(at).is_ok_and(|o| o == off.get())
            && self.mem.u64(at.add(8)).is_ok_and(|l| l == n)
    }

    /// Whether a transactional turn is open (see FORMAT.md §9.2): one load.
    #[inline(always)]
    pub(crate) fn in_transaction(&self) -> bool {
        self.journal().txn.get() != 0
    }

    /// Whether the open transaction can only be rolled back (see
    /// [`TXN_DOOMED`]).
    pub(crate) fn transaction_doomed(&self) -> bool {
        self.journal().txn.get() == TXN_DOOMED
    }

    /// [`Heap::save`] in a transaction only: for the writes whose plain
    /// form is one atomic store (or a write past the published length),
    /// which a lone operation needs no record for but a transaction must be
    /// able to undo. Outside a transaction: one branch on a bit of the heap
    /// (see [`Heap::txn_hint`]).
    #[inline(always)]
    pub(crate) fn save_in_txn(&self, off: Offset, n: u64) -> Result<(), Error> {
        if self.txn_hint() {
            return self.save_txn_slow(off, n);
        }
        Ok(())
    }

    /// [`Heap::save_in_txn`] of the `n` bytes at `p`, a pointer into the
    /// segment.
    #[inline(always)]
    pub(crate) fn save_ptr_in_txn(&self, p: *const u8, n: u64) -> Result<(), Error> {
        if self.txn_hint() {
            return self.save_ptr_txn_slow(p, n);
        }
        Ok(())
    }

    // (By value: a view's heap whose address never escapes can stay in
    // registers across a caller's loop, and the check be hoisted out of it.)
    #[cold]
    #[inline(never)]
    fn save_ptr_txn_slow(self, p: *const u8, n: u64) -> Result<(), Error> {
        self.save_ptr(p, n)
    }

    #[cold]
    #[inline(never)]
    fn save_txn_slow(self, off: Offset, n: u64) -> Result<(), Error> {
        if n == 0 {
            return Ok(());
        }
        self.save(off, n)
    }

    /// Opens a transaction (the journal must be empty: the caller commits
    /// first). From here every operation's commit keeps its records, frees
    /// wait for [`Heap::commit_transaction`], and [`Heap::rollback`]
    /// undoes them all.
    pub(crate) fn begin_transaction(&self) -> Result<(), Error> {
        let j = self.journal();
        if j.len.get() != 0 {
            return Err(bad_record(0, "a transaction begins with records left"));
        }
        let g = self.st().next_gen.get();
        j.op_mark.set(0);
        j.last.set(0);
        j.op_born.set(g);
        j.born.set(g);
        // One store opens it.
        j.txn.set(1);
        Ok(())
    }

    /// Commits the open transaction: one store makes the journal a plain
    /// one, whose commit (one store emptying it) is the commit point; then
    /// the deferred frees run.
    pub(crate) fn commit_transaction(&self) -> Result<(), Error> {
        let j = self.journal();
        j.txn.set(0);
        j.op_mark.set(0);
        j.last.set(0);
        super::crash_point();
        self.commit()?;
        self.shrink_journal()
    }

    /// Gives a journal grown past [`KEEP_CAP`] back (the journal must be
    /// empty).
    pub(crate) fn shrink_journal(&self) -> Result<(), Error> {
        let j = self.journal();
        let b = j.block.get();
        if j.len.get() == 0 && j.cap.get() > KEEP_CAP && b != 0 {
            j.block.set(0);
            j.cap.set(0);
            self.free_now(Offset::new(b))?;
        }
        Ok(())
    }

    /// The blocks whose frees the open transaction deferred (for the
    /// validation, which must not count them as orphans).
    pub(crate) fn deferred_frees(&self) -> Result<Vec<Offset>, Error> {
        Ok(self
            .journal_records()?
            .into_iter()
            .filter(|&(_, _, len)| len == FREE_BIT)
            .map(|(_, off, _)| Offset::new(off))
            .collect())
    }

    /// [`Heap::save`] of the `n` bytes at `p`, a pointer into the segment.
    #[inline]
    pub(crate) fn save_ptr(&self, p: *const u8, n: u64) -> Result<(), Error> {
        let off = (p as u64).wrapping_sub(self.mem.base() as u64);
        self.save(Offset::new(off), n)
    }

    /// [`Heap::free`] of a block the caller has just checked with
    /// [`Heap::live_block`] (or [`Heap::check_block`]), which gave `k` and
    /// `kind`: between operations the free is done at once without reading
    /// the header again.
    #[inline(always)]
    pub(crate) fn free_checked(&self, k: super::Block, kind: u8) -> Result<(), Error> {
        let j = self.journal();
        if kind != super::K_FAST && (!self.journaled() || (j.len.get() == 0 && j.txn.get() == 0)) {
            super::crash_point();
            return self.free_live(k);
        }
        self.free(k.at)
    }

    /// Frees block `b` now, or once the operation in progress commits.
    #[inline(never)]
    pub(crate) fn free(&self, b: Offset) -> Result<(), Error> {
        let j = self.journal();
        if !self.journaled() || (j.len.get() == 0 && j.txn.get() == 0) {
            return self.free_now(b);
        }
        let (_, _, kind) = self.live(b)?;
        if kind == super::K_FAST {
            return Err(Error::corrupt(b.get(), "block is free already"));
        }
        if j.txn.get() != 0 {
            // Freed in a transaction: its handles are stale from here on
            // (generation 0, the kind kept for the commit's free); a
            // rollback writes the generation back.
            if let Err(e) = self
                .save(b.add(8), 8)
                .and_then(|()| self.reserve_journal(16).map(drop))
            {
                // No room to record the free: the block would stay
                // allocated and unreachable after a commit, so the
                // transaction can only be rolled back now.
                j.txn.set(TXN_DOOMED);
                return Err(e);
            }
            self.mem.set_u64(b.add(8), kind as u64)?;
        }
        let at = self.reserve_journal(16)?;
        self.mem.set_u64(at, b.get())?;
        self.mem.set_u64(at.add(8), FREE_BIT)?;
        let j = self.journal();
        // Count it first: a commit looks for deferred frees only if any.
        j.frees.set(j.frees.get() + 1);
        j.len.set(j.len.get() + 16);
        Ok(())
    }

    /// Ends the operation in progress: empties the journal (one store), then
    /// frees the blocks it deferred.
    #[inline]
    pub(crate) fn commit(&self) -> Result<(), Error> {
        let j = self.journal();
        let n = j.len.get();
        if n == 0 || !self.journaled() {
            return Ok(());
        }
        self.commit_slow(n)
    }

    #[inline(never)]
    fn commit_slow(&self, n: u64) -> Result<(), Error> {
        super::crash_point();
        let j = self.journal();
        if j.txn.get() != 0 {
            // In a transaction an operation's end only moves the mark:
            // its records stay until the transaction ends.
            j.op_mark.set(n);
            j.op_born.set(self.st().next_gen.get());
            return Ok(());
        }
        if j.frees.get() == 0 {
            // Nothing deferred: emptying the journal is the whole commit.
            j.len.set(0);
            return Ok(());
        }
        let base = self.journal_base()?;
        j.len.set(0);
        j.frees.set(0);
        // The records stay readable: nothing writes the journal block until
        // the next `save`, which this turn makes after these frees.
        let mut at = 0;
        while at < n {
            let (off, len, rec) = self.record_at(base, at, n)?;
            if len == FREE_BIT {
                self.free_now(Offset::new(off))?;
            }
            at += rec;
        }
        let b = j.block.get();
        if j.cap.get() > KEEP_CAP && b != 0 {
            j.block.set(0);
            j.cap.set(0);
            self.free_now(Offset::new(b))?;
        }
        Ok(())
    }

    /// The payload of the journal block, checked: an allocated journal
    /// block holding `cap >= len` bytes.
    fn journal_base(&self) -> Result<Offset, Error> {
        let j = self.journal();
        let (b, cap, n) = (j.block.get(), j.cap.get(), j.len.get());
        if b == 0 {
            return Err(bad_record(0, "journal has records but no block"));
        }
        let (size, _, kind) = self.live(Offset::new(b))?;
        if kind != K_JOURNAL || cap > size - HDR || n > cap {
            return Err(bad_record(0, "journal block does not hold the journal"));
        }
        Ok(payload_of(b))
    }

    /// The record at `at` (of `n` record bytes): its target offset, length
    /// (or [`FREE_BIT`]) and size, checked: inside the records, targeting
    /// the queue state or heap bytes below `top` (a deferred free: a block
    /// offset in the heap).
    fn record_at(&self, base: Offset, at: u64, n: u64) -> Result<(u64, u64, u64), Error> {
        if n - at < 16 {
            return Err(bad_record(at, "truncated"));
        }
        let off = self.mem.u64(base.add(at))?;
        let len = self.mem.u64(base.add(at + 8))?;
        let top = self.top();
        if len == FREE_BIT {
            if off < HEAP_START || off >= top || !off.is_multiple_of(16) {
                return Err(bad_record(at, "deferred free of something not a block"));
            }
            return Ok((off, len, 16));
        }
        let end = off.checked_add(len);
        let in_queue = (off >= QUEUE_AT && end.is_some_and(|e| e <= QUEUE_AT + QUEUE_LEN))
            || (off == ROOT_AT && len == 8);
        let in_heap = off >= HEAP_START && end.is_some_and(|e| e <= top);
        if len == 0 || !(in_queue || in_heap) {
            return Err(bad_record(at, "target out of range"));
        }
        // `len < top`, so this cannot overflow.
        let rec = 16 + len.next_multiple_of(8);
        if rec > n - at {
            return Err(bad_record(at, "truncated"));
        }
        Ok((off, len, rec))
    }

    /// Makes sure the journal can take `bytes` more record bytes without
    /// growing: an operation whose saves are spread over its steps calls
    /// this first, so that running out of memory stops it before any change
    /// rather than half-way.
    #[inline]
    pub(crate) fn journal_room(&self, bytes: u64) -> Result<(), Error> {
        if !self.journaled() {
            return Ok(());
        }
        let j = self.journal();
        let need = j.len.get().saturating_add(bytes);
        if j.block.get() == 0 || need > j.cap.get() {
            self.grow_journal(need)?;
        }
        Ok(())
    }

    /// Room for a record of `rec` bytes at the journal's end (growing the
    /// journal block if needed); returns where to write it.
    fn reserve_journal(&self, rec: u64) -> Result<Offset, Error> {
        let j = self.journal();
        let (len, cap) = (j.len.get(), j.cap.get());
        if len == 0 {
            // The operation's first record: blocks allocated from here on
            // are born in it (see `rollback`).
            j.born.set(self.st().next_gen.get());
        }
        if j.block.get() == 0 || len + rec > cap {
            self.grow_journal(len + rec)?;
        }
        Ok(payload_of(j.block.get()).add(len))
    }

    #[cold]
    #[inline(never)]
    fn grow_journal(&self, need: u64) -> Result<(), Error> {
        let j = self.journal();
        let (old, len) = (j.block.get(), j.len.get());
        let cap = need
            .max(j.cap.get().saturating_mul(2))
            .max(MIN_CAP)
            .next_multiple_of(16);
        let nb = self.alloc(cap, K_JOURNAL)?;
        if len > 0 {
            self.mem.copy_within(payload_of(old), payload(nb), len)?;
        }
        // Publish the new block (the records are in place), then its size.
        j.block.set(nb.get());
        j.cap.set(cap);
        if old != 0 {
            self.free_now(Offset::new(old))?;
        }
        Ok(())
    }

    /// Writes back every byte the interrupted operation saved, newest record
    /// first, and empties the journal. Its deferred frees are dropped (those
    /// blocks are reachable again), except, with `free_born`, the frees of
    /// blocks born in the operation (a table replaced twice), which are
    /// unreachable after the rollback and are freed now. (Recovery passes
    /// `false`: its reclaiming pass frees them, and stays idempotent.)
    /// Returns the number of records undone.
    pub(crate) fn rollback(&self, free_born: bool) -> Result<u64, Error> {
        let j = self.journal();
        // (A heap building a new object has no operation of its own.)
        if !self.journaled() {
            return Ok(0);
        }
        let n = j.len.get();
        let txn = j.txn.get() != 0;
        // In a transaction an operation's own rollback (`free_born`) goes
        // back to the operation's start only; recovery undoes it all.
        let from = if txn && free_born {
            j.op_mark.get().min(n)
        } else {
            0
        };
        if n == from {
            if !free_born {
                self.end_transaction();
            }
            return Ok(0);
        }
        let records = self.journal_records()?;
        let base = self.journal_base()?;
        let mut undone = 0;
        for &(at, off, len) in records.iter().rev() {
            if at < from {
                break;
            }
            if len & FREE_BIT != 0 {
                continue;
            }
            super::crash_point();
            self.mem
                .copy_within(base.add(at + 16), Offset::new(off), len)?;
            undone += 1;
        }
        let kept = records
            .iter()
            .filter(|&&(at, _, len)| at < from && len == FREE_BIT)
            .count() as u64;
        j.len.set(from);
        j.frees.set(kept);
        j.last.set(0);
        if !free_born {
            self.end_transaction();
        }
        if free_born {
            let born = if txn { j.op_born.get() } else { j.born.get() };
            for &(at, off, len) in &records {
                let b = Offset::new(off);
                if at >= from
                    && len == FREE_BIT
                    && let Ok((_, _, kind)) = self.live(b)
                    && kind != super::K_FAST
                    && self.handle(b)?.generation >= born
                {
                    self.free_now(b)?;
                }
            }
        }
        Ok(undone)
    }

    /// Closes the transaction (after its records are undone or committed).
    fn end_transaction(&self) {
        let j = self.journal();
        j.txn.set(0);
        j.op_mark.set(0);
        j.last.set(0);
    }

    /// The journal's records (position, target offset, length), each
    /// checked (see `record_at`).
    pub(crate) fn journal_records(&self) -> Result<Vec<(u64, u64, u64)>, Error> {
        let n = self.journal().len.get();
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        let base = self.journal_base()?;
        let mut at = 0;
        while at < n {
            let (off, len, rec) = self.record_at(base, at, n)?;
            out.push((at, off, len));
            at += rec;
        }
        Ok(out)
    }
}

fn payload_of(b: u64) -> Offset {
    payload(Offset::new(b))
}

fn payload(b: Offset) -> Offset {
    b.add(HDR)
}
