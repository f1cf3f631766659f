//! `BytesMut`: a shared bytearray, mutated in place.

use std::marker::PhantomData;

use crate::Error;
use crate::alloc::Heap;
use crate::format::bytearray::ByteArrayLayout;
use crate::segment::{Handle, Offset};

/// A mutable view of a shared bytearray, borrowing the turn mutably.
///
/// The bytearray's header never moves (handles and the slot that owns it
/// stay valid); its data block is reallocated as it grows.
pub struct BytesMut<'t> {
    heap: Heap,
    b: Offset,
    _t: PhantomData<&'t mut ()>,
}

impl std::fmt::Debug for BytesMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BytesMut({:?}, len {})", self.b, self.len())
    }
}

impl<'t> BytesMut<'t> {
    /// # Safety
    /// `b` must be a live bytearray block, and `'t` a mutable borrow of the
    /// turn.
    pub(crate) unsafe fn new(heap: Heap, b: Offset) -> BytesMut<'t> {
        BytesMut {
            heap,
            b,
            _t: PhantomData,
        }
    }

    fn layout(&self) -> Result<ByteArrayLayout, Error> {
        ByteArrayLayout::read(&self.heap, self.b)
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.layout().map_or(0, |l| l.len as usize)
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytearray's handle.
    pub fn handle(&self) -> Result<Handle, Error> {
        self.heap.handle(self.b)
    }

    /// The bytes, in place.
    pub fn as_slice(&self) -> Result<&[u8], Error> {
        // SAFETY: the slice borrows `self`, which borrows the turn; nothing
        // writes the bytes while it lives.
        unsafe { self.layout()?.bytes(&self.heap) }
    }

    /// The bytes, in place and mutable.
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8], Error> {
        let l = self.layout()?;
        // In a transaction, what the slice hands out is journaled now.
        self.heap
            .save_in_txn(crate::format::payload(l.data), l.len)?;
        // SAFETY: the slice borrows `self` mutably, which borrows the turn
        // mutably: it is the only access.
        unsafe { l.bytes_mut(&self.heap) }
    }

    /// Copies the bytes out.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        Ok(self.as_slice()?.to_vec())
    }

    /// Resizes to `n` bytes, filling new ones with `fill`.
    pub fn resize(&mut self, n: usize, fill: u8) -> Result<(), Error> {
        let mut l = self.layout()?;
        let n = n as u64;
        if n > l.len {
            l.reserve(&self.heap, n)?;
            self.heap
                .save_in_txn(crate::format::payload(l.data).add(l.len), n - l.len)?;
            self.heap
                .mem
                .zero(crate::format::payload(l.data).add(l.len), n - l.len)?;
            if fill != 0 {
                // SAFETY: in bounds of the data block just reserved; we hold
                // the turn mutably.
                let tail = unsafe {
                    self.heap
                        .mem
                        .bytes_mut(crate::format::payload(l.data).add(l.len), n - l.len)?
                };
                tail.fill(fill);
            }
        }
        l.len = n;
        l.store(&self.heap)
    }

    /// Appends `bytes` (Python's `+=`).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut l = self.layout()?;
        let n = l.len + bytes.len() as u64;
        l.reserve(&self.heap, n)?;
        let at = crate::format::payload(l.data).add(l.len);
        // (Past `len`: a transaction may have truncated committed bytes.)
        self.heap.save_in_txn(at, bytes.len() as u64)?;
        self.heap.mem.write_bytes(at, bytes)?;
        l.len = n;
        l.store(&self.heap)
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) -> Result<(), Error> {
        self.extend_from_slice(&[byte])
    }

    /// Keeps the first `n` bytes.
    pub fn truncate(&mut self, n: usize) -> Result<(), Error> {
        let mut l = self.layout()?;
        l.len = l.len.min(n as u64);
        l.store(&self.heap)
    }

    /// Removes every byte (keeps the capacity).
    pub fn clear(&mut self) -> Result<(), Error> {
        self.truncate(0)
    }
}
