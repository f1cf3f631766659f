//! Typed snapshots: any rkyv `Archive` type as a shared value, read in place
//! as `&T::Archived` and mutated in place through `rkyv::seal::Seal`.
//!
//! A snapshot is written once, straight into its segment block: rkyv
//! serializes twice, first into a counting writer (for the size), then into
//! the block itself, so no intermediate buffer is allocated. Its archive uses
//! rkyv's self-relative pointers, so it reads the same at whatever address
//! each process maps the segment. The block records the type's
//! [`fingerprint`]; opening it as another type is [`Error::TypeMismatch`].
//! A process validates an archive with bytecheck the first time it opens it
//! through [`Turn::archived`] (remembered per segment, keyed by handle), and
//! at attach if it registered the type with [`register_type`].

use std::any::type_name;

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::seal::Seal;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::{Positional, Writer};
use rkyv::{Archive, Portable, Serialize};

use crate::Error;
use crate::format::typed::{TYPED_DATA, TypedLayout, registry};
use crate::format::{T_TYPED, hash};
use crate::segment::Handle;
use crate::turn::Turn;
use crate::value::{TypedRef, TypedValue, Value, ValueRef};

/// Where rkyv writes a snapshot: counts bytes when it has no buffer, else
/// writes them into the segment block (or an owned buffer). Public only
/// because it appears in [`Snapshot`]'s bounds.
#[derive(Debug)]
pub struct SnapshotWriter {
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

#[derive(Debug)]
struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the archive grew between the counting and the writing pass")
    }
}
impl std::error::Error for Overflow {}

impl Positional for SnapshotWriter {
    fn pos(&self) -> usize {
        self.len
    }
}

impl<E: rancor::Source> Writer<E> for SnapshotWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        if !self.ptr.is_null() {
            if bytes.len() > self.cap - self.len {
                return Err(E::new(Overflow));
            }
            // SAFETY: `ptr..ptr+cap` is writable (see `into`), and
            // `len + bytes.len() <= cap`; `bytes` is not in that range (it
            // comes from the value being serialized or rkyv's scratch).
            unsafe {
                crate::segment::copy_bytes(bytes.as_ptr(), self.ptr.add(self.len), bytes.len())
            };
        }
        self.len += bytes.len();
        Ok(())
    }
}

impl SnapshotWriter {
    fn counter() -> SnapshotWriter {
        SnapshotWriter {
            ptr: std::ptr::null_mut(),
            cap: 0,
            len: 0,
        }
    }

    /// # Safety
    /// `ptr..ptr+cap` must be valid for writes while the writer is used.
    unsafe fn into(ptr: *mut u8, cap: usize) -> SnapshotWriter {
        SnapshotWriter { ptr, cap, len: 0 }
    }
}

/// A Rust type that can be a typed snapshot: anything rkyv can archive and
/// bytecheck can validate (derive `rkyv::Archive` and `rkyv::Serialize`;
/// rkyv's default `bytecheck` feature derives the checks).
pub trait Snapshot:
    Archive<Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>>
    + for<'a> Serialize<HighSerializer<SnapshotWriter, ArenaHandle<'a>, rancor::Error>>
{
}

impl<T> Snapshot for T where
    T: Archive<Archived: Portable + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>>
        + for<'a> Serialize<HighSerializer<SnapshotWriter, ArenaHandle<'a>, rancor::Error>>
{
}

/// The fingerprint of a type: its name and the size and alignment of its
/// archived form, hashed with the stable hash. Two processes agree on it
/// when they were built from the same definition (same name, same layout).
pub fn fingerprint<T: Archive>() -> u64 {
    hash::combine(
        [
            hash::str(type_name::<T>()),
            std::mem::size_of::<T::Archived>() as u64,
            std::mem::align_of::<T::Archived>() as u64,
        ]
        .into_iter(),
        true,
    )
}

fn check<T: Snapshot>(data: &[u8], root: usize) -> Result<(), String> {
    rkyv::api::high::access_pos::<T::Archived, rancor::Error>(data, root)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Tells this process how to validate archives of `T`, so that attach
/// validates every snapshot of that type completely (without it, attach
/// checks a snapshot's block and lengths, and the first open checks the
/// archive).
pub fn register_type<T: Snapshot>() {
    registry()
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(fingerprint::<T>(), (type_name::<T>(), check::<T>));
}

fn convert(e: rancor::Error) -> Error {
    Error::corrupt(0, format!("rkyv: {e}"))
}

/// Serializes `v` with rkyv into `writer`.
fn serialize<T: Snapshot>(v: &T, writer: SnapshotWriter) -> Result<SnapshotWriter, Error> {
    rkyv::api::high::to_bytes_in::<_, rancor::Error>(v, writer).map_err(convert)
}

fn mismatch<T>(found_fingerprint: u64) -> Error {
    let registered = registry()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&found_fingerprint)
        .map(|(n, _)| *n);
    Error::TypeMismatch {
        expected: type_name::<T>(),
        found: registered.unwrap_or("a snapshot of another type"),
    }
}

impl TypedValue {
    /// Archives `v` into an owned buffer (to put it into a list, a dict, or
    /// another segment; [`Turn::put_archived`] writes straight into the
    /// segment instead).
    pub fn new<T: Snapshot>(v: &T) -> Result<TypedValue, Error> {
        let len = serialize(v, SnapshotWriter::counter())?.len;
        let mut bytes = rkyv::util::AlignedVec::<16>::with_capacity(len);
        bytes.resize(len, 0);
        // SAFETY: `bytes` holds `len` writable bytes and outlives the writer.
        let w = unsafe { SnapshotWriter::into(bytes.as_mut_ptr(), len) };
        let w = serialize(v, w)?;
        bytes.resize(w.len, 0);
        Ok(TypedValue {
            fingerprint: fingerprint::<T>(),
            root: rkyv::api::root_position::<T::Archived>(w.len) as u64,
            bytes,
        })
    }

    /// The archived value, validated with bytecheck.
    pub fn access<T: Snapshot>(&self) -> Result<&T::Archived, Error> {
        if self.fingerprint != fingerprint::<T>() {
            return Err(mismatch::<T>(self.fingerprint));
        }
        rkyv::api::high::access_pos::<T::Archived, rancor::Error>(&self.bytes, self.root as usize)
            .map_err(convert)
    }
}

impl Value {
    /// A typed snapshot of `v` as a value (see [`TypedValue::new`]).
    pub fn typed<T: Snapshot>(v: &T) -> Result<Value, Error> {
        TypedValue::new(v).map(Value::Typed)
    }
}

impl<'t> TypedRef<'t> {
    /// The archived value in place, validated with bytecheck (on every
    /// call: for the validate-once path keep the handle and use
    /// [`Turn::archived`]).
    pub fn access<T: Snapshot>(&self) -> Result<&'t T::Archived, Error> {
        let l = self.layout()?;
        if l.fingerprint != fingerprint::<T>() {
            return Err(mismatch::<T>(l.fingerprint));
        }
        rkyv::api::high::access_pos::<T::Archived, rancor::Error>(self.as_bytes()?, l.root as usize)
            .map_err(convert)
    }
}

impl<'t> ValueRef<'t> {
    /// The typed snapshot this value is, as `&T::Archived` in place.
    pub fn as_archived<T: Snapshot>(&self) -> Result<&'t T::Archived, Error> {
        match self {
            ValueRef::Typed(t) => t.access::<T>(),
            other => Err(Error::TypeMismatch {
                expected: "typed",
                found: other.type_name(),
            }),
        }
    }
}

impl<'seg> Turn<'seg> {
    /// Archives `v` with rkyv straight into a new segment block and appends
    /// it to the message queue, like [`Turn::put_message`].
    pub fn put_archived<T: Snapshot>(&mut self, v: &T) -> Result<Handle, Error> {
        let len = serialize(v, SnapshotWriter::counter())?.len;
        let heap = self.heap();
        let root = rkyv::api::root_position::<T::Archived>(len) as u64;
        let b = TypedLayout::create(&heap, fingerprint::<T>(), root, len as u64)?;
        let dst = match heap.mem.ptr(b.add(TYPED_DATA), len as u64, 16) {
            Ok(p) => p,
            Err(e) => {
                heap.free(b)?;
                return Err(e);
            }
        };
        // SAFETY: the block's data area holds `len` bytes (just allocated,
        // bounds checked); we hold the turn mutably.
        let w = unsafe { SnapshotWriter::into(dst, len) };
        match serialize(v, w) {
            Ok(w) if w.len == len => {}
            Ok(_) => {
                heap.free(b)?;
                return Err(Error::corrupt(
                    b.get(),
                    "archive size changed between passes",
                ));
            }
            Err(e) => {
                heap.free(b)?;
                return Err(e);
            }
        }
        self.publish_message(b)
    }

    /// The typed snapshot at `h`, checked to be of type `T`, validated with
    /// bytecheck the first time this process opens it.
    pub fn archived<T: Snapshot>(&self, h: Handle) -> Result<&T::Archived, Error> {
        let (bytes, root) = self.typed_bytes::<T>(h)?;
        // SAFETY: `typed_bytes` validated this archive (now or at an
        // earlier open of the same handle in this process) as a `T`.
        Ok(unsafe { rkyv::api::access_pos_unchecked::<T::Archived>(bytes, root) })
    }

    /// The typed snapshot at `h`, for in-place mutation of its scalars
    /// (`rkyv::munge` or the archived types' `Seal` methods).
    pub fn archived_mut<T: Snapshot>(&mut self, h: Handle) -> Result<Seal<'_, T::Archived>, Error> {
        let (len, root) = {
            let (bytes, root) = self.typed_bytes::<T>(h)?;
            (bytes.len() as u64, root)
        };
        // A fresh mutable slice from the mapping's raw pointer (not from the
        // shared slice above, which must not be written through).
        // SAFETY: the block's data area is inside the mapping (checked), and
        // `&mut self` borrows the turn mutably, so nothing else reads or
        // writes it while the `Seal` lives.
        let bytes = unsafe { self.mem().bytes_mut(h.offset.add(TYPED_DATA), len)? };
        // In a transaction, what the `Seal` hands out is journaled now.
        self.heap().save_ptr_in_txn(bytes.as_ptr(), len)?;
        // SAFETY: `typed_bytes` validated these bytes as a `T` archive.
        Ok(unsafe { rkyv::api::access_pos_unchecked_mut::<T::Archived>(bytes, root) })
    }

    /// Checks handle, kind and fingerprint, validates once per process,
    /// and returns the archive's bytes and root position.
    fn typed_bytes<T: Snapshot>(&self, h: Handle) -> Result<(&[u8], usize), Error> {
        let heap = self.heap();
        let (_, _, kind) = heap.check_handle(h)?;
        if kind != T_TYPED {
            return Err(Error::TypeMismatch {
                expected: "typed",
                found: crate::format::type_name(kind),
            });
        }
        let l = TypedLayout::read(&heap, h.offset)?;
        if l.fingerprint != fingerprint::<T>() {
            return Err(mismatch::<T>(l.fingerprint));
        }
        // SAFETY: the slice borrows `self` (the turn).
        let bytes = unsafe { l.data(&heap, h.offset)? };
        let key = (h.offset.get(), h.generation);
        let mut seen = self.seg.checked.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.contains(&key) {
            check::<T>(bytes, l.root as usize).map_err(|e| {
                Error::corrupt(
                    h.offset.get(),
                    format!("archived {} fails validation: {e}", type_name::<T>()),
                )
            })?;
            seen.insert(key);
        }
        Ok((bytes, l.root as usize))
    }
}

#[cfg(feature = "serde")]
pub(crate) mod serde;

#[cfg(test)]
mod tests;
