//! The validator: from the header through every reachable object.
//!
//! It walks the allocator's blocks once, in address order (headers,
//! footers, free lists, counters), marking each allocated block in a bitmap;
//! then the message queue; then every object reachable from a root, with an
//! explicit stack (no recursion, whatever the nesting), checking each slot
//! ([`Slot::check`], the rule bytecheck's `Verify` for `Slot` applies) and
//! each object's lengths against its block, UTF-8 of strings, kinds of
//! pointed-to blocks, and that every object has exactly one owner (a second
//! bitmap of owned blocks, which also rules out cycles). Cost is
//! proportional to the heap's high-water mark, not the segment size; its
//! memory is the two bitmaps (one bit per 16 heap bytes each, side by side),
//! the stack, and one scratch vector that the dict checks reuse.
//!
//! Both walks move forward through memory, as values are allocated: the
//! walk of the blocks prefetches the lines ahead of the header it reads (a
//! chain of dependent loads otherwise), and the object walk takes an
//! object's children in the order it found them and prefetches ahead of
//! each block it claims.

use super::bytearray::{BA_PAYLOAD, ByteArrayLayout};
use super::list::{CHUNK_SLOTS, ListLayout, TABLE_ENTRIES, chunk_cap};
use super::{
    K_BOX, K_BYTES_DATA, K_JOURNAL, K_LIST_CHUNK, K_LIST_TABLE, K_QUEUE, SEQ_SLOTS, Slot,
    T_BYTEARRAY, T_BYTES, T_DICT, T_FROZENSET, T_LIST, T_OBJECT, T_PICKLED, T_SET, T_STR, T_TUPLE,
    is_ptr_tag, payload, type_name,
};
use crate::Error;
use crate::alloc::{HDR, Heap, QUEUED, ROOT};
use crate::segment::{HEAP_START, Mem, Offset, QueueState, Word};

/// What validation found in a sound segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Heap bytes walked (the high-water mark less the header).
    pub heap_bytes: u64,
    /// Allocated blocks.
    pub blocks: u64,
    /// Root objects (messages in the queue, taken ones not yet freed, and
    /// the root namespace once it exists).
    pub roots: u64,
    /// Messages in the queue.
    pub messages: u64,
    /// Blocks reachable from the roots and the queue (values and their parts).
    pub reachable: u64,
    /// Allocated blocks that nothing reaches (left by an interrupted
    /// operation); harmless, and reclaimed by recovery.
    pub orphans: u64,
}

struct Bits(Vec<u64>);

impl Bits {
    fn new(top: u64) -> Bits {
        let n = ((top - HEAP_START) / 16).div_ceil(64) as usize;
        Bits(vec![0; n.max(1)])
    }
    fn idx(o: Offset) -> (usize, u64) {
        let g = (o.get() - HEAP_START) / 16;
        ((g / 64) as usize, 1 << (g % 64))
    }
    fn set(&mut self, o: Offset) {
        let (i, b) = Bits::idx(o);
        self.0[i] |= b;
    }
    fn get(&self, o: Offset) -> bool {
        let (i, b) = Bits::idx(o);
        self.0.get(i).is_some_and(|w| w & b != 0)
    }
}

/// The two marks of each block, one bit per 16 heap bytes each: allocated
/// (set by the walk of the blocks) and owned (set by the claim that
/// reaches it), side by side so that a claim tests and sets both in one
/// place.
struct Marks(Vec<[u64; 2]>);

const ALLOCATED: usize = 0;
const OWNED: usize = 1;

impl Marks {
    fn new(top: u64) -> Marks {
        let n = ((top - HEAP_START) / 16).div_ceil(64) as usize;
        Marks(vec![[0; 2]; n.max(1)])
    }
    /// The word and bit of block `b` (one below `HEAP_START` wraps to a
    /// word past the end: not marked).
    #[inline(always)]
    fn idx(b: Offset) -> (usize, u64) {
        let g = b.get().wrapping_sub(HEAP_START) / 16;
        ((g / 64) as usize, 1 << (g % 64))
    }
    #[inline(always)]
    fn set(&mut self, mark: usize, b: Offset) {
        let (i, bit) = Marks::idx(b);
        self.0[i][mark] |= bit;
    }
    #[inline(always)]
    fn get(&self, mark: usize, b: Offset) -> bool {
        let (i, bit) = Marks::idx(b);
        self.0.get(i).is_some_and(|w| w[mark] & bit != 0)
    }
}

#[cold]
#[inline(never)]
fn not_a_block(o: u64) -> Error {
    Error::corrupt(o, "pointer to something that is not an allocated block")
}

#[cold]
#[inline(never)]
fn two_owners(o: u64) -> Error {
    Error::corrupt(o, "object has two owners (shared or cyclic)")
}

#[cold]
#[inline(never)]
fn wrong_kind(o: u64, want: u8, found: u8) -> Error {
    Error::corrupt(
        o,
        format!(
            "expected a {} block, found {}",
            type_name(want),
            type_name(found)
        ),
    )
}

struct Walk<'a> {
    heap: &'a Heap,
    /// The heap's top (it does not move while the validator runs).
    top: u64,
    marks: Marks,
    stack: Vec<(Offset, u8)>,
    reachable: u64,
    /// Scratch space of the dict and set checks, reused.
    entries: Vec<u8>,
}

impl Walk<'_> {
    /// Claims block `b` as owned by one more owner: it must be allocated,
    /// of kind `kind` (any value kind for `None`), and not owned yet.
    #[inline(always)]
    fn claim(&mut self, b: Offset, kind: Option<u8>) -> Result<(u64, u8), Error> {
        let o = b.get();
        if o < HEAP_START || !o.is_multiple_of(16) || o >= self.top {
            return Err(not_a_block(o));
        }
        let (i, bit) = Marks::idx(b);
        let Some(m) = self.marks.0.get_mut(i) else {
            return Err(not_a_block(o));
        };
        if m[ALLOCATED] & bit == 0 {
            return Err(not_a_block(o));
        }
        if m[OWNED] & bit != 0 {
            return Err(two_owners(o));
        }
        m[OWNED] |= bit;
        self.reachable += 1;
        // The walk moves forward through memory (see `Walk::children`).
        self.heap.mem.prefetch(o + Mem::AHEAD);
        // The walk of the blocks checked this allocated block's header.
        let (size, k) = self.heap.allocated_block(b)?;
        if let Some(want) = kind.filter(|&w| w != k) {
            return Err(wrong_kind(o, want, k));
        }
        Ok((size - HDR, k))
    }

    /// Queues the object the pointer slot `slot` names, to be claimed and
    /// checked; its header's line is asked for now, so that it is there
    /// (or on its way) when the stack comes back to it.
    #[inline(always)]
    fn push(&mut self, slot: Slot) {
        self.heap.mem.prefetch(slot.payload);
        self.stack.push((Offset::new(slot.payload), slot.tag));
    }

    /// Checks the slot at `s` (see [`Walk::slot`]).
    #[inline(always)]
    fn slot_at(&mut self, s: Offset) -> Result<(), Error> {
        let slot = Slot::read_checked(&self.heap.mem, s)?;
        if is_ptr_tag(slot.tag) {
            self.push(slot);
        }
        Ok(())
    }

    /// Checks `slot` ([`Slot::check`]) and queues what it points to, to be
    /// claimed; `at` names its offset for the error.
    #[inline(always)]
    fn slot(&mut self, slot: Slot, at: impl FnOnce() -> Offset) -> Result<(), Error> {
        if let Err(why) = slot.check() {
            return Err(Error::corrupt(at().get(), why.to_owned()));
        }
        if is_ptr_tag(slot.tag) {
            self.push(slot);
        }
        Ok(())
    }

    /// [`Walk::object`], its children then stacked to come off in the
    /// order they were found: a value's parts are mostly allocated in
    /// that order, so the walk moves forward through memory (as the
    /// prefetchers expect).
    #[inline(always)]
    fn children(&mut self, b: Offset, cap: u64, kind: u8) -> Result<(), Error> {
        let first = self.stack.len();
        self.object(b, cap, kind)?;
        if self.stack.len() > first + 1 {
            self.stack[first..].reverse();
        }
        Ok(())
    }

    fn object(&mut self, b: Offset, cap: u64, kind: u8) -> Result<(), Error> {
        let m = self.heap.mem;
        let o = b.get();
        let too_long = |what: &str| Error::corrupt(o, format!("{what} longer than its block"));
        match kind {
            K_BOX => self.slot_at(payload(b))?,
            T_BYTEARRAY => {
                if cap < BA_PAYLOAD {
                    return Err(too_long("bytearray header"));
                }
                let l = ByteArrayLayout::read(self.heap, b)?;
                if !l.data.is_null() {
                    let (dcap, _) = self.claim(l.data, Some(K_BYTES_DATA))?;
                    if l.cap > dcap {
                        return Err(Error::corrupt(
                            o,
                            "bytearray capacity beyond its data block",
                        ));
                    }
                }
            }
            super::T_TYPED => super::typed::TypedLayout::validate(self.heap, b)?,
            super::T_ARRAY => super::array::ArrayLayout::validate(self.heap, b)?,
            // A pickle is opaque bytes: laid out and checked as bytes.
            T_STR | T_BYTES | T_PICKLED => {
                let len = m.u64(payload(b))?;
                if len > cap - 8 {
                    return Err(too_long(type_name(kind)));
                }
                if kind == T_STR {
                    // SAFETY: the validator runs inside a turn; nothing
                    // writes while the slice lives (this statement).
                    let bytes = unsafe { m.bytes(payload(b).add(8), len)? };
                    std::str::from_utf8(bytes)
                        .map_err(|e| Error::corrupt(o, format!("str is not UTF-8: {e}")))?;
                }
            }
            // An object is a tuple of two slots (class str, attribute dict).
            T_TUPLE | T_FROZENSET | T_OBJECT => {
                let len = m.u64(payload(b))?;
                if len.checked_mul(16).is_none_or(|n| n > cap - 16) {
                    return Err(too_long(type_name(kind)));
                }
                if m.u64(payload(b).add(8))? != 0 {
                    return Err(Error::corrupt(o, "reserved word is not zero"));
                }
                if kind == T_OBJECT {
                    super::object::check(&m, b, len)?;
                }
                for i in 0..len {
                    self.slot_at(b.add(SEQ_SLOTS + 16 * i))?;
                }
            }
            T_DICT | T_SET => {
                let mut entries = std::mem::take(&mut self.entries);
                let r = super::hashed_check::check(self.heap, b, kind, cap, &mut entries, self);
                self.entries = entries;
                r?
            }
            k if super::scalar::is_scalar_kind(k) => {
                // SAFETY: the validator runs inside a turn; the views die
                // in this statement.
                unsafe { super::scalar::read(self.heap, b, k, cap)? };
            }
            T_LIST => {
                if cap < 32 || m.u64(payload(b).add(24))? != 0 {
                    return Err(Error::corrupt(o, "list header malformed"));
                }
                let l = ListLayout::read(self.heap, b)?;
                if !l.table.is_null() {
                    let (tcap_bytes, _) = self.claim(l.table, Some(K_LIST_TABLE))?;
                    let tcap = m.u64(payload(l.table))?;
                    if tcap.checked_mul(8).is_none_or(|n| n > tcap_bytes - 16) || l.nchunks > tcap {
                        return Err(Error::corrupt(l.table.get(), "list table malformed"));
                    }
                    for k in 0..l.nchunks {
                        let c = l.chunk(self.heap, k)?;
                        let (ccap, _) = self.claim(c, Some(K_LIST_CHUNK))?;
                        if m.u64(payload(c))? != k || 16 + 16 * chunk_cap(k) > ccap {
                            return Err(Error::corrupt(c.get(), "list chunk malformed"));
                        }
                    }
                }
                // The slots a chunk's run at a time (bounds-checked once).
                let table = l.table(self.heap)?;
                // SAFETY: we hold the turn; nothing writes the slots.
                unsafe {
                    table.slots(&m, 0, l.len, |i, slots| {
                        for (j, s) in slots.iter().enumerate() {
                            self.slot(*s, || {
                                l.slot(self.heap, i + j as u64).unwrap_or(Offset::new(0))
                            })?;
                        }
                        Ok(())
                    })?;
                }
                debug_assert_eq!(CHUNK_SLOTS, TABLE_ENTRIES);
            }
            _ => {
                return Err(Error::corrupt(
                    o,
                    format!("{} block where a value was expected", type_name(kind)),
                ));
            }
        }
        Ok(())
    }
}

impl super::hashed_check::Owner for Walk<'_> {
    fn claim(&mut self, b: Offset, kind: u8) -> Result<u64, Error> {
        Walk::claim(self, b, Some(kind)).map(|(room, _)| room)
    }
    fn slot(&mut self, slot: Slot, at: impl FnOnce() -> Offset) -> Result<(), Error> {
        Walk::slot(self, slot, at)
    }
}

/// Calls `f(entry offset, handle)` for each live queue entry, oldest first
/// (counters `head..tail`, entry `c` at ring index `c % cap`), after checking
/// the counters: `tail - head <= cap`, `cap > 0`.
pub(crate) fn queue_entries(
    heap: &Heap,
    queue: &QueueState,
    mut f: impl FnMut(Offset, crate::segment::Handle) -> Result<(), Error>,
) -> Result<(), Error> {
    let (ring, cap, head) = (queue.ring.get(), queue.cap.get(), queue.head.get());
    let len = queue.tail.get().wrapping_sub(head);
    if len == 0 {
        return Ok(());
    }
    if ring == 0 || cap == 0 || len > cap {
        return Err(Error::corrupt(
            std::mem::offset_of!(crate::segment::Header, queue) as u64,
            "queue counters out of range",
        ));
    }
    for i in 0..len {
        let e = payload(Offset::new(ring)).add(16 * (head.wrapping_add(i) % cap));
        let h = crate::segment::Handle {
            offset: Offset::new(heap.mem.u64(e)?),
            generation: heap.mem.u64(e.add(8))?,
        };
        f(e, h)?;
    }
    Ok(())
}

/// Validates the whole heap, the queue and the root namespace (`root`: the
/// header's root word).
pub(crate) fn validate(heap: &Heap, queue: &QueueState, root: u64) -> Result<Report, Error> {
    validate_marking(heap, queue, root).map(|(r, _)| r)
}

/// The blocks a validation found reachable.
pub(crate) struct Reached(Marks);

impl Reached {
    /// Whether block `b` is reachable from a root (the root namespace
    /// among them), the queue or the journal.
    pub(crate) fn get(&self, b: Offset) -> bool {
        b.get() >= HEAP_START && self.0.get(OWNED, b)
    }
}

/// [`validate`], also returning which blocks are reachable.
pub(crate) fn validate_marking(
    heap: &Heap,
    queue: &QueueState,
    root: u64,
) -> Result<(Report, Reached), Error> {
    let top = heap.top();
    if top < HEAP_START || top > heap.mem.len() {
        return Err(Error::corrupt(0, "heap top out of range"));
    }
    let mut marks = Marks::new(top);
    let mut roots = Vec::new();
    let mut queued = 0u64;
    let mut blocks = 0u64;
    heap.walk(|b, _, flags, kind| {
        marks.set(ALLOCATED, b);
        blocks += 1;
        if flags & (ROOT | QUEUED) == 0 {
            return Ok(());
        }
        if flags & ROOT == 0 {
            return Err(Error::corrupt(b.get(), "queued block that is not a root"));
        }
        if kind != K_BOX && !is_ptr_tag(kind) {
            return Err(Error::corrupt(b.get(), "root that is not a value"));
        }
        roots.push(b);
        queued += (flags & QUEUED != 0) as u64;
        Ok(())
    })?;
    check_root(heap, &marks, root)?;
    let mut w = Walk {
        heap,
        top,
        marks,
        stack: Vec::new(),
        reachable: 0,
        entries: Vec::new(),
    };
    // The undo journal: empty between operations (a non-empty one is an
    // interrupted operation, which recovery rolls back first).
    let j = heap.journal();
    let joff = std::mem::offset_of!(crate::segment::Header, journal) as u64;
    // (An open transaction keeps its records: FORMAT.md §9.2.)
    let txn = heap.in_transaction();
    if j.len.get() != 0 && !txn {
        return Err(Error::corrupt(
            joff,
            format!(
                "an interrupted operation left {} journal bytes (recover first)",
                j.len.get()
            ),
        ));
    }
    if j.block.get() != 0 {
        let (room, _) = w.claim(Offset::new(j.block.get()), Some(K_JOURNAL))?;
        if j.cap.get() > room {
            return Err(Error::corrupt(joff, "journal capacity beyond its block"));
        }
    } else if j.cap.get() != 0 {
        return Err(Error::corrupt(joff, "journal capacity without a block"));
    }
    // The queue: a ring of handles to queued roots.
    let qoff = std::mem::offset_of!(crate::segment::Header, queue) as u64;
    let len = queue.tail.get().wrapping_sub(queue.head.get());
    let ring = queue.ring.get();
    if ring == 0 {
        if len != 0 || queue.cap.get() != 0 {
            return Err(Error::corrupt(qoff, "queue without a ring has entries"));
        }
    } else {
        let (cap_bytes, _) = w.claim(Offset::new(ring), Some(K_QUEUE))?;
        if queue
            .cap
            .get()
            .checked_mul(16)
            .is_none_or(|n| n > cap_bytes)
        {
            return Err(Error::corrupt(qoff, "queue ring smaller than its capacity"));
        }
        let mut in_ring = Bits::new(top);
        queue_entries(heap, queue, |e, h| {
            let (_, flags, _) = heap.check_handle(h).map_err(|_| {
                Error::corrupt(
                    e.get(),
                    "queue entry is not a live object of that generation",
                )
            })?;
            if flags & QUEUED == 0 || !w.marks.get(ALLOCATED, h.offset) {
                return Err(Error::corrupt(
                    e.get(),
                    "queue entry's object is not marked queued",
                ));
            }
            if in_ring.get(h.offset) {
                return Err(Error::corrupt(e.get(), "object queued twice"));
            }
            in_ring.set(h.offset);
            Ok(())
        })?;
    }
    if queued != len {
        return Err(Error::corrupt(
            qoff,
            format!("{queued} blocks marked queued but the queue holds {len}"),
        ));
    }
    // Every root, the root namespace among them (it carries `ROOT`; the
    // check above made sure), is walked the same way.
    for &r in &roots {
        let (cap, kind) = w.claim(r, None)?;
        w.children(r, cap, kind)?;
        while let Some((b, tag)) = w.stack.pop() {
            let (cap, kind) = w.claim(b, Some(tag))?;
            w.children(b, cap, kind)?;
        }
    }
    // The journal's block is bookkeeping: not counted as a value's block.
    let journal = (j.block.get() != 0) as u64;
    // Blocks an open transaction freed (the frees wait for its commit) are
    // neither values nor orphans.
    let mut deferred = 0;
    if txn {
        for b in heap.deferred_frees()? {
            if w.marks.get(ALLOCATED, b) && !w.marks.get(OWNED, b) {
                deferred += 1;
            }
        }
    }
    let report = Report {
        heap_bytes: top - HEAP_START,
        blocks: blocks - journal - deferred,
        roots: roots.len() as u64,
        messages: len,
        reachable: w.reachable - journal,
        orphans: blocks - w.reachable - deferred,
    };
    Ok((report, Reached(w.marks)))
}

/// Checks the header's root word: 0 (no root namespace yet), or an
/// allocated dict block flagged `ROOT` and not `QUEUED` (so it is walked
/// with the other roots, and the queue cannot name it: a queue entry's
/// object must be `QUEUED`).
fn check_root(heap: &Heap, marks: &Marks, root: u64) -> Result<(), Error> {
    if root == 0 {
        return Ok(());
    }
    let at = std::mem::offset_of!(crate::segment::Header, root) as u64;
    let b = Offset::new(root);
    if root < HEAP_START
        || !root.is_multiple_of(16)
        || root >= heap.top()
        || !marks.get(ALLOCATED, b)
    {
        return Err(Error::corrupt(
            at,
            "root namespace is not an allocated block",
        ));
    }
    let (_, flags, kind) = heap.live(b)?;
    if kind != T_DICT {
        return Err(Error::corrupt(
            at,
            format!("root namespace is a {} block, not a dict", type_name(kind)),
        ));
    }
    if flags & ROOT == 0 {
        return Err(Error::corrupt(at, "root namespace is not flagged ROOT"));
    }
    if flags & QUEUED != 0 {
        return Err(Error::corrupt(at, "root namespace is in the message queue"));
    }
    Ok(())
}
