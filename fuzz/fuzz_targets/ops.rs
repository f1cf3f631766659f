//! Arbitrary sequences of operations on a shared list, a shared dict and the
//! message queue, in a small segment (so out of memory happens): after every
//! step the shared values equal a local model and the segment validates.
//! Out of memory must leave everything as it was.
#![no_main]

use std::collections::{BTreeMap, VecDeque};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmheap::{Error, Segment, Value};

#[path = "item.rs"]
mod item;
use item::Item;

#[derive(Arbitrary, Debug)]
enum Op {
    Push(Item),
    Pop,
    Set(u16, Item),
    Insert(u16, Item),
    Remove(u16),
    Truncate(u16),
    Incr(u16),
    AttrIncr(u16),
    Reverse,
    DictInsert(i8, Item),
    DictRemove(i8),
    DictIncr(i8),
    Put(Item),
    Take,
}

fn oom<T>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::OutOfMemory { .. }))
}

fuzz_target!(|ops: Vec<Op>| {
    let seg = Segment::options()
        .size(64 << 10)
        .create_in_memory()
        .expect("segment");
    let mut turn = seg.turn().expect("turn");
    let list = turn.put_message(&Value::List(vec![])).expect("list");
    let dict = turn.put_message(&Value::dict()).expect("dict");
    turn.take_message().expect("take");
    turn.take_message().expect("take");
    let mut l_model: Vec<Value> = Vec::new();
    let mut d_model: BTreeMap<i8, Value> = BTreeMap::new();
    let mut q_model: VecDeque<(shmheap::Handle, Value)> = VecDeque::new();
    for op in ops.iter().take(200) {
        let before = turn.stats();
        let len = l_model.len();
        let mut failed_oom = false;
        match op {
            Op::Push(it) => {
                let r = turn.list_mut(list).unwrap().push(it.value());
                if oom(&r) {
                    failed_oom = true
                } else {
                    r.unwrap();
                    l_model.push(it.value())
                }
            }
            Op::Pop => {
                let r = turn.list_mut(list).unwrap().pop().unwrap();
                assert_eq!(r, l_model.pop());
            }
            Op::Set(i, it) => {
                let i = *i as usize % (len + 1);
                let r = turn.list_mut(list).unwrap().set(i, it.value());
                if i >= len {
                    assert!(matches!(r, Err(Error::IndexOutOfRange { .. })));
                } else if oom(&r) {
                    failed_oom = true
                } else {
                    r.unwrap();
                    l_model[i] = it.value()
                }
            }
            Op::Insert(i, it) => {
                let i = *i as usize % (len + 2);
                let r = turn.list_mut(list).unwrap().insert(i, it.value());
                if i > len {
                    assert!(matches!(r, Err(Error::IndexOutOfRange { .. })));
                } else if oom(&r) {
                    failed_oom = true
                } else {
                    r.unwrap();
                    l_model.insert(i, it.value())
                }
            }
            Op::Remove(i) => {
                let i = *i as usize % (len + 1);
                let r = turn.list_mut(list).unwrap().remove(i);
                if i >= len {
                    assert!(matches!(r, Err(Error::IndexOutOfRange { .. })));
                } else {
                    assert_eq!(r.unwrap(), l_model.remove(i));
                }
            }
            Op::Truncate(n) => {
                let n = *n as usize % (len + 2);
                turn.list_mut(list).unwrap().truncate(n).unwrap();
                l_model.truncate(n);
            }
            Op::Incr(i) => {
                let i = *i as usize % (len + 1);
                let mut l = turn.list_mut(list).unwrap();
                match (l.int_mut(i), l_model.get_mut(i)) {
                    (Ok(x), Some(Value::Int(m))) => {
                        *x += 1;
                        *m += 1
                    }
                    (Err(Error::TypeMismatch { .. }), Some(v)) => {
                        assert!(!matches!(v, Value::Int(_)))
                    }
                    (Err(Error::IndexOutOfRange { .. }), None) => {}
                    (r, m) => panic!("int_mut({i}) gave {r:?}, model {m:?}"),
                }
            }
            Op::AttrIncr(i) => {
                // `+= 1` on the "n" attribute of an object item, in place.
                let i = *i as usize % (len + 1);
                let mut l = turn.list_mut(list).unwrap();
                let n: Value = "n".into();
                match (l.attrs_mut(i), l_model.get_mut(i)) {
                    (Ok(mut a), Some(Value::Object { attrs, .. })) => {
                        *a.int_mut(&n).unwrap() += 1;
                        let (_, Value::Int(m)) = &mut attrs[0] else { panic!("model attrs {attrs:?}") };
                        *m += 1;
                    }
                    (Err(Error::TypeMismatch { .. }), Some(v)) => assert!(!matches!(v, Value::Object { .. })),
                    (Err(Error::IndexOutOfRange { .. }), None) => {}
                    (r, m) => panic!("attrs_mut({i}) gave {:?}, model {m:?}", r.map(|_| ())),
                }
            }
            Op::Reverse => {
                turn.list_mut(list).unwrap().reverse().unwrap();
                l_model.reverse();
            }
            Op::DictInsert(k, it) => {
                let r = turn
                    .dict_mut(dict)
                    .unwrap()
                    .insert(Value::Int(*k as i64), it.value());
                if oom(&r) {
                    failed_oom = true
                } else {
                    assert_eq!(r.unwrap(), d_model.insert(*k, it.value()));
                }
            }
            Op::DictRemove(k) => {
                let r = turn
                    .dict_mut(dict)
                    .unwrap()
                    .remove(&Value::Int(*k as i64))
                    .unwrap();
                assert_eq!(r, d_model.remove(k));
            }
            Op::DictIncr(k) => {
                let mut d = turn.dict_mut(dict).unwrap();
                match (d.int_mut(&Value::Int(*k as i64)), d_model.get_mut(k)) {
                    (Ok(x), Some(Value::Int(m))) => {
                        *x += 1;
                        *m += 1
                    }
                    (Err(Error::TypeMismatch { .. }), Some(v)) => {
                        assert!(!matches!(v, Value::Int(_)))
                    }
                    (Err(Error::KeyNotFound { .. }), None) => {}
                    (r, m) => panic!("dict int_mut({k}) gave {r:?}, model {m:?}"),
                }
            }
            Op::Put(it) => {
                let r = turn.put_message(&it.value());
                if oom(&r) {
                    failed_oom = true
                } else {
                    q_model.push_back((r.unwrap(), it.value()))
                }
            }
            Op::Take => {
                let h = turn.take_message().unwrap();
                match (h, q_model.pop_front()) {
                    (Some(h), Some((mh, v))) => {
                        assert_eq!(h, mh);
                        assert_eq!(turn.get(h).unwrap().to_value().unwrap(), v);
                        turn.free(h).unwrap();
                    }
                    (None, None) => {}
                    (h, m) => panic!("take gave {h:?}, model {m:?}"),
                }
            }
        }
        if failed_oom {
            let after = turn.stats();
            assert_eq!(
                (after.used, after.blocks, after.free),
                (before.used, before.blocks, before.free),
                "out of memory in {op:?} changed the space usage"
            );
        }
        assert_eq!(
            turn.get(list).unwrap().to_value().unwrap(),
            Value::List(l_model.clone())
        );
        let d = turn.get(dict).unwrap().as_dict().unwrap();
        assert_eq!(d.len(), d_model.len());
        for (k, v) in &d_model {
            assert_eq!(
                &d.get(&Value::Int(*k as i64))
                    .unwrap()
                    .unwrap()
                    .to_value()
                    .unwrap(),
                v
            );
        }
        assert_eq!(turn.message_count(), q_model.len());
        let report = turn
            .validate()
            .expect("the segment validates after every step");
        assert_eq!(report.orphans, 0);
    }
});
