//! The typed snapshot block: an rkyv archive of a Rust value, stored as it
//! was serialized (self-relative pointers, so it reads the same at any
//! address), with the fingerprint of its type.
//!
//! Payload: `fingerprint: u64`, `root: u64` (position of the archived root
//! in the data), `len: u64` (data bytes), a zero word, then the data
//! (16-aligned).

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use super::{T_TYPED, payload};
use crate::Error;
use crate::alloc::{HDR, Heap};
use crate::segment::Offset;

/// Offset of the data inside a typed block.
pub(crate) const TYPED_DATA: u64 = HDR + 32;

/// A function that checks an archive of one type with bytecheck:
/// `(data, root position) -> Ok or what is wrong`.
pub(crate) type Checker = fn(&[u8], usize) -> Result<(), String>;

/// Types this process knows by fingerprint, so that attach can validate
/// their archives completely (see `shmheap::register_type`).
pub(crate) fn registry() -> &'static RwLock<HashMap<u64, (&'static str, Checker)>> {
    static R: OnceLock<RwLock<HashMap<u64, (&'static str, Checker)>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// A typed block's header as read from the segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TypedLayout {
    pub(crate) fingerprint: u64,
    pub(crate) root: u64,
    pub(crate) len: u64,
}

impl TypedLayout {
    /// Reads the header of the typed block at `b` (of payload capacity
    /// `cap`) and checks that its numbers fit the block.
    pub(crate) fn read(heap: &Heap, b: Offset) -> Result<TypedLayout, Error> {
        let m = heap.mem;
        let p = payload(b);
        let cap = heap.header(b)?.0 - HDR;
        let l = TypedLayout {
            fingerprint: m.u64(p)?,
            root: m.u64(p.add(8))?,
            len: m.u64(p.add(16))?,
        };
        if m.u64(p.add(24))? != 0 {
            return Err(Error::corrupt(
                b.get(),
                "typed block reserved word is not zero",
            ));
        }
        if l.len > cap.saturating_sub(32) || l.root > l.len {
            return Err(Error::corrupt(
                b.get(),
                "typed block lengths outside the block",
            ));
        }
        Ok(l)
    }

    /// The archive's bytes.
    ///
    /// # Safety
    /// Nothing may write them while the slice lives.
    pub(crate) unsafe fn data<'a>(&self, heap: &Heap, b: Offset) -> Result<&'a [u8], Error> {
        // SAFETY: forwarded contract.
        unsafe { heap.mem.bytes(b.add(TYPED_DATA), self.len) }
    }

    /// Allocates a typed block for `len` data bytes and writes its header;
    /// the caller writes the data.
    pub(crate) fn create(
        heap: &Heap,
        fingerprint: u64,
        root: u64,
        len: u64,
    ) -> Result<Offset, Error> {
        let b = heap.alloc(32 + len, T_TYPED)?;
        let m = heap.mem;
        let p = payload(b);
        m.set_u64(p, fingerprint)?;
        m.set_u64(p.add(8), root)?;
        m.set_u64(p.add(16), len)?;
        m.set_u64(p.add(24), 0)?;
        Ok(b)
    }

    /// Validation of the block at `b`: the header always; the archive with
    /// bytecheck when this process registered the type.
    pub(crate) fn validate(heap: &Heap, b: Offset) -> Result<(), Error> {
        let l = TypedLayout::read(heap, b)?;
        let checker = registry()
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&l.fingerprint)
            .copied();
        if let Some((name, check)) = checker {
            // SAFETY: the validator runs inside a turn; nothing writes.
            let data = unsafe { l.data(heap, b)? };
            check(data, l.root as usize).map_err(|e| {
                Error::corrupt(b.get(), format!("archived {name} fails validation: {e}"))
            })?;
        }
        Ok(())
    }
}
