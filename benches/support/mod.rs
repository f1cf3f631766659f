//! Workloads shared by the criterion benches (`benches/core.rs`,
//! `benches/handoff.rs`) and the report (`examples/bench_report.rs`): each
//! shmheap operation and its baseline as a [`Side`] (`run(iters)` returns
//! the time of `iters` iterations, like criterion's `iter_custom`), and the
//! peer processes of the two-process ones.
//!
//! A binary that uses the two-process workloads calls [`peer_dispatch`]
//! first thing in `main`: a peer is the same binary started with the env var
//! [`PEER_ENV`] naming its role.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shmheap::{Error, Handle, Segment, SegmentOptions, Turn, Value, ValueRef, value};

/// Env var naming the role a spawned peer plays.
pub const PEER_ENV: &str = "SHMHEAP_BENCH_PEER";
/// Env var carrying the peer's arguments (space-separated).
pub const ARG_ENV: &str = "SHMHEAP_BENCH_ARG";

/// Items in the int64 lists.
pub const INTS: usize = 1000;
/// Ints pushed per append iteration (the list is made and freed around them).
pub const APPEND: usize = 10_000;
/// Size of the bulk `bytes` message.
pub const BULK: usize = 400 * 1024;

/// One side of a comparison: `run(iters)` does `iters` iterations and
/// returns how long they took (setup excluded).
pub trait Side {
    /// Runs `iters` iterations; returns their time.
    fn run(&mut self, iters: u64) -> Duration;
}

impl<F: FnMut(u64) -> Duration> Side for F {
    fn run(&mut self, iters: u64) -> Duration {
        self(iters)
    }
}

/// Unwraps a shmheap result in a bench (an error is a bug in the bench or
/// the library, not a measurement).
#[track_caller]
pub fn ok<T>(r: Result<T, Error>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("shmheap error in a bench: {e}"),
    }
}

/// Removes the shared-memory names this process made (for an exit that
/// skips destructors).
pub fn remove_leftovers() {
    let prefix = format!("shmheap-bench-{}-", std::process::id());
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// A segment name unique to this process and call.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "shmheap-bench-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A named (`/dev/shm`) segment of `size` bytes.
pub fn named_segment(tag: &str, size: u64) -> Segment {
    ok(Segment::create(&unique_name(tag), size))
}

/// A list `[0, 0]` owned by the creator (not in the queue): item 0 is a
/// stop flag, item 1 a counter.
fn control_list(seg: &Segment) -> Handle {
    let mut t = ok(seg.turn());
    let h = ok(t.put_message(&value!([0, 0])));
    assert_eq!(ok(t.take_message()), Some(h));
    h
}

/// Tells the peer to stop (best effort: this also runs while unwinding
/// from a failed run, when the peer may be dead or hold the turn).
fn set_stop(seg: &Segment, ctl: Handle) {
    if let Ok(mut t) = seg.turn_timeout(Duration::from_secs(2))
        && let Ok(mut l) = t.list_mut(ctl)
        && let Ok(x) = l.int_mut(0)
    {
        *x = 1;
    }
}

fn stopped(t: &Turn<'_>, ctl: Handle) -> Result<bool, Error> {
    Ok(t.get(ctl)?.as_list()?.get(0)?.as_int()? != 0)
}

/// A deterministic permutation of `0..n` (xorshift Fisher-Yates).
pub fn permutation(n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.swap(i, (x % (i as u64 + 1)) as usize);
    }
    p
}

// ---------------------------------------------------------------------------
// Values, their serde mirror, and readers that touch every item.

/// The seed's mixed message.
pub fn seed_value() -> Value {
    value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}])
}

/// A list of 1000 ints.
pub fn ints_value() -> Value {
    Value::List((0..1000).map(Value::Int).collect())
}

/// A mixed, nested value of about 1.5 KB (validation workloads).
pub fn mixed_value(i: i64) -> Value {
    let s = "the quick brown fox jumps over the lazy dog ".repeat(1 + (i % 4) as usize);
    value!([
        "hello",
        i,
        (8, 2.0, false),
        {b"world": -6, 5: 4},
        s,
        Value::List((0..32).map(|k| Value::Int(i * k)).collect()),
        Value::Tuple((0..8).map(|k| Value::Float(k as f64 * 0.5)).collect()),
        Value::Bytes(vec![i as u8; 200]),
        Value::bytearray(vec![7u8; 64]),
        Value::Dict(
            (0..8)
                .map(|k| (Value::Str(format!("key{k}")), Value::Int(k)))
                .collect()
        ),
        Value::Set((0..4).map(Value::Int).collect()),
        [[1, 2], [3, [4, 5, None]]]
    ])
}

/// The serde mirror of [`Value`], for the serialization baselines.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum SValue {
    /// None.
    None,
    /// bool.
    Bool(bool),
    /// int64.
    Int(i64),
    /// float64.
    Float(f64),
    /// str.
    Str(String),
    /// bytes.
    Bytes(Vec<u8>),
    /// bytearray.
    ByteArray(Vec<u8>),
    /// tuple.
    Tuple(Vec<SValue>),
    /// list.
    List(Vec<SValue>),
    /// dict.
    Dict(Vec<(SValue, SValue)>),
    /// set.
    Set(Vec<SValue>),
}

impl From<&Value> for SValue {
    fn from(v: &Value) -> SValue {
        let all = |xs: &[Value]| xs.iter().map(SValue::from).collect();
        // `None` goes through the catch-all so that variants the library
        // adds later (none of which these workloads use) still compile.
        match v {
            Value::Bool(b) => SValue::Bool(*b),
            Value::Int(i) => SValue::Int(*i),
            Value::Float(f) => SValue::Float(*f),
            Value::Str(s) => SValue::Str(s.clone()),
            Value::Bytes(b) => SValue::Bytes(b.clone()),
            Value::ByteArray(b) => SValue::ByteArray(b.clone()),
            Value::Tuple(xs) => SValue::Tuple(all(xs)),
            Value::List(xs) => SValue::List(all(xs)),
            Value::Dict(kv) => SValue::Dict(
                kv.iter()
                    .map(|(k, v)| (SValue::from(k), SValue::from(v)))
                    .collect(),
            ),
            Value::Set(xs) => SValue::Set(all(xs)),
            other => {
                assert!(
                    matches!(other, Value::None),
                    "no serde mirror for {other:?}"
                );
                SValue::None
            }
        }
    }
}

fn touch_bytes(b: &[u8]) -> u64 {
    b.len() as u64 + b.first().copied().unwrap_or(0) as u64
}

/// Reads every item of a shared value in place (ints, floats, lengths and
/// first bytes of strings): what a consumer does with a message.
pub fn walk(v: ValueRef<'_>) -> Result<u64, Error> {
    fn sum<'t>(it: impl Iterator<Item = Result<ValueRef<'t>, Error>>) -> Result<u64, Error> {
        it.into_iter()
            .try_fold(0u64, |a, x| Ok(a.wrapping_add(walk(x?)?)))
    }
    // As in `SValue::from`: `None` (and any variant added later) is the
    // catch-all.
    Ok(match v {
        ValueRef::Bool(b) => b as u64,
        ValueRef::Int(i) => i as u64,
        ValueRef::Float(f) => f.to_bits(),
        ValueRef::Str(s) => touch_bytes(s.as_bytes()),
        ValueRef::Bytes(b) | ValueRef::ByteArray(b) => touch_bytes(b),
        ValueRef::Tuple(t) => sum(t.iter())?,
        ValueRef::List(l) => sum(l.iter())?,
        ValueRef::Set(s) => sum(s.iter())?,
        ValueRef::Dict(d) => d.iter().try_fold(0u64, |a, kv| {
            let (k, v) = kv?;
            Ok::<_, Error>(a.wrapping_add(walk(k)?).wrapping_add(walk(v)?))
        })?,
        _ => 1,
    })
}

/// [`walk`] over the serde mirror.
pub fn walk_s(v: &SValue) -> u64 {
    let sum = |xs: &[SValue]| xs.iter().fold(0u64, |a, x| a.wrapping_add(walk_s(x)));
    match v {
        SValue::None => 1,
        SValue::Bool(b) => *b as u64,
        SValue::Int(i) => *i as u64,
        SValue::Float(f) => f.to_bits(),
        SValue::Str(s) => touch_bytes(s.as_bytes()),
        SValue::Bytes(b) | SValue::ByteArray(b) => touch_bytes(b),
        SValue::Tuple(xs) | SValue::List(xs) | SValue::Set(xs) => sum(xs),
        SValue::Dict(kv) => kv.iter().fold(0u64, |a, (k, v)| {
            a.wrapping_add(walk_s(k)).wrapping_add(walk_s(v))
        }),
    }
}

// ---------------------------------------------------------------------------
// In-process workloads.

/// A shared list of [`INTS`] ints and a local `Vec<i64>`, visited in the
/// same index order (sequential or a random permutation). One iteration is
/// one pass over all items.
pub struct IntList {
    seg: Segment,
    h: Handle,
    local: Vec<i64>,
    idx: Vec<usize>,
}

impl IntList {
    /// `random`: visit the items in a fixed random permutation.
    pub fn new(random: bool) -> IntList {
        let seg = named_segment("ints", 4 << 20);
        let h = {
            let mut t = ok(seg.turn());
            let h = ok(t.put_message(&Value::List((0..INTS as i64).map(Value::Int).collect())));
            ok(t.take_message());
            h
        };
        let idx = if random {
            permutation(INTS)
        } else {
            (0..INTS).collect()
        };
        IntList {
            seg,
            h,
            local: (0..INTS as i64).collect(),
            idx,
        }
    }

    /// `ListRef::get(i)?.as_int()`, summed.
    pub fn shm_read(&mut self, iters: u64) -> Duration {
        let t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            let l = ok(ok(t.get(self.h)).as_list());
            let mut sum = 0i64;
            for &i in &self.idx {
                sum = sum.wrapping_add(ok(ok(l.get(black_box(i))).as_int()));
            }
            black_box(sum);
        }
        start.elapsed()
    }

    /// `ListRef::ints()`, summed (in list order whatever the order asked).
    pub fn shm_ints(&mut self, iters: u64) -> Duration {
        let t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            let l = ok(ok(t.get(self.h)).as_list());
            let mut sum = 0i64;
            for x in black_box(l).ints() {
                sum = sum.wrapping_add(ok(x));
            }
            black_box(sum);
        }
        start.elapsed()
    }

    /// `ListRef::copy_to_slice` into a `Vec<i64>`, then summed.
    pub fn shm_copy(&mut self, iters: u64) -> Duration {
        let t = ok(self.seg.turn());
        let mut out = vec![0i64; INTS];
        let start = Instant::now();
        for _ in 0..iters {
            let l = ok(ok(t.get(self.h)).as_list());
            ok(black_box(l).copy_to_slice(0, &mut out));
            black_box(out.iter().fold(0i64, |a, &b| a.wrapping_add(b)));
        }
        start.elapsed()
    }

    /// `local.iter()`, summed (the baseline of the bulk paths).
    pub fn vec_iter(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let mut sum = 0i64;
            for &x in black_box(&self.local) {
                sum = sum.wrapping_add(x);
            }
            black_box(sum);
        }
        start.elapsed()
    }

    /// `copy_from_slice` into a `Vec<i64>`, then summed.
    pub fn vec_copy(&mut self, iters: u64) -> Duration {
        let mut out = vec![0i64; INTS];
        let start = Instant::now();
        for _ in 0..iters {
            out.copy_from_slice(black_box(&self.local));
            black_box(out.iter().fold(0i64, |a, &b| a.wrapping_add(b)));
        }
        start.elapsed()
    }

    /// `local[i]`, summed.
    pub fn vec_read(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let mut sum = 0i64;
            for &i in &self.idx {
                sum = sum.wrapping_add(self.local[black_box(i)]);
            }
            black_box(sum);
        }
        start.elapsed()
    }

    /// `*ListMut::int_mut(i)? = v`.
    pub fn shm_write(&mut self, iters: u64) -> Duration {
        let mut t = ok(self.seg.turn());
        let start = Instant::now();
        for k in 0..iters {
            let mut l = ok(t.list_mut(self.h));
            for &i in &self.idx {
                *ok(l.int_mut(black_box(i))) = k as i64;
            }
        }
        start.elapsed()
    }

    /// `local[i] = v`.
    pub fn vec_write(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for k in 0..iters {
            for &i in &self.idx {
                self.local[black_box(i)] = k as i64;
            }
            black_box(&mut self.local);
        }
        start.elapsed()
    }

    /// `*ListMut::int_mut(i)? += 1`.
    pub fn shm_add(&mut self, iters: u64) -> Duration {
        let mut t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            let mut l = ok(t.list_mut(self.h));
            for &i in &self.idx {
                *ok(l.int_mut(black_box(i))) += 1;
            }
        }
        start.elapsed()
    }

    /// `local[i] += 1`.
    pub fn vec_add(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            for &i in &self.idx {
                self.local[black_box(i)] += 1;
            }
            black_box(&mut self.local);
        }
        start.elapsed()
    }
}

/// A [`BULK`]-byte `bytes` message put, taken and read in place (one turn)
/// vs `copy_from_slice` of the same bytes into a preallocated `Vec`.
pub struct Bulk {
    seg: Segment,
    v: Value,
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl Bulk {
    /// Setup.
    pub fn new() -> Bulk {
        let src: Vec<u8> = (0..BULK).map(|i| (i * 7) as u8).collect();
        Bulk {
            seg: named_segment("bulk", 8 << 20),
            v: Value::Bytes(src.clone()),
            src,
            dst: vec![0; BULK],
        }
    }

    /// `put_message` + `take_message` + `get(h)?.as_bytes()` + `free`.
    pub fn shm(&mut self, iters: u64) -> Duration {
        let mut t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            ok(t.put_message(black_box(&self.v)));
            let h = ok(t.take_message()).expect("message");
            let b = ok(ok(t.get(h)).as_bytes());
            black_box((b.as_ptr(), b.len(), b[b.len() - 1]));
            ok(t.free(h));
        }
        start.elapsed()
    }

    /// `dst.copy_from_slice(&src)`.
    pub fn memcpy(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.dst.copy_from_slice(black_box(&self.src));
            black_box(&mut self.dst);
        }
        start.elapsed()
    }
}

impl Default for Bulk {
    fn default() -> Self {
        Bulk::new()
    }
}

/// Append: one iteration makes an empty shared list, pushes [`APPEND`]
/// ints and frees it, vs `Vec::new` + `push` + drop.
pub struct Append {
    seg: Segment,
}

impl Append {
    /// Setup.
    pub fn new() -> Append {
        Append {
            seg: named_segment("append", 8 << 20),
        }
    }

    /// `ListMut::push`.
    pub fn shm(&mut self, iters: u64) -> Duration {
        let mut t = ok(self.seg.turn());
        let empty = Value::List(Vec::new());
        let start = Instant::now();
        for _ in 0..iters {
            let h = ok(t.put_message(&empty));
            ok(t.take_message());
            let mut l = ok(t.list_mut(h));
            for i in 0..APPEND as i64 {
                ok(l.push(black_box(i)));
            }
            ok(t.free(h));
        }
        start.elapsed()
    }

    /// `Vec::push`.
    pub fn vec(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let mut v: Vec<i64> = Vec::new();
            for i in 0..APPEND as i64 {
                v.push(black_box(i));
            }
            black_box(&v);
        }
        start.elapsed()
    }
}

impl Default for Append {
    fn default() -> Self {
        Append::new()
    }
}

/// Small strings: `put_message(&Value::Str)` + `take_message` + `free` vs
/// `String::from` + drop.
pub struct SmallStrings {
    seg: Segment,
    v: Value,
}

/// The small string.
pub const SMALL: &str = "hello, world";

impl SmallStrings {
    /// Setup.
    pub fn new() -> SmallStrings {
        SmallStrings {
            seg: named_segment("small", 1 << 20),
            v: Value::from(SMALL),
        }
    }

    /// put + take + free.
    pub fn shm(&mut self, iters: u64) -> Duration {
        let mut t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            ok(t.put_message(black_box(&self.v)));
            let h = ok(t.take_message()).expect("message");
            ok(t.free(black_box(h)));
        }
        start.elapsed()
    }

    /// `String::from` + drop.
    pub fn string(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            drop(black_box(String::from(black_box(SMALL))));
        }
        start.elapsed()
    }
}

impl Default for SmallStrings {
    fn default() -> Self {
        SmallStrings::new()
    }
}

/// A message put, taken, read in place and freed within one process and
/// A list of [`INTS`] ints from a slice, in one process:
/// `put_message_from_slice`, taken, read with `ListRef::ints()`, freed; vs
/// the same ints copied into a new `Vec`, summed and dropped.
pub struct SliceMessage {
    seg: Segment,
    ints: Vec<i64>,
}

impl Default for SliceMessage {
    fn default() -> Self {
        Self::new()
    }
}

impl SliceMessage {
    /// Setup.
    pub fn new() -> SliceMessage {
        SliceMessage {
            seg: named_segment("slice", 4 << 20),
            ints: (0..INTS as i64).collect(),
        }
    }

    /// put_message_from_slice + take + ints() + free.
    pub fn shm(&mut self, iters: u64) -> Duration {
        let mut t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            ok(t.put_message_from_slice(black_box(&self.ints)));
            let h = ok(t.take_message()).expect("message");
            let l = ok(ok(t.get(h)).as_list());
            black_box(ok(l
                .ints()
                .try_fold(0i64, |a, x| x.map(|x| a.wrapping_add(x)))));
            ok(t.free(h));
        }
        start.elapsed()
    }

    /// `to_vec` + sum + drop.
    pub fn vec(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let v = black_box(&self.ints).to_vec();
            black_box(v.iter().fold(0i64, |a, &x| a.wrapping_add(x)));
        }
        start.elapsed()
    }
}

/// one turn, vs postcard serialize + deserialize + read of the same data.
pub struct LocalMessage {
    seg: Segment,
    v: Value,
    s: SValue,
    buf: Vec<u8>,
}

impl LocalMessage {
    /// Setup.
    pub fn new(v: Value) -> LocalMessage {
        LocalMessage {
            seg: named_segment("local", 4 << 20),
            s: SValue::from(&v),
            v,
            buf: vec![0; 1 << 16],
        }
    }

    /// put + take + walk + free.
    pub fn shm(&mut self, iters: u64) -> Duration {
        let mut t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            ok(t.put_message(black_box(&self.v)));
            let h = ok(t.take_message()).expect("message");
            black_box(ok(walk(ok(t.get(h)))));
            ok(t.free(h));
        }
        start.elapsed()
    }

    /// postcard `to_slice` + `from_bytes` + walk.
    pub fn postcard(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let bytes = postcard::to_slice(black_box(&self.s), &mut self.buf).expect("serialize");
            let v: SValue = postcard::from_bytes(bytes).expect("deserialize");
            black_box(walk_s(&v));
        }
        start.elapsed()
    }
}

/// A segment holding about `bytes` of mixed nested values (messages of
/// [`mixed_value`]); one iteration validates it all, vs one read pass
/// summing the same number of bytes as `u64`s.
pub struct Validation {
    seg: Segment,
    /// Heap bytes the validator walks.
    pub bytes: u64,
    /// Messages in it.
    pub messages: u64,
    plain: Vec<u64>,
}

/// Puts [`mixed_value`] messages into `seg` until about `bytes` are used.
pub fn fill_mixed(seg: &Segment, bytes: u64) -> u64 {
    let mut t = ok(seg.turn());
    let base = t.stats().used;
    let mut i = 0i64;
    while t.stats().used - base < bytes {
        for _ in 0..64 {
            ok(t.put_message(&mixed_value(i)));
            i += 1;
        }
    }
    i as u64
}

impl Validation {
    /// Setup (takes a while for 100 MB).
    pub fn new(bytes: u64) -> Validation {
        let seg = named_segment("validate", bytes + bytes / 2 + (16 << 20));
        let messages = fill_mixed(&seg, bytes);
        let t = ok(seg.turn());
        let report = ok(t.validate());
        let image = seg.image(&t);
        let n = (report.heap_bytes / 8) as usize;
        let plain = image[..n * 8]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        drop(t);
        Validation {
            seg,
            bytes: report.heap_bytes,
            messages,
            plain,
        }
    }

    /// `Turn::validate`.
    pub fn validate(&mut self, iters: u64) -> Duration {
        let t = ok(self.seg.turn());
        let start = Instant::now();
        for _ in 0..iters {
            black_box(ok(t.validate()));
        }
        start.elapsed()
    }

    /// Sum of the same number of bytes as `u64`s.
    pub fn read_pass(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let s = black_box(&self.plain)
                .iter()
                .fold(0u64, |a, &x| a.wrapping_add(x));
            black_box(s);
        }
        start.elapsed()
    }
}

/// A 16 GiB named segment holding about 1 MB of mixed values; one
/// iteration attaches to it (and detaches).
pub struct BigAttach {
    seg: Segment,
    /// Bytes of data in it.
    pub data: u64,
}

impl BigAttach {
    /// Setup: `gib` GiB segment, `data` bytes of values.
    pub fn new(gib: u64, data: u64) -> BigAttach {
        let seg = named_segment("big", gib << 30);
        fill_mixed(&seg, data);
        let data = ok(seg.turn()).stats().used;
        BigAttach { seg, data }
    }

    /// `Segment::attach` (validating, `validate = true`) or with
    /// `validate_on_attach(false)`, then drop.
    pub fn attach(&mut self, iters: u64, validate: bool) -> Duration {
        let name = self.seg.name().expect("named");
        let opts = Segment::options().validate_on_attach(validate);
        let start = Instant::now();
        for _ in 0..iters {
            drop(black_box(ok(opts.attach(&name))));
        }
        start.elapsed()
    }
}

// ---------------------------------------------------------------------------
// Peers: the bench binary spawned as the second process.

/// A peer process (this binary in a role). Dropping it closes its stdin
/// (every role exits on EOF) and reaps it, killing it if it lingers.
pub struct Peer {
    child: Child,
    input: Option<BufWriter<ChildStdin>>,
    output: BufReader<ChildStdout>,
}

impl Peer {
    /// Spawns this binary as the peer `role` with arguments `arg` and waits
    /// for its `ready` line.
    pub fn spawn(role: &str, arg: &str) -> Peer {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .env(PEER_ENV, role)
            .env(ARG_ENV, arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn peer");
        let input = Some(BufWriter::new(child.stdin.take().expect("stdin")));
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut p = Peer {
            child,
            input,
            output,
        };
        p.expect_line("ready");
        p
    }

    /// Reads one line and checks it.
    pub fn expect_line(&mut self, want: &str) {
        let mut s = String::new();
        self.output.read_line(&mut s).expect("read peer line");
        assert_eq!(s.trim_end(), want, "unexpected line from the peer");
    }

    fn input(&mut self) -> &mut BufWriter<ChildStdin> {
        self.input.as_mut().expect("peer stdin open")
    }

    /// Panics if the peer has exited (it failed; its error is on stderr).
    pub fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the bench peer exited early ({status}); see its error above");
        }
    }

    /// Waits up to `limit` for the peer to exit (after it was told to stop).
    pub fn wait_exit(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.input.take());
        self.wait_exit(Duration::from_secs(5));
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A small file in `/dev/shm`, mapped shared (the bare baselines' memory:
/// no shmheap involved). The creator removes it on drop.
pub struct ShmFile {
    path: PathBuf,
    owner: bool,
    map: memmap2::MmapMut,
}

impl ShmFile {
    /// Creates and maps a fresh 4 KiB file.
    pub fn create() -> ShmFile {
        let path = PathBuf::from("/dev/shm").join(unique_name("raw"));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create /dev/shm file");
        f.set_len(4096).expect("set_len");
        ShmFile::map(path, &f, true)
    }

    /// Opens and maps an existing one.
    pub fn open(path: &str) -> ShmFile {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open /dev/shm file");
        ShmFile::map(PathBuf::from(path), &f, false)
    }

    fn map(path: PathBuf, f: &File, owner: bool) -> ShmFile {
        // SAFETY: a fresh private file in /dev/shm that only this bench's
        // two processes map; its contents are accessed only as atomics.
        let map = unsafe { memmap2::MmapMut::map_mut(f) }.expect("mmap");
        ShmFile { path, owner, map }
    }

    /// The path (for the peer).
    pub fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// The 32-bit atomic at byte offset `at` (4-aligned, < 4096).
    pub fn u32_at(&self, at: usize) -> &AtomicU32 {
        assert!(at.is_multiple_of(4) && at + 4 <= self.map.len());
        // SAFETY: in bounds and aligned (the mapping is page-aligned);
        // AtomicU32 has no invalid bit patterns; the map outlives `&self`.
        unsafe { &*(self.map.as_ptr().add(at) as *const AtomicU32) }
    }

    /// The 64-bit atomic at byte offset `at` (8-aligned, < 4096).
    pub fn u64_at(&self, at: usize) -> &AtomicU64 {
        assert!(at.is_multiple_of(8) && at + 8 <= self.map.len());
        // SAFETY: as in `u32_at`.
        unsafe { &*(self.map.as_ptr().add(at) as *const AtomicU64) }
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Strict alternation through the shmheap turn: each round trip is one
/// turn of this process and one of the peer, each doing one `+= 1` on a
/// shared list item (the parity of the count says whose move it is).
pub struct TurnPingPong {
    seg: Segment,
    ctl: Handle,
    peer: Peer,
}

impl TurnPingPong {
    /// Creates the segment and spawns the peer.
    pub fn new() -> TurnPingPong {
        let seg = named_segment("turn", 1 << 20);
        let ctl = control_list(&seg);
        let (o, g) = ctl.to_raw();
        let arg = format!("{} {o} {g}", seg.name().expect("named"));
        let peer = Peer::spawn("turn", &arg);
        TurnPingPong { seg, ctl, peer }
    }

    /// `iters` round trips.
    pub fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let mut idle = 0u32;
            loop {
                let mut t = ok(self.seg.turn());
                let mut l = ok(t.list_mut(self.ctl));
                let x = ok(l.int_mut(1));
                if *x % 2 == 0 {
                    *x += 1;
                    break;
                }
                drop(t);
                idle += 1;
                if idle.is_multiple_of(4096) {
                    self.peer.check_alive();
                }
            }
        }
        start.elapsed()
    }
}

impl Drop for TurnPingPong {
    fn drop(&mut self) {
        set_stop(&self.seg, self.ctl);
        self.peer.wait_exit(Duration::from_secs(5));
    }
}

impl Default for TurnPingPong {
    fn default() -> Self {
        TurnPingPong::new()
    }
}

/// `n` processes (this one and `n - 1` peers) taking turns as fast as the
/// turn lets them, each doing one `+= 1` on a shared count per turn: one
/// iteration is one turn, by any of them (FIFO: each gets one in `n`).
/// With more processes than cores, most turns go to a waiter that is not
/// running.
pub struct Contenders {
    seg: Segment,
    ctl: Handle,
    peers: Vec<Peer>,
}

impl Contenders {
    /// Creates the segment and spawns the `n - 1` peers (strict FIFO).
    pub fn new(n: usize) -> Contenders {
        Contenders::batched(n, 1)
    }

    /// As [`Contenders::new`], every process attached with
    /// `SegmentOptions::batch(batch)`.
    pub fn batched(n: usize, batch: u32) -> Contenders {
        let name = unique_name("contend");
        let seg = ok(SegmentOptions::default()
            .size(1 << 20)
            .batch(batch)
            .create(&name));
        let ctl = control_list(&seg);
        let (o, g) = ctl.to_raw();
        let arg = format!("{name} {o} {g} {batch}");
        let peers = (1..n).map(|_| Peer::spawn("contend", &arg)).collect();
        Contenders { seg, ctl, peers }
    }

    /// Turns until the count has grown by `iters`.
    pub fn run(&mut self, iters: u64) -> Duration {
        let count = |t: &mut Turn<'_>| -> i64 {
            let mut l = ok(t.list_mut(self.ctl));
            let x = ok(l.int_mut(1));
            *x += 1;
            *x
        };
        let start_count = count(&mut ok(self.seg.turn()));
        let start = Instant::now();
        let mut mine = 0u64;
        loop {
            let c = count(&mut ok(self.seg.turn()));
            if (c - start_count) as u64 >= iters {
                break;
            }
            mine += 1;
            if mine.is_multiple_of(4096) {
                for p in &mut self.peers {
                    p.check_alive();
                }
            }
        }
        start.elapsed()
    }
}

impl Drop for Contenders {
    fn drop(&mut self) {
        set_stop(&self.seg, self.ctl);
        for p in &mut self.peers {
            p.wait_exit(Duration::from_secs(5));
        }
    }
}

/// Turn acquire and release with nobody else attached, against an
/// uncontended `std::sync::Mutex` lock and unlock.
pub struct Uncontended {
    seg: Segment,
    mutex: std::sync::Mutex<u64>,
}

impl Default for Uncontended {
    fn default() -> Self {
        Self::new()
    }
}

impl Uncontended {
    /// Setup.
    pub fn new() -> Uncontended {
        Uncontended {
            seg: named_segment("uncontended", 1 << 20),
            mutex: std::sync::Mutex::new(0),
        }
    }

    /// `seg.turn()` and drop.
    pub fn turn(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(ok(black_box(&self.seg).turn()));
        }
        start.elapsed()
    }

    /// `mutex.lock()` and drop.
    pub fn mutex(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            *black_box(&self.mutex).lock().expect("lock") += 1;
        }
        start.elapsed()
    }
}

/// The floor: a bare ping-pong on one atomic in a shared cache line (both
/// processes spin; odd = the peer's move).
pub struct AtomicPingPong {
    file: ShmFile,
    peer: Peer,
}

impl AtomicPingPong {
    /// Maps the word and spawns the peer.
    pub fn new() -> AtomicPingPong {
        let file = ShmFile::create();
        let peer = Peer::spawn("atomic", &file.path());
        AtomicPingPong { file, peer }
    }

    /// `iters` round trips.
    pub fn run(&mut self, iters: u64) -> Duration {
        let w = self.file.u64_at(0);
        let start = Instant::now();
        for _ in 0..iters {
            let v = w.load(Ordering::Acquire);
            w.store(v + 1, Ordering::Release);
            while w.load(Ordering::Acquire) == v + 1 {
                std::hint::spin_loop();
            }
        }
        start.elapsed()
    }
}

impl Drop for AtomicPingPong {
    fn drop(&mut self) {
        self.file.u64_at(64).store(1, Ordering::Release);
        self.peer.wait_exit(Duration::from_secs(5));
    }
}

impl Default for AtomicPingPong {
    fn default() -> Self {
        AtomicPingPong::new()
    }
}

fn atomic_peer(path: &str) {
    let file = ShmFile::open(path);
    let (w, stop) = (file.u64_at(0), file.u64_at(64));
    ready();
    loop {
        let v = w.load(Ordering::Acquire);
        if v % 2 == 1 {
            w.store(v + 1, Ordering::Release);
        } else if stop.load(Ordering::Relaxed) != 0 {
            return;
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A pipe ping-pong: one byte each way per round trip.
pub struct PipePingPong {
    peer: Peer,
}

impl PipePingPong {
    /// Spawns the echoing peer.
    pub fn new() -> PipePingPong {
        PipePingPong {
            peer: Peer::spawn("pipe", ""),
        }
    }

    /// `iters` round trips.
    pub fn run(&mut self, iters: u64) -> Duration {
        let mut b = [0u8; 1];
        let start = Instant::now();
        for _ in 0..iters {
            let input = self.peer.input();
            input.write_all(&[1]).expect("write");
            input.flush().expect("flush");
            self.peer.output.read_exact(&mut b).expect("read");
        }
        start.elapsed()
    }
}

impl Default for PipePingPong {
    fn default() -> Self {
        PipePingPong::new()
    }
}

fn pipe_peer() {
    ready();
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut b = [0u8; 1];
    while input.read_exact(&mut b).is_ok() {
        if output.write_all(&b).and_then(|_| output.flush()).is_err() {
            return;
        }
    }
}

/// The classic three-state futex mutex (0 free, 1 locked, 2 locked with
/// waiters) on a process-shared word.
pub struct FutexMutex<'a>(&'a AtomicU32);

impl FutexMutex<'_> {
    /// Locks.
    pub fn lock(&self) {
        use rustix::thread::futex;
        if self
            .0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        let mut c = self.0.swap(2, Ordering::Acquire);
        while c != 0 {
            let _ = futex::wait(self.0, futex::Flags::empty(), 2, None);
            c = self.0.swap(2, Ordering::Acquire);
        }
    }

    /// Unlocks (waking one waiter if there may be any).
    pub fn unlock(&self) {
        use rustix::thread::futex;
        if self.0.swap(0, Ordering::Release) == 2 {
            let _ = futex::wake(self.0, futex::Flags::empty(), 1);
        }
    }
}

/// Strict alternation with a process-shared futex mutex: each side locks,
/// and if the shared "whose move" word says it is its move, does `+= 1` on a
/// shared counter and passes the move; then unlocks.
pub struct FutexPingPong {
    file: ShmFile,
    peer: Peer,
}

impl FutexPingPong {
    /// Maps the words and spawns the peer.
    pub fn new() -> FutexPingPong {
        let file = ShmFile::create();
        let peer = Peer::spawn("futex", &file.path());
        FutexPingPong { file, peer }
    }

    /// `iters` round trips.
    pub fn run(&mut self, iters: u64) -> Duration {
        let m = FutexMutex(self.file.u32_at(0));
        let whose = self.file.u32_at(4);
        let count = self.file.u64_at(8);
        let start = Instant::now();
        for _ in 0..iters {
            loop {
                m.lock();
                let mine = whose.load(Ordering::Relaxed) == 0;
                if mine {
                    count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    whose.store(1, Ordering::Relaxed);
                }
                m.unlock();
                if mine {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        start.elapsed()
    }
}

impl Drop for FutexPingPong {
    fn drop(&mut self) {
        self.file.u32_at(16).store(1, Ordering::Release);
        self.peer.wait_exit(Duration::from_secs(5));
    }
}

impl Default for FutexPingPong {
    fn default() -> Self {
        FutexPingPong::new()
    }
}

fn futex_peer(path: &str) {
    let file = ShmFile::open(path);
    let m = FutexMutex(file.u32_at(0));
    let (whose, count, stop) = (file.u32_at(4), file.u64_at(8), file.u32_at(16));
    ready();
    loop {
        m.lock();
        let mine = whose.load(Ordering::Relaxed) == 1;
        if mine {
            count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            whose.store(0, Ordering::Relaxed);
        }
        m.unlock();
        if !mine {
            if stop.load(Ordering::Relaxed) != 0 {
                return;
            }
            std::hint::spin_loop();
        }
    }
}

/// How the consumer reads a message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReadMode {
    /// [`walk`]: every item read in place.
    Walk,
    /// `to_value()`: copied out into an owned `Value`.
    ToValue,
    /// A list of ints summed with `ListRef::ints()`.
    Ints,
}

/// What the producer puts.
enum Payload {
    /// `put_message(&v)`.
    Value(Value),
    /// `put_message_from_slice(&ints)`.
    Ints(Vec<i64>),
}

/// Messages from this process to a peer through the shmheap queue: this
/// process puts, the peer takes, reads and frees them. At most `window`
/// messages are in flight: with 1, each message costs a round trip of
/// turns; with 64, a turn carries up to 64. One iteration is one message,
/// end to end (the run ends when the peer has taken and read them all).
pub struct ShmMessages {
    seg: Segment,
    ctl: Handle,
    v: Payload,
    window: usize,
    peer: Peer,
}

impl ShmMessages {
    /// Creates the segment and spawns the consumer.
    pub fn new(v: Value, window: usize, read: ReadMode) -> ShmMessages {
        ShmMessages::with(Payload::Value(v), window, read)
    }

    /// Messages of [`INTS`] ints put from a slice and summed by the
    /// consumer with `ListRef::ints()`: the bulk paths end to end.
    pub fn ints_from_slice(window: usize) -> ShmMessages {
        let ints = (0..INTS as i64).collect();
        ShmMessages::with(Payload::Ints(ints), window, ReadMode::Ints)
    }

    fn with(v: Payload, window: usize, read: ReadMode) -> ShmMessages {
        let seg = named_segment("msgs", 32 << 20);
        let ctl = control_list(&seg);
        let (o, g) = ctl.to_raw();
        let mode = match read {
            ReadMode::Walk => "walk",
            ReadMode::ToValue => "copy",
            ReadMode::Ints => "ints",
        };
        let arg = format!("{} {o} {g} {mode}", seg.name().expect("named"));
        let peer = Peer::spawn("consume", &arg);
        ShmMessages {
            seg,
            ctl,
            v,
            window,
            peer,
        }
    }

    /// `iters` messages end to end.
    pub fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        let mut left = iters;
        let mut idle = 0u32;
        while left > 0 {
            let mut t = ok(self.seg.turn());
            let room = self.window.saturating_sub(t.message_count()) as u64;
            for _ in 0..room.min(left) {
                ok(match &self.v {
                    Payload::Value(v) => t.put_message(v),
                    Payload::Ints(ints) => t.put_message_from_slice(ints),
                });
                left -= 1;
            }
            drop(t);
            if room == 0 {
                idle += 1;
                if idle.is_multiple_of(4096) {
                    self.peer.check_alive();
                }
            }
        }
        while ok(ok(self.seg.turn()).has_messages()) {
            idle += 1;
            if idle.is_multiple_of(4096) {
                self.peer.check_alive();
            }
        }
        start.elapsed()
    }
}

impl Drop for ShmMessages {
    fn drop(&mut self) {
        set_stop(&self.seg, self.ctl);
        self.peer.wait_exit(Duration::from_secs(5));
    }
}

fn consume_peer(seg: &Segment, ctl: Handle, read: ReadMode) -> Result<(), Error> {
    ready();
    loop {
        let mut t = seg.turn()?;
        if stopped(&t, ctl)? {
            return Ok(());
        }
        while let Some(h) = t.take_message()? {
            match read {
                ReadMode::Walk => {
                    black_box(walk(t.get(h)?)?);
                }
                ReadMode::ToValue => {
                    black_box(t.get(h)?.to_value()?);
                }
                ReadMode::Ints => {
                    let mut sum = 0i64;
                    for x in t.get(h)?.as_list()?.ints() {
                        sum = sum.wrapping_add(x?);
                    }
                    black_box(sum);
                }
            }
            t.free(h)?;
        }
    }
}

const SYNC: u32 = u32::MAX;

/// The baseline of [`ShmMessages`]: the same data serialized with postcard,
/// length-prefixed through a pipe; the peer deserializes and reads it
/// (walk). After every `window` messages the producer waits for an ack.
pub struct PipeMessages {
    s: SValue,
    window: usize,
    buf: Vec<u8>,
    peer: Peer,
}

impl PipeMessages {
    /// Spawns the consumer.
    pub fn new(v: &Value, window: usize) -> PipeMessages {
        PipeMessages {
            s: SValue::from(v),
            window,
            buf: vec![0; 1 << 16],
            peer: Peer::spawn("postcard", ""),
        }
    }

    /// `iters` messages end to end.
    pub fn run(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        let mut left = iters;
        while left > 0 {
            let k = (self.window as u64).min(left);
            for _ in 0..k {
                let bytes = postcard::to_slice(&self.s, &mut self.buf).expect("serialize");
                let input = self.peer.input.as_mut().expect("stdin");
                input
                    .write_all(&(bytes.len() as u32).to_le_bytes())
                    .expect("write");
                input.write_all(bytes).expect("write");
            }
            left -= k;
            let input = self.peer.input();
            input.write_all(&SYNC.to_le_bytes()).expect("write");
            input.flush().expect("flush");
            let mut ack = [0u8; 1];
            self.peer.output.read_exact(&mut ack).expect("ack");
        }
        start.elapsed()
    }
}

fn postcard_peer() {
    ready();
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = [0u8; 4];
    while input.read_exact(&mut len).is_ok() {
        let n = u32::from_le_bytes(len);
        if n == SYNC {
            if output.write_all(&[1]).and_then(|_| output.flush()).is_err() {
                return;
            }
            continue;
        }
        let b = &mut buf[..n as usize];
        if input.read_exact(b).is_err() {
            return;
        }
        let v: SValue = postcard::from_bytes(b).expect("deserialize");
        black_box(walk_s(&v));
    }
}

/// CPU time (user + system) this process used so far (`getrusage`).
pub fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointed-to memory.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    assert_eq!(r, 0, "getrusage");
    // SAFETY: initialised by the successful call (and zeroed before).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Idle: a peer holds the turn for `hold`; this process waits for it.
/// Returns (CPU time this process used while waiting, wall time waited).
pub fn idle_turn_wait(hold: Duration) -> (Duration, Duration) {
    let seg = named_segment("idle", 1 << 20);
    let arg = format!("{} {}", seg.name().expect("named"), hold.as_millis());
    let mut peer = Peer::spawn("hold", &arg);
    peer.expect_line("held");
    let (c0, w0) = (cpu_time(), Instant::now());
    let t = ok(seg.turn());
    let (c1, w1) = (cpu_time(), Instant::now());
    drop(t);
    drop(peer);
    (c1 - c0, w1 - w0)
}

/// The baseline of [`idle_turn_wait`]: waiting as long in a blocking pipe
/// read for the peer's line. Returns (CPU time, wall time).
pub fn idle_pipe_wait(hold: Duration) -> (Duration, Duration) {
    let mut peer = Peer::spawn("sleep", &hold.as_millis().to_string());
    peer.expect_line("held");
    let (c0, w0) = (cpu_time(), Instant::now());
    peer.expect_line("released");
    let (c1, w1) = (cpu_time(), Instant::now());
    (c1 - c0, w1 - w0)
}

fn ready() {
    println!("ready");
}

/// Exits this process when its stdin reaches EOF (the parent closed it or
/// died), so a peer never outlives its bench.
fn exit_on_eof() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().lock().read_to_end(&mut sink);
        std::process::exit(0);
    });
}

fn attach_args(arg: &str) -> (Segment, Handle, Vec<String>) {
    let mut it = arg.split(' ');
    let name = it.next().expect("name");
    let o: u64 = it.next().expect("offset").parse().expect("offset");
    let g: u64 = it.next().expect("generation").parse().expect("generation");
    let seg = ok(Segment::attach(name));
    (seg, Handle::from_raw(o, g), it.map(str::to_owned).collect())
}

/// Call first in `main`: if this process was spawned as a peer, plays its
/// role and exits; otherwise returns at once.
pub fn peer_dispatch() {
    let Ok(role) = std::env::var(PEER_ENV) else {
        return;
    };
    let arg = std::env::var(ARG_ENV).unwrap_or_default();
    let r: Result<(), Error> = match role.as_str() {
        "pipe" => {
            pipe_peer();
            Ok(())
        }
        "postcard" => {
            postcard_peer();
            Ok(())
        }
        "sleep" => {
            ready();
            println!("held");
            std::thread::sleep(Duration::from_millis(arg.parse().expect("ms")));
            println!("released");
            Ok(())
        }
        "atomic" => {
            exit_on_eof();
            atomic_peer(&arg);
            Ok(())
        }
        "futex" => {
            exit_on_eof();
            futex_peer(&arg);
            Ok(())
        }
        "turn" => {
            exit_on_eof();
            let (seg, ctl, _) = attach_args(&arg);
            ready();
            (|| loop {
                let mut t = seg.turn()?;
                let mut l = t.list_mut(ctl)?;
                if *l.int_mut(0)? != 0 {
                    return Ok(());
                }
                let x = l.int_mut(1)?;
                if *x % 2 == 1 {
                    *x += 1;
                }
            })()
        }
        "contend" => {
            exit_on_eof();
            let (seg, ctl, rest) = attach_args(&arg);
            let batch = rest[0].parse().expect("batch");
            seg.set_batch(batch);
            ready();
            (|| loop {
                let mut t = seg.turn()?;
                let mut l = t.list_mut(ctl)?;
                if *l.int_mut(0)? != 0 {
                    return Ok(());
                }
                *l.int_mut(1)? += 1;
            })()
        }
        "consume" => {
            exit_on_eof();
            let (seg, ctl, rest) = attach_args(&arg);
            let read = match rest.first().map(String::as_str) {
                Some("copy") => ReadMode::ToValue,
                Some("ints") => ReadMode::Ints,
                _ => ReadMode::Walk,
            };
            consume_peer(&seg, ctl, read)
        }
        "hold" => {
            exit_on_eof();
            let mut it = arg.split(' ');
            let name = it.next().expect("name");
            let ms: u64 = it.next().expect("ms").parse().expect("ms");
            let seg = ok(Segment::attach(name));
            ready();
            let t = ok(seg.turn());
            println!("held");
            std::thread::sleep(Duration::from_millis(ms));
            drop(t);
            Ok(())
        }
        other => panic!("unknown bench peer role {other:?}"),
    };
    if let Err(e) = r {
        eprintln!("bench peer {role}: {e}");
        std::process::exit(1);
    }
    std::process::exit(0);
}
