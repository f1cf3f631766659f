//! Core benches, each beside its baseline in the same group (machines here
//! are noisy: compare the ratio, not the absolute numbers).
//!
//! `cargo bench --bench core`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shmheap::{Segment, Value, value};

const N: usize = 1000;

fn int64_in_place(c: &mut Criterion) {
    let seg = Segment::options()
        .size(16 << 20)
        .create_in_memory()
        .expect("segment");
    let mut turn = seg.turn().expect("turn");
    let h = turn
        .put_message(&Value::List((0..N as i64).map(Value::Int).collect()))
        .expect("put");
    turn.take_message().expect("take");
    let mut local: Vec<i64> = (0..N as i64).collect();

    let mut g = c.benchmark_group("int64 += on 1000 list items");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("shmheap ListMut::int_mut", |b| {
        b.iter(|| {
            let mut l = turn.list_mut(h).expect("list");
            for i in 0..N {
                *l.int_mut(black_box(i)).expect("int") += 1;
            }
        })
    });
    g.bench_function("baseline Vec<i64>", |b| {
        b.iter(|| {
            for i in 0..N {
                local[black_box(i)] += 1;
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("int64 read of 1000 list items");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("shmheap ListRef::get", |b| {
        b.iter(|| {
            let l = turn.get(h).expect("get").as_list().expect("list");
            let mut sum = 0i64;
            for i in 0..N {
                sum = sum.wrapping_add(l.get(black_box(i)).expect("item").as_int().expect("int"));
            }
            sum
        })
    });
    g.bench_function("baseline Vec<i64>", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for i in 0..N {
                sum = sum.wrapping_add(local[black_box(i)]);
            }
            sum
        })
    });
    g.finish();
}

fn messages(c: &mut Criterion) {
    let seg = Segment::options()
        .size(16 << 20)
        .create_in_memory()
        .expect("segment");
    let mut turn = seg.turn().expect("turn");
    let seed = value!(["hello", 0, (8, 2.0, false), {b"world": -6, 5: 4}]);
    let ints = Value::List((0..1000).map(Value::Int).collect());

    let mut g = c.benchmark_group("seed message put, take, read, free");
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmheap", |b| {
        b.iter(|| {
            turn.put_message(black_box(&seed)).expect("put");
            let h = turn.take_message().expect("take").expect("message");
            let n = turn.get(h).expect("get").as_list().expect("list").len();
            turn.free(h).expect("free");
            n
        })
    });
    g.bench_function("baseline Value::clone (local copy of the same data)", |b| {
        b.iter(|| black_box(&seed).clone())
    });
    g.finish();

    let mut g = c.benchmark_group("list of 1000 ints put, take, free");
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmheap", |b| {
        b.iter(|| {
            turn.put_message(black_box(&ints)).expect("put");
            let h = turn.take_message().expect("take").expect("message");
            turn.free(h).expect("free");
        })
    });
    g.bench_function("baseline Value::clone", |b| {
        b.iter(|| black_box(&ints).clone())
    });
    g.finish();
}

criterion_group!(benches, int64_in_place, messages);
criterion_main!(benches);
