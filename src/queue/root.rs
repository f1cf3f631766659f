//! The root namespace: one dict per segment that every process finds by
//! itself, without a message (FORMAT.md §8).
//!
//! The header's `root` word names the dict's block, or is 0 while nobody
//! has asked for it: the dict is created by the first [`Turn::root`], so a
//! segment that never uses it spends nothing on it. The block carries
//! `ROOT` like a taken message, so the validator and recovery walk it with
//! the other roots, but its owner is the header: [`Turn::free`] and
//! [`Turn::put_handle`] refuse it.

use crate::Error;
use crate::alloc::ROOT;
use crate::format::{T_DICT, type_name};
use crate::segment::{Handle, Header, Offset, Word};
use crate::turn::Turn;
use crate::value::{DictMut, DictRef, Value, write_slot};

/// Where the header's root word is (for error offsets).
const ROOT_AT: u64 = std::mem::offset_of!(Header, root) as u64;

impl Turn<'_> {
    /// The segment's root namespace: a mutable dict that every process
    /// finds without a message, attached early or late (and, for a
    /// file-backed segment, a later run of the program).
    ///
    /// ```
    /// use shmheap::{Segment, value};
    /// # fn main() -> Result<(), shmheap::Error> {
    /// let seg = Segment::options().size(1 << 20).create_in_memory()?;
    /// seg.turn()?.root()?.insert("model", value!([1, 2]))?;
    /// // later, in any process attached to the segment:
    /// let mut turn = seg.turn()?;
    /// turn.root()?.list_mut(&"model".into())?.push(3)?;
    /// assert_eq!(turn.root()?.to_value()?, value!({"model": [1, 2, 3]}));
    /// # Ok(()) }
    /// ```
    ///
    /// The first call in the segment's life creates the (empty) dict: that
    /// is one operation, all or nothing even if the process dies in it, and
    /// it can fail with [`Error::OutOfMemory`] (nothing changed then). The
    /// dict's handle ([`DictMut::handle`]) works with [`Turn::dict_mut`]
    /// and [`Turn::get`]; [`Turn::free`] and [`Turn::put_handle`] refuse it
    /// ([`Error::NotOwned`]): the segment owns its root namespace.
    pub fn root(&mut self) -> Result<DictMut<'_>, Error> {
        let b = match self.root_word().get() {
            0 => self.create_root()?,
            b => self.root_block(b)?,
        };
        // SAFETY: a live dict block (checked above or just written); the
        // view borrows the turn mutably.
        Ok(unsafe { DictMut::new(self.heap(), b) })
    }

    /// The root namespace, read-only (for inspectors): `None` while no
    /// process has created it (with [`Turn::root`]).
    pub fn root_ref(&self) -> Result<Option<DictRef<'_>>, Error> {
        match self.root_word().get() {
            0 => Ok(None),
            b => DictRef::new(self.heap(), self.root_block(b)?).map(Some),
        }
    }

    /// Whether `h` names the root namespace (which only the header owns).
    pub(crate) fn is_root(&self, h: Handle) -> bool {
        h.offset.get() != 0 && h.offset.get() == self.root_word().get()
    }

    /// The block the root word names, checked to be a live dict.
    fn root_block(&self, b: u64) -> Result<Offset, Error> {
        let b = Offset::new(b);
        let (_, _, kind) = self
            .heap()
            .live(b)
            .map_err(|_| Error::corrupt(ROOT_AT, "root namespace is not a live block"))?;
        if kind != T_DICT {
            return Err(Error::corrupt(
                ROOT_AT,
                format!("root namespace is a {}, not a dict", type_name(kind)),
            ));
        }
        Ok(b)
    }

    /// Creates the empty root dict, as one operation: the dict is written
    /// where nothing reaches it (a death there leaves an unflagged block no
    /// root reaches, which recovery reclaims), then the header's word
    /// publishes it (one store), then the block gets `ROOT` (a death
    /// between the two is repaired by recovery, which flags the dict the
    /// word names).
    fn create_root(&mut self) -> Result<Offset, Error> {
        let heap = self.heap();
        // An operation that returned an error may have left deferred frees:
        // end it first, so that this one starts from an empty journal.
        heap.commit()?;
        let slot = write_slot(&heap, &Value::dict())?;
        let Some(b) = slot.ptr() else {
            return Err(Error::corrupt(ROOT_AT, "an empty dict was written inline"));
        };
        let at = crate::segment::Offset::new(ROOT_AT);
        if let Err(e) = heap.save_in_txn(at, 8) {
            crate::format::free_object(&heap, b)?;
            return Err(e);
        }
        self.root_word().set(b.get());
        crate::alloc::crash_point();
        // (In a transaction the flag goes back with a rollback too, so
        // that the dict is not a root any more.)
        heap.save_in_txn(b, 8)?;
        heap.set_flags(b, ROOT, 0)?;
        Ok(b)
    }
}

#[cfg(test)]
mod tests;
