//! Unit tests of the hashed layout (heap-backed segments, Miri-sized):
//! probing, tombstones, rehashing without moving entries, the free list.

use super::*;
use crate::Value;
use crate::format::{T_INT, T_SET, hash};

fn int(k: i64) -> Slot {
    Slot::new(T_INT, k as u64)
}

/// Ints whose hashes share the home slot `home` in an index of 8 slots.
fn colliding(home: u64, n: usize) -> Vec<i64> {
    (0..)
        .filter(|&k| hash::int(k) & 7 == home)
        .take(n)
        .collect()
}

fn find(heap: &Heap, l: &HashLayout, k: i64) -> Option<(u64, u64)> {
    match l
        .probe(heap, hash::int(k), |e| Ok(e.key().payload as i64 == k))
        .unwrap()
    {
        Probe::Found { pos, e, .. } => Some((pos, e)),
        Probe::Absent { .. } => None,
    }
}

#[test]
fn sizes_keep_the_load_below_five_eighths() {
    assert_eq!(target_cap(0), 0);
    assert_eq!(target_cap(1), 8);
    assert_eq!(target_cap(3), 8);
    assert_eq!(target_cap(4), 16);
    assert_eq!(target_cap(MAX_ENTRIES), MAX_INDEX);
    for n in 1..2000 {
        let cap = target_cap(n);
        assert!(2 * n < cap && !overfull(n, cap), "{n} in {cap}");
    }
    assert!(overfull(6, 8) && !overfull(5, 8));
}

#[test]
fn tombstones_are_cleared_when_their_probe_run_ends() {
    let seg = crate::test_segment(1 << 20);
    let mut turn = seg.turn().unwrap();
    let h = turn.put_message(&Value::set()).unwrap();
    let heap = turn.heap();
    let mut l = HashLayout::read(&heap, h.offset, T_SET).unwrap();
    let ks = colliding(3, 3);
    l.reserve(&heap, 3).unwrap();
    assert_eq!(l.cap, 8);
    for &k in &ks {
        l.insert_absent(&heap, hash::int(k), int(k), Slot::NONE)
            .unwrap();
    }
    heap.commit().unwrap();
    turn.validate().unwrap();
    let positions: Vec<u64> = ks.iter().map(|&k| find(&heap, &l, k).unwrap().0).collect();
    assert_eq!(positions, [3, 4, 5], "one probe run from the common home");
    // The middle one: the run goes on after it, so a tombstone.
    let (pos, e) = find(&heap, &l, ks[1]).unwrap();
    l.remove_entry(&heap, e, pos).unwrap();
    assert_eq!(l.tombs, 1);
    assert!(find(&heap, &l, ks[2]).is_some(), "found past the tombstone");
    heap.commit().unwrap();
    turn.validate().unwrap();
    // The last one ends the run: it and the tombstone before it clear.
    let (pos, e) = find(&heap, &l, ks[2]).unwrap();
    l.remove_entry(&heap, e, pos).unwrap();
    assert_eq!(l.tombs, 0);
    assert!(find(&heap, &l, ks[0]).is_some());
    heap.commit().unwrap();
    turn.validate().unwrap();
    // Freed entries are reused, most recent first.
    let e = l
        .insert_absent(&heap, hash::int(ks[2]), int(ks[2]), Slot::NONE)
        .unwrap();
    assert_eq!(e, 2);
    assert_eq!(l.used, 3);
    heap.commit().unwrap();
    turn.validate().unwrap();
}

#[test]
fn rehashing_moves_no_entry() {
    let seg = crate::test_segment(4 << 20);
    let mut turn = seg.turn().unwrap();
    let h = turn.put_message(&Value::set()).unwrap();
    let heap = turn.heap();
    let mut l = HashLayout::read(&heap, h.offset, T_SET).unwrap();
    let n = if cfg!(miri) { 40 } else { 3000 };
    let mut at = Vec::new();
    let mut caps = std::collections::BTreeSet::new();
    for k in 0..n {
        l.reserve(&heap, 1).unwrap();
        caps.insert(l.cap);
        let e = l
            .insert_absent(&heap, hash::int(k), int(k), Slot::NONE)
            .unwrap();
        at.push(l.entry(&heap, e).unwrap().key_ptr() as usize);
    }
    assert!(caps.len() >= 3, "the index grew: {caps:?}");
    heap.commit().unwrap();
    turn.validate().unwrap();
    // Remove most: the index shrinks, the survivors stay where they were.
    for k in 0..n - 5 {
        let (pos, e) = find(&heap, &l, k).unwrap();
        l.remove_entry(&heap, e, pos).unwrap();
        l.settle(&heap).unwrap();
    }
    assert!(
        l.cap <= 32 && l.cap < *caps.iter().max().unwrap(),
        "shrunk to {}",
        l.cap
    );
    for k in n - 5..n {
        let (_, e) = find(&heap, &l, k).unwrap();
        assert_eq!(
            l.entry(&heap, e).unwrap().key_ptr() as usize,
            at[k as usize]
        );
    }
    heap.commit().unwrap();
    turn.validate().unwrap();
    // Emptied: index and entries are released, the header stays.
    for k in n - 5..n {
        let (pos, e) = find(&heap, &l, k).unwrap();
        l.remove_entry(&heap, e, pos).unwrap();
        l.settle(&heap).unwrap();
    }
    assert!(l.index.is_null() && l.chunks.table.is_null() && l.used == 0);
    assert_eq!(
        HashLayout::read(&heap, h.offset, T_SET).unwrap().cap,
        0,
        "published"
    );
    heap.commit().unwrap();
    turn.validate().unwrap();
}
