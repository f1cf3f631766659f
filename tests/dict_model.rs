//! Model-based tests of the shared dict and set (issue 7).
//!
//! Random sequences of `DictMut` and `SetMut` operations run on a shared
//! dict, a shared set and a second shared set (the shared operand of the set
//! algebra), and on a local model with Python's key semantics: `1`, `1.0`
//! and `True` are one key, `0`, `-0.0` and `False` another, NaN equals
//! nothing (not even itself), a tuple key equals another element-wise, a
//! frozenset by content; lists, dicts, sets and bytearrays are unhashable.
//! After every step the results (values returned, or the kind of error)
//! and the whole dict and sets (in insertion order) must agree. After each
//! sequence the segment validates with no orphans and freeing everything
//! gives back every byte.
//!
//! - In one process: proptest generates the operations, so a failure
//!   shrinks to a short sequence.
//! - In two processes: step `k` is applied by process `k % 2` (this test
//!   binary run as `peer_main` is the other), taking turns through a step
//!   counter in the segment; both generate the same sequence from a seed
//!   and keep their own model replica (as `tests/list_model.rs` does).
//!   One run grows the dict past 10,000 keys, so rehashes and new entry
//!   chunks happen in both processes.
//! - Out of memory: sequences in a 64 KiB segment; an operation that runs
//!   out of memory must leave everything as it was.
//! - Removal-heavy: a million inserts and removes keep the memory in use
//!   bounded (entries and tombstones are reused, the index shrinks).
//! - Millions of keys.
//! - The "done when": 20,000 keys of three types inserted by one
//!   process are found (`1.0` finds `1`), incremented in place and removed
//!   by another; a set likewise.
//!
//! Keys name an existing key of the model in another form ("alias": `1` as
//! `1.0` or `True`, tuples element-wise), so the Python-equality lookups
//! are exercised, not only exact ones.

mod common;

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use common::{Peer, Watchdog, describe, env, env_u64, hear, say, unique_name};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shmheap::{Error, Handle, Members, Segment, Turn, Value};

type Res<T = ()> = Result<T, String>;

const SEC: Duration = Duration::from_secs(1);

trait Ctx<T> {
    fn ctx(self, what: &str) -> Res<T>;
}

impl<T> Ctx<T> for Result<T, Error> {
    fn ctx(self, what: &str) -> Res<T> {
        self.map_err(|e| format!("{what}: {e} ({e:?})"))
    }
}

// ---------------------------------------------------------------------------
// Python's key semantics, for the model.

/// The canonical form of a hashable key: Python-equal keys have the same
/// one. `None` for a key equal to nothing (it holds a NaN) and for an
/// unhashable one (see [`hashable`]).
fn canon(v: &Value) -> Option<String> {
    Some(match v {
        Value::None => "N".into(),
        Value::Bool(b) => format!("n{}", *b as i64),
        Value::Int(i) => format!("n{i}"),
        Value::Float(f) if f.is_nan() => return None,
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => format!("n{}", *f as i64),
        Value::Float(f) => format!("f{:x}", f.to_bits()),
        Value::Str(s) => format!("s{s:?}"),
        Value::Bytes(b) => format!("b{b:?}"),
        Value::Tuple(xs) => {
            let parts: Option<Vec<String>> = xs.iter().map(canon).collect();
            format!("t({})", parts?.join(","))
        }
        Value::FrozenSet(xs) => {
            let mut parts: Vec<String> = xs.iter().map(canon).collect::<Option<_>>()?;
            parts.sort();
            parts.dedup();
            format!("z{{{}}}", parts.join(","))
        }
        _ => return None,
    })
}

/// `v` as a segment stores it: sets and frozen sets hold each member once
/// (the first of equal ones), dicts each key once (first position, last
/// value), recursively.
fn normalize(v: &Value) -> Value {
    let members = |xs: &[Value]| -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        xs.iter()
            .filter(|x| canon(x).is_none_or(|c| seen.insert(c)))
            .map(normalize)
            .collect()
    };
    match v {
        Value::Set(xs) => Value::Set(members(xs)),
        Value::FrozenSet(xs) => Value::FrozenSet(members(xs)),
        Value::Tuple(xs) => Value::Tuple(xs.iter().map(normalize).collect()),
        Value::List(xs) => Value::List(xs.iter().map(normalize).collect()),
        Value::Dict(es) => Value::Dict(Table::from_entries(es).entries().cloned().collect()),
        _ => v.clone(),
    }
}

/// Whether Python can hash `v`.
fn hashable(v: &Value) -> bool {
    match v {
        Value::None
        | Value::Bool(_)
        | Value::Int(_)
        | Value::Float(_)
        | Value::Str(_)
        | Value::Bytes(_) => true,
        Value::Tuple(xs) | Value::FrozenSet(xs) => xs.iter().all(hashable),
        _ => false,
    }
}

/// Structural equality, floats by their bits (NaN equals NaN here: this
/// compares what was stored, not Python values), containers in order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Tuple(x), Value::Tuple(y))
        | (Value::List(x), Value::List(y))
        | (Value::Set(x), Value::Set(y))
        | (Value::FrozenSet(x), Value::FrozenSet(y)) => same_all(x, y),
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        _ => a == b,
    }
}

fn same_all(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// The same key in another form that Python finds equal: ints as floats
/// or bools, integral floats as ints, tuples element-wise.
fn alias(v: &Value, a: u8) -> Value {
    match v {
        Value::Int(i) => match a % 3 {
            1 => Value::Float(*i as f64),
            2 if *i == 0 || *i == 1 => Value::Bool(*i == 1),
            _ => Value::Int(*i),
        },
        Value::Bool(b) => match a % 3 {
            1 => Value::Int(*b as i64),
            2 => Value::Float(*b as i64 as f64),
            _ => Value::Bool(*b),
        },
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 && a % 2 == 1 => {
            Value::Int(*f as i64)
        }
        Value::Tuple(xs) => Value::Tuple(xs.iter().map(|x| alias(x, a)).collect()),
        Value::FrozenSet(xs) => Value::FrozenSet(xs.iter().rev().map(|x| alias(x, a)).collect()),
        _ => v.clone(),
    }
}

// ---------------------------------------------------------------------------
// The model: an insertion-ordered table with Python key equality.

/// Entries in insertion order (removed ones leave `None` until compacted)
/// and an index from canonical keys to positions.
#[derive(Clone, Debug, Default)]
struct Table {
    slots: Vec<Option<(Value, Value)>>,
    index: HashMap<String, usize>,
    live: usize,
}

impl Table {
    fn from_entries(es: &[(Value, Value)]) -> Table {
        let mut t = Table::default();
        for (k, v) in es {
            t.insert(k.clone(), v.clone());
        }
        t
    }

    fn find(&self, k: &Value) -> Option<usize> {
        canon(k).and_then(|c| self.index.get(&c).copied())
    }

    fn get(&self, k: &Value) -> Option<&Value> {
        self.find(k)
            .and_then(|i| self.slots[i].as_ref())
            .map(|(_, v)| v)
    }

    /// Python's `d[k] = v`: the old value if present.
    fn insert(&mut self, k: Value, v: Value) -> Option<Value> {
        self.insert_as_is(normalize(&k), normalize(&v))
    }

    /// As [`Table::insert`], keeping the values as given (an operand of the
    /// set algebra: its values come back in results as they were given).
    fn insert_as_is(&mut self, k: Value, v: Value) -> Option<Value> {
        if let Some(i) = self.find(&k) {
            let slot = self.slots[i].as_mut().expect("indexed slot is live");
            return Some(std::mem::replace(&mut slot.1, v));
        }
        if let Some(c) = canon(&k) {
            self.index.insert(c, self.slots.len());
        }
        self.slots.push(Some((k, v)));
        self.live += 1;
        None
    }

    fn take(&mut self, i: usize) -> (Value, Value) {
        let (k, v) = self.slots[i].take().expect("live slot");
        if let Some(c) = canon(&k) {
            self.index.remove(&c);
        }
        self.live -= 1;
        if self.slots.len() > 64 && self.live * 4 < self.slots.len() {
            let es: Vec<(Value, Value)> = self.entries().cloned().collect();
            *self = Table::from_entries(&es);
        }
        (k, v)
    }

    fn remove(&mut self, k: &Value) -> Option<Value> {
        self.find(k).map(|i| self.take(i).1)
    }

    fn pop_last(&mut self) -> Option<(Value, Value)> {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let i = self.slots.len().checked_sub(1)?;
        Some(self.take(i))
    }

    fn entries(&self) -> impl Iterator<Item = &(Value, Value)> {
        self.slots.iter().flatten()
    }

    fn keys(&self) -> Vec<Value> {
        self.entries().map(|(k, _)| k.clone()).collect()
    }

    fn clear(&mut self) {
        *self = Table::default();
    }
}

/// The distinct members of `vs` (first occurrence), as a table.
fn distinct(vs: &[Value]) -> Table {
    let mut t = Table::default();
    for v in vs {
        if t.find(v).is_none() {
            t.insert(v.clone(), Value::None);
        }
    }
    t
}

/// The distinct members of a local operand, as given.
fn distinct_as_is(vs: &[Value]) -> Table {
    let mut t = Table::default();
    for v in vs {
        if t.find(v).is_none() {
            t.insert_as_is(v.clone(), Value::None);
        }
    }
    t
}

// ---------------------------------------------------------------------------
// Operations.

/// A key: from the palette, or an existing key (of the dict, or of the
/// set for set operations) in an alias form.
#[derive(Clone, Debug)]
enum Key {
    Pal(Value),
    Old(u16, u8),
}

/// The set algebra.
#[derive(Clone, Copy, Debug)]
enum Alg {
    UnionUpdate,
    IntersectionUpdate,
    DifferenceUpdate,
    SymmetricDifferenceUpdate,
    Union,
    Intersection,
    Difference,
    SymmetricDifference,
    IsSubset,
    IsSuperset,
    IsDisjoint,
}

/// The other operand of the set algebra.
#[derive(Clone, Debug)]
enum Operand {
    Local(Vec<Key>),
    /// The second shared set, by handle.
    Other,
    /// The set itself, by handle.
    Own,
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Key, Value),
    Get(Key),
    Contains(Key),
    Remove(Key),
    PopItem,
    SetDefault(Key, Value),
    Update(Vec<(Key, Value)>),
    /// `update` with `n` int keys from `start` (values: the key + 1).
    Bulk(i64, u16),
    /// `remove` of the int keys `start..start + n`.
    BulkRemove(i64, u16),
    Clear,
    IntAdd(Key, i64),
    FloatAdd(Key, f64),
    NestedPush(Key, i64),
    Keys,
    Len,
    SInsert(Key),
    SRemove(Key),
    SContains(Key),
    SPop,
    SClear,
    SExtend(Vec<Key>),
    SAlg(Alg, Operand),
    /// Insert into the second shared set.
    OInsert(Key),
}

#[derive(Clone, Debug)]
enum Opnd {
    Local(Vec<Value>),
    Other,
    Own,
}

#[derive(Clone, Debug)]
enum Call {
    Insert(Value, Value),
    Get(Value),
    Contains(Value),
    Remove(Value),
    PopItem,
    SetDefault(Value, Value),
    Update(Vec<(Value, Value)>),
    BulkRemove(Vec<Value>),
    Clear,
    IntAdd(Value, i64),
    FloatAdd(Value, f64),
    NestedPush(Value, i64),
    Keys,
    Len,
    SInsert(Value),
    SRemove(Value),
    SContains(Value),
    SPop,
    SClear,
    SExtend(Vec<Value>),
    SAlg(Alg, Opnd),
    OInsert(Value),
}

/// The whole model: the dict, the set and the other set.
#[derive(Clone, Debug, Default)]
struct Model {
    dict: Table,
    set: Table,
    other: Table,
}

fn key_of(k: &Key, pool: &Table, fits: Option<fn(&Value) -> bool>) -> Value {
    match k {
        Key::Pal(v) => v.clone(),
        Key::Old(i, a) => {
            let live: Vec<&(Value, Value)> = pool
                .entries()
                .filter(|(_, v)| fits.is_none_or(|f| f(v)))
                .collect();
            if live.is_empty() {
                Value::Int(*i as i64 % 7)
            } else {
                alias(&live[*i as usize % live.len()].0, *a)
            }
        }
    }
}

fn resolve(op: &Op, m: &Model) -> Call {
    let dk = |k: &Key| key_of(k, &m.dict, None);
    let sk = |k: &Key| key_of(k, &m.set, None);
    match op {
        Op::Insert(k, v) => Call::Insert(dk(k), v.clone()),
        Op::Get(k) => Call::Get(dk(k)),
        Op::Contains(k) => Call::Contains(dk(k)),
        Op::Remove(k) => Call::Remove(dk(k)),
        Op::PopItem => Call::PopItem,
        Op::SetDefault(k, v) => Call::SetDefault(dk(k), v.clone()),
        Op::Update(es) => Call::Update(es.iter().map(|(k, v)| (dk(k), v.clone())).collect()),
        Op::Bulk(start, n) => Call::Update(
            (*start..*start + *n as i64)
                .map(|i| (Value::Int(i), Value::Int(i + 1)))
                .collect(),
        ),
        Op::BulkRemove(start, n) => {
            Call::BulkRemove((*start..*start + *n as i64).map(Value::Int).collect())
        }
        Op::Clear => Call::Clear,
        Op::IntAdd(k, d) => {
            Call::IntAdd(key_of(k, &m.dict, Some(|v| matches!(v, Value::Int(_)))), *d)
        }
        Op::FloatAdd(k, d) => Call::FloatAdd(
            key_of(k, &m.dict, Some(|v| matches!(v, Value::Float(_)))),
            *d,
        ),
        Op::NestedPush(k, x) => Call::NestedPush(
            key_of(k, &m.dict, Some(|v| matches!(v, Value::List(_)))),
            *x,
        ),
        Op::Keys => Call::Keys,
        Op::Len => Call::Len,
        Op::SInsert(k) => Call::SInsert(sk(k)),
        Op::SRemove(k) => Call::SRemove(sk(k)),
        Op::SContains(k) => Call::SContains(sk(k)),
        Op::SPop => Call::SPop,
        Op::SClear => Call::SClear,
        Op::SExtend(ks) => Call::SExtend(ks.iter().map(sk).collect()),
        Op::SAlg(a, o) => Call::SAlg(
            *a,
            match o {
                Operand::Local(ks) => Opnd::Local(
                    ks.iter()
                        .enumerate()
                        .map(|(i, k)| {
                            // Half from the set, half from the other set.
                            if i % 2 == 0 {
                                sk(k)
                            } else {
                                key_of(k, &m.other, None)
                            }
                        })
                        .collect(),
                ),
                Operand::Other => Opnd::Other,
                Operand::Own => Opnd::Own,
            },
        ),
        Op::OInsert(k) => Call::OInsert(key_of(k, &m.other, None)),
    }
}

// ---------------------------------------------------------------------------
// Results.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unhashable,
    Missing,
    Type,
    Oom,
    Other,
}

#[derive(Debug)]
enum Out {
    Unit,
    Opt(Option<Value>),
    Pair(Option<(Value, Value)>),
    Val(Value),
    Vals(Vec<Value>),
    B(bool),
    N(usize),
    Err(Kind, #[allow(dead_code)] String),
}

impl Out {
    fn err(e: Error) -> Out {
        let kind = match e {
            Error::Unhashable { .. } => Kind::Unhashable,
            Error::KeyNotFound { .. } => Kind::Missing,
            Error::TypeMismatch { .. } => Kind::Type,
            Error::OutOfMemory { .. } => Kind::Oom,
            _ => Kind::Other,
        };
        Out::Err(kind, format!("{e:?}"))
    }

    fn model(kind: Kind) -> Out {
        Out::Err(kind, "model".into())
    }
}

fn same_out(a: &Out, b: &Out) -> bool {
    let opt = |x: &Option<Value>, y: &Option<Value>| match (x, y) {
        (Some(x), Some(y)) => same(x, y),
        (None, None) => true,
        _ => false,
    };
    match (a, b) {
        (Out::Unit, Out::Unit) => true,
        (Out::Opt(x), Out::Opt(y)) => opt(x, y),
        (Out::Pair(x), Out::Pair(y)) => match (x, y) {
            (Some((k1, v1)), Some((k2, v2))) => same(k1, k2) && same(v1, v2),
            (None, None) => true,
            _ => false,
        },
        (Out::Val(x), Out::Val(y)) => same(x, y),
        (Out::Vals(x), Out::Vals(y)) => same_all(x, y),
        (Out::B(x), Out::B(y)) => x == y,
        (Out::N(x), Out::N(y)) => x == y,
        (Out::Err(x, _), Out::Err(y, _)) => x == y,
        _ => false,
    }
}

impl Model {
    fn operand(&self, o: &Opnd) -> Result<Table, Kind> {
        match o {
            Opnd::Local(vs) if !vs.iter().all(hashable) => Err(Kind::Unhashable),
            Opnd::Local(vs) => Ok(distinct_as_is(vs)),
            Opnd::Other => Ok(self.other.clone()),
            Opnd::Own => Ok(self.set.clone()),
        }
    }

    fn alg(&mut self, a: Alg, o: &Opnd) -> Out {
        let o = match self.operand(o) {
            Ok(o) => o,
            Err(k) => return Out::model(k),
        };
        let set = |t: &Table| t.keys();
        let mine = set(&self.set);
        let theirs = set(&o);
        let in_o = |v: &Value| o.find(v).is_some();
        let in_me = |v: &Value| self.set.find(v).is_some();
        let only_mine: Vec<Value> = mine.iter().filter(|v| !in_o(v)).cloned().collect();
        let only_theirs: Vec<Value> = theirs.iter().filter(|v| !in_me(v)).cloned().collect();
        let both: Vec<Value> = mine.iter().filter(|v| in_o(v)).cloned().collect();
        let rebuild = |vs: Vec<Value>| distinct(&vs);
        match a {
            Alg::UnionUpdate => {
                for v in only_theirs {
                    self.set.insert(v, Value::None);
                }
                Out::Unit
            }
            Alg::IntersectionUpdate => {
                self.set = rebuild(both);
                Out::Unit
            }
            Alg::DifferenceUpdate => {
                self.set = rebuild(only_mine);
                Out::Unit
            }
            Alg::SymmetricDifferenceUpdate => {
                let mut next = only_mine;
                next.extend(only_theirs);
                self.set = rebuild(next);
                Out::Unit
            }
            Alg::Union => {
                let mut all = mine;
                all.extend(only_theirs);
                Out::Val(Value::Set(all))
            }
            Alg::Intersection => Out::Val(Value::Set(both)),
            Alg::Difference => Out::Val(Value::Set(only_mine)),
            Alg::SymmetricDifference => {
                let mut all = only_mine;
                all.extend(only_theirs);
                Out::Val(Value::Set(all))
            }
            Alg::IsSubset => Out::B(mine.iter().all(in_o)),
            Alg::IsSuperset => Out::B(theirs.iter().all(in_me)),
            Alg::IsDisjoint => Out::B(!theirs.iter().any(in_me)),
        }
    }

    fn apply(&mut self, c: &Call) -> Out {
        let unhashable = || Out::model(Kind::Unhashable);
        match c {
            Call::Insert(k, _)
            | Call::Get(k)
            | Call::Contains(k)
            | Call::Remove(k)
            | Call::SetDefault(k, _)
            | Call::IntAdd(k, _)
            | Call::FloatAdd(k, _)
            | Call::NestedPush(k, _)
            | Call::SInsert(k)
            | Call::SRemove(k)
            | Call::SContains(k)
            | Call::OInsert(k)
                if !hashable(k) =>
            {
                return unhashable();
            }
            Call::Update(es) if !es.iter().all(|(k, _)| hashable(k)) => return unhashable(),
            Call::SExtend(vs) if !vs.iter().all(hashable) => return unhashable(),
            _ => {}
        }
        match c {
            Call::Insert(k, v) => Out::Opt(self.dict.insert(k.clone(), v.clone())),
            Call::Get(k) => Out::Opt(self.dict.get(k).cloned()),
            Call::Contains(k) => Out::B(self.dict.get(k).is_some()),
            Call::Remove(k) => Out::Opt(self.dict.remove(k)),
            Call::PopItem => Out::Pair(self.dict.pop_last()),
            Call::SetDefault(k, v) => {
                if let Some(x) = self.dict.get(k) {
                    return Out::Val(x.clone());
                }
                self.dict.insert(k.clone(), v.clone());
                Out::Val(normalize(v))
            }
            Call::Update(es) => {
                for (k, v) in es {
                    self.dict.insert(k.clone(), v.clone());
                }
                Out::Unit
            }
            Call::BulkRemove(ks) => {
                Out::Vals(ks.iter().filter_map(|k| self.dict.remove(k)).collect())
            }
            Call::Clear => {
                self.dict.clear();
                Out::Unit
            }
            Call::IntAdd(k, d) => match self.dict.find(k) {
                None => Out::model(Kind::Missing),
                Some(i) => match &mut self.dict.slots[i].as_mut().expect("live").1 {
                    Value::Int(x) => {
                        *x += d;
                        Out::Val(Value::Int(*x))
                    }
                    _ => Out::model(Kind::Type),
                },
            },
            Call::FloatAdd(k, d) => match self.dict.find(k) {
                None => Out::model(Kind::Missing),
                Some(i) => match &mut self.dict.slots[i].as_mut().expect("live").1 {
                    Value::Float(x) => {
                        *x += d;
                        Out::Val(Value::Float(*x))
                    }
                    _ => Out::model(Kind::Type),
                },
            },
            Call::NestedPush(k, x) => match self.dict.find(k) {
                None => Out::model(Kind::Missing),
                Some(i) => match &mut self.dict.slots[i].as_mut().expect("live").1 {
                    Value::List(l) => {
                        l.push(Value::Int(*x));
                        Out::Val(Value::List(l.clone()))
                    }
                    _ => Out::model(Kind::Type),
                },
            },
            Call::Keys => Out::Vals(self.dict.keys()),
            Call::Len => Out::N(self.dict.live),
            Call::SInsert(k) => Out::B(self.set.insert(k.clone(), Value::None).is_none()),
            Call::SRemove(k) => Out::B(self.set.remove(k).is_some()),
            Call::SContains(k) => Out::B(self.set.find(k).is_some()),
            Call::SPop => Out::Opt(self.set.pop_last().map(|(k, _)| k)),
            Call::SClear => {
                self.set.clear();
                Out::Unit
            }
            Call::SExtend(vs) => {
                for v in vs {
                    if self.set.find(v).is_none() {
                        self.set.insert(v.clone(), Value::None);
                    }
                }
                Out::Unit
            }
            Call::SAlg(a, o) => self.alg(*a, o),
            Call::OInsert(k) => Out::B(self.other.insert(k.clone(), Value::None).is_none()),
        }
    }
}

// ---------------------------------------------------------------------------
// The shared side.

#[derive(Clone, Copy, Debug)]
struct Handles {
    dict: Handle,
    set: Handle,
    other: Handle,
    /// `[step]`: the step counter of the split runs.
    ctl: Handle,
}

impl Handles {
    fn to_env(self) -> String {
        [self.dict, self.set, self.other, self.ctl]
            .iter()
            .map(|h| format!("{}:{}", h.offset(), h.generation()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn from_env(s: &str) -> Res<Handles> {
        let hs: Vec<Handle> = s
            .split(',')
            .map(|p| {
                let (o, g) = p.split_once(':').ok_or("bad handle")?;
                Ok(Handle::from_raw(
                    o.parse().map_err(|_| "bad offset")?,
                    g.parse().map_err(|_| "bad generation")?,
                ))
            })
            .collect::<Result<_, &str>>()?;
        let [dict, set, other, ctl] = hs[..] else {
            return Err(format!("expected 4 handles, got {s:?}"));
        };
        Ok(Handles {
            dict,
            set,
            other,
            ctl,
        })
    }
}

fn o<T>(r: Result<T, Error>, f: impl FnOnce(T) -> Out) -> Out {
    match r {
        Ok(t) => f(t),
        Err(e) => Out::err(e),
    }
}

fn real(turn: &mut Turn<'_>, hs: &Handles, c: &Call) -> Out {
    let unit = |()| Out::Unit;
    if let Call::SAlg(a, opnd) = c {
        let members = match opnd {
            Opnd::Local(vs) => Members::from(vs.clone()),
            Opnd::Other => Members::from(hs.other),
            Opnd::Own => Members::from(hs.set),
        };
        let mut s = match turn.set_mut(hs.set) {
            Ok(s) => s,
            Err(e) => return Out::err(e),
        };
        return match a {
            Alg::UnionUpdate => o(s.union_update(members), unit),
            Alg::IntersectionUpdate => o(s.intersection_update(members), unit),
            Alg::DifferenceUpdate => o(s.difference_update(members), unit),
            Alg::SymmetricDifferenceUpdate => o(s.symmetric_difference_update(members), unit),
            Alg::Union => o(s.union(members), Out::Val),
            Alg::Intersection => o(s.intersection(members), Out::Val),
            Alg::Difference => o(s.difference(members), Out::Val),
            Alg::SymmetricDifference => o(s.symmetric_difference(members), Out::Val),
            Alg::IsSubset => o(s.is_subset(members), Out::B),
            Alg::IsSuperset => o(s.is_superset(members), Out::B),
            Alg::IsDisjoint => o(s.is_disjoint(members), Out::B),
        };
    }
    let set_call = matches!(
        c,
        Call::SInsert(_)
            | Call::SRemove(_)
            | Call::SContains(_)
            | Call::SPop
            | Call::SClear
            | Call::SExtend(_)
            | Call::OInsert(_)
    );
    if set_call {
        let h = if matches!(c, Call::OInsert(_)) {
            hs.other
        } else {
            hs.set
        };
        let mut s = match turn.set_mut(h) {
            Ok(s) => s,
            Err(e) => return Out::err(e),
        };
        return match c {
            Call::SInsert(k) | Call::OInsert(k) => o(s.insert(k), Out::B),
            Call::SRemove(k) => o(s.remove(k), Out::B),
            Call::SContains(k) => o(s.contains(k), Out::B),
            Call::SPop => o(s.pop(), Out::Opt),
            Call::SClear => o(s.clear(), unit),
            Call::SExtend(vs) => o(s.extend(vs), unit),
            _ => unreachable!(),
        };
    }
    let mut d = match turn.dict_mut(hs.dict) {
        Ok(d) => d,
        Err(e) => return Out::err(e),
    };
    match c {
        Call::Insert(k, v) => o(d.insert(k, v), Out::Opt),
        Call::Get(k) => o(
            d.get(k).and_then(|v| v.map(|v| v.to_value()).transpose()),
            Out::Opt,
        ),
        Call::Contains(k) => o(d.contains_key(k), Out::B),
        Call::Remove(k) => o(d.remove(k), Out::Opt),
        Call::PopItem => o(d.pop_item(), Out::Pair),
        Call::SetDefault(k, v) => o(d.get_or_insert(k, v).and_then(|v| v.to_value()), Out::Val),
        Call::Update(es) => o(d.update(es.iter().cloned()), unit),
        Call::BulkRemove(ks) => {
            let mut out = Vec::new();
            for k in ks {
                match d.remove(k) {
                    Ok(Some(v)) => out.push(v),
                    Ok(None) => {}
                    Err(e) => return Out::err(e),
                }
            }
            Out::Vals(out)
        }
        Call::Clear => o(d.clear(), unit),
        Call::IntAdd(k, x) => o(
            d.int_mut(k).map(|p| {
                *p += x;
                *p
            }),
            |x| Out::Val(Value::Int(x)),
        ),
        Call::FloatAdd(k, x) => o(
            d.float_mut(k).map(|p| {
                *p += x;
                *p
            }),
            |x| Out::Val(Value::Float(x)),
        ),
        Call::NestedPush(k, x) => o(
            d.list_mut(k).and_then(|mut l| {
                l.push(*x)?;
                l.to_value()
            }),
            Out::Val,
        ),
        Call::Keys => o(
            d.keys()
                .and_then(|ks| ks.map(|k| k.and_then(|k| k.to_value())).collect()),
            Out::Vals,
        ),
        Call::Len => Out::N(d.len()),
        _ => unreachable!("set calls are handled above"),
    }
}

/// Checks the shared dict and sets against the model, in order.
fn check(turn: &Turn<'_>, hs: &Handles, m: &Model) -> Res {
    let want = [
        (
            "dict",
            hs.dict,
            Value::Dict(m.dict.entries().cloned().collect()),
        ),
        ("set", hs.set, Value::Set(m.set.keys())),
        ("other set", hs.other, Value::Set(m.other.keys())),
    ];
    for (what, h, want) in want {
        let got = turn.get(h).and_then(|v| v.to_value()).ctx(what)?;
        if !same(&got, &want) {
            return Err(format!(
                "the shared {what} is {}, the model's {}",
                brief(&got),
                brief(&want)
            ));
        }
    }
    Ok(())
}

fn brief(v: &Value) -> String {
    let s = format!("{v:?}");
    if s.len() > 600 {
        format!("{}... ({} chars)", &s[..600], s.len())
    } else {
        s
    }
}

/// One step on the model and on the shared objects; with `oom_ok` an
/// operation may run out of memory instead, and must then leave everything
/// as it was (the model does not take the step). Returns whether it did.
fn step(turn: &mut Turn<'_>, hs: &Handles, m: &mut Model, op: &Op, oom_ok: bool) -> Res<bool> {
    let call = resolve(op, m);
    let mut next = m.clone();
    let want = next.apply(&call);
    let got = real(turn, hs, &call);
    let oom = oom_ok && matches!(got, Out::Err(Kind::Oom, _));
    if !oom && !same_out(&want, &got) {
        return Err(format!(
            "{op:?} resolved to {call:?}: the model gives {want:?}, the shared side {got:?}"
        ));
    }
    if !oom {
        *m = next;
    }
    check(turn, hs, m).map_err(|e| {
        let what = if oom {
            " (out of memory: must be unchanged)"
        } else {
            ""
        };
        format!("after {op:?} resolved to {call:?}{what}: {e}")
    })?;
    Ok(oom)
}

fn check_segment(turn: &Turn<'_>) -> Res {
    let r = turn.validate().ctx("validate")?;
    if r.orphans != 0 {
        return Err(format!("{} orphan blocks: {r:?}", r.orphans));
    }
    Ok(())
}

fn own(turn: &mut Turn<'_>, v: &Value) -> Res<Handle> {
    let h = turn.put_message(v).ctx("put_message")?;
    let took = turn.take_message().ctx("take_message")?;
    if took != Some(h) {
        return Err(format!("put {h:?}, took {took:?}"));
    }
    Ok(h)
}

struct Setup {
    hs: Handles,
    base: u64,
}

fn setup(turn: &mut Turn<'_>, case: &Case) -> Res<Setup> {
    // The queue ring is allocated by the first put and stays: measure after.
    let first = own(turn, &Value::None)?;
    turn.free(first).ctx("free")?;
    let base = turn.stats().used;
    let dict = own(turn, &Value::Dict(case.dict.clone()))?;
    let set = own(turn, &Value::Set(case.set.clone()))?;
    let other = own(turn, &Value::Set(case.other.clone()))?;
    let ctl = own(turn, &Value::List(vec![Value::Int(0)]))?;
    let hs = Handles {
        dict,
        set,
        other,
        ctl,
    };
    check(turn, &hs, &Model::new(case))?;
    Ok(Setup { hs, base })
}

fn finish(turn: &mut Turn<'_>, su: &Setup) -> Res {
    check_segment(turn)?;
    for h in [su.hs.dict, su.hs.set, su.hs.other, su.hs.ctl] {
        turn.free(h).ctx("free")?;
    }
    let used = turn.stats().used;
    if used != su.base {
        return Err(format!(
            "{used} bytes in use after freeing everything, {} at the start",
            su.base
        ));
    }
    let r = turn.validate().ctx("validate")?;
    if r.orphans != 0 || r.roots != 0 || r.blocks != 1 {
        return Err(format!("after freeing everything: {r:?}"));
    }
    Ok(())
}

impl Model {
    fn new(case: &Case) -> Model {
        Model {
            dict: Table::from_entries(&case.dict),
            set: distinct(&case.set),
            other: distinct(&case.other),
        }
    }
}

// ---------------------------------------------------------------------------
// Generation.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    /// Every operation, small tables.
    Normal,
    /// Bulk inserts dominate: the dict grows past 10,000 keys.
    Grow,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Normal => "normal",
            Profile::Grow => "grow",
        }
    }

    fn parse(s: &str) -> Res<Profile> {
        match s {
            "normal" => Ok(Profile::Normal),
            "grow" => Ok(Profile::Grow),
            _ => Err(format!("unknown profile {s:?}")),
        }
    }
}

#[derive(Clone, Debug)]
struct Case {
    dict: Vec<(Value, Value)>,
    set: Vec<Value>,
    other: Vec<Value>,
    ops: Vec<Op>,
}

fn arb_scalar_key() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => (-3i64..4).prop_map(Value::Int),
        1 => (-(1i64 << 40)..(1i64 << 40)).prop_map(Value::Int),
        2 => any::<bool>().prop_map(Value::Bool),
        2 => (-3i64..4).prop_map(|i| Value::Float(i as f64)),
        2 => prop::sample::select(vec![0.5, -0.0, -1.5, 1e300, f64::INFINITY, f64::NAN])
            .prop_map(Value::Float),
        1 => Just(Value::None),
        3 => prop::sample::select(vec!["", "a", "b", "ab", "é", "a\u{0}", "\u{1F600}"])
            .prop_map(Value::from),
        2 => prop::sample::select(vec![&b""[..], b"a", b"\0", b"ab"])
            .prop_map(|b| Value::Bytes(b.to_vec())),
    ]
    .boxed()
}

/// Keys: mostly hashable, a few unhashable (which must be refused).
fn arb_key_value() -> BoxedStrategy<Value> {
    let tuple = prop::collection::vec(arb_scalar_key(), 0..3).prop_map(Value::Tuple);
    let frozen = prop::collection::vec(arb_scalar_key(), 0..3).prop_map(Value::FrozenSet);
    prop_oneof![
        20 => arb_scalar_key(),
        3 => tuple,
        1 => frozen,
        1 => prop_oneof![
            Just(Value::List(vec![Value::Int(1)])),
            Just(Value::Set(vec![])),
            Just(Value::Dict(vec![])),
            Just(Value::bytearray(*b"a")),
            Just(Value::Tuple(vec![Value::List(vec![])])),
        ],
    ]
    .boxed()
}

fn arb_key() -> BoxedStrategy<Key> {
    prop_oneof![
        2 => arb_key_value().prop_map(Key::Pal),
        3 => (any::<u16>(), any::<u8>()).prop_map(|(i, a)| Key::Old(i, a)),
    ]
    .boxed()
}

/// Values: ints (for `+=`) above all, then every other kind.
fn arb_value() -> BoxedStrategy<Value> {
    let ints = prop::collection::vec((-3i64..4).prop_map(Value::Int), 0..3);
    prop_oneof![
        6 => (-100i64..100).prop_map(Value::Int),
        2 => prop::sample::select(vec![0.5, -2.0, 1e-3]).prop_map(Value::Float),
        1 => Just(Value::None),
        2 => "[a-z]{0,12}".prop_map(Value::Str),
        2 => ints.clone().prop_map(Value::List),
        1 => ints.clone().prop_map(Value::Tuple),
        1 => prop::collection::vec((arb_scalar_key(), (-3i64..4).prop_map(Value::Int)), 0..3)
            .prop_map(Value::Dict),
        1 => prop::collection::vec(arb_scalar_key(), 0..3).prop_map(Value::Set),
        1 => prop::collection::vec(any::<u8>(), 0..4).prop_map(Value::ByteArray),
    ]
    .boxed()
}

fn arb_alg() -> BoxedStrategy<Alg> {
    prop::sample::select(vec![
        Alg::UnionUpdate,
        Alg::IntersectionUpdate,
        Alg::DifferenceUpdate,
        Alg::SymmetricDifferenceUpdate,
        Alg::Union,
        Alg::Intersection,
        Alg::Difference,
        Alg::SymmetricDifference,
        Alg::IsSubset,
        Alg::IsSuperset,
        Alg::IsDisjoint,
    ])
    .boxed()
}

fn arb_op(profile: Profile) -> BoxedStrategy<Op> {
    let k = arb_key;
    let v = arb_value;
    let keys = || prop::collection::vec(arb_key(), 0..5);
    let operand = prop_oneof![
        4 => keys().prop_map(Operand::Local),
        2 => Just(Operand::Other),
        1 => Just(Operand::Own),
    ];
    let grow = profile == Profile::Grow;
    let bulk_n = if grow { 100u16..700 } else { 1u16..40 };
    let bulk_at = if grow { 0i64..200_000 } else { 0i64..20_000 };
    // (weight in Normal, weight in Grow, strategy)
    let table: Vec<(u32, u32, BoxedStrategy<Op>)> = vec![
        (
            10,
            2,
            (k(), v()).prop_map(|(k, v)| Op::Insert(k, v)).boxed(),
        ),
        (5, 2, k().prop_map(Op::Get).boxed()),
        (3, 1, k().prop_map(Op::Contains).boxed()),
        (6, 2, k().prop_map(Op::Remove).boxed()),
        (2, 1, Just(Op::PopItem).boxed()),
        (
            2,
            1,
            (k(), v()).prop_map(|(k, v)| Op::SetDefault(k, v)).boxed(),
        ),
        (
            3,
            1,
            prop::collection::vec((k(), v()), 0..6)
                .prop_map(Op::Update)
                .boxed(),
        ),
        (
            2,
            10,
            (bulk_at.clone(), bulk_n.clone())
                .prop_map(|(s, n)| Op::Bulk(s, n))
                .boxed(),
        ),
        (
            1,
            1,
            (bulk_at, bulk_n)
                .prop_map(|(s, n)| Op::BulkRemove(s, n))
                .boxed(),
        ),
        (1, 0, Just(Op::Clear).boxed()),
        (
            6,
            3,
            (k(), -50i64..50)
                .prop_map(|(k, d)| Op::IntAdd(k, d))
                .boxed(),
        ),
        (
            2,
            1,
            (k(), prop::sample::select(vec![0.5, -1.0, 0.25]))
                .prop_map(|(k, d)| Op::FloatAdd(k, d))
                .boxed(),
        ),
        (
            2,
            1,
            (k(), -3i64..4)
                .prop_map(|(k, x)| Op::NestedPush(k, x))
                .boxed(),
        ),
        (1, 1, Just(Op::Keys).boxed()),
        (1, 1, Just(Op::Len).boxed()),
        (6, 2, k().prop_map(Op::SInsert).boxed()),
        (4, 1, k().prop_map(Op::SRemove).boxed()),
        (3, 1, k().prop_map(Op::SContains).boxed()),
        (1, 1, Just(Op::SPop).boxed()),
        (1, 0, Just(Op::SClear).boxed()),
        (2, 1, keys().prop_map(Op::SExtend).boxed()),
        (
            6,
            2,
            (arb_alg(), operand)
                .prop_map(|(a, o)| Op::SAlg(a, o))
                .boxed(),
        ),
        (3, 1, k().prop_map(Op::OInsert).boxed()),
    ];
    let arms: Vec<(u32, BoxedStrategy<Op>)> = table
        .into_iter()
        .map(|(n, g, s)| (if grow { g } else { n }, s))
        .filter(|(w, _)| *w > 0)
        .collect();
    proptest::strategy::Union::new_weighted(arms).boxed()
}

fn arb_case(profile: Profile, ops: Range<usize>) -> impl Strategy<Value = Case> {
    let hashable_keys = || prop::collection::vec(arb_scalar_key(), 0..8);
    (
        prop::collection::vec((arb_scalar_key(), arb_value()), 0..8),
        hashable_keys(),
        hashable_keys(),
        prop::collection::vec(arb_op(profile), ops),
    )
        .prop_map(|(dict, set, other, ops)| Case {
            dict,
            set,
            other,
            ops,
        })
}

/// The case of `seed`: the same in every process that runs this binary.
fn gen_case(seed: u64, profile: Profile, steps: usize) -> Res<Case> {
    common::seeded(arb_case(profile, steps..steps + 1), seed)
}

fn digest(case: &Case) -> u64 {
    common::digest(case)
}

// ---------------------------------------------------------------------------
// One process.

fn run_single_in(case: &Case, size: u64, oom_ok: bool) -> Res<usize> {
    let seg = Segment::options()
        .size(size)
        .create_in_memory()
        .ctx("in-memory segment")?;
    let mut turn = seg.turn().ctx("turn")?;
    let su = setup(&mut turn, case)?;
    let mut model = Model::new(case);
    let mut ooms = 0;
    for (k, op) in case.ops.iter().enumerate() {
        ooms += step(&mut turn, &su.hs, &mut model, op, oom_ok)
            .map_err(|e| format!("step {k}: {e}"))? as usize;
        if k % 8 == 0 || oom_ok {
            check_segment(&turn).map_err(|e| format!("after step {k} ({op:?}): {e}"))?;
        }
    }
    finish(&mut turn, &su)?;
    Ok(ooms)
}

#[test]
fn dict_and_sets_agree_with_the_model_in_one_process() {
    let _wd = Watchdog::test("dict-model-single");
    // SHMHEAP_DICT_CASES=n runs more (or fewer) sequences.
    let cases = std::env::var("SHMHEAP_DICT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb_case(Profile::Normal, 0..81), |case| {
            run_single_in(&case, 8 << 20, false)
                .map(drop)
                .map_err(TestCaseError::fail)
        })
        .unwrap();
}

/// Bulk-heavy sequences in a 64 KiB segment: operations run out of memory,
/// and each one that does leaves the dict and sets as they were (and the
/// segment: no orphans, every byte back at the end).
#[test]
fn out_of_memory_leaves_everything_as_it_was() {
    let _wd = Watchdog::test("dict-model-oom");
    let ooms = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb_case(Profile::Grow, 0..41), |case| {
            let n = run_single_in(&case, 64 << 10, true).map_err(TestCaseError::fail)?;
            ooms.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    let ooms = ooms.into_inner();
    eprintln!("out of memory: {ooms} operations ran out");
    assert!(ooms > 0, "no operation ran out of memory");
}

// ---------------------------------------------------------------------------
// Two processes.

#[test]
fn peer_main() {
    common::serve_peer(|role| match role {
        "split" => peer_split(),
        "done-when" => peer_done_when(),
        other => Err(format!("unknown role {other}")),
    });
}

struct Part {
    mine: usize,
    max_len: usize,
}

/// This test's side of a split run: the dict and its model.
struct DictSide<'c> {
    case: &'c Case,
    hs: &'c Handles,
    model: Model,
    max_len: usize,
}

impl common::SplitSide for DictSide<'_> {
    fn catch_up(&mut self, k: usize) {
        let call = resolve(&self.case.ops[k], &self.model);
        self.model.apply(&call);
        self.max_len = self.max_len.max(self.model.dict.live);
    }

    fn check(&mut self, turn: &mut Turn<'_>) -> Res {
        check(turn, self.hs, &self.model)
    }

    fn apply(&mut self, turn: &mut Turn<'_>, k: usize) -> Res {
        step(turn, self.hs, &mut self.model, &self.case.ops[k], false)?;
        self.max_len = self.max_len.max(self.model.dict.live);
        Ok(())
    }

    fn check_segment(&mut self, turn: &Turn<'_>) -> Res {
        check_segment(turn)
    }

    fn describe(&self, k: usize) -> String {
        format!("{:?}", self.case.ops[k])
    }
}

fn split_loop(
    seg: &Segment,
    me: usize,
    case: &Case,
    hs: &Handles,
    alive: &mut dyn FnMut() -> Res,
) -> Res<Part> {
    let model = Model::new(case);
    let mut side = DictSide {
        case,
        hs,
        max_len: model.dict.live,
        model,
    };
    let mine = common::split_steps(seg, me, case.ops.len(), hs.ctl, &mut side, alive)?;
    Ok(Part {
        mine,
        max_len: side.max_len,
    })
}

fn peer_split() -> Res<String> {
    let seed = env_u64("SHMHEAP_SEED");
    let profile = Profile::parse(&env("SHMHEAP_PROFILE"))?;
    let steps = env_u64("SHMHEAP_STEPS") as usize;
    let case = gen_case(seed, profile, steps)?;
    let want = env_u64("SHMHEAP_DIGEST");
    if digest(&case) != want {
        return Err(format!(
            "seed {seed} generated another sequence in the peer"
        ));
    }
    let seg = Segment::attach(&env("SHMHEAP_NAME")).ctx("attach")?;
    let hs = Handles::from_env(&env("SHMHEAP_HANDLES"))?;
    let part = split_loop(&seg, 1, &case, &hs, &mut || Ok(()))?;
    Ok(format!("ok {} {}", part.mine, part.max_len))
}

fn run_split(test: &str, seed: u64, profile: Profile, steps: usize) -> usize {
    let case = gen_case(seed, profile, steps).unwrap();
    let name = unique_name(test);
    let seg = Segment::options().size(64 << 20).create(&name).unwrap();
    let su = setup(&mut seg.turn().unwrap(), &case).unwrap();
    let mut peer = Peer::spawn(
        "split",
        &[
            ("SHMHEAP_NAME", name.clone()),
            ("SHMHEAP_SEED", seed.to_string()),
            ("SHMHEAP_PROFILE", profile.name().to_owned()),
            ("SHMHEAP_STEPS", steps.to_string()),
            ("SHMHEAP_DIGEST", digest(&case).to_string()),
            ("SHMHEAP_HANDLES", su.hs.to_env()),
        ],
    );
    let res = split_loop(&seg, 0, &case, &su.hs, &mut || match peer.try_status() {
        None => Ok(()),
        Some(st) => {
            let (_, lines) = peer.finish(SEC);
            Err(format!(
                "the peer exited early ({}); its lines: {lines:?}",
                describe(st)
            ))
        }
    });
    let part = match res {
        Ok(p) => p,
        Err(e) => {
            peer.kill();
            let replay = run_single_in(&case, 64 << 20, false);
            panic!(
                "seed {seed} ({profile:?}, {steps} steps): {e}\nreplayed in one process: {replay:?}"
            );
        }
    };
    let lines = peer.finish_with(0, 30 * SEC);
    let (theirs, their_max) = lines
        .iter()
        .find_map(|l| {
            let mut w = l.strip_prefix("ok ")?.split(' ');
            Some((
                w.next()?.parse::<usize>().ok()?,
                w.next()?.parse::<usize>().ok()?,
            ))
        })
        .unwrap_or_else(|| panic!("the peer did not report; lines {lines:?}"));
    assert_eq!(part.mine, steps.div_ceil(2), "steps of the parent");
    assert_eq!(theirs, steps / 2, "steps of the peer");
    assert_eq!(part.max_len, their_max, "both replicas saw the same sizes");
    let mut turn = seg.turn().unwrap();
    finish(&mut turn, &su).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    part.max_len
}

#[test]
fn dict_and_sets_agree_with_the_model_split_between_two_processes() {
    let _wd = Watchdog::test("dict-model-split");
    let start = Instant::now();
    for seed in 1..=6 {
        run_split("dict-split", seed, Profile::Normal, 200);
    }
    eprintln!("split: 6 seeds x 200 steps in {:?}", start.elapsed());
}

#[test]
fn dict_grows_past_10000_keys_split_between_two_processes() {
    let _wd = Watchdog::test("dict-model-grow");
    let start = Instant::now();
    let max_len = run_split("dict-grow", 0x5eed, Profile::Grow, 160);
    eprintln!(
        "grow: 160 steps, up to {max_len} keys, in {:?}",
        start.elapsed()
    );
    assert!(max_len > 10_000, "the dict reached only {max_len} keys");
}

// ---------------------------------------------------------------------------
// Removal-heavy workloads and millions of keys.

/// A million inserts, each followed by the removal of an older key, keep
/// the live size near 1,000: the memory in use stops growing once the
/// table has reached its working size (entries are reused from the free
/// list, tombstones are cleared, the index is rebuilt in place of growing).
#[test]
fn removal_heavy_workload_stays_bounded() {
    let _wd = Watchdog::test("dict-churn");
    let seg = Segment::options()
        .size(32 << 20)
        .create_in_memory()
        .unwrap();
    let mut turn = seg.turn().unwrap();
    let h = own(&mut turn, &Value::dict()).unwrap();
    let s = own(&mut turn, &Value::set()).unwrap();
    let rounds: i64 = if cfg!(debug_assertions) {
        300_000
    } else {
        1_000_000
    };
    let live = 1_000usize;
    let start = Instant::now();
    let mut plateau = 0;
    let mut keys: Vec<i64> = Vec::with_capacity(live + 1);
    let mut rng = common::Rng(0x5eed);
    for i in 0..rounds {
        {
            let mut d = turn.dict_mut(h).unwrap();
            d.insert(i, i).unwrap();
            keys.push(i);
            if keys.len() > live {
                // Remove a random live key, so removals hit every part of
                // the table (not only the oldest entries).
                let victim = keys.swap_remove(rng.below(keys.len() as u64) as usize);
                assert_eq!(
                    d.remove(&Value::Int(victim)).unwrap(),
                    Some(Value::Int(victim))
                );
            }
        }
        {
            let mut st = turn.set_mut(s).unwrap();
            st.insert(format!("k{i}")).unwrap();
            if i >= live as i64 {
                assert!(
                    st.remove(&Value::from(format!("k{}", i - live as i64)))
                        .unwrap()
                );
            }
        }
        if i == 20 * live as i64 {
            plateau = turn.stats().used;
        }
        if i > 20 * live as i64 && i % 1_000 == 0 {
            let used = turn.stats().used;
            assert!(
                used <= plateau + plateau / 4,
                "memory grew from {plateau} to {used} bytes after {i} rounds"
            );
        }
    }
    assert_eq!(turn.get(h).unwrap().as_dict().unwrap().len(), live);
    assert_eq!(turn.get(s).unwrap().as_set().unwrap().len(), live);
    check_segment(&turn).unwrap();
    eprintln!(
        "churn: {rounds} inserts and removes in a dict and a set in {:?}, {} bytes in use",
        start.elapsed(),
        turn.stats().used
    );
    turn.free(h).unwrap();
    turn.free(s).unwrap();
}

/// Millions of keys (fewer in a debug build): inserted, found, incremented
/// in place (addresses stable across every rehash), removed.
#[test]
fn millions_of_keys() {
    let _wd = Watchdog::test("dict-millions");
    let n: i64 = if cfg!(debug_assertions) {
        1_000_000
    } else {
        4_000_000
    };
    let seg = Segment::options().size(1 << 30).create_in_memory().unwrap();
    let mut turn = seg.turn().unwrap();
    let h = own(&mut turn, &Value::dict()).unwrap();
    let start = Instant::now();
    let mut d = turn.dict_mut(h).unwrap();
    d.insert(0, 0).unwrap();
    let at = d.int_mut(&Value::Int(0)).unwrap() as *mut i64 as usize;
    for i in 1..n {
        d.insert(i, i).unwrap();
    }
    let inserted = start.elapsed();
    assert_eq!(d.len(), n as usize);
    assert_eq!(d.int_mut(&Value::Int(0)).unwrap() as *mut i64 as usize, at);
    for i in 0..n {
        *d.int_mut(&Value::Int(i)).unwrap() += 1;
    }
    assert_eq!(
        d.get(&Value::Float((n - 1) as f64))
            .unwrap()
            .unwrap()
            .as_int()
            .unwrap(),
        n
    );
    for i in (0..n).step_by(2) {
        assert_eq!(d.remove(&Value::Int(i)).unwrap(), Some(Value::Int(i + 1)));
    }
    assert_eq!(d.len(), n as usize / 2);
    check_segment(&turn).unwrap();
    eprintln!(
        "{n} keys: inserted in {inserted:?}, all done in {:?}",
        start.elapsed()
    );
    turn.free(h).unwrap();
}

// ---------------------------------------------------------------------------
// The "done when", across real processes.

const DONE_KEYS: i64 = 20_000;

/// Key `i` of the done-when dict: an int, a str or a tuple (three types;
/// the key 1 is the int 1).
fn done_key(i: i64) -> Value {
    match i % 3 {
        1 => Value::Int(i),
        0 => Value::from(format!("key-{i}")),
        _ => Value::Tuple(vec![Value::Int(i), Value::from("t")]),
    }
}

/// The same key as another process looks it up: ints as floats (`1.0`
/// finds `1`), tuples with a float inside.
fn done_probe(i: i64) -> Value {
    match i % 3 {
        1 => Value::Float(i as f64),
        0 => Value::from(format!("key-{i}")),
        _ => Value::Tuple(vec![Value::Float(i as f64), Value::from("t")]),
    }
}

fn peer_done_when() -> Res<String> {
    let seg = Segment::attach(&env("SHMHEAP_NAME")).ctx("attach")?;
    let hs = Handles::from_env(&env("SHMHEAP_HANDLES"))?;
    {
        let mut turn = seg.turn_timeout(10 * SEC).ctx("turn")?;
        let mut d = turn.dict_mut(hs.dict).ctx("dict_mut")?;
        if d.len() != DONE_KEYS as usize {
            return Err(format!("the dict has {} keys", d.len()));
        }
        let one = d
            .get(&Value::Float(1.0))
            .ctx("get 1.0")?
            .map(|v| v.as_int());
        if !matches!(one, Some(Ok(1))) {
            return Err(format!("1.0 found {one:?}, not the value of the key 1"));
        }
        for i in 0..DONE_KEYS {
            let p = d.int_mut(&done_probe(i)).ctx("int_mut")?;
            if *p != i {
                return Err(format!("key {i} holds {p}"));
            }
            *p += 1_000_000;
        }
        let s = turn.set_mut(hs.set).ctx("set_mut")?;
        if s.len() != DONE_KEYS as usize || !s.contains(&Value::Float(1.0)).ctx("contains")? {
            return Err("the set is not as put".into());
        }
        for i in 0..DONE_KEYS {
            if !s.contains(&done_probe(i)).ctx("contains")? {
                return Err(format!("member {i} not found"));
            }
        }
    }
    say("incremented");
    if hear() != "remove" {
        return Err("no go".into());
    }
    let mut turn = seg.turn_timeout(10 * SEC).ctx("turn")?;
    let mut d = turn.dict_mut(hs.dict).ctx("dict_mut")?;
    for i in 0..DONE_KEYS {
        let v = d.remove(&done_probe(i)).ctx("remove")?;
        if v != Some(Value::Int(i + 1_000_000)) {
            return Err(format!("removing key {i} gave {v:?}"));
        }
    }
    let mut s = turn.set_mut(hs.set).ctx("set_mut")?;
    for i in 0..DONE_KEYS {
        if !s.remove(&done_probe(i)).ctx("remove")? {
            return Err(format!("member {i} was not removed"));
        }
    }
    check_segment(&turn)?;
    Ok("removed".into())
}

#[test]
fn done_when_another_process_finds_increments_and_removes_20000_keys() {
    let _wd = Watchdog::test("dict-done-when");
    let name = unique_name("dict-done");
    let seg = Segment::options().size(64 << 20).create(&name).unwrap();
    let hs = {
        let mut turn = seg.turn().unwrap();
        let dict = own(&mut turn, &Value::dict()).unwrap();
        let set = own(&mut turn, &Value::set()).unwrap();
        let other = own(&mut turn, &Value::set()).unwrap();
        let ctl = own(&mut turn, &Value::List(vec![])).unwrap();
        let mut d = turn.dict_mut(dict).unwrap();
        for i in 0..DONE_KEYS {
            assert_eq!(d.insert(done_key(i), i).unwrap(), None);
        }
        let mut s = turn.set_mut(set).unwrap();
        for i in 0..DONE_KEYS {
            assert!(s.insert(done_key(i)).unwrap());
        }
        Handles {
            dict,
            set,
            other,
            ctl,
        }
    };
    let mut peer = Peer::spawn(
        "done-when",
        &[
            ("SHMHEAP_NAME", name.clone()),
            ("SHMHEAP_HANDLES", hs.to_env()),
        ],
    );
    peer.expect("incremented", 60 * SEC);
    {
        let turn = seg.turn().unwrap();
        let d = turn.get(hs.dict).unwrap().as_dict().unwrap();
        for i in 0..DONE_KEYS {
            let v = d.get(&done_key(i)).unwrap().map(|v| v.as_int().unwrap());
            assert_eq!(v, Some(i + 1_000_000), "key {i}");
        }
    }
    peer.send("remove");
    let lines = peer.finish_with(0, 60 * SEC);
    assert!(lines.iter().any(|l| l == "removed"), "{lines:?}");
    let mut turn = seg.turn().unwrap();
    assert!(turn.get(hs.dict).unwrap().as_dict().unwrap().is_empty());
    assert!(turn.get(hs.set).unwrap().as_set().unwrap().is_empty());
    check_segment(&turn).unwrap();
    for h in [hs.dict, hs.set, hs.other, hs.ctl] {
        turn.free(h).unwrap();
    }
}
