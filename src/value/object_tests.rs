//! Unit tests of pickled values (kind 21) and objects (kind 22): roundtrip,
//! equality, hashing, freeing, the attribute dict changed in place, and the
//! validator and the views refusing damaged objects.

use crate::format::{SEQ_SLOTS, Slot, T_BYTES, T_DICT, T_LIST, T_STR, payload};
use crate::segment::Offset;
use crate::{Error, Handle, Segment, Turn, Value, ValueRef};

fn seg() -> Segment {
    crate::test_segment(1 << 20)
}

fn own(turn: &mut Turn<'_>, v: &Value) -> Handle {
    let h = turn.put_message(v).unwrap();
    assert_eq!(turn.take_message().unwrap(), Some(h));
    h
}

fn valid(turn: &Turn<'_>) {
    let r = turn.validate().unwrap();
    assert_eq!(r.orphans, 0, "{r:?}");
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn point(x: i64, y: i64) -> Value {
    Value::object(
        "geo.shapes:Point",
        vec![(s("x"), x.into()), (s("y"), y.into())],
    )
}

#[test]
fn pickled_and_objects_round_trip() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let v = Value::List(vec![
        Value::Pickled(b"\x80\x05K\x01.".to_vec()),
        Value::Pickled(Vec::new()),
        point(1, 2),
        Value::object(
            "m:Box",
            vec![
                (s("items"), value!([1, [2, 3], {"k": (4, 5)}])),
                (s("inner"), point(3, 4)),
                (s("blob"), Value::Pickled(vec![7; 300])),
            ],
        ),
        Value::object("m:Empty", vec![]),
    ]);
    let h = own(&mut turn, &v);
    valid(&turn);
    let got = turn.get(h).unwrap();
    assert_eq!(got.to_value().unwrap(), v);
    let l = got.as_list().unwrap();
    assert_eq!(l.get(0).unwrap().as_pickled().unwrap(), b"\x80\x05K\x01.");
    assert_eq!(l.get(0).unwrap().type_name(), "pickled object");
    assert!(
        l.get(0).unwrap().as_bytes().is_err(),
        "a pickle is not bytes"
    );
    let p = l.get(2).unwrap().as_object().unwrap();
    assert_eq!(p.class(), "geo.shapes:Point");
    assert_eq!(p.attrs().len(), 2);
    assert_eq!(
        p.attrs().get(&s("y")).unwrap().unwrap().as_int().unwrap(),
        2
    );
    assert_eq!(p.to_value().unwrap(), point(1, 2));
    assert!(matches!(
        l.get(1).unwrap().as_object(),
        Err(Error::TypeMismatch { .. })
    ));
    let b = l.get(3).unwrap().as_object().unwrap();
    let inner = b.attrs().get(&s("inner")).unwrap().unwrap();
    assert_eq!(inner.as_object().unwrap().class(), "geo.shapes:Point");
    assert_eq!(l.get(4).unwrap().as_object().unwrap().attrs().len(), 0);
    // The object and its attribute dict have handles of their own.
    let oh = l.get(2).unwrap().handle().expect("an object has a handle");
    assert_eq!(turn.get(oh).unwrap().to_value().unwrap(), point(1, 2));
}

#[test]
fn equality_is_class_and_attributes() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let h = own(
        &mut turn,
        &Value::List(vec![point(1, 2), Value::Pickled(vec![1, 2])]),
    );
    let h2 = own(
        &mut turn,
        &Value::List(vec![point(1, 2), Value::Pickled(vec![1, 2])]),
    );
    let l = turn.get(h).unwrap().as_list().unwrap();
    let p = l.get(0).unwrap();
    assert!(p.py_eq(&point(1, 2)).unwrap());
    // Attribute order does not matter; 1 == 1.0 as in any dict.
    let swapped = Value::object(
        "geo.shapes:Point",
        vec![(s("y"), 2.into()), (s("x"), Value::Float(1.0))],
    );
    assert!(p.py_eq(&swapped).unwrap());
    assert!(!p.py_eq(&point(1, 3)).unwrap());
    let other_class = Value::object(
        "geo.shapes:Vec",
        vec![(s("x"), 1.into()), (s("y"), 2.into())],
    );
    assert!(!p.py_eq(&other_class).unwrap());
    assert!(!p.py_eq(&value!({"x": 1, "y": 2})).unwrap(), "not a dict");
    let q = l.get(1).unwrap();
    assert!(q.py_eq(&Value::Pickled(vec![1, 2])).unwrap());
    assert!(!q.py_eq(&Value::Pickled(vec![1, 3])).unwrap());
    assert!(!q.py_eq(&Value::Bytes(vec![1, 2])).unwrap(), "not bytes");
    // Two objects in the segment compare too (list equality walks them).
    let a = turn.get(h).unwrap();
    let b = turn.get(h2).unwrap();
    assert!(crate::value::eq::eq(a, b, 0).unwrap());
    // Ordering is Python's: objects and pickles have none.
    assert!(matches!(
        p.py_lt(&l.get(0).unwrap()),
        Err(Error::TypeMismatch { .. })
    ));
    // Owned values: structural PartialEq.
    assert_eq!(point(1, 2), point(1, 2));
    assert_ne!(point(1, 2), swapped);
}

#[test]
fn objects_and_pickles_are_unhashable() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let h = own(&mut turn, &Value::dict());
    let mut d = turn.dict_mut(h).unwrap();
    for k in [
        point(1, 2),
        Value::Pickled(vec![1]),
        Value::Tuple(vec![point(0, 0)]),
    ] {
        assert!(
            matches!(d.insert(k.clone(), 1), Err(Error::Unhashable { .. })),
            "{k:?}"
        );
    }
    assert!(d.is_empty());
    let e = turn
        .put_message(&Value::Set(vec![point(1, 2)]))
        .unwrap_err();
    assert!(matches!(e, Error::Unhashable { kind: "object" }), "{e}");
    let e = turn
        .put_message(&Value::FrozenSet(vec![Value::Pickled(vec![])]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unhashable {
                kind: "pickled object"
            }
        ),
        "{e}"
    );
    valid(&turn);
}

#[test]
fn freeing_frees_the_class_and_the_attributes() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let first = own(&mut turn, &Value::None); // the queue's ring exists from here on
    turn.free(first).unwrap();
    let base = turn.stats();
    let v = Value::object(
        "m:Big",
        vec![
            (s("xs"), Value::List((0..100).map(Value::from).collect())),
            (s("name"), s(&"n".repeat(200))),
            (s("p"), Value::Pickled(vec![9; 2000])),
            (s("inner"), point(1, 2)),
        ],
    );
    let h = own(&mut turn, &v);
    assert!(turn.stats().blocks > base.blocks + 5);
    turn.free(h).unwrap();
    assert_eq!(turn.stats().used, base.used);
    assert_eq!(turn.stats().blocks, base.blocks);
    // Overwriting a slot that owns an object frees it too.
    let h = own(&mut turn, &value!([0]));
    let with_list = turn.stats();
    turn.list_mut(h).unwrap().set(0, v.clone()).unwrap();
    turn.list_mut(h)
        .unwrap()
        .set(0, Value::Pickled(vec![1; 500]))
        .unwrap();
    turn.list_mut(h).unwrap().set(0, 0).unwrap();
    assert_eq!(turn.stats().used, with_list.used);
    valid(&turn);
}

#[test]
fn attributes_change_in_place() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let h = own(
        &mut turn,
        &Value::object(
            "m:Counter",
            vec![(s("n"), 0.into()), (s("xs"), value!([1]))],
        ),
    );
    for _ in 0..10 {
        *turn.attrs_mut(h).unwrap().int_mut(&s("n")).unwrap() += 1;
    }
    {
        let mut a = turn.attrs_mut(h).unwrap();
        a.list_mut(&s("xs")).unwrap().push(2).unwrap();
        a.insert(s("label"), "ten").unwrap();
    }
    let o = turn.get(h).unwrap().as_object().unwrap();
    assert_eq!(o.class(), "m:Counter");
    let a = o.attrs();
    assert_eq!(a.get(&s("n")).unwrap().unwrap().as_int().unwrap(), 10);
    assert_eq!(
        a.get(&s("label")).unwrap().unwrap().as_str().unwrap(),
        "ten"
    );
    // The attribute dict's own handle opens it like any dict.
    let ah = a.handle().unwrap();
    assert_eq!(
        turn.dict_mut(ah).unwrap().to_value().unwrap(),
        value!({"n": 10, "xs": [1, 2], "label": "ten"})
    );
    // Objects inside a list and a dict.
    let lh = own(
        &mut turn,
        &Value::List(vec![point(0, 0), Value::Dict(vec![(s("p"), point(5, 5))])]),
    );
    {
        let mut l = turn.list_mut(lh).unwrap();
        *l.attrs_mut(0).unwrap().int_mut(&s("x")).unwrap() = 7;
        let mut d = l.dict_mut(1).unwrap();
        *d.attrs_mut(&s("p")).unwrap().int_mut(&s("y")).unwrap() += 1;
        assert!(matches!(l.attrs_mut(1), Err(Error::TypeMismatch { .. })));
    }
    assert_eq!(
        turn.get(lh).unwrap().to_value().unwrap(),
        Value::List(vec![point(7, 0), Value::Dict(vec![(s("p"), point(5, 6))])])
    );
    // Not an object.
    assert!(matches!(
        turn.attrs_mut(lh),
        Err(Error::TypeMismatch { .. })
    ));
    valid(&turn);
    // A freed object's handles are stale.
    turn.free(h).unwrap();
    assert!(matches!(turn.attrs_mut(h), Err(Error::StaleHandle { .. })));
    assert!(matches!(turn.dict_mut(ah), Err(Error::StaleHandle { .. })));
}

#[test]
fn bad_class_paths_are_refused_when_written() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let before = turn.stats();
    for class in [String::new(), "x".repeat(1025)] {
        let e = turn
            .put_message(&Value::List(vec![
                1.into(),
                Value::object(class, vec![(s("a"), value!([1]))]),
            ]))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidObject { .. }), "{e}");
    }
    assert_eq!(turn.stats().used, before.used, "nothing left behind");
    own(&mut turn, &Value::object("x".repeat(1024), vec![]));
    valid(&turn);
}

/// The object block of the first item of the list `h`.
fn first_item(turn: &Turn<'_>, h: Handle) -> Offset {
    let heap = turn.heap();
    let l = crate::format::list::ListLayout::read(&heap, h.offset).unwrap();
    let s = Slot::read(&heap.mem, l.slot(&heap, 0).unwrap()).unwrap();
    Offset::new(s.payload)
}

#[test]
fn the_validator_and_the_views_refuse_damaged_objects() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let h = own(&mut turn, &Value::List(vec![point(1, 2)]));
    valid(&turn);
    let b = first_item(&turn, h);
    let m = turn.heap().mem;
    let class_slot = b.add(SEQ_SLOTS);
    let attrs_slot = b.add(SEQ_SLOTS + 16);
    let class_block = Offset::new(m.u64(class_slot.add(8)).unwrap());
    let tag = |t: u8| t as u64;
    type Poke = (Offset, u64, &'static str);
    let pokes: [Poke; 9] = [
        (payload(b), 1, "one slot"),
        (payload(b), 3, "three slots"),
        (payload(b).add(8), 5, "reserved word"),
        (class_slot, tag(T_BYTES), "class slot says bytes"),
        (class_slot, tag(T_DICT), "class slot says dict"),
        (attrs_slot, tag(T_LIST), "attrs slot says list"),
        (attrs_slot, tag(T_STR), "attrs slot says str"),
        (payload(class_block), 0, "empty class path"),
        (payload(class_block), 5000, "class path past its block"),
    ];
    for (at, v, what) in pokes {
        let old = m.u64(at).unwrap();
        m.set_u64(at, v).unwrap();
        let e = turn.validate().expect_err(what);
        assert!(matches!(e, Error::Corrupt { .. }), "{what}: {e}");
        m.set_u64(at, old).unwrap();
        valid(&turn);
        if what == "reserved word" {
            continue; // the validator's check alone, as for tuples
        }
        // Reading it back is an error too, never a panic or garbage.
        m.set_u64(at, v).unwrap();
        let read = turn.get(h).and_then(|l| l.as_list()?.get(0).map(|_| ()));
        assert!(
            matches!(read, Err(Error::Corrupt { .. })),
            "{what}: {read:?}"
        );
        assert!(
            turn.attrs_mut(turn.heap().handle(b).unwrap()).is_err(),
            "{what}"
        );
        m.set_u64(at, old).unwrap();
        valid(&turn);
    }
    // A class path that is not UTF-8.
    let first = payload(class_block).add(8);
    let old = m.u64(first).unwrap();
    m.set_u64(first, old | 0xff).unwrap();
    assert!(matches!(turn.validate(), Err(Error::Corrupt { .. })));
    assert!(matches!(
        turn.get(h).unwrap().as_list().unwrap().get(0),
        Err(Error::Corrupt { .. })
    ));
    m.set_u64(first, old).unwrap();
    valid(&turn);
}

#[test]
fn a_pickle_is_checked_as_bytes() {
    let sg = seg();
    let mut turn = sg.turn().unwrap();
    let h = own(&mut turn, &Value::List(vec![Value::Pickled(vec![1, 2, 3])]));
    let b = first_item(&turn, h);
    let m = turn.heap().mem;
    let old = m.u64(payload(b)).unwrap();
    m.set_u64(payload(b), 1 << 20).unwrap();
    assert!(matches!(turn.validate(), Err(Error::Corrupt { .. })));
    let read = turn.get(h).unwrap().as_list().unwrap().get(0);
    assert!(matches!(read, Err(Error::Corrupt { .. })), "{read:?}");
    m.set_u64(payload(b), old).unwrap();
    valid(&turn);
    assert!(matches!(
        turn.get(h).unwrap().as_list().unwrap().get(0).unwrap(),
        ValueRef::Pickled(&[1, 2, 3])
    ));
}
