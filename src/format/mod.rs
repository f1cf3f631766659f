//! The archived layout: tags, slots, object layouts, list geometry, the
//! stable key hash, recursive freeing and the validator.
//!
//! `FORMAT.md` is the byte-level specification; this module is its code.

pub(crate) mod array;
pub(crate) mod bytearray;
pub(crate) mod chunks;
pub(crate) mod hash;
pub(crate) mod hashed;
pub(crate) mod hashed_check;
pub(crate) mod list;
pub(crate) mod object;
pub(crate) mod recover;
pub(crate) mod scalar;
pub(crate) mod slot;
pub(crate) mod typed;
pub(crate) mod validate;

pub(crate) use slot::Slot;

use crate::Error;
use crate::alloc::{Block, HDR, Heap};
use crate::segment::Offset;

/// Slot tag / object kind: None (inline).
pub(crate) const T_NONE: u8 = 0;
/// Slot tag: bool (inline, payload 0 or 1).
pub(crate) const T_BOOL: u8 = 1;
/// Slot tag: int64 (inline).
pub(crate) const T_INT: u8 = 2;
/// Slot tag: float64 (inline, IEEE bits).
pub(crate) const T_FLOAT: u8 = 3;
/// Slot tag and object kind: UTF-8 string.
pub(crate) const T_STR: u8 = 4;
/// Slot tag and object kind: immutable bytes.
pub(crate) const T_BYTES: u8 = 5;
/// Slot tag and object kind: mutable bytes.
pub(crate) const T_BYTEARRAY: u8 = 6;
/// Slot tag and object kind: tuple.
pub(crate) const T_TUPLE: u8 = 7;
/// Slot tag and object kind: mutable list (header of the chunked list).
pub(crate) const T_LIST: u8 = 8;
/// Slot tag and object kind: mutable dict (header of the hashed layout).
pub(crate) const T_DICT: u8 = 9;
/// Slot tag and object kind: frozen set (flat, immutable).
pub(crate) const T_FROZENSET: u8 = 10;
/// Slot tag and object kind: mutable set (header of the hashed layout).
pub(crate) const T_SET: u8 = 11;
/// Slot tag and object kind: an integer outside int64 (sign and magnitude).
pub(crate) const T_BIGINT: u8 = 12;
/// Slot tag and object kind: a complex number (two f64).
pub(crate) const T_COMPLEX: u8 = 13;
/// Slot tag and object kind: a decimal (Python's `decimal.Decimal`).
pub(crate) const T_DECIMAL: u8 = 14;
/// Slot tag and object kind: a datetime (naive or with a UTC offset).
pub(crate) const T_DATETIME: u8 = 15;
/// Slot tag and object kind: a typed snapshot (an rkyv archive).
pub(crate) const T_TYPED: u8 = 16;
/// Slot tag and object kind: a date.
pub(crate) const T_DATE: u8 = 17;
/// Slot tag and object kind: a time of day (optional UTC offset).
pub(crate) const T_TIME: u8 = 18;
/// Slot tag and object kind: a time delta.
pub(crate) const T_TIMEDELTA: u8 = 19;
/// Slot tag and object kind: a numeric array (element type, shape, data).
pub(crate) const T_ARRAY: u8 = 20;
/// Slot tag and object kind: an opaque pickle (a Python object's bytes).
pub(crate) const T_PICKLED: u8 = 21;
/// Slot tag and object kind: an instance (class path and attribute dict).
pub(crate) const T_OBJECT: u8 = 22;
/// Object kind: a root holding one slot (a scalar message).
pub(crate) const K_BOX: u8 = 32;
/// Object kind: a list's chunk table.
pub(crate) const K_LIST_TABLE: u8 = 33;
/// Object kind: a list's chunk of slots.
pub(crate) const K_LIST_CHUNK: u8 = 34;
/// Object kind: the message queue's ring.
pub(crate) const K_QUEUE: u8 = 35;
/// Object kind: the data of a bytearray.
pub(crate) const K_BYTES_DATA: u8 = 36;
/// Object kind: the index (open-addressing table) of a dict or set.
pub(crate) const K_HASH_INDEX: u8 = 37;
/// Object kind: a chunk of dict or set entries.
pub(crate) const K_HASH_CHUNK: u8 = 38;

pub(crate) use crate::alloc::K_JOURNAL;

/// The Python name of a tag, for errors.
pub(crate) fn type_name(tag: u8) -> &'static str {
    match tag {
        T_NONE => "None",
        T_BOOL => "bool",
        T_INT => "int",
        T_FLOAT => "float",
        T_STR => "str",
        T_BYTES => "bytes",
        T_BYTEARRAY => "bytearray",
        T_TUPLE => "tuple",
        T_LIST => "list",
        T_DICT => "dict",
        T_FROZENSET => "frozenset",
        T_SET => "set",
        T_TYPED => "typed",
        T_BIGINT => "int",
        T_COMPLEX => "complex",
        T_DECIMAL => "Decimal",
        T_DATETIME => "datetime",
        T_DATE => "date",
        T_TIME => "time",
        T_TIMEDELTA => "timedelta",
        T_ARRAY => "array",
        T_PICKLED => "pickled",
        T_OBJECT => "object",
        K_BOX => "box",
        K_LIST_TABLE => "list table",
        K_LIST_CHUNK => "list chunk",
        K_QUEUE => "queue ring",
        K_BYTES_DATA => "bytearray data",
        K_HASH_INDEX => "hash index",
        K_HASH_CHUNK => "hash entry chunk",
        K_JOURNAL => "journal",
        _ => "unknown",
    }
}

/// Whether a tag means "points to an object".
#[inline]
pub(crate) fn is_ptr_tag(tag: u8) -> bool {
    (T_STR..=T_OBJECT).contains(&tag)
}

/// Offset of an object's payload (after the block header).
#[inline]
pub(crate) fn payload(b: Offset) -> Offset {
    b.add(HDR)
}

/// Offset of the first slot of a tuple, frozen set or dict (after `len` and
/// a reserved word).
pub(crate) const SEQ_SLOTS: u64 = HDR + 16;

/// Frees the object at `b` and everything it owns (iteratively: nesting
/// depth cannot overflow the stack).
pub(crate) fn free_object(heap: &Heap, b: Offset) -> Result<(), Error> {
    let (k, kind) = heap.live_block(b)?;
    free_object_checked(heap, k, kind)
}

/// Whether objects of `kind` own nothing but their block.
#[inline(always)]
pub(crate) fn is_leaf_kind(kind: u8) -> bool {
    matches!(kind, T_STR | T_BYTES | T_TYPED | T_ARRAY | T_PICKLED) || scalar::is_scalar_kind(kind)
}

/// [`free_object`] of a block the caller has just checked with
/// [`Heap::live_block`] or [`Heap::check_block`] (which gave `k` and
/// `kind`): a leaf is freed without reading its header again.
#[inline(always)]
pub(crate) fn free_object_checked(heap: &Heap, k: Block, kind: u8) -> Result<(), Error> {
    // Leaves (the common case) need no stack.
    if is_leaf_kind(kind) {
        return heap.free_checked(k, kind);
    }
    free_tree(heap, k.at)
}

/// [`free_object`] of an object that owns others.
#[inline(never)]
fn free_tree(heap: &Heap, b: Offset) -> Result<(), Error> {
    let mut stack = vec![b];
    while let Some(b) = stack.pop() {
        let (k, kind) = heap.live_block(b)?;
        let m = heap.mem;
        let mut push_slot = |s: Offset| -> Result<(), Error> {
            let slot = Slot::read(&m, s)?;
            if let Some(p) = slot.ptr() {
                stack.push(p);
            }
            Ok(())
        };
        match kind {
            // An object is a tuple of its class str and attribute dict.
            T_TUPLE | T_FROZENSET | T_OBJECT => {
                let n = m.u64(payload(b))?;
                for i in 0..n {
                    push_slot(b.add(SEQ_SLOTS + 16 * i))?;
                }
                // (Nothing freed since the check: `k` is the header.)
                heap.free_checked(k, kind)?;
                continue;
            }
            T_DICT | T_SET => {
                let l = hashed::HashLayout::read(heap, b, kind)?;
                l.owned(heap, &mut stack)?;
                l.free_storage(heap)?;
            }
            K_BOX => {
                push_slot(payload(b))?;
                heap.free_checked(k, kind)?;
                continue;
            }
            T_BYTEARRAY => bytearray::ByteArrayLayout::read(heap, b)?.free_storage(heap)?,
            T_LIST => {
                let l = list::ListLayout::read(heap, b)?;
                // A chunk's run of slots at a time; a run of scalars (no
                // slot owns an object) is skipped after one branch-free pass
                // over its tags.
                // SAFETY: we hold the turn; nothing else writes the slots.
                unsafe {
                    l.table(heap)?.slots(&m, 0, l.len, |_, slots| {
                        let owns = slot::vectorized(|| {
                            slots.iter().fold(false, |any, s| any | is_ptr_tag(s.tag))
                        });
                        if owns {
                            stack.extend(slots.iter().filter_map(Slot::ptr));
                        }
                        Ok(())
                    })?;
                }
                l.free_storage(heap)?;
            }
            _ => {
                // Nothing was freed since the check (a leaf, or a kind
                // that only pushed what it owns): `k` is still the header.
                heap.free_checked(k, kind)?;
                continue;
            }
        }
        heap.free(b)?;
    }
    Ok(())
}
