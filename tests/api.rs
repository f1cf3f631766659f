//! In-process tests of the public API's error contract: out of memory,
//! stale handles, ownership, type and index errors, names and sizes.

mod common;

use std::time::Duration;

use common::{Watchdog, unique_name};
use shmheap::{Error, Handle, Segment, Turn, Value, value};

fn mem_segment(size: u64) -> Segment {
    Segment::options().size(size).create_in_memory().unwrap()
}

/// A message of a few blocks: a list holding a str, a tuple and a dict.
fn message(i: i64) -> Value {
    Value::List(vec![
        Value::Str(format!("message {i} {}", "x".repeat((i % 40) as usize))),
        Value::Int(i),
        value!((i, "t", 2.5)),
        Value::Dict(vec![(Value::Int(i), Value::from("v"))]),
    ])
}

/// Puts `v` as a message and takes it at once (a root the caller owns; the
/// queue's ring does not grow).
fn put_owned(turn: &mut Turn<'_>, v: &Value) -> Result<Handle, Error> {
    let h = turn.put_message(v)?;
    assert_eq!(turn.take_message().unwrap(), Some(h));
    Ok(h)
}

/// What a failed operation must leave as it was: bytes and blocks in use
/// and bytes free. (Where the free bytes lie may change: a failing
/// allocation first returns parked small blocks to the coalescing bins.)
fn accounts_of(s: shmheap::Stats) -> (u64, u64, u64) {
    (s.used, s.blocks, s.free)
}

fn accounts(turn: &Turn<'_>) -> (u64, u64, u64) {
    accounts_of(turn.stats())
}

#[test]
fn out_of_memory_leaves_existing_data_intact() {
    let _wd = Watchdog::test("oom");
    for size in [64 << 10, 256 << 10, 1 << 20] {
        let seg = mem_segment(size);
        let mut turn = seg.turn().unwrap();
        // Allocate the queue's ring first: it stays.
        let h = put_owned(&mut turn, &Value::Int(0)).unwrap();
        turn.free(h).unwrap();
        let base = turn.stats();
        let mut kept: Vec<(Handle, Value)> = Vec::new();
        let err = loop {
            let v = message(kept.len() as i64);
            let before = turn.stats();
            match put_owned(&mut turn, &v) {
                Ok(h) => kept.push((h, v)),
                Err(e) => {
                    assert_eq!(
                        accounts(&turn),
                        accounts_of(before),
                        "a failed put changed the heap"
                    );
                    break e;
                }
            }
            assert!(kept.len() < 100_000, "never ran out of memory");
        };
        assert!(matches!(err, Error::OutOfMemory { .. }), "{err:?}");
        assert!(
            kept.len() > 10,
            "only {} messages fit in {size}",
            kept.len()
        );
        let report = turn.validate().unwrap();
        assert_eq!(report.roots, kept.len() as u64);
        assert_eq!(report.orphans, 0);
        for (h, v) in &kept {
            assert_eq!(&turn.get(*h).unwrap().to_value().unwrap(), v);
        }

        // Free every other message (fragmenting the heap), then a value too
        // large for any hole, with many parts: nothing of it stays.
        for (h, _) in kept.iter().step_by(2) {
            turn.free(*h).unwrap();
        }
        let big = Value::List((0..2000).map(|i| Value::Str(format!("{i:0100}"))).collect());
        let before = turn.stats();
        let r = turn.put_message(&big);
        assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
        assert_eq!(
            accounts(&turn),
            accounts_of(before),
            "a failed big put changed the heap"
        );
        turn.validate().unwrap();

        // A list grown in place until out of memory keeps its items.
        let (lh, lv) = kept[1].clone();
        let Value::List(mut items) = lv else { panic!() };
        let e = loop {
            let mut list = turn.list_mut(lh).unwrap();
            let item = Value::Str(format!("pushed {}", items.len()));
            match list.push(item.clone()) {
                Ok(()) => items.push(item),
                Err(e) => break e,
            }
        };
        assert!(matches!(e, Error::OutOfMemory { .. }), "{e:?}");
        assert_eq!(
            turn.get(lh).unwrap().to_value().unwrap(),
            Value::List(items)
        );
        turn.validate().unwrap();
        for (h, v) in kept.iter().skip(3).step_by(2) {
            assert_eq!(&turn.get(*h).unwrap().to_value().unwrap(), v);
        }

        for (h, _) in kept.iter().skip(1).step_by(2) {
            turn.free(*h).unwrap();
        }
        let after = turn.stats();
        assert_eq!(
            after.used, base.used,
            "size {size}: memory not all returned"
        );
        assert_eq!(after.blocks, base.blocks);
        let report = turn.validate().unwrap();
        assert_eq!(report.roots, 0);
    }
}

#[test]
fn out_of_memory_with_queued_messages() {
    let _wd = Watchdog::test("oom-queued");
    let seg = mem_segment(128 << 10);
    let mut turn = seg.turn().unwrap();
    let base = turn.stats();
    let mut put = Vec::new();
    loop {
        let v = message(put.len() as i64);
        let before = turn.stats();
        match turn.put_message(&v) {
            Ok(_) => put.push(v),
            Err(e) => {
                assert!(matches!(e, Error::OutOfMemory { .. }), "{e:?}");
                assert_eq!(accounts(&turn), accounts_of(before));
                break;
            }
        }
    }
    assert_eq!(turn.message_count(), put.len());
    turn.validate().unwrap();
    for v in &put {
        let h = turn.take_message().unwrap().expect("message");
        assert_eq!(&turn.get(h).unwrap().to_value().unwrap(), v);
        turn.free(h).unwrap();
    }
    assert!(!turn.has_messages().unwrap());
    // Only the (grown) ring is left.
    assert_eq!(turn.stats().blocks, 1);
    assert!(turn.stats().used > base.used);
    turn.validate().unwrap();
}

#[test]
fn stale_handle_after_free_and_reuse() {
    let _wd = Watchdog::test("stale");
    let seg = mem_segment(1 << 20);
    let mut turn = seg.turn().unwrap();
    let v = value!(["a", 1]);
    let old = put_owned(&mut turn, &v).unwrap();
    turn.free(old).unwrap();
    let stale = |r: Result<(), Error>, what: &str| {
        assert!(
            matches!(r, Err(Error::StaleHandle { offset, generation })
                if offset == old.offset() && generation == old.generation()),
            "{what}: {r:?}"
        );
    };
    stale(turn.get(old).map(|_| ()), "get after free");
    stale(turn.list_mut(old).map(|_| ()), "list_mut after free");
    stale(turn.free(old), "double free");
    stale(turn.put_handle(old), "put_handle after free");
    // Allocate until the block is reused by a new object.
    let mut news = Vec::new();
    let reused = loop {
        let h = put_owned(&mut turn, &v).unwrap();
        news.push(h);
        if h.offset() == old.offset() {
            break h;
        }
        assert!(news.len() < 1000, "the freed block was never reused");
    };
    assert_ne!(reused.generation(), old.generation());
    stale(turn.get(old).map(|_| ()), "get after reuse");
    stale(turn.list_mut(old).map(|_| ()), "list_mut after reuse");
    stale(turn.free(old), "free after reuse");
    assert_eq!(turn.get(reused).unwrap().to_value().unwrap(), v);
    // Forged handles are refused too, never read as garbage.
    for (off, generation) in [
        (0, 0),
        (1, 1),
        (16, 1),
        (reused.offset() + 16, reused.generation()),
        (reused.offset() + 8, reused.generation()),
        (u64::MAX - 15, 1),
        (seg.size(), 1),
    ] {
        let r = turn.get(Handle::from_raw(off, generation));
        assert!(
            matches!(r, Err(Error::StaleHandle { .. })),
            "forged handle ({off}, {generation}): {r:?}"
        );
    }
    assert_eq!(
        Handle::from_raw(reused.offset(), reused.generation()),
        reused
    );
    assert_eq!(reused.to_raw(), (reused.offset(), reused.generation()));
}

#[test]
fn queued_message_is_not_owned() {
    let _wd = Watchdog::test("not-owned");
    let seg = mem_segment(1 << 20);
    let mut turn = seg.turn().unwrap();
    let h = turn.put_message(&value!([1, 2])).unwrap();
    let r = turn.free(h);
    assert!(
        matches!(r, Err(Error::NotOwned { .. })),
        "free queued: {r:?}"
    );
    let r = turn.put_handle(h);
    assert!(
        matches!(r, Err(Error::NotOwned { .. })),
        "enqueue twice: {r:?}"
    );
    assert_eq!(turn.message_count(), 1);
    turn.validate().unwrap();
    // Taken, it is ours: it can go back into the queue, or be freed.
    assert_eq!(turn.take_message().unwrap(), Some(h));
    turn.put_handle(h).unwrap();
    assert_eq!(turn.read_message().unwrap(), Some(h));
    assert_eq!(turn.take_message().unwrap(), Some(h));
    turn.free(h).unwrap();
    turn.validate().unwrap();
}

#[test]
fn type_mismatch_and_index_out_of_range() {
    let _wd = Watchdog::test("types");
    let seg = mem_segment(1 << 20);
    let mut turn = seg.turn().unwrap();
    let s = put_owned(&mut turn, &Value::from("text")).unwrap();
    let n = put_owned(&mut turn, &Value::Int(5)).unwrap();
    let t = put_owned(&mut turn, &value!((1, 2))).unwrap();
    let l = put_owned(&mut turn, &value!(["a", 1, 2.5])).unwrap();
    for h in [s, n, t] {
        let r = turn.list_mut(h).map(|_| ());
        assert!(
            matches!(
                r,
                Err(Error::TypeMismatch {
                    expected: "list",
                    ..
                })
            ),
            "list_mut: {r:?}"
        );
    }
    assert_eq!(turn.get(n).unwrap().as_int().unwrap(), 5);
    assert!(matches!(
        turn.get(s).unwrap().as_int(),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        turn.get(s).unwrap().as_list(),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        turn.get(t).unwrap().as_tuple().unwrap().get(2),
        Err(Error::IndexOutOfRange { index: 2, len: 2 })
    ));
    assert!(matches!(
        turn.get(l).unwrap().as_list().unwrap().get(3),
        Err(Error::IndexOutOfRange { index: 3, len: 3 })
    ));
    let mut list = turn.list_mut(l).unwrap();
    assert!(matches!(
        list.int_mut(0),
        Err(Error::TypeMismatch {
            expected: "int",
            found: "str"
        })
    ));
    assert!(matches!(list.float_mut(1), Err(Error::TypeMismatch { .. })));
    assert!(matches!(
        list.int_mut(3),
        Err(Error::IndexOutOfRange { index: 3, len: 3 })
    ));
    assert!(matches!(
        list.set(7, 1),
        Err(Error::IndexOutOfRange { index: 7, len: 3 })
    ));
    assert!(matches!(
        list.get(usize::MAX),
        Err(Error::IndexOutOfRange { .. })
    ));
    *list.float_mut(2).unwrap() += 1.0;
    assert_eq!(list.to_value().unwrap(), value!(["a", 1, 3.5]));
    turn.validate().unwrap();
}

#[test]
fn names_and_sizes() {
    let _wd = Watchdog::test("names");
    let name = unique_name("names");
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let r = Segment::create(&name, 1 << 20);
    assert!(
        matches!(&r, Err(Error::NameTaken { name: n }) if *n == name),
        "{r:?}"
    );
    // The failed create did not remove the first one's name.
    Segment::attach(&name).unwrap();
    drop(seg);
    let r = Segment::attach(&name);
    assert!(
        matches!(r, Err(Error::NotFound { .. })),
        "after the creator dropped: {r:?}"
    );
    let missing = unique_name("missing");
    let r = Segment::attach(&missing);
    assert!(
        matches!(&r, Err(Error::NotFound { name: n }) if *n == missing),
        "{r:?}"
    );
    let long = "n".repeat(300);
    for bad in [
        "a/b",
        "/lead",
        "..",
        ".",
        "",
        "a\0b",
        "x/../y",
        long.as_str(),
    ] {
        let r = Segment::create(bad, 1 << 20);
        assert!(
            matches!(r, Err(Error::InvalidName { .. })),
            "create {bad:?}: {r:?}"
        );
        let r = Segment::attach(bad);
        assert!(
            matches!(r, Err(Error::InvalidName { .. })),
            "attach {bad:?}: {r:?}"
        );
    }
    let r = Segment::create(&unique_name("tiny"), 1000);
    assert!(matches!(r, Err(Error::InvalidSize { .. })), "{r:?}");
    let r = Segment::options()
        .max_processes(0)
        .create(&unique_name("noproc"));
    assert!(matches!(r, Err(Error::InvalidSize { .. })), "{r:?}");
    let r = Segment::options()
        .max_processes(10_000)
        .create(&unique_name("manyproc"));
    assert!(matches!(r, Err(Error::InvalidSize { .. })), "{r:?}");
}

/// Two `Segment`s of one name in one process take turns like two
/// processes.
#[test]
fn try_turn_and_timeout_in_process() {
    let _wd = Watchdog::test("try-turn");
    let name = unique_name("try-turn");
    let a = Segment::create(&name, 1 << 20).unwrap();
    let b = Segment::attach(&name).unwrap();
    let ta = a.try_turn().unwrap().expect("a free turn");
    assert_eq!(ta.waiters(), 0);
    assert!(b.try_turn().unwrap().is_none());
    let r = b.turn_timeout(Duration::from_millis(20));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    drop(ta);
    let mut tb = b.try_turn().unwrap().expect("free again");
    tb.put_message(&Value::from("from b")).unwrap();
    drop(tb);
    let mut ta = a.turn_timeout(Duration::from_secs(5)).unwrap();
    let h = ta.take_message().unwrap().unwrap();
    assert_eq!(ta.get(h).unwrap().as_str().unwrap(), "from b");
    ta.free(h).unwrap();
}

/// Segments are created 0600 (or the mode asked for), exclusively; a
/// header that claims another size than the object has is refused.
#[test]
fn mode_and_a_header_that_lies_about_its_size() {
    use std::os::unix::fs::PermissionsExt;
    let _wd = Watchdog::test("mode");
    let name = unique_name("mode");
    let seg = Segment::create(&name, 1 << 20).unwrap();
    let mode = |n: &str| {
        std::fs::metadata(common::shm_path(n))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&name), 0o600);
    let other = unique_name("mode-640");
    let _seg2 = Segment::options()
        .size(1 << 20)
        .mode(0o640)
        .create(&other)
        .unwrap();
    // (the process umask may only take bits away)
    assert_eq!(mode(&other) & !0o640, 0);
    // The header's size word (offset 16) says half of what is mapped.
    common::poke(&name, 16, &(512u64 << 10).to_le_bytes());
    let r = Segment::attach(&name);
    assert!(
        matches!(&r, Err(Error::Corrupt { what, .. }) if what.contains("header says")),
        "{r:?}"
    );
    // ...and twice as much: the object is truncated.
    common::poke(&name, 16, &(2u64 << 20).to_le_bytes());
    let r = Segment::attach(&name);
    assert!(
        matches!(
            r,
            Err(Error::Truncated {
                claimed: 2097152,
                actual: 1048576
            })
        ),
        "{r:?}"
    );
    drop(seg);
}
