//! Writing owned values into a segment (write first, publish after: a value
//! becomes reachable only once it is complete), and freeing them.

use std::collections::HashMap;

use super::eq::MAX_DEPTH;
use super::hashed::put_all;
use super::{Value, ValueRef, hash_value, py_eq};
use crate::Error;
use crate::alloc::{Block, Heap};
use crate::format::array::ArrayLayout;
use crate::format::bytearray::ByteArrayLayout;
use crate::format::hashed::HashLayout;
use crate::format::list::ListLayout;
use crate::format::scalar::{self, Fixed};
use crate::format::typed::{TYPED_DATA, TypedLayout};
use crate::format::{
    SEQ_SLOTS, Slot, T_BOOL, T_BYTEARRAY, T_BYTES, T_DICT, T_FLOAT, T_FROZENSET, T_INT, T_OBJECT,
    T_PICKLED, T_SET, T_STR, T_TUPLE, free_object, object, payload,
};
use crate::segment::Offset;

/// Turns an owned value into a slot: scalars inline without a call (the hot
/// path of `push` and `set` with numbers), anything else through
/// [`write_slot`].
#[inline(always)]
pub(crate) fn into_slot(heap: &Heap, v: Value) -> Result<Slot, Error> {
    match scalar_slot(&v) {
        Some(s) => {
            // A scalar owns nothing: skip the call to its drop glue.
            std::mem::forget(v);
            Ok(s)
        }
        None => write_slot(heap, &v),
    }
}

/// The slot of a scalar, without a call (the hot path of lists of numbers).
#[inline(always)]
fn scalar_slot(v: &Value) -> Option<Slot> {
    match *v {
        Value::None => Some(Slot::NONE),
        Value::Bool(b) => Some(Slot::new(T_BOOL, b as u64)),
        Value::Int(i) => Some(Slot::new(T_INT, i as u64)),
        Value::Float(f) => Some(Slot::new(T_FLOAT, f.to_bits())),
        _ => None,
    }
}

/// Writes `v` into the heap: scalars inline, everything else as new blocks.
/// On error nothing stays allocated.
pub(crate) fn write_slot(heap: &Heap, v: &Value) -> Result<Slot, Error> {
    // A new value: nothing reaches it until the caller publishes it, so its
    // writes need no journal (see `alloc::journal`).
    write_at(&heap.fresh(), v, 0)
}

fn write_at(heap: &Heap, v: &Value, depth: u32) -> Result<Slot, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::NestingTooDeep { limit: MAX_DEPTH });
    }
    if let Some(s) = scalar_slot(v) {
        return Ok(s);
    }
    let d = depth + 1;
    Ok(match v {
        Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
            unreachable!("scalars were handled by scalar_slot")
        }
        Value::Str(s) => Slot::ptr_to(T_STR, write_blob(heap, T_STR, s.as_bytes())?),
        Value::Bytes(b) => Slot::ptr_to(T_BYTES, write_blob(heap, T_BYTES, b)?),
        Value::ByteArray(b) => Slot::ptr_to(T_BYTEARRAY, ByteArrayLayout::create(heap, b)?),
        Value::Tuple(items) => Slot::ptr_to(T_TUPLE, write_seq(heap, T_TUPLE, items.iter(), d)?),
        Value::FrozenSet(items) => {
            let keep = unique_keys(items.iter())?;
            let items: Vec<&Value> = keep.iter().map(|&i| &items[i]).collect();
            Slot::ptr_to(
                T_FROZENSET,
                write_seq(heap, T_FROZENSET, items.into_iter(), d)?,
            )
        }
        Value::Pickled(b) => Slot::ptr_to(T_PICKLED, write_blob(heap, T_PICKLED, b)?),
        Value::Object { class, attrs } => {
            if !object::class_ok(class) {
                return Err(Error::InvalidObject {
                    what: "its class path is empty or longer than 1024 bytes",
                });
            }
            // The tuple layout: slot 0 the class str, slot 1 the attributes.
            let entries: Vec<(&Value, Option<&Value>)> =
                attrs.iter().map(|(k, v)| (k, Some(v))).collect();
            let parts = [0, 1].into_iter().map(|i| -> Result<Slot, Error> {
                Ok(if i == 0 {
                    Slot::ptr_to(T_STR, write_blob(heap, T_STR, class.as_bytes())?)
                } else {
                    Slot::ptr_to(T_DICT, write_hashed(heap, T_DICT, &entries, d)?)
                })
            });
            Slot::ptr_to(T_OBJECT, write_slots(heap, T_OBJECT, parts)?)
        }
        Value::Set(items) => {
            let items: Vec<(&Value, Option<&Value>)> = items.iter().map(|v| (v, None)).collect();
            Slot::ptr_to(T_SET, write_hashed(heap, T_SET, &items, d)?)
        }
        Value::Dict(entries) => {
            let items: Vec<(&Value, Option<&Value>)> =
                entries.iter().map(|(k, v)| (k, Some(v))).collect();
            Slot::ptr_to(T_DICT, write_hashed(heap, T_DICT, &items, d)?)
        }
        Value::List(items) => Slot::ptr_to(crate::format::T_LIST, write_list(heap, items, d)?),
        Value::BigInt(v) => scalar::write_bigint(heap, v)?,
        Value::Decimal(v) => scalar::write_decimal(heap, v)?,
        Value::Complex { re, im } => scalar::write_fixed(heap, Fixed::Complex(*re, *im))?,
        Value::DateTime(v) => scalar::write_fixed(heap, Fixed::DateTime(*v))?,
        Value::Date(v) => scalar::write_fixed(heap, Fixed::Date(*v))?,
        Value::Time(v) => scalar::write_fixed(heap, Fixed::Time(*v))?,
        Value::TimeDelta(v) => scalar::write_fixed(heap, Fixed::TimeDelta(*v))?,
        Value::Array(a) => {
            // `Array::as_bytes_mut` may have stored any byte in a bool array.
            super::array::check_bools(a.dtype, &a.data)?;
            Slot::ptr_to(
                crate::format::T_ARRAY,
                ArrayLayout::create(heap, a.dtype, &a.shape, &a.data)?,
            )
        }
        Value::Typed(t) => {
            let b = TypedLayout::create(heap, t.fingerprint, t.root, t.bytes.len() as u64)?;
            heap.mem.write_bytes(b.add(TYPED_DATA), &t.bytes)?;
            Slot::ptr_to(crate::format::T_TYPED, b)
        }
    })
}

/// A deep copy of a value already in the segment, as a new slot (each
/// object has one owner, so a copy never shares).
pub(crate) fn copy_slot(heap: &Heap, v: ValueRef<'_>) -> Result<Slot, Error> {
    let owned = v.to_value()?;
    write_slot(heap, &owned)
}

/// Frees what a slot owns (nothing for scalars).
pub(crate) fn free_slot(heap: &Heap, s: Slot) -> Result<(), Error> {
    match s.ptr() {
        Some(b) => free_object(heap, b),
        None => Ok(()),
    }
}

/// A new dict or set holding `items` (a key given twice keeps its first
/// position and its last value). On error nothing stays allocated.
fn write_hashed(
    heap: &Heap,
    kind: u8,
    items: &[(&Value, Option<&Value>)],
    depth: u32,
) -> Result<Offset, Error> {
    let b = HashLayout::create(heap, kind)?;
    let r = HashLayout::read(heap, b, kind)
        .and_then(|mut l| put_all(heap, &mut l, items, &|v| write_at(heap, v, depth)));
    match r {
        Ok(replaced) => {
            debug_assert!(replaced.is_empty(), "a new table replaces nothing");
            Ok(b)
        }
        Err(e) => {
            free_object(heap, b)?;
            Err(e)
        }
    }
}

/// Indices of the first occurrence of each distinct (Python-equal) key.
fn unique_keys<'a>(keys: impl Iterator<Item = &'a Value>) -> Result<Vec<usize>, Error> {
    let keys: Vec<&Value> = keys.collect();
    if keys.len() <= 16 {
        // Few keys: pairwise comparison beats building a map.
        let mut keep: Vec<usize> = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            hash_value(k)?; // refuses unhashable keys
            if !keep.iter().any(|&j| py_eq(keys[j], k)) {
                keep.push(i);
            }
        }
        return Ok(keep);
    }
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut keep = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let h = hash_value(k)?;
        let bucket = seen.entry(h).or_default();
        if !bucket.iter().any(|&j| py_eq(keys[j], k)) {
            bucket.push(i);
            keep.push(i);
        }
    }
    Ok(keep)
}

/// str, bytes, bytearray: `len: u64` then the bytes.
pub(crate) fn write_blob(heap: &Heap, tag: u8, bytes: &[u8]) -> Result<Offset, Error> {
    write_blob_block(heap, tag, bytes).map(|k| k.at)
}

/// [`write_blob`], giving the new block.
#[inline(always)]
pub(crate) fn write_blob_block(heap: &Heap, tag: u8, bytes: &[u8]) -> Result<Block, Error> {
    let n = bytes.len() as u64;
    let k = heap.alloc_block(8 + n, tag)?;
    // SAFETY: the block is new: nothing else reaches it; we hold the turn.
    let Some(p) = (unsafe { k.payload_mut(8 + n) }) else {
        return Err(Error::corrupt(
            k.at.get(),
            "new block smaller than asked for",
        ));
    };
    let (len, data) = p.split_at_mut(8);
    len.copy_from_slice(&n.to_le_bytes());
    copy_into(data, bytes);
    Ok(k)
}

/// `dst.copy_from_slice(src)` (the same length), with no call for up to
/// 16 bytes (a short str's): two loads and two stores that may overlap.
#[inline(always)]
fn copy_into(dst: &mut [u8], src: &[u8]) {
    fn two<const N: usize>(dst: &mut [u8], src: &[u8]) {
        if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
            *d = *s;
        }
        if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
            *d = *s;
        }
    }
    match src.len() {
        0 => {}
        1..4 => {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = *s;
            }
        }
        4..8 => two::<4>(dst, src),
        8..=16 => two::<8>(dst, src),
        _ => crate::segment::copy_slice(dst, src),
    }
}

/// tuple, frozen set: `len`, a zero word, then the slots.
fn write_seq<'a>(
    heap: &Heap,
    tag: u8,
    items: impl ExactSizeIterator<Item = &'a Value>,
    depth: u32,
) -> Result<Offset, Error> {
    write_slots(heap, tag, items.map(|v| write_at(heap, v, depth)))
}

/// The tuple layout (tuple, frozen set, object): `len`, a zero word, then
/// the slots, each item written completely before its slot is stored. On
/// error nothing stays allocated.
fn write_slots(
    heap: &Heap,
    tag: u8,
    items: impl ExactSizeIterator<Item = Result<Slot, Error>>,
) -> Result<Offset, Error> {
    let n = items.len() as u64;
    let b = heap.alloc(16 + 16 * n, tag)?;
    let m = heap.mem;
    m.set_u64(payload(b), n)?;
    m.set_u64(payload(b).add(8), 0)?;
    for (i, s) in items.enumerate() {
        match s {
            Ok(s) => s.write(&m, b.add(SEQ_SLOTS + 16 * i as u64))?,
            Err(e) => {
                for j in 0..i as u64 {
                    free_slot(heap, Slot::read(&m, b.add(SEQ_SLOTS + 16 * j))?)?;
                }
                heap.free(b)?;
                return Err(e);
            }
        }
    }
    Ok(b)
}

fn write_list(heap: &Heap, items: &[Value], depth: u32) -> Result<Offset, Error> {
    let b = ListLayout::create(heap)?;
    let mut l = ListLayout::read(heap, b)?;
    if let Err(e) = l.reserve(heap, items.len() as u64) {
        free_object(heap, b)?;
        return Err(e);
    }
    // Fill a chunk's run of slots at a time (bounds checked once per run).
    let table = l.table(heap)?;
    let mut written = 0;
    // SAFETY: the slots belong to this (not yet published) list, and we
    // hold the turn.
    let r = unsafe {
        table.slots_mut(&heap.mem, 0, items.len() as u64, |at, slots| {
            for (i, (slot, item)) in slots.iter_mut().zip(&items[at as usize..]).enumerate() {
                match scalar_slot(item) {
                    Some(s) => slot.assign(s),
                    None => match write_at(heap, item, depth) {
                        Ok(s) => slot.assign(s),
                        Err(e) => {
                            written = at + i as u64;
                            return Err(e);
                        }
                    },
                }
            }
            written = at + slots.len().min(items.len() - at as usize) as u64;
            Ok(())
        })
    };
    l.len = written;
    if let Err(e) = r {
        // The items written so far are freed with the list.
        l.store(heap)?;
        free_object(heap, b)?;
        return Err(e);
    }
    l.store(heap)?;
    Ok(b)
}
