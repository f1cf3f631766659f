//! Transactional turns in one process: commit, rollback (explicit, by drop,
//! by panic) of every kind of change, deferred frees, out of memory, and a
//! proptest of random transactions rolled back. (Deaths are in
//! tests/crash.rs; the transfer across processes is at the end here.)

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::{Peer, Rng, Watchdog};
use proptest::prelude::*;
use shmheap::{Array, Error, Handle, Segment, Stats, Turn, Value, value};

fn mem_segment(size: u64) -> Segment {
    Segment::options().size(size).create_in_memory().unwrap()
}

/// Everything reachable: the root namespace and every queued message, as
/// values, plus the given owned roots (None where a handle is stale).
fn snapshot(turn: &Turn<'_>, owned: &[Handle]) -> (Value, Vec<Value>, Vec<Option<Value>>) {
    let root = match turn.root_ref().unwrap() {
        Some(d) => d.to_value().unwrap(),
        None => Value::None,
    };
    let mut queue = Vec::new();
    let mut i = 0;
    while let Some(h) = turn.peek_message(i).unwrap() {
        queue.push(turn.get(h).unwrap().to_value().unwrap());
        i += 1;
    }
    let owned = owned
        .iter()
        .map(|&h| turn.get(h).ok().map(|v| v.to_value().unwrap()))
        .collect();
    (root, queue, owned)
}

/// What a rollback must give back exactly: bytes and blocks in use and
/// bytes free.
fn accounts(s: Stats) -> (u64, u64, u64, u64) {
    (s.size, s.used, s.blocks, s.free)
}

fn initial() -> Value {
    value!({
        "a": 100,
        "b": 0,
        "f": 1.5,
        "ok": false,
        "list": [1, "two", [3, 4], {"five": 5}],
        "dict": {"x": 1, "y": [1, 2, 3]},
        "set": Value::Set(vec![Value::Int(1), Value::Int(2)]),
        "bytes": Value::ByteArray(b"hello".to_vec()),
        "arr": Value::Array(Array::new::<f64>(&[4], &[1.0, 2.0, 3.0, 4.0]).unwrap()),
    })
}

/// A segment with `initial()` in its root namespace, one message queued and
/// one taken (owned); returns the owned handle.
fn setup(seg: &Segment) -> Handle {
    let mut t = seg.turn().unwrap();
    let Value::Dict(entries) = initial() else {
        unreachable!()
    };
    t.root().unwrap().update(entries).unwrap();
    t.put_message(&value!(["queued", 1])).unwrap();
    let h = t.put_message(&value!(["owned", [1, 2, 3]])).unwrap();
    let first = t.take_message().unwrap().unwrap();
    // The queue keeps the second; the first is owned.
    t.put_message(&Value::from("second")).unwrap();
    assert_ne!(first, h);
    first
}

/// Every kind of change, in one turn.
fn change_everything(t: &mut Turn<'_>, owned: Handle) -> Result<(), Error> {
    {
        let mut r = t.root()?;
        *r.int_mut(&"a".into())? -= 30;
        *r.int_mut(&"b".into())? += 30;
        *r.float_mut(&"f".into())? *= 4.0;
        *r.bool_mut(&"ok".into())? = true;
        r.insert("new", value!([1, 2, {"deep": "yes"}]))?;
        r.remove(&"dict".into())?;
        {
            let mut l = r.list_mut(&"list".into())?;
            l.pop()?;
            l.pop()?;
            // Into the slots just popped (past the committed length).
            l.push("pushed")?;
            l.push(7)?;
            *l.int_mut(3)? += 1;
            l.insert(0, "front")?;
            l.set(1, 99)?;
            l.remove(2)?;
            l.reverse()?;
            for i in 0..100 {
                l.push(format!("many {i}"))?;
            }
            // The bulk path, into slots just truncated away.
            l.truncate(l.len() - 3)?;
            l.extend_from_slice(&[1i64, 2, 3, 4])?;
        }
        {
            let mut s = r.set_mut(&"set".into())?;
            s.insert(3)?;
            s.remove(&Value::Int(1))?;
        }
        {
            let mut b = r.bytes_mut(&"bytes".into())?;
            b.as_mut_slice()?[0] = b'J';
            b.truncate(2)?;
            b.extend_from_slice(b"LLO world")?;
        }
        {
            let mut a = r.array_mut::<f64>(&"arr".into())?;
            a[0] = -1.0;
            a[3] = 40.0;
        }
        for i in 0..50 {
            r.insert(i, format!("key {i}"))?;
        }
    }
    t.list_mut(owned)?.push("more")?;
    t.put_message(&value!({"new message": [1, 2]}))?;
    t.put_message_from_slice(&[1.5, -2.5])?;
    let taken = t.take_message()?.expect("a queued message");
    t.free(taken)?;
    let taken = t.take_message()?.expect("a second message");
    t.free(taken)?;
    t.free(owned)?;
    Ok(())
}

#[test]
fn commit_keeps_every_change() {
    let seg = mem_segment(4 << 20);
    let owned = setup(&seg);
    // The same changes in a plain turn: the expected result.
    let want = {
        let plain = mem_segment(4 << 20);
        let o = setup(&plain);
        let mut t = plain.turn().unwrap();
        change_everything(&mut t, o).unwrap();
        snapshot(&t, &[]).0
    };
    let mut t = seg.transaction().unwrap();
    assert!(t.is_transaction());
    change_everything(&mut t, owned).unwrap();
    t.commit().unwrap();
    let t = seg.turn().unwrap();
    assert!(!t.is_transaction());
    assert_eq!(snapshot(&t, &[]).0, want);
    assert!(t.get(owned).is_err(), "freed in the committed transaction");
    let r = t.validate().unwrap();
    assert_eq!(r.orphans, 0, "{r:?}");
}

#[test]
fn rollback_undoes_every_change_and_keeps_the_turn() {
    let seg = mem_segment(4 << 20);
    let owned = setup(&seg);
    let (before, stats) = {
        let t = seg.turn().unwrap();
        (snapshot(&t, &[owned]), t.stats())
    };
    let mut t = seg.transaction().unwrap();
    change_everything(&mut t, owned).unwrap();
    assert_ne!(snapshot(&t, &[owned]), before);
    t.rollback().unwrap();
    assert!(t.is_transaction(), "the turn stays a transaction");
    assert_eq!(snapshot(&t, &[owned]), before);
    assert_eq!(accounts(t.stats()), accounts(stats));
    assert_eq!(t.validate().unwrap().orphans, 0);
    // The turn goes on: a change after the rollback commits.
    *t.root().unwrap().int_mut(&"b".into()).unwrap() = 5;
    t.commit().unwrap();
    let t = seg.turn().unwrap();
    let r = t.root_ref().unwrap().unwrap();
    assert_eq!(r.get(&"b".into()).unwrap().unwrap().as_int().unwrap(), 5);
    assert_eq!(r.get(&"a".into()).unwrap().unwrap().as_int().unwrap(), 100);
}

#[test]
fn drop_without_commit_rolls_back() {
    let seg = mem_segment(4 << 20);
    let owned = setup(&seg);
    let (before, stats) = {
        let t = seg.turn().unwrap();
        (snapshot(&t, &[owned]), t.stats())
    };
    // An early `?` return.
    fn transfer(seg: &Segment, owned: Handle) -> Result<(), Error> {
        let mut t = seg.transaction()?;
        change_everything(&mut t, owned)?;
        t.root()?.list_mut(&"no such key".into())?;
        t.commit()
    }
    assert!(matches!(
        transfer(&seg, owned),
        Err(Error::KeyNotFound { .. }) | Err(_)
    ));
    let t = seg.turn().unwrap();
    assert!(!t.is_transaction());
    assert_eq!(snapshot(&t, &[owned]), before);
    assert_eq!(accounts(t.stats()), accounts(stats));
    assert_eq!(t.validate().unwrap().orphans, 0);
}

#[test]
fn a_panic_rolls_back() {
    let seg = mem_segment(4 << 20);
    let owned = setup(&seg);
    let (before, stats) = {
        let t = seg.turn().unwrap();
        (snapshot(&t, &[owned]), t.stats())
    };
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut t = seg.transaction().unwrap();
        change_everything(&mut t, owned).unwrap();
        panic!("in the middle of the turn");
    }));
    assert!(r.is_err());
    let t = seg.turn().unwrap();
    assert_eq!(snapshot(&t, &[owned]), before);
    assert_eq!(accounts(t.stats()), accounts(stats));
    assert_eq!(t.validate().unwrap().orphans, 0);
}

#[test]
fn plain_turns_are_not_transactions() {
    let seg = mem_segment(1 << 20);
    setup(&seg);
    let mut t = seg.turn().unwrap();
    assert!(!t.is_transaction());
    *t.root().unwrap().int_mut(&"a".into()).unwrap() = 1;
    // (`rollback` on a plain turn does nothing; `commit` hands it on.)
    t.rollback().unwrap();
    t.commit().unwrap();
    let t = seg.turn().unwrap();
    let r = t.root_ref().unwrap().unwrap();
    assert_eq!(r.get(&"a".into()).unwrap().unwrap().as_int().unwrap(), 1);
}

#[test]
fn try_and_timeout_variants_are_transactions() {
    let seg = mem_segment(1 << 20);
    setup(&seg);
    {
        let mut t = seg.try_transaction().unwrap().expect("the turn is free");
        assert!(t.is_transaction());
        *t.root().unwrap().int_mut(&"a".into()).unwrap() = 1;
    }
    {
        let mut t = seg.transaction_timeout(Duration::from_secs(5)).unwrap();
        assert!(t.is_transaction());
        assert_eq!(
            t.root()
                .unwrap()
                .get(&"a".into())
                .unwrap()
                .unwrap()
                .as_int()
                .unwrap(),
            100
        );
        *t.root().unwrap().int_mut(&"a".into()).unwrap() = 2;
        t.commit().unwrap();
    }
    let t = seg.turn().unwrap();
    let r = t.root_ref().unwrap().unwrap();
    assert_eq!(r.get(&"a".into()).unwrap().unwrap().as_int().unwrap(), 2);
}

#[test]
fn frees_wait_for_the_commit_and_a_rolled_back_free_is_valid_again() {
    let seg = mem_segment(1 << 20);
    let owned = setup(&seg);
    let before = seg.turn().unwrap().get(owned).unwrap().to_value().unwrap();
    let used = seg.turn().unwrap().stats().used;
    let mut t = seg.transaction().unwrap();
    t.free(owned).unwrap();
    // Stale for the rest of the transaction already...
    assert!(matches!(t.get(owned), Err(Error::StaleHandle { .. })));
    assert!(matches!(t.free(owned), Err(Error::StaleHandle { .. })));
    // ...its memory not given back yet, and not an orphan.
    assert_eq!(t.stats().used, used);
    let r = t.validate().unwrap();
    assert_eq!(r.orphans, 0, "{r:?}");
    t.rollback().unwrap();
    assert_eq!(t.get(owned).unwrap().to_value().unwrap(), before);
    t.free(owned).unwrap();
    t.commit().unwrap();
    let t = seg.turn().unwrap();
    assert!(t.get(owned).is_err());
    assert!(t.stats().used < used);
    assert_eq!(t.validate().unwrap().orphans, 0);
}

#[test]
fn a_root_namespace_created_in_a_rolled_back_transaction_is_gone() {
    let seg = mem_segment(1 << 20);
    let stats = seg.turn().unwrap().stats();
    {
        let mut t = seg.transaction().unwrap();
        t.root().unwrap().insert("k", 1).unwrap();
    }
    let t = seg.turn().unwrap();
    assert!(t.root_ref().unwrap().is_none());
    assert_eq!(
        (t.stats().used, t.stats().blocks),
        (stats.used, stats.blocks)
    );
}

#[test]
fn repeated_stores_in_one_place() {
    let seg = mem_segment(1 << 20);
    setup(&seg);
    let mut t = seg.transaction().unwrap();
    {
        let mut r = t.root().unwrap();
        for _ in 0..100_000 {
            *r.int_mut(&"a".into()).unwrap() += 1;
        }
        let mut l = r.list_mut(&"list".into()).unwrap();
        for i in 0..1000 {
            l.push(i).unwrap();
        }
    }
    // 100 000 stores journaled once each would need 2.4 MB of journal, more
    // than this segment: the repeated ones are saved once.
    t.rollback().unwrap();
    let r = t.root_ref().unwrap().unwrap();
    assert_eq!(r.get(&"a".into()).unwrap().unwrap().as_int().unwrap(), 100);
    assert_eq!(
        r.get(&"list".into())
            .unwrap()
            .unwrap()
            .as_list()
            .unwrap()
            .len(),
        4
    );
}

/// The journal grows as the transaction needs and is given back after it
/// (past 64 KiB), by a commit and by a rollback.
#[test]
fn the_journal_grows_with_the_turn_and_shrinks_back() {
    let seg = mem_segment(8 << 20);
    let h = {
        let mut t = seg.turn().unwrap();
        let h = t
            .put_message(&Value::List((0..10_000).map(Value::Int).collect()))
            .unwrap();
        t.take_message().unwrap();
        h
    };
    // The bytes in blocks that `Stats` does not count: the journal's.
    let journal = |seg: &Segment| {
        let t = seg.turn().unwrap();
        let b = t.block_stats().unwrap();
        b.classes.iter().map(|c| c.allocated_bytes).sum::<u64>() - t.stats().used
    };
    for commit in [true, false] {
        let mut t = seg.transaction().unwrap();
        {
            let mut l = t.list_mut(h).unwrap();
            for i in 0..10_000 {
                *l.int_mut(i).unwrap() += 1;
            }
        }
        if commit {
            t.commit().unwrap();
        } else {
            t.rollback().unwrap();
            drop(t);
        }
        // 10 000 records of 24 bytes needed a journal of 240 KB.
        assert!(journal(&seg) <= (64 << 10) + 16, "commit {commit}");
    }
    let t = seg.turn().unwrap();
    let l = t.get(h).unwrap().as_list().unwrap();
    assert_eq!(l.get(9_999).unwrap().as_int().unwrap(), 10_000);
}

/// A transaction larger than the free space: the operation that runs out
/// fails with `OutOfMemory` and changes nothing itself; the operations
/// before it stay done (the transaction goes on), and a rollback gives the
/// state before the transaction back.
#[test]
fn out_of_memory_in_a_transaction() {
    let seg = mem_segment(256 << 10);
    let owned = setup(&seg);
    let (before, stats) = {
        let t = seg.turn().unwrap();
        (snapshot(&t, &[owned]), t.stats())
    };
    let mut t = seg.transaction().unwrap();
    let mut pushed = 0;
    let err = loop {
        let r = t
            .root()
            .and_then(|mut r| r.list_mut(&"list".into())?.push("x".repeat(200)));
        match r {
            Ok(()) => pushed += 1,
            Err(e) => break e,
        }
        assert!(pushed < 100_000);
    };
    assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
    assert!(pushed > 10);
    // As at the failing operation: every push before it is there.
    {
        let r = t.root_ref().unwrap().unwrap();
        let l = r.get(&"list".into()).unwrap().unwrap().as_list().unwrap();
        assert_eq!(l.len(), 4 + pushed);
    }
    // Other operations fail the same way, and the data stays usable.
    let big = t.root().unwrap().insert("big", "y".repeat(200_000));
    assert!(matches!(big, Err(Error::OutOfMemory { .. })));
    t.rollback().unwrap();
    assert_eq!(snapshot(&t, &[owned]), before);
    assert_eq!(accounts(t.stats()), accounts(stats));
    drop(t);
    assert_eq!(seg.turn().unwrap().validate().unwrap().orphans, 0);
}

// ---- proptest: a random transaction rolled back changes nothing ----

#[derive(Debug, Clone)]
enum Op {
    Push(i64, usize),
    Pop,
    Insert(usize, i64),
    Remove(usize),
    SetItem(usize, i64),
    Bump(i64),
    DictPut(i64, usize),
    DictDel(i64),
    SetAdd(i64),
    SetDel(i64),
    Bytes(usize),
    Truncate(usize),
    PutMsg(usize),
    TakeFree,
    FreeOwned,
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<i64>(), 0usize..300).prop_map(|(v, n)| Op::Push(v, n)),
        Just(Op::Pop),
        (0usize..50, any::<i64>()).prop_map(|(i, v)| Op::Insert(i, v)),
        (0usize..50).prop_map(Op::Remove),
        (0usize..50, any::<i64>()).prop_map(|(i, v)| Op::SetItem(i, v)),
        any::<i64>().prop_map(Op::Bump),
        (0i64..40, 0usize..200).prop_map(|(k, n)| Op::DictPut(k, n)),
        (0i64..40).prop_map(Op::DictDel),
        (0i64..40).prop_map(Op::SetAdd),
        (0i64..40).prop_map(Op::SetDel),
        (0usize..500).prop_map(Op::Bytes),
        (0usize..20).prop_map(Op::Truncate),
        (0usize..300).prop_map(Op::PutMsg),
        Just(Op::TakeFree),
        Just(Op::FreeOwned),
        Just(Op::Clear),
    ]
}

fn apply(t: &mut Turn<'_>, owned: &mut Vec<Handle>, o: &Op) -> Result<(), Error> {
    let mut r = t.root()?;
    match *o {
        Op::Push(v, n) => {
            let mut l = r.list_mut(&"list".into())?;
            if n > 150 {
                l.push("s".repeat(n))?
            } else {
                l.push(v)?
            }
        }
        Op::Pop => {
            r.list_mut(&"list".into())?.pop()?;
        }
        Op::Insert(i, v) => {
            let mut l = r.list_mut(&"list".into())?;
            let n = l.len();
            l.insert(i.min(n), value!([v, "inserted"]))?;
        }
        Op::Remove(i) => {
            let mut l = r.list_mut(&"list".into())?;
            if !l.is_empty() {
                let n = l.len();
                l.remove(i % n)?;
            }
        }
        Op::SetItem(i, v) => {
            let mut l = r.list_mut(&"list".into())?;
            if !l.is_empty() {
                let n = l.len();
                l.set(i % n, v)?;
            }
        }
        Op::Bump(v) => {
            let p = r.int_mut(&"a".into())?;
            *p = p.wrapping_add(v);
        }
        Op::DictPut(k, n) => {
            r.dict_mut(&"dict".into())?.insert(k, "v".repeat(n))?;
        }
        Op::DictDel(k) => {
            r.dict_mut(&"dict".into())?.remove(&Value::Int(k))?;
        }
        Op::SetAdd(k) => {
            r.set_mut(&"set".into())?.insert(k)?;
        }
        Op::SetDel(k) => {
            r.set_mut(&"set".into())?.remove(&Value::Int(k))?;
        }
        Op::Bytes(n) => {
            let mut b = r.bytes_mut(&"bytes".into())?;
            b.extend_from_slice(&vec![7u8; n])?;
            if let Some(x) = b.as_mut_slice()?.first_mut() {
                *x = x.wrapping_add(1);
            }
        }
        Op::Truncate(n) => r.bytes_mut(&"bytes".into())?.truncate(n)?,
        Op::PutMsg(n) => {
            t.put_message(&value!(["message", "m".repeat(n)]))?;
        }
        Op::TakeFree => {
            if let Some(h) = t.take_message()? {
                t.free(h)?;
            }
        }
        Op::FreeOwned => {
            if let Some(h) = owned.pop() {
                t.free(h)?;
            }
        }
        Op::Clear => r.dict_mut(&"dict".into())?.clear()?,
    }
    Ok(())
}

proptest! {
    // (`TXN_CASES` for a longer run.)
    #![proptest_config(ProptestConfig {
        cases: std::env::var("TXN_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_random_transaction_rolled_back_changes_nothing(
        warm in proptest::collection::vec(op(), 0..30),
        ops in proptest::collection::vec(op(), 1..60),
        how in 0u8..3,
    ) {
        let seg = mem_segment(8 << 20);
        let first = setup(&seg);
        let mut owned = vec![first];
        {
            // Some history before (committed plain turns).
            let mut t = seg.turn().unwrap();
            for o in &warm {
                apply(&mut t, &mut owned, o).unwrap();
            }
        }
        let all = owned.clone();
        let (before, stats) = {
            let t = seg.turn().unwrap();
            (snapshot(&t, &all), t.stats())
        };
        match how {
            0 => {
                let mut t = seg.transaction().unwrap();
                for o in &ops {
                    apply(&mut t, &mut owned, o).unwrap();
                }
                t.rollback().unwrap();
                prop_assert_eq!(snapshot(&t, &all), before.clone());
            }
            1 => {
                let mut t = seg.transaction().unwrap();
                for o in &ops {
                    apply(&mut t, &mut owned, o).unwrap();
                }
            }
            _ => {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    let mut t = seg.transaction().unwrap();
                    for o in &ops {
                        apply(&mut t, &mut owned, o).unwrap();
                    }
                    panic!("the end of the turn");
                }));
                prop_assert!(r.is_err());
            }
        }
        let t = seg.turn().unwrap();
        prop_assert_eq!(snapshot(&t, &all), before);
        prop_assert_eq!(accounts(t.stats()), accounts(stats));
        prop_assert_eq!(t.validate().unwrap().orphans, 0);
    }
}

// ---- the transfer, across processes, with the process killed ----

#[test]
fn peer_main() {
    common::serve_peer(|role| match role {
        "transfer" => peer_transfer(),
        other => Err(format!("unknown role {other}")),
    });
}

const TOTAL: i64 = 1_000_000;

/// Moves amounts between two entries of the shared root dict, one transfer
/// per transactional turn, with a log entry pushed and old ones removed in
/// the same turn, until killed.
fn peer_transfer() -> Result<String, String> {
    let seg = Segment::attach(&common::env("SEG")).map_err(|e| e.to_string())?;
    let mut rng = Rng(common::env_u64("SEED"));
    common::say("ready");
    let crash = common::env_u64("CRASH_AFTER");
    if crash > 0 {
        shmheap::__test::crash_after(crash);
    }
    loop {
        let mut t = seg.transaction().map_err(|e| e.to_string())?;
        let amount = 1 + rng.below(1000) as i64;
        let e = |e: Error| e.to_string();
        let mut r = t.root().map_err(e)?;
        *r.int_mut(&"a".into()).map_err(e)? -= amount;
        // Allocations, frees and moves between the two halves.
        let n = *r.int_mut(&"n".into()).map_err(e)?;
        let mut log = r.list_mut(&"log".into()).map_err(e)?;
        log.push(value!([n, amount, "x".repeat(rng.below(300) as usize)]))
            .map_err(e)?;
        if log.len() > 20 {
            log.remove(0).map_err(e)?;
        }
        r.insert(format!("k{}", n % 50), "v".repeat(rng.below(200) as usize))
            .map_err(e)?;
        *r.int_mut(&"b".into()).map_err(e)? += amount;
        *r.int_mut(&"n".into()).map_err(e)? += 1;
        t.commit().map_err(e)?;
    }
}

/// The "done when": a transfer between two entries of a shared
/// dict, one transactional turn each, the process killed at random moments
/// and at random crash points (`TXN_KILLS` times, 30 by default), never
/// shows a half-transfer.
#[test]
fn a_killed_transfer_is_never_half_done() {
    let kills = std::env::var("TXN_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30u64);
    let _wd = Watchdog::new("txn-transfer", Duration::from_secs(60 + 3 * kills));
    let name = common::unique_name("txn-transfer");
    let seg = Segment::options().size(16 << 20).create(&name).unwrap();
    {
        let mut t = seg.turn().unwrap();
        let mut r = t.root().unwrap();
        r.insert("a", TOTAL).unwrap();
        r.insert("b", 0).unwrap();
        r.insert("n", 0).unwrap();
        r.insert("log", Value::List(vec![])).unwrap();
    }
    let mut rng = Rng(0x7E57);
    let mut last_n = 0;
    let mut recovered = 0;
    for trial in 0..kills {
        let crash = if trial % 2 == 0 {
            1 + rng.below(3000)
        } else {
            0
        };
        let mut peer = Peer::spawn(
            "transfer",
            &[
                ("SEG", name.clone()),
                ("SEED", trial.to_string()),
                ("CRASH_AFTER", crash.to_string()),
            ],
        );
        peer.expect("ready", Duration::from_secs(30));
        let status = if crash > 0 {
            peer.finish(Duration::from_secs(30)).0
        } else {
            std::thread::sleep(Duration::from_micros(300 + rng.below(20_000)));
            peer.kill().expect("the peer's status")
        };
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "trial {trial}: {}",
            common::describe(status)
        );
        match seg.turn_timeout(Duration::from_secs(10)) {
            Ok(t) => drop(t),
            Err(Error::PeerDied { .. }) => {
                seg.recover().unwrap().expect("a recovery");
                recovered += 1;
            }
            Err(e) => panic!("trial {trial}: {e}"),
        }
        let t = seg.turn().unwrap();
        assert!(!t.is_transaction());
        assert_eq!(t.validate().unwrap().orphans, 0, "trial {trial}");
        let r = t.root_ref().unwrap().unwrap();
        let get = |k: &str| r.get(&k.into()).unwrap().unwrap().as_int().unwrap();
        let (a, b, n) = (get("a"), get("b"), get("n"));
        assert_eq!(a + b, TOTAL, "trial {trial}: a half-transfer: a={a} b={b}");
        assert!(n >= last_n, "trial {trial}: a committed transfer went back");
        // The log's newest entry is the last committed transfer.
        let log = r.get(&"log".into()).unwrap().unwrap().as_list().unwrap();
        if n > 0 {
            let newest = log.get(log.len() - 1).unwrap().to_value().unwrap();
            let Value::List(entry) = newest else {
                panic!("log entry {newest:?}")
            };
            assert_eq!(entry[0], Value::Int(n - 1), "trial {trial}");
        }
        last_n = n;
    }
    eprintln!("{kills} kills, {last_n} transfers committed, {recovered} recoveries");
    assert!(last_n > 0, "no transfer ever committed");
    assert!(recovered > 0, "no death fell inside a turn");
}

/// Out of memory for the record of a free (the operation's change is made,
/// the free cannot be deferred): the transaction can then only be rolled
/// back, and its commit does that and says `OutOfMemory`. Tried over many
/// fill levels; whichever operation runs out, a commit never leaves an
/// orphan and a failed commit leaves the state before the turn.
#[test]
fn out_of_memory_recording_a_free_dooms_the_commit() {
    let mut doomed = 0;
    for fill in 0..60usize {
        let seg = mem_segment(128 << 10);
        let owned = setup(&seg);
        let (before, stats) = {
            let t = seg.turn().unwrap();
            (snapshot(&t, &[owned]), t.stats())
        };
        let mut t = seg.transaction().unwrap();
        // Fill the memory (the transaction's own allocations).
        let mut i = 0;
        while t
            .root()
            .and_then(|mut r| r.insert(format!("fill {i}"), "f".repeat(100 + fill)))
            .is_ok()
        {
            i += 1;
        }
        // Then replace strings (a write, a saved slot and a deferred free
        // each) until something runs out.
        let mut j = 0;
        while t
            .root()
            .and_then(|mut r| r.insert(format!("fill {}", j % i.max(1)), Value::Int(j as i64)))
            .is_ok()
        {
            j += 1;
            assert!(j < 100_000);
        }
        match t.commit() {
            Err(Error::OutOfMemory { .. }) => {
                doomed += 1;
                let t = seg.turn().unwrap();
                assert_eq!(snapshot(&t, &[owned]), before, "fill {fill}");
                assert_eq!(accounts(t.stats()), accounts(stats));
            }
            Ok(()) => {}
            Err(e) => panic!("fill {fill}: {e}"),
        }
        let t = seg.turn().unwrap();
        assert_eq!(t.validate().unwrap().orphans, 0, "fill {fill}");
    }
    eprintln!("{doomed} of 60 transactions could only roll back");
    assert!(doomed > 0, "no free ran out of journal room");
}

/// The bulk paths in a transaction: an extension into slots a truncation
/// just gave up (committed before the transaction) comes back on rollback,
/// and a list message put from a slice is gone.
#[test]
fn bulk_paths_roll_back() {
    let seg = mem_segment(1 << 20);
    let h = {
        let mut t = seg.turn().unwrap();
        let h = t.put_message(&value!(["a", "b", "c", 4])).unwrap();
        t.take_message().unwrap();
        h
    };
    let before = seg.turn().unwrap().get(h).unwrap().to_value().unwrap();
    let stats = seg.turn().unwrap().stats();
    {
        let mut t = seg.transaction().unwrap();
        let mut l = t.list_mut(h).unwrap();
        l.truncate(1).unwrap();
        l.extend_from_slice(&[7i64, 8, 9, 10, 11]).unwrap();
        assert_eq!(l.to_value().unwrap(), value!(["a", 7, 8, 9, 10, 11]));
        t.put_message_from_slice(&[1.5, 2.5]).unwrap();
        t.rollback().unwrap();
        assert_eq!(t.get(h).unwrap().to_value().unwrap(), before);
        assert!(!t.has_messages().unwrap());
    }
    let t = seg.turn().unwrap();
    assert_eq!(t.get(h).unwrap().to_value().unwrap(), before);
    assert_eq!(accounts(t.stats()), accounts(stats));
    t.validate().unwrap();
}
