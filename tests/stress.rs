//! Stress: several processes take many turns each on one segment, doing a
//! mixed, deterministic set of operations per turn (ints `+=` in place,
//! list pushes, pops, overwrites and nested mutation, dict inserts, updates,
//! removals and `+=`, messages put, peeked and taken, a str replaced), and
//! the final segment must equal a plain Rust model.
//!
//! The turn order between processes is not deterministic, so every turn is
//! logged in the segment itself: the peer appends `peer << 32 | turn` and a
//! digest of everything it observed in that turn to a shared log list. What
//! a turn does is a function of (seed, peer, turn) and of the state it finds,
//! so the parent replays the log in order against the model (a `Vec`, a
//! `VecDeque`, an insertion-ordered `Vec` of pairs), checks each turn's
//! digest against the model's observations (which catches a divergence at
//! the turn where it happens), then compares the final contents exactly,
//! validates the segment, and checks that freeing everything returns the
//! allocator to where it started.
//!
//! Knobs (env vars): `STRESS_TURNS` (turns per peer, default 2000),
//! `STRESS_PROCS` (peers, default 8), `STRESS_SEED`. The large run:
//!
//! ```sh
//! STRESS_TURNS=100000 cargo test --release --test stress -- --nocapture
//! ```
//!
//! Peers are this test binary itself, as in `tests/multiprocess.rs`.

mod common;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::{Peer, Rng, Watchdog, digest, env, env_u64, say, unique_name};
use shmheap::{Error, Handle, Segment, Turn, Value, value};

type R<T = ()> = Result<T, String>;

/// Returns an error (from a peer) unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

const DEFAULT_TURNS: u64 = 2000;
const DEFAULT_PROCS: usize = 8;
const DEFAULT_SEED: u64 = 0x5eed_57e5_0000_0001;

/// Items of the root list.
const COUNTERS: usize = 0;
const WORK: usize = 1;
const DICT: usize = 2;
const LOG: usize = 3;
const TOTAL: usize = 4;
const READY: usize = 5;
const LABEL: usize = 6;

/// Counters shared by all peers, after one counter per peer.
const SHARED_COUNTERS: usize = 4;
/// The work list never grows past this (a push becomes a pop).
const WORK_MAX: usize = 600;
/// Distinct dict keys.
const KEYS: u64 = 48;
/// The message queue never holds more than this (the parent grows the
/// queue's ring to this capacity first, so the final accounting is exact).
const QMAX: usize = 32;

/// How long a peer waits for one turn before giving up.
const TURN_WAIT: Duration = Duration::from_secs(60);

fn turns() -> u64 {
    std::env::var("STRESS_TURNS").map_or(DEFAULT_TURNS, |s| {
        s.parse().expect("STRESS_TURNS is not a number")
    })
}

fn procs() -> usize {
    std::env::var("STRESS_PROCS").map_or(DEFAULT_PROCS, |s| {
        s.parse().expect("STRESS_PROCS is not a number")
    })
}

fn seed() -> u64 {
    std::env::var("STRESS_SEED").map_or(DEFAULT_SEED, |s| {
        s.parse().expect("STRESS_SEED is not a number")
    })
}

/// The watchdog limit of the whole run: generous, scaled by the work.
fn limit(procs: usize, turns: u64) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(procs as u64 * turns)
}

trait Ctx<T> {
    fn ctx(self, what: &str) -> R<T>;
}

impl<T> Ctx<T> for Result<T, Error> {
    fn ctx(self, what: &str) -> R<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

// ---------------------------------------------------------------------------
// The operations of a turn, against either the segment or the model.

/// The state a turn works on. Implemented by the segment (inside a turn)
/// and by the local model; [`step`] drives both the same way.
trait Store {
    /// `total += 1`; the new value.
    fn bump_total(&mut self) -> R<i64>;
    /// `counters[i] += d`; the new value.
    fn counter_add(&mut self, i: usize, d: i64) -> R<i64>;
    /// Replaces the label; the old one.
    fn set_label(&mut self, s: String) -> R<String>;

    fn work_len(&mut self) -> R<usize>;
    fn work_push(&mut self, v: Value) -> R;
    fn work_pop(&mut self) -> R<Option<Value>>;
    fn work_get(&mut self, i: usize) -> R<Value>;
    fn work_set(&mut self, i: usize, v: Value) -> R;
    /// Item `i` (an int) `+= d`; the new value.
    fn work_add(&mut self, i: usize, d: i64) -> R<i64>;
    /// Pushes onto item `i` (a list); its new length.
    fn work_nested_push(&mut self, i: usize, v: Value) -> R<usize>;
    /// Inserts into item `i` (a dict); the old value.
    fn work_nested_insert(&mut self, i: usize, k: Value, v: Value) -> R<Option<Value>>;
    /// Adds to item `i` (a set); whether it was new.
    fn work_set_add(&mut self, i: usize, m: Value) -> R<bool>;

    fn dict_len(&mut self) -> R<usize>;
    fn dict_get(&mut self, k: &Value) -> R<Option<Value>>;
    fn dict_insert(&mut self, k: Value, v: Value) -> R<Option<Value>>;
    /// `dict[k] += d` (an int); the new value.
    fn dict_add(&mut self, k: &Value, d: i64) -> R<i64>;
    /// Pushes onto `dict[k]` (a list); its new length.
    fn dict_nested_push(&mut self, k: &Value, v: Value) -> R<usize>;
    fn dict_remove(&mut self, k: &Value) -> R<Option<Value>>;
    fn dict_pop_item(&mut self) -> R<Option<(Value, Value)>>;

    fn queue_len(&mut self) -> R<usize>;
    fn put(&mut self, v: Value) -> R;
    /// Takes the oldest message, copies it out and frees it.
    fn take(&mut self) -> R<Option<Value>>;
    /// The oldest message, left in the queue.
    fn peek(&mut self) -> R<Option<Value>>;
}

/// The seed of turn `t` of peer `p` (splitmix64 of the three; never 0).
fn turn_seed(seed: u64, p: usize, t: u64) -> u64 {
    let mut z = seed ^ (p as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ t.rotate_left(24);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

/// A dict key: an int, a str or a tuple (distinct keys are distinct under
/// Python's equality too, so the model can compare structurally).
fn key(k: u64) -> Value {
    match k % 3 {
        0 => Value::Int(k as i64),
        1 => Value::Str(format!("k{k}")),
        _ => value!((k as i64, "t")),
    }
}

/// A value of some kind and size, made by peer `p` in turn `t`.
fn make_value(rng: &mut Rng, p: usize, t: u64) -> Value {
    let (pi, ti) = (p as i64, t as i64);
    match rng.below(12) {
        0..=2 => Value::Int(pi * 1_000_000 + ti),
        3 => Value::Str(format!("p{p}t{t}{}", "~".repeat(rng.below(80) as usize))),
        4 => {
            let n = rng.below(40) as usize;
            Value::Bytes(rng.bytes(n))
        }
        5 => value!((pi, ti, "tuple")),
        6 => value!([pi, ti, ["nested", None]]),
        7 => Value::Dict(vec![
            ("p".into(), Value::Int(pi)),
            ("t".into(), Value::Int(ti)),
            (value!((pi, ti)), Value::Str(format!("d{t}"))),
        ]),
        8 => Value::Set(vec![
            Value::Int(-pi - 1),
            Value::Int(ti),
            Value::Str(format!("s{}", rng.below(100))),
        ]),
        9 => Value::Float(t as f64 / 4.0),
        10 => Value::bytearray(format!("ba{p}-{t}").into_bytes()),
        _ => {
            if rng.below(2) == 0 {
                Value::None
            } else {
                Value::Bool(t.is_multiple_of(2))
            }
        }
    }
}

/// A dict value: half the time an int (for `+=` in place), often a list
/// (for nested pushes).
fn make_dict_value(rng: &mut Rng, p: usize, t: u64) -> Value {
    match rng.below(8) {
        0..=3 => Value::Int(rng.below(1000) as i64),
        4 => value!([p as i64]),
        _ => make_value(rng, p, t),
    }
}

/// Turn `t` of peer `p`: does its operations on `s` and returns the
/// transcript of what it observed.
fn step(s: &mut impl Store, procs: usize, seed: u64, p: usize, t: u64) -> R<String> {
    let mut rng = Rng(turn_seed(seed, p, t));
    let mut out = String::new();
    let w = &mut out;
    let total = s.bump_total()?;
    let _ = write!(w, "total={total};");
    let d = 1 + rng.below(5) as i64;
    let _ = write!(w, "mine={};", s.counter_add(p, d)?);
    let k = procs + rng.below(SHARED_COUNTERS as u64) as usize;
    let d = 1 + rng.below(5) as i64;
    let _ = write!(w, "shared{k}={};", s.counter_add(k, d)?);
    if rng.below(4) == 0 {
        let label = format!("p{p}/t{t}/{}", "x".repeat(rng.below(40) as usize));
        let _ = write!(w, "label={:?};", s.set_label(label)?);
    }

    // The work list: a random walk of pushes and pops, plus reads,
    // overwrites and mutation of items in place.
    for _ in 0..1 + rng.below(3) {
        let len = s.work_len()?;
        let r = rng.below(10);
        let _ = write!(w, "wlen={len};");
        if len == 0 || (r < 3 && len < WORK_MAX) {
            s.work_push(make_value(&mut rng, p, t))?;
        } else if r < 6 || len >= WORK_MAX {
            let _ = write!(w, "pop={:?};", s.work_pop()?);
        } else {
            let i = rng.below(len as u64) as usize;
            let cur = s.work_get(i)?;
            let _ = write!(w, "get{i}={cur:?};");
            match (r, cur) {
                (6, _) => s.work_set(i, make_value(&mut rng, p, t))?,
                (_, Value::Int(_)) => {
                    let d = rng.below(100) as i64 - 50;
                    let _ = write!(w, "add={};", s.work_add(i, d)?);
                }
                (_, Value::List(_)) => {
                    let n = s.work_nested_push(i, Value::Int(t as i64))?;
                    let _ = write!(w, "npush={n};");
                }
                (_, Value::Dict(_)) => {
                    let k = Value::Str(format!("n{}", rng.below(4)));
                    let old = s.work_nested_insert(i, k, Value::Int(p as i64))?;
                    let _ = write!(w, "nins={old:?};");
                }
                (_, Value::Set(_)) => {
                    let m = Value::Int(rng.below(8) as i64);
                    let _ = write!(w, "sadd={};", s.work_set_add(i, m)?);
                }
                _ => {}
            }
        }
    }

    // The dict: inserts, updates, `+=`, nested pushes, removals, popitem.
    for _ in 0..1 + rng.below(2) {
        let k = key(rng.below(KEYS));
        let cur = s.dict_get(&k)?;
        let r = rng.below(10);
        let _ = write!(w, "dget={cur:?};");
        match (r, cur) {
            (0..=4, Some(Value::Int(_))) => {
                let d = 1 + rng.below(9) as i64;
                let _ = write!(w, "dadd={};", s.dict_add(&k, d)?);
            }
            (0..=4, Some(Value::List(_))) => {
                let n = s.dict_nested_push(&k, Value::Str(format!("{p}:{t}")))?;
                let _ = write!(w, "dpush={n};");
            }
            (5 | 6, Some(_)) => {
                let _ = write!(w, "drm={:?};", s.dict_remove(&k)?);
            }
            (7, _) => {
                let _ = write!(w, "dpop={:?};", s.dict_pop_item()?);
            }
            _ => {
                let v = make_dict_value(&mut rng, p, t);
                let _ = write!(w, "dins={:?};", s.dict_insert(k, v)?);
            }
        }
    }
    let _ = write!(w, "dlen={};", s.dict_len()?);

    // The message queue: a bounded random walk of puts and takes.
    let n = s.queue_len()?;
    let r = rng.below(8);
    let _ = write!(w, "qlen={n};");
    if (r < 3 || r == 7 || n == 0) && n < QMAX {
        s.put(make_value(&mut rng, p, t))?;
    }
    if (3..6).contains(&r) || r == 7 {
        let _ = write!(w, "take={:?};", s.take()?);
    }
    if r == 6 {
        let _ = write!(w, "peek={:?};", s.peek()?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The segment side.

/// Handles of the root's parts.
#[derive(Clone, Copy, Debug)]
struct Handles {
    root: Handle,
    counters: Handle,
    work: Handle,
    dict: Handle,
    log: Handle,
}

impl Handles {
    fn of(turn: &mut Turn<'_>, root: Handle) -> R<Handles> {
        let l = turn.list_mut(root).ctx("root")?;
        let part = |i: usize| -> R<Handle> {
            l.item_handle(i)
                .ctx("root item handle")?
                .ok_or_else(|| format!("root item {i} is not an object"))
        };
        Ok(Handles {
            root,
            counters: part(COUNTERS)?,
            work: part(WORK)?,
            dict: part(DICT)?,
            log: part(LOG)?,
        })
    }
}

struct Shared<'a, 's> {
    turn: &'a mut Turn<'s>,
    h: Handles,
}

impl Store for Shared<'_, '_> {
    fn bump_total(&mut self) -> R<i64> {
        let mut root = self.turn.list_mut(self.h.root).ctx("root")?;
        let x = root.int_mut(TOTAL).ctx("total")?;
        *x += 1;
        Ok(*x)
    }

    fn counter_add(&mut self, i: usize, d: i64) -> R<i64> {
        let mut c = self.turn.list_mut(self.h.counters).ctx("counters")?;
        let x = c.int_mut(i).ctx("counter")?;
        *x += d;
        Ok(*x)
    }

    fn set_label(&mut self, s: String) -> R<String> {
        let mut root = self.turn.list_mut(self.h.root).ctx("root")?;
        let old = root
            .get(LABEL)
            .ctx("label")?
            .as_str()
            .ctx("label")?
            .to_owned();
        root.set(LABEL, s).ctx("set label")?;
        Ok(old)
    }

    fn work_len(&mut self) -> R<usize> {
        Ok(self.turn.list_mut(self.h.work).ctx("work")?.len())
    }

    fn work_push(&mut self, v: Value) -> R {
        self.turn
            .list_mut(self.h.work)
            .ctx("work")?
            .push(v)
            .ctx("push")
    }

    fn work_pop(&mut self) -> R<Option<Value>> {
        self.turn
            .list_mut(self.h.work)
            .ctx("work")?
            .pop()
            .ctx("pop")
    }

    fn work_get(&mut self, i: usize) -> R<Value> {
        let l = self.turn.list_mut(self.h.work).ctx("work")?;
        l.get(i).ctx("work get")?.to_value().ctx("work item")
    }

    fn work_set(&mut self, i: usize, v: Value) -> R {
        self.turn
            .list_mut(self.h.work)
            .ctx("work")?
            .set(i, v)
            .ctx("work set")
    }

    fn work_add(&mut self, i: usize, d: i64) -> R<i64> {
        let mut l = self.turn.list_mut(self.h.work).ctx("work")?;
        let x = l.int_mut(i).ctx("work int_mut")?;
        *x += d;
        Ok(*x)
    }

    fn work_nested_push(&mut self, i: usize, v: Value) -> R<usize> {
        let mut l = self.turn.list_mut(self.h.work).ctx("work")?;
        let mut n = l.list_mut(i).ctx("work list_mut")?;
        n.push(v).ctx("nested push")?;
        Ok(n.len())
    }

    fn work_nested_insert(&mut self, i: usize, k: Value, v: Value) -> R<Option<Value>> {
        let mut l = self.turn.list_mut(self.h.work).ctx("work")?;
        let mut d = l.dict_mut(i).ctx("work dict_mut")?;
        d.insert(k, v).ctx("nested insert")
    }

    fn work_set_add(&mut self, i: usize, m: Value) -> R<bool> {
        let mut l = self.turn.list_mut(self.h.work).ctx("work")?;
        let mut s = l.set_mut(i).ctx("work set_mut")?;
        s.insert(m).ctx("set insert")
    }

    fn dict_len(&mut self) -> R<usize> {
        Ok(self.turn.dict_mut(self.h.dict).ctx("dict")?.len())
    }

    fn dict_get(&mut self, k: &Value) -> R<Option<Value>> {
        let d = self.turn.dict_mut(self.h.dict).ctx("dict")?;
        d.get(k)
            .ctx("dict get")?
            .map(|v| v.to_value())
            .transpose()
            .ctx("dict value")
    }

    fn dict_insert(&mut self, k: Value, v: Value) -> R<Option<Value>> {
        self.turn
            .dict_mut(self.h.dict)
            .ctx("dict")?
            .insert(k, v)
            .ctx("dict insert")
    }

    fn dict_add(&mut self, k: &Value, d: i64) -> R<i64> {
        let mut m = self.turn.dict_mut(self.h.dict).ctx("dict")?;
        let x = m.int_mut(k).ctx("dict int_mut")?;
        *x += d;
        Ok(*x)
    }

    fn dict_nested_push(&mut self, k: &Value, v: Value) -> R<usize> {
        let mut m = self.turn.dict_mut(self.h.dict).ctx("dict")?;
        let mut l = m.list_mut(k).ctx("dict list_mut")?;
        l.push(v).ctx("dict nested push")?;
        Ok(l.len())
    }

    fn dict_remove(&mut self, k: &Value) -> R<Option<Value>> {
        self.turn
            .dict_mut(self.h.dict)
            .ctx("dict")?
            .remove(k)
            .ctx("dict remove")
    }

    fn dict_pop_item(&mut self) -> R<Option<(Value, Value)>> {
        self.turn
            .dict_mut(self.h.dict)
            .ctx("dict")?
            .pop_item()
            .ctx("dict pop_item")
    }

    fn queue_len(&mut self) -> R<usize> {
        Ok(self.turn.message_count())
    }

    fn put(&mut self, v: Value) -> R {
        self.turn.put_message(&v).ctx("put_message").map(drop)
    }

    fn take(&mut self) -> R<Option<Value>> {
        let Some(h) = self.turn.take_message().ctx("take_message")? else {
            return Ok(None);
        };
        let v = self.turn.get(h).ctx("taken")?.to_value().ctx("taken")?;
        self.turn.free(h).ctx("free taken")?;
        Ok(Some(v))
    }

    fn peek(&mut self) -> R<Option<Value>> {
        let Some(h) = self.turn.read_message().ctx("read_message")? else {
            return Ok(None);
        };
        Ok(Some(
            self.turn.get(h).ctx("peeked")?.to_value().ctx("peeked")?,
        ))
    }
}

// ---------------------------------------------------------------------------
// The model.

#[derive(Debug)]
struct Model {
    counters: Vec<i64>,
    work: Vec<Value>,
    /// Insertion order, as the shared dict keeps it.
    dict: Vec<(Value, Value)>,
    queue: VecDeque<Value>,
    total: i64,
    label: String,
}

impl Model {
    fn new(procs: usize) -> Model {
        Model {
            counters: vec![0; procs + SHARED_COUNTERS],
            work: Vec::new(),
            dict: Vec::new(),
            queue: VecDeque::new(),
            total: 0,
            label: "start".to_owned(),
        }
    }

    fn pos(&self, k: &Value) -> Option<usize> {
        self.dict.iter().position(|(q, _)| q == k)
    }

    fn dict_value(&mut self, k: &Value) -> R<&mut Value> {
        let i = self.pos(k).ok_or_else(|| format!("model: no key {k:?}"))?;
        Ok(&mut self.dict[i].1)
    }

    fn work_item(&mut self, i: usize) -> R<&mut Value> {
        let n = self.work.len();
        self.work
            .get_mut(i)
            .ok_or_else(|| format!("model: work item {i} of {n}"))
    }
}

fn mismatch(what: &str, v: &Value) -> String {
    format!("model: {what} on {v:?}")
}

impl Store for Model {
    fn bump_total(&mut self) -> R<i64> {
        self.total += 1;
        Ok(self.total)
    }

    fn counter_add(&mut self, i: usize, d: i64) -> R<i64> {
        self.counters[i] += d;
        Ok(self.counters[i])
    }

    fn set_label(&mut self, s: String) -> R<String> {
        Ok(std::mem::replace(&mut self.label, s))
    }

    fn work_len(&mut self) -> R<usize> {
        Ok(self.work.len())
    }

    fn work_push(&mut self, v: Value) -> R {
        self.work.push(v);
        Ok(())
    }

    fn work_pop(&mut self) -> R<Option<Value>> {
        Ok(self.work.pop())
    }

    fn work_get(&mut self, i: usize) -> R<Value> {
        self.work_item(i).cloned()
    }

    fn work_set(&mut self, i: usize, v: Value) -> R {
        *self.work_item(i)? = v;
        Ok(())
    }

    fn work_add(&mut self, i: usize, d: i64) -> R<i64> {
        match self.work_item(i)? {
            Value::Int(x) => {
                *x += d;
                Ok(*x)
            }
            v => Err(mismatch("+=", v)),
        }
    }

    fn work_nested_push(&mut self, i: usize, v: Value) -> R<usize> {
        match self.work_item(i)? {
            Value::List(items) => {
                items.push(v);
                Ok(items.len())
            }
            v => Err(mismatch("nested push", v)),
        }
    }

    fn work_nested_insert(&mut self, i: usize, k: Value, v: Value) -> R<Option<Value>> {
        match self.work_item(i)? {
            Value::Dict(entries) => match entries.iter_mut().find(|(q, _)| *q == k) {
                Some((_, old)) => Ok(Some(std::mem::replace(old, v))),
                None => {
                    entries.push((k, v));
                    Ok(None)
                }
            },
            v => Err(mismatch("nested insert", v)),
        }
    }

    fn work_set_add(&mut self, i: usize, m: Value) -> R<bool> {
        match self.work_item(i)? {
            Value::Set(members) => {
                if members.contains(&m) {
                    Ok(false)
                } else {
                    members.push(m);
                    Ok(true)
                }
            }
            v => Err(mismatch("set add", v)),
        }
    }

    fn dict_len(&mut self) -> R<usize> {
        Ok(self.dict.len())
    }

    fn dict_get(&mut self, k: &Value) -> R<Option<Value>> {
        Ok(self.pos(k).map(|i| self.dict[i].1.clone()))
    }

    fn dict_insert(&mut self, k: Value, v: Value) -> R<Option<Value>> {
        match self.pos(&k) {
            Some(i) => Ok(Some(std::mem::replace(&mut self.dict[i].1, v))),
            None => {
                self.dict.push((k, v));
                Ok(None)
            }
        }
    }

    fn dict_add(&mut self, k: &Value, d: i64) -> R<i64> {
        match self.dict_value(k)? {
            Value::Int(x) => {
                *x += d;
                Ok(*x)
            }
            v => Err(mismatch("dict +=", v)),
        }
    }

    fn dict_nested_push(&mut self, k: &Value, v: Value) -> R<usize> {
        match self.dict_value(k)? {
            Value::List(items) => {
                items.push(v);
                Ok(items.len())
            }
            v => Err(mismatch("dict nested push", v)),
        }
    }

    fn dict_remove(&mut self, k: &Value) -> R<Option<Value>> {
        Ok(self.pos(k).map(|i| self.dict.remove(i).1))
    }

    fn dict_pop_item(&mut self) -> R<Option<(Value, Value)>> {
        Ok(self.dict.pop())
    }

    fn queue_len(&mut self) -> R<usize> {
        Ok(self.queue.len())
    }

    fn put(&mut self, v: Value) -> R {
        self.queue.push_back(v);
        Ok(())
    }

    fn take(&mut self) -> R<Option<Value>> {
        Ok(self.queue.pop_front())
    }

    fn peek(&mut self) -> R<Option<Value>> {
        Ok(self.queue.front().cloned())
    }
}

// ---------------------------------------------------------------------------
// The peer.

#[test]
fn peer_main() {
    let Ok(role) = std::env::var(common::PEER_ENV) else {
        return;
    };
    // The peer's own watchdog, scaled like the test's (common's fixed
    // 100 s would end a large run early).
    let limit = Duration::from_secs(env_u64("STRESS_PEER_LIMIT_S"));
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("peer {}: watchdog expired", std::process::id());
        std::process::exit(99);
    });
    let r = match role.as_str() {
        "stress" => peer_stress(),
        other => Err(format!("unknown role {other}")),
    };
    // The segment was dropped (unregistered) inside the role.
    let code = match r {
        Ok(msg) => {
            say(msg);
            0
        }
        Err(e) => {
            say(format!("error {e}"));
            1
        }
    };
    std::process::exit(code);
}

fn peer_stress() -> R<String> {
    let seg = Segment::attach(&env("SHMHEAP_NAME")).ctx("attach")?;
    let root = Handle::from_raw(env_u64("STRESS_ROOT_OFF"), env_u64("STRESS_ROOT_GEN"));
    let p = env_u64("STRESS_P") as usize;
    let procs = env_u64("STRESS_PROCS") as usize;
    let turns = env_u64("STRESS_TURNS");
    let seed = env_u64("STRESS_SEED");
    // Register, then wait for everyone, so that the turns overlap.
    let h = {
        let mut turn = seg.turn_timeout(TURN_WAIT).ctx("first turn")?;
        let h = Handles::of(&mut turn, root)?;
        *turn
            .list_mut(root)
            .ctx("root")?
            .int_mut(READY)
            .ctx("ready")? += 1;
        h
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let turn = seg.turn_timeout(TURN_WAIT).ctx("barrier turn")?;
        let ready = turn
            .get(root)
            .and_then(|v| v.as_list()?.get(READY)?.as_int())
            .ctx("ready")?;
        drop(turn);
        if ready == procs as i64 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "only {ready} of {procs} peers came"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let validate_every = (turns / 4).max(1);
    let start = Instant::now();
    for t in 0..turns {
        let mut turn = seg.turn_timeout(TURN_WAIT).ctx("turn")?;
        let out = step(&mut Shared { turn: &mut turn, h }, procs, seed, p, t)
            .map_err(|e| format!("peer {p} turn {t}: {e}"))?;
        let mut log = turn.list_mut(h.log).ctx("log")?;
        log.push(((p as i64) << 32) | t as i64).ctx("log push")?;
        log.push(digest(&out) as i64).ctx("log push")?;
        if t % validate_every == validate_every - 1 {
            let rep = turn.validate().ctx("validate")?;
            ensure!(
                rep.orphans == 0,
                "peer {p} turn {t}: validate found {rep:?}"
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(seg);
    Ok(format!("done {p} {secs:.3}"))
}

// ---------------------------------------------------------------------------
// The test.

/// Waits for every peer to exit 0 (killing the rest and failing at the
/// first that does not, or at `deadline`).
fn wait_all(peers: &mut [Peer], deadline: Instant) -> Vec<String> {
    let mut done = vec![false; peers.len()];
    let mut lines = Vec::new();
    while done.iter().any(|d| !d) {
        for i in 0..peers.len() {
            if done[i] {
                continue;
            }
            if let Some(st) = peers[i].try_status() {
                let (_, ls) = peers[i].finish(Duration::from_secs(10));
                if st.code() != Some(0) {
                    for q in peers.iter_mut() {
                        q.kill();
                    }
                    panic!(
                        "peer {i} (pid {}) exited with {}; lines {ls:?}",
                        peers[i].pid,
                        common::describe(st)
                    );
                }
                lines.extend(ls);
                done[i] = true;
            }
        }
        if Instant::now() > deadline {
            for q in peers.iter_mut() {
                q.kill();
            }
            panic!("peers did not finish in time; done: {done:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    lines
}

fn root_value(procs: usize) -> Value {
    Value::List(vec![
        Value::List(vec![Value::Int(0); procs + SHARED_COUNTERS]),
        Value::List(Vec::new()),
        Value::dict(),
        Value::List(Vec::new()),
        Value::Int(0),
        Value::Int(0),
        Value::from("start"),
    ])
}

/// Validates the segment and checks the allocator's numbers against the
/// validator's: every allocated block reachable, none counted twice, and
/// allocated plus free within the heap. Returns the report and the bytes
/// of the heap neither used nor free (the allocator's own bookkeeping,
/// which must be the same whenever the segment is at rest).
fn check_accounting(turn: &Turn<'_>, when: &str) -> (shmheap::Report, u64) {
    let st = turn.stats();
    let rep = turn
        .validate()
        .unwrap_or_else(|e| panic!("{when}: validate: {e}"));
    assert_eq!(rep.orphans, 0, "{when}: orphans in {rep:?}");
    assert_eq!(rep.blocks, st.blocks, "{when}: {rep:?} vs {st:?}");
    assert_eq!(rep.reachable, st.blocks, "{when}: {rep:?} vs {st:?}");
    let header = st.high_water - rep.heap_bytes;
    assert!(
        st.used + st.free + header <= st.size,
        "{when}: used + free + header > size: {st:?}, {rep:?}"
    );
    assert!(st.free_in_bins <= st.free, "{when}: {st:?}");
    (rep, st.size - header - st.used - st.free)
}

#[test]
fn stress_mixed_ops_match_model() {
    let (turns, procs, seed) = (turns(), procs(), seed());
    let limit = limit(procs, turns);
    let _wd = Watchdog::new("stress", limit);
    let name = unique_name("stress");
    // The log takes 32 bytes a turn; nested lists grow at most a slot a
    // turn; the rest is bounded.
    let size = (64 << 20) + 96 * procs as u64 * turns;
    let seg = Segment::options()
        .size(size)
        .max_processes(procs as u32 + 1)
        .create(&name)
        .expect("create");

    // Grow the queue's ring to its final capacity, so that freeing
    // everything at the end must give back exactly this state.
    let (base, base_gap, root) = {
        let mut turn = seg.turn().unwrap();
        for i in 0..QMAX {
            turn.put_message(&Value::Int(i as i64)).unwrap();
        }
        while let Some(h) = turn.take_message().unwrap() {
            turn.free(h).unwrap();
        }
        let base = turn.stats();
        let (rep, gap) = check_accounting(&turn, "base");
        assert_eq!((rep.roots, rep.messages), (0, 0), "{rep:?}");
        let root = turn.put_message(&root_value(procs)).unwrap();
        assert_eq!(turn.take_message().unwrap(), Some(root));
        (base, gap, root)
    };

    let started = Instant::now();
    let mut peers: Vec<Peer> = (0..procs)
        .map(|p| {
            Peer::spawn(
                "stress",
                &[
                    ("SHMHEAP_NAME", name.clone()),
                    ("STRESS_ROOT_OFF", root.offset().to_string()),
                    ("STRESS_ROOT_GEN", root.generation().to_string()),
                    ("STRESS_P", p.to_string()),
                    ("STRESS_PROCS", procs.to_string()),
                    ("STRESS_TURNS", turns.to_string()),
                    ("STRESS_SEED", seed.to_string()),
                    ("STRESS_PEER_LIMIT_S", limit.as_secs().to_string()),
                ],
            )
        })
        .collect();
    let lines = wait_all(&mut peers, started + limit - Duration::from_secs(5));
    let secs = started.elapsed().as_secs_f64();
    let total_turns = procs as u64 * turns;
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("done ")).count(),
        procs,
        "{lines:?}"
    );
    assert_eq!(
        seg.processes(),
        vec![std::process::id()],
        "every peer detached"
    );

    let mut turn = seg.turn().unwrap();
    let (rep, gap) = check_accounting(&turn, "after the run");
    assert_eq!(
        gap, base_gap,
        "heap bytes neither used nor free, after the run"
    );
    let full = turn.stats();

    // Replay the log against the model, turn by turn.
    let log: Vec<i64> = {
        let l = turn.get(root).unwrap().as_list().unwrap();
        let log = l.get(LOG).unwrap().as_list().unwrap();
        log.iter().map(|v| v.unwrap().as_int().unwrap()).collect()
    };
    assert_eq!(log.len() as u64, 2 * total_turns, "log length");
    let mut model = Model::new(procs);
    let mut next = vec![0u64; procs];
    let mut switches = 0u64;
    let mut last = usize::MAX;
    for (i, e) in log.chunks_exact(2).enumerate() {
        let (p, t) = ((e[0] >> 32) as usize, e[0] as u32 as u64);
        assert!(p < procs, "log entry {i}: peer {p}");
        assert_eq!(t, next[p], "log entry {i}: peer {p} logged turn {t}");
        next[p] += 1;
        switches += u64::from(p != last);
        last = p;
        let out = step(&mut model, procs, seed, p, t)
            .unwrap_or_else(|e| panic!("log entry {i}: peer {p} turn {t}: {e}"));
        assert_eq!(
            digest(&out) as i64,
            e[1],
            "log entry {i}: peer {p} turn {t} observed something else than the model: {out}"
        );
    }
    assert!(next.iter().all(|&n| n == turns), "turns per peer {next:?}");

    // The final state, item by item.
    let l = turn.get(root).unwrap().as_list().unwrap();
    assert_eq!(l.len(), 7);
    let counters = l.get(COUNTERS).unwrap().as_list().unwrap();
    assert_eq!(counters.len(), model.counters.len());
    for (i, want) in model.counters.iter().enumerate() {
        assert_eq!(
            counters.get(i).unwrap().as_int().unwrap(),
            *want,
            "counter {i}"
        );
    }
    let work = l.get(WORK).unwrap().as_list().unwrap();
    assert_eq!(work.len(), model.work.len(), "work length");
    for (i, want) in model.work.iter().enumerate() {
        assert_eq!(
            &work.get(i).unwrap().to_value().unwrap(),
            want,
            "work item {i}"
        );
    }
    let dict = l.get(DICT).unwrap().as_dict().unwrap();
    assert_eq!(dict.len(), model.dict.len(), "dict length");
    for (i, (got, want)) in dict.iter().zip(&model.dict).enumerate() {
        let (k, v) = got.unwrap();
        assert_eq!(&k.to_value().unwrap(), &want.0, "dict entry {i}: key");
        assert_eq!(&v.to_value().unwrap(), &want.1, "dict entry {i}: value");
        let by_key = dict.get(&want.0).unwrap().expect("key found by lookup");
        assert_eq!(&by_key.to_value().unwrap(), &want.1, "dict[{:?}]", want.0);
    }
    assert_eq!(l.get(TOTAL).unwrap().as_int().unwrap(), total_turns as i64);
    assert_eq!(l.get(READY).unwrap().as_int().unwrap(), procs as i64);
    assert_eq!(l.get(LABEL).unwrap().as_str().unwrap(), model.label);
    // Roots: the root list and every queued message.
    let queued = model.queue.len();
    assert_eq!(
        (rep.roots, rep.messages),
        (1 + queued as u64, queued as u64)
    );

    // The queue, in order; then free everything.
    for (i, want) in model.queue.iter().enumerate() {
        let h = turn.take_message().unwrap().expect("a message");
        assert_eq!(
            &turn.get(h).unwrap().to_value().unwrap(),
            want,
            "message {i}"
        );
        turn.free(h).unwrap();
    }
    assert_eq!(
        turn.take_message().unwrap(),
        None,
        "more messages than the model"
    );
    turn.free(root).unwrap();
    let end = turn.stats();
    let (rep, gap) = check_accounting(&turn, "after freeing everything");
    assert_eq!(
        gap, base_gap,
        "heap bytes neither used nor free, at the end"
    );
    assert_eq!((rep.roots, rep.messages), (0, 0));
    assert_eq!(
        (end.used, end.blocks),
        (base.used, base.blocks),
        "freeing everything gives back all memory: {base:?} before, {end:?} after"
    );
    drop(turn);

    println!(
        "stress: {procs} procs x {turns} turns = {total_turns} turns in {secs:.2} s, \
         {:.0} turns/s (seed {seed:#x}; {switches} switches between peers in the log; \
         final: {} work items, {} dict keys, {queued} messages, {} KiB in use, high water {} KiB)",
        total_turns as f64 / secs,
        model.work.len(),
        model.dict.len(),
        full.used >> 10,
        full.high_water >> 10
    );
}
