//! Shared dict benches, each beside a local `std::collections::HashMap` in
//! the same group (compare the ratio: machines here are noisy). Keys are
//! visited in a random order, in a table of 1,000 keys (it stays in the
//! cache: the cost of the code) and of 100,000 (memory latency counts too);
//! the turn is held throughout (handing it on is `benches/handoff.rs`'s
//! business).
//!
//! `cargo bench --bench dict`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use shmheap::{Handle, Segment, Value};

/// A random permutation of `0..n` (xorshift, fixed seed).
fn order(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// A shared dict of int keys and one of str keys (`0..n`, value = the
/// key's number), and the same as local maps.
struct Fixture {
    n: usize,
    seg: Segment,
    ints: Handle,
    strs: Handle,
    order: Vec<usize>,
    int_keys: Vec<Value>,
    str_keys: Vec<Value>,
    strings: Vec<String>,
    local: HashMap<i64, i64>,
    local_str: HashMap<String, i64>,
}

impl Fixture {
    fn new(n: usize) -> Fixture {
        let seg = Segment::options()
            .size(256 << 20)
            .create_in_memory()
            .expect("segment");
        let strings: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
        let int_keys: Vec<Value> = (0..n as i64).map(Value::Int).collect();
        let str_keys: Vec<Value> = strings.iter().map(Value::from).collect();
        let (ints, strs) = {
            let mut turn = seg.turn().expect("turn");
            let mut dict = |keys: &[Value]| {
                let h = turn.put_message(&Value::dict()).expect("put");
                turn.take_message().expect("take");
                let mut d = turn.dict_mut(h).expect("dict");
                for (i, k) in keys.iter().enumerate() {
                    d.insert(k.clone(), i as i64).expect("insert");
                }
                h
            };
            (dict(&int_keys), dict(&str_keys))
        };
        Fixture {
            n,
            seg,
            ints,
            strs,
            order: order(n),
            local: (0..n as i64).map(|i| (i, i)).collect(),
            local_str: strings.iter().cloned().zip(0..).collect(),
            int_keys,
            str_keys,
            strings,
        }
    }
}

fn get(c: &mut Criterion, f: &Fixture) {
    let n = f.n;
    let mut g = c.benchmark_group(format!("dict get, {n} int keys, random"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmheap DictRef::get(&Value::Int(k))", |b| {
        let turn = f.seg.turn().expect("turn");
        let d = turn.get(f.ints).expect("get").as_dict().expect("dict");
        let mut i = 0;
        b.iter(|| {
            let k = &f.int_keys[f.order[i % n]];
            i += 1;
            black_box(
                d.get(black_box(k))
                    .expect("get")
                    .expect("present")
                    .as_int()
                    .expect("int"),
            )
        })
    });
    g.bench_function("baseline HashMap<i64, i64>::get", |b| {
        let mut i = 0;
        b.iter(|| {
            let k = f.order[i % n] as i64;
            i += 1;
            black_box(*f.local.get(black_box(&k)).expect("present"))
        })
    });
    g.finish();
    let mut g = c.benchmark_group(format!("dict get, {n} str keys, random"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmheap DictRef::get(&Value::Str(k))", |b| {
        let turn = f.seg.turn().expect("turn");
        let d = turn.get(f.strs).expect("get").as_dict().expect("dict");
        let mut i = 0;
        b.iter(|| {
            let k = &f.str_keys[f.order[i % n]];
            i += 1;
            black_box(
                d.get(black_box(k))
                    .expect("get")
                    .expect("present")
                    .as_int()
                    .expect("int"),
            )
        })
    });
    g.bench_function("baseline HashMap<String, i64>::get", |b| {
        let mut i = 0;
        b.iter(|| {
            let k = &f.strings[f.order[i % n]];
            i += 1;
            black_box(*f.local_str.get(black_box(k.as_str())).expect("present"))
        })
    });
    g.finish();
}

fn add(c: &mut Criterion, f: &mut Fixture) {
    let n = f.n;
    let mut g = c.benchmark_group(format!("dict += 1 on a value, {n} int keys, random"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmheap *DictMut::int_mut(&k)? += 1", |b| {
        let mut turn = f.seg.turn().expect("turn");
        let mut d = turn.dict_mut(f.ints).expect("dict");
        let mut i = 0;
        b.iter(|| {
            let k = &f.int_keys[f.order[i % n]];
            i += 1;
            *d.int_mut(black_box(k)).expect("int") += 1;
        })
    });
    let local = &mut f.local;
    g.bench_function("baseline *HashMap::get_mut(&k) += 1", |b| {
        let mut i = 0;
        b.iter(|| {
            let k = f.order[i % n] as i64;
            i += 1;
            *local.get_mut(black_box(&k)).expect("present") += 1;
        })
    });
    g.finish();
}

/// Inserts of new keys into a dict that starts empty and grows to `n`
/// keys (rehashes included), then is cleared outside the timing.
fn insert(c: &mut Criterion, f: &Fixture) {
    let n = f.n;
    let mut g = c.benchmark_group(format!("dict insert, new int keys, growing to {n}"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmheap DictMut::insert(k, v)", |b| {
        let mut turn = f.seg.turn().expect("turn");
        let h = turn.put_message(&Value::dict()).expect("put");
        turn.take_message().expect("take");
        b.iter_custom(|iters| {
            let mut d = turn.dict_mut(h).expect("dict");
            let mut spent = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch = left.min(n);
                let t = Instant::now();
                for &j in &f.order[..batch] {
                    let k = j as i64;
                    black_box(d.insert(black_box(k), k).expect("insert"));
                }
                spent += t.elapsed();
                d.clear().expect("clear");
                left -= batch;
            }
            spent
        });
        turn.free(h).expect("free");
    });
    g.bench_function("baseline HashMap<i64, i64>::insert", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch = left.min(n);
                let mut m = HashMap::new();
                let t = Instant::now();
                for &j in &f.order[..batch] {
                    let k = j as i64;
                    black_box(m.insert(black_box(k), k));
                }
                spent += t.elapsed();
                drop(m);
                left -= batch;
            }
            spent
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [1_000, 100_000] {
        let mut f = Fixture::new(n);
        get(&mut c, &f);
        add(&mut c, &mut f);
        insert(&mut c, &f);
    }
    c.final_summary();
}
