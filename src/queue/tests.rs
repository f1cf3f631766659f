//! In-process tests of values, lists, the queue and the validator on a
//! heap-backed segment (they run under Miri).

use crate::segment::Word;
use crate::{Error, Value, value};

use crate::test_segment as seg;

fn seed() -> Value {
    value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}])
}

#[test]
fn seed_roundtrip_and_in_place_mutation() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let ring_only = ring_only(&mut turn);
    let h = turn.put_message(&seed()).unwrap();
    assert!(turn.has_messages().unwrap());
    assert_eq!(turn.read_message().unwrap(), Some(h));
    assert_eq!(turn.take_message().unwrap(), Some(h));
    assert_eq!(turn.take_message().unwrap(), None);
    assert_eq!(turn.get(h).unwrap().to_value().unwrap(), seed());
    {
        let mut list = turn.list_mut(h).unwrap();
        *list.int_mut(1).unwrap() += 999;
        list.push(3.5).unwrap();
        *list.float_mut(4).unwrap() *= 2.0;
        assert_eq!(list.get(0).unwrap().as_str().unwrap(), "hello");
        assert!(matches!(
            list.int_mut(0),
            Err(Error::TypeMismatch {
                expected: "int",
                found: "str"
            })
        ));
        assert!(matches!(
            list.get(9),
            Err(Error::IndexOutOfRange { index: 9, len: 5 })
        ));
    }
    let v = turn.get(h).unwrap();
    let list = v.as_list().unwrap();
    assert_eq!(list.get(1).unwrap().as_int().unwrap(), 999);
    assert_eq!(list.get(4).unwrap().as_float().unwrap(), 7.0);
    let d = list.get(3).unwrap().as_dict().unwrap();
    assert_eq!(
        d.get(&Value::Bytes(b"world".to_vec()))
            .unwrap()
            .unwrap()
            .as_int()
            .unwrap(),
        -6
    );
    // Python key equality: 5.0 finds the key 5.
    assert_eq!(
        d.get(&Value::Float(5.0))
            .unwrap()
            .unwrap()
            .as_int()
            .unwrap(),
        4
    );
    assert!(d.get(&Value::Str("world".into())).unwrap().is_none());
    assert!(matches!(
        d.get(&value!([1])),
        Err(Error::Unhashable { kind: "list" })
    ));
    let t = list.get(2).unwrap().as_tuple().unwrap();
    assert!(!t.get(2).unwrap().as_bool().unwrap());
    turn.validate().unwrap();
    turn.free(h).unwrap();
    assert_eq!(turn.stats().used, ring_only);
}

/// Puts and frees one message so the queue's ring exists; returns the bytes
/// then in use (the ring alone).
fn ring_only(turn: &mut crate::Turn<'_>) -> u64 {
    let h = turn.put_message(&Value::None).unwrap();
    turn.take_message().unwrap();
    turn.free(h).unwrap();
    turn.stats().used
}

#[test]
fn scalar_messages_are_boxed() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let ring_only = ring_only(&mut turn);
    for v in [
        Value::None,
        Value::Bool(true),
        Value::Int(-5),
        Value::Float(0.25),
    ] {
        let h = turn.put_message(&v).unwrap();
        assert_eq!(turn.take_message().unwrap(), Some(h));
        assert_eq!(turn.get(h).unwrap().to_value().unwrap(), v);
        turn.free(h).unwrap();
    }
    assert_eq!(turn.stats().used, ring_only);
}

#[test]
fn queue_is_fifo_across_growth_and_handles_reenqueue() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let n = if cfg!(miri) { 40 } else { 1000 };
    let hs: Vec<_> = (0..n)
        .map(|i| turn.put_message(&value!(["m", i])).unwrap())
        .collect();
    assert_eq!(turn.message_count(), n as usize);
    // Take half, put more, the order stays.
    for (i, h) in hs.iter().enumerate().take(n as usize / 2) {
        assert_eq!(turn.take_message().unwrap(), Some(*h));
        assert_eq!(
            turn.get(*h)
                .unwrap()
                .as_list()
                .unwrap()
                .get(1)
                .unwrap()
                .as_int()
                .unwrap(),
            i as i64
        );
        assert!(matches!(
            turn.put_handle(hs[n as usize - 1]),
            Err(Error::NotOwned { .. })
        ));
        turn.put_handle(*h).unwrap();
    }
    turn.validate().unwrap();
    let order: Vec<_> = std::iter::from_fn(|| turn.take_message().unwrap()).collect();
    let expected: Vec<_> = hs[n as usize / 2..]
        .iter()
        .chain(&hs[..n as usize / 2])
        .copied()
        .collect();
    assert_eq!(order, expected);
    // A queued message cannot be freed; a taken one can, once.
    let q = turn.put_message(&Value::Int(1)).unwrap();
    assert!(matches!(turn.free(q), Err(Error::NotOwned { .. })));
    for h in hs {
        turn.free(h).unwrap();
        assert!(matches!(turn.free(h), Err(Error::StaleHandle { .. })));
        assert!(matches!(turn.get(h), Err(Error::StaleHandle { .. })));
    }
    turn.validate().unwrap();
}

#[test]
fn list_items_never_move_while_it_grows() {
    let s = seg(64 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&value!([7])).unwrap();
    let mut list = turn.list_mut(h).unwrap();
    let addr = list.int_mut(0).unwrap() as *mut i64 as usize;
    let n = if cfg!(miri) { 100 } else { 1_000_000 };
    for i in 0..n {
        list.push(i).unwrap();
    }
    assert_eq!(list.int_mut(0).unwrap() as *mut i64 as usize, addr);
    assert_eq!(list.len(), n as usize + 1);
    assert_eq!(*list.int_mut(n as usize).unwrap(), n as i64 - 1);
    for i in (0..n).rev() {
        assert_eq!(list.pop().unwrap(), Some(Value::Int(i as i64)));
    }
    assert_eq!(list.int_mut(0).unwrap() as *mut i64 as usize, addr);
    turn.validate().unwrap();
    let used_one = turn.stats().used;
    // The queue ring, the list header, a spare chunk or two and the table.
    assert!(used_one < 4096, "shrunk back: {used_one} bytes used");
}

#[test]
fn set_frees_the_old_item_and_dict_set_dedupe() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&value!([None, 1])).unwrap();
    let base = turn.stats().used;
    {
        let mut list = turn.list_mut(h).unwrap();
        for i in 0..if cfg!(miri) { 20 } else { 10_000 } {
            list.set(0, value!(["x".repeat(100), (i, "y")])).unwrap();
        }
        list.set(0, Value::None).unwrap();
    }
    assert_eq!(turn.stats().used, base, "overwrites reclaim the old items");
    // Python: {1: "a", 1.0: "b", True: "c"} == {1: "c"}
    let d = turn
        .put_message(&Value::Dict(vec![
            (Value::Int(1), "a".into()),
            (Value::Float(1.0), "b".into()),
            (Value::Str("k".into()), "v".into()),
            (Value::Bool(true), "c".into()),
        ]))
        .unwrap();
    assert_eq!(
        turn.get(d).unwrap().to_value().unwrap(),
        Value::Dict(vec![
            (Value::Int(1), "c".into()),
            (Value::Str("k".into()), "v".into())
        ])
    );
    let st = turn
        .put_message(&Value::Set(vec![
            Value::Int(0),
            Value::Float(-0.0),
            Value::Bool(false),
            Value::Str("a".into()),
        ]))
        .unwrap();
    let set = turn.get(st).unwrap().as_set().unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.contains(&Value::Bool(false)).unwrap());
    assert!(!set.contains(&Value::Bytes(b"a".to_vec())).unwrap());
    assert!(matches!(
        turn.put_message(&Value::Set(vec![value!([1])])),
        Err(Error::Unhashable { kind: "list" })
    ));
    turn.validate().unwrap();
}

#[test]
fn out_of_memory_leaves_everything_intact() {
    let s = seg(64 << 10);
    let mut turn = s.turn().unwrap();
    let mut kept = Vec::new();
    let big = value!(["x".repeat(300), [1, 2, 3, (4, "five")], {"k": [b"bytes", None]}]);
    loop {
        let before = turn.stats();
        match turn.put_message(&big) {
            Ok(h) => kept.push(h),
            Err(Error::OutOfMemory { .. }) => {
                // No value changed; free memory may have been reorganised
                // (parked small blocks consolidated), not lost.
                let after = turn.stats();
                assert_eq!(
                    (after.used, after.blocks, after.free),
                    (before.used, before.blocks, before.free),
                    "a failed put changes nothing"
                );
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(kept.len() > 10);
    turn.validate().unwrap();
    let list_h = kept[0];
    // A push that cannot fit fails cleanly too.
    turn.take_message().unwrap();
    let before = turn.stats();
    let mut list = turn.list_mut(list_h).unwrap();
    let err = list.push("y".repeat(100_000)).unwrap_err();
    assert!(matches!(err, Error::OutOfMemory { .. }));
    assert_eq!(list.len(), 3);
    assert_eq!(turn.stats().used, before.used);
    for h in &kept[1..] {
        assert_eq!(turn.get(*h).unwrap().to_value().unwrap(), big);
    }
    turn.validate().unwrap();
}

/// Every single-bit flip anywhere in the used part of a segment either
/// validates (the bit did not matter) or gives an error: never a panic, never
/// an out-of-bounds access.
#[test]
fn bit_flips_never_panic_the_validator() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&seed()).unwrap();
    turn.put_message(&value!([(1, 2.5), b"abc", Value::bytearray(*b"xy"), {"a": {"b": [None]}}]))
        .unwrap();
    turn.take_message().unwrap();
    turn.free(h).unwrap();
    turn.put_message(&value!("tail")).unwrap();
    turn.validate().unwrap();
    let mem = turn.mem();
    let start = std::mem::offset_of!(crate::segment::Header, alloc) as u64;
    let end = turn.stats().high_water;
    let step = if cfg!(miri) { 61 } else { 1 };
    let mut errors = 0;
    let mut offsets: Vec<u64> = (start..start + 64 * 8).collect();
    offsets.extend(std::mem::offset_of!(crate::segment::Header, queue) as u64..start + 2048);
    offsets.extend(crate::segment::HEAP_START..end);
    for off in offsets.into_iter().step_by(step) {
        for bit in 0..8 {
            let o = crate::segment::Offset::new(off);
            // SAFETY: the test holds the turn.
            let byte = unsafe { mem.bytes(o, 1).unwrap()[0] };
            mem.write_bytes(o, &[byte ^ (1 << bit)]).unwrap();
            if turn.validate().is_err() {
                errors += 1;
            } else {
                // Whatever validated must also read without panicking.
                if let Ok(Some(m)) = turn.read_message() {
                    let _ = turn.get(m).and_then(|v| v.to_value());
                }
            }
            mem.write_bytes(o, &[byte]).unwrap();
        }
    }
    assert!(errors > 0);
    turn.validate().unwrap();
}

#[test]
fn sample_image_attaches_and_survives_use() {
    let img = crate::__fuzz::sample_image();
    let r = crate::__fuzz::attach_image(&img).unwrap();
    assert_eq!(r.messages, 3);
    // The three messages and the root namespace.
    assert_eq!(r.roots, 4);
    assert_eq!(r.orphans, 0);
    // The used part of the image lies below 0x8000 (what the patch fuzzer
    // targets).
    let top = img.len() - img.iter().rev().position(|&b| b != 0).unwrap();
    assert!(top < 0x8000, "used part ends at {top:#x}");
    // Truncated and foreign images are refused.
    assert!(matches!(
        crate::__fuzz::attach_image(&img[..4096]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        crate::__fuzz::attach_image(&[0xAB; 70_000]),
        Err(Error::BadMagic)
    ));
    // Found by the attach_bytes fuzzer: a next-generation word of all ones
    // made the next allocation overflow (a panic in debug builds). Now the
    // validator refuses it, and allocation wraps instead of overflowing.
    let mut bad_gen = img.clone();
    let at = std::mem::offset_of!(crate::segment::Header, alloc.next_gen);
    bad_gen[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = crate::__fuzz::attach_image(&bad_gen).unwrap_err();
    assert!(e.to_string().contains("next generation"), "{e}");
    // Found by the attach_bytes fuzzer: a journal with records but no block
    // (and a wild length) made the commit at the end of the turn read
    // records from offset 16 and overflow. Records are now checked wherever
    // they are read.
    let mut wild = img.clone();
    let at = std::mem::offset_of!(crate::segment::Header, journal);
    wild[at..at + 8].copy_from_slice(&0u64.to_le_bytes());
    wild[at + 8..at + 16].copy_from_slice(&219_043_332_096u64.to_le_bytes());
    wild[at + 16..at + 24].copy_from_slice(&25_314_537_242_624u64.to_le_bytes());
    let e = crate::__fuzz::attach_image(&wild).unwrap_err();
    assert!(e.to_string().contains("journal"), "{e}");
    // Every other version is refused: version 1 (no journal), version 2
    // (no root namespace word: its bytes were padding), version 3 (no
    // big ints, decimals, datetimes, arrays, pickles or objects), version 4
    // (no transactions), version 5 (no park bit in `now_serving`), anything
    // newer.
    use crate::segment::VERSION;
    for version in (1..VERSION).chain([VERSION + 1, u32::MAX]) {
        let mut other = img.clone();
        other[8..12].copy_from_slice(&version.to_le_bytes());
        let r = crate::__fuzz::attach_image(&other);
        assert!(
            matches!(
                r,
                Err(Error::UnsupportedVersion { found, expected: VERSION }) if found == version
            ),
            "version {version}: {r:?}"
        );
    }
}

#[test]
fn validator_refuses_a_message_queued_twice() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let a = turn.put_message(&value!("a")).unwrap();
    turn.put_message(&value!("b")).unwrap();
    turn.validate().unwrap();
    // Overwrite the second ring entry with the first one's handle.
    let ring = crate::segment::Offset::new(turn.queue_state().ring.get());
    let e1 = crate::format::payload(ring).add(16);
    turn.mem().set_u64(e1, a.offset()).unwrap();
    turn.mem().set_u64(e1.add(8), a.generation()).unwrap();
    let err = turn.validate().unwrap_err();
    assert!(err.to_string().contains("queued twice"), "{err}");
}

#[test]
fn writing_too_deep_a_value_is_refused_cleanly() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let before = turn.stats();
    let mut v = Value::Int(1);
    for _ in 0..200 {
        v = Value::List(vec![v]);
    }
    assert!(matches!(
        turn.put_message(&v),
        Err(Error::NestingTooDeep { limit: 128 })
    ));
    assert_eq!(turn.stats().used, before.used);
    turn.validate().unwrap();
    // Drop iteratively (a recursive drop of 200 levels is fine, but keep
    // the test's own stack use small under Miri).
    while let Value::List(mut items) = v {
        v = items.pop().unwrap();
    }
}

/// Queue counters that make no sense (a ring past the end of any segment,
/// a capacity near `u64::MAX`, one that is not a power of two) give an
/// error or a bounds-checked access, never an overflow panic: the put and
/// take fast paths compute the entry from them.
#[test]
fn nonsense_queue_counters_never_panic() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    turn.put_message(&value!("a")).unwrap();
    let st = turn.queue_state();
    let (ring, cap) = (st.ring.get(), st.cap.get());
    for (r, c) in [
        (u64::MAX - 8, cap),
        (ring, u64::MAX),
        (ring, (1 << 60) + 3),
        (u64::MAX - 8, u64::MAX),
        (ring, 3),
    ] {
        let st = turn.queue_state();
        st.ring.set(r);
        st.cap.set(c);
        // Whatever they give, they return.
        let _ = turn.take_message();
        let _ = turn.put_message(&value!("b"));
        let _ = turn.put_message(&Value::Int(1));
        let _ = turn.read_message();
    }
}
