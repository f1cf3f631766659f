//! The bytearray: a header that never moves (so handles to it and the slot
//! that owns it stay valid) and a data block that is reallocated as it grows.
//!
//! Header payload: `len: u64`, `cap: u64` (bytes the data block holds),
//! `data: u64` (offset of the `K_BYTES_DATA` block, 0 when `cap == 0`).

use super::{K_BYTES_DATA, T_BYTEARRAY, payload};
use crate::Error;
use crate::alloc::{HDR, Heap};
use crate::segment::Offset;

/// Payload bytes of a bytearray header.
pub(crate) const BA_PAYLOAD: u64 = 24;

/// A bytearray header as read from the segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByteArrayLayout {
    pub(crate) b: Offset,
    pub(crate) len: u64,
    pub(crate) cap: u64,
    pub(crate) data: Offset,
}

impl ByteArrayLayout {
    /// Writes a new bytearray holding `bytes`.
    pub(crate) fn create(heap: &Heap, bytes: &[u8]) -> Result<Offset, Error> {
        let b = heap.alloc(BA_PAYLOAD, T_BYTEARRAY)?;
        let mut l = ByteArrayLayout {
            b,
            len: 0,
            cap: 0,
            data: Offset::NULL,
        };
        l.store(heap)?;
        if let Err(e) = l.reserve(heap, bytes.len() as u64) {
            heap.free(b)?;
            return Err(e);
        }
        heap.mem.write_bytes(payload(l.data), bytes)?;
        l.len = bytes.len() as u64;
        l.store(heap)?;
        Ok(b)
    }

    /// Reads the header at `b` and checks its numbers agree.
    pub(crate) fn read(heap: &Heap, b: Offset) -> Result<ByteArrayLayout, Error> {
        let m = heap.mem;
        let p = payload(b);
        let l = ByteArrayLayout {
            b,
            len: m.u64(p)?,
            cap: m.u64(p.add(8))?,
            data: Offset::new(m.u64(p.add(16))?),
        };
        if l.len > l.cap || (l.cap == 0) != l.data.is_null() {
            return Err(Error::corrupt(b.get(), "bytearray header is inconsistent"));
        }
        Ok(l)
    }

    /// Writes len, cap and data back (publishes a change).
    pub(crate) fn store(&self, heap: &Heap) -> Result<(), Error> {
        let m = heap.mem;
        let p = payload(self.b);
        heap.save_in_txn(p, 24)?;
        m.set_u64(p, self.len)?;
        m.set_u64(p.add(8), self.cap)?;
        m.set_u64(p.add(16), self.data.get())
    }

    /// The bytes.
    ///
    /// # Safety
    /// Nothing may write them while the slice lives (`'a` is a borrow of
    /// the turn).
    pub(crate) unsafe fn bytes<'a>(&self, heap: &Heap) -> Result<&'a [u8], Error> {
        if self.len == 0 {
            return Ok(&[]);
        }
        // SAFETY: forwarded contract.
        unsafe { heap.mem.bytes(payload(self.data), self.len) }
    }

    /// The bytes, mutably.
    ///
    /// # Safety
    /// Nothing else may access them while the slice lives.
    pub(crate) unsafe fn bytes_mut<'a>(&self, heap: &Heap) -> Result<&'a mut [u8], Error> {
        if self.len == 0 {
            return Ok(&mut []);
        }
        // SAFETY: forwarded contract.
        unsafe { heap.mem.bytes_mut(payload(self.data), self.len) }
    }

    /// Makes room for `total` bytes (moving the data to a larger block:
    /// write the new block, publish it, free the old). Out of memory leaves
    /// the bytearray as it was.
    pub(crate) fn reserve(&mut self, heap: &Heap, total: u64) -> Result<(), Error> {
        if total <= self.cap {
            return Ok(());
        }
        let want = total.max(self.cap.saturating_mul(2)).max(16);
        // Two header words change (data, cap): journal them before anything
        // can fail half-way; publish; free the old block once committed.
        // (Every other store of the header changes `len` alone.)
        heap.save(payload(self.b), 24)?;
        let nd = heap.alloc(want, K_BYTES_DATA)?;
        let cap = heap.header(nd)?.0 - HDR;
        if self.len > 0 {
            heap.mem
                .copy_within(payload(self.data), payload(nd), self.len)?;
        }
        let old = self.data;
        self.data = nd;
        self.cap = cap;
        self.store(heap)?;
        if !old.is_null() {
            heap.free(old)?;
        }
        heap.commit()
    }

    /// Frees the data block (not the header).
    pub(crate) fn free_storage(&self, heap: &Heap) -> Result<(), Error> {
        if !self.data.is_null() {
            heap.free(self.data)?;
        }
        Ok(())
    }
}
