//! Allocator tests on a heap-backed segment (they run under Miri).

use super::*;

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

use crate::test_segment as seg;

/// Random allocations and frees against a model: blocks never overlap,
/// contents survive other operations, the heap walk and counters agree
/// after every step, and freeing everything returns the heap to empty.
#[test]
fn random_alloc_free_matches_model() {
    let steps = if cfg!(miri) { 40 } else { 20_000 };
    let s = seg(4 << 20);
    let turn = s.turn().unwrap();
    let heap = turn.heap();
    let mut live: Vec<(Offset, u64, u8)> = Vec::new();
    let mut seed = 0x1234_5678_9abc_def1u64;
    for step in 0..steps {
        let r = rng(&mut seed);
        if live.is_empty() || !r.is_multiple_of(3) {
            // Mostly small, sometimes large.
            let size = if r.is_multiple_of(10) {
                rng(&mut seed) % 20_000
            } else {
                rng(&mut seed) % 300
            };
            match heap.alloc(size, 7) {
                Ok(b) => {
                    let fill = (step % 251) as u8;
                    let cap = heap.header(b).unwrap().0 - HDR;
                    assert!(cap >= size);
                    heap.mem.zero(b.add(HDR), size).unwrap();
                    for i in 0..size.min(64) {
                        heap.mem.write_bytes(b.add(HDR + i), &[fill]).unwrap();
                    }
                    live.push((b, size, fill));
                }
                Err(Error::OutOfMemory { .. }) => {
                    let before = heap.stats();
                    // Out of memory changes nothing.
                    assert_eq!(heap.stats(), before);
                }
                Err(e) => panic!("alloc failed: {e}"),
            }
        } else {
            let i = (rng(&mut seed) % live.len() as u64) as usize;
            let (b, size, fill) = live.swap_remove(i);
            // SAFETY: the test holds the turn; nothing else writes.
            let got = unsafe { heap.mem.bytes(b.add(HDR), size.min(64)).unwrap() };
            assert!(
                got.iter().all(|&x| x == fill),
                "block {b:?} contents changed"
            );
            heap.free(b).unwrap();
        }
        if step % 16 == 0 || cfg!(miri) {
            let mut seen = 0u64;
            heap.walk(|_, _, _, _| {
                seen += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, live.len() as u64);
        }
    }
    // No two live blocks overlap.
    let mut spans: Vec<(u64, u64)> = live
        .iter()
        .map(|(b, _, _)| (b.get(), b.get() + heap.header(*b).unwrap().0))
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlap {w:?}");
    }
    for (b, _, _) in live.drain(..) {
        heap.free(b).unwrap();
    }
    heap.walk(|_, _, _, _| panic!("no block should remain"))
        .unwrap();
    // Parked small blocks go back to the coalescing bins on demand.
    heap.consolidate().unwrap();
    let st = heap.stats();
    assert_eq!(st.used, 0);
    assert_eq!(st.blocks, 0);
    assert_eq!(
        st.high_water, HEAP_START,
        "everything coalesced back into top"
    );
    heap.walk(|_, _, _, _| panic!("no block should remain"))
        .unwrap();
}

#[test]
fn out_of_memory_changes_nothing() {
    let s = seg(64 << 10);
    let turn = s.turn().unwrap();
    let heap = turn.heap();
    let a = heap.alloc(1000, 7).unwrap();
    let before = heap.stats();
    let e = heap.alloc(1 << 20, 7).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
    assert_eq!(heap.stats(), before);
    heap.free(a).unwrap();
}

#[test]
fn freed_block_is_reused_and_old_handle_is_stale() {
    let s = seg(64 << 10);
    let turn = s.turn().unwrap();
    let heap = turn.heap();
    let keep = heap.alloc(40, 7).unwrap();
    let a = heap.alloc(100, 7).unwrap();
    let _guard = heap.alloc(40, 7).unwrap();
    let ha = heap.handle(a).unwrap();
    assert!(heap.check_handle(ha).is_ok());
    heap.free(a).unwrap();
    assert!(matches!(
        heap.check_handle(ha),
        Err(Error::StaleHandle { .. })
    ));
    let b = heap.alloc(100, 7).unwrap();
    assert_eq!(a, b, "exact-size bin gives the same block back");
    assert!(matches!(
        heap.check_handle(ha),
        Err(Error::StaleHandle { .. })
    ));
    assert!(heap.check_handle(heap.handle(b).unwrap()).is_ok());
    let _ = keep;
}

#[test]
fn neighbours_coalesce_and_large_blocks_split() {
    let s = seg(1 << 20);
    let turn = s.turn().unwrap();
    let heap = turn.heap();
    let a = heap.alloc(2000, 7).unwrap();
    let b = heap.alloc(2000, 7).unwrap();
    let c = heap.alloc(2000, 7).unwrap();
    let _end = heap.alloc(16, 7).unwrap();
    heap.free(a).unwrap();
    heap.free(c).unwrap();
    heap.free(b).unwrap();
    // a, b, c are one free block now.
    let st = heap.stats();
    assert_eq!(st.free_in_bins, 3 * 2016);
    // A small allocation splits it and takes its start.
    let d = heap.alloc(100, 7).unwrap();
    assert_eq!(d, a);
    assert_eq!(heap.stats().free_in_bins, 3 * 2016 - 128);
    heap.walk(|_, _, _, _| Ok(())).unwrap();
}

/// A block freed into `top` together with its free neighbour must not keep
/// its generation: once `top` grows back over it, its old handle stays
/// stale even if nothing rewrites those bytes.
#[test]
fn handle_of_block_merged_into_top_stays_stale() {
    let s = seg(64 << 10);
    let turn = s.turn().unwrap();
    let heap = turn.heap();
    let a = heap.alloc(100, 7).unwrap();
    let b = heap.alloc(100, 7).unwrap();
    let hb = heap.handle(b).unwrap();
    heap.free(a).unwrap(); // parked in a fast bin
    heap.free(b).unwrap(); // next to top: released into top
    heap.consolidate().unwrap(); // a merges into top too
    assert_eq!(heap.top(), HEAP_START);
    // A larger block now covers b's old header without writing it.
    let c = heap.alloc(1000, 7).unwrap();
    assert_eq!(c, a);
    assert!(matches!(
        heap.check_handle(hb),
        Err(Error::StaleHandle { .. })
    ));
}

#[test]
fn absurd_handle_offsets_are_stale_not_panics() {
    let s = seg(64 << 10);
    let turn = s.turn().unwrap();
    let heap = turn.heap();
    for off in [0, 8, 16, u64::MAX - 15, u64::MAX, HEAP_START, 1 << 40] {
        let h = Handle {
            offset: Offset::new(off),
            generation: 1,
        };
        assert!(
            matches!(heap.check_handle(h), Err(Error::StaleHandle { .. })),
            "offset {off:#x}"
        );
    }
}
