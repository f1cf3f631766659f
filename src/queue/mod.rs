//! The message queue, and the turn's operations on handles.
//!
//! The queue is a ring of handles (offset, generation) in one block, grown
//! by doubling. A message is a root object: a value's block, or a box
//! holding one slot for scalars. Queued roots carry the `QUEUED` flag;
//! taking a message clears it and hands ownership to the caller, who frees
//! it with [`Turn::free`] (or enqueues it again with [`Turn::put_handle`]).

use crate::Error;
use crate::alloc::{Block, Heap, QUEUED, ROOT, Stats};
use crate::format::validate::{Report, validate};
use crate::format::{
    K_BOX, K_QUEUE, T_BYTEARRAY, T_BYTES, T_DICT, T_LIST, T_SET, T_STR, T_TYPED, free_object,
    free_object_checked, is_ptr_tag, payload,
};
use crate::segment::{Handle, Offset, Word};
use crate::turn::Turn;
use crate::value::{
    ArrayMut, BytesMut, DictMut, ListMut, SetMut, Value, ValueRef, write_blob_block, write_slot,
};

mod root;

/// The refusal of an operation that only a taken message's owner may do
/// (free it, enqueue it) on the root namespace, which the header owns.
fn owned_by_the_header(h: Handle) -> Error {
    Error::NotOwned {
        offset: h.offset.get(),
        owner: "the root namespace",
    }
}

/// The queue's counters, read from the header. `head` and `tail` count
/// every message ever taken and put (wrapping); the live entries are the
/// counters `head..tail`, entry `c` at ring index `c % cap`.
#[derive(Clone, Copy)]
struct Ring {
    ring: u64,
    cap: u64,
    head: u64,
    tail: u64,
}

impl Ring {
    /// Number of live entries.
    fn len(&self) -> u64 {
        self.tail.wrapping_sub(self.head)
    }

    /// Offset of the entry of counter `c`.
    #[inline(always)]
    fn entry(&self, c: u64) -> Result<Offset, Error> {
        // (Bounded, so that the sum below cannot overflow whatever the
        // segment says; the bounds check of the access refuses a ring
        // beyond the segment.)
        if self.cap == 0 || self.ring == 0 || self.cap > 1 << 58 || self.ring > 1 << 62 {
            return Err(no_ring());
        }
        // The ring grows by doubling from 16: its capacity is a power of
        // two (a mask, not a division), unless the segment says otherwise.
        let i = if self.cap.is_power_of_two() {
            c & (self.cap - 1)
        } else {
            c % self.cap
        };
        Ok(payload(Offset::new(self.ring)).add(16 * i))
    }
}

#[cold]
#[inline(never)]
fn no_ring() -> Error {
    Error::corrupt(
        std::mem::offset_of!(crate::segment::Header, queue) as u64,
        "queue entries without a ring",
    )
}

impl<'seg> Turn<'seg> {
    /// The allocator for this turn.
    #[inline]
    pub(crate) fn heap(&self) -> Heap {
        // SAFETY: the state belongs to this segment's header and we hold the
        // turn; views made from it borrow the turn.
        unsafe { Heap::new(self.mem(), self.alloc_state()) }
    }

    fn queue(&self) -> Ring {
        let q = self.queue_state();
        Ring {
            ring: q.ring.get(),
            cap: q.cap.get(),
            head: q.head.get(),
            tail: q.tail.get(),
        }
    }

    /// Journals the queue's counters (before a change of several).
    fn save_queue(&self) -> Result<(), Error> {
        let at = std::mem::offset_of!(crate::segment::Header, queue) as u64;
        self.heap().save(
            Offset::new(at),
            std::mem::size_of::<crate::segment::QueueState>() as u64,
        )
    }

    /// Writes `v` into the segment and appends it to the message queue.
    /// Returns the message's handle. On [`Error::OutOfMemory`] nothing changed.
    pub fn put_message(&mut self, v: &Value) -> Result<Handle, Error> {
        let heap = self.heap();
        // A str or bytes is one block (its length and bytes, written in
        // one go); nothing reaches it until it is published.
        let blob = match v {
            Value::Str(s) => Some((T_STR, s.as_bytes())),
            Value::Bytes(b) => Some((T_BYTES, &b[..])),
            _ => None,
        };
        if let Some((tag, bytes)) = blob {
            let k = write_blob_block(&heap.fresh(), tag, bytes)?;
            return self.publish_block(heap, k);
        }
        let slot = write_slot(&heap, v)?;
        let b = match slot.ptr() {
            Some(b) => b,
            None => {
                let b = heap.alloc(16, K_BOX)?;
                slot.write(&heap.mem, payload(b))?;
                b
            }
        };
        self.publish_message(b)
    }

    /// Makes the complete object at `b` a root and appends it to the queue
    /// (the publishing step of every put); on failure frees it.
    pub(crate) fn publish_message(&mut self, b: Offset) -> Result<Handle, Error> {
        let heap = self.heap();
        match heap.block(b) {
            Some(k) => self.publish_block(heap, k),
            None => self.publish_slow(b),
        }
    }

    /// [`Turn::publish_message`] of the new block `k` (`heap` is this
    /// turn's).
    #[inline(always)]
    fn publish_block(&mut self, heap: Heap, k: Block) -> Result<Handle, Error> {
        if !heap.txn_hint() && !heap.in_operation() {
            // The common case, between operations and with room in the
            // ring: exactly `enqueue`'s steps without a journal (the entry,
            // then `tail` publishes it, then the flags), and no commit.
            let h = Handle {
                offset: k.at,
                generation: k.generation(),
            };
            let q = self.queue();
            if q.len() < q.cap
                && let Ok(e) = q.entry(q.tail)
                && heap
                    .mem
                    .set_u64_pair(e, h.offset.get(), h.generation)
                    .is_ok()
            {
                self.queue_state().tail.set(q.tail.wrapping_add(1));
                crate::alloc::crash_point();
                k.set_flags(k.flags | ROOT | QUEUED);
                return Ok(h);
            }
        }
        self.publish_slow(k.at)
    }

    /// [`Turn::publish_message`] in a transaction, after an operation that
    /// left records, or with a full ring.
    #[inline(never)]
    fn publish_slow(&mut self, b: Offset) -> Result<Handle, Error> {
        let heap = self.heap();
        let h = heap.handle(b)?;
        let r = self.enqueue(h, ROOT | QUEUED);
        heap.commit()?;
        if let Err(e) = r {
            free_object(&heap, b)?;
            return Err(e);
        }
        Ok(h)
    }

    /// Appends an existing root object (a message taken earlier) to the
    /// queue. The root namespace ([`Turn::root`]) is refused.
    pub fn put_handle(&mut self, h: Handle) -> Result<(), Error> {
        let (_, flags, _) = self.heap().check_handle(h)?;
        if self.is_root(h) {
            return Err(owned_by_the_header(h));
        }
        if flags & ROOT == 0 {
            return Err(Error::NotOwned {
                offset: h.offset.get(),
                owner: "a container",
            });
        }
        if flags & QUEUED != 0 {
            return Err(Error::NotOwned {
                offset: h.offset.get(),
                owner: "the message queue",
            });
        }
        let r = self.enqueue(h, QUEUED);
        self.heap().commit()?;
        r
    }

    /// Appends `h` to the ring: the entry past the live ones, then `tail`
    /// (one store publishes it), then the object's flags (`set`). The ring
    /// is the truth about what is queued: a death between the last two is
    /// repaired by recovery, which flags every object the ring names. A
    /// full ring is replaced first (journaled; the caller commits).
    fn enqueue(&mut self, h: Handle, set: u64) -> Result<(), Error> {
        let heap = self.heap();
        let m = heap.mem;
        let mut q = self.queue();
        if q.len() >= q.cap {
            // Grow: write the new ring fully (each entry at its counter's
            // index), publish it (ring and cap: journaled), then free the
            // old one.
            let ncap = (q.cap * 2).max(16);
            self.save_queue()?;
            let nr = heap.alloc(16 * ncap, K_QUEUE)?;
            let old = q.ring;
            let new = Ring {
                ring: nr.get(),
                cap: ncap,
                ..q
            };
            for c in q.head..q.head.wrapping_add(q.len()) {
                m.copy_within(q.entry(c)?, new.entry(c)?, 16)?;
            }
            let st = self.queue_state();
            st.ring.set(new.ring);
            st.cap.set(new.cap);
            q = new;
            if old != 0 {
                heap.free(Offset::new(old))?;
            }
        }
        let e = q.entry(q.tail)?;
        if heap.in_transaction() {
            // The entry past the live ones may be one this transaction
            // took; `tail` and the flags go back with a rollback too.
            heap.save(e, 16)?;
            self.save_queue()?;
            heap.save(h.offset, 8)?;
        }
        m.set_u64(e, h.offset.get())?;
        m.set_u64(e.add(8), h.generation)?;
        self.queue_state().tail.set(q.tail.wrapping_add(1));
        crate::alloc::crash_point();
        if heap.in_operation() {
            // The ring was replaced (journaled): a rollback must take the
            // flags back with it.
            heap.save(h.offset, 8)?;
        }
        heap.set_flags(h.offset, set, 0)
    }

    fn queue_front(&self) -> Result<Option<Handle>, Error> {
        self.peek_message(0)
    }

    /// The handle in the ring entry of counter `c`.
    #[inline(always)]
    fn entry_handle(&self, q: &Ring, c: u64) -> Result<Handle, Error> {
        let (offset, generation) = self.mem().u64_pair(q.entry(c)?)?;
        Ok(Handle {
            offset: Offset::new(offset),
            generation,
        })
    }

    /// The `i`-th message from the front of the queue (0 is the oldest,
    /// what [`Turn::read_message`] gives), left in the queue; `None` past
    /// the last one. For tools that list the queue.
    pub fn peek_message(&self, i: usize) -> Result<Option<Handle>, Error> {
        let q = self.queue();
        if i as u64 >= q.len() {
            return Ok(None);
        }
        Ok(Some(self.entry_handle(&q, q.head.wrapping_add(i as u64))?))
    }

    /// Takes the oldest message out of the queue (FIFO). The caller owns
    /// it now: free it with [`Turn::free`] when done.
    pub fn take_message(&mut self) -> Result<Option<Handle>, Error> {
        let q = self.queue();
        if q.len() == 0 {
            return Ok(None);
        }
        let heap = self.heap();
        let h = self.entry_handle(&q, q.head)?;
        let (k, _) = heap.check_block(h)?;
        // The flag first, then `head` (one store publishes the take): a
        // death in between leaves the entry in the ring, and recovery flags
        // it again.
        if heap.txn_hint() {
            self.unqueue_in_txn(h)?;
        } else {
            k.set_flags(k.flags & !QUEUED);
        }
        crate::alloc::crash_point();
        self.queue_state().head.set(q.head.wrapping_add(1));
        Ok(Some(h))
    }

    /// [`Turn::take_message`]'s flag change in a transaction: journaled
    /// with the queue's counters.
    #[cold]
    #[inline(never)]
    fn unqueue_in_txn(&mut self, h: Handle) -> Result<(), Error> {
        let heap = self.heap();
        heap.save(h.offset, 8)?;
        self.save_queue()?;
        // (Growing the journal may have freed the block before this one,
        // which changes its `PREV_ALLOC`: read the word again.)
        heap.set_flags(h.offset, 0, QUEUED)
    }

    /// The oldest message, left in the queue (peek).
    pub fn read_message(&self) -> Result<Option<Handle>, Error> {
        self.queue_front()
    }

    /// Whether the queue holds a message.
    pub fn has_messages(&self) -> Result<bool, Error> {
        Ok(self.queue().len() > 0)
    }

    /// Number of messages in the queue.
    pub fn message_count(&self) -> usize {
        self.queue().len() as usize
    }

    /// The value behind a handle (a message, or any object handle).
    pub fn get(&self, h: Handle) -> Result<ValueRef<'_>, Error> {
        let heap = self.heap();
        let (_, _, kind) = heap.check_handle(h)?;
        if kind == K_BOX {
            let s = crate::format::Slot::read(&heap.mem, payload(h.offset))?;
            // SAFETY: the view borrows `self`, the turn.
            return unsafe { ValueRef::from_slot(heap, s) };
        }
        if !is_ptr_tag(kind) {
            return Err(Error::StaleHandle {
                offset: h.offset.get(),
                generation: h.generation,
            });
        }
        // SAFETY: the view borrows `self`, the turn.
        unsafe { ValueRef::from_object(heap, h.offset, kind) }
    }

    /// The shared list behind a handle, for mutation.
    pub fn list_mut(&mut self, h: Handle) -> Result<ListMut<'_>, Error> {
        let heap = self.heap();
        let (_, _, kind) = heap.check_handle(h)?;
        if kind != T_LIST {
            return Err(Error::TypeMismatch {
                expected: "list",
                found: crate::format::type_name(kind),
            });
        }
        // SAFETY: a live list block; the view borrows the turn mutably.
        unsafe { ListMut::new(heap, h.offset) }
    }

    /// The shared dict behind a handle, for mutation.
    pub fn dict_mut(&mut self, h: Handle) -> Result<DictMut<'_>, Error> {
        let heap = self.heap();
        let (_, _, kind) = heap.check_handle(h)?;
        if kind != T_DICT {
            return Err(Error::TypeMismatch {
                expected: "dict",
                found: crate::format::type_name(kind),
            });
        }
        // SAFETY: a live dict block; the view borrows the turn mutably.
        Ok(unsafe { DictMut::new(heap, h.offset) })
    }

    /// The attribute dict of the object ([`crate::Value::Object`]) behind
    /// a handle, for mutation in place (the object owns the dict; the
    /// class path never changes).
    pub fn attrs_mut(&mut self, h: Handle) -> Result<DictMut<'_>, Error> {
        let heap = self.heap();
        heap.check_handle(h)?;
        let d = crate::value::attrs_block(heap, h.offset)?;
        // SAFETY: a live dict block; the view borrows the turn mutably.
        Ok(unsafe { DictMut::new(heap, d) })
    }

    /// The shared set behind a handle, for mutation (a frozen set is
    /// refused: [`Error::TypeMismatch`]).
    pub fn set_mut(&mut self, h: Handle) -> Result<SetMut<'_>, Error> {
        let heap = self.heap();
        let (_, _, kind) = heap.check_handle(h)?;
        if kind != T_SET {
            return Err(Error::TypeMismatch {
                expected: "set",
                found: crate::format::type_name(kind),
            });
        }
        // SAFETY: a live set block; the view borrows the turn mutably.
        Ok(unsafe { SetMut::new(heap, h.offset) })
    }

    /// The shared bytearray behind a handle, for mutation.
    pub fn bytes_mut(&mut self, h: Handle) -> Result<BytesMut<'_>, Error> {
        let heap = self.heap();
        let (_, _, kind) = heap.check_handle(h)?;
        if kind != T_BYTEARRAY {
            return Err(Error::TypeMismatch {
                expected: "bytearray",
                found: crate::format::type_name(kind),
            });
        }
        // SAFETY: a live bytearray block; the view borrows the turn mutably.
        Ok(unsafe { BytesMut::new(heap, h.offset) })
    }

    /// The shared numeric array of `T` behind a handle, for mutation in
    /// place (derefs to `&mut [T]`); [`Error::TypeMismatch`] if it is not
    /// an array, or one of another element type.
    pub fn array_mut<T: crate::Element>(&mut self, h: Handle) -> Result<ArrayMut<'_, T>, Error> {
        let heap = self.heap();
        let (_, _, kind) = heap.check_handle(h)?;
        if kind != crate::format::T_ARRAY {
            return Err(Error::TypeMismatch {
                expected: "array",
                found: crate::format::type_name(kind),
            });
        }
        // SAFETY: a live array block; the view borrows the turn mutably.
        unsafe { ArrayMut::new(heap, h.offset) }
    }

    /// Frees a root object (a taken message) and everything it owns. A
    /// handle still in the queue, owned by a container, or the root
    /// namespace ([`Turn::root`]) is refused.
    pub fn free(&mut self, h: Handle) -> Result<(), Error> {
        let heap = self.heap();
        let (k, kind) = heap.check_block(h)?;
        let flags = k.flags;
        if self.is_root(h) {
            return Err(owned_by_the_header(h));
        }
        if flags & QUEUED != 0 {
            return Err(Error::NotOwned {
                offset: h.offset.get(),
                owner: "the message queue",
            });
        }
        if flags & ROOT == 0 {
            return Err(Error::NotOwned {
                offset: h.offset.get(),
                owner: "a container",
            });
        }
        if heap.txn_hint() || !matches!(kind, T_STR | T_BYTES | T_TYPED | crate::format::T_ARRAY) {
            return self.free_root(h);
        }
        // A leaf between operations: the handle check read the header, and
        // freeing its one block is the unpublishing store.
        free_object_checked(&heap, k, kind)
    }

    /// [`Turn::free`] of a root that owns other blocks, or in a
    /// transaction.
    #[inline(never)]
    fn free_root(&mut self, h: Handle) -> Result<(), Error> {
        let heap = self.heap();
        heap.save_in_txn(h.offset, 8)?;
        // Unpublish the root first (one store): a death while freeing what
        // it owns leaves only unreachable blocks, which recovery reclaims.
        heap.set_flags(h.offset, 0, ROOT)?;
        free_object(&heap, h.offset)
    }

    /// Space usage of the segment.
    pub fn stats(&self) -> Stats {
        self.heap().stats()
    }

    /// The heap's blocks by size class, its largest free block and its
    /// fragmentation (one step per block: it reads every block header).
    pub fn block_stats(&self) -> Result<crate::BlockStats, Error> {
        self.heap().block_stats()
    }

    /// Validates the whole segment now (what attach does).
    pub fn validate(&self) -> Result<Report, Error> {
        // An operation that returned an error left its structure consistent
        // and perhaps its journal unflushed: end it first.
        self.heap().commit()?;
        validate(&self.heap(), self.queue_state(), self.root_word().get())
    }
}

#[cfg(test)]
mod tests;
