//! The root namespace on in-memory segments (they run under Miri, so the
//! segments are small): lazy creation, reopening by handle and from an
//! image, the refusals, the validator's checks of the header word, and
//! every crash point of its creation and of an insert into it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::__test::{InjectedCrash, panic_after};
use crate::alloc::{QUEUED, ROOT};
use crate::segment::Word;
use crate::{Error, Segment, Turn, Value, value};

fn segment() -> Segment {
    let size = if cfg!(miri) { 64 << 10 } else { 256 << 10 };
    crate::test_segment(size)
}

/// The root namespace's contents, or `None` if it does not exist.
fn root_value(turn: &Turn<'_>) -> Option<Value> {
    turn.root_ref()
        .unwrap()
        .map(|d| crate::ValueRef::Dict(d).to_value().unwrap())
}

#[test]
fn created_on_first_use_and_found_again_by_handle_and_from_an_image() {
    let seg = segment();
    let mut turn = seg.turn().unwrap();
    let empty = turn.stats();
    assert!(turn.root_ref().unwrap().is_none());
    assert_eq!(turn.validate().unwrap().roots, 0);
    {
        let mut r = turn.root().unwrap();
        assert!(r.is_empty());
        r.insert("model", value!([1, 2])).unwrap();
        r.insert(7, value!({"k": (1, "t")})).unwrap();
    }
    // One root more, nothing in the queue.
    let report = turn.validate().unwrap();
    assert_eq!((report.roots, report.messages, report.orphans), (1, 0, 0));
    assert!(turn.stats().blocks > empty.blocks);
    // The same dict every time; its handle works like any dict's.
    let h = turn.root().unwrap().handle().unwrap();
    assert_eq!(turn.root().unwrap().handle().unwrap(), h);
    assert_eq!(turn.root_ref().unwrap().unwrap().handle(), Some(h));
    turn.dict_mut(h)
        .unwrap()
        .insert("via handle", true)
        .unwrap();
    turn.root()
        .unwrap()
        .list_mut(&"model".into())
        .unwrap()
        .push(3)
        .unwrap();
    let want = value!({"model": [1, 2, 3], 7: {"k": (1, "t")}, "via handle": true});
    assert_eq!(turn.get(h).unwrap().to_value().unwrap(), want);
    assert_eq!(root_value(&turn), Some(want.clone()));
    // Another "process": a copy of the segment finds it by itself.
    let image = seg.image(&turn);
    drop(turn);
    let other = Segment::from_image(&image).unwrap();
    let mut t2 = other.turn().unwrap();
    t2.validate().unwrap();
    assert_eq!(root_value(&t2), Some(want));
    assert_eq!(t2.root().unwrap().handle().unwrap(), h);
    t2.root().unwrap().clear().unwrap();
    assert_eq!(t2.root().unwrap().len(), 0);
    t2.validate().unwrap();
}

#[test]
fn free_and_put_handle_refuse_the_root() {
    let seg = segment();
    let mut turn = seg.turn().unwrap();
    let h = {
        let mut r = turn.root().unwrap();
        r.insert("a", 1).unwrap();
        r.handle().unwrap()
    };
    for r in [turn.free(h), turn.put_handle(h)] {
        assert!(
            matches!(
                r,
                Err(Error::NotOwned {
                    owner: "the root namespace",
                    ..
                })
            ),
            "{r:?}"
        );
    }
    // Nothing changed: still the root, not queued, intact.
    assert_eq!(turn.message_count(), 0);
    assert_eq!(root_value(&turn), Some(value!({"a": 1})));
    assert_eq!(turn.validate().unwrap().roots, 1);
    // A taken message is still freed and requeued as before.
    let m = turn.put_message(&value!([1])).unwrap();
    turn.take_message().unwrap();
    turn.put_handle(m).unwrap();
    turn.take_message().unwrap();
    turn.free(m).unwrap();
    turn.validate().unwrap();
}

#[test]
fn out_of_memory_creating_the_root_changes_nothing() {
    let seg = segment();
    let mut turn = seg.turn().unwrap();
    // Fill the heap with blocks nothing owns, smaller and smaller, until
    // not even the smallest block fits.
    let heap = turn.heap();
    let mut filler = Vec::new();
    for p in [16 << 10, 4096, 1024, 256, 64, 16] {
        while let Ok(b) = heap.alloc(p, crate::format::T_BYTES) {
            filler.push(b);
        }
    }
    let before = turn.stats();
    assert!(matches!(turn.root(), Err(Error::OutOfMemory { .. })));
    assert_eq!(turn.stats(), before);
    assert!(turn.root_ref().unwrap().is_none());
    // With room again, it is created.
    for b in filler {
        heap.free(b).unwrap();
    }
    turn.validate().unwrap();
    turn.root().unwrap().insert(1, 2).unwrap();
    assert_eq!(root_value(&turn), Some(value!({1: 2})));
    turn.validate().unwrap();
}

#[test]
fn the_validator_checks_the_header_word() {
    let seg = segment();
    let mut turn = seg.turn().unwrap();
    let b = turn.root().unwrap().handle().unwrap().offset;
    let list = turn.put_message(&value!([1])).unwrap().offset;
    turn.take_message().unwrap();
    let queued = turn.put_message(&Value::dict()).unwrap().offset;
    turn.validate().unwrap();
    let word = turn.root_word();
    for (what, at, want) in [
        ("garbage", 12345, "not an allocated block"),
        ("the header", 16, "not an allocated block"),
        ("a list", list.get(), "not a dict"),
        ("a queued dict", queued.get(), "in the message queue"),
    ] {
        word.set(at);
        let e = turn.validate().unwrap_err();
        assert!(e.to_string().contains(want), "{what}: {e}");
        assert!(
            turn.root_ref().is_err() || what == "a queued dict",
            "{what}"
        );
    }
    word.set(b.get());
    // The dict it names must carry ROOT (recovery restores it: the word
    // is the truth).
    turn.heap().set_flags(b, 0, ROOT).unwrap();
    let e = turn.validate().unwrap_err();
    assert!(e.to_string().contains("not flagged ROOT"), "{e}");
    let r = turn.recover_data().unwrap();
    assert_eq!(r.blocks_reclaimed, 0);
    // The root namespace, the taken list and the queued dict.
    assert_eq!(r.report.roots, 3);
    let (_, flags, _) = turn.heap().live(b).unwrap();
    assert_eq!(flags & (ROOT | QUEUED), ROOT);
    turn.validate().unwrap();
}

/// Creating the root cut off at each of its crash points (a panic standing
/// in for a death; the turn's drop recovers as a survivor would): either
/// no root, or an empty valid one, and no orphan either way.
#[test]
fn root_creation_cut_at_each_crash_point() {
    let (mut cut, mut cut_after_publishing) = (0, 0);
    for k in 1..=20 {
        let seg = segment();
        let blocks = seg.turn().unwrap().stats().blocks;
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut turn = seg.turn().unwrap();
            panic_after(k);
            let r = turn.root().map(drop);
            panic_after(0);
            r
        }));
        panic_after(0);
        let mut turn = seg.turn().unwrap();
        let report = turn.validate().unwrap();
        assert_eq!(report.orphans, 0, "crash point {k}");
        let seen = root_value(&turn);
        assert!(
            seen.is_none() || seen == Some(Value::dict()),
            "crash point {k}: {seen:?}"
        );
        assert_eq!(report.roots, seen.is_some() as u64, "crash point {k}");
        let published = seen.is_some();
        // Either way the root works now.
        turn.root().unwrap().insert("after", k as i64).unwrap();
        turn.validate().unwrap();
        match r {
            Ok(r) => {
                r.unwrap();
                assert!(k > 1, "creation has crash points");
                // The last cut fell between the word's store and the flag:
                // recovery flagged the named dict.
                assert_eq!(cut_after_publishing, 1, "{cut} cuts");
                assert!(turn.stats().blocks > blocks);
                return;
            }
            Err(p) => {
                assert!(p.is::<InjectedCrash>());
                cut += 1;
                cut_after_publishing += published as u32;
            }
        }
    }
    panic!("creation was still cut off after {cut} crash points");
}

/// Inserting into (and removing from) the root cut off at each crash
/// point: the root is as before the operation or as after it (the same
/// operation on a copy), with no orphan.
#[test]
fn an_insert_into_the_root_cut_at_each_crash_point() {
    type Op = fn(&mut crate::DictMut<'_>, u64) -> Result<(), Error>;
    let ops: [(&str, Op); 3] = [
        ("new key", |d, k| {
            d.insert(format!("key {k}"), value!([k as i64, "v"]))
                .map(drop)
        }),
        ("present key", |d, k| {
            d.insert("fixed", value!({"n": k as i64})).map(drop)
        }),
        ("remove", |d, _| d.pop_item().map(drop)),
    ];
    let seg = segment();
    seg.turn()
        .unwrap()
        .root()
        .unwrap()
        .update([("fixed", 0), ("other", 1)])
        .unwrap();
    let n = if cfg!(miri) { 3 } else { 40 };
    for (what, op) in ops {
        for k in 1..=n {
            let before = root_value(&seg.turn().unwrap()).unwrap();
            let r = catch_unwind(AssertUnwindSafe(|| {
                let mut turn = seg.turn().unwrap();
                let mut root = turn.root().unwrap();
                panic_after(k);
                let r = op(&mut root, k);
                panic_after(0);
                r
            }));
            panic_after(0);
            let mut turn = seg.turn().unwrap();
            let seen = root_value(&turn).unwrap();
            // The expected result: the same operation on a copy.
            let copy = turn.put_message(&before).unwrap();
            turn.take_message().unwrap();
            op(&mut turn.dict_mut(copy).unwrap(), k).unwrap();
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
            let report = turn.validate().unwrap();
            assert_eq!((report.orphans, report.roots), (0, 1), "{what} at {k}");
            if seen == Value::dict() {
                turn.root().unwrap().insert("refill", 1).unwrap();
            }
        }
    }
}
