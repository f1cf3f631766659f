//! Arbitrary operations, each cut off at an arbitrary crash point: the
//! injected crash panics at the n-th allocator or journal step, the turn's
//! drop recovers the segment while unwinding (the in-process stand-in for a
//! death and a survivor's recovery), and then the list, the dict and the
//! queue must equal the model either before or after that operation —
//! never anything in between — and the segment must validate with no
//! orphan. (tests/crash.rs does the same with real processes and SIGKILL.)
#![no_main]

use std::collections::{BTreeMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shmheap::__test::{InjectedCrash, panic_after};
use shmheap::{Error, Handle, Segment, Turn, Value};

#[path = "item.rs"]
mod item;
use item::Item;

#[derive(Arbitrary, Debug)]
enum Op {
    Push(Item),
    Insert(u16, Item),
    Remove(u16),
    Set(u16, Item),
    Extend(Vec<Item>),
    Truncate(u16),
    Reverse,
    DictInsert(i8, Item),
    DictRemove(i8),
    DictClear,
    Put(Item),
    Take,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    list: Vec<Value>,
    dict: BTreeMap<i8, Value>,
    queue: VecDeque<Value>,
}

impl Model {
    /// Applies `op` as the segment would if it completed (out-of-range
    /// indices are no-ops, as `run` makes them).
    fn apply(&mut self, op: &Op) {
        let len = self.list.len();
        match op {
            Op::Push(it) => self.list.push(it.value()),
            Op::Insert(i, it) => self.list.insert(*i as usize % (len + 1), it.value()),
            Op::Remove(i) if len > 0 => {
                self.list.remove(*i as usize % len);
            }
            Op::Set(i, it) if len > 0 => self.list[*i as usize % len] = it.value(),
            Op::Extend(items) => self.list.extend(items.iter().map(Item::value)),
            Op::Truncate(n) => self.list.truncate(*n as usize % (len + 1)),
            Op::Reverse => self.list.reverse(),
            Op::DictInsert(k, it) => {
                self.dict.insert(*k, it.value());
            }
            Op::DictRemove(k) => {
                self.dict.remove(k);
            }
            Op::DictClear => self.dict.clear(),
            Op::Put(it) => self.queue.push_back(it.value()),
            Op::Take => {
                self.queue.pop_front();
            }
            Op::Remove(_) | Op::Set(..) => {}
        }
    }
}

fn run(turn: &mut Turn<'_>, list: Handle, dict: Handle, op: &Op) -> Result<(), Error> {
    let len = turn.list_mut(list)?.len();
    match op {
        Op::Push(it) => turn.list_mut(list)?.push(it.value()),
        Op::Insert(i, it) => turn
            .list_mut(list)?
            .insert(*i as usize % (len + 1), it.value()),
        Op::Remove(i) if len > 0 => turn.list_mut(list)?.remove(*i as usize % len).map(drop),
        Op::Set(i, it) if len > 0 => turn.list_mut(list)?.set(*i as usize % len, it.value()),
        Op::Extend(items) => turn.list_mut(list)?.extend(items.iter().map(Item::value)),
        Op::Truncate(n) => turn.list_mut(list)?.truncate(*n as usize % (len + 1)),
        Op::Reverse => turn.list_mut(list)?.reverse(),
        Op::DictInsert(k, it) => turn
            .dict_mut(dict)?
            .insert(Value::Int(*k as i64), it.value())
            .map(drop),
        Op::DictRemove(k) => turn
            .dict_mut(dict)?
            .remove(&Value::Int(*k as i64))
            .map(drop),
        Op::DictClear => turn.dict_mut(dict)?.clear(),
        Op::Put(it) => turn.put_message(&it.value()).map(drop),
        Op::Take => match turn.take_message()? {
            Some(h) => turn.free(h),
            None => Ok(()),
        },
        Op::Remove(_) | Op::Set(..) => Ok(()),
    }
}

/// The shared state, read back (the queue by taking every message and
/// putting it back, which keeps the order).
fn observe(turn: &mut Turn<'_>, list: Handle, dict: Handle) -> Model {
    let Value::List(l) = turn.get(list).unwrap().to_value().unwrap() else {
        panic!("the list is not a list")
    };
    let Value::Dict(d) = turn.get(dict).unwrap().to_value().unwrap() else {
        panic!("the dict is not a dict")
    };
    let dict = d
        .into_iter()
        .map(|(k, v)| match k {
            Value::Int(k) => (k as i8, v),
            other => panic!("dict key {other:?}"),
        })
        .collect();
    let mut taken = Vec::new();
    let mut queue = VecDeque::new();
    while let Some(h) = turn.take_message().unwrap() {
        queue.push_back(turn.get(h).unwrap().to_value().unwrap());
        taken.push(h);
    }
    for h in taken {
        turn.put_handle(h).unwrap();
    }
    Model {
        list: l,
        dict,
        queue,
    }
}

fuzz_target!(|input: Vec<(Op, u8)>| {
    // An injected crash is expected: keep libFuzzer's panic hook (which
    // reports a crash) for every other panic.
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<InjectedCrash>() {
                previous(info);
            }
        }));
    });
    let seg = Segment::options()
        .size(64 << 10)
        .create_in_memory()
        .expect("segment");
    let (list, dict) = {
        let mut turn = seg.turn().expect("turn");
        let list = turn.put_message(&Value::List(vec![])).expect("list");
        let dict = turn.put_message(&Value::dict()).expect("dict");
        turn.take_message().expect("take");
        turn.take_message().expect("take");
        (list, dict)
    };
    let mut model = Model::default();
    for (op, crash) in input.iter().take(100) {
        let mut after = model.clone();
        after.apply(op);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut turn = seg.turn().expect("turn");
            panic_after(*crash as u64);
            let r = run(&mut turn, list, dict, op);
            // (also a crash point: the commit of an operation that failed)
            let v = turn.validate();
            panic_after(0);
            (r, v)
        }));
        panic_after(0);
        let mut turn = seg.turn().expect("turn after the operation");
        let seen = observe(&mut turn, list, dict);
        match r {
            Ok((Ok(()), v)) => {
                v.expect("the segment validates after an operation");
                assert_eq!(seen, after, "after {op:?}");
                model = after;
            }
            Ok((Err(Error::OutOfMemory { .. }), _)) => {
                assert_eq!(seen, model, "out of memory changed the state: {op:?}");
            }
            Ok((Err(e), _)) => panic!("{op:?}: {e}"),
            Err(payload) => {
                assert!(
                    payload.is::<InjectedCrash>(),
                    "a panic that was not injected"
                );
                // Cut off at the crash point: wholly done or wholly undone.
                if seen == after {
                    model = after;
                } else {
                    assert_eq!(seen, model, "half an operation after a crash in {op:?}");
                }
            }
        }
        let report = turn
            .validate()
            .expect("the segment validates after recovery");
        assert_eq!(report.orphans, 0, "{report:?}");
    }
});
