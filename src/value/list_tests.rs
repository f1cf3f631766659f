//! Unit tests of the list API on a heap-backed segment (they run under
//! Miri). The randomized model tests, in one process and split between two,
//! are in `tests/list_model.rs`.

use crate::{Error, Handle, Value};

use crate::test_segment as seg;

fn ints(v: &[i64]) -> Value {
    Value::List(v.iter().map(|&i| Value::Int(i)).collect())
}

#[test]
fn vec_like_operations() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&ints(&[1, 2, 3])).unwrap();
    let mut l = turn.list_mut(h).unwrap();
    l.insert(0, 0).unwrap();
    l.insert(4, 4).unwrap();
    assert!(matches!(
        l.insert(9, 9),
        Err(Error::IndexOutOfRange { index: 9, len: 5 })
    ));
    assert_eq!(l.to_value().unwrap(), ints(&[0, 1, 2, 3, 4]));
    assert_eq!(l.remove(1).unwrap(), Value::Int(1));
    l.swap(0, 3).unwrap();
    assert_eq!(l.to_value().unwrap(), ints(&[4, 2, 3, 0]));
    l.reverse().unwrap();
    assert_eq!(l.to_value().unwrap(), ints(&[0, 3, 2, 4]));
    l.extend([5, 6, 7]).unwrap();
    l.truncate(6).unwrap();
    assert_eq!(l.to_value().unwrap(), ints(&[0, 3, 2, 4, 5, 6]));
    assert_eq!(
        l.splice(1..3, [30, 31, 32]).unwrap(),
        vec![Value::Int(3), Value::Int(2)]
    );
    assert_eq!(l.to_value().unwrap(), ints(&[0, 30, 31, 32, 4, 5, 6]));
    assert_eq!(l.drain(..2).unwrap(), vec![Value::Int(0), Value::Int(30)]);
    l.delete_range(3..).unwrap();
    assert_eq!(l.to_value().unwrap(), ints(&[31, 32, 4]));
    l.set_range(1..2, Vec::<Value>::new()).unwrap();
    assert_eq!(l.to_value().unwrap(), ints(&[31, 4]));
    assert!(matches!(l.drain(1..5), Err(Error::IndexOutOfRange { .. })));
    let r: Vec<i64> = l
        .get_range(..)
        .unwrap()
        .iter()
        .map(|v| v.as_int().unwrap())
        .collect();
    assert_eq!(r, [31, 4]);
    l.repeat(3).unwrap();
    assert_eq!(l.to_value().unwrap(), ints(&[31, 4, 31, 4, 31, 4]));
    assert_eq!(l.count(&Value::Float(4.0)).unwrap(), 3);
    assert_eq!(l.index_of(&Value::Int(4)).unwrap(), Some(1));
    assert!(!l.contains(&Value::Str("4".into())).unwrap());
    l.repeat(0).unwrap();
    assert!(l.is_empty());
    l.push(1).unwrap();
    l.clear().unwrap();
    assert_eq!(l.pop().unwrap(), None);
    turn.validate().unwrap();
}

#[test]
fn extend_from_itself_tuples_sets_and_dicts() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&value!(["a", [1]])).unwrap();
    let t = turn.put_message(&value!((None, 2.5))).unwrap();
    let d = turn.put_message(&value!({"k": 1, 7: 2})).unwrap();
    let text = turn.put_message(&value!("not a container")).unwrap();
    let mut l = turn.list_mut(h).unwrap();
    l.extend_from(h).unwrap(); // l += l
    l.extend_from(t).unwrap();
    l.extend_from(d).unwrap(); // keys
    assert_eq!(
        l.to_value().unwrap(),
        value!(["a", [1], "a", [1], None, 2.5, "k", 7])
    );
    // The copies are deep: changing one nested list leaves the other.
    l.list_mut(1).unwrap().push(2).unwrap();
    assert_eq!(l.get(3).unwrap().to_value().unwrap(), value!([1]));
    assert!(matches!(
        l.extend_from(Handle::from_raw(0, 0)),
        Err(Error::StaleHandle { .. })
    ));
    assert!(matches!(
        l.extend_from(text),
        Err(Error::TypeMismatch { found: "str", .. })
    ));
    assert_eq!(l.len(), 8);
    turn.validate().unwrap();
}

#[test]
fn sort_like_python() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn
        .put_message(&value!([3, 1.5, true, -2, 2.0, 0, 1]))
        .unwrap();
    let mut l = turn.list_mut(h).unwrap();
    l.sort().unwrap();
    // Stable: True == 1 keeps its place before the later 1.
    assert_eq!(l.to_value().unwrap(), value!([-2, 0, true, 1, 1.5, 2.0, 3]));
    l.sort_reverse().unwrap();
    assert_eq!(l.to_value().unwrap(), value!([3, 2.0, 1.5, true, 1, 0, -2]));
    l.set_range(
        ..,
        [
            value!((1, "b")),
            value!((1, "a")),
            value!((0, "z")),
            value!((1,)),
        ],
    )
    .unwrap();
    l.sort().unwrap();
    assert_eq!(
        l.to_value().unwrap(),
        value!([(0, "z"), (1,), (1, "a"), (1, "b")])
    );
    // Incomparable items: an error, and the list unchanged.
    l.set_range(.., [value!("b"), value!(1), value!("a")])
        .unwrap();
    let before = l.to_value().unwrap();
    assert!(matches!(l.sort(), Err(Error::TypeMismatch { .. })));
    assert_eq!(l.to_value().unwrap(), before);
    l.set_range(.., [Value::None, Value::None]).unwrap();
    assert!(matches!(l.sort(), Err(Error::TypeMismatch { .. })));
    l.set_range(.., [Value::None]).unwrap();
    l.sort().unwrap();
    // Exact int/float comparison, no rounding of big ints.
    l.set_range(
        ..,
        [value!(9007199254740993i64), value!(9007199254740992.0)],
    )
    .unwrap();
    l.sort().unwrap();
    assert_eq!(
        l.to_value().unwrap(),
        value!([9007199254740992.0, 9007199254740993i64])
    );
    l.set_range(.., ["b", "a", "é", "B"]).unwrap();
    l.sort().unwrap();
    assert_eq!(l.to_value().unwrap(), value!(["B", "a", "b", "é"]));
}

#[test]
fn permute_moves_items_and_keeps_nested_handles() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn
        .put_message(&Value::List(vec![
            Value::Int(10),
            Value::List(vec![Value::Int(1)]),
            Value::from("s"),
        ]))
        .unwrap();
    let mut l = turn.list_mut(h).unwrap();
    let inner = l.item_handle(1).unwrap().unwrap();
    // Not permutations: wrong length, out of range, repeated.
    for bad in [&[0, 1][..], &[0, 1, 3], &[0, 1, 1]] {
        assert!(matches!(l.permute(bad), Err(Error::IndexOutOfRange { .. })));
    }
    l.permute(&[2, 0, 1]).unwrap();
    assert_eq!(
        l.to_value().unwrap(),
        Value::List(vec![
            Value::from("s"),
            Value::Int(10),
            Value::List(vec![Value::Int(1)]),
        ])
    );
    assert_eq!(l.item_handle(2).unwrap(), Some(inner));
    turn.list_mut(inner).unwrap().push(2).unwrap();
    assert_eq!(turn.validate().unwrap().orphans, 0);
}

#[test]
fn scalars_in_place_and_retagging() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&value!([1, 2.0, false, "s"])).unwrap();
    let mut l = turn.list_mut(h).unwrap();
    *l.int_mut(0).unwrap() += 41;
    *l.float_mut(1).unwrap() /= 4.0;
    *l.bool_mut(2).unwrap() = true;
    assert!(matches!(l.bool_mut(0), Err(Error::TypeMismatch { .. })));
    assert_eq!(l.to_value().unwrap(), value!([42, 0.5, true, "s"]));
    l.set(3, 7).unwrap(); // str item becomes an int
    *l.int_mut(3).unwrap() *= 6;
    l.set(0, "now a str").unwrap();
    assert!(matches!(
        l.int_mut(0),
        Err(Error::TypeMismatch {
            expected: "int",
            found: "str"
        })
    ));
    assert_eq!(l.to_value().unwrap(), value!(["now a str", 0.5, true, 42]));
    turn.validate().unwrap();
}

#[test]
fn bytearray_items_grow_in_place() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn
        .put_message(&value!([Value::bytearray(*b"ab"), b"frozen"]))
        .unwrap();
    let mut l = turn.list_mut(h).unwrap();
    {
        let mut b = l.bytes_mut(0).unwrap();
        b.extend_from_slice(b"cd").unwrap();
        for i in 0..100u8 {
            b.push(i).unwrap();
        }
        b.as_mut_slice().unwrap()[0] = b'A';
        b.truncate(4).unwrap();
        b.resize(6, b'!').unwrap();
        assert_eq!(b.to_vec().unwrap(), b"Abcd!!");
    }
    assert!(matches!(l.bytes_mut(1), Err(Error::TypeMismatch { .. })));
    assert_eq!(l.get(0).unwrap().as_bytes().unwrap(), b"Abcd!!");
    assert_eq!(
        l.get(0).unwrap().to_value().unwrap(),
        Value::bytearray(*b"Abcd!!")
    );
    // A root bytearray keeps its handle while it grows.
    let r = turn.put_message(&Value::bytearray(Vec::new())).unwrap();
    let mut b = turn.bytes_mut(r).unwrap();
    b.resize(5000, 7).unwrap();
    assert_eq!(b.len(), 5000);
    assert_eq!(turn.get(r).unwrap().as_bytes().unwrap()[4999], 7);
    turn.validate().unwrap();
}

#[test]
fn nested_lists_are_mutable_and_have_handles() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn
        .put_message(&value!([[1, [2]], ([10],), {"k": [20]}]))
        .unwrap();
    {
        let mut l = turn.list_mut(h).unwrap();
        let mut inner = l.list_mut(0).unwrap();
        inner.push(3).unwrap();
        inner.list_mut(1).unwrap().push(22).unwrap();
    }
    // A list inside a tuple and inside a dict, reached through handles.
    let (in_tuple, in_dict) = {
        let v = turn.get(h).unwrap().as_list().unwrap();
        let t = v.get(1).unwrap().as_tuple().unwrap();
        let d = v.get(2).unwrap().as_dict().unwrap();
        (
            t.get(0).unwrap().handle().unwrap(),
            d.get(&"k".into()).unwrap().unwrap().handle().unwrap(),
        )
    };
    turn.list_mut(in_tuple).unwrap().push(11).unwrap();
    *turn.list_mut(in_dict).unwrap().int_mut(0).unwrap() += 1;
    assert_eq!(
        turn.get(h).unwrap().to_value().unwrap(),
        value!([[1, [2, 22], 3], ([10, 11],), {"k": [21]}])
    );
    // Handles to nested objects go stale when their owner drops them.
    let nested = turn.list_mut(h).unwrap().item_handle(0).unwrap().unwrap();
    assert!(turn.get(nested).is_ok());
    turn.list_mut(h).unwrap().set(0, Value::None).unwrap();
    assert!(matches!(turn.get(nested), Err(Error::StaleHandle { .. })));
    // A nested handle is not a root: it cannot be freed on its own.
    assert!(matches!(turn.free(in_tuple), Err(Error::NotOwned { .. })));
    turn.validate().unwrap();
}

/// A million overwrites of 100-byte string items fit in an 8 MiB segment:
/// each overwrite frees what the item owned.
#[test]
fn overwrites_reclaim_memory() {
    let n = if cfg!(miri) { 2_000 } else { 1_000_000 };
    let s = seg(8 << 20);
    let mut turn = s.turn().unwrap();
    let h = turn
        .put_message(&Value::List(vec![Value::None; 100]))
        .unwrap();
    let base = turn.stats().used;
    let text = "x".repeat(100);
    let mut l = turn.list_mut(h).unwrap();
    for i in 0..n {
        l.set(i % 100, text.as_str()).unwrap();
    }
    for i in 0..100 {
        l.set(i, Value::None).unwrap();
    }
    assert_eq!(turn.stats().used, base);
    turn.validate().unwrap();
}

#[test]
fn failed_operations_leave_the_list_unchanged() {
    let s = seg(64 << 10);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&value!(["keep", 1, [2, 3]])).unwrap();
    let big = "y".repeat(60_000);
    let mut l = turn.list_mut(h).unwrap();
    let before = l.to_value().unwrap();
    for r in [
        l.push(big.as_str()),
        l.insert(1, big.as_str()),
        l.set(0, big.as_str()),
        l.extend(["a", big.as_str()]),
        l.set_range(0..1, [big.as_str()]),
        l.repeat(10_000),
    ] {
        assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
        assert_eq!(l.to_value().unwrap(), before);
    }
    turn.validate().unwrap();
}

/// An extension by many items (several new chunks, a new table) that runs
/// out of memory part-way changes nothing, not even the space in use: the
/// chunks it had added are given back.
/// (With 5,000 items the chunk table is replaced twice in one reserve: the
/// middle table, born and freed inside the operation, must be given back
/// too. Found by the `crash` fuzzer.)
#[test]
fn extend_out_of_memory_at_every_threshold_leaves_the_space_as_it_was() {
    let cases: &[(u64, i64)] = if cfg!(miri) {
        &[(64 << 10, 300)]
    } else {
        &[(64 << 10, 300), (1 << 20, 5000)]
    };
    for &(size, n) in cases {
        let seg = seg(size);
        let mut turn = seg.turn().unwrap();
        let l = turn.put_message(&ints(&[1, 2, 3])).unwrap();
        turn.take_message().unwrap();
        let ooms = super::oom_tests::at_every_free_size(&mut turn, |turn| {
            let r = turn.list_mut(l).unwrap().extend(0..n);
            if r.is_err() {
                assert_eq!(turn.get(l).unwrap().to_value().unwrap(), ints(&[1, 2, 3]));
            }
            r
        });
        assert!(ooms > 1, "the extension ran out of memory {ooms} times");
        assert_eq!(turn.list_mut(l).unwrap().len(), 3 + n as usize);
    }
}

/// The typed bulk paths read and write what `get` and `push` do, across
/// chunk boundaries (8, 16, 32... items per chunk), and refuse what is not
/// their type with `TypeMismatch`.
#[test]
fn scalar_runs_in_and_out() {
    let s = seg(1 << 20);
    let mut turn = s.turn().unwrap();
    let n = if cfg!(miri) { 40 } else { 300 };
    let model: Vec<i64> = (0..n).map(|i| i * 7 - 50).collect();
    let h = turn.put_message_from_slice(&model).unwrap();
    assert_eq!(turn.take_message().unwrap(), Some(h));
    assert_eq!(turn.get(h).unwrap().to_value().unwrap(), ints(&model));
    let l = turn.get(h).unwrap().as_list().unwrap();
    assert_eq!(l.ints().collect::<Result<Vec<_>, _>>().unwrap(), model);
    assert_eq!(l.to_vec_of::<i64>().unwrap(), model);
    let floats: Vec<f64> = model.iter().map(|&i| i as f64).collect();
    assert_eq!(l.floats().collect::<Result<Vec<_>, _>>().unwrap(), floats);
    for (i, x) in model.iter().enumerate() {
        assert_eq!(l.get(i).unwrap().as_int().unwrap(), *x);
    }
    let mut out = vec![0i64; 20];
    l.copy_to_slice(5, &mut out).unwrap();
    assert_eq!(out, model[5..25]);
    assert!(matches!(
        l.copy_to_slice(n as usize - 3, &mut out),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        l.copy_to_slice(0, &mut [false; 3]),
        Err(Error::TypeMismatch {
            expected: "bool",
            found: "int"
        })
    ));

    let mut l = turn.list_mut(h).unwrap();
    l.extend_from_slice(&[1.5, -2.0]).unwrap();
    l.extend_from_slice(&[true]).unwrap();
    l.push("tail").unwrap();
    l.extend_from_slice::<i64>(&[]).unwrap();
    let bools: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
    l.extend_from_slice(&bools).unwrap();
    assert_eq!(*l.int_mut(3).unwrap(), model[3]);
    let mut want = ints(&model);
    let Value::List(w) = &mut want else {
        unreachable!()
    };
    w.extend([Value::Float(1.5), Value::Float(-2.0), Value::Bool(true)]);
    w.push(Value::Str("tail".into()));
    w.extend(bools.iter().map(|&b| Value::Bool(b)));
    assert_eq!(l.to_value().unwrap(), want);
    let r = l.as_ref().unwrap();
    let tail = n as usize + 4;
    let mut got = vec![false; bools.len()];
    r.copy_to_slice(tail, &mut got).unwrap();
    assert_eq!(got, bools);
    // The first item that is not a bool ends a bool iteration.
    assert!(matches!(
        r.scalars::<bool>().next(),
        Some(Err(Error::TypeMismatch {
            expected: "bool",
            found: "int"
        }))
    ));
    assert!(r.scalars::<bool>().nth(1).is_none());
    // An item of another type ends a typed iteration with an error (a
    // bool is no float, as for `as_float`).
    let got: Vec<Result<f64, Error>> = r.floats().skip(n as usize).collect();
    assert_eq!(got.len(), 3, "stops at the bool: {got:?}");
    assert!(matches!(
        got[2],
        Err(Error::TypeMismatch {
            expected: "float",
            found: "bool"
        })
    ));
    // Bools count as ints (as `as_int` does).
    let mut one = [0i64];
    r.copy_to_slice(tail, &mut one).unwrap();
    assert_eq!(one, [1]);
    turn.validate().unwrap();
}

/// Out of memory in the bulk paths changes nothing.
#[test]
fn scalar_runs_out_of_memory_change_nothing() {
    let s = seg(64 << 10);
    let mut turn = s.turn().unwrap();
    let h = turn.put_message(&ints(&[1, 2, 3])).unwrap();
    let used = turn.stats().used;
    let big = vec![0i64; 10_000];
    assert!(matches!(
        turn.list_mut(h).unwrap().extend_from_slice(&big),
        Err(Error::OutOfMemory { .. })
    ));
    assert_eq!(turn.get(h).unwrap().to_value().unwrap(), ints(&[1, 2, 3]));
    assert!(matches!(
        turn.put_message_from_slice(&big),
        Err(Error::OutOfMemory { .. })
    ));
    assert_eq!(turn.stats().used, used);
    assert_eq!(turn.take_message().unwrap(), Some(h));
    assert_eq!(turn.take_message().unwrap(), None);
    turn.validate().unwrap();
}
