//! Recovery of the data after a process died inside its turn: roll the
//! interrupted operation back, rebuild the allocator, reclaim what nothing
//! reaches, and validate.

use super::validate::{Report, queue_entries, validate, validate_marking};
use crate::Error;
use crate::alloc::Heap;
use crate::alloc::{QUEUED, ROOT};
use crate::segment::{Offset, QueueState, Word};

/// What [`crate::Segment::recover`] found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Pid of the process that died holding the turn (0 when recovery ran
    /// for another reason, e.g. a segment image with an interrupted
    /// operation).
    pub dead_pid: u32,
    /// Journal records written back: the committed bytes the interrupted
    /// operation had overwritten (0 if it died between operations).
    pub records_undone: u64,
    /// Allocated blocks nothing reached (written by the interrupted
    /// operation, or being freed by it), now free again.
    pub blocks_reclaimed: u64,
    /// Their bytes.
    pub bytes_reclaimed: u64,
    /// The validation of the recovered segment.
    pub report: Report,
}

/// Rolls back the journal, rebuilds the allocator from the block headers,
/// frees every allocated block no root reaches, and validates the result.
/// Idempotent: a death half-way through leaves work the next run redoes.
pub(crate) fn recover_data(
    heap: &Heap,
    queue: &QueueState,
    root: &std::sync::atomic::AtomicU64,
) -> Result<Recovery, Error> {
    // (The journal's block stays, empty, for the next operation.)
    let records_undone = heap.rollback(false)?;
    // The root word as the rollback left it (a transaction may have
    // created the root namespace).
    let root = root.get();
    flag_queued(heap, queue)?;
    flag_root(heap, root)?;
    // Normalise the allocator (bins, footers, counters) keeping every
    // allocated block, so that the validator can walk it...
    heap.rebuild(|_| true)?;
    // ...find what the roots reach...
    let (_, reached) = validate_marking(heap, queue, root)?;
    // ...and give back everything else.
    let rebuilt = heap.rebuild(|b| reached.get(b))?;
    let report = validate(heap, queue, root)?;
    Ok(Recovery {
        dead_pid: 0,
        records_undone,
        blocks_reclaimed: rebuilt.blocks,
        bytes_reclaimed: rebuilt.bytes,
        report,
    })
}

/// The ring is the truth about what is queued: a put publishes `len`
/// before it flags the object (and a take's rollback brings an entry back
/// whose flag was cleared), so every object the live ring names gets `ROOT
/// | QUEUED` here. Entries that are not live handles are left for the
/// validation to refuse.
fn flag_queued(heap: &Heap, q: &QueueState) -> Result<(), Error> {
    let ring = q.ring.get();
    if ring == 0 {
        return Ok(());
    }
    // A ring that is not a block holding `cap` entries is for the
    // validation to refuse.
    let (size, _, _) = heap.live(Offset::new(ring))?;
    if q.cap
        .get()
        .checked_mul(16)
        .is_none_or(|n| n > size - crate::alloc::HDR)
    {
        return Ok(());
    }
    queue_entries(heap, q, |_, h| {
        if heap.check_handle(h).is_ok() {
            heap.set_flags(h.offset, ROOT | QUEUED, 0)?;
        }
        Ok(())
    })
}

/// The header's root word is the truth about the root namespace: its
/// creation publishes the word before it flags the dict `ROOT`, so a death
/// in between leaves a named dict without the flag, which gets it here. A
/// word naming anything but a live dict is left for the validation to
/// refuse.
fn flag_root(heap: &Heap, root: u64) -> Result<(), Error> {
    if root == 0 {
        return Ok(());
    }
    let b = Offset::new(root);
    if let Ok((_, flags, super::T_DICT)) = heap.live(b)
        && flags & QUEUED == 0
    {
        heap.set_flags(b, ROOT, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Interrupted operations simulated inside one process (so that Miri
    //! runs them): journal records and writes left half-done, blocks
    //! allocated and not published, frees deferred; recovery must restore
    //! the committed state exactly and reclaim the rest.

    use crate::format::payload;
    use crate::{Segment, Value, value};

    /// A small segment under Miri (every byte costs there).
    fn segment() -> Segment {
        crate::test_segment(if cfg!(miri) { 64 << 10 } else { 1 << 20 })
    }

    #[test]
    fn rollback_restores_committed_bytes_and_reclaims_the_rest() {
        let seg = segment();
        let mut turn = seg.turn().unwrap();
        let h = turn
            .put_message(&value!(["committed", 7, {"k": [1, 2]}, (3, "t")]))
            .unwrap();
        {
            let mut l = turn.list_mut(h).unwrap();
            for i in 0..if cfg!(miri) { 4 } else { 100 } {
                l.push(format!("item {i}")).unwrap();
            }
        }
        let before = turn.get(h).unwrap().to_value().unwrap();
        let stats = turn.stats();
        let image = seg.image(&turn);
        let heap = turn.heap();
        // An operation that saved and overwrote the list header and its
        // first slots, allocated two blocks, and deferred the free of a
        // live item's block, then died.
        let hdr = payload(h.offset);
        heap.save(hdr, 24).unwrap();
        heap.mem.set_u64(hdr, 3).unwrap();
        let item = match turn.list_mut(h).unwrap().item_handle(0).unwrap() {
            Some(item) => item,
            None => panic!("item 0 is a str"),
        };
        heap.free(item.offset).unwrap();
        let first = crate::format::list::ListLayout::read(&heap, h.offset).unwrap();
        let slot = first.slot(&heap, 1).unwrap();
        heap.save(slot, 32).unwrap();
        heap.mem.set_u64(slot, 0xDEAD).unwrap();
        heap.mem.set_u64(slot.add(24), 0xBEEF).unwrap();
        heap.alloc(100, crate::format::T_STR).unwrap();
        heap.alloc(5000, crate::format::K_LIST_CHUNK).unwrap();
        assert!(heap.in_operation());
        let r = turn.recover_data().unwrap();
        assert_eq!(r.records_undone, 2);
        assert_eq!(r.blocks_reclaimed, 2, "{r:?}");
        assert_eq!(r.report.orphans, 0);
        assert!(!heap.in_operation());
        assert_eq!(turn.get(h).unwrap().to_value().unwrap(), before);
        assert_eq!(turn.stats().used, stats.used);
        assert_eq!(turn.stats().blocks, stats.blocks);
        // Nothing but allocator bookkeeping differs from before the
        // operation: every value byte is as it was.
        let after = seg.image(&turn);
        let start = crate::segment::HEAP_START as usize;
        let same = image[start..]
            .iter()
            .zip(&after[start..])
            .filter(|(a, b)| a == b)
            .count();
        assert!(same * 10 > (image.len() - start) * 9);
        // Recovery is idempotent, and the segment is fully usable.
        let again = turn.recover_data().unwrap();
        assert_eq!((again.records_undone, again.blocks_reclaimed), (0, 0));
        let mut l = turn.list_mut(h).unwrap();
        l.insert(0, "new").unwrap();
        l.remove(1).unwrap();
        assert_eq!(l.get(1).unwrap().to_value().unwrap(), Value::Int(7));
        turn.validate().unwrap();
    }

    /// Every crash point of a few operations, in turn, simulated by a panic
    /// (`__test::panic_after`): the turn's drop recovers while unwinding,
    /// and the list is as before the operation or as after it, with no
    /// orphan. (Found by the `crash` fuzzer: a panic after a value was
    /// allocated and before the operation's first journal record left the
    /// value orphaned, since the drop recovered only with records.)
    #[test]
    fn a_panic_at_any_crash_point_leaves_the_operation_done_or_undone() {
        use crate::__test::{InjectedCrash, panic_after};
        use std::panic::{AssertUnwindSafe, catch_unwind};
        let seg = segment();
        let h = {
            let mut turn = seg.turn().unwrap();
            let h = turn.put_message(&value!(["a", 1])).unwrap();
            turn.take_message().unwrap();
            h
        };
        type Step = fn(&mut crate::ListMut<'_>) -> Result<(), crate::Error>;
        let steps: [(&str, Step, Step); 4] = [
            (
                "push",
                |l| l.push("x".repeat(91)),
                |l| l.push("x".repeat(91)),
            ),
            ("insert", |l| l.insert(0, "y"), |l| l.insert(0, "y")),
            ("set", |l| l.set(1, "z"), |l| l.set(1, "z")),
            (
                "remove",
                |l| l.remove(0).map(drop),
                |l| l.remove(0).map(drop),
            ),
        ];
        let n = if cfg!(miri) { 3 } else { 40 };
        for (what, op, model_op) in steps {
            for k in 1..=n {
                let before = seg.turn().unwrap().get(h).unwrap().to_value().unwrap();
                let r = catch_unwind(AssertUnwindSafe(|| {
                    let mut turn = seg.turn().unwrap();
                    panic_after(k);
                    let r = op(&mut turn.list_mut(h).unwrap());
                    panic_after(0);
                    r
                }));
                panic_after(0);
                let mut turn = seg.turn().unwrap();
                let seen = turn.get(h).unwrap().to_value().unwrap();
                // The expected result: the same operation on a copy.
                let copy = turn.put_message(&before).unwrap();
                turn.take_message().unwrap();
                model_op(&mut turn.list_mut(copy).unwrap()).unwrap();
                let after = turn.get(copy).unwrap().to_value().unwrap();
                turn.free(copy).unwrap();
                match r {
                    Ok(r) => {
                        r.unwrap();
                        assert_eq!(seen, after, "{what}, crash point {k} not reached");
                    }
                    Err(p) => {
                        assert!(p.is::<InjectedCrash>());
                        assert!(
                            seen == before || seen == after,
                            "{what} cut at crash point {k}: {seen:?}"
                        );
                    }
                }
                assert_eq!(turn.validate().unwrap().orphans, 0, "{what} at {k}");
            }
        }
    }

    /// The small-message path (a short str, bytes or scalar put from a
    /// warm fast bin into a ring with room, taken, freed back to its fast
    /// bin) cut at each of its crash points: the message is wholly queued
    /// or not at all, taken or not, freed or not, and nothing is orphaned.
    #[test]
    fn small_messages_cut_at_each_crash_point() {
        use crate::__test::{InjectedCrash, panic_after};
        use crate::{Handle, Turn};
        use std::panic::{AssertUnwindSafe, catch_unwind};
        // Runs `f` in a turn cut at crash point `k`; whether it was cut.
        fn cut<T>(seg: &Segment, k: u64, f: impl FnOnce(&mut Turn<'_>) -> T) -> Option<T> {
            let r = catch_unwind(AssertUnwindSafe(|| {
                let mut turn = seg.turn().unwrap();
                panic_after(k);
                let r = f(&mut turn);
                panic_after(0);
                r
            }));
            panic_after(0);
            match r {
                Ok(r) => Some(r),
                Err(p) => {
                    assert!(p.is::<InjectedCrash>());
                    None
                }
            }
        }
        let values = [
            Value::from("hello, world"),
            Value::Bytes(b"bytes".to_vec()),
            Value::Int(7),
        ];
        let n = if cfg!(miri) { 3 } else { 8 };
        for v in &values {
            for k in 1..=n {
                let seg = segment();
                {
                    // The ring, and a block of the value's size parked in
                    // its fast bin (below the top, so it is parked).
                    let mut turn = seg.turn().unwrap();
                    turn.put_message(v).unwrap();
                    turn.put_message(v).unwrap();
                    let a = turn.take_message().unwrap().unwrap();
                    let b = turn.take_message().unwrap().unwrap();
                    turn.free(a).unwrap();
                    turn.free(b).unwrap();
                    assert!(turn.heap().fast_bytes() > 0);
                }
                let check = |what: &str| {
                    let turn = seg.turn().unwrap();
                    let r = turn.validate().unwrap();
                    assert_eq!(r.orphans, 0, "{v:?}: {what} cut at {k}");
                    r.messages
                };
                // put
                let put = cut(&seg, k, |t| t.put_message(v).unwrap());
                let queued = check("put");
                // (A put cut after `tail` published the entry is done.)
                assert!(
                    queued == 1 || (queued == 0 && put.is_none()),
                    "{v:?}: put cut at {k}"
                );
                if queued == 0 {
                    seg.turn().unwrap().put_message(v).unwrap();
                }
                // take
                let taken = cut(&seg, k, |t| t.take_message().unwrap().unwrap());
                let left = check("take");
                let h: Handle = match taken {
                    Some(h) => {
                        assert_eq!(left, 0);
                        h
                    }
                    // A cut take leaves the message queued, or taken by
                    // nobody (a root the validation counts, not an orphan).
                    None if left == 1 => seg.turn().unwrap().take_message().unwrap().unwrap(),
                    None => continue,
                };
                assert_eq!(seg.turn().unwrap().get(h).unwrap().to_value().unwrap(), *v);
                // free
                let freed = cut(&seg, k, |t| t.free(h).unwrap());
                check("free");
                match seg.turn().unwrap().get(h) {
                    Ok(got) => {
                        assert!(freed.is_none(), "{v:?}: freed, yet readable");
                        assert_eq!(got.to_value().unwrap(), *v);
                    }
                    Err(e) => assert!(matches!(e, crate::Error::StaleHandle { .. }), "{e}"),
                }
            }
        }
    }

    /// Freeing a taken string at the heap's top (the coalescing path, which
    /// clears the generation first) cut at each crash point: the string is
    /// wholly there or wholly gone. (Found by the `crash` fuzzer: a block
    /// left with its flags and a cleared generation was kept as a root that
    /// is not a value.)
    #[test]
    fn freeing_a_root_cut_at_each_crash_point() {
        use crate::__test::{InjectedCrash, panic_after};
        use std::panic::{AssertUnwindSafe, catch_unwind};
        for k in 1..=4 {
            let seg = segment();
            let h = {
                let mut turn = seg.turn().unwrap();
                // (the queue's ring first, so that the string ends the heap)
                turn.put_message(&Value::None).unwrap();
                let first = turn.take_message().unwrap().unwrap();
                turn.free(first).unwrap();
                turn.put_message(&Value::from("s".repeat(255))).unwrap();
                let h = turn.take_message().unwrap().unwrap();
                assert_eq!(turn.stats().high_water, turn.heap().top());
                h
            };
            let r = catch_unwind(AssertUnwindSafe(|| {
                let mut turn = seg.turn().unwrap();
                panic_after(k);
                let r = turn.free(h);
                panic_after(0);
                r
            }));
            panic_after(0);
            let turn = seg.turn().unwrap();
            let report = turn.validate().unwrap();
            assert_eq!(report.orphans, 0, "crash point {k}");
            match r {
                Ok(r) => r.unwrap(),
                Err(p) => assert!(p.is::<InjectedCrash>()),
            }
            match turn.get(h) {
                Ok(v) => assert_eq!(v.to_value().unwrap(), Value::from("s".repeat(255))),
                Err(e) => assert!(matches!(e, crate::Error::StaleHandle { .. }), "{e}"),
            }
        }
    }

    /// A transaction (FORMAT.md §9.2) rolled back in process, on a heap
    /// buffer (so that Miri runs it): operations, in-place stores, a pop
    /// then push into the popped slot, a deferred free made stale at once;
    /// the rollback gives every value and the accounts back.
    #[test]
    fn a_transaction_rolled_back_gives_everything_back() {
        let seg = segment();
        let mut turn = seg.turn().unwrap();
        let h = turn.put_message(&value!([1, "two", [3], 4.5])).unwrap();
        turn.take_message().unwrap();
        let other = turn.put_message(&value!({"k": "v"})).unwrap();
        turn.take_message().unwrap();
        let before = turn.get(h).unwrap().to_value().unwrap();
        let stats = turn.stats();
        turn.begin_transaction().unwrap();
        assert!(turn.heap().in_transaction());
        {
            let mut l = turn.list_mut(h).unwrap();
            *l.int_mut(0).unwrap() += 41;
            *l.int_mut(0).unwrap() += 1;
            *l.float_mut(3).unwrap() = -1.0;
            l.pop().unwrap();
            l.push("into the popped slot").unwrap();
            l.insert(0, value!([7, 8])).unwrap();
            l.set(2, 9).unwrap();
        }
        turn.free(other).unwrap();
        assert!(turn.get(other).is_err(), "stale for the rest of the turn");
        assert_eq!(turn.validate().unwrap().orphans, 0);
        turn.rollback().unwrap();
        assert!(turn.heap().in_transaction());
        assert_eq!(turn.get(h).unwrap().to_value().unwrap(), before);
        assert_eq!(
            turn.get(other).unwrap().to_value().unwrap(),
            value!({"k": "v"})
        );
        let after = turn.stats();
        assert_eq!(
            (after.used, after.blocks, after.free),
            (stats.used, stats.blocks, stats.free)
        );
        turn.commit_transaction().unwrap();
        assert!(!turn.heap().in_transaction());
        turn.validate().unwrap();
    }

    #[test]
    fn rebuild_merges_parked_and_free_blocks_and_lowers_top() {
        let seg = segment();
        let mut turn = seg.turn().unwrap();
        let keep = turn.put_message(&Value::from("keep")).unwrap();
        let mut gone = Vec::new();
        for i in 0..if cfg!(miri) { 12 } else { 50 } {
            gone.push(turn.put_message(&Value::from("x".repeat(i * 40))).unwrap());
        }
        let last = turn.put_message(&value!([1, 2, 3])).unwrap();
        for _ in 0..=gone.len() {
            let h = turn.take_message().unwrap().unwrap();
            if h != keep {
                turn.free(h).unwrap();
            }
        }
        // Small freed blocks sit in fast bins, large ones in the bins.
        assert!(turn.stats().free_in_bins > 0);
        let (used, high) = (turn.stats().used, turn.stats().high_water);
        let r = turn.recover_data().unwrap();
        assert_eq!(r.blocks_reclaimed, 0);
        assert_eq!(turn.stats().used, used);
        assert_eq!(turn.message_count(), 1);
        assert_eq!(turn.read_message().unwrap(), Some(last));
        assert_eq!(
            turn.get(keep).unwrap().to_value().unwrap(),
            Value::from("keep")
        );
        // Free neighbours merged (the validation refuses two adjacent free
        // blocks), and a free tail went below top.
        turn.validate().unwrap();
        assert!(turn.stats().high_water <= high);
        for h in gone.iter().skip(1) {
            assert!(turn.get(*h).is_err(), "a freed handle must stay stale");
        }
        turn.free(keep).unwrap();
        turn.validate().unwrap();
    }
}
