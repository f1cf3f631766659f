//! Validation of the hashed layout (dicts and sets), and the stable hash of
//! a key as it lies in the segment.

use super::chunks::chunk_cap;
use super::hashed::{DELETED, E_KEY, E_VALUE, EMPTY, HASH_PAYLOAD, HashLayout};
use super::scalar;
use super::{
    K_HASH_CHUNK, K_HASH_INDEX, K_LIST_TABLE, SEQ_SLOTS, Slot, T_BOOL, T_BYTES, T_FLOAT,
    T_FROZENSET, T_INT, T_NONE, T_STR, T_TUPLE, hash, payload, type_name,
};
use crate::Error;
use crate::alloc::Heap;
use crate::segment::Offset;

/// Deepest key nesting the hash follows (as writing does).
const MAX_KEY_DEPTH: u32 = 128;

/// The validator's side of the walk: ownership claims and slot checks.
pub(crate) trait Owner {
    /// Claims block `b` (which must be of kind `kind` and not owned yet)
    /// and returns its payload bytes.
    fn claim(&mut self, b: Offset, kind: u8) -> Result<u64, Error>;
    /// Checks `slot` (read from the offset `at` names, for the error) and
    /// claims what it points to (later).
    fn slot(&mut self, slot: Slot, at: impl FnOnce() -> Offset) -> Result<(), Error>;
}

/// The block of the key in pointer slot `s`, which must be of kind
/// `s.tag`, and its payload bytes.
#[inline(always)]
fn key_block(heap: &Heap, s: Slot) -> Result<(Offset, u64), Error> {
    let b = Offset::new(s.payload);
    let (size, _, kind) = heap.live(b)?;
    if kind != s.tag {
        return Err(wrong_key_block(b, s.tag, kind));
    }
    Ok((b, size - crate::alloc::HDR))
}

#[cold]
#[inline(never)]
fn wrong_key_block(b: Offset, tag: u8, kind: u8) -> Error {
    Error::corrupt(
        b.get(),
        format!(
            "key slot says {} but block is {}",
            type_name(tag),
            type_name(kind)
        ),
    )
}

/// The stable hash of the key in slot `s`, read from the segment (the same
/// function as `hash` over values, see FORMAT.md §10); `None` for an
/// unhashable key. Reads are bounds-checked, kinds and lengths checked.
pub(crate) fn slot_hash(heap: &Heap, s: Slot, depth: u32) -> Result<Option<u64>, Error> {
    if depth > MAX_KEY_DEPTH {
        return Err(Error::corrupt(s.payload, "key nests too deep"));
    }
    let m = heap.mem;
    Ok(Some(match s.tag {
        T_NONE => hash::NONE,
        T_BOOL | T_INT => hash::int(s.payload as i64),
        T_FLOAT => hash::float(f64::from_bits(s.payload)),
        tag @ (T_STR | T_BYTES | T_TUPLE | T_FROZENSET) => {
            let (b, room) = key_block(heap, s)?;
            let len = m.u64(payload(b))?;
            if matches!(tag, T_STR | T_BYTES) {
                if len > room - 8 {
                    return Err(Error::corrupt(b.get(), "key longer than its block"));
                }
                // SAFETY: the validator and the writers hold the turn;
                // nothing writes the bytes while the slice lives.
                let bytes = unsafe { m.bytes(payload(b).add(8), len)? };
                if tag == T_STR {
                    hash::str_bytes(bytes)
                } else {
                    hash::bytes(bytes)
                }
            } else {
                if len.checked_mul(16).is_none_or(|n| n > room - 16) {
                    return Err(Error::corrupt(b.get(), "key longer than its block"));
                }
                // The items' hashes, fed to `combine` as they come; the
                // first unhashable item or error stops it (kept in `stop`).
                let mut stop = None;
                let items = (0..len).map_while(|i| {
                    let h = Slot::read(&m, b.add(SEQ_SLOTS + 16 * i))
                        .and_then(|item| slot_hash(heap, item, depth + 1));
                    match h {
                        Ok(Some(h)) => Some(h),
                        other => {
                            stop = Some(other);
                            None
                        }
                    }
                });
                let h = hash::combine(items, tag == T_TUPLE);
                if let Some(r) = stop {
                    return r;
                }
                h
            }
        }
        tag if scalar::is_scalar_kind(tag) => {
            let (b, room) = key_block(heap, s)?;
            // SAFETY: the validator and the writers hold the turn; the
            // view dies in this statement.
            let v = unsafe { scalar::read(heap, b, tag, room)? };
            return Ok(scalar::scalar_hash(&v));
        }
        _ => return Ok(None),
    }))
}

/// Checks the dict or set at `b` (`room` payload bytes): its header, chunk
/// table, chunks and index (claimed as owned by it), the order list (covers
/// exactly the `len` live entries, back links right) and, on the way, each
/// live entry's slots and its stored hash against its key, the free list
/// (covers every other entry handed out), the index (names each live entry
/// exactly once, where a probe from its hash finds it; counts tombstones).
/// `state` is scratch space (a byte per entry), reused from one dict to the
/// next.
pub(crate) fn check(
    heap: &Heap,
    b: Offset,
    kind: u8,
    room: u64,
    state: &mut Vec<u8>,
    w: &mut impl Owner,
) -> Result<(), Error> {
    let m = heap.mem;
    let bad = |what: &str| Error::corrupt(b.get(), format!("{}: {what}", type_name(kind)));
    if room < HASH_PAYLOAD {
        return Err(bad("header shorter than its fields"));
    }
    let l = HashLayout::read(heap, b, kind)?;
    let c = l.chunks;
    if !c.table.is_null() {
        let troom = w.claim(c.table, K_LIST_TABLE)?;
        let tcap = m.u64(payload(c.table))?;
        if tcap.checked_mul(8).is_none_or(|n| n > troom - 16) || c.nchunks > tcap {
            return Err(Error::corrupt(c.table.get(), "chunk table malformed"));
        }
        for k in 0..c.nchunks {
            let ch = c.chunk(heap, k)?;
            let croom = w.claim(ch, K_HASH_CHUNK)?;
            if m.u64(payload(ch))? != k || 16 + l.stride * chunk_cap(k) > croom {
                return Err(Error::corrupt(ch.get(), "entry chunk malformed"));
            }
        }
    }
    if !l.index.is_null() {
        let iroom = w.claim(l.index, K_HASH_INDEX)?;
        if 4 * l.cap > iroom {
            return Err(Error::corrupt(l.index.get(), "index longer than its block"));
        }
    }
    // The table and the index, bounds-checked once: entries are then
    // reached without going through the table's checks again.
    let lk = l.lookup(heap)?;
    // Entry states: 0 not seen, 1 live (order list), 2 free, 3 live and
    // indexed.
    state.clear();
    state.resize(l.used as usize, 0);
    let (mut prev, mut cur) = (0u64, l.head);
    for _ in 0..l.len {
        if cur == 0 || cur > l.used {
            return Err(bad("order list shorter than len, or a bad link"));
        }
        let e = cur - 1;
        if state[e as usize] != 0 {
            return Err(bad("entry twice in the order list"));
        }
        state[e as usize] = 1;
        let entry = lk.entry(e)?;
        if entry.prev() != prev {
            return Err(bad("order list back link is wrong"));
        }
        // The live entry's slots, and its stored hash against its key.
        let at = || l.entry_offset(heap, e).unwrap_or(Offset::NULL);
        let key = entry.key();
        w.slot(key, || at().add(E_KEY))?;
        if l.has_values() {
            w.slot(entry.value(), || at().add(E_VALUE))?;
        }
        match slot_hash(heap, key, 0)? {
            Some(h) if h == entry.hash() => {}
            Some(_) => {
                return Err(Error::corrupt(
                    at().get(),
                    "stored hash does not match the key",
                ));
            }
            None => return Err(Error::corrupt(at().get(), "unhashable key")),
        }
        prev = cur;
        cur = entry.next();
    }
    if cur != 0 || l.tail != prev {
        return Err(bad("order list longer than len, or tail is wrong"));
    }
    let (mut nfree, mut cur) = (0u64, l.free);
    while cur != 0 {
        if cur > l.used || state[(cur - 1) as usize] != 0 {
            return Err(bad("free list names a live, listed or unknown entry"));
        }
        state[(cur - 1) as usize] = 2;
        nfree += 1;
        cur = lk.entry(cur - 1)?.next();
    }
    if nfree != l.used - l.len {
        return Err(bad("free list does not hold every entry that is not live"));
    }
    if l.cap > 0 {
        let ix = l.index(heap)?;
        let mask = l.cap - 1;
        let slot = |pos: u64| ix.get(pos);
        let z = (0..l.cap)
            .find(|&p| slot(p) == EMPTY)
            .ok_or_else(|| bad("index has no empty slot"))?;
        let (mut run, mut seen, mut tombs) = (0u64, 0u64, 0u64);
        for step in 1..=l.cap {
            let pos = (z + step) & mask;
            match slot(pos) {
                EMPTY => run = 0,
                DELETED => {
                    tombs += 1;
                    run += 1;
                }
                v => {
                    run += 1;
                    let e = v as u64 - 1;
                    if e >= l.used || state[e as usize] != 1 {
                        return Err(bad("index names an entry that is not live, or twice"));
                    }
                    state[e as usize] = 3;
                    let home = lk.entry(e)?.hash() & mask;
                    if pos.wrapping_sub(home) & mask >= run {
                        return Err(bad("entry not reachable from its hash in the index"));
                    }
                    seen += 1;
                }
            }
        }
        if seen != l.len || tombs != l.tombs {
            return Err(bad(
                "index does not name every live entry, or tombstones miscounted",
            ));
        }
    }
    Ok(())
}
