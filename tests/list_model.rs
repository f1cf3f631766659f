//! Model-based tests of the shared list (issue 3).
//!
//! Random sequences of every `ListMut` operation run on a shared list and
//! on a `Vec<Value>` model, and the two must agree after every step: the
//! operation's result (the values it returns, or the kind of its error) and
//! the whole list. After each sequence the segment is validated (no orphan
//! blocks) and freeing the list gives back every byte it used.
//!
//! - In one process: a proptest whose strategy generates the operations
//!   themselves, so a failure shrinks to a short sequence.
//! - In two processes: step `k` of a sequence is applied by process `k % 2`
//!   (the parent, or a peer: this test binary run as `peer_main`), taking
//!   turns through a step counter in the segment. Both processes generate
//!   the same sequence from a seed (proptest's ChaCha generator seeded with
//!   it, run on the same strategy: identical in both, which a digest of the
//!   sequence passed to the peer checks). Each process keeps its own model
//!   replica, applies every step to it (the other's steps when it sees the
//!   counter moved), and checks the shared list against it both after the
//!   other process's steps and after its own. One run grows the list past
//!   10,000 items, so chunk growth happens in both processes.
//!
//! - Out of memory: the same kind of sequences in a 64 KiB segment; an
//!   operation that runs out of memory must leave the list as it was.
//!
//! Operations are abstract ([`Op`]): indices and ranges are resolved against
//! the model's length when the step runs (about 10% of them out of range on
//! purpose; the in-place mutators mostly aim at an item of their type), and
//! a needle may be a copy of an item. Resolution uses only the model, so
//! both processes resolve a step the same way.
//!
//! Values come from a per-sequence palette: one orderable class (numbers,
//! str, bytes/bytearray, tuples of ints, lists of ints), so that `sort`
//! succeeds until something else gets in, or all of them mixed with None,
//! dicts and sets. Ints stay far below 2^53 and floats are finite, so the
//! model's Python equality and ordering are exact (see [`py_eq`],
//! [`Model::sort`]).
//!
//! Everything that could hang is bounded as in `tests/multiprocess.rs`:
//! watchdogs on the tests, the peer's own watchdog, timeouts on turns and
//! on waiting for the other process's step.

mod common;

use std::cmp::Ordering;
use std::ops::{Bound, Range};
use std::time::{Duration, Instant};

use common::{Peer, Watchdog, describe, env, env_u64, unique_name};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shmheap::{Error, Handle, ListMut, Segment, Turn, Value};

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
// Operations.

/// An index, resolved against the list's length when the step runs.
#[derive(Clone, Copy, Debug)]
struct Ix {
    raw: u16,
    /// Past the end on purpose.
    oob: bool,
}

impl Ix {
    /// An item index: `0..len`, or (out of range) `len..len + 3`.
    fn at(self, len: usize) -> usize {
        if self.oob || len == 0 {
            len + self.raw as usize % 3
        } else {
            self.raw as usize % len
        }
    }

    /// A position between items: `0..=len`, or (out of range) past it.
    fn at_incl(self, len: usize) -> usize {
        if self.oob {
            len + 1 + self.raw as usize % 3
        } else {
            self.raw as usize % (len + 1)
        }
    }
}

/// A range, resolved against the list's length when the step runs, written
/// with every kind of bound.
#[derive(Clone, Copy, Debug)]
struct Span {
    a: u16,
    b: u16,
    start: u8,
    end: u8,
    /// End past the list, or start after end, on purpose.
    oob: bool,
}

type Bounds = (Bound<usize>, Bound<usize>);

impl Span {
    fn at(self, len: usize) -> Bounds {
        use Bound::*;
        let x = self.a as usize % (len + 1);
        let y = self.b as usize % (len + 1);
        let (mut s, mut e) = (x.min(y), x.max(y));
        if self.oob {
            if self.a.is_multiple_of(2) {
                e = len + 1 + self.b as usize % 2;
            } else {
                s = e + 1 + self.b as usize % 2;
            }
        }
        let start = match self.start % 3 {
            1 if s > 0 => Excluded(s - 1),
            2 if s == 0 => Unbounded,
            _ => Included(s),
        };
        let end = match self.end % 3 {
            1 if e > 0 => Included(e - 1),
            2 if e == len => Unbounded,
            _ => Excluded(e),
        };
        (start, end)
    }
}

/// What `extend_from` reads.
#[derive(Clone, Copy, Debug)]
enum Src {
    /// The list itself (`l += l`).
    Own,
    /// A tuple message.
    Tuple,
    /// A dict message (its keys).
    Dict,
    /// A frozen set message (its members).
    Set,
    /// A str message: not a sequence (TypeMismatch).
    Str,
    /// A freed message (StaleHandle).
    Stale,
    /// The object at an item of the list (`item_handle`).
    Item(Ix),
}

/// The value that `index_of`, `count` and `contains` look for.
#[derive(Clone, Debug)]
enum Needle {
    Val(Value),
    /// A copy of an item (a sure hit).
    Item(Ix),
}

/// One step, abstract: indices and ranges are resolved at run time.
#[derive(Clone, Debug)]
enum Op {
    Get(Ix),
    Set(Ix, Value),
    Push(Value),
    Pop,
    Insert(Ix, Value),
    Remove(Ix),
    Extend(Vec<Value>),
    ExtendFrom(Src),
    Clear,
    Truncate(Ix),
    Swap(Ix, Ix),
    Reverse,
    Sort,
    SortReverse,
    Splice(Span, Vec<Value>),
    SetRange(Span, Vec<Value>),
    Drain(Span),
    DeleteRange(Span),
    GetRange(Span),
    Repeat(usize),
    /// `*int_mut(i) += k`.
    IntAdd(Ix, i64),
    /// `*float_mut(i) += k`.
    FloatAdd(Ix, f64),
    /// `*bool_mut(i) = !*bool_mut(i)`.
    BoolFlip(Ix),
    /// `bytes_mut(i).extend_from_slice(b)`.
    BytesExtend(Ix, Vec<u8>),
    /// `list_mut(i).push(k)`.
    NestedPush(Ix, i64),
    IndexOf(Needle),
    Count(Needle),
    Contains(Needle),
    ToValue,
}

/// `extend_from`'s source, resolved.
#[derive(Clone, Copy, Debug)]
enum Source {
    Own,
    Tuple,
    Dict,
    Set,
    Str,
    Stale,
    Item(usize),
}

/// One step, concrete: what both the model and the shared list are given.
#[derive(Clone, Debug)]
enum Call {
    Get(usize),
    Set(usize, Value),
    Push(Value),
    Pop,
    Insert(usize, Value),
    Remove(usize),
    Extend(Vec<Value>),
    ExtendFrom(Source),
    Clear,
    Truncate(usize),
    Swap(usize, usize),
    Reverse,
    Sort,
    SortReverse,
    Splice(Bounds, Vec<Value>),
    SetRange(Bounds, Vec<Value>),
    Drain(Bounds),
    DeleteRange(Bounds),
    GetRange(Bounds),
    Repeat(usize),
    IntAdd(usize, i64),
    FloatAdd(usize, f64),
    BoolFlip(usize),
    BytesExtend(usize, Vec<u8>),
    NestedPush(usize, i64),
    IndexOf(Value),
    Count(Value),
    Contains(Value),
    ToValue,
}

/// Resolves `op` against the model. Growth by repetition is capped at
/// `max_len` items (a `repeat` that would pass it repeats once, an `l += l`
/// extends from the tuple instead) so that long sequences stay small.
fn resolve(op: &Op, m: &Model, max_len: usize) -> Call {
    let len = m.items.len();
    let needle = |n: &Needle| match n {
        Needle::Val(v) => v.clone(),
        Needle::Item(ix) if len > 0 => m.items[ix.raw as usize % len].clone(),
        Needle::Item(_) => Value::None,
    };
    // For the in-place mutators: three times in four (when the index is
    // not out of range on purpose) an item of the type they need, if any.
    let typed = |ix: &Ix, fits: fn(&Value) -> bool| {
        if !ix.oob && !ix.raw.is_multiple_of(4) {
            let hits: Vec<usize> = (0..len).filter(|&i| fits(&m.items[i])).collect();
            if !hits.is_empty() {
                return hits[(ix.raw / 4) as usize % hits.len()];
            }
        }
        ix.at(len)
    };
    match op {
        Op::Get(i) => Call::Get(i.at(len)),
        Op::Set(i, v) => Call::Set(i.at(len), v.clone()),
        Op::Push(v) => Call::Push(v.clone()),
        Op::Pop => Call::Pop,
        Op::Insert(i, v) => Call::Insert(i.at_incl(len), v.clone()),
        Op::Remove(i) => Call::Remove(i.at(len)),
        Op::Extend(vs) => Call::Extend(vs.clone()),
        Op::ExtendFrom(s) => Call::ExtendFrom(match s {
            Src::Own if 2 * len > max_len => Source::Tuple,
            Src::Own => Source::Own,
            Src::Tuple => Source::Tuple,
            Src::Dict => Source::Dict,
            Src::Set => Source::Set,
            Src::Str => Source::Str,
            Src::Stale => Source::Stale,
            Src::Item(i) => Source::Item(i.at(len)),
        }),
        Op::Clear => Call::Clear,
        Op::Truncate(i) => Call::Truncate(i.at_incl(len)),
        Op::Swap(i, j) => Call::Swap(i.at(len), j.at(len)),
        Op::Reverse => Call::Reverse,
        Op::Sort => Call::Sort,
        Op::SortReverse => Call::SortReverse,
        Op::Splice(r, vs) => Call::Splice(r.at(len), vs.clone()),
        Op::SetRange(r, vs) => Call::SetRange(r.at(len), vs.clone()),
        Op::Drain(r) => Call::Drain(r.at(len)),
        Op::DeleteRange(r) => Call::DeleteRange(r.at(len)),
        Op::GetRange(r) => Call::GetRange(r.at(len)),
        Op::Repeat(n) if n * len > max_len => Call::Repeat(1),
        Op::Repeat(n) => Call::Repeat(*n),
        Op::IntAdd(i, k) => Call::IntAdd(typed(i, |v| matches!(v, Value::Int(_))), *k),
        Op::FloatAdd(i, k) => Call::FloatAdd(typed(i, |v| matches!(v, Value::Float(_))), *k),
        Op::BoolFlip(i) => Call::BoolFlip(typed(i, |v| matches!(v, Value::Bool(_)))),
        Op::BytesExtend(i, b) => {
            Call::BytesExtend(typed(i, |v| matches!(v, Value::ByteArray(_))), b.clone())
        }
        Op::NestedPush(i, k) => Call::NestedPush(typed(i, |v| matches!(v, Value::List(_))), *k),
        Op::IndexOf(n) => Call::IndexOf(needle(n)),
        Op::Count(n) => Call::Count(needle(n)),
        Op::Contains(n) => Call::Contains(needle(n)),
        Op::ToValue => Call::ToValue,
    }
}

// ---------------------------------------------------------------------------
// Results.

/// The kind of an error, as far as the model can predict it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Index,
    Type,
    Stale,
    /// Out of memory (the model never expects it; see [`step`]).
    Oom,
    /// Anything else (the model never expects it).
    Other,
}

/// What a step returned.
#[derive(Debug)]
enum Out {
    Unit,
    Val(Value),
    Opt(Option<Value>),
    Vals(Vec<Value>),
    Pos(Option<usize>),
    N(usize),
    B(bool),
    /// `item_handle` gave None (an inline scalar): nothing to extend from.
    NoHandle,
    /// The kind, and the error's `Debug` text (for messages only).
    Err(Kind, #[allow(dead_code)] String),
}

impl Out {
    fn err(e: Error) -> Out {
        let kind = match e {
            Error::IndexOutOfRange { .. } => Kind::Index,
            Error::TypeMismatch { .. } => Kind::Type,
            Error::StaleHandle { .. } => Kind::Stale,
            Error::OutOfMemory { .. } => Kind::Oom,
            _ => Kind::Other,
        };
        Out::Err(kind, format!("{e:?}"))
    }

    fn model_err(kind: Kind) -> Out {
        Out::Err(kind, "model".into())
    }
}

/// Structural equality with floats compared by their bits (no NaN is ever
/// generated; this also tells `-0.0` from `0.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Tuple(x), Value::Tuple(y))
        | (Value::List(x), Value::List(y))
        | (Value::Set(x), Value::Set(y)) => same_all(x, y),
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

fn same_out(a: &Out, b: &Out) -> bool {
    match (a, b) {
        (Out::Unit, Out::Unit) | (Out::NoHandle, Out::NoHandle) => true,
        (Out::Val(x), Out::Val(y)) => same(x, y),
        (Out::Opt(x), Out::Opt(y)) => match (x, y) {
            (Some(x), Some(y)) => same(x, y),
            (None, None) => true,
            _ => false,
        },
        (Out::Vals(x), Out::Vals(y)) => same_all(x, y),
        (Out::Pos(x), Out::Pos(y)) => x == y,
        (Out::N(x), Out::N(y)) => x == y,
        (Out::B(x), Out::B(y)) => x == y,
        (Out::Err(x, _), Out::Err(y, _)) => x == y,
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Python's equality and ordering, for the generated domain.

#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::I(*b as i64)),
        Value::Int(i) => Some(Num::I(*i)),
        Value::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// `i` as an f64, exactly: the generated ints stay far below 2^53.
fn exact(i: i64) -> f64 {
    assert!(
        i.unsigned_abs() < 1 << 53,
        "int {i} is outside the model's exact domain"
    );
    i as f64
}

fn num_cmp(a: Num, b: Num) -> Ordering {
    let (x, y) = match (a, b) {
        (Num::I(x), Num::I(y)) => return x.cmp(&y),
        (Num::I(x), Num::F(y)) => (exact(x), y),
        (Num::F(x), Num::I(y)) => (x, exact(y)),
        (Num::F(x), Num::F(y)) => (x, y),
    };
    x.partial_cmp(&y).expect("no NaN is generated")
}

/// Python's `==` (ints, floats and bools numerically; bytes == bytearray;
/// tuples and lists item by item; dicts and sets by content).
fn py_eq(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => return num_cmp(x, y) == Ordering::Equal,
        (Some(_), None) | (None, Some(_)) => return false,
        (None, None) => {}
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x) | Value::ByteArray(x), Value::Bytes(y) | Value::ByteArray(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        // Generated keys are distinct, so "some entry of `y` equals" is
        // "the entry of `y` with this key has an equal value".
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| py_eq(k, k2) && py_eq(v, v2)))
        }
        (Value::Set(x), Value::Set(y)) => {
            x.len() == y.len() && x.iter().all(|m| y.iter().any(|n| py_eq(m, n)))
        }
        _ => false,
    }
}

/// The classes of mutually orderable values in the generated domain. Two
/// items of one class always compare (no NaN; tuples and lists hold only
/// ints); items of different classes never do, and neither do None, dicts
/// and sets (not even with themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Num,
    Str,
    Bytes,
    IntTuple,
    IntList,
}

fn ints(v: &[Value]) -> Option<Vec<i64>> {
    v.iter()
        .map(|x| match x {
            Value::Int(i) => Some(*i),
            _ => None,
        })
        .collect()
}

fn class(v: &Value) -> Option<Class> {
    match v {
        Value::Bool(_) | Value::Int(_) | Value::Float(_) => Some(Class::Num),
        Value::Str(_) => Some(Class::Str),
        Value::Bytes(_) | Value::ByteArray(_) => Some(Class::Bytes),
        Value::None | Value::Dict(_) | Value::Set(_) | Value::FrozenSet(_) => None,
        // Not generated by this model; never orderable.
        Value::Typed(_) | Value::Pickled(_) | Value::Object { .. } => None,
        Value::Tuple(x) | Value::List(x) => {
            assert!(
                ints(x).is_some(),
                "{v:?} is outside the model's sort domain (tuples and lists of ints)"
            );
            Some(if matches!(v, Value::Tuple(_)) {
                Class::IntTuple
            } else {
                Class::IntList
            })
        }
    }
}

/// Python's order of two values of one class.
fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Bytes(x) | Value::ByteArray(x), Value::Bytes(y) | Value::ByteArray(y)) => x.cmp(y),
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            ints(x).cmp(&ints(y))
        }
        _ => num_cmp(num(a).expect("a number"), num(b).expect("a number")),
    }
}

// ---------------------------------------------------------------------------
// The model.

/// The list as a `Vec<Value>`, and the sources `extend_from` reads.
#[derive(Clone, Debug)]
struct Model {
    items: Vec<Value>,
    tuple: Vec<Value>,
    dict_keys: Vec<Value>,
    set: Vec<Value>,
}

/// The model's version of `bounds` in `src/value/list.rs`: end past the
/// length, or start after end, is IndexOutOfRange.
fn model_range(r: Bounds, len: usize) -> Option<Range<usize>> {
    let start = match r.0 {
        Bound::Included(s) => s,
        Bound::Excluded(s) => s + 1,
        Bound::Unbounded => 0,
    };
    let end = match r.1 {
        Bound::Included(e) => e + 1,
        Bound::Excluded(e) => e,
        Bound::Unbounded => len,
    };
    (end <= len && start <= end).then_some(start..end)
}

impl Model {
    fn new(case: &Case) -> Model {
        Model {
            items: case.init.clone(),
            tuple: case.tuple.clone(),
            dict_keys: case.dict.iter().map(|(k, _)| k.clone()).collect(),
            set: case.set.clone(),
        }
    }

    /// What `extend_from` appends; `Ok(None)`: no handle (a scalar item).
    fn source(&self, s: Source) -> Result<Option<Vec<Value>>, Kind> {
        Ok(Some(match s {
            Source::Own => self.items.clone(),
            Source::Tuple => self.tuple.clone(),
            Source::Dict => self.dict_keys.clone(),
            Source::Set => self.set.clone(),
            Source::Str => return Err(Kind::Type),
            Source::Stale => return Err(Kind::Stale),
            Source::Item(i) => match self.items.get(i) {
                None => return Err(Kind::Index),
                Some(Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_)) => {
                    return Ok(None);
                }
                // Objects, not inline scalars: `item_handle` gives their
                // handle, and they are not sequences (see
                // `item_handle_of_str_bytes_and_bytearray_items`).
                Some(Value::Str(_) | Value::Bytes(_) | Value::ByteArray(_)) => {
                    return Err(Kind::Type);
                }
                Some(Value::List(v) | Value::Tuple(v) | Value::Set(v)) => v.clone(),
                Some(Value::Dict(e)) => e.iter().map(|(k, _)| k.clone()).collect(),
                // Not generated by this model.
                Some(other) => unreachable!("{other:?} is outside the model's domain"),
            },
        }))
    }

    /// Python's `list.sort`, stable, on the generated domain.
    ///
    /// When is it a TypeMismatch? `ListMut::sort` is a comparison sort that
    /// asks only `<`, and raises the first comparison's TypeMismatch. With 2+
    /// items it must compare across classes (or compare a None, dict or
    /// set) whenever the items are not all of one orderable class: suppose a
    /// run compared only items of one class with each other, and let X and Y
    /// be two classes present. Every answer it got is consistent both with
    /// a total order that puts all of X before all of Y and with one that
    /// puts all of Y before all of X (nothing relates the two classes), so it
    /// makes the same moves and the same output under both — but a correct
    /// sort must output X before Y under the first and Y before X under the
    /// second. In particular some adjacent pair of the final order (an X next
    /// to a Y) must have been compared. Likewise a None (dict, set) must be
    /// compared with something, or its place would be arbitrary. So a mix,
    /// or an unorderable item among 2+, always errors, and the list is left
    /// unchanged; 0 or 1 items never compare.
    fn sort(&mut self, reverse: bool) -> Out {
        if self.items.len() < 2 {
            return Out::Unit;
        }
        let first = class(&self.items[0]);
        if first.is_none() || self.items.iter().any(|v| class(v) != first) {
            return Out::model_err(Kind::Type);
        }
        // `sort_by` is stable; reversing the comparison keeps equal items
        // in their order, as Python's `sort(reverse=True)` does.
        self.items.sort_by(|a, b| {
            let o = order(a, b);
            if reverse { o.reverse() } else { o }
        });
        Out::Unit
    }

    fn apply(&mut self, c: &Call) -> Out {
        let len = self.items.len();
        let index = || Out::model_err(Kind::Index);
        let mismatch = || Out::model_err(Kind::Type);
        match c {
            Call::Get(i) => self
                .items
                .get(*i)
                .map_or_else(index, |v| Out::Val(v.clone())),
            Call::Set(i, v) => match self.items.get_mut(*i) {
                Some(x) => {
                    *x = v.clone();
                    Out::Unit
                }
                None => index(),
            },
            Call::Push(v) => {
                self.items.push(v.clone());
                Out::Unit
            }
            Call::Pop => Out::Opt(self.items.pop()),
            Call::Insert(i, v) if *i <= len => {
                self.items.insert(*i, v.clone());
                Out::Unit
            }
            Call::Remove(i) if *i < len => Out::Val(self.items.remove(*i)),
            Call::Insert(..) | Call::Remove(_) => index(),
            Call::Extend(vs) => {
                self.items.extend(vs.iter().cloned());
                Out::Unit
            }
            Call::ExtendFrom(s) => match self.source(*s) {
                Ok(Some(vs)) => {
                    self.items.extend(vs);
                    Out::Unit
                }
                Ok(None) => Out::NoHandle,
                Err(k) => Out::model_err(k),
            },
            Call::Clear => {
                self.items.clear();
                Out::Unit
            }
            Call::Truncate(n) => {
                self.items.truncate(*n);
                Out::Unit
            }
            Call::Swap(i, j) if *i < len && *j < len => {
                self.items.swap(*i, *j);
                Out::Unit
            }
            Call::Swap(..) => index(),
            Call::Reverse => {
                self.items.reverse();
                Out::Unit
            }
            Call::Sort => self.sort(false),
            Call::SortReverse => self.sort(true),
            Call::Splice(r, vs) => match model_range(*r, len) {
                Some(r) => Out::Vals(self.items.splice(r, vs.iter().cloned()).collect()),
                None => index(),
            },
            Call::SetRange(r, vs) => match model_range(*r, len) {
                Some(r) => {
                    self.items.splice(r, vs.iter().cloned());
                    Out::Unit
                }
                None => index(),
            },
            Call::Drain(r) => match model_range(*r, len) {
                Some(r) => Out::Vals(self.items.drain(r).collect()),
                None => index(),
            },
            Call::DeleteRange(r) => match model_range(*r, len) {
                Some(r) => {
                    self.items.drain(r);
                    Out::Unit
                }
                None => index(),
            },
            Call::GetRange(r) => match model_range(*r, len) {
                Some(r) => Out::Vals(self.items[r].to_vec()),
                None => index(),
            },
            Call::Repeat(n) => {
                // Deep copies: in the model every item is its own value.
                let once = std::mem::take(&mut self.items);
                for _ in 0..*n {
                    self.items.extend(once.iter().cloned());
                }
                Out::Unit
            }
            Call::IntAdd(i, k) => match self.items.get_mut(*i) {
                None => index(),
                Some(Value::Int(x)) => {
                    *x += k;
                    Out::Val(Value::Int(*x))
                }
                Some(_) => mismatch(),
            },
            Call::FloatAdd(i, k) => match self.items.get_mut(*i) {
                None => index(),
                Some(Value::Float(x)) => {
                    *x += k;
                    Out::Val(Value::Float(*x))
                }
                Some(_) => mismatch(),
            },
            Call::BoolFlip(i) => match self.items.get_mut(*i) {
                None => index(),
                Some(Value::Bool(x)) => {
                    *x = !*x;
                    Out::Val(Value::Bool(*x))
                }
                Some(_) => mismatch(),
            },
            Call::BytesExtend(i, b) => match self.items.get_mut(*i) {
                None => index(),
                Some(Value::ByteArray(x)) => {
                    x.extend_from_slice(b);
                    Out::Val(Value::ByteArray(x.clone()))
                }
                Some(_) => mismatch(),
            },
            Call::NestedPush(i, k) => match self.items.get_mut(*i) {
                None => index(),
                Some(Value::List(x)) => {
                    x.push(Value::Int(*k));
                    Out::Val(Value::List(x.clone()))
                }
                Some(_) => mismatch(),
            },
            Call::IndexOf(v) => Out::Pos(self.items.iter().position(|x| py_eq(x, v))),
            Call::Count(v) => Out::N(self.items.iter().filter(|x| py_eq(x, v)).count()),
            Call::Contains(v) => Out::B(self.items.iter().any(|x| py_eq(x, v))),
            Call::ToValue => Out::Vals(self.items.clone()),
        }
    }
}

// ---------------------------------------------------------------------------
// The shared list.

/// The handles of a run's objects.
#[derive(Clone, Copy, Debug)]
struct Handles {
    list: Handle,
    /// `[step, 0]`: the step counter of the split runs.
    ctl: Handle,
    tuple: Handle,
    dict: Handle,
    set: Handle,
    text: Handle,
    stale: Handle,
}

impl Handles {
    fn all(&self) -> [Handle; 7] {
        [
            self.list, self.ctl, self.tuple, self.dict, self.set, self.text, self.stale,
        ]
    }

    fn to_env(self) -> String {
        self.all()
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
                let o = o.parse().map_err(|_| "bad offset")?;
                let g = g.parse().map_err(|_| "bad generation")?;
                Ok(Handle::from_raw(o, g))
            })
            .collect::<Result<_, &str>>()?;
        let [list, ctl, tuple, dict, set, text, stale] = hs[..] else {
            return Err(format!("expected 7 handles, got {s:?}"));
        };
        Ok(Handles {
            list,
            ctl,
            tuple,
            dict,
            set,
            text,
            stale,
        })
    }
}

fn real(l: &mut ListMut<'_>, hs: &Handles, c: &Call) -> Out {
    fn o<T>(r: Result<T, Error>, f: impl FnOnce(T) -> Out) -> Out {
        match r {
            Ok(t) => f(t),
            Err(e) => Out::err(e),
        }
    }
    let unit = |()| Out::Unit;
    match c {
        Call::Get(i) => o(l.get(*i).and_then(|v| v.to_value()), Out::Val),
        Call::Set(i, v) => o(l.set(*i, v), unit),
        Call::Push(v) => o(l.push(v), unit),
        Call::Pop => o(l.pop(), Out::Opt),
        Call::Insert(i, v) => o(l.insert(*i, v), unit),
        Call::Remove(i) => o(l.remove(*i), Out::Val),
        Call::Extend(vs) => o(l.extend(vs), unit),
        Call::ExtendFrom(s) => {
            let h = match *s {
                Source::Own => l.handle(),
                Source::Tuple => Ok(hs.tuple),
                Source::Dict => Ok(hs.dict),
                Source::Set => Ok(hs.set),
                Source::Str => Ok(hs.text),
                Source::Stale => Ok(hs.stale),
                Source::Item(i) => match l.item_handle(i) {
                    Ok(Some(h)) => Ok(h),
                    Ok(None) => return Out::NoHandle,
                    Err(e) => Err(e),
                },
            };
            o(h.and_then(|h| l.extend_from(h)), unit)
        }
        Call::Clear => o(l.clear(), unit),
        Call::Truncate(n) => o(l.truncate(*n), unit),
        Call::Swap(i, j) => o(l.swap(*i, *j), unit),
        Call::Reverse => o(l.reverse(), unit),
        Call::Sort => o(l.sort(), unit),
        Call::SortReverse => o(l.sort_reverse(), unit),
        Call::Splice(r, vs) => o(l.splice(*r, vs), Out::Vals),
        Call::SetRange(r, vs) => o(l.set_range(*r, vs), unit),
        Call::Drain(r) => o(l.drain(*r), Out::Vals),
        Call::DeleteRange(r) => o(l.delete_range(*r), unit),
        Call::GetRange(r) => o(
            l.get_range(*r)
                .and_then(|vs| vs.iter().map(|v| v.to_value()).collect()),
            Out::Vals,
        ),
        Call::Repeat(n) => o(l.repeat(*n), unit),
        Call::IntAdd(i, k) => o(
            l.int_mut(*i).map(|x| {
                *x += k;
                *x
            }),
            |x| Out::Val(Value::Int(x)),
        ),
        Call::FloatAdd(i, k) => o(
            l.float_mut(*i).map(|x| {
                *x += k;
                *x
            }),
            |x| Out::Val(Value::Float(x)),
        ),
        Call::BoolFlip(i) => o(
            l.bool_mut(*i).map(|x| {
                *x = !*x;
                *x
            }),
            |x| Out::Val(Value::Bool(x)),
        ),
        Call::BytesExtend(i, b) => o(
            l.bytes_mut(*i).and_then(|mut m| {
                m.extend_from_slice(b)?;
                m.to_vec()
            }),
            |v| Out::Val(Value::ByteArray(v)),
        ),
        Call::NestedPush(i, k) => o(
            l.list_mut(*i).and_then(|mut n| {
                n.push(*k)?;
                n.to_value()
            }),
            Out::Val,
        ),
        Call::IndexOf(v) => o(l.index_of(v), Out::Pos),
        Call::Count(v) => o(l.count(v), Out::N),
        Call::Contains(v) => o(l.contains(v), Out::B),
        Call::ToValue => o(
            l.iter()
                .and_then(|it| it.map(|r| r.and_then(|v| v.to_value())).collect()),
            Out::Vals,
        ),
    }
}

/// Checks the whole shared list against the model.
fn check_list(l: &ListMut<'_>, m: &Model) -> Res {
    if l.len() != m.items.len() {
        return Err(format!(
            "the shared list has {} items, the model {}",
            l.len(),
            m.items.len()
        ));
    }
    let got = l.to_value().ctx("to_value")?;
    let Value::List(got) = got else {
        return Err(format!("to_value gave {got:?}"));
    };
    if let Some(i) = (0..got.len().max(m.items.len()))
        .find(|&i| !matches!((got.get(i), m.items.get(i)), (Some(a), Some(b)) if same(a, b)))
    {
        return Err(format!(
            "item {i} differs: model {:?}, shared list {:?} (lengths {} and {})",
            m.items.get(i),
            got.get(i),
            m.items.len(),
            got.len()
        ));
    }
    Ok(())
}

/// A compact view of the model for messages.
fn brief(items: &[Value]) -> String {
    if items.len() <= 40 {
        format!("{items:?}")
    } else {
        format!("({} items) {:?} ...", items.len(), &items[..10])
    }
}

/// Runs one step on the model and on the shared list and compares the
/// results and then the whole list.
///
/// With `oom_ok`, the shared list may answer OutOfMemory instead of what
/// the model gives: then it must be left exactly as it was (every operation
/// is all-or-nothing), and the model does not take the step either.
/// Returns whether that happened.
fn step(
    l: &mut ListMut<'_>,
    hs: &Handles,
    m: &mut Model,
    op: &Op,
    max_len: usize,
    oom_ok: bool,
) -> Res<bool> {
    let call = resolve(op, m, max_len);
    let before = brief(&m.items);
    let mut next = if oom_ok { Some(m.clone()) } else { None };
    let want = next.as_mut().unwrap_or(m).apply(&call);
    let got = real(l, hs, &call);
    let oom = oom_ok && matches!(got, Out::Err(Kind::Oom, _));
    if !oom && !same_out(&want, &got) {
        return Err(format!(
            "{op:?} resolved to {call:?}: the model gives {want:?}, the shared list {got:?}; \
             list before: {before}"
        ));
    }
    if let (false, Some(next)) = (oom, next) {
        *m = next;
    }
    check_list(l, m).map_err(|e| {
        let what = if oom {
            " (out of memory: must be unchanged)"
        } else {
            ""
        };
        format!("after {op:?} resolved to {call:?}{what}: {e}; list before: {before}")
    })?;
    Ok(oom)
}

/// Validates the segment; no block may be unreachable.
fn check_segment(turn: &Turn<'_>) -> Res {
    let report = turn.validate().ctx("validate")?;
    if report.orphans != 0 {
        return Err(format!("{} orphan blocks: {report:?}", report.orphans));
    }
    Ok(())
}

/// What a run starts from: the handles, and the bytes in use before the
/// sources (`base0`: only the queue ring) and before the list (`base1`).
struct Setup {
    hs: Handles,
    base0: u64,
    base1: u64,
}

/// Puts a message and takes it back: a root owned by the caller.
fn own(turn: &mut Turn<'_>, v: &Value) -> Res<Handle> {
    let h = turn.put_message(v).ctx("put_message")?;
    let took = turn.take_message().ctx("take_message")?;
    if took != Some(h) {
        return Err(format!("put {h:?}, took {took:?}"));
    }
    Ok(h)
}

fn setup(turn: &mut Turn<'_>, case: &Case) -> Res<Setup> {
    // The queue ring is allocated by the first put and stays: measure after.
    let first = own(turn, &Value::Int(0))?;
    turn.free(first).ctx("free")?;
    let base0 = turn.stats().used;
    let ctl = own(turn, &Value::List(vec![Value::Int(0), Value::Int(0)]))?;
    let tuple = own(turn, &Value::Tuple(case.tuple.clone()))?;
    let dict = own(turn, &Value::Dict(case.dict.clone()))?;
    let set = own(turn, &Value::Set(case.set.clone()))?;
    let text = own(turn, &Value::from("not a sequence"))?;
    let stale = own(turn, &Value::List(vec![Value::Int(1)]))?;
    turn.free(stale).ctx("free")?;
    let base1 = turn.stats().used;
    let list = own(turn, &Value::List(case.init.clone()))?;
    // The sources and the list must read back as they were put.
    for (h, want) in [
        (tuple, Value::Tuple(case.tuple.clone())),
        (dict, Value::Dict(case.dict.clone())),
        (set, Value::Set(case.set.clone())),
        (list, Value::List(case.init.clone())),
    ] {
        let got = turn.get(h).ctx("get")?.to_value().ctx("to_value")?;
        if !same(&got, &want) {
            return Err(format!("{got:?} reads back, {want:?} was put"));
        }
    }
    Ok(Setup {
        hs: Handles {
            list,
            ctl,
            tuple,
            dict,
            set,
            text,
            stale,
        },
        base0,
        base1,
    })
}

/// The end of a run: validate, free the list (every byte comes back), free
/// the rest (back to the queue ring alone), validate again.
fn finish(turn: &mut Turn<'_>, su: &Setup) -> Res {
    check_segment(turn)?;
    turn.free(su.hs.list).ctx("free the list")?;
    let used = turn.stats().used;
    if used != su.base1 {
        return Err(format!(
            "freeing the list left {used} bytes in use, {} before it was put ({} bytes leaked)",
            su.base1,
            used as i64 - su.base1 as i64
        ));
    }
    for h in [su.hs.ctl, su.hs.tuple, su.hs.dict, su.hs.set, su.hs.text] {
        turn.free(h).ctx("free a source")?;
    }
    let used = turn.stats().used;
    if used != su.base0 {
        return Err(format!(
            "{used} bytes in use after freeing everything, {} at the start",
            su.base0
        ));
    }
    let report = turn.validate().ctx("validate")?;
    if report.orphans != 0 || report.roots != 0 || report.blocks != 1 {
        return Err(format!("after freeing everything: {report:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Generation.

/// Which values a sequence draws from: one orderable class (so `sort`
/// succeeds until something else gets in), or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Palette {
    Mixed,
    Nums,
    Strs,
    Bytes,
    Tuples,
    Lists,
}

/// The kind of sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    /// Every operation.
    Normal,
    /// Pushes and extends dominate (no clear, truncate or range deletes).
    Grow,
}

impl Profile {
    fn max_len(self) -> usize {
        match self {
            Profile::Normal => 2_000,
            Profile::Grow => 20_000,
        }
    }

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

/// A sequence and what it starts from.
#[derive(Clone, Debug)]
struct Case {
    palette: Palette,
    init: Vec<Value>,
    tuple: Vec<Value>,
    /// Distinct keys (Python equality).
    dict: Vec<(Value, Value)>,
    /// Distinct members.
    set: Vec<Value>,
    ops: Vec<Op>,
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn arb_num() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (-3i64..4).prop_map(Value::Int),
        1 => (-(1i64 << 40)..(1i64 << 40)).prop_map(Value::Int),
        2 => any::<bool>().prop_map(Value::Bool),
        2 => (-3i64..4).prop_map(|i| Value::Float(i as f64)),
        1 => prop::sample::select(vec![0.5, -0.0, -1.5, 1e300, -2.75e-300, 4503599627370497.0])
            .prop_map(Value::Float),
        1 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
    ]
    .boxed()
}

fn arb_str() -> BoxedStrategy<Value> {
    prop::sample::select(vec!["", "a", "b", "ab", "B", "é", "a\u{0}", "\u{1F600}"])
        .prop_map(Value::from)
        .boxed()
}

fn arb_bytes() -> BoxedStrategy<Value> {
    (
        prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', 255]), 0..3),
        any::<bool>(),
    )
        .prop_map(|(b, mutable)| {
            if mutable {
                Value::ByteArray(b)
            } else {
                Value::Bytes(b)
            }
        })
        .boxed()
}

fn arb_ints() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((-2i64..3).prop_map(Value::Int), 0..3)
}

/// Hashable keys, pairwise unequal under Python's equality, so that a dict
/// or set of any subsequence of them keeps every one, in order.
fn key_pool(p: Palette) -> Vec<Value> {
    let t = |v: &[i64]| Value::Tuple(v.iter().map(|&i| int(i)).collect());
    match p {
        Palette::Mixed => vec![
            Value::None,
            int(0),
            int(1),
            int(-3),
            Value::Float(2.5),
            Value::from(""),
            Value::from("a"),
            Value::from("é"),
            Value::Bytes(vec![]),
            Value::Bytes(b"a".to_vec()),
            t(&[]),
            t(&[1, 2]),
        ],
        Palette::Nums => vec![
            int(0),
            int(1),
            int(-3),
            int(7),
            Value::Float(2.5),
            Value::Float(-0.5),
        ],
        Palette::Strs => ["", "a", "b", "é", "ab"].map(Value::from).to_vec(),
        Palette::Bytes => [&b""[..], b"a", b"\0", b"ab"]
            .map(|b| Value::Bytes(b.to_vec()))
            .to_vec(),
        // Lists are not hashable: a list palette's dicts and sets hold tuples.
        Palette::Tuples | Palette::Lists => {
            vec![t(&[]), t(&[1, 2]), t(&[0]), t(&[1]), t(&[-2, 0])]
        }
    }
}

fn arb_keys(p: Palette, max: usize) -> BoxedStrategy<Vec<Value>> {
    let pool = key_pool(p);
    let n = pool.len().min(max);
    prop::sample::subsequence(pool, 0..=n).boxed()
}

fn arb_leaf() -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::None), 2 => arb_num(), 2 => arb_str()].boxed()
}

fn arb_dict(p: Palette) -> BoxedStrategy<Vec<(Value, Value)>> {
    (arb_keys(p, 4), prop::collection::vec(arb_leaf(), 4))
        .prop_map(|(keys, vals)| keys.into_iter().zip(vals).collect())
        .boxed()
}

/// An item of palette `p`.
fn arb_item(p: Palette) -> BoxedStrategy<Value> {
    match p {
        Palette::Nums => arb_num(),
        Palette::Strs => arb_str(),
        Palette::Bytes => arb_bytes(),
        Palette::Tuples => arb_ints().prop_map(Value::Tuple).boxed(),
        Palette::Lists => arb_ints().prop_map(Value::List).boxed(),
        Palette::Mixed => prop_oneof![
            1 => Just(Value::None),
            4 => arb_num(),
            2 => arb_str(),
            2 => arb_bytes(),
            1 => arb_ints().prop_map(Value::Tuple),
            2 => arb_ints().prop_map(Value::List),
            1 => arb_dict(Palette::Mixed).prop_map(Value::Dict),
            1 => arb_keys(Palette::Mixed, 3).prop_map(Value::Set),
        ]
        .boxed(),
    }
}

fn arb_ix() -> BoxedStrategy<Ix> {
    (any::<u16>(), prop::bool::weighted(0.1))
        .prop_map(|(raw, oob)| Ix { raw, oob })
        .boxed()
}

fn arb_span() -> BoxedStrategy<Span> {
    (
        any::<u16>(),
        any::<u16>(),
        0u8..3,
        0u8..3,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(a, b, start, end, oob)| Span {
            a,
            b,
            start,
            end,
            oob,
        })
        .boxed()
}

fn arb_op(p: Palette, profile: Profile) -> BoxedStrategy<Op> {
    let grow = profile == Profile::Grow;
    let item = arb_item(p);
    let vals = prop::collection::vec(item.clone(), 0..if grow { 24 } else { 5 });
    let ix = arb_ix();
    let span = arb_span();
    let needle = prop_oneof![
        2 => item.clone().prop_map(Needle::Val),
        1 => arb_num().prop_map(Needle::Val),
        2 => ix.clone().prop_map(Needle::Item),
    ];
    let src = {
        let own = if grow { 8 } else { 2 };
        prop_oneof![
            own => Just(Src::Own),
            2 => Just(Src::Tuple),
            2 => Just(Src::Dict),
            2 => Just(Src::Set),
            1 => Just(Src::Str),
            1 => Just(Src::Stale),
            3 => ix.clone().prop_map(Src::Item),
        ]
    };
    let repeat = if grow { 2usize..=3 } else { 0usize..=3 };
    // (normal weight, grow weight, strategy)
    let table: Vec<(u32, u32, BoxedStrategy<Op>)> = vec![
        (3, 1, ix.clone().prop_map(Op::Get).boxed()),
        (
            4,
            2,
            (ix.clone(), item.clone())
                .prop_map(|(i, v)| Op::Set(i, v))
                .boxed(),
        ),
        (5, 8, item.clone().prop_map(Op::Push).boxed()),
        (3, 1, Just(Op::Pop).boxed()),
        (
            4,
            3,
            (ix.clone(), item.clone())
                .prop_map(|(i, v)| Op::Insert(i, v))
                .boxed(),
        ),
        (3, 1, ix.clone().prop_map(Op::Remove).boxed()),
        (3, 12, vals.clone().prop_map(Op::Extend).boxed()),
        (4, 5, src.prop_map(Op::ExtendFrom).boxed()),
        (1, 0, Just(Op::Clear).boxed()),
        (2, 0, ix.clone().prop_map(Op::Truncate).boxed()),
        (
            3,
            1,
            (ix.clone(), ix.clone())
                .prop_map(|(i, j)| Op::Swap(i, j))
                .boxed(),
        ),
        (2, 1, Just(Op::Reverse).boxed()),
        (4, 1, Just(Op::Sort).boxed()),
        (3, 1, Just(Op::SortReverse).boxed()),
        (
            3,
            1,
            (span.clone(), vals.clone())
                .prop_map(|(r, v)| Op::Splice(r, v))
                .boxed(),
        ),
        (
            2,
            0,
            (span.clone(), vals)
                .prop_map(|(r, v)| Op::SetRange(r, v))
                .boxed(),
        ),
        (2, 0, span.clone().prop_map(Op::Drain).boxed()),
        (2, 0, span.clone().prop_map(Op::DeleteRange).boxed()),
        (2, 1, span.prop_map(Op::GetRange).boxed()),
        (2, 3, repeat.prop_map(Op::Repeat).boxed()),
        (
            3,
            1,
            (ix.clone(), -1000i64..1000)
                .prop_map(|(i, k)| Op::IntAdd(i, k))
                .boxed(),
        ),
        (
            2,
            1,
            (
                ix.clone(),
                prop::sample::select(vec![0.5, -1.0, 2.25, 1e-3]),
            )
                .prop_map(|(i, k)| Op::FloatAdd(i, k))
                .boxed(),
        ),
        (2, 1, ix.clone().prop_map(Op::BoolFlip).boxed()),
        (
            2,
            1,
            (ix.clone(), prop::collection::vec(any::<u8>(), 0..4))
                .prop_map(|(i, b)| Op::BytesExtend(i, b))
                .boxed(),
        ),
        (
            2,
            1,
            (ix, -3i64..4)
                .prop_map(|(i, k)| Op::NestedPush(i, k))
                .boxed(),
        ),
        (2, 1, needle.clone().prop_map(Op::IndexOf).boxed()),
        (2, 1, needle.clone().prop_map(Op::Count).boxed()),
        (2, 1, needle.prop_map(Op::Contains).boxed()),
        (1, 1, Just(Op::ToValue).boxed()),
    ];
    let arms: Vec<(u32, BoxedStrategy<Op>)> = table
        .into_iter()
        .map(|(n, g, s)| (if grow { g } else { n }, s))
        .filter(|(w, _)| *w > 0)
        .collect();
    Union::new_weighted(arms).boxed()
}

fn arb_palette() -> impl Strategy<Value = Palette> {
    prop_oneof![
        4 => Just(Palette::Mixed),
        2 => Just(Palette::Nums),
        1 => Just(Palette::Strs),
        1 => Just(Palette::Bytes),
        1 => Just(Palette::Tuples),
        1 => Just(Palette::Lists),
    ]
}

fn arb_case(profile: Profile, ops: Range<usize>) -> impl Strategy<Value = Case> {
    arb_palette()
        .prop_flat_map(move |p| {
            let init = match profile {
                Profile::Normal => 0..12,
                Profile::Grow => 12..20,
            };
            (
                Just(p),
                prop::collection::vec(arb_item(p), init),
                prop::collection::vec(arb_item(p), 0..5),
                arb_dict(p),
                arb_keys(p, 6),
                prop::collection::vec(arb_op(p, profile), ops.clone()),
            )
        })
        .prop_map(|(palette, init, tuple, dict, set, ops)| Case {
            palette,
            init,
            tuple,
            dict,
            set,
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

/// Runs `case` in one process on an in-memory segment of `size` bytes;
/// with `oom_ok` operations may run out of memory (see [`step`]). Returns
/// how many did.
fn run_single_in(case: &Case, profile: Profile, size: u64, oom_ok: bool) -> Res<usize> {
    let seg = Segment::options()
        .size(size)
        .create_in_memory()
        .ctx("in-memory segment")?;
    let mut turn = seg.turn().ctx("turn")?;
    let su = setup(&mut turn, case)?;
    let mut model = Model::new(case);
    let mut ooms = 0;
    for (k, op) in case.ops.iter().enumerate() {
        let mut l = turn.list_mut(su.hs.list).ctx("list_mut")?;
        ooms += step(&mut l, &su.hs, &mut model, op, profile.max_len(), oom_ok)
            .map_err(|e| format!("step {k}: {e}"))? as usize;
        check_segment(&turn).map_err(|e| format!("after step {k} ({op:?}): {e}"))?;
    }
    finish(&mut turn, &su)?;
    Ok(ooms)
}

fn run_single(case: &Case, profile: Profile) -> Res {
    let size = match profile {
        Profile::Normal => 4 << 20,
        Profile::Grow => 64 << 20,
    };
    run_single_in(case, profile, size, false).map(drop)
}

#[test]
fn list_agrees_with_model_in_one_process() {
    let _wd = Watchdog::test("model-single");
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb_case(Profile::Normal, 0..61), |case| {
            run_single(&case, Profile::Normal).map_err(TestCaseError::fail)
        })
        .unwrap();
}

/// The same sequences (pushes and extends dominating) in a 64 KiB segment:
/// operations run out of memory, and each one that does must leave the list
/// (and the segment: no orphans, every byte back at the end) as it was.
#[test]
fn out_of_memory_leaves_the_list_as_it_was() {
    let _wd = Watchdog::test("model-oom");
    let ooms = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb_case(Profile::Grow, 0..81), |case| {
            let n =
                run_single_in(&case, Profile::Grow, 64 << 10, true).map_err(TestCaseError::fail)?;
            ooms.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    let ooms = ooms.into_inner();
    eprintln!("out of memory: {ooms} operations ran out");
    assert!(ooms > 0, "no operation ran out of memory");
}

/// What the model tests expect of `extend_from(item_handle(i))` on a str,
/// bytes or bytearray item, on its own: `ListMut::item_handle` is
/// documented as "None for inline scalars", and these items are objects in
/// the segment (blocks with a generation; `BytesMut::handle` gives the very
/// same bytearray's handle, and `Turn::bytes_mut` reopens it), so they have
/// a handle — and `extend_from` on it is a TypeMismatch (not a sequence).
#[test]
fn item_handle_of_str_bytes_and_bytearray_items() {
    let seg = Segment::options().size(1 << 20).create_in_memory().unwrap();
    let mut turn = seg.turn().unwrap();
    let items = vec![
        Value::from("s"),
        Value::Bytes(b"b".to_vec()),
        Value::bytearray(*b"ba"),
        Value::Int(1),
        Value::Tuple(vec![]),
    ];
    let h = own(&mut turn, &Value::List(items)).unwrap();
    let mut l = turn.list_mut(h).unwrap();
    assert_eq!(
        l.item_handle(3).unwrap(),
        None,
        "an inline int has no handle"
    );
    assert!(l.item_handle(4).unwrap().is_some(), "a tuple has a handle");
    let via_bytes_mut = l.bytes_mut(2).unwrap().handle().unwrap();
    let got: Vec<Option<Handle>> = (0..3).map(|i| l.item_handle(i).unwrap()).collect();
    assert!(
        got.iter().all(Option::is_some),
        "item_handle of the str, bytes and bytearray items gives {got:?} \
         (bytes_mut(2).handle() gives {via_bytes_mut:?})"
    );
    assert_eq!(got[2], Some(via_bytes_mut));
    for h in got.into_iter().flatten() {
        assert!(matches!(l.extend_from(h), Err(Error::TypeMismatch { .. })));
    }
}

// ---------------------------------------------------------------------------
// Two processes.

#[test]
fn peer_main() {
    common::serve_peer(|role| match role {
        "split" => peer_split(),
        other => Err(format!("unknown role {other}")),
    });
}

/// How a process's part of a split run went.
struct Part {
    /// Steps this process applied.
    mine: usize,
    /// The longest the list was.
    max_len: usize,
}

/// This test's side of a split run: the list and its model.
struct ListSide<'c> {
    case: &'c Case,
    max: usize,
    hs: &'c Handles,
    model: Model,
    max_len: usize,
}

impl common::SplitSide for ListSide<'_> {
    fn catch_up(&mut self, k: usize) {
        let call = resolve(&self.case.ops[k], &self.model, self.max);
        self.model.apply(&call);
        self.max_len = self.max_len.max(self.model.items.len());
    }

    fn check(&mut self, turn: &mut Turn<'_>) -> Res {
        let l = turn.list_mut(self.hs.list).ctx("list_mut")?;
        check_list(&l, &self.model)
    }

    fn apply(&mut self, turn: &mut Turn<'_>, k: usize) -> Res {
        let mut l = turn.list_mut(self.hs.list).ctx("list_mut")?;
        step(
            &mut l,
            self.hs,
            &mut self.model,
            &self.case.ops[k],
            self.max,
            false,
        )?;
        self.max_len = self.max_len.max(l.len());
        Ok(())
    }

    fn check_segment(&mut self, turn: &Turn<'_>) -> Res {
        check_segment(turn)
    }

    fn describe(&self, k: usize) -> String {
        format!("{:?}", self.case.ops[k])
    }
}

/// Takes turns until the step counter reaches the end, applying the steps
/// `k` with `k % 2 == me`. `alive` is called while waiting for the other
/// process; an error from it ends the run.
fn split_loop(
    seg: &Segment,
    me: usize,
    case: &Case,
    profile: Profile,
    hs: &Handles,
    alive: &mut dyn FnMut() -> Res,
) -> Res<Part> {
    let model = Model::new(case);
    let mut side = ListSide {
        case,
        max: profile.max_len(),
        hs,
        max_len: model.items.len(),
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
            "seed {seed} generated another sequence in the peer (digest {} vs {want})",
            digest(&case)
        ));
    }
    let seg = Segment::attach(&env("SHMHEAP_NAME")).ctx("attach")?;
    let hs = Handles::from_env(&env("SHMHEAP_HANDLES"))?;
    let part = split_loop(&seg, 1, &case, profile, &hs, &mut || Ok(()))?;
    Ok(format!("ok {} {}", part.mine, part.max_len))
}

/// Runs the sequence of `seed` split between this process and a peer.
/// Returns the longest the list was.
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
    let res = split_loop(
        &seg,
        0,
        &case,
        profile,
        &su.hs,
        &mut || match peer.try_status() {
            None => Ok(()),
            Some(st) => {
                let (_, lines) = peer.finish(SEC);
                Err(format!(
                    "the peer exited early ({}); its lines: {lines:?}",
                    describe(st)
                ))
            }
        },
    );
    let part = match res {
        Ok(p) => p,
        Err(e) => {
            peer.kill();
            let replay = run_single(&case, profile);
            panic!(
                "seed {seed} ({profile:?}, {steps} steps, palette {:?}): {e}\n\
                 replayed in one process: {replay:?}",
                case.palette
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
    assert_eq!(
        part.max_len, their_max,
        "both replicas saw the same lengths"
    );
    let mut turn = seg.turn().unwrap();
    finish(&mut turn, &su).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    part.max_len
}

#[test]
fn list_agrees_with_model_split_between_two_processes() {
    let _wd = Watchdog::test("model-split");
    let start = Instant::now();
    for seed in 1..=8 {
        run_split("model-split", seed, Profile::Normal, 200);
    }
    eprintln!("split: 8 seeds x 200 steps in {:?}", start.elapsed());
}

#[test]
fn list_grows_past_10000_items_split_between_two_processes() {
    let _wd = Watchdog::test("model-grow");
    let start = Instant::now();
    let max_len = run_split("model-grow", 0x5eed, Profile::Grow, 200);
    eprintln!(
        "grow: 200 steps, up to {max_len} items, in {:?}",
        start.elapsed()
    );
    assert!(max_len > 10_000, "the list reached only {max_len} items");
}
